"""Input that cannot be read: the error and the record kept of it (spec §7 "Rejected input")."""

from __future__ import annotations

from poagate.domain.values import value

RAW_LIMIT = 4096  # spec §7: the input is kept, truncated to 4 KiB


class InputError(ValueError):
    """Input that cannot be read; the message says what was wrong in words a person can act on."""


@value
class Rejection:
    """A rejected line, message or row: where it came from, what was wrong, and the input."""

    source: str
    line: int | None
    error: str
    raw: str


def truncate_raw(raw: bytes | str) -> str:
    """The input as text, cut to 4 KiB; bytes that are not UTF-8, and NULs (which PostgreSQL
    cannot keep in text: one rejected line would fail the batch it came with), are shown as
    U+FFFD."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return data[:RAW_LIMIT].decode("utf-8", "replace").replace("\x00", "\ufffd")
