"""A moto server that handles one request at a time.

DynamoDB applies each write to an item atomically: a condition is checked and the update applied
as one step, and no read ever sees half of an update. moto applies an UpdateItem in several
Python steps (check the condition, then set each attribute) without a lock, so its usual
threaded server lets two concurrent requests interleave: a read can see the new `version` with
the old `items`, and two conditional writes can both pass. Serving one request at a time gives
back DynamoDB's per-item atomicity. Clients still run concurrently: their read-modify-write
cycles interleave between requests, which is what optimistic locking is about.

It also gives moto one behaviour of AWS that it lacks: SNS passes a publisher's X-Ray trace header
(`X-Amzn-Trace-Id`) on to its SQS subscriptions, where it becomes the message's `AWSTraceHeader`
system attribute (see carry_trace_headers_through_sns). And one cost: a TransactWriteItems costs what
its items cost, not what the table holds (see snapshot_only_what_a_transaction_touches). And SQS's
dead-letter queue redrive, StartMessageMoveTask and ListMessageMoveTasks (moto_message_move.py).

Usage: python moto_server.py [--host 127.0.0.1] [--port 5000] [--exit-on-stdin-eof]
Prints "ready <port>" once it listens (--port 0 picks a free port).
With --exit-on-stdin-eof it stops when its standard input closes: a test process holds the
other end, so the server cannot outlive the tests, however they end.
"""

import argparse
import copy
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from moto_message_move import add_message_move_tasks


_publishing = threading.local()


def carry_trace_headers_through_sns() -> None:
    """SNS passes the trace header of a Publish / PublishBatch request on to every SQS subscription
    (with the topic's TracingConfig PassThrough, the default, and Active alike): SQS keeps it with the
    message as the AWSTraceHeader system attribute, which the consumer's event record carries.
    moto 5.2.5 drops the header; this puts it back, on the path moto already takes."""
    from moto.sns.responses import SNSResponse
    from moto.sqs.models import SQSBackend

    def remembering_trace_header(action):
        def publish(self, *args, **kwargs):
            _publishing.trace_header = self.headers.get("X-Amzn-Trace-Id")
            try:
                return action(self, *args, **kwargs)
            finally:
                _publishing.trace_header = None

        return publish

    SNSResponse.publish = remembering_trace_header(SNSResponse.publish)
    SNSResponse.publish_batch = remembering_trace_header(SNSResponse.publish_batch)

    send_message = SQSBackend.send_message

    def send_message_with_trace_header(self, *args, system_attributes=None, **kwargs):
        header = getattr(_publishing, "trace_header", None)
        if header and not system_attributes:
            system_attributes = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
        return send_message(self, *args, system_attributes=system_attributes, **kwargs)

    SQSBackend.send_message = send_message_with_trace_header


def snapshot_only_what_a_transaction_touches() -> None:
    """DynamoDB applies a TransactWriteItems all or nothing, and its cost is that of the (at most
    100) items it names, whatever the table holds. moto 5.2.5 makes it all or nothing by
    deep-copying every table the transaction names before it starts and putting the copy back if
    it is cancelled: with thousands of orders in the table, each transaction takes seconds, and as
    this server serves one request at a time, every other request waits behind it (a function
    times out).

    This keeps moto's transaction as it is (its checks, its order, its CancellationReasons, the
    item on ConditionalCheckFailed with ReturnValuesOnConditionCheckFailure=ALL_OLD) and changes
    only the snapshot: a copy of each item the transaction names (or its absence) and the length
    of the table's stream. If moto cancels or refuses the transaction, those items are put back
    and the stream records it wrote are dropped, as DynamoDB writes none for a cancelled
    transaction; then moto's error goes to the client as before."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    in_transaction = threading.local()

    class CopyKeepingTables:
        """The `copy` module as moto's DynamoDB backend sees it: inside a transaction, its "backup"
        of a whole table is the table itself (the items it touches are saved instead)."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            if isinstance(value, Table) and getattr(in_transaction, "active", False):
                return value
            return copy.deepcopy(value, memo)

    dynamodb_models.copy = CopyKeepingTables()

    def touched_keys(backend, transact_items):
        """(table, hash key, range key) of each item the transaction names, as moto reads them;
        a malformed entry is left to moto, which refuses it before it writes anything."""
        keys = []
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                table = backend.tables[op["TableName"]]
                key = op["Item"] if "Item" in op else op["Key"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = None
                if table.range_key_attr is not None:
                    range_key = DynamoType(key[table.range_key_attr])
                keys.append((table, hash_key, range_key))
            except Exception:  # noqa: BLE001 moto reports it, with its own error
                continue
        return keys

    def snapshot(keys):
        saved_items = [
            (table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key)))
            for table, hash_key, range_key in keys
        ]
        streams = {
            id(table.stream_shard): (table.stream_shard, table.stream_shard.items)
            for table, _, _ in keys
            if table.stream_shard is not None
        }
        saved_streams = [(shard, records, len(records)) for shard, records in streams.values()]
        return saved_items, saved_streams

    def restore(saved_items, saved_streams):
        for table, hash_key, range_key, item in saved_items:
            slot = table.items[hash_key] if range_key is not None else table.items
            slot_key = range_key if range_key is not None else hash_key
            if item is None:
                slot.pop(slot_key, None)
            else:
                slot[slot_key] = item
        for shard, records, length in saved_streams:
            del records[length:]
            shard.items = records

    transact_write_items = DynamoDBBackend.transact_write_items

    def transact_write_items_saving_only_its_items(self, transact_items):
        saved = snapshot(touched_keys(self, transact_items))
        in_transaction.active = True
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            restore(*saved)
            raise
        finally:
            in_transaction.active = False

    DynamoDBBackend.transact_write_items = transact_write_items_saving_only_its_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    carry_trace_headers_through_sns()
    snapshot_only_what_a_transaction_touches()
    add_message_move_tasks()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host, args.port, app, threaded=False, request_handler=MotoRequestHandler
    )
    print(f"ready {server.port}", flush=True)
    if args.exit_on_stdin_eof:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        server.shutdown()
    else:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
