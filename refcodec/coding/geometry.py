"""Geometry segment: the unit's distinct voxels as sorted Morton-code deltas (spec 5.1)."""
from __future__ import annotations

import numpy as np
from construct import ConstructError

from refcodec.coding import morton
from refcodec.coding.intstream import decode_uints, encode_uints
from refcodec.container.schema import GeometryPayload
from refcodec.errors import CorruptError

MORTON_LIMIT = np.uint64(1 << 48)


def encode(codes: np.ndarray) -> bytes:
    """``codes``: strictly increasing uint64 Morton codes of the unit's distinct voxels."""
    codes = np.asarray(codes, dtype=np.uint64)
    deltas = np.empty_like(codes)
    if len(codes):
        deltas[0] = codes[0]
        deltas[1:] = codes[1:] - codes[:-1] - np.uint64(1)  # spec 5.1: gaps between codes
    stream = encode_uints(deltas, np.zeros(len(codes), np.uint8), 1)
    return GeometryPayload.build(dict(num_voxels=len(codes), codes=stream))


def decode(payload: bytes, count: int) -> np.ndarray:
    """Return the (V,) uint64 Morton codes; ``count`` (the unit's Gaussian count) bounds V."""
    try:
        g = GeometryPayload.parse(payload)
    except ConstructError as e:
        raise CorruptError(f"geometry payload is malformed: {e}") from None
    v = g.num_voxels
    if not 1 <= v <= count:
        raise CorruptError(f"geometry declares {v} voxels for a unit of {count} Gaussians")
    deltas = decode_uints(g.codes, np.zeros(v, np.uint8), 1)
    if np.any(deltas >= MORTON_LIMIT):
        raise CorruptError("geometry delta out of range")
    # spec 5.1: code[0] = d[0]; code[i] = code[i-1] + d[i] + 1; every code < 2^48.
    # A float64 sum bounds the total first so the exact uint64 running sum cannot wrap.
    if float(deltas.sum(dtype=np.float64)) + v > 2.0 * float(MORTON_LIMIT):
        raise CorruptError("geometry codes exceed 48 bits")
    codes = np.cumsum(deltas + np.uint64(1), dtype=np.uint64) - np.uint64(1)
    if codes[-1] >= MORTON_LIMIT:
        raise CorruptError("geometry codes exceed 48 bits")
    return codes


def voxels(codes: np.ndarray) -> np.ndarray:
    return morton.decode(codes)
