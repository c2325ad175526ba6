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
system attribute (see carry_trace_headers_through_sns).

Usage: python moto_server.py [--host 127.0.0.1] [--port 5000] [--exit-on-stdin-eof]
Prints "ready <port>" once it listens (--port 0 picks a free port).
With --exit-on-stdin-eof it stops when its standard input closes: a test process holds the
other end, so the server cannot outlive the tests, however they end.
"""

import argparse
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    carry_trace_headers_through_sns()

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
