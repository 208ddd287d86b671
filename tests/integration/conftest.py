"""The replay tests' two-site scenario; the scenario itself is in tests/replay_scenario.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import CHF, CHF_2, ESME, ESME_2, mpan
from tests.replay_scenario import Scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    """Two sites: ESME/CHF (London, 12) and ESME_2/CHF_2 (South Wales, 21), both L+G SMETS2,
    both on the GUID list."""
    s = Scenario(tmp_path, CliRunner())
    s.write_inventory(
        f"{ESME},ESME,SMETS2,LANDIS+GYR,E470,{CHF},{mpan('12')},,SW1A 1AA",
        f"{CHF},CHF,SMETS2,TOSHIBA,,,,,SW1A 1AA",
        f"{ESME_2},ESME,SMETS2,Landis+Gyr,E470,{CHF_2},{mpan('21')},,CF10 1AA",
        f"{CHF_2},CHF,SMETS2,WNC,,,,,CF10 1AA",
    )
    s.write_guid_list(ESME, ESME_2)
    return s
