"""Per-level distilled values as prefix corrections (spec A.8 option (b); the decoder's side is
spec 8.7, version 4.2).

A nested file holds one copy of each Gaussian, trained for the full scene. Progressive
distillation (RecastGS Eq. 4, ``refcodec.encoder.layering.distill``) gives every level l its own
values for the Gaussians of layers <= l. Here they travel as ancillary correction segments: the
units keep the full scene's values (a full decode is unchanged bit for bit), and a region decoded
only up to level l gets that level's values. Positions, rotations and the SH rest are not
distilled (FREEZE), and the corrections are coarse: multiples of 2^s unit steps, s chosen per
level from the size of its changes (``level_shift``; a prefix needs far less precision than the
full scene). Encoder only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from refcodec.format import correct as fcorrect
from refcodec.format import schema as S
from refcodec.format.channels import ROT_W, ROT_Z

# corrections in units of 2^s unit steps, s chosen per level so that 2^s is about the RMS of the
# level's changes (in unit steps) over RESOLUTION: the coarse levels move their values by tens of
# steps, the finer ones by a few (spec A.8; 1.4 measured best of 1, 1.4, 2, 4 and a fixed s = 4,
# tools/bench/results/prefix-shift-study-2026-12-07.md); None: that rule, an int: a fixed s
SHIFT = None
RESOLUTION = 1.4
# ... then made finer, by up to FINER steps, while each step finer gains at least SLOPE dB of
# PSNR on CHECK_RINGS per doubling of the level's bytes: the rule sizes 2^s to the largest
# changes, and a thinned prefix may move its opacities by 100-140 unit steps while its colours
# move by 2-12, which s = 5 rounds away (stanford_bunny_100k levels 1-5: -1.1 to -2.4 dB fg).
# 6 dB on these small full-frame views: they show 2-4 times the gain the evaluation's 192-px
# views and close-ups show (fg), so 6 stands for 2-3 dB there, about what a decimated LOD gains
# per doubling (3.1 dB on plant, 4.2 on stanford_bunny_100k); spec A.8 (b)
SLOPE = 6.0
FINER = 4
# start a level's distillation also from its adjusted stored values (``level_starts``), when they
# render the level closer on the distillation's check views: stanford_bunny_100k levels 4-5 +1.4 /
# +2.5 dB fg, level 7 -1.0 dB (the floor keeps the scales from shrinking below it); spec A.8 (b)
ADJUSTED_STARTS = True
# the views that judge a finer shift: not the distillation's (a finer shift also keeps what the
# distillation fitted to its own views alone; plant, judged on 8 of them at 3 dB: 3-14% more
# bytes at levels 1-4 for under 0.5 dB): rings of (elevation, azimuth offset, views), CHECK_SIZE px
CHECK_RINGS = ((-10.0, 53.0, 2), (35.0, 71.0, 2), (65.0, 29.0, 2))
CHECK_SIZE = 128
# rounding of the corrections: |t| = floor(|x| + ROUNDING); 0.5 to nearest. A dead zone (1/3, as
# video encoders quantize residuals) measured worse (spec A.8)
ROUNDING = 0.5
# levels whose prefix holds at most this fraction of the Gaussians get their own values
MAX_FRACTION = 0.6
# parameter groups not distilled (spec A.8 (b)): positions (shared by every level through the
# octree), rotations, and the SH rest (playbot_lod2, SH 2: with it frozen, level 1's correction
# is 60% smaller and levels 1-7 change by -0.2 to +0.9 dB fg-PSNR; spec A.8)
FREEZE = ("means", "quats", "sh_rest")
SECONDS = 120.0
# code the scales and SH DC of a correction as differences to the channel before (spec 8.7.1,
# kind 131, 4.3): a Gaussian's three scales move together and its three colours by nearly the
# same amount (correlation 0.5 and 0.9 on biker), so the corrections take 5-17% fewer bytes
# (plant 5.4%, biker 16.7%; spec A.8 (b))
PREDICT = True


# the distillation's views when the user gives none: the teacher renders from anywhere, so the
# views cover the sphere and near distances (a prefix fitted to three rings at one distance got
# worse from below and from close up, on a generated scene): rings of (elevation, azimuth offset,
# views, margin; None = the whole scene in view)
VIEW_RINGS = ((-60.0, 5.0, 6, None), (-30.0, 20.0, 8, None), (0.0, 0.0, 10, None), (30.0, 14.0, 10, None),
              (60.0, 31.0, 8, None), (80.0, 0.0, 3, None), (-20.0, 45.0, 8, 0.6), (25.0, 67.0, 8, 0.6))


def views(positions: np.ndarray, size: int) -> list:
    """The distillation's default views (VIEW_RINGS) at ``size`` pixels."""
    from refcodec.render import orbit_cameras

    cams = []
    for el, off, k, margin in VIEW_RINGS:
        kw = {} if margin is None else dict(margin=margin)
        cams += orbit_cameras(positions, n_views=k, width=size, height=size, elevation_deg=el,
                              azimuth_offset_deg=off, up=(0.0, -1.0, 0.0), **kw)
    return cams


