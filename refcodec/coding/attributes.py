"""Attributes segment (spec 5.3): each channel of a unit is predicted, and only the integer
residual is entropy coded.

A channel's prediction is a base (the channel's centre, the mean of the region's lower layers
in a multi-resolution grid cell, or for rotation w the unit norm) plus an optional integer
multiple of another, already reconstructed channel's deviation from its own base; residuals may
further be coded as differences along the unit's decoding order. All of it is integer
arithmetic; ``reconstruct`` is the normative decoder side, ``choose`` the encoder's choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from construct import ConstructError

from refcodec.coding import hybrid_uint, rans
from refcodec.coding.hybrid_uint import unzigzag, zigzag
from refcodec.coding.intstream import MAX_CONTEXTS, StreamReader, encode_uints
from refcodec.container.schema import BASE_CHANNELS, AttributesPayload
from refcodec.errors import CorruptError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MODE_GRID, MODE_DELTA, MODE_NORM = 1, 2, 4      # spec 5.3.2 mode bits
NO_REF = 255
W_CHANNEL = 4                                   # rotation w; x, y, z are channels 5..7
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
    if norm and C > 7:
        order.remove(W_CHANNEL)
        order.insert(7, W_CHANNEL)
    return order


def _uses_norm(descs) -> bool:
    return len(descs) > W_CHANNEL and bool(descs[W_CHANNEL]["mode"] & MODE_NORM)


def _prediction(d: dict, j: int, q: np.ndarray, grid, sel, dev: dict, rows: int):
    """spec 5.3.2: (base, pred) of channel j over its rows (``sel``: their indices, None for
    all), each an array or, when the same for every row, a scalar. ``q`` holds the channels reconstructed so far; ``grid`` = (means, found, column of
    each grid channel) over all rows; ``dev`` the deviations of earlier channels."""
    if d["mode"] & MODE_NORM:
        base = norm_prediction(d["base"], q[:, 5:8])
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
        if mode & MODE_NORM and (j != W_CHANNEL or C < 8 or mode & MODE_GRID or ref != NO_REF
                                 or not 1 <= d["base"] <= MAX_NORM):
            raise CorruptError(f"attributes: channel {j} cannot use the unit-norm prediction")
        if ref != NO_REF:
            same_group = (ref >= BASE_CHANNELS) == (j >= BASE_CHANNELS)
            if ref >= j or not same_group or (ref == W_CHANNEL and descs[W_CHANNEL]["mode"] & MODE_NORM):
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


def reconstruct(descs, resid: dict, rows: dict, grid) -> np.ndarray:
    """spec 5.3.2: quantized values from residuals, all channels at once. ``resid[j]`` holds
    the signed residuals of channel j for the rows ``rows[j]`` (an index array, or None for
    every row); ``grid`` as in ``_prediction``. Returns q (n, C) int32 (spec 5.3.2: every
    value fits 32 bits)."""
    C = len(descs)
    rec = _Reconstruction(descs, len(resid[0]) if C else 0, grid)
    for j in reconstruction_order(C, _uses_norm(descs)):
        rec.channel(j, np.array(resid[j], np.int64), rows[j])
    return rec.q


def _read_values(reader: StreamReader, k: int, first: int, thresholds, activity, buf: np.ndarray) -> np.ndarray:
    """The k stream values u of one channel (spec 5.3.4-5.3.5), uint64, in ``buf`` when they all
    share one context; ``activity``: the rows' activities (used only with thresholds)."""
    if thresholds:
        u = reader.read(value_contexts(first, thresholds, activity))
    else:
        u = reader.read_same(k, first, out=buf[:k])
    if k and int(u.max()) >= 1 << 33:
        raise CorruptError("attribute value out of range")
    return u


