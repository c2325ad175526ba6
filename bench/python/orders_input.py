"""The body of `POST /orders`, parsed as `shared/src/domain/input.rs` and `payment.rs` parse it.

Untrusted JSON in; a new order out, or every problem with it at once (`items[0].quantity: must be
1 to 1000`), in the Rust's order and with its messages: the unknown and forbidden fields (sorted),
then `items`, `note`, `shippingAddress`, `payment`. A card passes only with a valid Luhn check and
an expiry no earlier than this month; messages never repeat what the client sent.
"""

import json
import re
from datetime import datetime, timezone

from orders_common import AppError, parse_identifier

MAX_ITEMS = 100
MAX_QUANTITY = 1000
MAX_UNIT_PRICE_CENTS = 100_000_000
MAX_NOTE_CHARS = 1000
MAX_YEARS_AHEAD = 20
EXPIRY_FORMAT = "must be MM/YY, like 09/29"
_I64 = range(-(2**63), 2**63)


class PaymentCard:
    """A card that passed validation. Its number leaves only sealed (`plaintext`) or as the last
    four digits (`summary`)."""

    def __init__(self, number, month, year):
        self.number, self.month, self.year = number, month, year

    def __repr__(self):  # safe in a log line, like the Rust `Debug`
        return f"PaymentCard(****{self.number[-4:]})"

    def summary(self):
        return {"cardLast4": self.number[-4:], "brand": card_brand(self.number)}

    def plaintext(self):
        """The bytes that are sealed, as `PaymentCard::to_plaintext` writes them."""
        expiry = f"{self.month:02}/{self.year % 100:02}"
        return json.dumps({"cardNumber": self.number, "expiry": expiry},
                          separators=(",", ":")).encode()


class Problems:
    """The problems found so far, as `{field, message}` (the API's `details`)."""

    def __init__(self):
        self.found = []

    def add(self, field, message):
        self.found.append({"field": field, "message": message})

    def check(self, field, result):
        """`result` is (value, None) or (None, message): keeps the value or records the message."""
        value, message = result
        if message is not None:
            self.add(field, message)
        return value

    def field(self, fields, prefix, name, parse):
        """A required field: absent or null is "is required", else `parse` decides."""
        value = fields.get(name)
        if value is None:
            self.add(prefix + name, "is required")
            return None
        return self.check(prefix + name, parse(value))

    def reject_unknown(self, fields, prefix, known):
        for key in sorted(fields):
            if key not in known:
                self.add(prefix + key, "is not a known field")

    def items(self, value):
        if not isinstance(value, list):
            self.add("items", "must be an array")
            return None
        if not 1 <= len(value) <= MAX_ITEMS:
            self.add("items", f"must hold 1 to {MAX_ITEMS} items")
            return None
        lines = [self.line_item(line, f"items[{index}]") for index, line in enumerate(value)]
        return None if None in lines else lines

    def line_item(self, value, path):
        if not isinstance(value, dict):
            self.add(path, "must be a JSON object")
            return None
        prefix = path + "."
        self.reject_unknown(value, prefix, ["sku", "quantity", "unitPriceCents"])
        line = {
            "sku": self.field(value, prefix, "sku", lambda v: then(string(v), parse_identifier)),
            "quantity": self.field(value, prefix, "quantity",
                                   lambda v: then(integer(v), quantity)),
            "unitPriceCents": self.field(value, prefix, "unitPriceCents",
                                         lambda v: then(integer(v), unit_price)),
        }
        return None if None in line.values() else line

    def address(self, value):
        if not isinstance(value, dict):
            self.add("shippingAddress", "must be a JSON object")
            return None
        prefix = "shippingAddress."
        known = ["name", "line1", "line2", "city", "postalCode", "country"]
        self.reject_unknown(value, prefix, known)
        address = {name: self.field(value, prefix, name, address_line) for name in known[:2]}
        # Optional: absent is fine; present but bad is a problem.
        line2_ok = True
        if value.get("line2") is not None:
            address["line2"] = self.check(prefix + "line2", address_line(value["line2"]))
            line2_ok = address["line2"] is not None
        address["city"] = self.field(value, prefix, "city", address_line)
        address["postalCode"] = self.field(value, prefix, "postalCode", address_line)
        address["country"] = self.field(value, prefix, "country", country_code)
        required_ok = None not in (address[name] for name in known if name != "line2")
        return address if required_ok and line2_ok else None

    def payment(self, value, today):
        if not isinstance(value, dict):
            self.add("payment", "must be a JSON object")
            return None
        self.reject_unknown(value, "payment.", ["cardNumber", "expiry"])
        number = self.field(value, "payment.", "cardNumber", string)
        expiry = self.field(value, "payment.", "expiry", string)
        if number is None or expiry is None:
            return None
        digits = self.check("payment.cardNumber", card_number(number))
        month_year = self.check("payment.expiry", card_expiry(expiry, today))
        if digits is None or month_year is None:
            return None
        return PaymentCard(digits, *month_year)


