"""Figures the fuzzing and fault tests record as they run (requests fuzzed per operation and
role, faults survived, alerts sent, delivered and lost); ``tests/conftest.py`` prints them at
the end of the run, whatever its output options."""

from __future__ import annotations

FIGURES: list[str] = []
