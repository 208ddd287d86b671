"""Input limits, in one place: how long and of which characters an identifier may be, how many
lines a request may hold, how long an error message may get, and which timestamps are read.

Every limit here turns a hostile or careless input into a rejected item with a short message —
never an exception the caller did not expect, never a failed batch. The numbers are the
contract of docs/security.md ("Limits"); change them there too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from poagate.formats.errors import InputError

# -- identifiers --------------------------------------------------------------------------------

# An alert_id (JSON ``alert_id``, DUIS ``Header/ResponseID``) travels to the DNOs: in JSON, in
# CSV, and in HTTP headers (``webhook-id``, ``Idempotency-Key``). Visible ASCII only — no space,
# no control character (CR/LF would split a header), nothing a header cannot carry.
MAX_ALERT_ID_LENGTH = 256  # the store's column (schema.ad1_outcomes.alert_id)
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# A DUIS RequestID counter is an unsigned 64-bit number; the canonical request_id (two Device
# IDs, two colons and the counter) then fits the store's column of 80 characters.
MAX_REQUEST_COUNTER = 2**64 - 1
MAX_REQUEST_ID_LENGTH = 128  # as received: leading zeros of the counter are allowed up to this

# Free text an event may carry and the store keeps (``firmware_hash``).
MAX_TEXT_LENGTH = 256

# A Device ID is 16 or 23 characters; anything far longer is refused without being quoted.
MAX_DEVICE_ID_LENGTH = 64

# -- requests -----------------------------------------------------------------------------------

# Messages in one POST /v1/messages (JSON Lines). An answer lists every item, so a cap on lines
# caps the answer too (8 MiB of ``{}`` lines would otherwise answer ~220 MB; 20,000 rejected
# items answer about 2.5 MB).
MAX_LINES_PER_REQUEST = 20_000

# Numbers a caller names (a delivery's or token's id, where a listing continues): the store's
# integers are 64-bit, so anything larger names nothing and is refused as invalid.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """A number a caller names (an id, a position, an attempt): ASCII digits only, at most
    ``MAX_ID``; None for anything else. ``str.isdigit`` alone is not enough: it is true of
    "²" and "١", which ``int`` refuses or reads as another number."""
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


# -- error text ---------------------------------------------------------------------------------

MAX_ERROR_LENGTH = 512  # characters of an error message (answers, the rejected-input record)
MAX_QUOTED_LENGTH = 64  # characters of an input value quoted inside an error message

# -- timestamps ---------------------------------------------------------------------------------

# Every moment poagate reads lies in [EARLIEST, LATEST). The upper bound leaves room for the
# arithmetic the rules do on a time (a window of up to a day, a guard's delay of up to a year)
# without leaving the calendar; a cancellation's 3000-12-31 is well inside.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# The same range in years, for the hot path (a year is cheaper to compare than a datetime).
EARLIEST_YEAR, LATEST_YEAR = EARLIEST.year, LATEST.year
MAX_TIMESTAMP_LENGTH = 64


def quoted(value: object) -> str:
    """A value as an error message quotes it: its repr, cut to ``MAX_QUOTED_LENGTH``."""
    text = repr(value)
    if len(text) <= MAX_QUOTED_LENGTH:
        return text
    return f"{text[: MAX_QUOTED_LENGTH - 1]}…({len(text):,} characters)"


def clipped(text: str) -> str:
    """Text from the input shown as it is (a DUIS code in "ignored: DUIS request 11.1"), cut
    to ``MAX_QUOTED_LENGTH``."""
    return text if len(text) <= MAX_QUOTED_LENGTH else text[: MAX_QUOTED_LENGTH - 1] + "…"


def error_text(message: str) -> str:
    """An error message cut to ``MAX_ERROR_LENGTH`` (the backstop behind ``quoted``)."""
    if len(message) <= MAX_ERROR_LENGTH:
        return message
    return message[: MAX_ERROR_LENGTH - 1] + "…"


def check_alert_id(value: str, where: str = "alert_id") -> str:
    """An alert_id as received (it is kept as it is): 1 to 256 visible ASCII characters."""
    if len(value) > MAX_ALERT_ID_LENGTH:
        raise InputError(
            f"{where} is {len(value):,} characters; at most {MAX_ALERT_ID_LENGTH} are allowed"
        )
    if not _VISIBLE_ASCII.fullmatch(value):
        raise InputError(
            f"{where} {quoted(value)} must be visible ASCII characters (no spaces, control "
            "characters or non-ASCII letters)"
            if value.strip()
            else f"{where} must be a non-empty string"
        )
    return value


def check_request_id_text(text: str, where: str = "request_id") -> None:
    """What must hold before a request_id is parsed: a bounded length and counter."""
    if len(text) > MAX_REQUEST_ID_LENGTH:
        raise InputError(
            f"{where} is {len(text):,} characters; at most {MAX_REQUEST_ID_LENGTH} are allowed"
        )
    counter = text.rpartition(":")[2]
    if counter.isascii() and counter.isdigit() and int(counter) > MAX_REQUEST_COUNTER:
        raise InputError(
            f"{where} {quoted(text)}: the counter is over {MAX_REQUEST_COUNTER} (a DUIS "
            "RequestID counter is an unsigned 64-bit number)"
        )


def check_device_id_text(text: str, where: str) -> None:
    if len(text) > MAX_DEVICE_ID_LENGTH:
        raise InputError(
            f"{where} is {len(text):,} characters; a Device ID has 16 or 23 "
            "(00-DB-12-34-56-78-90-A0)"
        )


def check_text(value: str, where: str) -> str:
    """Free text the store keeps: bounded, and no control character (PostgreSQL cannot hold
    a NUL in text, and one item's NUL must not fail the group committed with it)."""
    if len(value) > MAX_TEXT_LENGTH:
        raise InputError(
            f"{where} is {len(value):,} characters; at most {MAX_TEXT_LENGTH} are allowed"
        )
    if _CONTROL.search(value):
        raise InputError(f"{where} {quoted(value)} holds a control character")
    return value


def out_of_range(text: str, where: str) -> InputError:
    return InputError(
        f"{where} {quoted(text)} is outside the times poagate reads "
        f"({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}, UTC)"
    )


def check_moment(moment: datetime, text: str, where: str) -> datetime:
    """A moment (in UTC) inside [EARLIEST, LATEST), else a rejection naming the field."""
    if not EARLIEST <= moment < LATEST:
        raise out_of_range(text, where)
    return moment