def decode(payload: bytes, count: int, channels: int, codes: np.ndarray | None = None,
           lower: Lower | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ((count, channels) int32 quantized attributes, (channels,) int8 step exponents).
    ``codes``: the voxel Morton code of each Gaussian (needed by grid prediction).

    Each channel is reconstructed as soon as it is read (rotation w in norm mode after z),
    so one residual buffer serves every channel."""
    try:
        a = AttributesPayload.parse(payload)
    except ConstructError as e:
        raise CorruptError(f"attributes payload is malformed: {e}") from None
    C, n = channels, count
    if a.num_channels != C:
        raise CorruptError(f"attributes carry {a.num_channels} channels, header implies {C}")
    if (a.flags & ~(FLAG_REST_MASK | FLAG_THRESHOLDS | FLAG_REST_REFS) or (a.flags & FLAG_REST_MASK and C <= BASE_CHANNELS)
            or (a.flags & FLAG_REST_REFS and not a.flags & FLAG_REST_MASK)
            or a.grid_levels > MAX_GRID_LEVELS or (a.grid_levels and a.grid_shift + 2 * (a.grid_levels - 1) > 16)):
        raise CorruptError("attributes: invalid flags or grid parameters")          # spec 5.3.1
    descs = [dict(base=c.base, shift=c.shift, mode=c.mode, ref=c.ref, coef=c.coef, thresholds=list(c.thresholds or []))
             for c in a.channels]
    _check_descs(descs, C)
    shifts = np.array([d["shift"] for d in descs], np.int8)
    first, num_contexts = context_layout(descs)
    reader = StreamReader(a.stream, num_contexts)
    lower = lower or Lower.empty()
    masked = copies = None
    if a.flags & FLAG_REST_MASK:
        m = reader.read_same(n, num_contexts - 1)
        if a.flags & FLAG_REST_REFS:
            copies = rest_copies(m, lower.size)
        elif np.any(m > 1):
            raise CorruptError("attributes: SH-rest mask value is not 0 or 1")
        masked = np.flatnonzero(m == REST_CODED)
    use = [j for j, d in enumerate(descs) if d["mode"] & MODE_GRID]
    grid = None
    if use:
        means, found = grid_means(lower, codes, shifts, a.grid_shift, a.grid_levels, use)
        grid = (means, found, {j: i for i, j in enumerate(use)})
    rec = _Reconstruction(descs, n, grid)
    norm = _uses_norm(descs)
    buf = np.empty(n, np.uint64)
    w = None
    last = max([j for j, d in enumerate(descs) if d["thresholds"]], default=0)   # last channel with contexts
    activity = np.zeros(n, np.int32) if last else None                           # spec 5.3.5
    for j in range(C):                                # stream order (spec 5.3.4)
        sel = masked if (masked is not None and j >= BASE_CHANNELS) else None
        act = None if activity is None or not descs[j]["thresholds"] else (activity if sel is None else activity[sel])
        u = _read_values(reader, n if sel is None else sel.size, first[j], descs[j]["thresholds"], act, buf)
        if j < last:
            add_activity(activity, u, sel)
        r = unzigzag(u, out=u)
        if norm and j == W_CHANNEL:
            w = r.copy()                              # reconstructed after channel 7
            continue
        rec.channel(j, r, sel)
        if norm and j == 7:
            rec.channel(W_CHANNEL, w, None)
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


# ---------------------------------------------------------------------------------------------
# Encoder side (spec A.2): choose each channel's prediction by estimated cost

def _tokens(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hybrid-uint tokens and extra-bit counts of unsigned values z (< 2^52) as int64, as
    hybrid_uint.split (spec 6.2) gives them, computed from the float64 exponent."""
    n = (z.astype(np.float64).view(np.uint64) >> np.uint64(52)).astype(np.int64) - 1023
    big = z >= 16
    nm1 = np.where(big, n - 1, 0)                     # extra bits
    m = (z >> nm1.astype(np.uint64)).astype(np.int64) & 1
    return np.where(big, 2 * n + 8 + m, z.astype(np.int64)), nm1


def _cost_bits(r: np.ndarray) -> float:
    """Estimated coded size in bits of signed residuals: order-0 token entropy + raw bits."""
    if r.size == 0:
        return 0.0
    tok, nm1 = _tokens(zigzag(r))
    cnt = np.bincount(tok)
    p = cnt[cnt > 0] / r.size
    return float(-(cnt[cnt > 0] * np.log2(p)).sum() + nm1.sum())


TABLE_BITS = 12      # estimated bits a used symbol adds to a context's table (spec 6.3.2 VarInts)


def _context_cost(tok: np.ndarray, extra: int, ctx: np.ndarray, scale: float) -> float:
    """Estimated bits of tokens ``tok`` (a sample of the channel, ``scale`` rows per sampled row)
    coded with the contexts ``ctx`` (0..k): order-0 entropy per context plus their tables."""
    k = int(ctx.max()) + 1 if ctx.size else 1
    cnt = np.bincount(ctx.astype(np.int64) * rans.MAX_NSYM + tok, minlength=k * rans.MAX_NSYM)
    cnt = cnt.reshape(k, rans.MAX_NSYM)
    tot = cnt.sum(axis=1, keepdims=True)
    nz = cnt > 0
    data = -(cnt[nz] * np.log2((cnt / np.maximum(tot, 1))[nz])).sum() + extra
    return float(scale * data + TABLE_BITS * nz.sum() + 8 * k)


CONTEXT_GAIN = 0.01  # contexts must save 1% of a channel: mixed-context reads decode slower


def choose_thresholds(values: list, rows: list, n: int) -> list:
    """Encoder choice of each channel's residual context thresholds (spec 5.3.5, A.4): none, the
    median or the quartiles of the activity, whichever gives the smallest estimate (contexts
    only when they save at least CONTEXT_GAIN of the channel). ``values[j]``:
    channel j's stream values (zigzagged residuals) for its rows ``rows[j]`` (None: all rows)."""
    step = max(1, n // SAMPLE)
    sample = np.arange(0, n, step)
    activity = np.zeros(sample.size, np.int64)
    out = []
    for j, u in enumerate(values):
        pick = np.ones(sample.size, bool) if rows[j] is None else np.isin(sample, rows[j])
        pos = sample[pick] if rows[j] is None else np.searchsorted(rows[j], sample[pick])
        us = u[pos]
        best = []
        if us.size:
            tok, nm1 = _tokens(us)
            scale = u.size / us.size
            extra = int(nm1.sum())
            best_cost = plain = _context_cost(tok, extra, np.zeros(us.size, np.int64), scale)
            act = activity[pick]
            for qs in (((0.5,), (0.25, 0.5, 0.75)) if j > 0 and u.size >= 1024 else ()):
                t = sorted({int(v) for v in np.quantile(act, qs) if 1 <= int(v) <= 0xFFFF})
                if not t:
                    continue
                c = _context_cost(tok, extra, np.searchsorted(np.asarray(t), act, side="right"), scale)
                if c < best_cost and c < (1.0 - CONTEXT_GAIN) * plain:
                    best, best_cost = t, c
            activity[pick] += bit_length(us)
        out.append(best)
    return out


def _cost_bits_reference(r: np.ndarray) -> float:
    """``_cost_bits`` through hybrid_uint.split."""
    if r.size == 0:
        return 0.0
    tok, nb, _ = hybrid_uint.split(zigzag(r))
    cnt = np.bincount(tok.astype(np.intp))
    p = cnt[cnt > 0] / r.size
    return float(-(cnt[cnt > 0] * np.log2(p)).sum() + nb.astype(np.int64).sum())


def ref_candidates(C: int) -> dict:
    """The encoder's intra-prediction references: scale 1 <- 0, 2 <- 1; colour G <- R, B <- G
    (DC and each SH-rest coefficient)."""
    refs = {2: 1, 3: 2, 9: 8, 10: 9}
    K = (C - BASE_CHANNELS) // 3
    for k in range(K):
        refs[BASE_CHANNELS + K + k] = BASE_CHANNELS + k
        refs[BASE_CHANNELS + 2 * K + k] = BASE_CHANNELS + K + k
    return refs


SAMPLE = 1 << 15     # rows used to estimate costs (encoder only)


def choose(q: np.ndarray, shifts: np.ndarray, grid, tools: set, norm_S: int | None,
           rest_mask: np.ndarray | None) -> list:
    """Pick each channel's descriptor (base, mode, ref, coef) by estimated size. ``grid``: the
    (means, found) of every channel and row, or None without lower layers."""
    n, C = q.shape
    step = max(1, n // SAMPLE)
    sample = np.arange(0, n, step)
    use_grid = "cross_layer" in tools and grid is not None
    if use_grid:
        gm, gf = grid[0][sample], grid[1][sample]
    refs = ref_candidates(C) if "intra" in tools else {}
    descs = [None] * C
    dev = {}
    qs = q[sample]
    rest_rows = np.ones(sample.size, bool) if rest_mask is None else rest_mask[sample].astype(bool)
    use_norm = "rotation_norm" in tools and norm_S is not None and C >= 8
    for j in reconstruction_order(C, use_norm):
        rr = rest_rows if j >= BASE_CHANNELS else np.ones(sample.size, bool)
        x = qs[rr, j]
        centre = int(np.median(q[:, j])) if n else 0
        bases = [(0, centre, np.full(x.size, centre, np.int64))]
        if use_grid:
            bases.append((MODE_GRID, centre, np.where(gf[rr], gm[rr, j], centre)))
        if use_norm and j == W_CHANNEL:
            bases = [(0, centre, bases[0][2]), (MODE_NORM, norm_S, norm_prediction(norm_S, qs[:, 5:8]))]
        best = None
        for mode, bval, base in bases:
            e = x - base
            options = [(NO_REF, 0, e)]
            ref = refs.get(j)
            if ref is not None and ref in dev and not mode & MODE_NORM:
                er = dev[ref][rr]
                den = float((er.astype(np.float64) ** 2).sum())
                if den > 0:
                    coef = int(np.clip(round(64.0 * float((e * er).sum()) / den), -(1 << 15), (1 << 15) - 1))
                    if coef:
                        options.append((ref, coef, e - ((coef * er) >> 6)))
            for rf, coef, d in options:
                for delta in ((0, MODE_DELTA) if "delta" in tools else (0,)):
                    r = np.diff(d, prepend=0) if delta else d
                    bits = _cost_bits(r)
                    if best is None or bits < best[0]:
                        best = (bits, dict(base=bval, shift=int(shifts[j]), mode=mode | delta, ref=rf, coef=coef), e)
        descs[j] = best[1]
        full = np.zeros(sample.size, np.int64)
        full[rr] = best[2]
        dev[j] = full
    return descs


def residuals(q: np.ndarray, descs, grid, rest_rows) -> dict:
    """Exact residuals for the chosen descriptors (the inverse of ``reconstruct``); ``grid``:
    (means, found) of every channel, or None."""
    n, C = q.shape
    if grid is not None:
        grid = (grid[0], grid[1], range(C))          # column j is channel j
    out, dev = {}, {}
    for j in reconstruction_order(C, _uses_norm(descs)):
        d = descs[j]
        sel = rest_rows if j >= BASE_CHANNELS else None
        x = q[:, j] if sel is None else q[sel, j]
        base, pred = _prediction(d, j, q, grid, sel, dev, x.size)
        r = x - pred
        dev[j] = x - base
        out[j] = np.diff(r, prepend=0) if d["mode"] & MODE_DELTA else r
    return out


_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


def _row_hashes(columns) -> np.ndarray:
    """64-bit polynomial hashes of rows given as an iterable of int columns (encoder only)."""
    h = None
    for v in columns:
        v = np.asarray(v, np.int64).view(np.uint64)
        h = v.copy() if h is None else h * _HASH_MUL + v          # wraps modulo 2^64
    return h


REF_MIN = 0.02       # references pay from about 2% of a unit's rows (encoder choice, spec A.4)


def rest_references(q: np.ndarray, shifts: np.ndarray, lower: Lower, nonzero: np.ndarray) -> np.ndarray:
    """Encoder side of spec 5.3.6: for each row whose SH rest is not all zero, the first
    candidate (lower-layer Gaussians in order, then this unit's earlier rows) with exactly the
    same SH-rest values in this unit's steps, or -1. Rows found are matched through 64-bit
    hashes and then compared value by value."""
    n, C = q.shape
    rest = np.arange(BASE_CHANNELS, C)
    M = lower.size
    low = []
    for k, (_, uq, ush) in enumerate(lower.units):
        key = (k, id(uq), (shifts[rest].astype(np.int64) - ush[rest]).tobytes())
        if key not in lower.hashes:
            lower.hashes[key] = _row_hashes(in_steps(uq[:, j], ush[j], shifts[j]) for j in rest)
        low.append(lower.hashes[key])
    keys = np.concatenate(low + [_row_hashes(q[:, j] for j in rest)])
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    head = np.r_[True, sk[1:] != sk[:-1]]
    first = order[np.flatnonzero(head)][np.cumsum(head) - 1]    # smallest index with the key
    rep = np.empty_like(first)
    rep[order] = first
    c = rep[M:]
    ref = np.where((c < M + np.arange(n)) & nonzero, c, -1)
    rows = np.flatnonzero(ref >= 0)
    if rows.size:
        c = ref[rows]
        vals = np.empty((rows.size, rest.size), np.int64)
        inlow = c < M
        vals[inlow] = lower.gather(c[inlow], rest, shifts)
        vals[~inlow] = q[c[~inlow] - M][:, rest]
        ref[rows[~np.all(vals == q[rows][:, rest], axis=1)]] = -1     # hash collisions
    return ref


def encode(q: np.ndarray, shifts=None, codes=None, lower: Lower | None = None, tools=(),
           grid_shift: int = 7, grid_levels: int = 4, norm_S: int | None = None) -> bytes:
    """``q``: (N, C) int64 quantized attributes of one unit (in its own steps, spec 5.3), in
    decoding order; ``codes``: each row's voxel Morton code; ``lower``: the region's lower layers."""
    n, C = q.shape
    tools = set(tools)
    shifts = np.zeros(C, np.int8) if shifts is None else np.asarray(shifts, np.int8)
    codes = np.zeros(n, np.uint64) if codes is None else codes
    lower = lower or Lower.empty()
    rest_rows = modes = None
    flags = 0
    if C > BASE_CHANNELS and n:
        nz = np.any(q[:, BASE_CHANNELS:] != 0, axis=1)
        modes = nz.astype(np.uint64)                   # spec 5.3.6 rest modes
        if "rest_refs" in tools:
            ref = rest_references(q, shifts, lower, nz)
            if (ref >= 0).mean() >= REF_MIN:
                modes[ref >= 0] = 2 + ref[ref >= 0].astype(np.uint64)
                flags = FLAG_REST_MASK | FLAG_REST_REFS
        if "sh_mask" in tools and (~nz).mean() >= 0.02:   # encoder choice: a mask pays from ~2% zero rows
            flags |= FLAG_REST_MASK
        if flags & FLAG_REST_MASK:
            rest_rows = np.flatnonzero(modes == REST_CODED)
    grid = None
    if "cross_layer" in tools and lower.size:
        grid = grid_means(lower, codes, shifts, grid_shift, grid_levels, np.arange(C))
    descs = choose(q, shifts, grid, tools, norm_S, None if rest_rows is None else modes == REST_CODED)
    res = residuals(q, descs, grid, rest_rows)
    rows = [rest_rows if j >= BASE_CHANNELS else None for j in range(C)]
    values = [zigzag(res.pop(j)) for j in range(C)]          # the residuals' memory goes as it is used
    thresholds = choose_thresholds(values, rows, n) if "residual_contexts" in tools else [[] for _ in range(C)]
    for d, t in zip(descs, thresholds):
        d["thresholds"] = t
    if any(thresholds):
        flags |= FLAG_THRESHOLDS
    first, num_contexts = context_layout(descs)
    vals, ctx = [], []
    if flags & FLAG_REST_MASK:
        vals.append(modes)
        ctx.append(np.full(n, num_contexts - 1, np.uint8))
    last = max([j for j, t in enumerate(thresholds) if t], default=0)
    activity = np.zeros(n, np.int32)                  # spec 5.3.5
    for j in range(C):
        vals.append(values[j])
        ctx.append(value_contexts(first[j], thresholds[j], activity if rows[j] is None else activity[rows[j]]))
        if j < last:
            add_activity(activity, values[j], rows[j])
    v = np.concatenate(vals) if vals else np.zeros(0, np.uint64)
    c = np.concatenate(ctx) if ctx else np.zeros(0, np.uint8)
    return AttributesPayload.build(dict(
        num_channels=C, flags=flags, grid_shift=grid_shift, grid_levels=grid_levels,
        channels=descs, stream=encode_uints(v, c, num_contexts)))
