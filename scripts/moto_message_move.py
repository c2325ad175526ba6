"""SQS's dead-letter queue redrive (StartMessageMoveTask, ListMessageMoveTasks), which moto 5.2.5
lacks: it answers both with an HTML 500. scripts/moto_server.py applies it at start.

Exam: DLQ redrive. SQS moves the messages of a dead-letter queue back to a queue (the source
queue, or DestinationArn) with an asynchronous *message move task*: StartMessageMoveTask returns a
task handle, ListMessageMoveTasks reports RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED
with the approximate counts. The messages keep their ids, bodies and attributes; their receive
count starts again from zero.

What AWS refuses is refused here too: a source that is no queue's dead-letter queue
(InvalidParameterValue), an unknown queue (ResourceNotFoundException), a second task while one
runs on the same source. The difference: AWS moves at most MaxNumberOfMessagesPerSecond (500 by
default) in the background; here the task moves every visible message at once (this server
serves one request at a time) and is COMPLETED when StartMessageMoveTask returns. Messages in
flight (received, not yet deleted) stay, as AWS leaves them to their visibility timeout.
"""

import time
import uuid

from moto.core.responses import ActionResult
from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse


def _queue_by_arn(backend: SQSBackend, arn: str):
    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise SQSException(
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )


def _start_message_move_task(backend: SQSBackend, source_arn, destination_arn, max_per_second):
    """Moves every visible message of the dead-letter queue `source_arn` at once."""
    source = _queue_by_arn(backend, source_arn)
    sources_of = [q for q in backend.queues.values() if q.dead_letter_queue is source]
    if not sources_of:
        raise SQSException(
            "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue."
        )
    if destination_arn:
        destination = _queue_by_arn(backend, destination_arn)
    elif len(sources_of) == 1:
        destination = sources_of[0]
    else:
        # AWS sends each message back to the queue it came from; moto does not record it.
        raise SQSException(
            "InvalidParameterValue",
            "This local SQS needs a DestinationArn when several queues share a dead-letter queue.",
        )
    tasks = backend.__dict__.setdefault("_message_move_tasks", [])
    if any(t["SourceArn"] == source_arn and t["Status"] == "RUNNING" for t in tasks):
        raise SQSException(
            "InvalidParameterValue",
            "There is already a task running. Only one active task is allowed for a source queue"
            " arn at a given time.",
        )

    with source._messages_lock:
        moving = source.messages
        source._messages = [m for m in source._messages if m not in moving]
    for message in moving:
        message.approximate_receive_count = 0
        message.approximate_first_receive_timestamp = None
        message.visible_at = 0.0
        destination.add_message(message)

    handle = str(uuid.uuid4())
    task = {
        "TaskHandle": handle,
        "Status": "COMPLETED",
        "SourceArn": source_arn,
        "DestinationArn": destination.queue_arn,
        "MaxNumberOfMessagesPerSecond": max_per_second or 500,
        "ApproximateNumberOfMessagesMoved": len(moving),
        "ApproximateNumberOfMessagesToMove": len(moving),
        "StartedTimestamp": int(time.time() * 1000),
    }
    tasks.insert(0, task)
    return handle


def _list_message_move_tasks(backend: SQSBackend, source_arn, max_results):
    _queue_by_arn(backend, source_arn)
    tasks = backend.__dict__.get("_message_move_tasks", [])
    # Newest first; the handle is only given for a running task, as AWS does.
    results = [
        {k: v for k, v in task.items() if k != "TaskHandle" or task["Status"] == "RUNNING"}
        for task in tasks
        if task["SourceArn"] == source_arn
    ]
    return results[: int(max_results or 1)]


def add_message_move_tasks() -> None:
    """Answers StartMessageMoveTask and ListMessageMoveTasks, on the path moto takes for SQS."""

    def start_message_move_task(self):
        handle = _start_message_move_task(
            self.sqs_backend,
            self._get_param("SourceArn"),
            self._get_param("DestinationArn"),
            self._get_param("MaxNumberOfMessagesPerSecond"),
        )
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self):
        results = _list_message_move_tasks(
            self.sqs_backend, self._get_param("SourceArn"), self._get_param("MaxResults")
        )
        return ActionResult({"Results": results})

    SQSResponse.start_message_move_task = start_message_move_task
    SQSResponse.list_message_move_tasks = list_message_move_tasks
