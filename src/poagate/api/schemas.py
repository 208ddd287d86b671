"""What every endpoint answers, declared for the OpenAPI description (``/openapi.json``).

The pattern, for every route (docs/architecture.md, "A new endpoint"):

* the route returns its own ``Response`` (``Json``, CSV), so FastAPI validates nothing on the
  way out and the hot path pays for no model;
* its decorator declares what it may answer with ``responses=documented(Model, 401, 403, …)``:
  the model of the 2xx answer (``csv=True`` adds ``text/csv``) and each problem status it can
  give, as ``application/problem+json`` with the ``Problem`` schema;
* a model's fields are exactly what the route writes; the schemathesis tests
  (``tests/fuzz/``) fail when an answer does not match what is declared here.

Timestamps are ISO-8601 in UTC with ``Z`` (``datetime`` here). Where an answer is a domain
value as it is (a Suppression Log entry, a forwarded AD1), the domain's dataclass is the schema,
so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.domain.verification import VerificationRequest
from poagate.formats.envelope import AlertData

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Answer(BaseModel):
    """Base of the answer models: extra fields allowed, so adding one is not a breaking change."""

    model_config = ConfigDict(extra="allow")


class Problem(Answer):
    """An error (RFC 9457): what was wrong and what to do."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None
    errors: list[dict[str, str]] | None = Field(
        None, description="For 422: each invalid part, where and what."
    )
    reasons: list[str] | None = Field(
        None, description="Reference data refused (422): each limit it went past."
    )
    figures: dict[str, Any] | None = Field(
        None,
        description="Reference data refused (422): rows read and rejected, the devices "
        "(entries) in force and after, and the limits.",
    )


PROBLEMS: dict[int, str] = {
    400: "The request cannot be read: an unreadable body, cursor or parameter.",
    401: "No valid token: send Authorization: Bearer <token>.",
    403: "The token's role may not do this.",
    404: "Nothing of that id (or nothing the caller may see).",
    409: "The act cannot be done in the state the thing is in (a window already ended).",
    413: "The body is over the limit, or holds more messages than one request may.",
    415: "A Content-Type poagate does not read.",
    422: "A parameter or body field is invalid (errors says which), or reference data goes "
    "past the reference limits (reasons and figures say how; ?force=true overrides).",
    503: "The store cannot be reached; nothing was kept. Retry-After says when to try again.",
}
_PROBLEM_SCHEMA = Problem.model_json_schema()


def documented(
    ok: Any = None, *problems: int, csv: bool = False, status: int = 200, text: bool = False
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its ``status`` answer (``ok``, a model; ``csv`` adds
    ``text/csv``; ``text`` is plain text) and the problems it can give."""
    answers: dict[int | str, dict[str, Any]] = {}
    success: dict[str, Any] = {"description": "Success."}
    if ok is not None:
        success["model"] = ok
    content: dict[str, Any] = {}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    if text:
        content["text/plain"] = {"schema": {"type": "string"}}
    if content:
        success["content"] = content
    answers[status] = success
    for code in problems:
        answers[code] = {
            "description": PROBLEMS[code],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
    return answers


READ = (400, 401, 403, 422, 503)  # what a scoped listing can answer besides 200
ADMIN = (400, 401, 403, 422, 503)  # 400: a JSON body that cannot be parsed


# -- messages ---------------------------------------------------------------------------------


class ItemAnswer(Answer):
    """One item's outcome, by its position in the request (1-based; a JSON line's number)."""

    position: int
    outcome: Literal["suppressed", "forwarded", "duplicate", "recorded", "ignored", "rejected"]
    error: str | None = Field(None, description="Why it was rejected.")
    what: str | None = Field(None, description="What was ignored.")
    alert_id: str | None = None
    network_operator: str | None = None
    reason: str | None = None
    activation_request_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    type: str | None = Field(None, description="For recorded: what was recorded.")
    request_id: str | None = None
    kind: str | None = None
    status: str | None = None
    repeat: bool | None = None
    changed: list[str] | None = None
    device_id: str | None = None


class MessagesAnswer(Answer):
    request_id: str
    received_at: datetime
    counts: dict[str, int]
    items: list[ItemAnswer]


# -- reading ----------------------------------------------------------------------------------


class Activation(Answer):
    """An activation record."""

    request_id: str
    device_id: str
    originator: str
    kind: Literal["immediate", "future_dated", "cancellation"]
    received_at: datetime
    execution_at: datetime | None
    chf_id: str | None
    reason: str
    status: Literal["active", "cancelled", "superseded"]
    window_start: datetime | None
    window_end: datetime | None
    guid_list_version: int | None


class SuppressionPage(Answer):
    items: list[SuppressionEntry]
    next_cursor: str | None


class ForwardedPage(Answer):
    items: list[ForwardedAlert]
    next_cursor: str | None


class FeedPage(Answer):
    """The pull feed (spec §18): the fields of a webhook's payload, without the message."""

    items: list[AlertData]
    next_cursor: str | None


