"""48-bit Morton codes of 16-bit voxel coordinates (spec 5.1).

Bit 3b of the code is bit b of x, bit 3b+1 is bit b of y, bit 3b+2 is bit b of z.
"""
import numpy as np


def distinct_sorted(a: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (a plain neighbour comparison: numpy's
    hash-based ``unique`` is ~50x slower on large uint64 arrays)."""
    a = np.asarray(a)
    if a.size < 2:
        return a.copy()
    return a[np.r_[True, a[1:] != a[:-1]]]


def merge_distinct(parts) -> np.ndarray:
    """The sorted distinct values of several ascending uint64 arrays (a stable sort of
    concatenated sorted runs is a merge)."""
    parts = [np.asarray(p, np.uint64) for p in parts]
    if not parts:
        return np.zeros(0, np.uint64)
    return distinct_sorted(np.sort(np.concatenate(parts), kind="stable"))

def encode(q: np.ndarray) -> np.ndarray:
    """(N, 3) integer voxel coordinates in [0, 65536) -> (N,) uint64 Morton codes."""
    q = np.asarray(q)
    out = np.zeros(len(q), dtype=np.uint64)
    for axis in range(3):
        out |= spread_bits(q[:, axis]) << np.uint64(axis)
    return out


def decode(codes: np.ndarray) -> np.ndarray:
    """(N,) uint64 Morton codes -> (N, 3) uint16 voxel coordinates."""
    codes = np.asarray(codes, dtype=np.uint64)
    out = np.empty((len(codes), 3), dtype=np.uint16)
    for axis in range(3):
        out[:, axis] = compact_bits(codes >> np.uint64(axis))
    return out


def spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between each of the 16 low bits of v."""
    x = np.asarray(v).astype(np.uint64) & np.uint64(0xFFFF)
    x = (x | (x << np.uint64(16))) & np.uint64(0x0000FF0000FF)
    x = (x | (x << np.uint64(8))) & np.uint64(0x00F00F00F00F)
    x = (x | (x << np.uint64(4))) & np.uint64(0x0C30C30C30C3)
    x = (x | (x << np.uint64(2))) & np.uint64(0x249249249249)
    return x


def compact_bits(x: np.ndarray) -> np.ndarray:
    """Inverse of spread_bits: take every third bit."""
    x = np.asarray(x, dtype=np.uint64) & np.uint64(0x249249249249)
    x = (x | (x >> np.uint64(2))) & np.uint64(0x0C30C30C30C3)
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00F00F00F00F)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FF0000FF)
    x = (x | (x >> np.uint64(16))) & np.uint64(0xFFFF)
    return x.astype(np.uint16)


def encode_reference(q) -> list:
    """Plain bit-by-bit reference (tests only)."""
    out = []
    for x, y, z in q:
        c = 0
        for b in range(16):
            c |= (((int(x) >> b) & 1) << (3 * b) | ((int(y) >> b) & 1) << (3 * b + 1)
                  | ((int(z) >> b) & 1) << (3 * b + 2))
        out.append(c)
    return out
