"""What every operator act carries besides who and when: why, in the operator's words (a note,
kept in the audit log and shown on what the act touched). The incident controls
(``poagate.service.controls``) and configuration changes (``poagate.service.configuration``)
read it the same way, whichever channel (API, console, command line) the act came through.
"""

from __future__ import annotations

import re

NOTE_LIMIT = 1_000  # characters of an operator's note
# Control characters an operator's text may not hold: all but tab and line breaks. (A NUL,
# which PostgreSQL cannot hold in text, would otherwise be kept on SQLite and refused there.)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def checked_text(text: str, what: str) -> str:
    """``text`` when it holds no control character but tab and line breaks, else
    ``ValueError`` naming ``what``."""
    if _CONTROL.search(text):
        raise ValueError(f"{what} holds a control character (only tabs and line breaks may be)")
    return text


def checked_note(note: str | None) -> str | None:
    """An operator's note, trimmed; empty means none. Raises ``ValueError`` when too long or
    holding a control character."""
    if note is None or not note.strip():
        return None
    if len(note) > NOTE_LIMIT:
        raise ValueError(f"the note is {len(note):,} characters; at most {NOTE_LIMIT:,}")
    return checked_text(note.strip(), "the note")
