"""The encoder's side of the attributes segment (spec 5.3; choices in spec A.2 and A.4): each
channel's prediction, residual context thresholds and SH-rest references, chosen by estimated
cost, then the payload written in the stream layout of ``refcodec.format.attributes``."""
from __future__ import annotations

import numpy as np

from refcodec.format import hybrid_uint, rans
from refcodec.format.attributes import (
    FLAG_REST_MASK, FLAG_REST_REFS, FLAG_THRESHOLDS, MODE_DELTA, MODE_GRID, MODE_NORM, NO_REF, REST_CODED, Lower,
    ValueLayout, _prediction, _uses_norm, bit_length, grid_means, in_steps, norm_prediction, reconstruction_order,
)
from refcodec.format.channels import BASE_CHANNELS, ROT_W, ROT_XYZ, ROT_Z, SCALES, colour_refs
from refcodec.format.hybrid_uint import zigzag
from refcodec.format.intstream import encode_uints
from refcodec.format.schema import AttributesPayload

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
    refs = {j + 1: j for j in range(SCALES.start, SCALES.stop - 1)}
    refs.update(colour_refs(C))
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
    use_norm = "rotation_norm" in tools and norm_S is not None and C > ROT_Z
    for j in reconstruction_order(C, use_norm):
        rr = rest_rows if j >= BASE_CHANNELS else np.ones(sample.size, bool)
        x = qs[rr, j]
        centre = int(np.median(q[:, j])) if n else 0
        bases = [(0, centre, np.full(x.size, centre, np.int64))]
        if use_grid:
            bases.append((MODE_GRID, centre, np.where(gf[rr], gm[rr, j], centre)))
        if use_norm and j == ROT_W:
            bases = [(0, centre, bases[0][2]), (MODE_NORM, norm_S, norm_prediction(norm_S, qs[:, ROT_XYZ]))]
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
    layout = ValueLayout(descs, n, rest_rows)
    vals, ctx = [], []
    if flags & FLAG_REST_MASK:
        vals.append(modes)
        ctx.append(np.full(n, layout.mask_context, np.uint8))
    for j in range(C):
        vals.append(values[j])
        c = layout.contexts(j)
        ctx.append(np.full(values[j].size, c, np.uint8) if isinstance(c, int) else c)
        layout.update(j, values[j])
    v = np.concatenate(vals) if vals else np.zeros(0, np.uint64)
    c = np.concatenate(ctx) if ctx else np.zeros(0, np.uint8)
    return AttributesPayload.build(dict(
        num_channels=C, flags=flags, grid_shift=grid_shift, grid_levels=grid_levels,
        channels=descs, stream=encode_uints(v, c, layout.num_contexts)))
