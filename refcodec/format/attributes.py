"""Attributes segment (spec 5.3): each channel of a unit is predicted, and only the integer
residual is entropy coded.

A channel's prediction is a base (the channel's centre, the mean of the region's lower layers
in a multi-resolution grid cell, or for rotation w the unit norm) plus an optional integer
multiple of another, already reconstructed channel's deviation from its own base; residuals may
further be coded as differences along the unit's decoding order. All of it is integer
arithmetic. This module is the decoder side and the stream layout both sides share
(``ValueLayout``); the encoder's choices are ``refcodec.encoder.attributes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from construct import ConstructError

from refcodec.format.channels import BASE_CHANNELS, ROT_W, ROT_XYZ, ROT_Z
from refcodec.format.hybrid_uint import unzigzag
from refcodec.format.intstream import MAX_CONTEXTS, StreamReader
from refcodec.format.schema import GATE_REST_REFERENCES, GATE_RESIDUAL_CONTEXTS, AttributesPayload
from refcodec.format.errors import CorruptError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MODE_GRID, MODE_DELTA, MODE_NORM = 1, 2, 4      # spec 5.3.2 mode bits
NO_REF = 255
MAX_SHIFT = 8                                   # |unit step exponent|
MAX_NORM = 1 << 15
MAX_GRID_LEVELS = 8
FLAG_REST_MASK, FLAG_THRESHOLDS, FLAG_REST_REFS = 1, 2, 4      # spec 5.3.1 flags
REST_CODED = 1                                  # spec 5.3.6 rest modes: 0 zero, 1 coded, 2 + c copies candidate c
MAX_THRESHOLDS = 3                              # residual context thresholds a channel (spec 5.3.5)


# ---------------------------------------------------------------------------------------------
# Lower-layer grid (spec 5.3.3)

@dataclass
class Lower:
    """The region's decoded lower layers, one entry per unit: (voxel Morton code of each
    Gaussian (M,) uint64, quantized attributes (M, C) int32, the unit's step exponents (C,)).
    ``hashes``: the encoder's SH-rest row hashes of each unit, shared by the later units."""
    units: list
    hashes: dict = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def empty() -> "Lower":
        return Lower([])

    @property
    def size(self) -> int:
        return sum(u[0].size for u in self.units)

    def add(self, codes, q, shifts) -> "Lower":
        return Lower(self.units + [(np.asarray(codes, np.uint64), np.asarray(q, np.int32),
                                    np.asarray(shifts, np.int8))], self.hashes)

    def gather(self, index: np.ndarray, channels, shifts: np.ndarray) -> np.ndarray:
        """spec 5.3.6: the values of ``channels`` of lower Gaussians ``index`` (positions in the
        concatenation of the lower units), converted to the step exponents ``shifts``."""
        channels = np.asarray(channels, np.int64)
        out = np.zeros((index.size, channels.size), np.int32)
        start = 0
        for _, uq, ush in self.units:
            pick = np.flatnonzero((index >= start) & (index < start + len(uq)))
            if pick.size:
                out[pick] = in_steps(uq[index[pick] - start][:, channels], ush[channels], shifts[channels])
            start += len(uq)
        return out


def in_steps(v: np.ndarray, from_shifts, to_shifts) -> np.ndarray:
    """spec 5.3.3 a_m: quantized values v (..., k) in steps 2^from_shifts, converted to steps
    2^to_shifts (per column): a left shift when the steps get finer, else an arithmetic right
    shift; clamped to int32."""
    d = np.asarray(to_shifts, np.int64) - np.asarray(from_shifts, np.int64)      # e_j - E_m
    if not d.any():
        return np.asarray(v, np.int32)
    v = np.asarray(v).astype(np.int64)
    v = np.where(d <= 0, v << np.clip(-d, 0, 16), v >> np.clip(d, 0, 16))
    return np.clip(v, INT32_MIN, INT32_MAX).astype(np.int32)


