"""``poagate log archive`` (spec §15) on each backend: every row of the Parquet files is the
store's, a file per kind, DNO and month, nothing received from the date on, and the same bytes
when it runs again."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from typer.testing import CliRunner

from poagate.cli import app
from poagate.domain.outcomes import ForwardedAlert, SuppressionEntry
from poagate.formats.records import FORWARDED_FIELDS, SUPPRESSION_FIELDS
from poagate.service.archive import archive_log
from poagate.store.alerts.listings import OutcomeFilter
from poagate.store.batch import Batch
from poagate.store.database import open_store
from tests.helpers import CHF, ESME, USER, ts
from tests.pg import PostgresServer

START = ts("2026-01-20T22:00:00Z")


def _outcomes() -> list[SuppressionEntry | ForwardedAlert]:
    """AD1s of three DNOs (one routed to none) every 7 hours over three months, a third of them
    suppressed, one suppressed entry released."""
    outcomes: list[SuppressionEntry | ForwardedAlert] = []
    for n in range(300):
        at = START + timedelta(hours=7 * n)
        operator = ["10", "12", "23", ""][n % 4]
        if n % 3 == 0 and operator:
            outcomes.append(
                SuppressionEntry(
                    alert_id=f"S-{n}",
                    chf_id=CHF,
                    esme_id=ESME,
                    mpan=None if n % 2 else f"{operator}00000000001",
                    network_operator=operator,
                    event_at=at - timedelta(seconds=3),
                    received_at=at,
                    decided_at=at + timedelta(microseconds=250),
                    activation_request_id=f"{USER}:{ESME}:{n}",
                    activation_originator=USER,
                    window_start=at - timedelta(minutes=10),
                    window_end=at + timedelta(minutes=20),
                )
            )
        else:
            outcomes.append(ForwardedAlert(f"F-{n}", CHF, operator, at, at, at))
    return outcomes


def _fill(database: str) -> None:
    outcomes = _outcomes()
    released = replace(outcomes[0], released_at=outcomes[0].received_at, release_reason="dark")
    assert isinstance(released, SuppressionEntry)
    with open_store(database, "service") as store:
        store.decisions.commit(Batch(ad1_outcomes=outcomes, releases=[released]))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_files_hold_every_row_of_the_store_and_are_the_same_when_taken_again(
    database: str, tmp_path: Path
) -> None:
    _fill(database)
    before = date(2026, 3, 25)
    with open_store(database, "read") as store:
        archive = archive_log(store, before, tmp_path / "one")
        again = archive_log(store, before, tmp_path / "two")
        stored = list(store.listings.ad1_outcomes(OutcomeFilter(until=ts("2026-03-25T00:00:00Z"))))
    assert archive.files == again.files  # names, counts and SHA-256
    assert (tmp_path / "one/manifest.json").read_bytes() == (
        tmp_path / "two/manifest.json"
    ).read_bytes()
    for f in archive.files:
        assert _sha256(tmp_path / "one" / f.path) == f.sha256 == _sha256(tmp_path / "two" / f.path)

    manifest = orjson.loads((tmp_path / "one/manifest.json").read_bytes())
    names = sorted(f["path"] for f in manifest["files"])
    assert names == [
        f"{kind}/{kind}_{operator}_{month}.parquet"
        for kind, operators in (
            ("forwarded", ("10", "12", "23", "unrouted")),
            ("suppression_log", ("10", "12", "23")),
        )
        for operator in operators
        for month in ("2026-01", "2026-02", "2026-03")
    ]
    # Every row read back, field by field, is the store's, in decision order, and none from
    # the date on.
    read_back: list[tuple[str, dict[str, object]]] = []
    for f in manifest["files"]:
        table = pq.read_table(tmp_path / "one" / f["path"])
        assert table.num_rows == f["rows"]
        fields = SUPPRESSION_FIELDS if f["kind"] == "suppression_log" else FORWARDED_FIELDS
        assert table.schema.names == list(fields)
        read_back += [(f["kind"], row) for row in table.to_pylist()]
    by_id = {row["alert_id"]: (kind, row) for kind, row in read_back}
    assert len(by_id) == len(read_back) == len(stored) > 0
    for outcome in stored:
        kind, row = by_id[outcome.alert_id]
        fields = SUPPRESSION_FIELDS if isinstance(outcome, SuppressionEntry) else FORWARDED_FIELDS
        assert kind == ("suppression_log" if isinstance(outcome, SuppressionEntry) else "forwarded")
        assert row == {name: getattr(outcome, name) for name in fields}
    assert by_id["S-0"][1]["release_reason"] == "dark"
    assert manifest["rows"] == {
        "suppression_log": sum(isinstance(o, SuppressionEntry) for o in stored),
        "forwarded": sum(isinstance(o, ForwardedAlert) for o in stored),
    }


def test_archive_of_one_dno_holds_its_months_alone(database: str, tmp_path: Path) -> None:
    _fill(database)
    with open_store(database, "read") as store:
        archive = archive_log(store, date(2026, 3, 1), tmp_path, network_operator="12")
    assert {(f.kind, f.network_operator, f.month) for f in archive.files} == {
        (kind, "12", month)
        for kind in ("forwarded", "suppression_log")
        for month in ("2026-01", "2026-02")
    }
    rows = [row for f in archive.files for row in pq.read_table(tmp_path / f.path).to_pylist()]
    assert {row["network_operator"] for row in rows} == {"12"}
    assert max(row["received_at"] for row in rows) < ts("2026-03-01T00:00:00Z")


def test_the_archive_command_writes_the_files_and_says_what_it_wrote(
    empty_sqlite: str, tmp_path: Path
) -> None:
    _fill(empty_sqlite)
    out = tmp_path / "archive"
    result = CliRunner().invoke(
        app,
        ["log", "archive", "--before", "2026-02-01", "--out", str(out), "--db", empty_sqlite],
    )
    assert result.exit_code == 0, result.output
    assert "in 7 files" in result.output
    assert sorted(p.name for p in (out / "suppression_log").iterdir()) == [
        "suppression_log_10_2026-01.parquet",
        "suppression_log_12_2026-01.parquet",
        "suppression_log_23_2026-01.parquet",
    ]
    refused = CliRunner().invoke(
        app, ["log", "archive", "--before", "March", "--out", str(out), "--db", empty_sqlite]
    )
    assert refused.exit_code == 2
    assert "--before must be a date" in refused.output


def test_the_same_log_on_sqlite_and_postgresql_archives_to_the_same_bytes(
    empty_sqlite: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    on_postgres = postgres.fresh_database()
    try:
        manifests = []
        for name, database in (("sqlite", empty_sqlite), ("postgres", on_postgres)):
            _fill(database)
            with open_store(database, "read") as store:
                archive_log(store, date(2026, 4, 1), tmp_path / name)
            manifests.append((tmp_path / name / "manifest.json").read_bytes())
        assert manifests[0] == manifests[1]
    finally:
        postgres.drop_database(on_postgres)
