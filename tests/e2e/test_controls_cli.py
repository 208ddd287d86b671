"""The incident controls on the command line (spec §12), on a store a real API decided into:
each act lands in the store, is audited with the command line as its actor, and is seen by
the service's next decision."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
from typer.testing import CliRunner

from poagate.cli import app
from poagate.store.database import open_store
from tests.api_harness import Api, Clock, activation, ad1, chf_of, esme_of, make_api
from tests.helpers import USER


@pytest.fixture
def api(seeded_sqlite: str) -> Iterator[Api]:
    yield from make_api(seeded_sqlite, Clock())


def run(api: Api, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--database", api.database])
    return result.exit_code, result.output


def outcome(api: Api, event: dict[str, object]) -> tuple[str, str]:
    item = api.post(api.token("dsp"), event).json()["items"][0]
    return item["outcome"], item.get("reason", "")


def test_suspend_and_resume_from_the_command_line(api: Api) -> None:
    assert outcome(api, activation(esme_of("12"), 1))[0] == "recorded"
    code, text = run(api, "suspend", "--note", "INC-9 storm")
    assert code == 0, repr(text)
    assert "suspended" in text
    assert outcome(api, ad1("A1", chf_of("12"))) == ("forwarded", "suppression_suspended")
    code, text = run(api, "suspend")
    assert (code, "already" in text) == (0, True)
    code, text = run(api, "window", "list")
    assert "suppression SUSPENDED" in text
    assert run(api, "resume")[0] == 0
    assert "suppression on since" in run(api, "window", "list")[1]
    assert outcome(api, ad1("A2", chf_of("12"))) == ("suppressed", "")
    with open_store(api.database, "read") as store:
        acts = [(e.action, e.actor, e.detail.get("note")) for e in store.audit.entries()]
    switches = [a for a in acts if a[0].startswith("suppression.")]
    assert [(a, n) for a, _, n in switches] == [
        ("suppression.suspend", "INC-9 storm"),
        ("suppression.resume", None),
    ]
    assert all(actor.startswith("command line (") for _, actor, _ in switches)


def test_window_list_and_end_from_the_command_line(api: Api) -> None:
    request_id = f"{USER}:{esme_of('12')}:1"
    outcome(api, activation(esme_of("12"), 1, "2099-01-01T00:00:00Z"))  # scheduled
    code, text = run(api, "window", "list", "--json")
    assert code == 0, text
    (listed,) = orjson.loads(text)
    assert (listed["request_id"], listed["state"]) == (request_id, "scheduled")
    code, text = run(api, "window", "end", request_id.lower(), "--note", "campaign stopped")
    assert code == 0, text
    assert orjson.loads(run(api, "window", "list", "--json")[1]) == []
    code, text = run(api, "window", "end", request_id)
    assert code == 1
    assert "already ended" in text
    code, text = run(api, "window", "list", "--all")
    assert (code, "ended" in text) == (0, True)
    assert run(api, "window", "end", "nonsense")[0] == 2


def test_release_and_explain_from_the_command_line(api: Api) -> None:
    outcome(api, activation(esme_of("12"), 1))
    for n in range(3):
        outcome(api, ad1(f"S{n}", chf_of("12")))
    code, text = run(api, "release", "--alert-id", "S1", "--dry-run")
    assert (code, "would release 1 entries" in text) == (0, True), text
    code, text = run(
        api,
        "release",
        "--network-operator",
        "12",
        "--from",
        "2026-03-01T00:00:00Z",
        "--to",
        "2026-03-02T00:00:00Z",
        "--note",
        "real outage [SW1A]",
    )
    assert (code, "released 3 entries" in text) == (0, True), text
    code, text = run(api, "alert", "explain", "S1")
    assert code == 0, text
    assert "suppressed (firmware_activation_window)" in text
    assert re.search(r"released \S+Z \(operator\) by command line \(", text), text
    assert "real outage [SW1A]" in text  # the note as written, not read as markup
    code, text = run(api, "alert", "explain", "S1", "--json")
    assert orjson.loads(text)["release"]["reason"] == "operator"
    assert run(api, "alert", "explain", "NOPE")[0] == 1
    assert run(api, "release", "--chf-id", chf_of("12"), "--alert-id", "S1")[0] == 2
    dno = api.token("dno", "12")
    feed = api.get(dno, "/v1/alerts/forwarded").json()["items"]
    assert [f["alert_id"] for f in feed] == ["S0", "S1", "S2"]


def test_open_windows_metric_counts_only_windows_not_ended(api: Api) -> None:
    """The finding: ``poagate_open_windows`` said 2 while ``window list`` showed 1 (ended
    windows were counted)."""
    from prometheus_client.parser import text_string_to_metric_families

    def open_windows() -> float:
        text = api.get(api.token("admin"), "/metrics").text
        (family,) = (f for f in text_string_to_metric_families(text) if f.name.endswith("windows"))
        return family.samples[0].value

    outcome(api, activation(esme_of("12"), 1))
    outcome(api, activation(esme_of("13"), 1))
    assert open_windows() == 2
    assert run(api, "window", "end", f"{USER}:{esme_of('12')}:1")[0] == 0
    assert open_windows() == 1


@pytest.mark.parametrize("columns", ["40", "200"])
def test_window_list_shows_whole_request_ids_and_hubs_at_any_width(
    api: Api, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding: the table cut request ids and hubs at about 21 characters, even with
    COLUMNS=200, so they could not be copied into ``window end``."""
    monkeypatch.setenv("COLUMNS", columns)
    request_id = f"{USER}:{esme_of('14')}:1"
    outcome(api, activation(esme_of("14"), 1, "2099-01-01T00:00:00Z"))  # scheduled
    code, text = run(api, "window", "list")
    assert code == 0, text
    [line] = [line for line in text.splitlines() if line.startswith(USER)]
    copied, hub = line.split()[:2]
    assert (copied, hub) == (request_id, chf_of("14"))
    assert run(api, "window", "end", copied)[0] == 0  # copied from the listing, it works