GRID_CHUNK = 8       # channels summed at a time (bounds memory: 8 x M int32 values)


def grid_means(lower: Lower, codes: np.ndarray, shifts: np.ndarray, grid_shift: int, levels: int,
               channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """spec 5.3.3: for each Gaussian (voxel code ``codes[i]``) and each channel in ``channels``,
    the rounded mean of the lower-layer values, converted to this unit's steps, in the finest
    grid cell (level t: cells of 2^(grid_shift + 2t) voxels a side) holding any lower Gaussian.
    Returns (means (n, len(channels)) int32 (means of int32 values), found (n,) bool)."""
    n = codes.size
    channels = np.asarray(channels, np.int64)
    k = channels.size
    means = np.zeros((n, k), np.int32)
    found = np.zeros(n, bool)
    if lower.size == 0 or n == 0 or k == 0 or levels == 0:
        return means, found
    lcodes = np.concatenate([u[0] for u in lower.units])
    # the lower Gaussians sorted by voxel code are sorted by cell at every level (a cell is a
    # code prefix); per level: the cells, and which cell each query hits
    order = np.argsort(lcodes, kind="stable")          # sorted runs: a merge
    scodes = lcodes[order]
    plan = []
    for t in range(levels):
        s = np.uint64(3 * (grid_shift + 2 * t))
        lk = scodes >> s
        heads = np.flatnonzero(np.r_[True, lk[1:] != lk[:-1]])
        keys = lk[heads]
        ck = codes >> s
        pos = np.minimum(np.searchsorted(keys, ck), keys.size - 1)
        hit = np.flatnonzero((keys[pos] == ck) & ~found)     # finer levels win
        found[hit] = True
        if hit.size:
            cnt = np.diff(np.r_[heads, lk.size]).astype(np.int64)
            plan.append((heads, pos[hit], cnt[pos[hit]][:, None], hit))
        if found.all():
            break
    for a in range(0, k, GRID_CHUNK):
        ch = channels[a:a + GRID_CHUNK]
        vals = np.concatenate([in_steps(uq[:, ch], ush[ch], shifts[ch]) for _, uq, ush in lower.units])[order]
        for heads, cell, cnt, hit in plan:
            sums = np.add.reduceat(vals, heads, axis=0, dtype=np.int64)
            means[hit, a:a + ch.size] = (sums[cell] + cnt // 2) // cnt     # floor((sum + floor(c/2)) / c)
    return means, found


def isqrt(v: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(v)) for 0 <= v < 2^52."""
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    r -= (r * r > v)
    r += ((r + 1) * (r + 1) <= v)
    return r


def norm_prediction(S: int, xyz: np.ndarray) -> np.ndarray:
    """spec 5.3.2: isqrt(max(0, S^2 - min(|x|,S)^2 - min(|y|,S)^2 - min(|z|,S)^2))."""
    a = np.minimum(np.abs(xyz.astype(np.int64)), S)
    return isqrt(np.maximum(0, S * S - (a * a).sum(axis=1)))


def reconstruction_order(C: int, norm: bool) -> list:
    """spec 5.3.2: ascending channels, except that channel 4 in norm mode comes after 7."""
    order = list(range(C))
    if norm and C > ROT_Z:
        order.remove(ROT_W)
        order.insert(ROT_Z, ROT_W)
    return order


def _uses_norm(descs) -> bool:
    return len(descs) > ROT_W and bool(descs[ROT_W]["mode"] & MODE_NORM)


def _prediction(d: dict, j: int, q: np.ndarray, grid, sel, dev: dict, rows: int):
    """spec 5.3.2: (base, pred) of channel j over its rows (``sel``: their indices, None for
    all), each an array or, when the same for every row, a scalar. ``q`` holds the channels
    reconstructed so far; ``grid`` = (means, found, column of each grid channel) over all rows;
    ``dev`` the deviations of earlier channels."""
    if d["mode"] & MODE_NORM:
        base = norm_prediction(d["base"], q[:, ROT_XYZ])
    elif d["mode"] & MODE_GRID:
        means, found, col = grid
        m, f = means[:, col[j]], found
        if sel is not None:
            m, f = m[sel], f[sel]
        base = np.where(f, m, d["base"])
    else:
        base = np.int64(d["base"])                    # the same for every row
    pred = base if d["ref"] == NO_REF else base + ((d["coef"] * dev[d["ref"]]) >> 6)
    return base, pred


def _check_descs(descs, C: int) -> None:
    for j, d in enumerate(descs):
        mode, ref = d["mode"], d["ref"]
        t = d["thresholds"]
        if len(t) > MAX_THRESHOLDS or (t and (j == 0 or t[0] < 1 or any(b <= a for a, b in zip(t, t[1:])))):
            raise CorruptError(f"attributes: channel {j} has invalid residual context thresholds")
        if mode & ~7 or not -MAX_SHIFT <= d["shift"] <= MAX_SHIFT:
            raise CorruptError(f"attributes: channel {j} has an invalid mode or step exponent")
        if mode & MODE_NORM and (j != ROT_W or C <= ROT_Z or mode & MODE_GRID or ref != NO_REF
                                 or not 1 <= d["base"] <= MAX_NORM):
            raise CorruptError(f"attributes: channel {j} cannot use the unit-norm prediction")
        if ref != NO_REF:
            same_group = (ref >= BASE_CHANNELS) == (j >= BASE_CHANNELS)
            if ref >= j or not same_group or (ref == ROT_W and descs[ROT_W]["mode"] & MODE_NORM):
                raise CorruptError(f"attributes: channel {j} refers to channel {ref}")


def context_layout(descs) -> tuple[list, int]:
    """spec 5.3.5: the first context of each channel (channel j has len(thresholds) + 1) and the
    number of contexts; the SH-rest mask uses the last one."""
    first, k = [], 0
    for d in descs:
        first.append(k)
        k += len(d["thresholds"]) + 1
    if k + 1 > MAX_CONTEXTS:
        raise CorruptError("attributes: too many residual contexts")
    return first, k + 1


def bit_length(u: np.ndarray) -> np.ndarray:
    """spec 5.3.5: bit length of each value (0 for 0), int32; exact for u < 2^53."""
    return np.frexp(u.astype(np.float64))[1].astype(np.int32)


def add_activity(activity: np.ndarray, u: np.ndarray, rows) -> None:
    """spec 5.3.5: add the bit lengths of one channel's values u to the activity of its rows
    (``rows``: an index array, or None for every row)."""
    if rows is None:
        activity += bit_length(u)
    else:
        activity[rows] += bit_length(u)


def value_contexts(first: int, thresholds, activity: np.ndarray) -> np.ndarray:
    """spec 5.3.5: first + the number of thresholds <= each row's activity."""
    if not thresholds:
        return np.full(activity.size, first, np.uint8)
    return (first + np.searchsorted(np.asarray(thresholds, np.int64), activity, side="right")).astype(np.uint8)


class ValueLayout:
    """spec 5.3.4-5.3.5, the one definition of a unit's stream for encoder and decoder: after
    the SH-rest modes (when flagged; context ``mask_context``), channel j's values in channel
    order, for the rows ``rows(j)`` (the coded-rest rows for SH rest, else every row), each in
    context ``contexts(j)``; a channel's values feed the activity (``update``) that selects the
    contexts of the channels after it."""

    def __init__(self, descs, n: int, rest_rows: np.ndarray | None):
        self.descs, self.rest_rows = descs, rest_rows
        self.first, self.num_contexts = context_layout(descs)
        self.mask_context = self.num_contexts - 1
        self.last = max([j for j, d in enumerate(descs) if d["thresholds"]], default=0)  # last channel with contexts
        self.activity = np.zeros(n, np.int32) if self.last else None

    def rows(self, j: int):
        """Channel j's rows: an index array, or None for every row."""
        return self.rest_rows if j >= BASE_CHANNELS else None

    def contexts(self, j: int):
        """The contexts of channel j's values: a uint8 array over its rows, or one int for all."""
        t = self.descs[j]["thresholds"]
        if not t:
            return self.first[j]
        rows = self.rows(j)
        return value_contexts(self.first[j], t, self.activity if rows is None else self.activity[rows])

    def update(self, j: int, u: np.ndarray) -> None:
        """Add channel j's stream values u to the activities the later channels' contexts use."""
        if j < self.last:
            add_activity(self.activity, u, self.rows(j))


class _Reconstruction:
    """spec 5.3.2, one channel at a time in reconstruction order: ``channel(j, r, sel)`` turns
    channel j's signed residuals ``r`` (int64, for the rows ``sel``: an index array, or None
    for every row; modified in place) into its values in ``q`` (n, C) int32."""

    def __init__(self, descs, n: int, grid):
        self.descs, self.grid = descs, grid
        self.q = np.zeros((n, len(descs)), np.int32, order="F")     # filled a column at a time
        self.dev = {}                                # q - base of referenced channels
        self.users = {}                              # how many channels still refer to each
        for d in descs:
            if d["ref"] != NO_REF:
                self.users[d["ref"]] = self.users.get(d["ref"], 0) + 1

    def channel(self, j: int, r: np.ndarray, sel) -> None:
        d, q = self.descs[j], self.q
        if d["mode"] & MODE_DELTA:
            r = np.cumsum(r, out=r)                   # wraps only after a value is out of range
            if r.size and max(-int(r.min()), int(r.max())) > 1 << 33:
                raise CorruptError("attributes: accumulated residual out of range")
        base, pred = _prediction(d, j, q, self.grid, sel, self.dev, r.size)
        v = r
        v += pred
        if v.size and (v.min() < INT32_MIN or v.max() > INT32_MAX):
            raise CorruptError("attribute value outside the 32-bit range")
        ref = d["ref"]
        if ref != NO_REF:
            self.users[ref] -= 1
            if not self.users[ref]:
                del self.dev[ref]
        if self.users.get(j):
            self.dev[j] = v - base
        if sel is None:
            q[:, j] = v
        else:
            q[sel, j] = v


def _read_values(reader: StreamReader, k: int, ctx, buf: np.ndarray) -> np.ndarray:
    """The k stream values u of one channel (spec 5.3.4), uint64, in ``buf`` when they all share
    one context ``ctx`` (an int), else read with the per-row contexts ``ctx``."""
    u = reader.read_same(k, ctx, out=buf[:k]) if isinstance(ctx, int) else reader.read(ctx)
    if k and int(u.max()) >= 1 << 33:
        raise CorruptError("attribute value out of range")
    return u


def decode(payload: bytes, count: int, channels: int, codes: np.ndarray | None = None,
           lower: Lower | None = None, version: tuple = GATE_REST_REFERENCES) -> tuple[np.ndarray, np.ndarray]:
    """Return ((count, channels) int32 quantized attributes, (channels,) int8 step exponents).
    ``codes``: the voxel Morton code of each Gaussian (needed by grid prediction); ``version``:
    the file's (major, minor), which decides the tools it may use (spec 10 version gates).

    Each channel is reconstructed as soon as it is read (rotation w in norm mode after z),
    so one residual buffer serves every channel."""
    try:
        a = AttributesPayload.parse(payload)
    except ConstructError as e:
        raise CorruptError(f"attributes payload is malformed: {e}") from None
    C, n = channels, count
    if a.num_channels != C:
        raise CorruptError(f"attributes carry {a.num_channels} channels, header implies {C}")
    if (a.flags & ~(FLAG_REST_MASK | FLAG_THRESHOLDS | FLAG_REST_REFS)
            or (a.flags & FLAG_REST_MASK and C <= BASE_CHANNELS)
            or (a.flags & FLAG_REST_REFS and not a.flags & FLAG_REST_MASK)
            or a.grid_levels > MAX_GRID_LEVELS or (a.grid_levels and a.grid_shift + 2 * (a.grid_levels - 1) > 16)):
        raise CorruptError("attributes: invalid flags or grid parameters")          # spec 5.3.1
    for bit, gate, tool in ((FLAG_THRESHOLDS, GATE_RESIDUAL_CONTEXTS, "residual contexts"),
                            (FLAG_REST_REFS, GATE_REST_REFERENCES, "SH-rest references")):
        if a.flags & bit and tuple(version) < gate:                                 # spec 10
            raise CorruptError(f"attributes: {tool} need version {gate[0]}.{gate[1]}, the file is "
                               f"{version[0]}.{version[1]}")
    descs = [dict(base=c.base, shift=c.shift, mode=c.mode, ref=c.ref, coef=c.coef, thresholds=list(c.thresholds or []))
             for c in a.channels]
    _check_descs(descs, C)
    shifts = np.array([d["shift"] for d in descs], np.int8)
    copies = None
    layout = ValueLayout(descs, n, None)
    reader = StreamReader(a.stream, layout.num_contexts)
    lower = lower or Lower.empty()
    if a.flags & FLAG_REST_MASK:
        m = reader.read_same(n, layout.mask_context)
        if a.flags & FLAG_REST_REFS:
            copies = rest_copies(m, lower.size)
        elif np.any(m > 1):
            raise CorruptError("attributes: SH-rest mask value is not 0 or 1")
        layout.rest_rows = np.flatnonzero(m == REST_CODED)
    use = [j for j, d in enumerate(descs) if d["mode"] & MODE_GRID]
    grid = None
    if use:
        means, found = grid_means(lower, codes, shifts, a.grid_shift, a.grid_levels, use)
        grid = (means, found, {j: i for i, j in enumerate(use)})
    rec = _Reconstruction(descs, n, grid)
    norm = _uses_norm(descs)
    buf = np.empty(n, np.uint64)
    w = None
    for j in range(C):                                # stream order (spec 5.3.4)
        sel = layout.rows(j)
        u = _read_values(reader, n if sel is None else sel.size, layout.contexts(j), buf)
        layout.update(j, u)
        r = unzigzag(u, out=u)
        if norm and j == ROT_W:
            w = r.copy()                              # reconstructed after channel ROT_Z
            continue
        rec.channel(j, r, sel)
        if norm and j == ROT_Z:
            rec.channel(ROT_W, w, None)
    reader.finish()
    if copies is not None:
        apply_copies(rec.q, copies, lower, shifts)
    return rec.q, shifts


def rest_copies(modes: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray]:
    """spec 5.3.6: validate the rest modes of a unit whose region's lower layers hold M
    Gaussians; returns (rows that copy, their candidate index c)."""
    n = modes.size
    rows = np.flatnonzero(modes >= 2)
    c = modes[rows].astype(np.int64) - 2 if rows.size else np.zeros(0, np.int64)
    if rows.size and int(modes[rows].max()) - 2 >= M + n:
        raise CorruptError("attributes: SH-rest reference out of range")
    own = c >= M
    if own.any():
        src = c[own] - M
        if np.any(src >= rows[own]) or np.any(modes[src] != REST_CODED):
            raise CorruptError("attributes: SH-rest reference to a row that is not an earlier coded row")
    return rows, c


def apply_copies(q: np.ndarray, copies, lower: Lower, shifts: np.ndarray) -> None:
    """spec 5.3.6: fill the SH-rest values of the copying rows from their candidates."""
    rows, c = copies
    if not rows.size:
        return
    M = lower.size
    rest = np.arange(BASE_CHANNELS, q.shape[1])
    low = c < M
    if low.any():
        q[rows[low], BASE_CHANNELS:] = lower.gather(c[low], rest, shifts)
    q[rows[~low], BASE_CHANNELS:] = q[c[~low] - M, BASE_CHANNELS:]


