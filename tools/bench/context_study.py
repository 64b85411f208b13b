"""Context-modelling study for LGS: what would candidate coding tools save? (ideal code lengths)

    python tools/bench/context_study.py /work/shared/data/biker.ply /work/shared/data/plant.ply \
        /work/shared/data/playbot_lod2.ply [--json context_study.json] [--quality high]
        [--psnr [--measure-peers]]

Default run (0.5-2 minutes a scene on 2 cores; JSON to $TMPDIR/context_study.json unless
--json): tables of bytes per channel group for each candidate tool at the preset's steps.
``--psnr`` adds rate control at equal render quality (CPU renderer, 8 orbit views 256x256, foreground PSNR against the original, as in
shared/notes/rate-findings.md): a greedy step allocation reaches each peer's PSNR, then today's
coding and the context stack are costed there, and lossy tools are checked at that point
(5-8 minutes a scene). ``--measure-peers`` measures the peers' PSNR by running
splat-transform (tools/bench/peers.py) into a temporary folder; otherwise the targets of
rate-findings.md are used (biker, plant; playbot has none).

Inputs are exactly the encoder's: ``assign_layers(scene, 8, 16)``, the 16-bit position grid
(``position_grid``/``quantize_positions``; b < 16 bits = the 16-bit integers shifted right),
``attribute_steps(sh_degree, quality)`` (times a per-group multiplier in rate control),
``attribute_values`` (infinite opacity logits clamped to +-20 like the encoder). One unit = one
layer (these scenes have one region); inside a unit Gaussians are in LGS 1.0 decode order
(ascending Morton code, ties by input index).

Cost model (no container overhead; validated against the real encoder, see ``calibration``):
* static: two-pass, one table per (unit, channel, context), hybrid-uint tokens (spec 6.2) with
  raw extra bits, token cost -log2(f/F) with the 12-bit normalised frequencies, plus the table
  bytes (1 byte nsym + one LEB128 VarInt per symbol below nsym): the LGS 1.0 IntStream model.
  All "kB" in the tables are this unless marked adaptive.
* adaptive: Krichevsky-Trofimov (Dirichlet 1/2) sequential code length per context over the
  stream's token alphabet; no table, the learning cost is included.
* binary decisions (occupancy bits, masks): adaptive KT per context.
Context is only what a decoder has: lower layers (decoded, quantized), Gaussians earlier in
the unit's decode order, already-decoded channels of the same Gaussian, the unit's own
positions (geometry is decoded before attributes). Predictions are integer means with
round-half-up floor division; per-unit side information (coefficients, thresholds) is charged
at 1 byte each. Neighbour search is exact on integer coordinates (a normative version needs a
tie-break rule, e.g. by decode index).

Scenes are read from the paths given and never copied.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import gammaln

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from refcodec.format import hybrid_uint, morton  # noqa: E402
from refcodec.encoder.quantization import (  # noqa: E402
    attribute_steps, attribute_values, position_grid, quantize_attributes, quantize_positions,
)
from refcodec.io.ply import read_ply  # noqa: E402
from refcodec.encoder.layering import assign_layers  # noqa: E402

NSYM = 136
OPACITY_CLAMP = 20.0
PEER_BYTES = {  # splat-transform 3.7.0 output sizes, /work/shared/data/README.md
    "biker.ply": dict(sog=1_936_095, spz=2_239_629),
    "plant.ply": dict(sog=1_500_511, spz=1_595_276),
    "playbot_lod2.ply": dict(sog=3_089_584, spz=2_681_422),
    "playbot_lod3.ply": dict(sog=785_577, spz=673_939),
    "stanford_bunny_100k.ply": dict(sog=652_499, spz=994_862),
}
PEER_PSNR_NOTES = {  # foreground PSNR (dB) of the peers' decodes, shared/notes/rate-findings.md
    "biker.ply": dict(sog=51.9, spz=54.3),
    "plant.ply": dict(sog=56.4, spz=55.0),
}


# =============================================================================================
# Cost model
# =============================================================================================

def zz(v):
    v = np.asarray(v, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _tokens(u):
    tok, nb, _ = hybrid_uint.split(np.asarray(u, dtype=np.uint64))
    return tok.astype(np.int64), float(nb.sum(dtype=np.float64))


def static_bits(u, ctx=None, nctx: int | None = None) -> float:
    """Two-pass static rANS cost (bits) of unsigned values ``u`` with per-context tables:
    tokens at 12-bit frequencies + raw extra bits + table bytes (nsym byte + VarInts)."""
    u = np.asarray(u).reshape(-1)
    if u.size == 0:
        return 0.0
    tok, extra = _tokens(u)
    if ctx is None:
        ctx = np.zeros(u.size, np.int64)
        nctx = 1
    ctx = np.asarray(ctx, dtype=np.int64).reshape(-1)
    if nctx is None:
        nctx = int(ctx.max()) + 1
    counts = np.bincount(ctx * NSYM + tok, minlength=nctx * NSYM).reshape(nctx, NSYM).astype(np.float64)
    n = counts.sum(1)
    used = n > 0
    counts, n = counts[used], n[used]
    f = np.floor(counts * 4096.0 / n[:, None])
    f[(counts > 0) & (f == 0)] = 1
    F = f.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = np.where(counts > 0, counts * (np.log2(F)[:, None] - np.log2(np.maximum(f, 1))), 0.0).sum()
    nsym = NSYM - np.argmax((counts > 0)[:, ::-1], axis=1)
    vl = np.where(f >= 128, 2, 1)
    table_bytes = (1 + np.where(np.arange(NSYM)[None, :] < nsym[:, None], vl, 0).sum(1)).sum()
    table_bytes += nctx - used.sum()
    return float(bits + extra + 8 * table_bytes)


def adaptive_bits(u, ctx=None, nctx: int | None = None, alpha: float = 0.5) -> float:
    """KT / Dirichlet(alpha) sequential code length (bits) over the stream's token alphabet."""
    u = np.asarray(u).reshape(-1)
    if u.size == 0:
        return 0.0
    tok, extra = _tokens(u)
    ctx = np.zeros(u.size, np.int64) if ctx is None else np.asarray(ctx, dtype=np.int64).reshape(-1)
    K = int(tok.max()) + 1
    _, cnt = np.unique(ctx * K + tok, return_counts=True)
    _, nper = np.unique(ctx, return_counts=True)
    nats = gammaln(nper + K * alpha).sum() - len(nper) * gammaln(K * alpha)
    nats -= (gammaln(cnt + alpha) - gammaln(alpha)).sum()
    return float(nats / math.log(2) + extra)


def binary_bits(bits, ctx) -> float:
    """Adaptive KT cost (bits) of binary decisions with integer contexts."""
    bits = np.asarray(bits, dtype=np.int64).reshape(-1)
    if bits.size == 0:
        return 0.0
    _, inv = np.unique(np.asarray(ctx, dtype=np.int64).reshape(-1), return_inverse=True)
    n1 = np.bincount(inv, weights=bits)
    n = np.bincount(inv).astype(np.float64)
    nats = (gammaln(n + 1.0) - gammaln(n - n1 + 0.5) - gammaln(n1 + 0.5) + 2 * gammaln(0.5)).sum()
    return float(nats / math.log(2))


def kB(bits) -> float:
    return float(bits) / 8000.0


def bitlen(x):
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros(x.shape, np.int64)
    pos = x > 0
    out[pos] = np.floor(np.log2(x[pos])).astype(np.int64) + 1
    return out


def isqrt_vec(x):
    """Exact floor(sqrt(x)) for int64 x (negative -> 0): float estimate + integer correction."""
    x = np.maximum(np.asarray(x, dtype=np.int64), 0)
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(np.int64)
    r -= (r * r > x)
    r += ((r + 1) * (r + 1) <= x)
    return r


# =============================================================================================
# Scenes
# =============================================================================================

KNOBS = ("opacity", "scale", "rotation", "dc", "rest")


def groups_of(C: int) -> dict:
    g = {"opacity": [0], "scale": [1, 2, 3], "rotation": [4, 5, 6, 7], "dc": [8, 9, 10]}
    if C > 11:
        g["rest"] = list(range(11, C))
    return g


