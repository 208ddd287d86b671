"""spec §11: the fleet in the store — full loads, the switch, resumption, change files — on
SQLite and PostgreSQL."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from poagate.domain.reference import Device, DeviceType, Inventory
from poagate.formats.reference import lines
from poagate.formats.reference.inventory import write_inventory
from poagate.formats.reference.inventory_columns import read_inventory
from poagate.service.reference import loads as reference_loads
from poagate.service.reference.loads import apply_changes, load_inventory
from poagate.sim.fleet import FleetSpec, generate_fleet
from poagate.store.database import open_store
from poagate.store.reference import fleet as fleet_module
from poagate.store.reference import fleet_blocks
from poagate.store.reference.fleet import FleetStore, LoadSuperseded
from poagate.store.reference.fleet_blocks import block_ids
from poagate.store.store import Store
from tests.helpers import CHF, CHF_2, ESME, ESME_2, INVENTORY_HEADER, esme, hub, mpan, ts

NOW = ts("2026-03-01T00:00:00Z")
ESME_3 = "00-DB-12-34-56-78-90-A2"


def write(path: Path, devices: list[Device]) -> Path:
    with path.open("w", newline="") as f:
        write_inventory(devices, f)
    return path


def write_rows(path: Path, *rows: str, header: str = INVENTORY_HEADER) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n")
    return path


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets, commits and pages of a few hundred rows, so that a small fleet takes every
    path a national one does."""
    monkeypatch.setattr(fleet_blocks, "BUCKET_ROWS", 300)
    monkeypatch.setattr(lines, "BLOCK_BYTES", 16 * 1024)
    monkeypatch.setattr(reference_loads, "COMMIT_ROWS", 700)


def sim_fleet(esmes: int = 1_500, seed: int = 3) -> list[Device]:
    devices = list(generate_fleet(FleetSpec(esmes=esmes, seed=seed)).devices())
    # A hub with two ESMEs (R8 takes the smaller Device ID) and an ESME of no hub.
    extra = esme(ESME_2, devices[1].device_id, operator="21")
    alone = replace(esme(ESME_3), chf_id=None)
    return [*devices, extra, alone]


def assert_answers_as(store: Store, expected: Inventory, devices: list[Device]) -> None:
    ids = [d.device_id for d in devices] + ["00-00-00-00-00-00-00-09"]
    hubs = sorted({d.chf_id for d in devices if d.chf_id} | {ESME, "00-00-00-00-00-00-00-09"})
    found = store.fleet.lookup(ids, hubs, esmes=True)
    for device_id in ids:
        assert found.get(device_id) == expected.get(device_id), device_id
    for chf_id in hubs:
        assert found.esme_for_chf(chf_id) == expected.esme_for_chf(chf_id), chf_id
        assert found.network_operator_of_chf(chf_id) == expected.network_operator_of_chf(chf_id)


@pytest.mark.usefixtures("small_pieces")
def test_a_full_load_answers_as_the_file_read_in_memory(database: str, tmp_path: Path) -> None:
    devices = sim_fleet()
    path = write(tmp_path / "inventory.csv", devices)
    with path.open() as f:
        expected = Inventory(read_inventory(f, "inventory.csv").devices)
    with open_store(database, "service") as store:
        loaded = load_inventory(store, path, NOW)
        assert loaded.version.state == "in_force"
        assert loaded.version.device_count == len(devices)
        assert store.fleet.base() == loaded.version.id
        assert_answers_as(store, expected, devices)
        assert expected.network_operator_of_chf(devices[1].device_id) == devices[0].network_operator


