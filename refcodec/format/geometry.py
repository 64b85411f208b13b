"""Geometry segment: the unit's distinct voxels (spec 5.1), coded by one of two methods:

- method 0, Morton gaps: the sorted 48-bit Morton codes as gaps, one context;
- methods 1 and 2, occupancy octree: coded one scale at a time, with contexts from the level
  (method 1) or also from the coarser scale and from the region's lower layers (method 2).

A node at level k (0 = root, D = leaves = voxels) has the Morton code ``voxel >> 3(D-k)``.
Each node of levels 0..D-1 sends its 8-bit child mask as two 4-bit values (children 0-3,
then children 4-7), every level as two batches of one IntStream (spec 6.4), so the contexts
of a level are computed from the levels above it before it is read.
"""
from __future__ import annotations

import numpy as np
from construct import ConstructError

from refcodec.format.morton import merge_distinct
from refcodec.format.intstream import StreamReader
from refcodec.format.schema import GeometryPayload
from refcodec.format.errors import CorruptError

MAX_DEPTH = 16
NUM_CONTEXTS = 54          # spec 5.1: 18 contexts for low halves, 36 for high halves
METHOD_GAPS = 0            # spec 5.1.1
CTX_MODE_LEVEL = 1         # spec 5.1.2: octree, contexts from the level class only
CTX_MODE_FULL = 2          # spec 5.1.2: + sibling count and lower-layer occupancy
MORTON_LIMIT = np.uint64(1 << 48)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_BITS = np.arange(8, dtype=np.uint64)


class LowerOccupancy:
    """Sorted distinct voxel codes of the region's lower layers (spec 5.1 context ``lw``)."""

    def __init__(self, codes=None):
        self._raw = codes                 # sorted and deduplicated on first use (octree only)
        self._codes = None

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            raw = self._raw if self._raw is not None else []
            self._codes = merge_distinct(raw if isinstance(raw, (list, tuple)) else [np.sort(raw)])
        return self._codes

    def occupied(self, nodes: np.ndarray, shift: int) -> np.ndarray:
        """True where the cell of a node (voxels nodes << shift .. (nodes + 1) << shift) holds
        a lower-layer voxel."""
        if nodes.size == 0 or self.codes.size == 0:
            return np.zeros(nodes.size, dtype=bool)
        s = np.uint64(shift)
        lo = np.searchsorted(self.codes, nodes << s, side="left")
        hi = np.searchsorted(self.codes, (nodes + np.uint64(1)) << s, side="left")
        return hi > lo


def _contexts(D: int, k: int, sib: np.ndarray, lw: np.ndarray, mode: int) -> np.ndarray:
    """spec 5.1: context of the low half of each node's mask at level k."""
    cl = min(D - 1 - k, 2)
    if mode == CTX_MODE_LEVEL:
        return np.full(sib.size, cl * 6, dtype=np.int64)
    sb = np.minimum(sib, 3) - 1
    return (cl * 3 + sb) * 2 + lw.astype(np.int64)


def _lower_flags(lower: LowerOccupancy, nodes: np.ndarray, parent_lw: np.ndarray, shift: int) -> np.ndarray:
    """lw of each node: only children of lw=1 parents can be occupied below (spec 5.1)."""
    lw = np.zeros(nodes.size, dtype=bool)
    cand = np.flatnonzero(parent_lw)
    if cand.size:
        lw[cand] = lower.occupied(nodes[cand], shift)
    return lw


def _mask_children() -> np.ndarray:
    """(256, 8): the k-th set bit of each 8-bit mask, ascending (unused entries 0)."""
    t = np.zeros((256, 8), dtype=np.uint64)
    for m in range(256):
        bits = [b for b in range(8) if m >> b & 1]
        t[m, :len(bits)] = bits
    return t


_NTH_CHILD = _mask_children().reshape(-1)


