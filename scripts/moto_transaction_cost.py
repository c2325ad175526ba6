"""What one TransactWriteItems costs on moto as the table grows, without and with
moto_server.py's snapshot_only_what_a_transaction_touches.

On DynamoDB a transaction costs what its items cost. moto 5.2.5 deep-copies every table a
transaction names before it starts, so its cost grows with the table; the patch saves only the
items the transaction names. The transaction measured is create-order's with an Idempotency-Key
(shared/src/store/idempotency.rs): two conditional Puts, the order and its idempotency record,
into a table shaped as the template's OrdersTable (pk/sk, the byCustomer index, a stream) and
filled with orders of about the size create-order writes. Measured in process (moto's mock, no
HTTP): the server adds the same constant to both.

Usage: .venv/bin/python scripts/moto_transaction_cost.py [table sizes ...]   (default 1000 5000 10000)
"""

import os
import statistics
import sys
import time
import uuid

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402

TABLE = "orders-cost"
TRANSACTIONS_PER_SIZE = 5


def create_table(dynamodb) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "customerId", "createdAt")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byCustomer",
                "KeySchema": [
                    {"AttributeName": "customerId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def order_item() -> dict:
    """An order item about the size of create-order's (items, address, sealed card)."""
    order_id = str(uuid.uuid4())
    return {
        "pk": {"S": f"ORDER#{order_id}"},
        "sk": {"S": "ORDER"},
        "orderId": {"S": order_id},
        "customerId": {"S": "customer-1"},
        "createdAt": {"S": time.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
        "status": {"S": "PLACED"},
        "version": {"N": "1"},
        "totalCents": {"N": "2500"},
        "items": {
            "L": [
                {
                    "M": {
                        "sku": {"S": f"SKU-{i}"},
                        "quantity": {"N": "2"},
                        "unitPriceCents": {"N": "1250"},
                    }
                }
                for i in range(3)
            ]
        },
        "shippingAddress": {
            "M": {k: {"S": k * 3} for k in ("name", "line1", "city", "postalCode", "country")}
        },
        "encryptedPayment": {"M": {k: {"S": "x" * 200} for k in ("keyId", "edk", "nonce", "ct")}},
    }


def fill(dynamodb, count: int) -> None:
    for start in range(0, count, 25):
        requests = [{"PutRequest": {"Item": order_item()}} for _ in range(min(25, count - start))]
        dynamodb.batch_write_item(RequestItems={TABLE: requests})


def create_with_idempotency_key(dynamodb) -> float:
    """Seconds one create-order transaction takes."""
    order = order_item()
    record = {
        "pk": {"S": f"IDEMPOTENCY#customer-1#{uuid.uuid4()}"},
        "sk": {"S": "IDEMPOTENCY"},
        "order": {"M": {k: v for k, v in order.items() if k != "encryptedPayment"}},
        "expiresAt": {"N": str(int(time.time()) + 86400)},
    }
    started = time.perf_counter()
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for item in (order, record)
        ]
    )
    return time.perf_counter() - started


def measure(sizes: list[int]) -> list[float]:
    """The median seconds of a transaction at each table size."""
    medians = []
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb)
        filled = 0
        for size in sizes:
            fill(dynamodb, size - filled)
            filled = size
            medians.append(
                statistics.median(
                    create_with_idempotency_key(dynamodb) for _ in range(TRANSACTIONS_PER_SIZE)
                )
            )
            filled += TRANSACTIONS_PER_SIZE * 2
    return medians


def main() -> None:
    sizes = sorted(int(size) for size in sys.argv[1:]) or [1000, 5000, 10000]
    as_moto_is = measure(sizes)
    moto_server.snapshot_only_what_a_transaction_touches()
    patched = measure(sizes)
    print("items in the table | moto 5.2.5 as is | with the patch  (median of 5 TransactWriteItems)")
    for size, before, after in zip(sizes, as_moto_is, patched):
        print(f"{size:>18} | {before * 1000:>13.1f} ms | {after * 1000:>11.1f} ms")


if __name__ == "__main__":
    main()
