"""Every metric the alerting rules and the Grafana dashboard in deploy/ name is one a real
``poagate serve`` exports at ``/metrics``: a rule or a panel on a name that does not exist says
nothing, for ever, and nobody notices."""

from __future__ import annotations

import httpx

from tests.deploy.kit import dashboard_expressions, exported_names, metric_names, rule_expressions
from tests.faults.servers import make_token
from tests.servers import Server

# Prometheus's own: 1 while it scrapes a target.
PROMETHEUS = {"up"}


def test_the_rules_and_the_dashboard_name_only_exported_metrics(empty_sqlite: str) -> None:
    server = Server(empty_sqlite, deliveries=True)
    try:
        admin = make_token(empty_sqlite, "admin")
        answer = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {admin}"}, timeout=30
        )
    finally:
        server.stop()
    assert answer.status_code == 200
    exported = exported_names(answer.text)
    assert "poagate_delivery_queue" in exported
    named_by_rules = {alert: metric_names(expr) for alert, expr in rule_expressions().items()}
    named_by_panels = {
        title: set().union(*(metric_names(e) for e in exprs))
        for title, exprs in dashboard_expressions().items()
    }
    known = exported | PROMETHEUS
    for where, names in (named_by_rules | named_by_panels).items():
        assert names, f"{where} names no metric"
        assert names <= known, f"{where} names {sorted(names - known)}, which /metrics lacks"
    # The dashboard shows every poagate metric there is.
    shown = set().union(*named_by_panels.values())
    families = {
        name.removesuffix("_bucket")
        for name in exported
        if name.startswith("poagate_") and not name.endswith(("_created", "_sum", "_count"))
    }
    assert families <= {n.removesuffix("_bucket") for n in shown}, families - shown