def test_bad_rows_are_rejected_with_line_numbers_and_the_rest_loads(
    database: str, tmp_path: Path
) -> None:
    path = write_rows(
        tmp_path / "inventory.csv",
        f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('14')},,SW1A 1AA",  # 2: good
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},1234567890125,,",  # 3: check digit
        "",  # 4: blank
        f"{CHF},CHF,SMETS2,TOSHIBA,,,,",  # 5: a field short
        f"{ESME_3.lower()},esme,smets2, Landis+Gyr ,,{CHF_2},{mpan('21')},,cf101aa",  # 6: good
    )
    with open_store(database, "service") as store:
        version = load_inventory(store, path, NOW).version
        assert (version.rows_read, version.rows_accepted, version.rows_rejected) == (4, 2, 2)
        stored = [
            (r.line, r.error[:24]) for kind, r in store.inputs.rejected() if kind == "inventory"
        ]
        assert stored == [(3, "MPAN '1234567890125' fai"), (5, "row has 8 fields; the he")]
        found = store.fleet.lookup([ESME, ESME_2, ESME_3], [CHF_2])
        assert found.get(ESME_2) is None
        third = found.get(ESME_3)
        assert third is not None
        assert (third.manufacturer, third.postcode, third.network_operator) == (
            "Landis+Gyr",
            "CF10 1AA",
            "21",
        )
        assert found.network_operator_of_chf(CHF_2) == "21"


def test_a_full_load_replaces_the_inventory_and_its_blocks_go(
    database: str, tmp_path: Path
) -> None:
    """With no replaced version kept for a rollback (``keep=0``; spec §17 keeps a few)."""
    with open_store(database, "service") as store:
        first = load_inventory(store, write(tmp_path / "a.csv", [esme(), hub()]), NOW).version
        second = load_inventory(
            store, write(tmp_path / "b.csv", [esme(ESME_2, CHF_2), hub(CHF_2)]), NOW, keep=0
        ).version
        found = store.fleet.lookup([ESME, ESME_2], [CHF, CHF_2])
        assert found.get(ESME) is None  # not in the file in force
        assert found.get(ESME_2) == esme(ESME_2, CHF_2)
        assert found.network_operator_of_chf(CHF) == ""
        states = {v.id: v.state for v in store.fleet.versions()}
        assert states == {first.id: "cleared", second.id: "in_force"}
        blocks = store.db.scalar(
            "SELECT COUNT(*) FROM fleet_blocks WHERE id >= ? AND id < ?", block_ids(first.id)
        )
        assert blocks == 0
        assert store.db.scalar("SELECT COUNT(*) FROM fleet_pages") == 0


def test_decisions_see_the_old_version_until_the_switch(database: str, tmp_path: Path) -> None:
    """spec §11: the switch is atomic — the old inventory or the new one, never half."""
    with open_store(database, "service") as store:
        load_inventory(store, write(tmp_path / "a.csv", [esme(), hub()]), NOW)
        moved = esme(operator="21", chf_id=CHF_2)
        seen_during: list[bool] = []
        settle = fleet_module.settle_hubs

        def settle_and_look(hubs: Any) -> Any:
            # The new version's device blocks are written; the switch has not happened yet:
            # another connection still reads the old version, whole.
            with open_store(database, "read") as reader:
                seen = reader.fleet.lookup([ESME], [CHF, CHF_2])
                seen_during.append(
                    seen.get(ESME) == esme() and seen.network_operator_of_chf(CHF) == "10"
                )
            return settle(hubs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fleet_module, "settle_hubs", settle_and_look)
            load_inventory(store, write(tmp_path / "b.csv", [moved, hub(CHF_2)]), NOW)
        assert seen_during == [True]
        after = store.fleet.lookup([ESME], [CHF, CHF_2])
        assert after.get(ESME) == moved
        assert (after.network_operator_of_chf(CHF), after.network_operator_of_chf(CHF_2)) == (
            "",
            "21",
        )


class CrashError(Exception):
    pass


