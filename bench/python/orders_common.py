"""What both handlers of the Python port share: configuration, AWS clients, telemetry and the
HTTP contract. It mirrors `shared/src/config.rs`, `runtime.rs`, `telemetry/` and `api/mod.rs`.

Everything at module level runs once per execution environment, when awslambdaric imports the
handler's module (Lambda's init phase): the configuration is read and checked, and the boto3 clients
are built, so every warm invocation reuses them and their connection pools, as the Rust `main` does.

A route is a plain function of the event that returns a response or raises `AppError`; `serve`
wraps it as the Rust `serve_api` does: the invocation's metrics (EMF), the error shape,
the "request refused" log line, and the CORS headers.
"""

import base64
import json
import logging
import os
import re
import time

import boto3
from botocore.config import Config as BotoConfig

log = logging.getLogger("orders")
# boto3 logs at INFO where it found credentials and endpoints; the Rust SDK logs nothing there.
logging.getLogger("botocore").setLevel(logging.WARNING)


# --- Configuration (config.rs): read once, a missing variable fails the cold start ---------------

def required_env(name):
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def whole_number_env(name, default, minimum):
    text = os.environ.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]+", text) or int(text) < minimum:
        raise RuntimeError(f"environment variable {name} has an invalid value {text!r}")
    return int(text)


# The SDK reads an empty AWS_ENDPOINT_URL as an endpoint; refuse it as the Rust does.
if os.environ.get("AWS_ENDPOINT_URL") is not None and not os.environ["AWS_ENDPOINT_URL"].strip():
    raise RuntimeError("AWS_ENDPOINT_URL is empty: give it the emulator's URL or leave it unset")

FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "orders-on-lambda")
ALLOWED_ORIGIN = os.environ.get("ALLOWED_ORIGIN") or None

# The Rust clients give each attempt 2 s and the whole call 4 s (config::sdk_timeouts). botocore has
# no whole-call timeout: 2 s to connect and per read, and the standard mode's 3 attempts, come close.
_BOTO_CONFIG = BotoConfig(
    connect_timeout=2, read_timeout=2, retries={"mode": "standard", "max_attempts": 3}
)
# One session for every client: boto3 reads region, credentials and AWS_ENDPOINT_URL from the
# environment, as the Rust SDK's `aws_config::defaults` does.
_SESSION = boto3.session.Session()


def aws_client(service):
    """A boto3 client, built once at import and shared by every invocation."""
    return _SESSION.client(service, config=_BOTO_CONFIG)


# --- Errors (error.rs): one class, its status and code, rendered in one place --------------------

class AppError(Exception):
    """A request that ends in an error response: `{"error": {"code", "message", "details"?}}`."""

    def __init__(self, status, code, message, details=None, cause=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.cause = details, cause

    @classmethod
    def validation(cls, problems):
        return cls(400, "ValidationFailed", "the request has invalid fields", details=problems)

    @classmethod
    def not_found(cls):
        return cls(404, "OrderNotFound", "no such order")

    @classmethod
    def throttled(cls):
        return cls(503, "ServiceUnavailable", "the service is busy, retry after a short wait")

    @classmethod
    def internal(cls, cause):
        # The cause is logged, never sent: no SDK message, ARN or table name reaches a client.
        return cls(500, "InternalError", "an internal error occurred", cause=cause)


# --- Telemetry (telemetry/metrics.rs): one EMF line per invocation -------------------------------

NAMESPACE = "OrdersOnLambda"
# The order the Rust `Metric` enum sorts in, so both write the same line.
_METRIC_ORDER = ["OrdersPlaced", "DataKeyCacheHits", "DataKeyCacheMisses", "ColdStart"]
_counts = {}
_cold = True  # true until the first invocation of this execution environment has started

log.info("telemetry initialised", extra={"release": "bench-python-port"})


def count(metric, n=1):
    _counts[metric] = _counts.get(metric, 0) + n


def flush_metrics():
    """Prints the invocation's counts as CloudWatch Embedded Metric Format, and starts afresh."""
    if not _counts:
        return
    names = sorted(_counts, key=_METRIC_ORDER.index)
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["service"]],
                "Metrics": [{"Name": name, "Unit": "Count"} for name in names],
            }],
        },
        "service": FUNCTION_NAME,
    }
    line.update((name, _counts[name]) for name in names)
    _counts.clear()
    print(json.dumps(line, separators=(",", ":"), sort_keys=True), flush=True)


