"""`POST /orders` in Python: the port of `functions/create-order` that `make bench` measures.

The order belongs to the caller (the ID token's `sub`). The body is validated (every bad field at
once), the total computed, the card sealed with KMS envelope encryption bound to the new order's
id, and the order written with `attribute_not_exists(pk)`: a create that can never overwrite. The
response shows the card only as `{cardLast4, brand}`. No `Idempotency-Key` path: see README.md.

What is built at import (the table, the KMS client and its cached data key) is built once per
execution environment; `handler` runs per invocation and reuses it.
"""

import os
import time
import uuid
from datetime import datetime, timezone

from card_cipher import CardCipher
from order_store import OrderStore
from orders_common import Caller, count, json_body, order_response, serve
from orders_input import parse_new_order, today_utc

STORE = OrderStore()
CIPHER = CardCipher()


def handler(event, context):
    return serve(create_order, event)


def create_order(event):
    caller = Caller.of(event)
    body = json_body(event)
    new_order = parse_new_order(body, caller.customer_id, today_utc())
    order, card = place(new_order)
    sealed = CIPHER.seal_card(card, order["orderId"])
    STORE.create(order, sealed)
    count("OrdersPlaced")
    headers = {"location": f"/orders/{order['orderId']}"}
    return order_response(201, order, headers)


def place(new_order):
    """A new order (status PLACED, version 1, total computed), and its card apart: the card
    becomes part of the stored item only sealed."""
    now = now_timestamp()
    items = new_order["items"]
    order = {
        "orderId": new_order_id(),
        "customerId": new_order["customerId"],
        "items": items,
        "totalCents": sum(line["quantity"] * line["unitPriceCents"] for line in items),
        "status": "PLACED",
        "version": 1,
        "createdAt": now,
        "updatedAt": now,
        "note": new_order["note"],
        "shippingAddress": new_order["shippingAddress"],
        "payment": new_order["card"].summary(),
    }
    # Absent options are left out of the response and the item, as serde skips them.
    return {k: v for k, v in order.items() if v is not None}, new_order["card"]


def new_order_id():
    """A UUID v7 (RFC 9562): 48 bits of Unix milliseconds first, so ids sort by creation time.
    (Python 3.11 has no uuid7; the Rust uses `Uuid::now_v7`.)"""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def now_timestamp():
    """RFC 3339 in UTC with exactly three fractional digits: text order is time order."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
