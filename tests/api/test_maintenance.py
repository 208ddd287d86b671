"""Retention in the configuration and the server's maintenance pass (spec §15): ``GET/PUT
/v1/config`` key ``retention``, refused (422, saying the least allowed) when shorter than the
guards in force need; the pass a server makes every ``POAGATE_MAINTENANCE_SECONDS``, audited
and shown in /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from poagate.service.maintenance import ACTION, ACTOR
from tests.api.test_ops import samples
from tests.api_harness import Api, Clock, ad1, chf_of, make_api


def test_retention_is_read_and_changed_through_the_configuration(api: Api) -> None:
    admin = api.token("admin")
    assert api.get(admin, "/v1/config").json()["retention"]["suppression_log_days"] == 730
    changed = api.client.put(
        "/v1/config", json={"retention": {"forwarded_days": 120}}, headers=api.auth(admin)
    )
    assert changed.status_code == 200, changed.text
    kept = api.get(admin, "/v1/config").json()["retention"]
    assert (kept["forwarded_days"], kept["signs_of_life_hours"]) == (120, 48)


def test_a_retention_shorter_than_the_guards_need_is_refused_with_the_least_allowed(
    api: Api,
) -> None:
    admin = api.token("admin")
    refused = api.client.put(
        "/v1/config",
        json={"release_after_minutes": 1440, "retention": {"signs_of_life_hours": 24}},
        headers=api.auth(admin),
    )
    assert refused.status_code == 422
    assert "signs_of_life_hours" in refused.json()["detail"]
    assert "least allowed is 25" in refused.json()["detail"]
    # Nothing changed: the guard is still off.
    assert api.get(admin, "/v1/config").json()["release_after_minutes"] is None


def passes(api: Api, admin: str) -> list[dict[str, Any]]:
    audit: list[dict[str, Any]] = api.get(admin, "/v1/audit?limit=1000").json()["items"]
    return [e for e in audit if e["action"] == ACTION]


@pytest.fixture
def maintained(database: str) -> Iterator[Api]:
    yield from make_api(database, Clock(), maintenance_seconds=0.2)


def test_the_server_makes_a_maintenance_pass_audited_and_in_metrics(maintained: Api) -> None:
    api = maintained
    admin, dsp = api.token("admin"), api.token("dsp")
    # Retention lets the first forwarded AD1 go once the server's clock is 91 days on (the
    # second stays: the newest row of a table is never purged).
    api.post(dsp, [ad1("OLD", chf_of("12")), ad1("NEWER", chf_of("12"))])
    api.clock.advance(days=91)
    deadline = time.monotonic() + 20
    purged: list[dict[str, Any]] = []
    while not purged and time.monotonic() < deadline:
        time.sleep(0.1)
        purged = [e for e in passes(api, admin) if e["detail"]["purged"]["forwarded"]]
    assert purged, "no maintenance pass purged the AD1 within 20 s"
    assert purged[0]["actor"] == ACTOR
    assert purged[0]["detail"]["purged"]["forwarded"] == 1
    figures = samples(api.get(admin, "/metrics").text)
    assert figures[("poagate_maintenance_last_run_timestamp_seconds", ())] == (
        api.clock.now.timestamp()
    )
    assert figures[("poagate_database_size_bytes", ())] > 0
    assert figures[("poagate_maintenance_purged_rows_total", (("kind", "forwarded"),))] >= 1
    # One pass an interval: the clock has not moved since, so no other pass is due.
    made = len(passes(api, admin))
    time.sleep(0.5)
    assert len(passes(api, admin)) == made
