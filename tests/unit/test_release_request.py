"""A release's selection as the API, the console and the command line receive it (text), read
once (``ReleaseRequest.parse``): the part at fault is named, in the channel's own words for
the range's ends."""

from __future__ import annotations

import pytest

from poagate.service.controls import ReleaseRequest, ReleaseRequestError
from tests.helpers import ts

HUB = "00-15-7B-00-00-00-00-12"


def test_each_way_of_naming_entries_is_read() -> None:
    assert ReleaseRequest.parse(["A1", "A2"], None, None, None, None).alert_ids == ("A1", "A2")
    by_hub = ReleaseRequest.parse(None, "00157b0000000012", None, None, None)
    assert by_hub.chf_id == HUB  # canonical
    by_dno = ReleaseRequest.parse(None, None, "12", "2026-03-01T10:00:00Z", "2026-03-01T11:00Z")
    assert (by_dno.network_operator, by_dno.since, by_dno.until) == (
        "12",
        ts("2026-03-01T10:00:00Z"),
        ts("2026-03-01T11:00:00Z"),
    )


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"chf_id": "hub"}, "chf_id", "is not a Device ID"),
        ({"network_operator": "1"}, "network_operator", "two-digit distributor id"),
        ({"network_operator": "12", "since": "yesterday"}, "from", "from 'yesterday'"),
        ({"network_operator": "12", "since": "2026-03-01T10:00:00"}, "from", "no time zone"),
        ({"network_operator": "12", "since": "2026-03-01T10:00:00Z"}, None, "both from and to"),
        ({"alert_ids": ["A1"], "chf_id": HUB}, None, "name the entries one way"),
        ({}, None, "name the entries one way"),
    ],
)
def test_a_bad_selection_names_the_part_at_fault(
    given: dict[str, object], field: str | None, words: str
) -> None:
    parts = {"alert_ids": None, "chf_id": None, "network_operator": None, "since": None,
             "until": None, **given}  # fmt: skip
    with pytest.raises(ReleaseRequestError, match=words) as refused:
        ReleaseRequest.parse(**parts)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_the_command_line_names_the_range_by_its_options() -> None:
    with pytest.raises(ReleaseRequestError, match=r"^--to 'later'") as refused:
        ReleaseRequest.parse(None, None, "12", "2026-03-01T10:00:00Z", "later",
                             time_names=("--from", "--to"))  # fmt: skip
    assert refused.value.field == "--to"
