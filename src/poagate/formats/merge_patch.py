"""JSON Merge Patch (RFC 7396), as ``PATCH /v1/config`` and ``poagate config patch`` apply it,
and the difference between two JSON documents by path, as a configuration change is audited.

A merge patch names only what changes: an object is merged key by key, ``null`` removes the
key, anything else (a number, a string, a list) replaces the value. So
``{"delivery": {"webhooks": {"13": {...}}}}`` sets DNO 13's webhook and keeps DNO 12's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MEDIA_TYPE = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` applied (RFC 7396 section 2); neither is modified."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def leaves(document: Any, prefix: str = "") -> dict[str, Any]:
    """Every value of ``document`` that is not an object, by its dotted path
    (``delivery.webhooks.12.url``); an empty object is not a value (lists are values)."""
    if not isinstance(document, Mapping):
        return {prefix: document}
    found: dict[str, Any] = {}
    for key, value in document.items():
        found.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def differences(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    """Each path whose value differs, ``{"before": ..., "after": ...}`` (null for a value that
    is not there), in the order of the paths."""
    old, new = leaves(before), leaves(after)
    return {
        path: {"before": old.get(path), "after": new.get(path)}
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    }
