"""The alerting rules in deploy/prometheus/ (docs/operations.md "Metrics and alerts"): valid
for Prometheus (``promtool check rules``) and doing what they say on series made up for each
(``promtool test rules`` with poagate-rules.test.yml). promtool is from Debian's package
prometheus, which ``make system-deps`` unpacks into .cache/prometheus/ (installing it would start
a Prometheus server)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.kit import RULE_TESTS, RULES, rule_expressions
from tests.helpers import ROOT
from tests.unit.test_docs import github_anchors

UNPACKED = ROOT / ".cache" / "prometheus" / "usr" / "bin" / "promtool"

ALERTS = {
    "PoagateDown",
    "PoagateDatabaseUnreachable",
    "PoagateDeliveryBacklog",
    "PoagateDeadLetters",
    "PoagateDeliveryWorkerStalled",
    "PoagateUnroutedAD1s",
    "PoagateVerificationQueueOld",
    "PoagateMaintenanceNotRun",
    "PoagateSuppressionSuspended",
    "PoagateSlowDecisions",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    program = str(UNPACKED) if UNPACKED.is_file() else shutil.which("promtool")
    if program is None:
        pytest.skip("promtool is missing: make system-deps fetches it (Debian package prometheus)")
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
    )


@pytest.mark.fast
def test_the_rules_are_valid_for_prometheus() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_every_alert_fires_on_its_case_and_not_on_the_healthy_one() -> None:
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.fast
def test_every_alert_is_unit_tested_and_names_a_runbook_section() -> None:
    assert set(rule_expressions()) == ALERTS
    tested = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in group["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert tested == ALERTS  # each one seen firing
    runbooks = {
        rule["annotations"]["runbook"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    sections = github_anchors((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    for runbook in runbooks:  # each one a section an on-call engineer can open
        document, anchor = runbook.split("#")
        assert document == "docs/operations.md"
        assert anchor in sections, runbook
