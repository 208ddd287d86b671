"""The service applies area-outage as a replay does: a simulated storm month, both ways.

A replay keeps every sector's history in memory; a server reads it from the store for each
group of events. Over the same events, in the same order, both must reach the same outcome for
every AD1: suppressed or forwarded, the forward reason, and which entries were released.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from poagate.domain.outcomes import SuppressionEntry
from poagate.formats.errors import InputError
from poagate.formats.guid_list import read_guid_list
from poagate.formats.inventory import read_inventory
from poagate.service.ingest import Ingestor, Item
from poagate.service.inputs import merged, scan
from poagate.sim.scenarios import GuardSetting, prepare, run, scenarios
from poagate.store.database import open_store
from poagate.store.store import Store

AREA = GuardSetting("area-outage", area_outage_threshold=3, area_outage_seconds=900)
GROUP = 50  # events a transaction, as a busy server would group them


def outcomes(store: Store) -> dict[str, tuple[bool, str, str | None]]:
    return {
        o.alert_id: (
            type(o) is SuppressionEntry,
            o.rule if type(o) is SuppressionEntry else o.reason,
            o.release_reason if type(o) is SuppressionEntry else None,
        )
        for o in store.reads.ad1_outcomes()
    }


def test_a_storm_month_through_the_service_matches_the_replay(
    tmp_path: Path, database: str
) -> None:
    scenario = scenarios(esmes=20_000, seed=3)["storm"]
    scenario = replace(scenario, traffic=replace(scenario.traffic, duis_share=0.0))
    month = prepare(scenario, tmp_path)
    run(month, AREA, tmp_path)
    with open_store(f"sqlite:///{tmp_path / 'area-outage.db'}", "read") as replayed:
        expected = outcomes(replayed)

    now = datetime.now(UTC)
    with open_store(database, "service") as store:
        with month.inventory.open(newline="") as f:
            store.reference.load_inventory(
                read_inventory(f, "inventory.csv"), "inventory.csv", "", now
            )
        with month.guid_list.open() as f:
            store.reference.load_guid_list(
                read_guid_list(f, "guid-list.txt"), "guid-list.txt", "", now
            )
        config = store.reference.config()
        store.reference.save_config(replace(config, area_outage_threshold=3), "test", now)
    clock = [now]
    ingestor = Ingestor(lambda: open_store(database, "service"), lambda: clock[0])
    files = [scan(path, i) for i, path in enumerate(month.events)]
    group: list[Item] = []
    for _key, _index, line, _raw, parsed in merged(files, [0] * len(files)):
        if isinstance(parsed, InputError):
            continue  # the simulator's malformed lines: rejected either way
        group.append(Item(line, parsed))
        if len(group) == GROUP:
            clock[0] = _received(group[-1])
            ingestor.decide_now("month", group)
            group = []
    if group:
        clock[0] = _received(group[-1])
        ingestor.decide_now("month", group)
    with open_store(database, "read") as served:
        got = outcomes(served)

    assert got == expected
    released = [a for a, (_, _, reason) in expected.items() if reason is not None]
    forwarded_by_area = [a for a, (s, why, _) in expected.items() if why == "area_outage_evidence"]
    # The storm met the campaign: seed 3 gives 7,691 AD1s, 9 released and 45 forwarded by it.
    assert len(released) > 0
    assert len(forwarded_by_area) > 0


def _received(item: Item) -> datetime:
    assert item.event is not None
    return item.event.received_at
