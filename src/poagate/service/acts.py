"""What every operator act carries besides who and when: why, in the operator's words (a note,
kept in the audit log and shown on what the act touched). The incident controls
(``poagate.service.controls``) and configuration changes (``poagate.service.configuration``)
read it the same way, whichever channel (API, console, command line) the act came through.
"""

from __future__ import annotations

NOTE_LIMIT = 1_000  # characters of an operator's note


def checked_note(note: str | None) -> str | None:
    """An operator's note, trimmed; empty means none. Raises ``ValueError`` when too long."""
    if note is None or not note.strip():
        return None
    if len(note) > NOTE_LIMIT:
        raise ValueError(f"the note is {len(note):,} characters; at most {NOTE_LIMIT:,}")
    return note.strip()
