"""`GET /orders/{orderId}` in Python: the port of `functions/get-order` that `make bench` measures.

Reads are eventually consistent unless `?consistent=true`. Only the order's customer and the
support group see it; to anyone else it is unknown (404, the same answer as an id that names no
order). The response carries the order's version as its `ETag`.

The table's client is built at import, once per execution environment.
"""

import uuid

from order_store import OrderStore
from orders_common import AppError, Caller, order_response, query_param, serve

STORE = OrderStore()


def handler(event, context):
    return serve(get_order, event)


def get_order(event):
    caller = Caller.of(event)
    order_id = path_order_id(event)
    consistent = query_param(event, "consistent")
    if consistent not in (None, "true", "false"):
        raise AppError(400, "BadRequest", "consistent must be true or false")
    order = STORE.get(order_id, consistent == "true")
    if order is None or not caller.may_read(order):
        raise AppError.not_found()
    return order_response(200, order)


def path_order_id(event):
    """The `{orderId}` path parameter. An id that is not a UUID names no order: 404."""
    text = (event.get("pathParameters") or {}).get("orderId") or ""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise AppError.not_found() from None
