"""spec §16 "Upgrades": servers of the previous release keep serving on a store that
``poagate db upgrade`` of this release upgraded, a server of the previous release still starts
on it, and a server of this release starts beside them; each AD1 gets exactly one outcome.

The previous release is a pinned commit of this repository, its ``src/`` taken with ``git
archive`` and run by the same interpreter ahead of the installed package (``PYTHONPATH``): its
dependencies are a subset of this release's. With a migration that removes what the previous
release reads (and so records itself as the oldest compatible revision), this test fails: such
a change must land in two releases (docs/operations.md, "Upgrades").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from poagate.store.database import open_store
from tests.api_harness import ad1, chf_of
from tests.servers import Server

ROOT = Path(__file__).resolve().parents[2]
# The previous release: move it on at each release. 3bbed9f is the last code at schema revision
# 0007 whose read path accepts a newer schema that says it may (``schema_state``); e526022, the
# one before, refused any other revision when it opened a store read-only (its read pool), so a
# store upgraded under it stops its reads: upgrading from it means stopping its servers first
# (docs/operations.md, "Upgrades").
PREVIOUS_RELEASE = "3bbed9f"


def previous_release_src(folder: Path) -> Path:
    """The previous release's ``src/`` in ``folder``, or skip when git has not got it."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(
            f"the previous release's commit {PREVIOUS_RELEASE} is not in this checkout's git "
            "history (a shallow clone, or no .git): the rolling upgrade cannot be tried"
        )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE, "src"],
        capture_output=True,
        check=True,
    )
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def poagate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poagate.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def post(url: str, token: str, prefix: str, count: int = 20) -> dict[str, int]:
    """A batch of ``count`` AD1s; the count of each outcome."""
    body = b"\n".join(
        orjson.dumps(ad1(f"{prefix}-{n}", chf_of(str(10 + n % 14)))) for n in range(count)
    )
    answer = httpx.post(
        f"{url}/v1/messages",
        content=body,
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 200, answer.text
    counts: dict[str, int] = answer.json()["counts"]
    return counts


@pytest.mark.slow
def test_previous_release_serves_on_the_upgraded_store_beside_this_one(tmp_path: Path) -> None:
    previous = {"PYTHONPATH": str(previous_release_src(tmp_path / "previous"))}
    database = f"sqlite:///{tmp_path / 'poagate.db'}"
    # The store as the previous release left it: made, given a token and served by it.
    assert poagate("db", "init", "--database", database, env=previous).returncode == 0
    made = poagate("token", "create", "--role", "dsp", "--database", database, env=previous)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    old = Server(database, env=previous)
    try:
        assert post(old.url, token, "BEFORE") == {"forwarded": 20}

        upgraded = poagate("db", "upgrade", "--database", database)
        assert upgraded.returncode == 0, upgraded.stderr
        assert poagate("db", "status", "--database", database).returncode == 0

        # The previous release keeps serving, and one of it restarted still starts.
        assert post(old.url, token, "DURING") == {"forwarded": 20}
        restarted = Server(database, env=previous)
        new = Server(database)
        try:
            assert post(restarted.url, token, "RESTARTED") == {"forwarded": 20}
            assert post(new.url, token, "NEW") == {"forwarded": 20}
            # The same batch to an old and a new server: one outcome each.
            first = post(old.url, token, "BOTH")
            second = post(new.url, token, "BOTH")
            assert (first, second) == ({"forwarded": 20}, {"duplicate": 20})
        finally:
            restarted.stop()
            new.stop()
    finally:
        old.stop()
    with open_store(database, "read") as store:
        kept = store.db.one("SELECT COUNT(*), COUNT(DISTINCT alert_id) FROM ad1_outcomes")
    assert kept == (100, 100)
