"""Operations: health, readiness, metrics, OpenAPI, the body limit, and a store that is gone."""

from __future__ import annotations

import sqlite3
import time

from prometheus_client.parser import text_string_to_metric_families

from poagate.store.database import open_store, sqlite_path
from tests.api_harness import Api, Clock, ad1, chf_of, make_api
from tests.pg import PostgresServer


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}


def test_openapi_documents_the_api(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in (
        "/v1/messages",
        "/v1/suppression-log",
        "/v1/alerts/forwarded",
        "/v1/activations",
        "/v1/summary",
        "/v1/reference/inventory",
        "/v1/reference/guid-list",
        "/v1/reference/guid-list/versions",
        "/v1/config",
        "/v1/deliveries",
    ):
        assert path in spec["paths"], path
    assert "application/x-ndjson" in spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]
    assert api.client.get("/docs").status_code == 200


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics(api: Api) -> None:
    dsp, admin = api.token("dsp"), api.token("admin")
    before = samples(api.get(admin, "/metrics").text)
    api.post(
        dsp,
        [
            {
                "type": "activation",
                "request_id": "90-B3-D5-1F-30-01-00-00:00-DB-12-00-00-00-00-12:1",
            },
            ad1("M1", chf_of("12")),
            ad1("M1", chf_of("12")),
            "{oops",
        ],
    )
    after = samples(api.get(admin, "/metrics").text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("poagate_outcomes_total", outcome="suppressed") == 1
    assert grew("poagate_outcomes_total", outcome="duplicate") == 1
    assert grew("poagate_outcomes_total", outcome="rejected") == 1
    assert grew("poagate_messages_total", type="activation") == 1
    assert grew("poagate_messages_total", type="ad1") == 2
    assert grew("poagate_decision_seconds_count") == 1
    assert grew("poagate_group_transaction_seconds_count") >= 1
    # The group's transaction took the writers' lock, counted as decisions.
    assert grew("poagate_writer_lock_held_seconds_count", work="decisions") >= 1
    assert grew("poagate_writer_lock_wait_seconds_count", work="decisions") >= 1
    assert after[("poagate_open_windows", ())] == 1  # read from this store, not counted
    assert after[("poagate_delivery_queue", (("status", "pending"),))] == 0


def test_request_body_limit(database: str, clock: Clock) -> None:
    for api in make_api(database, clock, body_limit_bytes=1000):
        dsp = api.token("dsp")
        big = [ad1(f"B{n}", chf_of("10")) for n in range(100)]
        answer = api.post(dsp, big)
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert "over 1,000 bytes" in answer.json()["detail"]
        with open_store(api.database, "read") as store:
            assert store.counts()["ad1_received"] == 0


def test_store_gone_is_503_with_retry_after_and_nothing_half_written(
    own_postgres: PostgresServer, clock: Clock
) -> None:
    database = own_postgres.fresh_database()
    for api in make_api(database, clock, upload_fleet=True):
        dsp = api.token("dsp")
        assert api.post(dsp, ad1("BEFORE", chf_of("10"))).status_code == 200
        own_postgres.pause()
        answer = api.post(dsp, [ad1("DURING-1", chf_of("10")), ad1("DURING-2", chf_of("11"))])
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert "nothing of this request was kept" in answer.json()["detail"]
        not_ready = api.client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["detail"] == "the store cannot be reached or cannot write"
        own_postgres.resume()
        time.sleep(float(answer.headers["retry-after"]))  # as a client told to wait does
        again = api.post(dsp, [ad1("DURING-1", chf_of("10")), ad1("DURING-2", chf_of("11"))])
        assert again.status_code == 200, again.text
        assert again.json()["counts"] == {"forwarded": 2}  # not duplicates: nothing was kept
        with open_store(database, "read") as store:
            assert store.counts()["ad1_forwarded"] == 3


def test_sqlite_busy_beyond_the_timeout_is_503(database: str, clock: Clock) -> None:
    for api in make_api(database, clock, busy_timeout_ms=200):
        dsp = api.token("dsp")
        blocker = sqlite3.connect(sqlite_path(database), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            answer = api.post(dsp, ad1("LOCKED", chf_of("10")))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert answer.status_code == 503
        assert api.post(dsp, ad1("LOCKED", chf_of("10"))).json()["counts"] == {"forwarded": 1}
