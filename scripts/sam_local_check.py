"""Every function under `sam local invoke` with its sample events, and `sam local start-api`,
each answer asserted. Run by scripts/sam-local.sh check (make sam-check), which builds the
functions, provides Docker and the base image, and starts moto with the resources the events name.

The events run in an order that tells a story: the order of the sample events is read (200),
changed with If-Match "1" (200, version 2), then cancelled with the same stale If-Match (412:
optimistic locking in the container as anywhere); the stream batch is published; fulfillment
confirms the order and reports the poison message of its batch; the audit consumer likewise; the
merchant is notified of the confirmed order: this script listens as the merchant, and checks the
request's signature with the key of the secret the resources deploy created on moto.

Usage: python scripts/sam_local_check.py --template T --architecture A --merchant-url U
           --moto-endpoint E [--api-port P]
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import threading
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3

# The customer of the sample events' claims, and the order they name (tests/support/mod.rs).
SAMPLE_CUSTOMER = "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b"
SAMPLE_ORDER = "0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e"
FULFILLMENT_POISON = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
AUDIT_POISON = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6c"


def proxy(status):
    """An API answer: its status, and its body as JSON."""

    def check(answer):
        body = json.loads(answer.get("body") or "null")
        assert answer.get("statusCode") == status, f"expected {status}, got {answer}"
        return body

    return check


def created(answer):
    body = proxy(201)(answer)
    assert body["customerId"] == SAMPLE_CUSTOMER, f"the order is the caller's: {body}"
    return f"order {body['orderId']} of customer {body['customerId']}"


def version(expected):
    def check(answer):
        body = proxy(200)(answer)
        assert body["version"] == expected, body
        return f"order {body['orderId']} at version {body['version']}"

    return check


def conflict(answer):
    body = proxy(412)(answer)
    assert body["error"]["code"] == "VersionConflict", body
    return f"VersionConflict, current version {body['current']['version']}"


def listed(count):
    def check(answer):
        body = proxy(200)(answer)
        assert len(body["items"]) == count, body
        return f"{count} orders of the caller"

    return check


def failures(*ids):
    def check(answer):
        got = sorted(f["itemIdentifier"] for f in answer["batchItemFailures"])
        assert got == sorted(ids), f"expected batchItemFailures {sorted(ids)}, got {answer}"
        return f"batchItemFailures {got}"

    return check


class Merchant(http.server.ThreadingHTTPServer):
    """The merchant's webhook: records each POST (headers, body) and answers 204."""

    def __init__(self, url):
        address = urllib.parse.urlsplit(url)
        self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N802 (http.server's naming)
                length = int(handler.headers.get("content-length", 0))
                self.received.append((dict(handler.headers), handler.rfile.read(length)))
                handler.send_response(204)
                handler.end_headers()

            def log_message(handler, *args):
                pass

        super().__init__((address.hostname, address.port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def notified(merchant, moto_endpoint):
    """notify-merchant answered null, after one POST of the event, signed with the secret's key."""

    def check(answer):
        assert answer is None, f"expected null, got {answer}"
        assert len(merchant.received) == 1, f"expected one POST, got {len(merchant.received)}"
        headers, body = merchant.received[0]
        headers = {name.lower(): value for name, value in headers.items()}
        event = json.loads(body)
        assert headers["orders-event-id"] == event["eventId"], headers
        secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
        arn = next(s["ARN"] for s in secrets.list_secrets()["SecretList"]
                   if s["Name"].endswith("-MerchantWebhookSecret"))
        key = secrets.get_secret_value(SecretId=arn)["SecretString"].encode()
        fields = dict(part.split("=", 1) for part in headers["orders-signature"].split(","))
        expected = hmac.new(key, f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected), "the signature does not verify"
        return f"{event['eventType']} POSTed to the merchant, signature verified"

    return check


# (logical id, event file, check of the function's answer), in story order.
CASES = [
    ("CreateOrderFunction", "events/create-order.json", created),
    ("GetOrderFunction", "events/get-order.json", version(1)),
    ("UpdateOrderFunction", "events/update-order.json", version(2)),
    ("CancelOrderFunction", "events/cancel-order.json", conflict),
    ("ListOrdersFunction", "events/list-orders.json", listed(2)),
    ("PublishEventsFunction", "events/publish-events.json", failures()),
    ("FulfillOrderFunction", "events/fulfill-order.json", failures()),
    ("FulfillOrderFunction", "events/fulfill-order-batch.json", failures(FULFILLMENT_POISON)),
    ("RecordAuditFunction", "events/record-audit.json", failures()),
    ("RecordAuditFunction", "events/record-audit-batch.json", failures(AUDIT_POISON)),
]


def local_options(args):
    return [
        "--template", args.template,
        "--env-vars", "target/sam-env.json",
        "--parameter-overrides",
        f"Architecture={args.architecture} MerchantWebhookUrl={args.merchant_url}",
        "--skip-pull-image",
        "--region", "us-east-1",
    ]


def invoke(args, function, event):
    command = ["sam", "local", "invoke", function, "--event", event, *local_options(args)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    if run.returncode != 0 or not lines:
        sys.exit(f"FAILED: {' '.join(command)}\n{run.stderr[-3000:]}")
    report = next((line for line in run.stderr.splitlines() if line.startswith("REPORT")), "")
    return json.loads(lines[-1]), report


def wait_for_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    sys.exit(f"FAILED: sam local start-api did not listen on 127.0.0.1:{port}")


def request(url, method, headers, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_api(args):
    """SAM's local API routes each request to its function, but runs neither the Cognito
    authorizer nor the API key check: the function gets no caller (no authorizer claims) and
    refuses, as it would behind a method that lost its authorizer. `make dev` plays both."""
    command = ["sam", "local", "start-api", "--port", str(args.api_port), "--host", "127.0.0.1",
               *local_options(args)]
    log = open("target/sam-start-api.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(args.api_port, 120)
        with open("events/create-order.json") as sample:
            event = json.load(sample)
        headers = {"content-type": "application/json",
                   "authorization": event["headers"]["Authorization"],
                   "x-api-key": event["headers"]["x-api-key"]}
        base = f"http://127.0.0.1:{args.api_port}"
        for method, path, body in [
            ("POST", "/orders", json.loads(event["body"])),
            ("GET", f"/orders/{SAMPLE_ORDER}", None),
        ]:
            status, answer = request(base + path, method, headers, body)
            print(f"  sam local start-api: {method} {path} -> {status} {json.dumps(answer)}")
            assert status == 401 and answer["error"]["code"] == "Unauthorized", (
                f"the function should refuse a request without authorizer claims: {status} {answer}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", required=True)
    parser.add_argument("--architecture", required=True)
    parser.add_argument("--api-port", type=int, default=3011)
    parser.add_argument("--merchant-url", required=True)
    parser.add_argument("--moto-endpoint", required=True)
    args = parser.parse_args()
    merchant = Merchant(args.merchant_url)
    cases = CASES + [
        ("NotifyMerchantFunction", "events/notify-merchant.json",
         notified(merchant, args.moto_endpoint)),
    ]
    for function, event, check in cases:
        started = time.monotonic()
        answer, report = invoke(args, function, event)
        try:
            summary = check(answer)
        except (AssertionError, KeyError, TypeError, ValueError) as error:
            sys.exit(f"FAILED: sam local invoke {function} --event {event}: {error}")
        print(f"  sam local invoke {function} --event {event} -> {summary} "
              f"({time.monotonic() - started:.1f} s)")
        if report:
            print(f"    {report}")
    start_api(args)
    print("sam local: every function answered its sample events as the tests say")


if __name__ == "__main__":
    main()
