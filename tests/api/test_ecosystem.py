"""Fitting the ecosystem (issue 12, item 5): /docs works with no internet, the new endpoints
are described in OpenAPI with their schemas, HTTP requests are counted on /metrics, and every
``serve`` option can come from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer.completion
from typer.testing import CliRunner

from poagate import __version__
from poagate.cli import app
from tests.api_harness import Api
from tests.helpers import stop_process, wait_until_ready
from tests.pg import free_port


def test_docs_load_every_asset_from_poagate_itself(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, page.text
    for url in urls:
        assert url.startswith("/docs/assets/"), url  # nothing from another host
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000
    assert "url: '/openapi.json'" in page.text
    assert api.client.get("/redoc").status_code == 404  # it would load from a CDN


def test_openapi_describes_the_incident_controls_with_schemas(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in (
        ("/v1/windows", "get"),
        ("/v1/windows/{request_id}/end", "post"),
        ("/v1/releases", "post"),
        ("/v1/alerts/{alert_id}", "get"),
        ("/v1/suppression", "get"),
    ):
        answer = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert "$ref" in answer["schema"], (path, answer)
    schemas = spec["components"]["schemas"]
    assert {"Explanation", "WindowView", "ReleaseAnswer", "WindowsPage"} <= set(schemas)
    assert "suppression_enabled" in schemas["Settings"]["properties"]
    summary = {p["name"] for p in paths["/v1/summary"]["get"]["parameters"]}
    assert {"from", "to", "bucket"} <= summary
    log = {p["name"] for p in paths["/v1/suppression-log"]["get"]["parameters"]}
    assert {"all", "released"} <= log


def test_http_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    admin = api.token("admin")
    alerts = (
        'poagate_http_requests_total{method="GET",route="/v1/alerts/{alert_id:path}",status="404"}'
    )
    unmatched = 'poagate_http_requests_total{method="GET",route="unmatched",status="404"}'
    timed = (
        "poagate_http_request_duration_seconds_count"
        '{method="GET",route="/v1/alerts/{alert_id:path}"}'
    )

    def values() -> tuple[dict[str, float], str]:
        # The counters are the process's, so a test compares them before and after.
        text = api.get(admin, "/metrics").text
        found = {}
        for line in text.splitlines():
            name, _, number = line.rpartition(" ")
            if name in (alerts, unmatched, timed):
                found[name] = float(number)
        return found, text

    before, _ = values()
    for alert_id in ("A1", "A2", "A3"):
        assert api.get(admin, f"/v1/alerts/{alert_id}").status_code == 404
    api.client.get("/no/such/path")
    after, text = values()
    assert after[alerts] - before.get(alerts, 0) == 3
    assert after[unmatched] - before.get(unmatched, 0) == 1
    assert after[timed] - before.get(timed, 0) == 3
    assert "A1" not in text  # ids never become labels


def test_version_and_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["--version"])
    assert (shown.exit_code, shown.output.strip()) == (0, __version__)
    # ``--show-completion`` takes no value: Typer asks shellingham which shell runs the tests,
    # from the process tree, and a suite started from ``sh`` got "Shell sh not supported".
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    script = runner.invoke(app, ["--show-completion"])
    assert script.exit_code == 0, (script.output, repr(script.exception))
    assert "_POAGATE_COMPLETE" in script.output
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


@pytest.mark.slow
def test_serve_takes_every_option_from_the_environment(tmp_path: Path) -> None:
    """No options at all: the port, database and log level come from POAGATE_* variables, and
    POAGATE_LOG_LEVEL=warning is not overwritten by the option's default (info)."""
    port = free_port()
    env = {
        **os.environ,
        "POAGATE_PORT": str(port),
        "POAGATE_HOST": "127.0.0.1",
        "POAGATE_DATABASE": f"sqlite:///{tmp_path / 'env.db'}",
        "POAGATE_LOG_LEVEL": "warning",
        "POAGATE_DELIVERIES": "false",
        "POAGATE_WORKERS": "1",
    }
    init = [sys.executable, "-m", "poagate.cli", "db", "init"]  # serve never creates one
    subprocess.run(init, env=env, capture_output=True, timeout=60, check=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "poagate.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}", process)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        stop_process(process)
    assert process.stderr is not None
    logged = process.stderr.read().decode()
    assert (tmp_path / "env.db").exists()
    assert "serving" not in logged  # the info line of startup, below warning
    refused = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "serve"],
        env={**env, "POAGATE_LOG_LEVEL": "loud"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "--log-level must be one of" in refused.stderr
