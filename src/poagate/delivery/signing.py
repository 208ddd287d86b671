"""Signed webhooks, by the Standard Webhooks scheme (https://www.standardwebhooks.com), so that a
DNO (or the DSP, for verification requests) can check them with a ready-made verifier such as
the ``standardwebhooks`` package.

Headers sent with each forwarded AD1, and with each push of verification requests to the DSP
(spec §14; ``signed_headers`` is the one place the scheme is applied):

* ``webhook-id``: the message's identifier, the same on every retry (for a forwarded AD1 its
  ``alert_id``): a receiver that sees an id again has the message already;
* ``webhook-timestamp``: seconds since the epoch when this attempt was signed;
* ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, keyed with the receiver's secret,
  of ``{webhook-id}.{webhook-timestamp}.{body}``. While a secret is being rotated the header
  holds one signature for each secret in force, separated by spaces, and a receiver accepts
  the message when any of them verifies with its secret.

A secret is ``whsec_`` and the base64 of 24 to 64 random bytes (``new_secret`` makes one); the
key is those bytes. A secret set before poagate used the scheme (any other string of at least
16 characters) keeps working: its key is its UTF-8 bytes.

The signature is computed here over the body's bytes, exactly as the scheme defines it: the
``standardwebhooks`` package signs text, and a DUIS message need not be UTF-8. The tests check
every signature with that package's verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def new_secret() -> str:
    """A fresh secret in the scheme's form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_scheme_secret(secret: str) -> bool:
    """``whsec_`` and the base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret (see the module docstring)."""
    if is_scheme_secret(secret):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def signature(secrets_in_force: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,`` signature per secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(secret_key(s), signed, hashlib.sha256)).decode()
        for s in secrets_in_force
    )


def signed_headers(
    secrets_in_force: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a signed message (``message_id`` must be header-safe ASCII)."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secrets_in_force, message_id, timestamp, body),
    }
