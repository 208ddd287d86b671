"""The service applies the spec §9 guards as a replay does: simulated months, both ways.

A replay keeps every sector's history and every hub's signs of life in memory; a server reads
them from the store for each group of events (area-outage) or each release pass
(release-if-dark). Over the same events, in the same order, both must reach the same outcome
for every AD1: suppressed or forwarded, the forward reason, and which entries were released.

The spec §14 verification guard is compared alone too, its answers made by the simulator for
the setting: a server's verification pass (run here after every group, as a busy server's
would run between them) reaches the replay's outcome because deadlines run from each AD1, not
from when the pass ran.

release-if-dark is compared alone: with area-outage on too, a dark release is evidence from
the moment it is made, which a server makes at its pass (up to ``SIGN_GRACE`` and a poll after
the replay's due time), so an AD1 decided in between may legitimately differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poagate.domain.outcomes import SuppressionEntry
from poagate.formats.errors import InputError
from poagate.service.ingest import Ingestor, Item
from poagate.service.inputs import merged, scan
from poagate.service.reference.loads import load_guid_list, load_inventory
from poagate.service.releases import arm_release_if_dark, release_dark
from poagate.service.verifications import arm_verification, verify
from poagate.sim.scenarios import GuardSetting, Month, prepare, run, scenarios
from poagate.store.database import open_store
from poagate.store.store import Store

AREA = GuardSetting("area-outage", area_outage_threshold=3, area_outage_seconds=900)
DARK = GuardSetting("release-if-dark", release_after_minutes=60)
VERIFY = GuardSetting(
    "verification", verify_after_minutes=10, verify_timeout_minutes=4, verify_attempts=2
)
GROUP = 50  # events a transaction, as a busy server would group them


def outcomes(store: Store) -> dict[str, tuple[bool, str, str | None]]:
    return {
        o.alert_id: (
            type(o) is SuppressionEntry,
            o.rule if type(o) is SuppressionEntry else o.reason,
            o.release_reason if type(o) is SuppressionEntry else None,
        )
        for o in store.listings.ad1_outcomes()
    }


# The months compared: (scenario, seed, guard), each on both backends.
MONTHS = {
    "storm-area-outage": ("storm", 3, AREA),
    "bricking-release-if-dark": ("bricking", 1, DARK),
    "bricking-verification": ("bricking", 2, VERIFY),
    "storm-verification": ("storm", 1, VERIFY),
}


@dataclass(frozen=True)
class Replayed:
    """A month as the simulator made it, replayed: the outcome of every AD1, and the files
    (the month's and the DSP's answers for the setting) a server is given."""

    month: Month
    directory: Path
    expected: dict[str, tuple[bool, str, str | None]]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Replayed]:
    """Each month replayed once for the module: the replay does not depend on the backend the
    service is tested on."""
    done: dict[str, Replayed] = {}

    def month_of(key: str) -> Replayed:
        if key not in done:
            name, seed, setting = MONTHS[key]
            directory = tmp_path_factory.mktemp(key)
            scenario = scenarios(esmes=20_000, seed=seed)[name]
            scenario = replace(scenario, traffic=replace(scenario.traffic, duis_share=0.0))
            month = prepare(scenario, directory)
            run(month, setting, directory)
            replay = f"sqlite:///{directory / (setting.name + '.db')}"
            with open_store(replay, "read") as replayed:
                done[key] = Replayed(month, directory, outcomes(replayed))
        return done[key]

    return month_of


@pytest.mark.parametrize("key", MONTHS)
def test_a_month_through_the_service_matches_the_replay(
    replayed: Callable[[str], Replayed], database: str, key: str
) -> None:
    setting = MONTHS[key][2]
    replay = replayed(key)
    month, expected = replay.month, replay.expected

    now = datetime.now(UTC)
    with open_store(database, "service") as store:
        load_inventory(store, month.inventory, now)
        load_guid_list(store, month.guid_list, now)
        guards = {
            "release_after_minutes": setting.release_after_minutes,
            "area_outage_threshold": setting.area_outage_threshold,
            "area_outage_seconds": setting.area_outage_seconds,
            "verify_after_minutes": setting.verify_after_minutes,
            "verify_timeout_minutes": setting.verify_timeout_minutes,
            "verify_attempts": setting.verify_attempts,
        }
        store.reference.save_config(replace(store.reference.config(), **guards), "test", now)
        arm_release_if_dark(store)
        arm_verification(store)
    answers = sorted(replay.directory.glob("answers-*.jsonl"))  # the DSP's, for the setting
    files = [scan(path, i) for i, path in enumerate([*month.events, *answers])]
    group: list[Item] = []
    clock = [now]
    ingestor = Ingestor(lambda: open_store(database, "service"), lambda: clock[0])
    # One writer connection for the month, as a server holds (started, the ingestor decides
    # on it; its own thread stays idle): a connection for every group made this test connect
    # over 4,000 times, which on PostgreSQL took most of its time.
    ingestor.start()
    try:
        with open_store(database, "service") as passes:

            def decide() -> None:
                clock[0] = _received(group[-1])
                ingestor.decide_now("month", group)
                release_dark(passes, clock[0])  # the server's passes, as if they ran just now
                verify(passes, clock[0])

            for _key, _index, line, _raw, parsed in merged(files, [0] * len(files)):
                if isinstance(parsed, InputError):
                    continue  # the simulator's malformed lines: rejected either way
                group.append(Item(line, parsed))
                if len(group) == GROUP:
                    decide()
                    group = []
            if group:
                decide()
            traffic = month.scenario.traffic
            horizon = traffic.start + timedelta(days=traffic.days + 1)
            release_dark(passes, horizon)  # the replay's guards run on to the same horizon
            verify(passes, horizon)
    finally:
        ingestor.stop()
    with open_store(database, "read") as served:
        got = outcomes(served)

    assert got == expected
    released = [a for a, (_, _, reason) in expected.items() if reason is not None]
    assert len(released) > 0  # the month exercised the guard
    if setting is VERIFY:
        reasons = {reason for _, _, reason in expected.values()}
        assert "no_answer_to_verification" in reasons  # bricked meters and storm sites, silent
    if setting is AREA:
        # The storm met the campaign: seed 3 gives 7,691 AD1s, 9 released and 45 forwarded.
        forwarded_by_area = [
            a for a, (_, why, _) in expected.items() if why == "area_outage_evidence"
        ]
        assert len(forwarded_by_area) > 0


def _received(item: Item) -> datetime:
    assert item.event is not None
    return item.event.received_at