class ActivationPage(Answer):
    items: list[Activation]
    next_cursor: str | None


class VerificationPage(Answer):
    """The DSP's queue; the domain's request is the schema of an item."""

    items: list[VerificationRequest]
    next_cursor: str | None


class OperatorCounts(Answer):
    suppressed: int
    forwarded: int


class SummaryAnswer(Answer):
    """Admin: the whole store's figures (those of a replay's summary.json), the AD1s routed to
    no DNO and the delivery queue. A DNO: its own operators' figures, and nothing else."""

    by_network_operator: dict[str, OperatorCounts]
    ad1_suppressed: int
    ad1_forwarded: int
    network_operators: list[str] | None = Field(None, description="A DNO's own ids.")
    ad1_unrouted: int | None = Field(None, description="Admin: forwarded to no DNO.")
    deliveries: dict[str, int] | None = Field(None, description="Admin: the queue by status.")


# -- operations -------------------------------------------------------------------------------


class Status(Answer):
    status: Literal["ok", "ready"]


class InventoryVersion(Answer):
    """A version of the inventory: a full load or a change file."""

    load: int
    kind: Literal["full", "changes", "rollback"]
    state: Literal["loading", "in_force", "replaced", "cleared", "failed", "refused", "applied"]
    loaded_at: datetime
    finished_at: datetime | None
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rows_removed: int
    devices: int | None = Field(description="The devices in force once it took effect.")
    base: int | None = Field(
        description="For changes: the full load they amend; for a rollback: the full load it "
        "put back in force."
    )


class InventoryLoadAnswer(InventoryVersion):
    resumed: bool
    rejected: list[dict[str, Any]] = Field(description="The first 1,000 rejected rows.")


class InventoryVersions(Answer):
    in_force: int | None = Field(description="The full load in force, if any.")
    items: list[InventoryVersion]


class GuidListLoadAnswer(Answer):
    version: int
    new_version: bool
    entries: int
    sha256: str
    loaded_at: datetime
    rows_rejected: int
    rejected: list[dict[str, Any]]


class GuidListVersion(Answer):
    version: int
    loaded_at: datetime
    entries: int
    sha256: str


class InventoryRollbackAnswer(InventoryVersion):
    previous: int = Field(description="The full load in force before (0: none).")
    forced: list[str] = Field(description="The limits a forced rollback went past.")


class GuidListRollbackAnswer(GuidListVersion):
    previous: int | None = Field(description="The version in force before.")
    forced: list[str] = Field(description="The limits a forced rollback went past.")


class GuidListVersions(Answer):
    in_force: int | None = Field(
        None, description="The version in force: the latest, unless a rollback put back another."
    )
    items: list[GuidListVersion]


class DeliveryState(Answer):
    id: int
    alert_id: str
    network_operator: str
    chf_id: str
    status: Literal["pending", "held", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Deliveries(Answer):
    items: list[DeliveryState]
    counts: dict[str, int]


class RetryAnswer(Answer):
    id: int
    status: Literal["pending"]


class BulkRetryAnswer(Answer):
    retried: int = Field(description="How many dead deliveries are pending again.")


class AuditEntry(Answer):
    seq: int
    at: datetime
    actor: str
    channel: Literal["api", "console", "cli"] | None = Field(
        description="The channel the act came through; null before channels were recorded."
    )
    token: int | None = Field(description="The token the act was made with; null from the CLI.")
    action: str
    detail: dict[str, Any]


class AuditPage(Answer):
    items: list[AuditEntry]


class TokenCreated(Answer):
    id: int
    role: Literal["admin", "dsp", "dno"]
    network_operators: list[str]
    token: str = Field(description="Shown in this answer only.")


class TokenRevoked(Answer):
    id: int
    revoked: bool
