"""The operations kit in deploy/ as the tests read it: its files, and the metric names its
alerting rules and dashboard query."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "poagate-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "poagate-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "poagate.json"
UNIT = DEPLOY / "systemd" / "poagate.service"
ENV_FILE = DEPLOY / "systemd" / "poagate.env"

# poagate's own metrics and prometheus-client's process and Python ones; Prometheus's ``up``
# is the only other name a query may use.
_METRIC = re.compile(r"\b(?:poagate|process|python)_[a-z0-9_]+\b|\bup(?=\{)")


def metric_names(expression: str) -> set[str]:
    return set(_METRIC.findall(expression))


def rule_expressions() -> dict[str, str]:
    """Each alert's name and its expression."""
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule["expr"] for group in document["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, list[str]]:
    """Each panel's title and its queries."""
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return {
        panel["title"]: [target["expr"] for target in panel.get("targets", [])]
        for panel in document["panels"]
        if panel["type"] != "row"
    }


def exported_names(exposition: str) -> set[str]:
    """Every series name a ``/metrics`` text can hold: the samples it shows, and for each family
    declared (a labelled counter may have no sample yet) the names of its samples."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
