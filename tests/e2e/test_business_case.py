"""``poagate report business-case``: the seed's figure, its payback, an offline report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from poagate.sim.business_case import Inputs, case, guard_retention


def test_the_seed_figure_and_its_payback() -> None:
    base = case(Inputs())
    assert base.ad1_per_month == 17_113
    assert base.saving_per_month_gbp == 1_369_040
    assert base.net_per_month_gbp == 1_369_040 - 1_722
    assert base.payback_days is not None
    assert round(base.payback_days, 2) == round(197_524 / 1_367_318 * 365.25 / 12, 2)
    # Proportional to campaign size and reboot share; no saving, no payback.
    assert case(Inputs(), 2.0).saving_per_month_gbp == 2 * 1_369_040
    assert case(Inputs(), 1.0, 0.3).saving_per_month_gbp == 1_369_040 / 2
    assert case(Inputs(ad1_per_month=0)).payback_days is None


def test_guard_retention_from_a_simulation() -> None:
    simulation = {
        "results": [
            {"scenario": "normal", "guards": "off", "spurious_suppressed": 200},
            {"scenario": "normal", "guards": "both", "spurious_suppressed": 150},
            {"scenario": "storm", "guards": "off", "spurious_suppressed": 999},
        ]
    }
    assert guard_retention(simulation) == {"off": 1.0, "both": 0.75}


def test_the_report_is_one_offline_html_file_with_its_charts(tmp_path: Path) -> None:
    simulation = tmp_path / "simulation.json"
    simulation.write_text(
        json.dumps(
            {
                "results": [
                    {"scenario": "normal", "guards": "off", "spurious_suppressed": 100},
                    {"scenario": "normal", "guards": "release-if-dark", "spurious_suppressed": 80},
                ]
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "report", "business-case",
         "--out", str(tmp_path / "report"), "--simulation", str(simulation)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "£1,369,040 a month" in done.stdout
    assert "4.4 days" in done.stdout
    html = (tmp_path / "report" / "business-case.html").read_text()
    assert "£1,369,040" in html
    assert "release-if-dark" in html
    # Offline: every image is embedded, nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html)
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    pngs = sorted((tmp_path / "report").glob("*.png"))
    assert len(pngs) == 3
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_a_file_that_is_not_a_simulation_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    done = subprocess.run(
        [sys.executable, "-m", "poagate.cli", "report", "business-case",
         "--out", str(tmp_path / "r"), "--simulation", str(bad)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "not a simulation.json" in done.stderr
