"""The encoder's side of the geometry segment (spec 5.1): the symbols of each method and the
choice between them (spec A.4)."""
from __future__ import annotations

import numpy as np

from refcodec.format import rans
from refcodec.format.geometry import (
    _POPCOUNT, CTX_MODE_FULL, METHOD_GAPS, NUM_CONTEXTS, LowerOccupancy, _contexts, _lower_flags, depth_for,
)
from refcodec.format.intstream import encode_uints
from refcodec.format.morton import distinct_sorted
from refcodec.format.schema import GeometryPayload

GEOMETRY_STEPS = 4096     # lane choice
OCTREE_MIN_SAVING = 0.01  # an octree must beat the gaps by 1% (spec A.4)


def encode(codes: np.ndarray, lower: LowerOccupancy | None = None, methods=(METHOD_GAPS, CTX_MODE_FULL)) -> bytes:
    """``codes``: strictly increasing uint64 Morton codes of the unit's distinct voxels. Codes
    them with the smallest of ``methods`` (encoder choice, spec A.4), where an octree must be
    ``OCTREE_MIN_SAVING`` smaller than the gaps (it decodes several times slower); an octree
    is only entropy coded when its estimated size could win."""
    codes = np.asarray(codes, dtype=np.uint64)
    best = _encode_gaps(codes) if METHOD_GAPS in methods else None
    bar = None if best is None else (1.0 - OCTREE_MIN_SAVING) * len(best)
    for m in methods:
        if m == METHOD_GAPS:
            continue
        D, vals, ctx = _octree_symbols(codes, lower or LowerOccupancy(), m)
        if bar is not None and _estimate_bytes(vals, ctx) >= bar:
            continue
        lanes = rans.choose_lanes_log2(vals.size, target_steps=GEOMETRY_STEPS)
        stream = encode_uints(vals.astype(np.uint64), ctx.astype(np.uint8), NUM_CONTEXTS, lanes)
        data = GeometryPayload.build(dict(num_voxels=codes.size, method=m, depth=D, stream=stream))
        if bar is None or len(data) < bar:
            best, bar = data, len(data)
    return best


def _estimate_bytes(vals: np.ndarray, ctx: np.ndarray) -> float:
    """Order-0 entropy per context of the mask halves (values < 16 are their own tokens, no
    extra bits) plus about 2 bytes a table entry and the lane states."""
    if vals.size == 0:
        return 0.0
    cnt = np.bincount(ctx.astype(np.int64) * 16 + vals, minlength=NUM_CONTEXTS * 16).reshape(NUM_CONTEXTS, 16)
    tot = cnt.sum(axis=1, keepdims=True)
    nz = cnt > 0
    bits = -(cnt[nz] * np.log2((cnt / np.maximum(tot, 1))[nz])).sum()
    lanes = 1 << rans.choose_lanes_log2(vals.size, target_steps=GEOMETRY_STEPS)
    return bits / 8 + 2 * nz.sum() + 4 * lanes


def _encode_gaps(codes: np.ndarray) -> bytes:
    deltas = np.empty_like(codes)
    if len(codes):
        deltas[0] = codes[0]
        deltas[1:] = codes[1:] - codes[:-1] - np.uint64(1)  # spec 5.1.1: gaps between codes
    stream = encode_uints(deltas, np.zeros(len(codes), np.uint8), 1)
    return GeometryPayload.build(dict(num_voxels=codes.size, method=METHOD_GAPS, depth=0, stream=stream))


def _octree_symbols(codes: np.ndarray, lower: LowerOccupancy, mode: int):
    """spec 5.1.2 from the encoder's side: (D, the mask halves in stream order, their contexts)."""
    D = depth_for(codes)
    # levels[k] = node codes at level k, k = 0..D
    levels = [codes]
    for _ in range(D):
        levels.append(distinct_sorted(levels[-1] >> np.uint64(3)))
    levels.reverse()
    vals, ctxs = [], []
    sib = np.ones(1, dtype=np.int64)
    lw = lower.occupied(levels[0], 3 * D)
    for k in range(D):
        nodes, kids = levels[k], levels[k + 1]
        parent = np.searchsorted(nodes, kids >> np.uint64(3))
        masks = np.zeros(nodes.size, dtype=np.int64)
        np.bitwise_or.at(masks, parent, np.int64(1) << (kids & np.uint64(7)).astype(np.int64))
        lo, hi = masks & 15, masks >> 4
        c_lo = _contexts(D, k, sib, lw, mode)
        vals += [lo, hi]
        ctxs += [c_lo, 18 + 2 * c_lo + (lo == 0)]
        sib = _POPCOUNT[masks][parent]
        lw = _lower_flags(lower, kids, lw[parent], 3 * (D - k - 1)) if mode == CTX_MODE_FULL else lw[parent]
    v = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    c = np.concatenate(ctxs) if ctxs else np.zeros(0, np.int64)
    return D, v, c
