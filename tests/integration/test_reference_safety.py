"""spec §17: reference data cannot empty the gate by accident — full loads and change files
over the limits are refused and change nothing, forced ones are audited, and an earlier version
goes back in force at once — on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from poagate.domain.reference import Device
from poagate.domain.safety import LoadRefused
from poagate.formats.settings import Reference, Settings
from poagate.service.reference.acts import (
    apply_changes_act,
    load_guid_list_act,
    load_inventory_act,
    rollback_guid_list,
    rollback_inventory,
)
from poagate.service.reference.device_cache import DeviceCache
from poagate.store.database import open_store
from poagate.store.reference.fleet import VersionUnavailableError
from poagate.store.reference.fleet_blocks import block_ids
from poagate.store.store import Store
from tests.helpers import CHF, ESME, INVENTORY_HEADER, esme, hub, mpan, ts
from tests.integration.test_fleet import write, write_rows

NOW = ts("2026-03-01T00:00:00Z")
ACTOR = "test"


def sites(count: int, operator: str = "12") -> list[Device]:
    """``count`` ESMEs, each with its hub."""
    devices: list[Device] = []
    for n in range(count):
        chf = f"00-DB-00-00-00-00-{n >> 8:02X}-{n & 255:02X}"
        devices += [esme(f"00-DB-10-00-00-00-{n >> 8:02X}-{n & 255:02X}", chf, operator=operator)]
        devices += [hub(chf)]
    return devices


def load(store: Store, path: Path, force: bool = False) -> int:
    return load_inventory_act(store, path, NOW, str(path), ACTOR, force=force).version.id


def in_force(store: Store) -> tuple[int, int]:
    """The full load in force and how many devices it holds."""
    return store.fleet.base(), store.fleet.in_force_count()


def test_an_inventory_of_bad_rows_is_refused_and_the_hub_keeps_its_operator(
    database: str, tmp_path: Path
) -> None:
    """Finding 3: every row bad went into force and the next AD1 went to no DNO."""
    with open_store(database, "service") as store:
        first = load(store, write(tmp_path / "a.csv", [esme(operator="12"), hub()]))
        bad = write_rows(tmp_path / "bad.csv", *(f"{ESME},ESME,SMETS9,X,,,,,,," for _ in range(5)))
        with pytest.raises(LoadRefused) as refused:
            load(store, bad)
        figures = refused.value.judgement.figures
        assert (figures["rows_read"], figures["rows_rejected"]) == (5, 5)
        assert "5 of its 5 rows were rejected" in str(refused.value)
        assert in_force(store) == (first, 2)
        assert store.fleet.lookup([], [CHF]).network_operator_of_chf(CHF) == "12"
        assert [v.state for v in store.fleet.versions()] == ["in_force", "refused"]
        refused_id = store.fleet.versions()[-1].id
        kept = store.db.scalar(
            "SELECT COUNT(*) FROM fleet_blocks WHERE id >= ? AND id < ?", block_ids(refused_id)
        )
        assert kept == 0
        assert [e.action for e in store.audit.entries()] == ["inventory.load"]


def test_a_load_leaving_fewer_than_90_percent_of_the_devices_is_refused_unless_forced(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        first = load(store, write(tmp_path / "a.csv", sites(50)))  # 100 devices
        smaller = write(tmp_path / "b.csv", sites(44))  # 88 of them
        with pytest.raises(LoadRefused) as refused:
            load(store, smaller)
        figures = refused.value.judgement.figures
        assert (figures["devices_in_force"], figures["devices_after"]) == (100, 88)
        assert "fewer than the 90% required" in str(refused.value)
        assert in_force(store) == (first, 100)
        forced = load(store, smaller, force=True)
        assert in_force(store) == (forced, 88)
        entry = store.audit.entries()[-1]
        assert entry.action == "inventory.load"
        assert "it would leave 88 of the 100 devices" in entry.detail["forced"][0]
        # 90% exactly is allowed.
        assert load(store, write(tmp_path / "c.csv", sites(40))) == store.fleet.base()


def test_an_empty_inventory_is_never_put_in_force_unforced_even_on_an_empty_store(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        empty = write_rows(tmp_path / "empty.csv")
        with pytest.raises(LoadRefused, match="it holds no devices"):
            load(store, empty)
        assert in_force(store) == (0, 0)
        load(store, empty, force=True)
        assert store.fleet.base() > 0


def test_a_change_file_removing_too_many_devices_writes_nothing_unless_forced(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        load(store, write(tmp_path / "a.csv", sites(10)))  # 20 devices
        devices = sites(10)
        removals = [f"remove,{d.device_id},,,,,,,," for d in devices[:3]]  # 17 left: 85%
        change = write_rows(tmp_path / "c.csv", *removals, header=f"change,{INVENTORY_HEADER}")
        with pytest.raises(LoadRefused) as refused:
            apply_changes_act(store, change, NOW, "c", ACTOR, force=False)
        assert refused.value.judgement.figures["devices_after"] == 17
        assert store.fleet.lookup([devices[0].device_id], []).get(devices[0].device_id)
        assert [v.kind for v in store.fleet.versions()] == ["full"]
        # A bad row in a change file changes nothing, so it is not judged; an upsert of a new
        # device counts one more.
        upsert = f"upsert,{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('12')},,"
        small = write_rows(
            tmp_path / "d.csv",
            removals[0],
            upsert,
            "upsert,bad",
            header=f"change,{INVENTORY_HEADER}",
        )
        applied = apply_changes_act(store, small, NOW, "d", ACTOR, force=False).version
        assert (applied.rows_rejected, applied.device_count) == (1, 20)
        forced = apply_changes_act(store, change, NOW, "c", ACTOR, force=True).version
        assert forced.device_count == 18  # devices[0] was removed already
        assert store.fleet.in_force_count() == 18


def test_rollback_puts_the_earlier_full_load_back_at_once_without_later_changes(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        first = load(store, write(tmp_path / "a.csv", [esme(operator="12"), hub()]))
        second = load(store, write(tmp_path / "b.csv", [esme(operator="14"), hub()]))
        upsert = f"upsert,{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('16')},,"
        change = write_rows(tmp_path / "c.csv", upsert, header=f"change,{INVENTORY_HEADER}")
        apply_changes_act(store, change, NOW, "c", ACTOR, force=False)
        cache = DeviceCache()
        assert cache.lookup(store.fleet, [], [CHF], False).network_operator_of_chf(CHF) == "16"
        done = rollback_inventory(store, NOW, ACTOR)  # the full load before the one in force
        assert (done.version.kind, done.version.base, done.previous) == ("rollback", first, second)
        assert cache.lookup(store.fleet, [], [CHF], False).network_operator_of_chf(CHF) == "12"
        assert in_force(store) == (first, 2)
        states = {v.id: (v.kind, v.state) for v in store.fleet.versions()}
        assert states[first] == ("full", "in_force")
        assert states[second] == ("full", "replaced")
        assert store.db.scalar("SELECT COUNT(*) FROM devices") == 0  # the change rows went
        # Changes after the rollback apply over it; going forward again is a rollback too.
        apply_changes_act(store, change, NOW, "c", ACTOR, force=False)
        assert store.fleet.lookup([], [CHF]).network_operator_of_chf(CHF) == "16"
        rollback_inventory(store, NOW, ACTOR, second)
        assert store.fleet.lookup([], [CHF]).network_operator_of_chf(CHF) == "14"
        assert [e.action for e in store.audit.entries()][-1] == "inventory.rollback"
        assert store.audit.entries()[-1].detail["full_load"] == second


def test_only_kept_full_loads_can_be_put_back(database: str, tmp_path: Path) -> None:
    with open_store(database, "service") as store:
        settings = Settings(reference=Reference(kept_inventory_versions=1))
        store.reference.save_settings(settings, ACTOR, NOW)
        loads = [load(store, write(tmp_path / f"{n}.csv", sites(5))) for n in range(3)]
        states = [v.state for v in store.fleet.versions()]
        assert states == ["cleared", "replaced", "in_force"]
        with pytest.raises(VersionUnavailableError, match="no longer kept"):
            rollback_inventory(store, NOW, ACTOR, loads[0])
        change = write_rows(
            tmp_path / "c.csv", f"remove,{ESME},,,,,,,,", header=f"change,{INVENTORY_HEADER}"
        )
        changes = apply_changes_act(store, change, NOW, "c", ACTOR, force=False).version
        with pytest.raises(VersionUnavailableError, match="not a full load"):
            rollback_inventory(store, NOW, ACTOR, changes.id)
        with pytest.raises(VersionUnavailableError, match="no inventory version 99"):
            rollback_inventory(store, NOW, ACTOR, 99)
        assert store.fleet.base() == loads[2]


def test_a_rollback_to_far_fewer_devices_is_refused_unless_forced(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        first = load(store, write(tmp_path / "a.csv", sites(2)))
        second = load(store, write(tmp_path / "b.csv", sites(20)))
        with pytest.raises(LoadRefused, match="leave 4 of the 40 devices"):
            rollback_inventory(store, NOW, ACTOR, first)
        assert store.fleet.base() == second
        rollback_inventory(store, NOW, ACTOR, first, force=True)
        assert in_force(store) == (first, 4)


def guid_file(path: Path, count: int, extra: str = "") -> Path:
    path.write_text(
        "".join(f"00-DB-10-00-00-00-00-{n:02X}\n" for n in range(count)) + extra, encoding="utf-8"
    )
    return path


def test_a_guid_list_over_the_limits_is_refused_and_an_earlier_version_goes_back(
    database: str, tmp_path: Path
) -> None:
    with open_store(database, "service") as store:
        reference = store.reference

        def guid(path: Path, force: bool = False) -> int:
            loaded = load_guid_list_act(store, path, NOW, str(path), ACTOR, force=force)
            return loaded.version.number

        with pytest.raises(LoadRefused, match="it holds no entries"):
            guid(guid_file(tmp_path / "empty.txt", 0))
        assert reference.guid_version() is None
        first = guid(guid_file(tmp_path / "a.txt", 100))
        with pytest.raises(LoadRefused, match="2 of its 101 rows were rejected"):
            guid(guid_file(tmp_path / "b.txt", 99, "bad\nworse\n"))
        with pytest.raises(LoadRefused, match="leave 50 of the 100 entries"):
            guid(guid_file(tmp_path / "c.txt", 50))
        assert reference.guid_version().number == first  # type: ignore[union-attr]
        # Nothing of the refused loads is left staged.
        assert store.db.scalar("SELECT COUNT(*) FROM guid_list_entries") == 100
        second = guid(guid_file(tmp_path / "c.txt", 50), force=True)
        listed = "00-DB-10-00-00-00-00-5A"  # the 91st: not in the second version
        assert reference.guid_list_for([listed]).devices == frozenset()
        back = rollback_guid_list(store, NOW, ACTOR)  # to the version before the one in force
        assert (back.version.number, back.previous) == (first, second)
        assert reference.guid_version().number == first  # type: ignore[union-attr]
        assert reference.guid_list_for([listed]).devices == {listed}
        assert reference.last_guid_list_file() == ""  # a replay loads its file again
        with pytest.raises(LoadRefused, match="leave 50 of the 100 entries"):
            rollback_guid_list(store, NOW, ACTOR, second)
        with pytest.raises(VersionUnavailableError):
            rollback_guid_list(store, NOW, ACTOR, 7)
        # A new load after a rollback is judged against, and compared with, the one in force.
        assert guid(guid_file(tmp_path / "a.txt", 100)) == first
        actions = [e.action for e in store.audit.entries()]
        assert actions == [
            "guid_list.load",
            "guid_list.load",
            "guid_list.rollback",
            "guid_list.load",
        ]
