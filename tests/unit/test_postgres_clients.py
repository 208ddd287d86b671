"""Which ``pg_dump``/``pg_restore`` a PostgreSQL backup uses (spec §15): Debian's client of the
server's major version, else the oldest newer one, else a message naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from poagate.store import StoreError
from poagate.store.snapshots import postgres_tool


def test_the_client_of_the_servers_version_else_the_oldest_newer_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for major in ("13", "16", "18"):
        (tmp_path / major / "bin").mkdir(parents=True)
        (tmp_path / major / "bin" / "pg_dump").touch()
    (tmp_path / "14" / "bin").mkdir(parents=True)  # a server without its client
    monkeypatch.setenv("POAGATE_POSTGRES_CLIENTS", str(tmp_path))
    assert postgres_tool("pg_dump", 13) == tmp_path / "13" / "bin" / "pg_dump"
    assert postgres_tool("pg_dump", 14) == tmp_path / "16" / "bin" / "pg_dump"
    assert postgres_tool("pg_dump", 17) == tmp_path / "18" / "bin" / "pg_dump"
    with pytest.raises(StoreError, match="install Debian's package postgresql-client-19"):
        postgres_tool("pg_dump", 19)
    with pytest.raises(StoreError, match="pg_restore for PostgreSQL 13 is not installed"):
        postgres_tool("pg_restore", 13)
