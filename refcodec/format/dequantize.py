"""Dequantization (spec 7): IEEE-754 binary32 operations, each correctly rounded to
nearest-even, no fused multiply-add, so every decoder gives the same bits."""
from __future__ import annotations

import numpy as np


def unit_steps(steps, shifts) -> np.ndarray:
    """spec 7.2: a unit's steps, binary32(steps[j] * 2^shift[j])."""
    return np.ldexp(np.asarray(steps, dtype=np.float32), np.asarray(shifts, dtype=np.int32)).astype(np.float32)


def dequantize_positions(q: np.ndarray, origin, voxel, out: np.ndarray | None = None) -> np.ndarray:
    """spec 7.1: x = binary32(q) * voxel_size + origin, a multiply then an add. Written into
    ``out`` (n, 3) float32 in place when given (no larger temporaries)."""
    out = np.empty((len(q), 3), np.float32) if out is None else out
    out[...] = q
    out *= np.asarray(voxel, np.float32)
    out += np.asarray(origin, np.float32)
    return out


def dequantize_attributes(q: np.ndarray, steps, out: np.ndarray | None = None) -> np.ndarray:
    """spec 7.2: value = binary32(q) * unit step, one multiply; into ``out`` when given."""
    out = np.empty(q.shape, np.float32) if out is None else out
    out[...] = q
    out *= np.asarray(steps, np.float32)
    return out
