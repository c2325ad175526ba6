"""KMS envelope encryption of card data, as `shared/src/crypto/envelope.rs` seals it.

seal: GenerateDataKey(AES_256, context {app, purpose}) -> plaintext key + encrypted key (edk);
AES-256-GCM(plaintext key, fresh 96-bit nonce, aad = the order id) over the card; stored as
`{v: 1, keyId, edk, nonce, ct}` with the binary fields in base64. The same context and associated
data as the Rust, so the Rust fulfillment consumer can open what this port seals.

The data-key cache follows `crypto/key_cache.rs` for encryption (the only side create-order uses):
one data key is reused for at most DATA_KEY_CACHE_MAX_MESSAGES messages and
DATA_KEY_CACHE_MAX_AGE_SECONDS; 0 messages turns caching off. Python cannot wipe the plaintext key
or card from memory as the Rust `zeroize` does: this port drops references and leaves the rest to
the garbage collector.
"""

import base64
import os
import time

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orders_common import AppError, aws_client, count, required_env, whole_number_env

FORMAT_VERSION = 1
ENCRYPTION_CONTEXT = {"app": "orders-on-lambda", "purpose": "payment-card"}


class CardCipher:
    """Seals cards under PAYMENT_KEY_ID. Built once at import: its cached data key lives as long as
    the execution environment."""

    def __init__(self):
        self.key_id = required_env("PAYMENT_KEY_ID")
        self.max_messages = whole_number_env("DATA_KEY_CACHE_MAX_MESSAGES", 100, 0)
        self.max_age = whole_number_env("DATA_KEY_CACHE_MAX_AGE_SECONDS", 300, 1)
        self.kms = aws_client("kms")
        # The key in use: (plaintext, encrypted, key ARN), when it was made, messages sealed.
        self.in_use = None

    def seal_card(self, card, order_id):
        """The card's envelope, bound to `order_id` (its AES-GCM associated data)."""
        return self.seal(card.plaintext(), order_id.encode())

    def seal(self, plaintext, aad):
        key = self.key_for_encryption()
        if key is None:
            key = self.generate_data_key()
            if self.max_messages > 0:
                self.in_use = {"key": key, "created": time.monotonic(), "messages": 1}
        data_key, encrypted, key_arn = key
        # A fresh random nonce for every message: a cached data key encrypts many of them.
        nonce = os.urandom(12)
        ct = AESGCM(data_key).encrypt(nonce, plaintext, aad)
        return {
            "v": FORMAT_VERSION,
            "keyId": key_arn,
            "edk": base64.b64encode(encrypted).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(ct).decode(),
        }

    def key_for_encryption(self):
        """The cached key for one more message, or None (a miss: generate one)."""
        entry = self.in_use
        reusable = (entry is not None and entry["messages"] < self.max_messages
                    and time.monotonic() - entry["created"] < self.max_age)
        if not reusable:
            self.in_use = None
            count("DataKeyCacheMisses")
            return None
        entry["messages"] += 1
        count("DataKeyCacheHits")
        return entry["key"]

    def generate_data_key(self):
        try:
            output = self.kms.generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=ENCRYPTION_CONTEXT
            )
        except (ClientError, BotoCoreError) as error:
            raise kms_failure(error) from error
        return output["Plaintext"], output["CiphertextBlob"], output["KeyId"]


def kms_failure(error):
    """Throttling, or no answer in time, is a 503 worth retrying; anything else is internal."""
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return AppError.throttled()
    if isinstance(error, ClientError) and error.response["Error"].get("Code") == "ThrottlingException":
        return AppError.throttled()
    return AppError.internal(f"KMS GenerateDataKey failed: {error}")

