"""spec §5 ordering: the first pass finds whether a file is in received_at order, exactly."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from poagate.service.inputs import merged, read_in_order, scan
from tests.helpers import write_lines


def dm(received: str) -> dict[str, object]:
    return {
        "type": "device_message",
        "device_id": "00-DB-12-34-56-78-90-A0",
        "received_at": received,
    }


@pytest.mark.parametrize(
    ("received", "in_order"),
    [
        (["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.5Z", "2026-03-01T10:00:01Z"], True),
        (["2026-03-01T10:00:00.500000Z", "2026-03-01T10:00:00Z"], False),
        (["2026-03-01T11:00:00+01:00", "2026-03-01T10:00:00.1Z"], True),  # offsets parsed
        (["2026-03-01T10:30:00Z", "2026-03-01T11:00:00+01:00"], False),
        # A week date has the calendar shape's length and a T at 10 but is earlier: parsed.
        (["2026-03-02T10:15:30Z", "2026-W09-1T10:15:30Z"], False),
        (["2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"], True),  # ties are in order
    ],
)
def test_order_check_agrees_with_the_instants(
    tmp_path: Path, received: list[str], in_order: bool
) -> None:
    scanned = scan(write_lines(tmp_path / "e.jsonl", [dm(r) for r in received]), 0)
    assert scanned.in_order is in_order
    keys = [item[0] for item in read_in_order(scanned)]
    assert keys == sorted(keys)


def test_escaped_key_is_read_like_the_full_parse_reads_it(tmp_path: Path) -> None:
    lines = [
        dm("2026-03-01T10:00:00Z"),
        b'{"type":"device_message","device_id":"00DB1234567890A0",'
        b'"received\\u005fat":"2026-03-01T09:00:00Z"}',
    ]
    scanned = scan(write_lines(tmp_path / "e.jsonl", lines), 0)
    assert scanned.in_order is False


def test_repeated_key_uses_the_value_the_parser_keeps(tmp_path: Path) -> None:
    # orjson keeps the last of repeated keys: 09:00, which is before the line above it.
    lines = [
        dm("2026-03-01T10:00:00Z"),
        b'{"type":"device_message","device_id":"00DB1234567890A0",'
        b'"received_at":"2026-03-01T11:00:00Z","received_at":"2026-03-01T09:00:00Z"}',
    ]
    scanned = scan(write_lines(tmp_path / "e.jsonl", lines), 0)
    assert scanned.in_order is False
    assert [item[2] for item in read_in_order(scanned)] == [2, 1]


def test_blank_lines_are_not_events_and_unreadable_lines_keep_their_place(tmp_path: Path) -> None:
    lines = [dm("2026-03-01T10:00:00Z"), "", "   ", "{broken", dm("2026-03-01T10:01:00Z"), "\t"]
    scanned = scan(write_lines(tmp_path / "e.jsonl", lines), 0)
    assert scanned.events == 3
    assert scanned.in_order
    assert [item[2] for item in read_in_order(scanned)] == [1, 4, 5]


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        orjson.dumps(dm("2026-03-01T10:00:00Z")) + b"\n" + orjson.dumps(dm("2026-03-01T10:01:00Z"))
    )
    scanned = scan(path, 0)
    assert scanned.events == 2
    assert len(list(read_in_order(scanned))) == 2


def test_lines_are_ordered_across_large_blocks(tmp_path: Path) -> None:
    # Over a mebibyte, so the check spans several blocks; one line late in the file is early.
    received = [f"2026-03-01T10:{m // 60:02d}:{m % 60:02d}.000001Z" for m in range(3600)]
    lines: list[dict[str, object]] = [dm(r) for r in received for _ in range(3)]
    lines[-5] = dm("2026-03-01T09:00:00Z")
    scanned = scan(write_lines(tmp_path / "e.jsonl", lines), 0)
    assert (tmp_path / "e.jsonl").stat().st_size > 1 << 20
    assert scanned.in_order is False
    keys = [item[0] for item in read_in_order(scanned)]
    assert keys == sorted(keys)
    assert len(keys) == len(lines)


def test_merge_keeps_file_order_for_ties_and_skips_applied_events(tmp_path: Path) -> None:
    one = scan(
        write_lines(tmp_path / "1.jsonl", [dm("2026-03-01T10:00:00Z"), dm("2026-03-01T10:02:00Z")]),
        0,
    )
    two = scan(
        write_lines(tmp_path / "2.jsonl", [dm("2026-03-01T10:00:00Z"), dm("2026-03-01T10:01:00Z")]),
        1,
    )
    order = [(item[1], item[2]) for item in merged([one, two], [0, 0])]
    assert order == [(0, 1), (1, 1), (1, 2), (0, 2)]
    resumed = [(item[1], item[2]) for item in merged([one, two], [1, 1])]
    assert resumed == [(1, 2), (0, 2)]
