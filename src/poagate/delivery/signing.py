"""The signature on every delivery, and how a DNO checks it.

Headers sent with each forwarded AD1, and with each push of verification requests to the DSP
(SPEC §14; ``signed_headers`` is the one place the scheme is applied):

* ``X-Poagate-Timestamp``: seconds since the epoch when it was sent;
* ``X-Poagate-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the DNO's secret,
  of the timestamp, a full stop, and the body exactly as received;
* ``Idempotency-Key`` (and ``X-Poagate-Alert-Id``): the AD1's ``alert_id``. Delivery is at
  least once: a DNO that sees an ``alert_id`` again has it already.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Poagate-Signature"
TIMESTAMP_HEADER = "X-Poagate-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """The signature headers for ``body``, sent now."""
    stamp = str(int(time.time()))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)}


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)
