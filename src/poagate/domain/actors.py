"""Who did an operator's act, and through which channel (spec §17, "Read what happened").

An act is handed its actor as text — ``token 3 (admin)``, ``command line (alice)`` — which is
what its audit entry and the records it touches (who ended a window, who released an entry)
show. ``Actor`` is that text and, beside it, the channel the act came through (``api``,
``console``, ``cli``) and the token it was made with (none on the command line): the audit log
records both (``poagate.store.access.Audit.record``). It is a ``str``, so every act, whichever
layer it passes through, carries it unchanged where an actor's text is expected; text that is
not an ``Actor`` (a test's, a tool's) is audited with no channel.
"""

from __future__ import annotations

from typing import Literal

Channel = Literal["api", "console", "cli"]
CHANNELS: tuple[Channel, ...] = ("api", "console", "cli")


class Actor(str):
    """An actor's text, with the channel and the token behind it."""

    __slots__ = ("channel", "token_id")
    channel: Channel
    token_id: int | None

    def __new__(cls, text: str, channel: Channel, token_id: int | None = None) -> Actor:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        actor = super().__new__(cls, text)
        actor.channel = channel
        actor.token_id = token_id
        return actor

    def __getnewargs__(self) -> tuple[str, Channel, int | None]:  # type: ignore[override]
        return (str(self), self.channel, self.token_id)

    def __repr__(self) -> str:
        return f"Actor({str(self)!r}, {self.channel!r}, {self.token_id!r})"


def token_actor(token_id: int, role: str, channel: Channel) -> Actor:
    """The actor of a token's act: ``token 3 (admin)``, through ``channel``."""
    return Actor(f"token {token_id} ({role})", channel, token_id)


def command_line_actor(user: str) -> Actor:
    """The actor of a command run by the system user ``user``: ``command line (alice)``."""
    return Actor(f"command line ({user})", "cli")
