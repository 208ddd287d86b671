"""spec §17 "A store that cannot write": on a real full disk (a size-limited tmpfs) a batch is
answered 503 with ``Retry-After`` and a problem+json body (it was a 500 in plain text), /readyz
answers not ready until a write succeeds (it said ready), and once space is freed the batch
sent again gives each AD1 exactly one outcome."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from poagate.store.database import open_store, sqlite_path
from tests.api_harness import OPERATORS, Clock, ad1, chf_of, make_api
from tests.stores import sqlite_copy

SIZE = "8m"  # the seeded store is well under it


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``SIZE`` mounted for the test (we are root on the test machines)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a size-limited tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of ``folder``'s filesystem."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as file:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    file.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def batch(count: int) -> list[dict[str, str]]:
    return [ad1(f"FULL-{n}", chf_of(OPERATORS[n % len(OPERATORS)])) for n in range(count)]


def test_a_full_disk_is_503_and_not_ready_until_a_write_succeeds_then_one_outcome_each(
    small_disk: Path, seeded_sqlite_template: Path, clock: Clock
) -> None:
    database = sqlite_copy(seeded_sqlite_template, small_disk / "poagate.db")
    for api in make_api(database, clock):
        dsp = api.token("dsp")
        assert api.client.get("/readyz").status_code == 200
        first = api.post(dsp, batch(50))
        assert first.status_code == 200, first.text
        # Everything in the database file, an empty WAL: the next write needs new space.
        with contextlib.closing(sqlite3.connect(sqlite_path(database))) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        filler = fill(small_disk)

        full = api.post(dsp, batch(1500))
        assert full.status_code == 503
        assert full.headers["content-type"] == "application/problem+json"
        assert full.headers["retry-after"] == "2"
        assert full.json()["status"] == 503
        assert "send it again" in full.json()["detail"]
        not_ready = api.client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["retry-after"] == "2"
        assert api.client.get("/readyz").status_code == 503  # still: no write has succeeded

        filler.unlink()  # the operator frees space
        assert api.client.get("/readyz").status_code == 200
        again = api.post(dsp, batch(1500))
        assert again.status_code == 200, again.text
        assert again.json()["counts"] == {"forwarded": 1450, "duplicate": 50}

    with open_store(database, "read") as store:
        kept = store.db.one("SELECT COUNT(*), COUNT(DISTINCT alert_id) FROM ad1_outcomes")
        assert kept == (1500, 1500)  # every AD1 of the batch, each exactly once