@pytest.mark.usefixtures("small_pieces")
def test_a_load_cut_short_resumes_where_it_stopped(database: str, tmp_path: Path) -> None:
    devices = sim_fleet()
    path = write(tmp_path / "inventory.csv", devices)
    with path.open("a") as f:
        f.write("not-a-device,ESME,SMETS2,X,,,,,\n")  # one rejected row, near the end
    with open_store(database, "service") as store:
        real_stage = FleetStore.stage
        calls: list[int] = []

        def stage(self: FleetStore, *args: object) -> None:
            calls.append(1)
            if len(calls) == 3:
                raise CrashError  # the process dies before its third commit
            real_stage(self, *args)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(FleetStore, "stage", stage)
            with pytest.raises(CrashError):
                load_inventory(store, path, NOW)
        # The cut-short load is not in force: nothing was (an empty store answers nothing).
        assert store.fleet.lookup([devices[0].device_id], []).get(devices[0].device_id) is None
        done = store.fleet.versions()[0]
        assert done.state == "loading"
        assert 0 < done.rows_read < len(devices)
        resumed = load_inventory(store, path, NOW)
        assert resumed.resumed
        assert resumed.version.id == done.id
        rejected = [r for kind, r in store.inputs.rejected() if kind == "inventory"]
        with open_store(f"sqlite:///{tmp_path / 'whole.db'}", "service", schema="create") as whole:
            uninterrupted = load_inventory(whole, path, NOW).version
            for name in ("sha256", "rows_read", "rows_accepted", "rows_rejected", "device_count"):
                assert getattr(resumed.version, name) == getattr(uninterrupted, name), name
            expected = [r for kind, r in whole.inputs.rejected() if kind == "inventory"]
        assert [(r.line, r.error) for r in rejected] == [(r.line, r.error) for r in expected]
        with path.open() as f:
            assert_answers_as(store, Inventory(read_inventory(f, "x").devices), devices)


def test_a_later_full_load_abandons_one_still_loading(database: str, tmp_path: Path) -> None:
    with open_store(database, "service") as store:
        stale = store.fleet.begin("other.csv", 1000, NOW)
        load_inventory(store, write(tmp_path / "a.csv", [esme(), hub()]), NOW)
        assert store.fleet.version(stale) is not None
        assert store.fleet.version(stale).state == "failed"  # type: ignore[union-attr]
        with pytest.raises(LoadSuperseded):
            store.fleet.finish(stale, "", NOW)


CHANGE_HEADER = f"change,{INVENTORY_HEADER}"


def test_changes_upsert_and_remove_over_the_version_in_force(database: str, tmp_path: Path) -> None:
    """A hub moved to another ESME, an ESME removed, a manufacturer corrected."""
    second_on_chf = esme(ESME_2, CHF, operator="21")
    with open_store(database, "service") as store:
        base = load_inventory(
            store,
            write(
                tmp_path / "a.csv", [esme(), hub(), second_on_chf, esme(ESME_3, CHF_2), hub(CHF_2)]
            ),
            NOW,
        ).version
        assert store.fleet.lookup([], [CHF]).routes[CHF].esme_id == ESME  # the smaller id
        changes = write_rows(
            tmp_path / "changes.csv",
            f"remove,{ESME},,,,,,,,",  # 2: ESME leaves: CHF now routes to ESME_2
            f"upsert,{ESME_3},ESME,SMETS2,SECURE,,{CHF},{mpan('23')},,",  # 3: exchanged onto CHF
            f"upsert,{ESME_2},ESME,SMETS2,Landis+Gyr,,{CHF},{mpan('21')},,",  # 4: maker fixed
            "rename,x,,,,,,,,",  # 5: rejected
            "remove,nonsense,,,,,,,,",  # 6: rejected
            header=CHANGE_HEADER,
        )
        applied = apply_changes(store, changes, NOW)
        version = applied.version
        assert (version.kind, version.base, version.rows_removed) == ("changes", base.id, 1)
        assert (version.rows_read, version.rows_rejected) == (5, 2)
        assert [(r.line, r.error[:22]) for r in applied.rejected] == [
            (5, "change 'rename' is not"),
            (6, "device_id: 'nonsense' "),
        ]
        found = store.fleet.lookup([ESME, ESME_2, ESME_3], [CHF, CHF_2], esmes=True)
        assert found.get(ESME) is None
        assert found.get(ESME_2) is not None
        assert found.get(ESME_2).manufacturer == "Landis+Gyr"  # type: ignore[union-attr]
        assert found.routes[CHF].esme_id == ESME_2  # ESME removed; ESME_3 has a larger id
        assert found.network_operator_of_chf(CHF) == "21"
        assert found.esme_for_chf(CHF_2) is None  # its only ESME moved to CHF
        assert store.fleet.members([CHF, CHF_2]) == {ESME_2: CHF, ESME_3: CHF}
        # Removed again later in the same file wins over an upsert before it.
        again = write_rows(
            tmp_path / "again.csv",
            f"upsert,{ESME},ESME,SMETS2,X,,{CHF},{mpan('12')},,",
            f"remove,{ESME},,,,,,,,",
            header=CHANGE_HEADER,
        )
        apply_changes(store, again, NOW)
        assert store.fleet.lookup([ESME], []).get(ESME) is None
        # A full load makes the changes stale: the file is the inventory, and their rows go.
        load_inventory(store, write(tmp_path / "b.csv", [esme(), hub()]), NOW)
        assert store.fleet.lookup([ESME], []).get(ESME) == esme()
        assert store.db.scalar("SELECT COUNT(*) FROM devices") == 0
        assert store.db.scalar("SELECT COUNT(*) FROM removed_devices") == 0