class Base:
    """The scene as the encoder sees it (layers, 16-bit positions, attribute values)."""

    def __init__(self, path: str, quality: str = "high", scene=None):
        t = time.perf_counter()
        self.path = path
        scene = read_ply(path) if scene is None else scene
        if np.isinf(scene.opacity).any():
            scene = scene.subset(slice(None))
            scene.opacity = np.clip(scene.opacity, -OPACITY_CLAMP, OPACITY_CLAMP)
        self.scene = scene
        self.name = Path(path).name
        self.n = scene.n
        self.sh_degree = scene.sh_degree
        self.quality = quality
        self.layer = assign_layers(scene, 8, 16).astype(np.int64)
        self.origin, self.voxel = position_grid(scene.positions)
        self.qpos16 = quantize_positions(scene.positions, self.origin, self.voxel).astype(np.int64)
        self.steps0 = attribute_steps(scene.sh_degree, quality).astype(np.float64)
        self.vals = attribute_values(scene)
        self.C = self.vals.shape[1]
        self.groups = groups_of(self.C)
        self.seconds = time.perf_counter() - t

    def real_encoder(self) -> dict:
        """Bytes of the real LGS 1.0 encoder at this preset (for calibrating the model)."""
        try:
            from refcodec.encoder import EncodeOptions, encode_scene
            from refcodec.info import describe
            data = encode_scene(self.scene, EncodeOptions(quality=self.quality, progress=False))
            d = describe(data)
            return dict(file_bytes=len(data), front_bytes=d.get("front_bytes"), **d["bytes_per_kind"])
        except Exception as e:  # the encoder is being edited concurrently; the study does not need it
            return dict(error=f"{type(e).__name__}: {e}")