def log_consumed_capacity(operation, table, output):
    """The line the Rust SDK interceptor writes after each DynamoDB call that reports capacity."""
    units = (output.get("ConsumedCapacity") or {}).get("CapacityUnits")
    if units is not None:
        log.info("consumed capacity",
                 extra={"operation": operation, "table": table, "consumedCapacity": units})


# --- The caller (identity.rs) ---------------------------------------------------------------------

SUPPORT_GROUP = "support"
_IDENTIFIER = re.compile(r"[A-Za-z0-9._-]{1,64}")


def parse_identifier(value):
    """A customer id or SKU: 1 to 64 letters, digits, '-', '_' or '.'; else the reason why not."""
    if not 1 <= len(value) <= 64:
        return None, "must be 1 to 64 characters"
    if not _IDENTIFIER.fullmatch(value):
        return None, "may contain only letters, digits, '-', '_' and '.'"
    return value, None


class Caller:
    """The signed-in caller: the ID token's `sub` and `cognito:groups`, as API Gateway's Cognito
    authorizer hands them over in `requestContext.authorizer.claims`."""

    def __init__(self, customer_id, groups):
        self.customer_id, self.groups = customer_id, groups

    @classmethod
    def of(cls, event):
        claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")
        unauthenticated = AppError(401, "Unauthorized", "the request is not signed in")
        if not isinstance(claims, dict):
            log.error("refused: the request carries no authorizer claims")
            raise unauthenticated
        sub = claims.get("sub")
        if not isinstance(sub, str) or parse_identifier(sub)[0] is None:
            log.error("refused: the authorizer claims have no usable sub")
            raise unauthenticated
        groups = claims.get("cognito:groups")
        if isinstance(groups, list):
            groups = [group for group in groups if isinstance(group, str)]
        elif isinstance(groups, str):  # "support,vip" (REST API) or "[support vip]" (HTTP API)
            groups = [g for g in re.split(r"[, ]", groups.strip("[]")) if g]
        else:
            groups = []
        return cls(sub, groups)

    def may_read(self, order):
        return order["customerId"] == self.customer_id or SUPPORT_GROUP in self.groups


# --- The HTTP contract (api/mod.rs) -------------------------------------------------------------

MAX_BODY_BYTES = 64 * 1024


def json_body(event):
    """The body as JSON: 413 above 64 KiB, 400 if empty or not JSON."""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    if len(raw) > MAX_BODY_BYTES:
        raise AppError(413, "PayloadTooLarge", f"the request body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise AppError(400, "MalformedJson", "the request body is not valid JSON: the body is empty")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise AppError(400, "MalformedJson", f"the request body is not valid JSON: {error}")


def query_param(event, name):
    """One query-string parameter (the first of several), if present."""
    values = (event.get("multiValueQueryStringParameters") or {}).get(name)
    if values:
        return values[0]
    return (event.get("queryStringParameters") or {}).get(name)


def json_response(status, body, headers=None):
    """A REST proxy response as lambda_http writes it: every header in `multiValueHeaders`."""
    multi = {"content-type": ["application/json"]}
    multi.update((name, [value]) for name, value in (headers or {}).items())
    return {
        "statusCode": status,
        "headers": {},
        "multiValueHeaders": multi,
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def order_response(status, order, headers=None):
    """An order, with its version as the `ETag` (the token a client sends back in `If-Match`)."""
    return json_response(status, order, {"etag": f'"{order["version"]}"', **(headers or {})})


def error_response(error):
    # The Rust builds this body with serde_json's `json!`, whose keys come out sorted.
    detail = {"code": error.code}
    if error.details is not None:
        detail["details"] = error.details
    detail["message"] = error.message
    headers = {"retry-after": "1"} if error.status == 503 else None
    return json_response(error.status, {"error": detail}, headers)


def serve(route, event):
    """One API invocation: the route's response or its error's, with CORS, then the metrics line."""
    global _cold
    if _cold:
        _cold = False
        count("ColdStart")
    try:
        response = route(event)
    except AppError as error:
        if error.status >= 500:
            log.error("request failed", extra={"code": error.code, "cause": str(error.cause)})
        else:
            log.info("request refused", extra={"code": error.code, "status": error.status})
        response = error_response(error)
    if ALLOWED_ORIGIN:
        response["multiValueHeaders"]["access-control-allow-origin"] = [ALLOWED_ORIGIN]
        response["multiValueHeaders"]["access-control-expose-headers"] = ["ETag, Location"]
    flush_metrics()
    return response
