"""Fitting the prefix adjustments (spec A.10; the decoder's side is spec 8.6).

A prefix of a layered file is a subset of the scene's Gaussians, each trained to be one of many:
alone they leave holes and look thin and dim. From version 4.1 a file may carry, per region and
level, a log-scale floor for the two larger axes and an opacity offset that a decoder applies to
a region it decodes only up to that level. This module chooses them by measurement: for each
level l < L it decodes the file's level-l prefix (as a client would), renders it from a few small
views and searches the two numbers that bring the renders closest (mean squared error, every
pixel) to the renders of the whole scene. Encoder only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from refcodec.format import adjust as fadjust
from refcodec.format import schema as S

# views: two per ring at three elevations (azimuths unlike the pruning and distillation rings'),
# small: a render's cost here is mostly per Gaussian
VIEWS = ((-15.0, 41.0, 1), (20.0, 83.0, 2), (55.0, 17.0, 1))
SIZE = 64
EVALUATIONS = 10            # Nelder-Mead evaluations a level
# keep a level's adjustment only when it lowers the fit views' MSE by 10% (0.46 dB) or more: smaller
# gains at 64 px turned into losses at 192 px on views the fit never saw (biker level 7: +0.2 dB
# fitted, -1.4 dB on the evaluation views; tools/bench/results/prefix-adjust-2026-12-07.md)
MIN_GAIN = 0.10
ENTRY_BYTES = S.MIN_TOC_ENTRY_SIZE + S.ADJUSTMENT_SIZE    # one adjustment: TOC entry and payload
# levels whose prefix holds more than this fraction of the Gaussians are not fitted: there the
# prefix is dense enough that the measured gains on unseen views were within +-0.8 dB
# (tools/bench/results/prefix-study-2026-12-07.md, levels 6-7), and those levels cost most of
# the fit's renders (a render's cost grows with the Gaussians)
MAX_FRACTION = 1.0 / 3.0


@dataclass
class LevelFit:
    level: int
    gaussians: int
    scale_floor: float
    opacity_offset: float
    mse_before: float
    mse_after: float
    evaluations: int


@dataclass
class AdjustReport:
    levels: list = field(default_factory=list)     # LevelFit of every level fitted
    seconds: float = 0.0

    def table(self) -> dict:
        """level -> (scale_floor, opacity_offset) of the levels worth writing."""
        return {f.level: (f.scale_floor, f.opacity_offset) for f in self.levels
                if f.mse_after < (1.0 - MIN_GAIN) * f.mse_before}

    def summary(self) -> str:
        gains = ", ".join(f"{f.level}: {_db(f.mse_before, f.mse_after):+.1f} dB" for f in self.levels)
        return f"prefix adjustment: {len(self.table())} levels ({gains}) in {self.seconds:.1f} s"


def _db(before: float, after: float) -> float:
    return 10.0 * np.log10(before / after) if before > 0 and after > 0 else 0.0


def cameras(scene, user_cameras=None) -> list:
    """The fit's views: the user's (four, evenly spaced, scaled down) or three small rings."""
    from refcodec.encoder.layering.pruning import small_views
    return small_views(scene.positions, VIEWS, SIZE, user_cameras)


def initial_floor(positions: np.ndarray) -> float:
    """A starting log-scale floor: half the median distance from a Gaussian of the prefix to its
    nearest neighbour in it (a disc that size about fills the gaps)."""
    from scipy.spatial import cKDTree

    if len(positions) < 2:
        return -5.0
    d, _ = cKDTree(positions).query(positions, k=2)
    med = float(np.median(d[:, 1]))
    return float(np.log(0.5 * med)) if med > 0 else -5.0


def adjusted(scene, scale_floor: float, opacity_offset: float):
    """A copy of ``scene`` with the adjustment of spec 8.6 applied to every Gaussian."""
    out = scene.subset(slice(None))                 # views of the arrays: copy what changes
    out.scales, out.opacity = out.scales.copy(), out.opacity.copy()
    f, o = np.float32(scale_floor), np.float32(opacity_offset)
    fadjust.apply(out.scales, out.opacity, np.ones(out.n, bool), f, o)
    return out


def fit(data: bytes, teacher, user_cameras=None, progress: bool | None = None,
        max_fraction: float = MAX_FRACTION) -> AdjustReport:
    """Fit each level's adjustment for ``data`` (a file without adjustments) against the renders
    of ``teacher`` (the scene the file codes). One (floor, offset) per level, shared by every
    region: the level-l prefix decodes every region at level l. Levels whose prefix holds more
    than ``max_fraction`` of the Gaussians are not fitted."""
    from scipy.optimize import minimize

    from refcodec.encoder.layering.pruning import _renders
    from refcodec.format.decode import decode
    from refcodec.format.front import read_front

    t0 = time.perf_counter()
    front = read_front(data)
    L = front.info.num_layers
    report = AdjustReport()
    if L < 2 or teacher.n == 0:
        return report
    cams = cameras(teacher, user_cameras)
    ref = _renders(teacher, cams)

    def mse(scene) -> float:
        views = _renders(scene, cams) if scene.n else [np.zeros_like(r) for r in ref]
        return float(np.mean([np.mean((a - b) ** 2) for a, b in zip(ref, views)]))

    full = decode(data, front=front, adjust=False)      # each level's prefix is a subset, in order
    prev = None
    bar = tqdm(range(1, L), desc="prefix adjustment", unit="level", leave=False,
               disable=None if progress is None else not progress)
    for level in bar:
        coarse = full.scene.subset(full.layer <= level)
        if coarse.n > max_fraction * front.info.total_gaussians:
            break
        if coarse.n == 0:
            continue
        base = mse(coarse)
        if prev is None:                    # coarsest level: from the gaps between Gaussians
            x0, d = np.array((initial_floor(coarse.positions), 2.0)), np.array((0.5, 2.0))
        else:                               # a finer level wants less: start from the level below
            x0, d = np.array(prev), np.array((-0.4, -1.5))
        simplex = [x0, x0 + (d[0], 0.0), x0 + (0.0, d[1])]
        res = minimize(lambda x, c=coarse: mse(adjusted(c, x[0], x[1])), x0, method="Nelder-Mead",
                       options=dict(maxfev=EVALUATIONS, initial_simplex=simplex, xatol=0.02, fatol=0.0))
        floor, offset = (float(np.float32(v)) for v in res.x)
        report.levels.append(LevelFit(level, coarse.n, floor, offset, base, float(res.fun), int(res.nfev)))
        prev = (floor, offset)
    report.seconds = time.perf_counter() - t0
    return report


def add_adjustments(data: bytes, table: dict) -> bytes:
    """``data`` with an adjustment segment (spec 8.6) for each (layer, region) -> (scale_floor,
    opacity_offset) of ``table``, each placed after its unit's segments; the file becomes 4.1 (or
    stays newer). No entries: ``data`` unchanged."""
    return add_ancillary(data, {k: [(S.KIND_ADJUSTMENT, fadjust.build_payload(*v))] for k, v in table.items()},
                         S.GATE_PREFIX_ADJUSTMENT)


def add_ancillary(data: bytes, table: dict, version: tuple) -> bytes:
    """``data`` with ancillary segments: (layer, region) -> [(kind, payload), ...], each list placed
    in order after that unit's segments (before the first TOC entry of a later (layer, region),
    spec 3.5); the critical payloads are unchanged and the file's version becomes at least
    ``version``. No entries: ``data`` unchanged."""
    from refcodec.format.front import assemble, info_dict, read_front, region_dicts, toc_dicts

    if not table:
        return data
    fm = read_front(data)
    old = toc_dicts(fm)
    pending = sorted(table)                 # (layer, region) order, as the TOC's (spec 3.5)
    toc, payloads, new_index = [], [], {}

    def flush(upto):
        while pending and (upto is None or pending[0] < upto):
            key = pending.pop(0)
            for kind, payload in table[key]:
                toc.append(dict(layer=key[0], region=key[1], kind=kind, flags=0, reserved=0,
                                offset=0, length=0, crc32=0, deps=[]))
                payloads.append(payload)

    for i, e in enumerate(old):
        flush((e["layer"], e["region"]))
        new_index[i] = len(toc)
        toc.append(dict(e, deps=[new_index[d] for d in e["deps"]]))
        payloads.append(None if e["flags"] & S.SEG_FLAG_ABSENT else data[e["offset"]: e["offset"] + e["length"]])
    flush(None)
    info = dict(info_dict(fm), num_segments=len(toc))
    return assemble(info, region_dicts(fm), toc, payloads, max(tuple(fm.version), tuple(version)))
