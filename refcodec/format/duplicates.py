"""Duplicates segment: how many extra Gaussians share a voxel, DEFLATE-compressed (spec 5.2).

Payload = raw DEFLATE (RFC 1951) of a sequence of (voxel index u32, extra count u32) pairs,
little-endian, voxel indices strictly increasing, every extra count >= 1.
"""
from __future__ import annotations

import zlib

import numpy as np

from refcodec.format.schema import DuplicatePair
from refcodec.format.errors import CorruptError

PAIR = DuplicatePair.sizeof()  # 8 bytes
_DTYPE = np.dtype([("voxel", "<u4"), ("extra", "<u4")])
assert _DTYPE.itemsize == PAIR


def encode(multiplicity: np.ndarray) -> bytes | None:
    """``multiplicity[v]`` = Gaussians in voxel v (>= 1). Returns None when no voxel repeats."""
    extra = np.asarray(multiplicity, dtype=np.int64) - 1
    idx = np.flatnonzero(extra > 0)
    if len(idx) == 0:
        return None
    pairs = np.empty(len(idx), dtype=_DTYPE)
    pairs["voxel"] = idx
    pairs["extra"] = extra[idx]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(pairs.tobytes()) + c.flush()


def decode(payload: bytes | None, num_voxels: int, count: int) -> np.ndarray:
    """Return the (num_voxels,) multiplicity array summing to ``count``.

    ``payload`` None means the unit has no duplicates segment (every voxel holds one Gaussian).
    Decompression is bounded: a valid payload holds at most ``count - num_voxels`` pairs.
    """
    mult = np.ones(num_voxels, dtype=np.int64)
    if payload is None:
        if count != num_voxels:
            raise CorruptError(f"unit of {count} Gaussians has {num_voxels} voxels and no duplicates")
        return mult
    limit = PAIR * max(0, count - num_voxels)
    d = zlib.decompressobj(-15)
    try:
        raw = d.decompress(payload, limit + 1)
    except zlib.error as e:
        raise CorruptError(f"duplicates payload is not valid DEFLATE: {e}") from None
    if len(raw) > limit or not d.eof or d.unused_data or d.unconsumed_tail:
        raise CorruptError("duplicates payload is longer than its unit allows or does not end cleanly")
    if len(raw) == 0 or len(raw) % PAIR:
        raise CorruptError("duplicates payload is not a whole number of pairs")
    pairs = np.frombuffer(raw, dtype=_DTYPE)
    v = pairs["voxel"].astype(np.int64)
    e = pairs["extra"].astype(np.int64)
    if v[-1] >= num_voxels or np.any(np.diff(v) <= 0) or np.any(e < 1):
        raise CorruptError("duplicates pairs out of order or out of range")
    mult[v] += e
    if int(mult.sum()) != count:
        raise CorruptError(f"duplicates give {int(mult.sum())} Gaussians, unit declares {count}")
    return mult
