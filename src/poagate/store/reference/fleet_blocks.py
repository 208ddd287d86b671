"""The fleet's packed layout: devices and hubs as sorted blocks of fixed-size records.

A version of the inventory is two sequences of blocks in the store:

* **device blocks**: ``DEVICE`` records (``poagate.formats.reference.device_records``), 32 a block;
* **hub blocks**: one ``HUB`` record per device joined to a hub (the hub, the device, its type
  and network operator), 48 a block, each hub's in order of Device ID, so that R8's "the ESME
  with the smallest Device ID" is the first ESME among its hub's records.

Both are ordered by ``spread(key)``: the Device ID (the hub's, for hub records) times an odd
constant, modulo 2⁶⁴. That is a one-to-one mapping, so it finds exactly the device asked for,
and it scatters Device IDs evenly, which real ones are not (every Landis+Gyr ESME starts with the
same three bytes). So a load can sort a national inventory in pieces: each row goes to the
bucket named by the top bits of its spread key, each bucket holds about the same share, and
sorting each bucket alone, in bucket order, sorts the whole. A reader finds a key's block from
the first spread key of every block (the *fence*, 8 bytes a block: 10 MB at 40 million rows)
and searches that one block.

Nothing here touches the database: ``poagate.store.reference.fleet`` stores and fetches the bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from poagate.formats.reference.device_records import DEVICE, HAS_CHF, Keys, Records

HUB = np.dtype([("chf", "<u8"), ("device", "<u8"), ("operator", "u1"), ("type", "u1")])
DEVICES, HUBS = 0, 1  # the kinds of block
# A reader fetches a whole block for each device it asks for: small blocks cost the fence more
# memory (8 bytes a block: 10 MB for 40 million devices) and each lookup fewer bytes.
ROWS_PER_BLOCK = {DEVICES: 32, HUBS: 48}
RECORD = {DEVICES: DEVICE, HUBS: HUB}
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it permutes the 64-bit numbers
BUCKET_ROWS = 1_000_000  # about this many rows per bucket, sorted in memory at once


def block_id(load_id: int, kind: int, block: int) -> int:
    """A block's key in the store: its load, kind and number in one integer."""
    return load_id << 35 | kind << 32 | block  # kinds 0-7, 2**32 blocks a kind


def fence_kind(kind: int) -> int:
    """Where a kind's fence is kept: a row of its own (block 0 of this kind), so that a reader
    fetches it in one go rather than a row a block."""
    return kind + 2


def block_ids(load_id: int, kind: int | None = None) -> tuple[int, int]:
    """The range [first, end) of the ids of a load's blocks (of one kind)."""
    if kind is None:
        return load_id << 35, (load_id + 1) << 35
    return block_id(load_id, kind, 0), block_id(load_id, kind, 0) + (1 << 32)


def spread(keys: Keys) -> Keys:
    """The order blocks are kept in (see the module docstring)."""
    with np.errstate(over="ignore"):
        return keys * _SPREAD


def bucket_bits(expected_rows: int) -> int:
    """How many top bits of the spread key name a bucket, for about ``BUCKET_ROWS`` each."""
    buckets = max(1, -(-expected_rows // BUCKET_ROWS))
    return min(12, (buckets - 1).bit_length())


def buckets_of(keys: Keys, bits: int) -> npt.NDArray[np.int64]:
    if bits == 0:
        return np.zeros(len(keys), np.int64)
    return (spread(keys) >> np.uint64(64 - bits)).astype(np.int64)


def by_bucket(records: Records, key_field: str, bits: int) -> Iterator[tuple[int, Records]]:
    """``records`` split by the bucket of ``key_field``, each part in its original order."""
    if len(records) == 0:
        return
    buckets = buckets_of(records[key_field], bits)
    order = np.argsort(buckets, kind="stable")
    ordered = records[order]
    edges = np.searchsorted(buckets[order], np.arange((1 << bits) + 1))
    for bucket in range(1 << bits):
        start, end = edges[bucket], edges[bucket + 1]
        if end > start:
            yield bucket, ordered[start:end]


def settle_devices(staged: Records) -> Records:
    """One bucket's staged records as ``DEVICE`` records in spread order, one a device: the
    row on the latest line wins (spec §3)."""
    if len(staged) == 0:
        return np.empty(0, DEVICE)
    order = np.argsort(spread(staged["key"]))
    ordered_keys = staged["key"][order]
    first = np.ones(len(order), np.bool_)
    first[1:] = ordered_keys[1:] != ordered_keys[:-1]
    if not first.all():  # a device on several lines: the latest line's row
        lines = staged["line"][order]
        group = np.cumsum(first) - 1
        latest = np.maximum.reduceat(lines, np.flatnonzero(first))
        order = order[lines == latest[group]]
    kept = staged[order]
    devices = np.empty(len(kept), DEVICE)
    for name in DEVICE.names or ():
        devices[name] = kept[name]
    return devices


def hub_records(devices: Records) -> Records:
    """A hub record for each device joined to a hub."""
    joined = devices[devices["flags"] & HAS_CHF != 0]
    hubs = np.empty(len(joined), HUB)
    hubs["chf"] = joined["chf"]
    hubs["device"] = joined["key"]
    hubs["operator"] = joined["operator"]
    hubs["type"] = joined["type"]
    return hubs


def settle_hubs(hubs: Records) -> Records:
    """One bucket's hub records in spread order of the hub, each hub's devices by Device ID."""
    return hubs[np.lexsort((hubs["device"], spread(hubs["chf"])))]


def cut(records: Records, kind: int) -> Iterator[tuple[int, bytes]]:
    """Blocks of settled records: each block's first spread key and its bytes."""
    size = ROWS_PER_BLOCK[kind]
    keys = spread(records["key" if kind == DEVICES else "chf"])
    for start in range(0, len(records), size):
        yield int(keys[start]), records[start : start + size].tobytes()


def runs(records: Records, kind: int, keys: Keys) -> tuple[npt.NDArray[np.int64], Any]:
    """Where each key's records start in ``records`` (as ``search``) and how many there are."""
    held = spread(records["key" if kind == DEVICES else "chf"])
    wanted = spread(keys)
    starts = np.searchsorted(held, wanted, side="left").astype(np.int64)
    return starts, np.searchsorted(held, wanted, side="right").astype(np.int64) - starts


def search(
    records: Records, kind: int, keys: Keys
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Where each key's first record is in ``records`` (blocks of one kind, concatenated in
    block order) and whether it is there."""
    held = spread(records["key" if kind == DEVICES else "chf"])
    wanted = spread(keys)
    positions = np.searchsorted(held, wanted, side="left").astype(np.int64)
    if len(held) == 0:
        return positions, np.zeros(len(keys), np.bool_)
    inside = np.minimum(positions, len(held) - 1)
    return positions, (positions < len(held)) & (held[inside] == wanted)
