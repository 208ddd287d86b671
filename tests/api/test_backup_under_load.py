"""spec §15 on each backend: a backup taken by ``poagate backup`` while ``poagate serve`` takes
writes is one commit's state of the store, and restored into a new store it serves the same
Suppression Log and feeds (those of the moment it was taken) and decides again."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from poagate.service.backup import read_manifest
from poagate.store.database import is_postgres
from tests.api_harness import chf_of, esme_of
from tests.helpers import USER
from tests.pg import PostgresServer
from tests.servers import Server
from tests.stores import on_both_backends

pytestmark = [pytest.mark.slow, on_both_backends]  # real servers, and pg_dump on PostgreSQL


def _send(url: str, token: str, events: list[dict[str, Any]]) -> list[str]:
    answer = httpx.post(
        f"{url}/v1/messages",
        content=b"\n".join(orjson.dumps(e) for e in events),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [item["outcome"] for item in answer.json()["items"]]


def _all(url: str, token: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500} | ({} if cursor is None else {"cursor": cursor})
        page = httpx.get(
            f"{url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_a_backup_taken_while_a_server_writes_restores_to_a_store_that_serves_the_same_log(
    database: str, token_for: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dsp, log_reader, feed_reader = token_for("dsp"), token_for("dno", "12"), token_for("dno", "13")
    source = Server(database)
    rounds = [0]
    stop = threading.Event()

    def write() -> None:  # each round: a window on 12's hub, an AD1 in it, one from 13's
        while not stop.is_set():
            n = rounds[0]
            outcomes = _send(
                source.url,
                dsp,
                [
                    {"type": "activation", "request_id": f"{USER}:{esme_of('12')}:{n + 1}"},
                    {"type": "ad1", "alert_id": f"S-{n}", "chf_id": chf_of("12")},
                    {"type": "ad1", "alert_id": f"F-{n}", "chf_id": chf_of("13")},
                ],
            )
            assert outcomes[1:] == ["suppressed", "forwarded"], outcomes
            rounds[0] += 1

    writer = threading.Thread(target=write)
    backup_file = tmp_path / "poagate.backup"
    try:
        writer.start()
        while rounds[0] < 20:
            stop.wait(0.05)
        taken = subprocess.run(
            [sys.executable, "-m", "poagate.cli", "backup", "--database", database,
             "--out", str(backup_file)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert taken.returncode == 0, taken.stderr
        at_least = rounds[0] + 20
        while rounds[0] < at_least and writer.is_alive():
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join(timeout=60)
    source_log = _all(source.url, log_reader, "/v1/suppression-log")
    source_feed = _all(source.url, feed_reader, "/v1/alerts/forwarded")
    source.stop()

    if is_postgres(database):
        server: PostgresServer = request.getfixturevalue("postgres")
        restored = server.fresh_database("template0")
    else:
        restored = f"sqlite:///{tmp_path / 'restored.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "restore", "--from", str(backup_file),
         "--database", restored],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    manifest = read_manifest(backup_file)
    backed_up = manifest.tables["ad1_outcomes"]
    copy = Server(restored)
    try:
        log = _all(copy.url, log_reader, "/v1/suppression-log")  # the tokens came back too
        feed = _all(copy.url, feed_reader, "/v1/alerts/forwarded")
        # One commit's state: a prefix of what the source served, taken while it wrote.
        assert 0 < len(log) + len(feed) == backed_up < len(source_log) + len(source_feed)
        assert log == source_log[: len(log)]
        assert feed == source_feed[: len(feed)]
        assert abs(len(log) - len(feed)) <= 1
        # It decides again, knowing what was decided before (R6).
        assert _send(
            copy.url,
            dsp,
            [
                {"type": "ad1", "alert_id": "F-0", "chf_id": chf_of("13")},
                {"type": "ad1", "alert_id": "NEW", "chf_id": chf_of("13")},
            ],
        ) == ["duplicate", "forwarded"]
    finally:
        copy.stop()