@dataclass
class CorrectionReport:
    levels: list = field(default_factory=list)      # dict(level, gaussians, bytes)
    distill: object = None                          # the DistillReport
    seconds: float = 0.0

    def adjustments(self, table: dict) -> dict:
        """{(level, region): (scale_floor, opacity_offset)} for each correction of ``table`` whose
        level was distilled under its adjustment: the file must carry it too (spec 8.7)."""
        adj = {d["level"]: d["adjustment"] for d in self.levels if d.get("adjustment") is not None}
        return {k: adj[k[0]] for k in table if k[0] in adj}

    def summary(self) -> str:
        lv = ", ".join(f"{d['level']}: {d['bytes']:,} B{' (adjusted)' if d.get('adjustment') else ''}"
                       for d in self.levels)
        head = self.distill.summary() if self.distill is not None else "distillation"
        return f"{head}; corrections of levels {lv} in {self.seconds:.0f} s"


def quantized(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The integers q with f32(q) * step == values (spec 7.2), recovered from decoded values."""
    return np.rint(values.astype(np.float64) / steps.astype(np.float64)).astype(np.int64)


def level_shift(change: np.ndarray, resolution: float = RESOLUTION) -> int:
    """s for a level whose wanted changes (in unit steps) are ``change``: 2^s nearest (in log) to
    their RMS over ``resolution``, within 0..CORRECTION_MAX_SHIFT."""
    rms = float(np.sqrt(np.mean(np.square(change)))) if change.size else 0.0
    if not rms > 0.0:
        return 0
    return int(np.clip(np.rint(np.log2(rms / resolution)), 0, S.CORRECTION_MAX_SHIFT))


def level_deltas(q: np.ndarray, steps: np.ndarray, target: np.ndarray, shift: int | None = SHIFT,
                 chans=slice(None), resolution: float = RESOLUTION,
                 rounding: float = ROUNDING) -> tuple[np.ndarray, int]:
    """(t (n, C), s): the multiples of 2^s unit steps that bring quantized values ``q`` nearest to
    the float values ``target`` (spec 8.7: q' = q + t 2^s); s = ``shift``, or when None chosen
    by ``level_shift`` from the changes of the channels ``chans``."""
    change = target.astype(np.float64) / steps.astype(np.float64) - q
    s = level_shift(change[:, chans], resolution) if shift is None else int(shift)
    x = change / float(1 << s)
    return (np.sign(x) * np.floor(np.abs(x) + rounding)).astype(np.int64), s


def fit(data: bytes, user_cameras=None, seconds: float = SECONDS, max_fraction: float = MAX_FRACTION,
        shift: int | None = SHIFT, resolution: float = RESOLUTION, rounding: float = ROUNDING,
        freeze: tuple = FREEZE, progress: bool | None = None, steps: int | None = None,
        predicted: bool = PREDICT, starts: dict | None = None, adjusted: bool = ADJUSTED_STARTS,
        slope: float | None = SLOPE,
        **distill_kw):
    """{(level, region): correction payload} for ``data`` (a file without corrections or
    adjustments) and a CorrectionReport. The teacher is the file's own full decode; each level's
    values come from Eq. 4 of that level alone (stages fine to coarse), within ``seconds`` of
    distillation (the shift checks come after it, and with ``adjusted`` the adjustment fit of
    ``level_starts`` before it: 10-15 s on a 100k-Gaussian scene), each stage from the best of
    the stage above's values and ``starts`` (the distillation's other starts; default
    ``level_starts``, none unless ``adjusted``).
    A level whose distillation ran under its adjustment has it in
    report.levels[...]["adjustment"]: the file must carry it (spec 8.7 applies it to the
    corrected values). ``slope``: a level's shift is made finer (``_finer``) while each step
    finer gains at least this many dB per doubling of the level's bytes (None: the rule of
    ``level_shift`` alone)."""
    from refcodec.encoder.layering.distill import DEFAULT_SIZE, distill
    from refcodec.format.decode import decode, unit_bytes

    t0 = time.perf_counter()
    full = decode(data, adjust=False)
    report = CorrectionReport()
    scene, layer, region = full.scene, full.layer, full.region
    if scene.n == 0 or full.front.info.num_layers < 2:
        return {}, report
    C = scene.attribute_matrix().shape[1]
    # each decoded Gaussian's unit steps (spec 7.2), from the units in output order
    ustep = np.concatenate([np.broadcast_to(u.steps, (u.count, C)) for u in full.units if u.status == "decoded"])
    q = quantized(scene.attribute_matrix(), ustep)
    size = int(distill_kw.pop("size", DEFAULT_SIZE))
    cams = user_cameras if user_cameras else views(scene.positions, size)
    if starts is None:
        starts = level_starts(data, scene, layer, user_cameras, max_fraction, progress, adjusted)
    _, rep, levels = distill(scene, layer, cams, size=size, seconds=seconds, reach=0, max_fraction=max_fraction,
                             freeze=freeze, per_level=True, progress=progress, steps=steps, starts=starts,
                             **distill_kw)
    report.distill = rep
    check = _check_views(scene, user_cameras)
    sizes = unit_bytes(full.front)
    table = {}
    for d, (rows, fitted, adj) in sorted(levels.items()):
        live = np.ones(C, dtype=bool)
        live[ROT_W:ROT_Z + 1] = False                  # rotations stay (FREEZE); only renormalized there

        deltas = partial(_clipped_deltas, q[rows], ustep[rows], fitted.attribute_matrix(), live, resolution,
                         rounding)
        t, s = deltas(shift)
        if shift is None and slope is not None and s > 0:
            base = sum(b or 0 for (lv, _), b in sizes.items() if lv <= d)
            t, s = _finer(deltas, t, s, fitted, adj, scene.subset(rows), q[rows], ustep[rows], check, base,
                          slope, predicted)
        for r in np.unique(region[rows]):
            sel = region[rows] == r
            tr = t[sel]
            chans = np.flatnonzero(np.any(tr != 0, axis=0))
            table[int(d), int(r)] = fcorrect.build_payload(chans, s, tr[:, chans].T, predicted)
        report.levels.append(dict(level=int(d), gaussians=int(rows.size), shift=s, adjustment=adj,
                                  bytes=sum(len(p) for (dd, _), p in table.items() if dd == d)))
    report.seconds = time.perf_counter() - t0
    return table, report


def _clipped_deltas(q, ustep, target, live, resolution, rounding, shift):
    """level_deltas of the ``live`` channels (the others 0), t clipped to |t| <= 2^29 (spec 8.7:
    |t|, and predicted (8.7.1) |d|, below 2^31)."""
    t, s = level_deltas(q, ustep, target, shift, live, resolution, rounding)
    t = np.clip(t, -(1 << 29), 1 << 29)
    t[:, ~live] = 0
    return t, s


def _check_views(scene, user_cameras=None) -> tuple:
    """(cameras, the teacher's renders) on which a level's shift is judged (``_finer``): CHECK_RINGS,
    views the distillation does not train on (or, with the user's cameras, a few of them)."""
    from refcodec.encoder.layering.pruning import _renders, small_views

    cams = small_views(scene.positions, CHECK_RINGS, CHECK_SIZE, user_cameras)
    return cams, _renders(scene, cams)


def _finer(deltas, t, s: int, fitted, adj, stored, q, ustep, check, base: int, slope: float, predicted: bool):
    """(t, s) with s made finer, one step at a time from the rule's, while the step gains at
    least ``slope`` dB per doubling of the level's bytes (``base``: its units' bytes, plus the
    correction), in PSNR on the check views against the teacher's renders (spec A.8 (b)).
    The rule of ``level_shift`` sizes 2^s to the largest changes, and where one channel moves
    far more than the others (a thinned prefix's opacities) it rounds the others' changes away."""
    from refcodec.encoder.adjust import adjusted
    from refcodec.encoder.layering.pruning import _renders

    cams, ref = check

    def cost(tk, k) -> tuple[float, int]:
        values = stored.with_attributes((q + tk * (1 << k)) * ustep)
        values.rotations = stored.rotations          # not corrected (FREEZE): as decoded
        shown = adjusted(values, *adj) if adj is not None else values
        mse = float(np.mean([np.mean((a - b) ** 2) for a, b in zip(ref, _renders(shown, cams))]))
        chans = np.flatnonzero(np.any(tk != 0, axis=0))
        return mse, len(fcorrect.build_payload(chans, k, tk[:, chans].T, predicted))

    mse, nbytes = cost(t, s)
    for k in range(s - 1, max(-1, s - FINER - 1), -1):
        tk, _ = deltas(k)
        mk, bk = cost(tk, k)
        gain = 10.0 * np.log10(mse / mk) if mk > 0 and mse > 0 else 0.0
        if gain < slope * np.log2((base + bk) / max(base + nbytes, 1)):
            break
        t, s, mse, nbytes = tk, k, mk, bk
    return t, s


def level_starts(data: bytes, scene, layer: np.ndarray, user_cameras=None, max_fraction: float = MAX_FRACTION,
                 progress: bool | None = None, adjusted: bool = ADJUSTED_STARTS) -> dict:
    """{level: [(values, adjustment), ...]}: the distillation's other starts for each level whose
    prefix holds at most ``max_fraction`` of the Gaussians (spec A.8 (b)): the stage above's
    values grow a level's Gaussians only as far as a budget of steps lets them, while the
    level's prefix adjustment (spec 8.6), fitted on renders (refcodec.encoder.adjust) for
    ``data`` (a file without adjustments), reaches the scale and opacity a thinned prefix wants in
    a few renders: the start is the stored values under that adjustment (when ``adjusted``,
    ADJUSTED_STARTS).
    (Merged stand-ins, each left-out Gaussian merged into the nearest one kept as a decimated LOD
    does, were measured as a third start and not kept: spec A.8 (b).)"""
    from refcodec.encoder import adjust

    if not adjusted:
        return {}
    rep = adjust.fit(data, scene, user_cameras, progress=progress, max_fraction=max_fraction)
    return {f.level: [(scene.subset(np.flatnonzero(layer <= f.level)), (f.scale_floor, f.opacity_offset))]
            for f in rep.levels}


def add_corrections(data: bytes, table: dict, predicted: bool = PREDICT, adjustments: dict | None = None) -> bytes:
    """``data`` with a correction segment (spec 8.7) for each (layer, region) -> payload, each
    after its unit's segments; the file becomes 4.3 with ``predicted`` payloads (kind 131, 8.7.1),
    else 4.2 (kind 130). ``adjustments``: (layer, region) -> (scale_floor, opacity_offset) the
    corrections were fitted under (CorrectionReport.adjustments), written first (spec 8.6), so
    that a prefix cut between the two shows the adjusted stored values. No entries: ``data``
    unchanged."""
    from refcodec.encoder.adjust import add_adjustments, add_ancillary

    if adjustments:
        data = add_adjustments(data, adjustments)

    kind, gate = ((S.KIND_PREDICTED_CORRECTION, S.GATE_CORRECTION_PREDICTION) if predicted
                  else (S.KIND_CORRECTION, S.GATE_PREFIX_CORRECTIONS))
    return add_ancillary(data, {k: [(kind, p)] for k, p in table.items()}, gate)