def parse_new_order(body, customer_id, today):
    """The new order the body asks for, placed by the signed-in caller; else a 400 with every
    problem. A body that names a customer is refused rather than ignored."""
    if not isinstance(body, dict):
        raise AppError.validation([{"field": "body", "message": "must be a JSON object"}])
    problems = Problems()
    for key in sorted(body):
        if key == "customerId":
            problems.add(key, "cannot be set: an order belongs to the signed-in customer "
                              "(the ID token's sub)")
        elif key not in ("items", "note", "shippingAddress", "payment"):
            problems.add(key, "is not a known field")
    items = problems.field(body, "", "items", lambda v: (problems.items(v), None))
    note = body.get("note")
    if note is not None:
        note = problems.check("note", then(string(note), note_text))
    address = body.get("shippingAddress")
    if address is not None:
        address = problems.address(address)
    card = problems.field(body, "", "payment", lambda v: (problems.payment(v, today), None))
    if problems.found:
        raise AppError.validation(problems.found)
    return {"customerId": customer_id, "items": items, "note": note,
            "shippingAddress": address, "card": card}


def today_utc():
    return datetime.now(timezone.utc).date()


# --- The parsers of single values: (value, None) or (None, message) ---------------------------

def then(result, parse):
    value, message = result
    return (None, message) if message is not None else parse(value)


def string(value):
    return (value, None) if isinstance(value, str) else (None, "must be a string")


def integer(value):
    # bool is an int in Python but not in JSON; serde's as_i64 also refuses floats and huge numbers.
    if isinstance(value, int) and not isinstance(value, bool) and value in _I64:
        return value, None
    return None, "must be an integer"


def quantity(value):
    return (value, None) if 1 <= value <= MAX_QUANTITY else (None, f"must be 1 to {MAX_QUANTITY}")


def unit_price(value):
    if 0 <= value <= MAX_UNIT_PRICE_CENTS:
        return value, None
    return None, f"must be 0 to {MAX_UNIT_PRICE_CENTS}"


def note_text(value):
    if len(value) > MAX_NOTE_CHARS:
        return None, f"must be at most {MAX_NOTE_CHARS} characters"
    return value, None


def address_line(value):
    text, message = string(value)
    if message is not None:
        return None, message
    text = text.strip()
    return (text, None) if 1 <= len(text) <= 200 else (None, "must be 1 to 200 characters")


def country_code(value):
    code, message = string(value)
    if message is None and re.fullmatch(r"[A-Z]{2}", code):
        return code, None
    return None, message or "must be an ISO 3166-1 alpha-2 code, like GB"


def card_number(text):
    """Digits only (spaces allowed between groups), 12 to 19 of them, passing the Luhn check."""
    digits = text.replace(" ", "")
    if not re.fullmatch(r"[0-9]*", digits):
        return None, "may contain only digits and spaces"
    if not 12 <= len(digits) <= 19:
        return None, "must have 12 to 19 digits"
    if not passes_luhn(digits):
        return None, "is not a valid card number (Luhn check)"
    return digits, None


def passes_luhn(digits):
    """From the rightmost digit, double every second one (minus 9 above 9); the sum ends in 0."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit * 2 > 9 else digit * 2
        total += digit
    return total % 10 == 0


def card_expiry(text, today):
    """`MM/YY`, not expired this month, at most 20 years ahead: (month, year) or the problem."""
    mm, slash, yy = text.partition("/")
    if not slash or not re.fullmatch(r"[0-9]{2}", mm) or not re.fullmatch(r"[0-9]{2}", yy):
        return None, EXPIRY_FORMAT
    month, year = int(mm), 2000 + int(yy)
    if not 1 <= month <= 12:
        return None, EXPIRY_FORMAT
    if (today.year, today.month) > (year, month):
        return None, "the card has expired"
    if year > today.year + MAX_YEARS_AHEAD:
        return None, "is too far in the future"
    return (month, year), None


def card_brand(digits):
    """The card network, from the number's leading digits (its issuer identification number)."""
    one, two, three, four = (int(digits[:n]) for n in (1, 2, 3, 4))
    if one == 4:
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if two == 65 or 644 <= three <= 649 or four == 6011:
        return "discover"
    return "unknown"
