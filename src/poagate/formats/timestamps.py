"""ISO-8601 timestamps in and out (spec §4): always aware, always converted to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from poagate.formats.errors import InputError
from poagate.formats.limits import MAX_TIMESTAMP_LENGTH, check_moment, out_of_range, quoted

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00Z, exactly (the stores' and sort keys' form)."""
    return (moment - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def parse_timestamp(text: object, field: str) -> datetime:
    """Parse an ISO-8601 timestamp that carries a zone and return it in UTC.

    ``Z``, ``+00:00`` and any other offset are accepted, with or without fractional seconds
    (anything beyond microseconds is dropped). A timestamp without a zone is refused rather
    than guessed at, and so is one outside the range of ``poagate.formats.limits``.
    """
    if not isinstance(text, str):
        raise InputError(f"{field} must be an ISO-8601 timestamp string, not {describe_type(text)}")
    if len(text) > MAX_TIMESTAMP_LENGTH:
        raise InputError(f"{field} {quoted(text)} is not an ISO-8601 timestamp")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{field} {quoted(text)} is not an ISO-8601 timestamp") from None
    zone = moment.tzinfo
    if zone is None:
        raise InputError(
            f"{field} {quoted(text)} has no time zone: add Z (UTC) or an offset such as +00:00"
        )
    if zone is not UTC:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before the calendar
            raise out_of_range(text, field) from None
    return check_moment(moment, text, field)


def format_timestamp(moment: datetime) -> str:
    """The output form: ISO-8601 in UTC with ``Z`` (the same text orjson writes)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_TYPE_NAMES: dict[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
    str: "a string",
}


def describe_type(value: object) -> str:
    """How a JSON value's type is named in error messages."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)
