"""The house rules `make lint` checks can fail: the import-linter contracts of pyproject.toml
catch an upward import wherever it hides (in a function, under TYPE_CHECKING), a third-party
import in the domain and a new package that stands in no layer; the module-size check catches
a module over the limit. Each is tried on a copy of the source with the violation added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SIZE_CHECK = ROOT / "scripts" / "check_module_size.py"


def source_copy(tmp_path: Path) -> Path:
    """A copy of src/poagate and of pyproject.toml (the contracts) under ``tmp_path``."""
    shutil.copytree(
        ROOT / "src" / "poagate",
        tmp_path / "src" / "poagate",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "src" / "poagate"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as module:
        module.write(text)


def lint_imports(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the copy: it comes first on the path, before the installed package."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def size_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SIZE_CHECK), str(root)], capture_output=True, text=True, check=False
    )


def test_the_contracts_catch_hidden_upward_imports_and_a_package_outside_the_layers(
    tmp_path: Path,
) -> None:
    package = source_copy(tmp_path)
    append(
        package / "service" / "reporting.py",
        "\n\ndef _upward() -> None:\n    from poagate.api import problems  # noqa: F401\n",
    )
    append(
        package / "store" / "outbox.py",
        "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        "    from poagate.service import export  # noqa: F401\n",
    )
    append(package / "domain" / "values.py", "\nimport orjson  # noqa: F401,E402\n")
    (package / "extra").mkdir()
    (package / "extra" / "__init__.py").write_text('"""A package in no layer."""\n')
    run = lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    for broken in (
        "poagate.service.reporting -> poagate.api.problems",  # inside a function
        "poagate.store.outbox -> poagate.service.export",  # under TYPE_CHECKING
        "poagate.domain.values -> orjson",
        "poagate.extra",
    ):
        assert broken in run.stdout, broken


def test_the_size_check_names_a_module_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "small.py").write_text("x = 1\n" * 10)
    (tmp_path / "src" / "large.py").write_text("x = 1\n" * 501)
    run = size_check(tmp_path / "src")
    assert run.returncode == 1
    assert "src/large.py has 501 lines" in run.stderr
    assert "small.py" not in run.stderr
    assert "501  src/large.py" in run.stdout  # the largest are listed


def test_the_size_check_passes_a_module_at_the_limit(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "full.py").write_text("x = 1\n" * 500)
    run = size_check(tmp_path / "src")
    assert run.returncode == 0, run.stderr