class Variant:
    """A quantization of the base scene: position bits, per-group step multipliers and a per-layer
    tilt (layer l's steps x 2^round(tilt (l - 1)), a power of two per unit); arrays in decode
    order (layer, then Morton code of the b-bit voxel, then input index). ``q`` is in each
    unit's own step units; ``qf = q * lmult`` in the allocation's base-step units (what
    cross-layer prediction uses: integer rescaling since the ratios are powers of two)."""

    def __init__(self, base: Base, pos_bits: int = 16, mult: dict | None = None, tilt: float = 0.0):
        self.base = base
        self.pos_bits = pos_bits
        self.tilt = tilt
        self.mult = {k: 1.0 for k in KNOBS}
        self.mult.update(mult or {})
        chan = np.ones(base.C)
        for g, idx in base.groups.items():
            chan[idx] = self.mult[g]
        self.steps = base.steps0 * chan
        self.n, self.C, self.groups = base.n, base.C, base.groups
        qpos = base.qpos16 >> (16 - pos_bits)
        codes = morton.encode(qpos.astype(np.uint16)).astype(np.int64)
        order = np.lexsort((np.arange(base.n), codes, base.layer))
        self.order = order
        self.layer = base.layer[order]
        self.lmult = (2 ** np.rint(tilt * (self.layer - 1))).astype(np.int64)
        self.srow = self.steps[None, :] * self.lmult[:, None]
        self.qpos = qpos[order]
        self.codes = codes[order]
        self.q = quantize_attributes(base.vals[order] / self.lmult[:, None], self.steps)
        self.qf = self.q * self.lmult[:, None]
        self.vals = base.vals[order]
        b = np.searchsorted(self.layer, np.arange(1, 10))
        self.units = [(int(b[i]), int(b[i + 1])) for i in range(8) if b[i + 1] > b[i]]
        self._cache = {}

    def own(self, pred_f, extra=None):
        """Base-step units -> this Gaussian's step units (round half up)."""
        m = self.lmult if extra is None else self.lmult * extra
        m = m[:, None] if np.ndim(pred_f) == 2 else m
        return np.floor_divide(pred_f + m // 2, m)

    # ---- neighbours ------------------------------------------------------------------------
    def lower_knn(self, k: int = 8):
        """k nearest lower-layer Gaussians (decode indices, -1 = none) and the squared distance
        to the nearest (-1 in layer 1)."""
        if ("lower", k) not in self._cache:
            nbr = np.full((self.n, k), -1, np.int64)
            d2 = np.full(self.n, -1, np.int64)
            for s, e in self.units:
                if s == 0:
                    continue
                kk = min(k, s)
                d, i = cKDTree(self.qpos[:s].astype(np.float64)).query(self.qpos[s:e].astype(np.float64), kk)
                nbr[s:e, :kk] = i.reshape(e - s, kk)
                d2[s:e] = np.rint(d.reshape(e - s, kk)[:, 0] ** 2).astype(np.int64)
            self._cache[("lower", k)] = (nbr, d2)
        return self._cache[("lower", k)]

    def causal_knn(self, k: int = 8, K: int = 32):
        """k nearest among lower layers and Gaussians earlier in the same unit (of the K nearest
        overall; rows can have fewer than k)."""
        if ("causal", k) not in self._cache:
            nbr = np.full((self.n, k), -1, np.int64)
            for s, e in self.units:
                kk = min(K, e)
                _, i = cKDTree(self.qpos[:e].astype(np.float64)).query(self.qpos[s:e].astype(np.float64), kk)
                i = i.reshape(e - s, kk)
                valid = i < np.arange(s, e)[:, None]
                rank = np.cumsum(valid, axis=1)
                rows, cols = np.nonzero(valid & (rank <= k))
                nbr[s + rows, rank[rows, cols] - 1] = i[rows, cols]
            self._cache[("causal", k)] = nbr
        return self._cache[("causal", k)]

    def phased_knn(self, k: int = 4, phases: int = 2, K: int = 32):
        """Parallel-decodable variant of ``causal_knn``: a unit's Gaussians are split into
        ``phases`` interleaved subsets (rank in decode order mod phases); phase p may use lower
        layers and phases < p of its own unit, so each phase decodes as one vector step."""
        key = ("phased", k, phases)
        if key not in self._cache:
            nbr = np.full((self.n, k), -1, np.int64)
            for s, e in self.units:
                kk = min(K, e)
                _, i = cKDTree(self.qpos[:e].astype(np.float64)).query(self.qpos[s:e].astype(np.float64), kk)
                i = i.reshape(e - s, kk)
                own_phase = (np.arange(e - s) % phases)[:, None]
                nb_phase = np.where(i >= s, (i - s) % phases, -1)
                valid = nb_phase < own_phase
                rank = np.cumsum(valid, axis=1)
                rows, cols = np.nonzero(valid & (rank <= k))
                nbr[s + rows, rank[rows, cols] - 1] = i[rows, cols]
            self._cache[key] = nbr
        return self._cache[key]

    # ---- for rendering -----------------------------------------------------------------------
    def dequantized_scene(self, q=None, rotations=None):
        """The decoded scene in input order (positions at voxel centres for b < 16)."""
        base = self.base
        inv = np.empty(self.n, np.int64)
        inv[self.order] = np.arange(self.n)
        q = self.q if q is None else q
        v = (q * self.srow)[inv]
        st = base.voxel.astype(np.float64) * (1 << (16 - self.pos_bits))
        off = 0.5 if self.pos_bits < 16 else 0.0
        sc = base.scene.subset(slice(None))
        sc.positions = (base.origin + ((base.qpos16 >> (16 - self.pos_bits)) + off) * st).astype(np.float32)
        sc.opacity = v[:, 0].astype(np.float32)
        sc.scales = v[:, 1:4].astype(np.float32)
        sc.rotations = (v[:, 4:8] if rotations is None else rotations[inv]).astype(np.float32)
        sc.sh_dc = v[:, 8:11].astype(np.float32)
        sc.sh_rest = v[:, 11:].astype(np.float32)
        return sc


def unit_centres(V: Variant, Q):
    pred = np.zeros_like(Q)
    for s, e in V.units:
        pred[s:e] = np.median(Q[s:e], axis=0).round().astype(np.int64)[None, :]
    return pred


def prev_in_unit(V: Variant, Q):
    """Previous Gaussian in decode order; the first of a unit predicts the signalled centre."""
    pred = np.zeros_like(Q)
    for s, e in V.units:
        pred[s] = np.median(Q[s:e], axis=0).round().astype(np.int64)
        pred[s + 1:e] = Q[s:e - 1]
    return pred


def int_mean(Q, nbr):
    """Round-half-up integer mean of the valid neighbours' rows; returns (pred, count, rows, valid)."""
    valid = nbr >= 0
    cnt = valid.sum(1)
    g = Q[np.maximum(nbr, 0)] * valid[..., None]
    pred = np.floor_divide(g.sum(1) + (cnt // 2)[:, None], np.maximum(cnt, 1)[:, None])
    return pred, cnt, g, valid


def int_median(Q, nbr):
    """Lower median of the valid neighbours."""
    valid = nbr >= 0
    cnt = valid.sum(1)
    g = np.where(valid[..., None], Q[np.maximum(nbr, 0)], np.iinfo(np.int64).max)
    g.sort(axis=1)
    idx = np.maximum(cnt - 1, 0) // 2
    return np.take_along_axis(g, idx[:, None, None], axis=1)[:, 0, :], cnt


def with_fallback(V, pred, cnt, Q, how="prev"):
    fb = prev_in_unit(V, Q) if how == "prev" else unit_centres(V, Q)
    return np.where(cnt[:, None] == 0, fb, pred)


def cost_channels(V: Variant, R, ctx=None, nctx=None, adaptive=False, side_bits=None, cols=None):
    """Per-channel bits (summed over units) of residuals R (N, C); ctx: None or (N, C)."""
    cols = range(R.shape[1]) if cols is None else cols
    out = np.zeros(R.shape[1])
    fn = adaptive_bits if adaptive else static_bits
    for s, e in V.units:
        for c in cols:
            out[c] += fn(zz(R[s:e, c]), None if ctx is None else ctx[s:e, c], nctx)
        if side_bits is not None:
            out += side_bits
    return out


def grouped(V: Variant, per_channel) -> dict:
    return {g: kB(np.sum(per_channel[idx])) for g, idx in V.groups.items()}


def w_from_norm(V: Variant, Q, R):
    """Rotation coded x, y, z first, then w - isqrt(S^2 - x^2 - y^2 - z^2), S = 1/step
    (lossless: the decoded values are today's)."""
    S2 = np.rint(1.0 / V.srow[:, 4]).astype(np.int64) ** 2
    xyz = Q[:, 5:8]
    R = R.copy()
    R[:, 4] = Q[:, 4] - isqrt_vec(S2 - (xyz * xyz).sum(1))
    return R


def intra_pairs(C: int):
    """(channel, reference channel): scale 1, 2 <- scale 0; dc g <- r, b <- g; rest G <- R, B <- G."""
    pairs = [(2, 1), (3, 1), (9, 8), (10, 9)]
    if C > 11:
        w = (C - 11) // 3
        for i in range(w):
            pairs += [(11 + w + i, 11 + i), (11 + 2 * w + i, 11 + w + i)]
    return pairs


def intra_channel(V: Variant, R, pairs):
    """r'_c = r_c - floor((a r_ref + 4) / 8), a in -16..16 least-squares per unit and channel
    (1 byte side info each)."""
    R2 = R.copy()
    for s, e in V.units:
        for c, ref in pairs:
            x = R[s:e, ref].astype(np.float64)
            den = float((x * x).sum())
            a = 0 if den == 0 else int(np.clip(np.rint(8 * (x * R[s:e, c]).sum() / den), -16, 16))
            R2[s:e, c] = R[s:e, c] - np.floor_divide(a * R[s:e, ref] + 4, 8)
    return R2


# =============================================================================================
# (a) + (b): attribute predictors, contexts, intra-channel prediction
# =============================================================================================

def attribute_tools(V: Variant, adaptive: bool = True, quick: bool = False) -> dict:
    """Rows: tool -> {groups_kB, total_kB, [groups_kB_adaptive]}; plus the stack (per-group best)."""
    t0 = time.perf_counter()
    Q = V.q
    rows = {}

    def add(name, R, ctx=None, nctx=None, side=None, adapt=False, stack=True, note=""):
        pc = cost_channels(V, R, ctx, nctx, side_bits=side)
        row = dict(groups_kB=grouped(V, pc), note=note, stack=stack)
        row["total_kB"] = sum(row["groups_kB"].values())
        if adapt and adaptive:
            pa = cost_channels(V, R, ctx, nctx, adaptive=True)
            if side is not None:
                pa += side * len(V.units)
            row["groups_kB_adaptive"] = grouped(V, pa)
            row["total_kB_adaptive"] = sum(row["groups_kB_adaptive"].values())
        rows[name] = row
        return row

    today_R = Q - unit_centres(V, Q)
    add("today: unit median, order-0", today_R, adapt=True)
    preds = {}
    if not quick:
        add("prev in Morton order", Q - prev_in_unit(V, Q), note="first of a unit: centre")
        nbr8, _ = V.lower_knn(8)
        for k in (1, 4, 8):
            p, cnt, _, _ = int_mean(V.qf, nbr8[:, :k])
            preds[f"knn{k}-lower"] = with_fallback(V, V.own(p), cnt, Q)
            add(f"knn{k}-lower mean", Q - preds[f"knn{k}-lower"], note="layer 1: prev in Morton order")
        m, cnt = int_median(V.qf, nbr8)
        add("knn8-lower median", Q - with_fallback(V, V.own(m), cnt, Q), note="layer 1: prev in Morton order")
    cnb = V.causal_knn(8)
    for k in ((4,) if quick else (4, 8)):
        p, cnt, _, _ = int_mean(V.qf, cnb[:, :k])
        preds[f"knn{k}-causal"] = with_fallback(V, V.own(p), cnt, Q, "centre")
        add(f"knn{k}-causal mean (lower + earlier in unit)", Q - preds[f"knn{k}-causal"])
    if not quick:
        for ph in (2, 4):
            p, cnt, _, _ = int_mean(V.qf, V.phased_knn(4, ph))
            add(f"knn4-phased({ph}) mean (lower + earlier phases of the unit; parallel)",
                Q - with_fallback(V, V.own(p), cnt, Q, "centre"), stack=False,
                note="not used as the stack predictor; shows what survives with vector decoding")
    best = min(preds, key=lambda k: rows[[n for n in rows if n.startswith(k)][0]]["total_kB"])
    pred = preds[best]
    k = int(best[3])
    nb = cnb[:, :k] if "causal" in best else V.lower_knn(8)[0][:, :k]
    # contexts
    _, _, g, valid = int_mean(V.qf, nb)
    cnt = np.maximum(valid.sum(1), 1)
    lm = V.lmult[:, None]
    spread = np.floor_divide((np.abs(g - (pred * lm)[:, None, :]) * valid[..., None]).sum(1) + (cnt // 2)[:, None],
                             cnt[:, None]) // lm
    ctx_spread = np.minimum(bitlen(spread), 7)
    ctx_spread[valid.sum(1) == 0] = 7
    R = w_from_norm(V, Q, Q - pred)
    pairs = intra_pairs(V.C)
    side = np.zeros(V.C)
    for c, _ in pairs:
        side[c] = 8.0
    R_in = intra_channel(V, R, pairs)

    def prev_ctx(RR):
        z = zz(RR).astype(np.int64)
        c = np.zeros_like(RR)
        c[:, 1:] = np.minimum(bitlen(z[:, :-1]), 3)
        c[:, 5] = 0            # x is the first rotation channel coded when w comes from the norm
        c[:, 4] = np.minimum(bitlen(z[:, 7]), 3)
        return c

    add(f"{best} + w from unit norm", R, adapt=True)
    R_med = intra_channel(V, w_from_norm(V, Q, today_R), pairs)
    add("unit median + w norm + intra-channel", R_med, side=side, adapt=True,
        note="for groups where neighbour prediction does not pay (codebook-quantized sources)")
    add(f"{best} + w norm + intra-channel", R_in, side=side, adapt=True)
    add(f"{best} + w norm + intra + ctx spread(8)", R_in, ctx_spread, 8, side, adapt=True,
        note="bucket = bitlen(mean |nbr - pred|)")
    if not quick:
        _, d2 = V.lower_knn(8)
        bl = bitlen(np.maximum(d2, 0))
        ctx_dist = np.zeros(V.n, np.int64)
        for s, e in V.units:
            if s:
                ctx_dist[s:e] = np.clip(bl[s:e] - (int(np.median(bl[s:e])) - 3), 0, 7)
        add(f"{best} + w norm + intra + ctx nearest-lower distance(8)", R_in,
            np.repeat(ctx_dist[:, None], V.C, 1), 8, side)
        th = np.log(np.array([1 / 9, 3 / 7, 3 / 2, 9]))   # logit of alpha 0.1 .. 0.9
        ctx_op = np.repeat(np.searchsorted(th, Q[:, 0] * V.srow[:, 0], side="right")[:, None], V.C, 1)
        ctx_op[:, 0] = 0
        add(f"{best} + w norm + intra + ctx own opacity(5)", R_in, ctx_op, 5, side)
        add(f"{best} + w norm + intra + ctx prev-channel |r|(4)", R_in, prev_ctx(R_in), 4, side, adapt=True)
    add(f"{best} + w norm + intra + ctx spread x prev-channel(32)", R_in, ctx_spread * 4 + prev_ctx(R_in), 32,
        side, adapt=True)
    # layer band (opacity x area of a unit lies in a band): predict the last scale channel
    band_R, band_ctx = layer_band(V, Q, R_in)
    ctx_b = ctx_spread.copy()
    ctx_b[:, 3] = band_ctx
    add(f"{best} + w norm + intra + ctx spread + layer-band scale_2", band_R, ctx_b, 8, side, adapt=True,
        note="scale_2 from the unit's importance band given opacity, scale_0, scale_1")
    if not quick:
        # opacity coded after the scales, context = the Gaussian's log-area bucket (per-unit quantiles)
        srt = np.sort(Q[:, 1:4], 1)
        area = srt[:, 1] + srt[:, 2]
        ctx_a = np.zeros((V.n, V.C), np.int64)
        for s, e in V.units:
            qs = np.quantile(area[s:e], np.linspace(0, 1, 9)[1:-1])
            ctx_a[s:e, 0] = np.searchsorted(qs, area[s:e])
        add("opacity after scales, ctx log-area bucket(8)", today_R, ctx_a, 8, stack=False, adapt=True,
            note="conflicts with layer-band scale (needs opacity first); not in the stack")
    # per-group best (each group is its own stream choice)
    stack, stack_from, stack_ad = {}, {}, {}
    for gname in V.groups:
        cand = {n: r["groups_kB"][gname] for n, r in rows.items() if r["stack"]}
        stack_from[gname] = min(cand, key=cand.get)
        stack[gname] = cand[stack_from[gname]]
        cand_a = {n: r["groups_kB_adaptive"][gname] for n, r in rows.items() if r["stack"] and "groups_kB_adaptive" in r}
        stack_ad[gname] = min(cand_a.values())
    s1, e1 = V.units[0]
    return dict(rows=rows, best_predictor=best, stack_kB=stack, stack_from=stack_from, stack_adaptive_kB=stack_ad,
                layer1_today_kB=kB(sum(static_bits(zz(today_R[s1:e1, c])) for c in range(V.C))),
                seconds=time.perf_counter() - t0, _pred=pred, _nb=nb, _ctx_spread=ctx_spread)


def layer_band(V: Variant, Q, R):
    """Layering puts a unit's Gaussians in a band of log(alpha) + s_a + s_b (opacity_area scorer).
    With opacity, scale_0 and scale_1 decoded, scale_2 = T - max(scale_0, scale_1) unless it is
    the smallest scale (then s0 + s1 is already in the band). Band bounds: 2 bytes per unit;
    log(sigmoid(q * step)) / scale_step as a normative integer table indexed by q."""
    so, ss = V.srow[:, 0], V.srow[:, 1]
    Lq = np.rint(np.log(1 / (1 + np.exp(-Q[:, 0] * so))) / ss).astype(np.int64)
    sc = Q[:, 1:4]
    srt = np.sort(sc, 1)
    imp = Lq + srt[:, 1] + srt[:, 2]
    R2 = R.copy()
    ctx = np.zeros(V.n, np.int64)
    for s, e in V.units:
        lo, hi = int(imp[s:e].min()), int(imp[s:e].max())
        tlo, thi = lo - Lq[s:e], hi - Lq[s:e]
        s01 = sc[s:e, 0] + sc[s:e, 1]
        inb = (s01 >= tlo) & (s01 <= thi)
        p = (tlo + thi) // 2 - np.maximum(sc[s:e, 0], sc[s:e, 1])
        R2[s:e, 3] = np.where(inb, R[s:e, 3], sc[s:e, 2] - p)
        ctx[s:e] = np.where(inb, 0, 1 + np.minimum(bitlen(np.array(hi - lo)), 6))
    return R2, ctx


# =============================================================================================
# (c) rotation representations and importance-dependent steps
# =============================================================================================

def quat_angle_deg(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.degrees(2 * np.arccos(np.clip(np.abs((a * b).sum(1)), 0, 1)))


def rotation_tools(V: Variant, att: dict) -> dict:
    Q, S = V.q, int(round(1 / V.steps[4]))
    qtrue = V.vals[:, 4:8]
    pred, nb = att["_pred"], att["_nb"]
    res = {}

    def rc(R, cols, ctx=None, nctx=None):
        return kB(cost_channels(V, R, None if ctx is None else np.repeat(ctx[:, None], V.C, 1), nctx,
                                cols=cols).sum())

    Rt = Q - unit_centres(V, Q)
    e0 = quat_angle_deg(qtrue, Q[:, 4:8])
    res["today: 4 channels order-0"] = dict(kB=rc(Rt, [4, 5, 6, 7]), angle_p50_deg=float(np.median(e0)),
                                            angle_p99_deg=float(np.percentile(e0, 99)))
    Rk = Q - pred
    res["4 channels knn-pred"] = dict(kB=rc(Rk, [4, 5, 6, 7]))
    Rw = w_from_norm(V, Q, Rk)
    res["xyz knn-pred + w from unit norm (lossless)"] = dict(kB=rc(Rw, [4, 5, 6, 7]), w_only_kB=rc(Rw, [4]),
                                                             w_resid_mean_abs=float(np.abs(Rw[:, 4]).mean()))
    res["xyz order-0 + w from unit norm (lossless)"] = dict(kB=rc(w_from_norm(V, Q, Rt), [4, 5, 6, 7]))
    # drop w
    v = Q[:, 5:8] / S
    dq = np.concatenate([np.sqrt(np.maximum(0, 1 - (v * v).sum(1)))[:, None], v], 1)
    e1 = quat_angle_deg(qtrue, dq)
    res["drop w (xyz knn-pred; lossy)"] = dict(kB=rc(Rk, [5, 6, 7]), angle_p50_deg=float(np.median(e1)),
                                               angle_p99_deg=float(np.percentile(e1, 99)), angle_max_deg=float(e1.max()))
    # smallest three
    qn = qtrue / np.linalg.norm(qtrue, axis=1, keepdims=True)
    big = np.argmax(np.abs(qn), axis=1)
    qn = qn * np.sign(qn[np.arange(V.n), big])[:, None]
    mask = np.ones((V.n, 4), bool)
    mask[np.arange(V.n), big] = False
    q3 = np.rint(qn[mask].reshape(V.n, 3) * S).astype(np.int64)
    r3 = q3 / S
    dq3 = np.zeros((V.n, 4))
    dq3[mask] = r3.reshape(-1)
    dq3[np.arange(V.n), big] = np.sqrt(np.maximum(0, 1 - (r3 * r3).sum(1)))
    e3 = quat_angle_deg(qtrue, dq3)
    tot0 = tot1 = 0.0
    big_nb = np.where(nb[:, 0] >= 0, big[np.maximum(nb[:, 0], 0)], 4)
    nbq = dq3[np.maximum(nb, 0)]
    sg = np.sign(np.take_along_axis(nbq, np.repeat(big[:, None, None], nb.shape[1], 1), 2))[..., 0]
    sg[sg == 0] = 1
    valid = nb >= 0
    m = (nbq * sg[..., None] * valid[..., None]).sum(1) / np.maximum(valid.sum(1), 1)[:, None]
    p3 = np.rint(m[mask].reshape(V.n, 3) * S).astype(np.int64)
    has = valid.any(1)
    for s, e in V.units:
        tot0 += static_bits(big[s:e].astype(np.uint64))
        tot1 += static_bits(big[s:e].astype(np.uint64), big_nb[s:e], 5)
        for j in range(3):
            c0 = int(np.median(q3[s:e, j]))
            tot0 += static_bits(zz(q3[s:e, j] - c0))
            tot1 += static_bits(zz(np.where(has[s:e], q3[s:e, j] - p3[s:e, j], q3[s:e, j] - c0)))
    res["smallest-three order-0 (lossy)"] = dict(kB=kB(tot0), angle_p50_deg=float(np.median(e3)),
                                                 angle_p99_deg=float(np.percentile(e3, 99)))
    res["smallest-three knn-pred (lossy; float prediction)"] = dict(kB=kB(tot1))
    # anisotropy-dependent step: worst-case relative covariance error theta * (1 - rho^2), rho = smin/smax
    ls = Q[:, 1:4] * V.steps[1]
    rho = np.exp(ls.min(1) - ls.max(1))
    mult = np.clip(2 ** np.floor(np.log2(1 / np.maximum(1 - rho * rho, 1e-9))), 1, 16)
    res["anisotropy step m = 2^floor(log2(1/(1-rho^2)))"] = dict(
        frac_gaussians_m_gt_1=float((mult > 1).mean()),
        note="equal worst-case covariance error; few Gaussians are near-isotropic, so no size effect")
    return res


def importance_multipliers(V: Variant, kind: str):
    """Per-Gaussian step multiplier 1, 2, 4, 8 from decoded opacity and scales.
    colour: T / (alpha * area) (area = exp(s_a + s_b)), m = 2^floor(log2(sqrt(.)));
    rotation: T / (alpha * (s_max - s_min)), m = 2^floor(log2(.)).
    T = scene median (one header value): half the Gaussians keep m = 1."""
    Q = V.q
    ls = Q[:, 1:4] * V.srow[:, 1:2]
    alpha = 1 / (1 + np.exp(-Q[:, 0] * V.srow[:, 0]))
    srt = np.sort(ls, 1)
    if kind == "colour":
        imp = alpha * np.exp(srt[:, 1] + srt[:, 2])
        r = np.sqrt(np.median(imp) / np.maximum(imp, 1e-30))
    else:
        imp = alpha * (np.exp(srt[:, 2]) - np.exp(srt[:, 0]))
        r = np.median(imp) / np.maximum(imp, 1e-30)
    return np.clip(2 ** np.floor(np.log2(np.maximum(r, 1))), 1, 8).astype(np.int64)


def variable_step_cost(V: Variant, att: dict, cols, mult):
    """Cost (kB) of channels ``cols`` quantized at step * mult (per Gaussian), predicted from the
    neighbours' values rescaled to the fine grid, context = log2(mult). Returns (kB, q_fine)."""
    nb = att["_nb"]
    qa = np.rint(V.vals[:, cols] / (V.srow[:, cols] * mult[:, None])).astype(np.int64)
    fine = qa * mult[:, None]
    p, cnt, _, _ = int_mean(fine * V.lmult[:, None], nb)
    pc = V.own(p, mult)
    R = np.where(cnt[:, None] > 0, qa - pc, qa - prev_in_unit(V, qa))
    ctx = np.log2(mult).astype(np.int64)
    tot = sum(static_bits(zz(R[s:e, j]), ctx[s:e], 4) for s, e in V.units for j in range(len(cols)))
    return kB(tot), fine


def importance_step_tools(V: Variant, att: dict) -> dict:
    out = {}
    for kind, cols in (("colour", V.groups["dc"] + V.groups.get("rest", [])), ("rotation", V.groups["rotation"])):
        m = importance_multipliers(V, kind)
        one = np.ones_like(m)
        k1, _ = variable_step_cost(V, att, cols, one)
        k2, _ = variable_step_cost(V, att, cols, m)
        out[kind] = dict(uniform_kB=k1, importance_kB=k2, saving_kB=k1 - k2,
                         mult_hist={int(a): int(b) for a, b in zip(*np.unique(m, return_counts=True))})
    return out


# =============================================================================================
# (d) geometry
# =============================================================================================

def morton_gap_bits(cu) -> float:
    d = np.empty_like(cu)
    d[0] = cu[0]
    d[1:] = cu[1:] - cu[:-1] - 1
    return static_bits(d.astype(np.uint64))


def dup_bits(codes) -> float:
    _, mult = np.unique(codes, return_counts=True)
    return static_bits((mult - 1).astype(np.uint64)) + 8 if (mult > 1).any() else 0.0


_NB6 = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.int64)


def _member(keys_sorted, q):
    if len(keys_sorted) == 0:
        return np.zeros(q.shape, bool)
    i = np.minimum(np.searchsorted(keys_sorted, q), len(keys_sorted) - 1)
    return keys_sorted[i] == q


def _nb_count(keys_sorted, coords, d):
    lim = 1 << d
    cnt = np.zeros(len(coords), np.int64)
    for off in _NB6:
        c2 = coords + off
        ok = np.all((c2 >= 0) & (c2 < lim), axis=1)
        k = morton.encode(np.where(ok[:, None], c2, 0).astype(np.uint16)).astype(np.int64)
        cnt += ok & _member(keys_sorted, k)
    return cnt


def octree_bits(codes, bits: int, lower=None, variant: str = "full") -> float:
    """Binary per-child occupancy coding of one unit's distinct voxels, breadth-first,
    adaptive KT per context:
      'level+sib': level x child index x min(occupied siblings so far, 2)
      'nbr'      : + number of the parent's 6 face neighbours occupied at its level (0..3+)
      'full'     : + lower layers at the child's level: child cell occupied (0/1) and number of
                   the parent's 8 children occupied (0, 1, 2-3, 4+)."""
    codes = np.unique(np.asarray(codes, dtype=np.int64))
    B, Cx = [], []
    for d in range(1, bits + 1):
        parents = np.unique(codes >> (3 * (bits - d + 1)))
        children = np.unique(codes >> (3 * (bits - d)))
        cand = parents[:, None] * 8 + np.arange(8)[None, :]
        occ = _member(children, cand.reshape(-1)).reshape(-1, 8)
        sib = np.minimum(np.cumsum(occ, 1) - occ, 2)
        ctx = (d - 1) * 24 + np.arange(8)[None, :] * 3 + sib
        if variant != "level+sib":
            if d > 1:
                pc = morton.decode(parents.astype(np.uint64)).astype(np.int64)
                nbc = np.minimum(_nb_count(parents, pc, d - 1), 3)
            else:
                nbc = np.zeros(1, np.int64)
            ctx = ctx * 4 + nbc[:, None]
        if variant == "full":
            if lower is not None and len(lower):
                lo = _member(np.unique(lower >> (3 * (bits - d))), cand.reshape(-1)).reshape(-1, 8).astype(np.int64)
            else:
                lo = np.zeros(occ.shape, np.int64)
            lc = lo.sum(1)
            ctx = (ctx * 2 + lo) * 4 + np.select([lc == 0, lc == 1, lc <= 3], [0, 1, 2], 3)[:, None]
        B.append(occ.reshape(-1))
        Cx.append(ctx.reshape(-1))
    return binary_bits(np.concatenate(B), np.concatenate(Cx))


def geometry_tools(V: Variant, octree_variants=("level+sib", "nbr", "full"), single=True) -> dict:
    row = dict(morton_gaps_kB=0.0, duplicates_kB=0.0, distinct_voxels=0)
    for v in octree_variants:
        row[f"octree_{v}_kB"] = 0.0
    for s, e in V.units:
        cu = np.unique(V.codes[s:e])
        row["distinct_voxels"] += int(cu.size)
        row["morton_gaps_kB"] += kB(morton_gap_bits(cu))
        row["duplicates_kB"] += kB(dup_bits(V.codes[s:e]))
        for v in octree_variants:
            row[f"octree_{v}_kB"] += kB(octree_bits(cu, V.pos_bits, V.codes[:s] if s else None, v))
    if single:
        row["octree_nbr_whole_scene_one_unit_kB"] = kB(octree_bits(np.unique(V.codes), V.pos_bits, None, "nbr"))
    row["best_kB"] = min(row[k] for k in row if k.startswith(("morton_gaps", "octree_")) and "whole" not in k) \
        + row["duplicates_kB"]
    # position error relative to each Gaussian's largest axis
    base = V.base
    st = base.voxel.astype(np.float64) * (1 << (16 - V.pos_bits))
    off = 0.5 if V.pos_bits < 16 else 0.0
    deq = base.origin + ((base.qpos16 >> (16 - V.pos_bits)) + off) * st
    err = np.linalg.norm(deq - base.scene.positions, axis=1)
    smax = np.exp(base.scene.scales.astype(np.float64).max(1))
    row["pos_err_over_smax_p50"] = float(np.median(err / smax))
    return row


# =============================================================================================
# (e) SH rest
# =============================================================================================

def kmeans(X, K, iters=8, sample=40000, seed=0):
    import torch
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    Xs = X[rng.choice(len(X), min(sample, len(X)), replace=False)]
    cent = Xs[rng.choice(len(Xs), K, replace=False)].copy()

    def assign(A, Cn):
        At, Ct = torch.as_tensor(A, dtype=torch.float32), torch.as_tensor(Cn, dtype=torch.float32)
        c2 = (Ct * Ct).sum(1)
        return torch.cat([(c2[None, :] - 2 * At[i:i + 8192] @ Ct.T).argmin(1)
                          for i in range(0, len(At), 8192)]).numpy()

    for _ in range(iters):
        lab = assign(Xs, cent)
        sums = np.zeros_like(cent)
        np.add.at(sums, lab, Xs)
        cnt = np.bincount(lab, minlength=K)
        cent[cnt > 0] = sums[cnt > 0] / cnt[cnt > 0, None]
    return cent, assign(X, cent)


def rest_tools(V: Variant, att: dict, ks=(256, 1024, 4096)) -> dict:
    if V.C <= 11:
        return {}
    cols = V.groups["rest"]
    Q, step = V.q[:, cols], V.srow[:, cols[0]][:, None]
    X = V.vals[:, cols]
    out = {"distinct source rows": int(len(np.unique(X, axis=0))),
           "rmse today": float(np.sqrt(((Q * step - X) ** 2).mean()))}
    nb = att["_nb"]
    for label, m in (("zero mask (lossless)", (Q == 0).all(1)), ("mask |q|<=1 -> 0 (lossy)", (np.abs(Q) <= 1).all(1))):
        nbm = np.where(nb[:, 0] >= 0, m[np.maximum(nb[:, 0], 0)].astype(np.int64), 2)
        tot = binary_bits(m.astype(np.int64), nbm + 3 * (V.layer - 1))
        for s, e in V.units:
            keep = ~m[s:e]
            for j in range(len(cols)):
                x = Q[s:e, j][keep]
                if x.size:
                    tot += static_bits(zz(x - int(np.median(x))))
        Qd = np.where(m[:, None], 0, Q)
        out[label] = dict(kB=kB(tot), fraction=float(m.mean()), rmse=float(np.sqrt(((Qd * step - X) ** 2).mean())),
                          note="rest channels order-0 for unmasked rows")
    for K in ks:
        t = time.perf_counter()
        cent, lab = kmeans(X.astype(np.float32), K)
        cq = np.rint(cent / V.steps[cols[0]]).astype(np.int64)
        cb = sum(static_bits(zz(cq[:, j] - int(np.median(cq[:, j])))) for j in range(len(cols)))
        lb = sum(min(static_bits(lab[s:e].astype(np.uint64)), (e - s) * math.log2(K)) for s, e in V.units)
        out[f"codebook K={K} (lossy)"] = dict(kB=kB(cb + lb), labels_kB=kB(lb), codebook_kB=kB(cb),
                                              rmse=float(np.sqrt(((cq[lab] * V.steps[cols[0]] - X) ** 2).mean())),
                                              seconds=time.perf_counter() - t, _lab=lab, _cq=cq)
    return out


# =============================================================================================
# Rendering, PSNR, rate control
# =============================================================================================

class Judge:
    """Foreground PSNR against the original over 8 orbit views at 256x256 (CPU renderer)."""

    def __init__(self, base: Base, views=8, size=256):
        from refcodec.render import orbit_cameras
        self.cams = orbit_cameras(base.scene.positions, views, size, size)
        self.ref = self._render(base.scene)
        self.renders = 0

    def _render(self, scene):
        import torch
        from refcodec.render import render
        with torch.no_grad():
            return [render(scene, c, backend="torch") for c in self.cams]

    def psnr(self, scene) -> float:
        self.renders += 1
        se, cnt = 0.0, 0
        for a, b in zip(self.ref, self._render(scene)):
            fg = ((a["alpha"] > 0.01) | (b["alpha"] > 0.01)).numpy()
            d = (a["rgb"].clamp(0, 1) - b["rgb"].clamp(0, 1)).numpy()
            se += float((d[fg] ** 2).sum())
            cnt += int(fg.sum()) * 3
        return 10 * math.log10(1.0 / max(se / max(cnt, 1), 1e-20))


def today_cost_kB(V: Variant) -> dict:
    g = grouped(V, cost_channels(V, V.q - unit_centres(V, V.q)))
    g["geometry"] = sum(kB(morton_gap_bits(np.unique(V.codes[s:e])) + dup_bits(V.codes[s:e])) for s, e in V.units)
    g["total"] = sum(g.values())
    return g


POS_LADDER = (16, 15, 14, 13, 12, 11, 10)
MULT_LADDER = tuple(float(2 ** (i / 2)) for i in range(15))     # x sqrt(2) notches, 1 .. 128
TILT_LADDER = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75)   # layer l step x 2^round(tilt (l-1))


def variant_of(base: Base, st: dict) -> Variant:
    return Variant(base, st["pos"], {k: st[k] for k in KNOBS}, st.get("tilt", 0.0))


def rate_control(base: Base, judge: Judge, floor_db: float, top_db: float, tilt: bool = True, log=print) -> list:
    """Greedy step allocation: from the preset (16-bit positions, multipliers 1, no tilt),
    repeatedly take the one-notch coarsening (positions one bit; a group's step x sqrt(2), x2
    while PSNR is still 2.5 dB above ``top_db``; the per-layer tilt one notch) with the most
    bytes saved per dB lost (today's order-0 model), until PSNR drops below ``floor_db``."""
    knobs = ["pos"] + [k for k in KNOBS if k in base.groups] + (["tilt"] if tilt else [])
    state = dict(pos=16, tilt=0.0, **{k: 1.0 for k in KNOBS})

    def evaluate(st):
        V = variant_of(base, st)
        return dict(state=dict(st), psnr=judge.psnr(V.dequantized_scene()), kB=today_cost_kB(V)["total"])

    cur = evaluate(state)
    path = [cur]
    log(f"  rc start: {cur['psnr']:.2f} dB, {cur['kB']:.0f} kB")
    while cur["psnr"] > floor_db and len(path) < 40:
        best, best_ratio = None, -1.0
        for k in knobs:
            st = dict(cur["state"])
            ladder = POS_LADDER if k == "pos" else TILT_LADDER if k == "tilt" else MULT_LADDER
            i = ladder.index(st[k])
            step = 2 if ladder is MULT_LADDER and cur["psnr"] > top_db + 2.5 else 1
            if i + step >= len(ladder):
                continue
            st[k] = ladder[i + step]
            c = evaluate(st)
            saved, lost = cur["kB"] - c["kB"], cur["psnr"] - c["psnr"]
            ratio = saved / max(lost, 0.02)
            if saved > 0 and ratio > best_ratio:
                best, best_ratio = c, ratio
        if best is None:
            break
        best["kB_per_dB"] = best_ratio
        cur = best
        path.append(cur)
        log(f"  rc step: {fmt_state(cur['state'])} -> {cur['psnr']:.2f} dB, {cur['kB']:.0f} kB ({best_ratio:.0f} kB/dB)")
    return path


def fmt_state(st: dict) -> str:
    return ", ".join(f"{k} {v:g}" if k in ("pos", "tilt") else f"{k} x{v:.3g}" for k, v in st.items())


def stack_cost(base: Base, state: dict) -> dict:
    """Today's model and the lossless context stack at one step allocation (kB)."""
    V = variant_of(base, state)
    att = attribute_tools(V, adaptive=True, quick=True)
    geo = geometry_tools(V, octree_variants=("full",), single=False)
    today = today_cost_kB(V)
    ctx = dict(att["stack_kB"], geometry=geo["best_kB"])
    ctx["total"] = sum(ctx.values())
    ctx_ad = dict(att["stack_adaptive_kB"], geometry=geo["best_kB"])
    ctx_ad["total"] = sum(ctx_ad.values())
    return dict(today=today, stack_static=ctx, stack_adaptive=ctx_ad, V=V, att=att)


def interp_at(path, target):
    """Bracketing path points around ``target`` dB and the interpolation weight."""
    for i in range(1, len(path)):
        a, b = path[i - 1], path[i]
        if b["psnr"] < target <= a["psnr"]:
            w = (a["psnr"] - target) / max(a["psnr"] - b["psnr"], 1e-9)
            return a, b, w
    return None


def lossy_checks(base: Base, judge: Judge, st: dict, ev: dict, slope_kB_per_dB: float) -> dict:
    """At an allocation: PSNR and bytes of lossy tools; 'net_kB' = bytes saved minus what the
    PSNR loss is worth at the local slope of the rate-control path (positive = worth it)."""
    V, att = ev["V"], ev["att"]
    p0 = judge.psnr(V.dequantized_scene())
    out = {"reference_psnr": p0}

    def record(name, scene, saved_kB):
        p = judge.psnr(scene)
        out[name] = dict(psnr=p, dpsnr=p - p0, saved_kB=saved_kB, net_kB=saved_kB - max(p0 - p, 0) * slope_kB_per_dB)

    # drop w: decoder computes w from x, y, z
    v = V.q[:, 5:8] * V.srow[:, 4:5]
    rot = np.concatenate([np.sqrt(np.maximum(0, 1 - (v * v).sum(1)))[:, None], v], 1)
    w_kB = kB(cost_channels(V, w_from_norm(V, V.q, V.q - att["_pred"]), cols=[4]).sum())
    record("drop w (decoder derives w)", V.dequantized_scene(rotations=rot), w_kB)
    # importance-dependent colour and rotation steps
    for kind, cols in (("colour", V.groups["dc"] + V.groups.get("rest", [])), ("rotation", V.groups["rotation"])):
        m = importance_multipliers(V, kind)
        k1, _ = variable_step_cost(V, att, cols, np.ones_like(m))
        k2, fine = variable_step_cost(V, att, cols, m)
        q = V.q.copy()
        q[:, cols] = fine
        record(f"importance {kind} step (m 1..8)", V.dequantized_scene(q=q), k1 - k2)
    # pruning: drop the least important Gaussians (opacity x area, the layering score), re-layer
    # and re-quantize at the same allocation. Bytes: today's model on the pruned scene (exact),
    # scaled by stack/today of the full scene [estimated for the stack].
    from refcodec.encoder.layering import opacity_area
    sc0 = V.base.scene
    imp = opacity_area(sc0, np.arange(sc0.n))
    o0 = today_cost_kB(V)["total"]
    ratio = ev["stack_static"]["total"] / max(ev["today"]["total"], 1e-9)
    for frac in (0.05, 0.1):
        keep = np.sort(np.argsort(imp, kind="stable")[int(frac * sc0.n):])
        bp = Base(V.base.path, V.base.quality, scene=sc0.subset(keep))
        Vp = variant_of(bp, st)
        record(f"prune {int(frac * 100)}% least important Gaussians [bytes estimated]", Vp.dequantized_scene(),
               (o0 - today_cost_kB(Vp)["total"]) * ratio)
    # per-layer position bits: one bit fewer for layers 5..8 (exact Morton-gap bytes)
    if V.pos_bits > 10:
        saved = 0.0
        qp = V.base.qpos16 >> (16 - V.pos_bits)
        coarse = V.base.layer >= 5
        for s, e in V.units:
            if V.layer[s] >= 5:
                c_old = np.unique(V.codes[s:e])
                c_new = np.unique(morton.encode((V.qpos[s:e] >> 1).astype(np.uint16)).astype(np.int64))
                saved += kB(morton_gap_bits(c_old) - morton_gap_bits(c_new))
        sc = V.dequantized_scene()
        st = V.base.voxel.astype(np.float64) * (1 << (16 - V.pos_bits))
        off = 0.5 if V.pos_bits < 16 else 0.0
        pos = V.base.origin + (qp + off) * st
        pos[coarse] = V.base.origin + ((qp[coarse] >> 1) * 2 + 0.5 + off) * st
        sc.positions = pos.astype(np.float32)
        record(f"positions {V.pos_bits - 1} bits for layers 5-8", sc, saved)
    if V.C > 11:
        # per-Gaussian SH-rest mask: zero the rest of the Gaussians with the least
        # alpha * area * |rest| (a mask bit each, adaptive with the layer as context). Bytes:
        # today's order-0 difference scaled by stack/today for the rest group [estimated].
        cols = V.groups["rest"]
        rq = V.q[:, cols]
        alpha = 1 / (1 + np.exp(-V.q[:, 0] * V.srow[:, 0]))
        srt = np.sort(V.q[:, 1:4] * V.srow[:, 1:2], 1)
        score = alpha * np.exp(srt[:, 1] + srt[:, 2]) * np.sqrt(((rq * V.srow[:, cols]) ** 2).sum(1))
        o0_rest = today_cost_kB(V)["rest"]
        for frac in (0.25, 0.5):
            m = score <= np.quantile(score, frac)
            cost = kB(binary_bits(m.astype(np.int64), V.layer))
            for s_, e_ in V.units:
                keep = ~m[s_:e_]
                for j in range(len(cols)):
                    x = rq[s_:e_, j][keep]
                    if x.size:
                        cost += kB(static_bits(zz(x - int(np.median(x)))))
            q2 = V.q.copy()
            sub = q2[:, cols]
            sub[m] = 0
            q2[:, cols] = sub
            saved = (o0_rest - cost) * ev["stack_static"]["rest"] / max(o0_rest, 1e-9)
            record(f"SH-rest mask: zero {int(frac * 100)}% least important [bytes estimated]",
                   V.dequantized_scene(q=q2), saved)
        rt = rest_tools(V, att, ks=(1024, 4096))
        for K in (1024, 4096):
            cb = rt[f"codebook K={K} (lossy)"]
            q = V.q.copy()
            q[:, V.groups["rest"]] = cb["_cq"][cb["_lab"]] / V.lmult[:, None]
            record(f"SH-rest codebook K={K}", V.dequantized_scene(q=q), ev["stack_static"]["rest"] - cb["kB"])
    return out


def measure_peer_psnr(base: Base, judge: Judge) -> dict:
    """Encode with splat-transform (SPZ; SOG when it finishes within 120 s) into a temporary
    folder, decode, align axes, and measure the same PSNR."""
    try:
        import peers
        from refcodec.io.load import load_scene
    except Exception as e:
        return dict(error=str(e))
    tool, msg = peers.find_splat_transform()
    if tool is None:
        return dict(error=f"splat-transform not found: {msg}")
    out = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        for ext in ("spz", "sog"):
            f = os.path.join(d, f"peer.{ext}")
            r = peers.encode(tool, base.path, f, timeout=120)
            if r["rc"] != 0 or not os.path.exists(f):
                out[ext] = dict(error="timed out" if r["timed_out"] else r["output"][-200:])
                continue
            size = os.path.getsize(f)
            if ext == "sog":
                ply = os.path.join(d, "peer_sog.ply")
                peers.to_ply(tool, f, ply, timeout=120)
                sc = read_ply(ply)
            else:
                sc = load_scene(f)
            sc, turn, _ = peers.align_scene(base.scene, sc)
            sc.opacity = np.clip(sc.opacity, -OPACITY_CLAMP, OPACITY_CLAMP)
            out[ext] = dict(bytes=size, psnr=judge.psnr(sc), turn=turn, encode_s=r["seconds"])
    return out


# =============================================================================================
# Driver
# =============================================================================================

def strip(d):
    if isinstance(d, dict):
        return {str(k): strip(v) for k, v in d.items() if not str(k).startswith("_") and k != "V" and k != "att"}
    if isinstance(d, (list, tuple)):
        return [strip(x) for x in d]
    if isinstance(d, (np.floating, np.integer)):
        return d.item()
    return d


def run_scene(path: str, a) -> dict:
    t0 = time.perf_counter()
    base = Base(path, a.quality)
    r = dict(scene=base.name, gaussians=base.n, sh_degree=base.sh_degree, quality=a.quality,
             layer_counts=np.bincount(base.layer)[1:].tolist(), peer_bytes=PEER_BYTES.get(base.name, {}))
    print(f"\n## {base.name}: {base.n:,} Gaussians, SH{base.sh_degree}, layers {r['layer_counts']}", flush=True)
    V = Variant(base)
    r["calibration"] = dict(real_encoder=base.real_encoder(), model=today_cost_kB(V))
    att = attribute_tools(V)
    r["attributes"] = att
    r["rotation"] = rotation_tools(V, att)
    r["importance_steps"] = importance_step_tools(V, att)
    print(f"  attributes {att['seconds']:.0f}s", flush=True)
    t = time.perf_counter()
    r["geometry"] = {b: geometry_tools(V if b == 16 else Variant(base, b), single=b in (16, 13),
                                       octree_variants=("level+sib", "nbr", "full") if b in (16, 13) else ("full",))
                     for b in (16, 15, 14, 13)}
    print(f"  geometry {time.perf_counter() - t:.0f}s", flush=True)
    r["sh_rest"] = rest_tools(V, att, ks=() if a.no_kmeans else (256, 1024, 4096))
    r["summary_preset"] = summary_preset(r)
    if a.psnr:
        rc_section(base, r, a)
    r["seconds"] = time.perf_counter() - t0
    report(r)
    return strip(r)


def summary_preset(r: dict) -> dict:
    """Lossless stacks at the preset's steps (kB, ideal code lengths)."""
    m = r["calibration"]["model"]
    att = r["attributes"]
    geo16, geo13, geo14 = r["geometry"][16], r["geometry"][13], r["geometry"][14]
    groups = [g for g in att["stack_kB"]]
    s = {"today (model)": dict({g: m[g] for g in groups}, geometry=m["geometry"])}
    s["attribute stack, static tables"] = dict(att["stack_kB"], geometry=m["geometry"])
    s["attribute stack, adaptive"] = dict(att["stack_adaptive_kB"], geometry=m["geometry"])
    s["+ octree/morton best, 16 bit"] = dict(att["stack_kB"], geometry=geo16["best_kB"])
    s["+ 14-bit positions (lossy)"] = dict(att["stack_kB"], geometry=geo14["best_kB"])
    s["+ 13-bit positions (lossy)"] = dict(att["stack_kB"], geometry=geo13["best_kB"])
    for d in s.values():
        d["total"] = sum(d.values())
    return s


def rc_section(base: Base, r: dict, a):
    t = time.perf_counter()
    judge = Judge(base)
    targets = dict(PEER_PSNR_NOTES.get(base.name, {}))
    src = {k: "rate-findings.md" for k in targets}
    if a.measure_peers:
        mp = measure_peer_psnr(base, judge)
        r["peer_psnr_measured"] = mp
        for k in ("sog", "spz"):
            if isinstance(mp.get(k), dict) and "psnr" in mp[k]:
                targets[k], src[k] = mp[k]["psnr"], "measured"
    r["targets_db"] = dict(targets=targets, source=src)
    if not targets:
        r["rate_control"] = dict(note="no peer PSNR known for this scene; pass --measure-peers")
        return
    path = rate_control(base, judge, min(targets.values()) - 0.3, max(targets.values()), tilt=not a.no_tilt)
    res = {}
    for peer, tgt in targets.items():
        br = interp_at(path, tgt)
        if br is None:
            continue
        lo, hi, w = br
        ev_a, ev_b = stack_cost(base, lo["state"]), stack_cost(base, hi["state"])

        def mix(key):
            return {g: (1 - w) * ev_a[key][g] + w * ev_b[key][g] for g in ev_a[key]}

        slope = hi.get("kB_per_dB", 100.0)
        row = dict(target_db=tgt, allocation_above=lo["state"], allocation_below=hi["state"], weight=w,
                   today=mix("today"), stack_static=mix("stack_static"), stack_adaptive=mix("stack_adaptive"),
                   slope_kB_per_dB=slope, lossy=lossy_checks(base, judge, lo["state"], ev_a, slope))
        peer_b = PEER_BYTES.get(base.name, {}).get(peer)
        if peer_b:
            for k in ("today", "stack_static", "stack_adaptive"):
                row[f"{k}_vs_peer"] = row[k]["total"] * 1000 / peer_b
        res[peer] = row
    r["rate_control"] = dict(path=path, at_targets=res, renders=judge.renders, seconds=time.perf_counter() - t)


def fmt_groups(d, groups):
    return " | ".join(f"{d.get(g, float('nan')):.1f}" for g in groups)


def report(r: dict):
    att = r["attributes"]
    groups = list(att["stack_kB"])
    base = att["rows"]["today: unit median, order-0"]
    print(f"\n### {r['scene']}: attributes at preset {r['quality']} (kB; static per-unit tables)")
    print("| tool | " + " | ".join(groups) + " | total | vs today |")
    print("|---|" + "---|" * (len(groups) + 2))
    for name, d in att["rows"].items():
        print(f"| {name} | {fmt_groups(d['groups_kB'], groups)} | {d['total_kB']:.1f} | "
              f"{100 * (d['total_kB'] / base['total_kB'] - 1):+.1f}% |")
        if "groups_kB_adaptive" in d:
            print(f"| ... adaptive | {fmt_groups(d['groups_kB_adaptive'], groups)} | {d['total_kB_adaptive']:.1f} | "
                  f"{100 * (d['total_kB_adaptive'] / base['total_kB'] - 1):+.1f}% |")
    for lab, key in (("stack (per-group best), static", "stack_kB"), ("stack, adaptive", "stack_adaptive_kB")):
        tot = sum(att[key].values())
        print(f"| **{lab}** | {fmt_groups(att[key], groups)} | {tot:.1f} | {100 * (tot / base['total_kB'] - 1):+.1f}% |")
    print(f"stack built from: {att['stack_from']}")
    cal = r["calibration"]
    print(f"\ncalibration: real encoder {cal['real_encoder']}; model {{{', '.join(f'{k}: {v:.1f}' for k, v in cal['model'].items())}}} kB")
    print("\n### rotation")
    for name, d in r["rotation"].items():
        print(f"- {name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items()))
    print("\n### importance-dependent steps (size only, same neighbours)")
    for name, d in r["importance_steps"].items():
        print(f"- {name}: {d}")
    print("\n### geometry (kB)")
    keys = ["morton_gaps_kB", "octree_level+sib_kB", "octree_nbr_kB", "octree_full_kB", "duplicates_kB",
            "octree_nbr_whole_scene_one_unit_kB", "best_kB"]
    print("| bits | " + " | ".join(k[:-3] for k in keys) + " | distinct voxels | pos err / s_max p50 |")
    print("|---|" + "---|" * (len(keys) + 2))
    for b, row in r["geometry"].items():
        print(f"| {b} | " + " | ".join(f"{row[k]:.1f}" if k in row else "-" for k in keys)
              + f" | {row['distinct_voxels']} | {row['pos_err_over_smax_p50']:.4f} |")
    if r["sh_rest"]:
        print("\n### SH rest")
        for name, d in r["sh_rest"].items():
            if isinstance(d, dict):
                d = {k: v for k, v in d.items() if not k.startswith("_")}
            print(f"- {name}: {d}")
    print("\n### lossless stacks at the preset (kB)")
    g2 = groups + ["geometry", "total"]
    print("| stack | " + " | ".join(g2) + " | x SOG | x SPZ |")
    print("|---|" + "---|" * (len(g2) + 2))
    pb = r["peer_bytes"]
    for name, d in r["summary_preset"].items():
        print(f"| {name} | {fmt_groups(d, g2)} | {d['total'] * 1000 / pb['sog']:.2f} | {d['total'] * 1000 / pb['spz']:.2f} |"
              if pb else f"| {name} | {fmt_groups(d, g2)} | | |")
    rc = r.get("rate_control")
    if rc and "at_targets" in rc:
        print(f"\n### at equal foreground PSNR (targets {r['targets_db']})")
        for peer, row in rc["at_targets"].items():
            print(f"- {peer} @ {row['target_db']:.2f} dB: allocation [{fmt_state(row['allocation_above'])}] .. [{fmt_state(row['allocation_below'])}]"
                  f" (w={row['weight']:.2f})")
            for k in ("today", "stack_static", "stack_adaptive"):
                v = row.get(f"{k}_vs_peer")
                print(f"  - {k}: {fmt_groups(row[k], g2)} kB" + (f" = {v:.2f}x {peer}" if v else ""))
            for name, d in row["lossy"].items():
                if isinstance(d, dict):
                    print(f"  - lossy {name}: dPSNR {d['dpsnr']:+.2f} dB, saves {d['saved_kB']:.1f} kB, "
                          f"net {d['net_kB']:+.1f} kB at {row['slope_kB_per_dB']:.0f} kB/dB")
    print(f"\n({r['scene']}: {r.get('seconds', 0):.0f}s)", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ply", nargs="+")
    ap.add_argument("--quality", default="high")
    ap.add_argument("--json", default=os.path.join(tempfile.gettempdir(), "context_study.json"))
    ap.add_argument("--psnr", action="store_true", help="rate control to the peers' PSNR (CPU renders)")
    ap.add_argument("--measure-peers", action="store_true", help="measure peer PSNR with splat-transform")
    ap.add_argument("--no-kmeans", action="store_true")
    ap.add_argument("--no-tilt", action="store_true", help="rate control without the per-layer step tilt knob")
    a = ap.parse_args(argv)
    results = [run_scene(p, a) for p in a.ply]
    Path(a.json).write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