def test_an_inventory_needs_its_header(database: str, tmp_path: Path) -> None:
    from poagate.formats.errors import InputError

    with open_store(database, "service") as store:
        with pytest.raises(InputError, match="lacks column"):
            load_inventory(store, write_rows(tmp_path / "a.csv", "x", header="a,b"), NOW)
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        with pytest.raises(InputError, match="empty"):
            load_inventory(store, empty, NOW)
        assert store.fleet.versions() == []


def test_read_inventory_keeps_the_later_row_for_a_device() -> None:
    text = "\n".join(
        (
            INVENTORY_HEADER,
            f"{ESME},ESME,SMETS2,A,,{CHF},{mpan()},,",
            f"{CHF},CHF,SMETS2,T,,,,,",
            f"{ESME},ESME,SMETS2,B,,{CHF},{mpan()},,",
        )
    )
    loaded = read_inventory(io.StringIO(text), "x")
    assert [(d.device_id, d.manufacturer) for d in loaded.devices] == [(CHF, "T"), (ESME, "B")]
    assert loaded.devices[0].device_type is DeviceType.CHF


def test_a_hub_whose_devices_run_over_several_blocks(database: str, tmp_path: Path) -> None:
    """R8 and the devices joined to a hub when its records fill more than one block."""
    esmes = [
        esme(f"00-DB-12-00-00-00-01-{n:02X}", CHF, operator=f"{10 + n % 14}") for n in range(130)
    ]
    with open_store(database, "service") as store:
        load_inventory(store, write(tmp_path / "a.csv", [*esmes, hub(), hub(CHF_2)]), NOW)
        found = store.fleet.lookup([], [CHF, CHF_2], esmes=True)
        assert found.esme_for_chf(CHF) == esmes[0]
        assert found.esme_for_chf(CHF_2) is None
        assert store.fleet.members([CHF]) == {e.device_id: CHF for e in esmes}


def test_revision_0006_keeps_the_devices_in_force_and_goes_down_and_up(tmp_path: Path) -> None:
    """Loads before 0006 upserted into ``devices``: after the upgrade they are changes over an
    empty base, so the same devices are in force; the revision goes down and up again."""
    import sqlite3

    from alembic import command

    from poagate.store.migrate import alembic_config
    from poagate.store.sqlite import SqliteStore

    path = tmp_path / "old.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "0005")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO inventory_loads (id, loaded_at, source, sha256, rows_read, "
            "rows_accepted, rows_rejected) VALUES (1, 0, 'old.csv', 'x', 2, 2, 0)"
        )
        conn.execute(
            "INSERT INTO devices VALUES (?, 'ESME', 'SMETS2', 'LANDIS+GYR', ?, ?, '10', "
            "'SW1A 1AA', 1)",
            (ESME, CHF, mpan("10")),
        )
    with SqliteStore(path, schema="upgrade") as store:
        found = store.fleet.lookup([ESME], [CHF], esmes=True)
        assert found.get(ESME) == esme()
        assert found.network_operator_of_chf(CHF) == "10"
        [version] = store.fleet.versions()
        assert (version.kind, version.state, version.base) == ("changes", "applied", 0)
    command.downgrade(config, "0005")
    command.upgrade(config, "head")
    with SqliteStore(path) as store:
        assert store.fleet.lookup([ESME], []).get(ESME) == esme()
        load_inventory(store, write(tmp_path / "new.csv", [esme(ESME_2, CHF_2)]), NOW)
        assert store.fleet.lookup([ESME], []).get(ESME) is None
