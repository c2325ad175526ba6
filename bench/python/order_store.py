"""The orders table, as `shared/src/store/mod.rs` reads and writes it (single-table design).

An order item is the API's view of the order (camelCase attributes, absent options left out) plus
its key (`pk = ORDER#<orderId>`, `sk = ORDER`) and `encryptedPayment`, the sealed card. The
attributes are mapped as `serde_dynamo` maps them (text `S`, whole numbers `N`, objects `M`, lists
`L`), so the Rust get-order reads an order this port created, and this port reads the Rust's.
"""

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from orders_common import AppError, aws_client, log_consumed_capacity, required_env

ORDER_SK = "ORDER"
# DynamoDB's throttling errors, which the SDK has already retried before we see one.
THROTTLING_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
}
# The field order of the Rust `Order`, `LineItem` and `Address`: responses list them in this order.
ORDER_FIELDS = ["orderId", "customerId", "items", "totalCents", "status", "version",
                "createdAt", "updatedAt", "note", "shippingAddress", "payment"]
ITEM_FIELDS = ["sku", "quantity", "unitPriceCents"]
ADDRESS_FIELDS = ["name", "line1", "line2", "city", "postalCode", "country"]
PAYMENT_FIELDS = ["cardLast4", "brand"]


def to_attribute(value):
    """A JSON-like value as a DynamoDB attribute value, as serde_dynamo writes it."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {name: to_attribute(v) for name, v in value.items() if v is not None}}
    if isinstance(value, list):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"no DynamoDB mapping for {type(value).__name__}")


def from_attribute(attribute):
    """The inverse of `to_attribute`."""
    kind, value = next(iter(attribute.items()))  # one type tag per attribute value
    if kind == "N":
        return int(value)
    if kind == "M":
        return {name: from_attribute(v) for name, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    return value  # S, BOOL


def in_field_order(values, fields):
    return {name: values[name] for name in fields if values.get(name) is not None}


def order_from_item(item):
    """The order an item holds, its fields in the API's order; the key and the sealed card are
    left behind, as serde ignores them in the Rust."""
    values = {name: from_attribute(item[name]) for name in ORDER_FIELDS if name in item}
    values["items"] = [in_field_order(line, ITEM_FIELDS) for line in values["items"]]
    if "shippingAddress" in values:
        values["shippingAddress"] = in_field_order(values["shippingAddress"], ADDRESS_FIELDS)
    values["payment"] = in_field_order(values["payment"], PAYMENT_FIELDS)
    return in_field_order(values, ORDER_FIELDS)


def order_key(order_id):
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": ORDER_SK}}


def sdk_failure(operation, error):
    """Throttling (or no answer in time) is a 503 the client may retry; anything else is a 500."""
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return AppError.throttled()
    if isinstance(error, ClientError) and error.response["Error"].get("Code") in THROTTLING_CODES:
        return AppError.throttled()
    return AppError.internal(f"DynamoDB {operation} failed: {error}")


class OrderStore:
    """The table named by TABLE_NAME, through a client built once per execution environment."""

    def __init__(self):
        self.table = required_env("TABLE_NAME")
        self.client = aws_client("dynamodb")

    def create(self, order, sealed_card):
        """Writes a new order and its sealed card; `attribute_not_exists(pk)` makes the put a
        create, never an overwrite."""
        item = to_attribute(order)["M"]
        item.update(order_key(order["orderId"]))
        item["encryptedPayment"] = to_attribute(sealed_card)
        try:
            output = self.client.put_item(
                TableName=self.table, Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnConsumedCapacity="TOTAL",
            )
        except (ClientError, BotoCoreError) as error:
            raise sdk_failure("PutItem", error) from error
        log_consumed_capacity("PutItem", self.table, output)

    def get(self, order_id, consistent):
        """One order, or None. `consistent` asks for a strongly consistent read."""
        try:
            output = self.client.get_item(
                TableName=self.table, Key=order_key(order_id),
                ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL",
            )
        except (ClientError, BotoCoreError) as error:
            raise sdk_failure("GetItem", error) from error
        log_consumed_capacity("GetItem", self.table, output)
        item = output.get("Item")
        return order_from_item(item) if item else None
