"""Fail when a module of poagate is over the size limit (``make lint`` runs this).

A module a reader cannot take in at one sitting hides more than one concept; the house keeps
each under ``LIMIT`` lines (docs/architecture.md, "The layers"). When one grows past it, split
it by concept — never just to pass the count. The largest five are printed on every run, so a
module nearing the limit is seen before it is reached.

Standard library only, so it runs before anything is installed::

    python3 scripts/check_module_size.py [--limit 500] [ROOT]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LIMIT = 500
SHOWN = 5
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "src"


def line_counts(root: Path) -> list[tuple[int, Path]]:
    """Every Python module under ``root`` with its number of lines, largest first."""
    counts = []
    for path in root.rglob("*.py"):
        with path.open("rb") as module:
            counts.append((sum(1 for _ in module), path))
    return sorted(counts, key=lambda count: (-count[0], str(count[1])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--limit", type=int, default=LIMIT, help="most lines a module may have")
    args = parser.parse_args(argv)
    counts = line_counts(args.root)
    if not counts:
        print(f"no Python modules under {args.root}", file=sys.stderr)
        return 2
    base = args.root.parent
    print(f"Largest modules (the limit is {args.limit} lines):")
    for lines, path in counts[:SHOWN]:
        print(f"  {lines:5d}  {path.relative_to(base)}")
    over = [(lines, path) for lines, path in counts if lines > args.limit]
    for lines, path in over:
        print(
            f"{path.relative_to(base)} has {lines} lines, over the limit of {args.limit}: "
            "split it by concept (a module per concept, docs/architecture.md)",
            file=sys.stderr,
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
