"""The README's DSP and DNO examples, run as written against a server on the demo's data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, duis_template, run_demo, wait_until_ready
from tests.pg import free_port

pytestmark = pytest.mark.slow
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```sh\n(.*?)```\n<!-- end example -->", re.S)


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall((ROOT / "README.md").read_text()))


def test_the_readme_has_the_examples() -> None:
    assert set(examples()) == {"dsp", "dno", "reporting", "controls"}


def test_the_dsp_example_posts_a_pinned_dcc_template() -> None:
    [posted] = re.findall(r"--data-binary @(\S+\.XML)", examples()["dsp"])
    path = ROOT / posted
    assert path == duis_template(path.name)  # where make templates puts it, the pinned bytes


def test_readme_examples_work_as_written(tmp_path: Path) -> None:
    duis_template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")  # the DSP example posts it
    database = tmp_path / "demo.db"
    env = {**os.environ, "POAGATE_DATABASE": str(database)}
    assert run_demo(tmp_path).returncode == 0  # fills tmp_path / "demo.db"
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "poagate"),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}", server), "the server did not start"
        outputs = {}
        for name, script in examples().items():
            script = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            outputs[name] = done.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        (ROOT / "batch.jsonl").unlink(missing_ok=True)
        downloaded = sorted(ROOT.glob("suppression-log-12-from-*.csv"))  # the reporting example's
        for path in downloaded:
            path.unlink()
    dsp = [json.loads(line) for line in outputs["dsp"].splitlines() if line.startswith("{")]
    assert dsp[0]["items"][0]["outcome"] == "recorded"  # the DCC's 11.3 template
    assert [i["outcome"] for i in dsp[1]["items"]] == ["forwarded", "recorded"]
    dno = outputs["dno"]
    assert '"network_operator":"12"' in dno
    assert "alert_id,chf_id,esme_id,mpan,network_operator" in dno  # the CSV page
    assert '"network_operators":["12"]' in dno  # the summary, scoped
    assert [p.name for p in downloaded] == [
        "suppression-log-12-from-20260301T000000Z-to-20260401T000000Z.csv"
    ]
    assert '"days":[{"day":"2026-03-01"' in outputs["reporting"]
    controls = outputs["controls"]
    assert '"suppression_enabled":false' in controls
    assert '"dry_run":true' in controls
    assert '"changed":true,"changes":{"suppression_enabled":{"before":false,"after":true}}}' in (
        controls
    )  # resumed
