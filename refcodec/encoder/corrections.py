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

    def summary(self) -> str:
        lv = ", ".join(f"{d['level']}: {d['bytes']:,} B" for d in self.levels)
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
        predicted: bool = PREDICT, **distill_kw):
    """{(level, region): correction payload} for ``data`` (a file without corrections) and a
    CorrectionReport. The teacher is the file's own full decode; each level's values come from
    Eq. 4 of that level alone (stages fine to coarse), within ``seconds``."""
    from refcodec.encoder.layering.distill import DEFAULT_SIZE, distill
    from refcodec.format.decode import decode

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
    _, rep, levels = distill(scene, layer, cams, size=size, seconds=seconds, reach=0, max_fraction=max_fraction,
                             freeze=freeze, per_level=True, progress=progress, steps=steps, **distill_kw)
    report.distill = rep
    table = {}
    for d, (rows, fitted) in sorted(levels.items()):
        live = np.ones(C, dtype=bool)
        live[ROT_W:ROT_Z + 1] = False                  # rotations stay (FREEZE); only renormalized there
        t, s = level_deltas(q[rows], ustep[rows], fitted.attribute_matrix(), shift, live, resolution,
                            rounding)
        t = np.clip(t, -(1 << 29), 1 << 29)          # |t| and, predicted (8.7.1), |d| < 2^31
        t[:, ~live] = 0
        for r in np.unique(region[rows]):
            sel = region[rows] == r
            tr = t[sel]
            chans = np.flatnonzero(np.any(tr != 0, axis=0))
            table[int(d), int(r)] = fcorrect.build_payload(chans, s, tr[:, chans].T, predicted)
        report.levels.append(dict(level=int(d), gaussians=int(rows.size), shift=s,
                                  bytes=sum(len(p) for (dd, _), p in table.items() if dd == d)))
    report.seconds = time.perf_counter() - t0
    return table, report


def add_corrections(data: bytes, table: dict, predicted: bool = PREDICT) -> bytes:
    """``data`` with a correction segment (spec 8.7) for each (layer, region) -> payload, each
    after its unit's segments; the file becomes 4.3 with ``predicted`` payloads (kind 131, 8.7.1),
    else 4.2 (kind 130). No entries: ``data`` unchanged."""
    from refcodec.encoder.adjust import add_ancillary

    kind, gate = ((S.KIND_PREDICTED_CORRECTION, S.GATE_CORRECTION_PREDICTION) if predicted
                  else (S.KIND_CORRECTION, S.GATE_PREFIX_CORRECTIONS))
    return add_ancillary(data, {k: [(kind, p)] for k, p in table.items()}, gate)