def _children(nodes: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Child codes in ascending order and the index of each child's parent."""
    cnt = _POPCOUNT[masks]
    parent = np.repeat(np.arange(nodes.size), cnt)
    first = np.cumsum(cnt) - cnt                      # index of each parent's first child
    rank = np.arange(parent.size) - first[parent]
    kids = (nodes[parent] << np.uint64(3)) | _NTH_CHILD[masks[parent] * 8 + rank]
    return kids, parent


def _children_reference(nodes: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain version of ``_children``: test every one of the 8 bits."""
    bits = ((masks.astype(np.uint64)[:, None] >> _BITS) & np.uint64(1)).astype(bool)
    kids = (nodes[:, None] << np.uint64(3)) | _BITS
    parent = np.broadcast_to(np.arange(nodes.size)[:, None], bits.shape)
    return kids[bits], parent[bits]


def depth_for(codes: np.ndarray) -> int:
    """Smallest depth D with every voxel coordinate < 2^D."""
    if codes.size == 0 or int(codes[-1]) == 0:
        return 0
    return (int(codes.max()).bit_length() + 2) // 3


def decode(payload: bytes, count: int, lower: LowerOccupancy | None = None) -> np.ndarray:
    """Return the (V,) uint64 Morton codes; ``count`` (the unit's Gaussian count) bounds V."""
    try:
        g = GeometryPayload.parse(payload)
    except ConstructError as e:
        raise CorruptError(f"geometry payload is malformed: {e}") from None
    V, D, mode = g.num_voxels, g.depth, g.method
    if not 1 <= V <= count:
        raise CorruptError(f"geometry declares {V} voxels for a unit of {count} Gaussians")
    if mode == METHOD_GAPS and D == 0:
        return _decode_gaps(g.stream, V)
    if D > MAX_DEPTH or mode not in (CTX_MODE_LEVEL, CTX_MODE_FULL):
        raise CorruptError(f"geometry method {mode} with depth {D} is not allowed")
    lower = lower or LowerOccupancy()
    reader = StreamReader(g.stream, NUM_CONTEXTS)
    nodes = np.zeros(1, dtype=np.uint64)
    sib = np.ones(1, dtype=np.int64)
    lw = lower.occupied(nodes, 3 * D) if mode == CTX_MODE_FULL else np.zeros(1, bool)
    for k in range(D):
        c_lo = _contexts(D, k, sib, lw, mode)
        lo = reader.read(c_lo.astype(np.uint8))
        if np.any(lo > 15):
            raise CorruptError("geometry: child mask value out of range")
        hi = reader.read((18 + 2 * c_lo + (lo == 0)).astype(np.uint8))
        if np.any(hi > 15):
            raise CorruptError("geometry: child mask value out of range")
        masks = (lo | (hi << np.uint64(4))).astype(np.int64)
        if np.any(masks == 0):
            raise CorruptError("geometry: a node without children")
        if int(_POPCOUNT[masks].sum()) > V:
            raise CorruptError("geometry: more nodes than voxels")
        nodes, parent = _children(nodes, masks)
        sib = _POPCOUNT[masks][parent]
        lw = _lower_flags(lower, nodes, lw[parent], 3 * (D - k - 1)) if mode == CTX_MODE_FULL else lw[parent]
    reader.finish()
    if nodes.size != V:
        raise CorruptError(f"geometry: the octree holds {nodes.size} voxels, header says {V}")
    return nodes


def _decode_gaps(stream: bytes, v: int) -> np.ndarray:
    """spec 5.1.1: code[0] = d[0]; code[i] = code[i-1] + d[i] + 1; every code < 2^48."""
    reader = StreamReader(stream, 1)
    deltas = reader.read_same(v, 0)
    reader.finish()
    if np.any(deltas >= MORTON_LIMIT):
        raise CorruptError("geometry delta out of range")
    # A float64 sum bounds the total first so the exact uint64 running sum cannot wrap.
    if float(deltas.sum(dtype=np.float64)) + v > 2.0 * float(MORTON_LIMIT):
        raise CorruptError("geometry codes exceed 48 bits")
    codes = np.cumsum(deltas + np.uint64(1), dtype=np.uint64) - np.uint64(1)
    if codes[-1] >= MORTON_LIMIT:
        raise CorruptError("geometry codes exceed 48 bits")
    return codes
