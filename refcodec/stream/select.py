"""View-dependent selection: a level per region (spatial tiles, objects) for one view, under a
byte budget. Client-side policy, not part of the format: any selection is valid (spec 8.1).

The policy: every non-empty region first gets layer 1 (the whole scene shows), in order of
weight while the budget lasts; then layers are added greedily, each step taking the unit with
the highest value per byte that still fits. A unit's value is its region's weight times its
share of its layer's bytes: each layer is taken to be worth as much to the whole scene as the
one before it, split among the regions by the bytes it spends on them (with equal weights the
policy is the uniform prefix, layer after layer; layers grow exponentially, so a region w times
heavier goes about log(w) / log(growth) layers deeper). A region's weight
estimates how much one of its Gaussians shows in the view (``region_weights``): 1 / d^2 averaged
over points filling its bounding box, those outside the camera's view counted 0.05 times.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

import numpy as np

from refcodec.format.front import FrontMatter

OFF_SCREEN_WEIGHT = 0.05
MIN_DISTANCE_FRACTION = 0.02
GRID = 5
DISTANCE_POWER = 2.0        # weight 1 / d^power (2: a Gaussian's screen area)


@dataclass
class View:
    position: np.ndarray               # camera centre, world coordinates
    camera: object = None              # refcodec.render.camera.Camera, or None (position only)


def parse_view(text: str) -> View:
    """``x,y,z`` (a camera position) or ``cameras.json[:K]`` (camera K, default 0, of a 3DGS
    cameras.json) or ``COLMAP_DIR[:K]``."""
    nums = text.split(",")
    if len(nums) == 3 and all(re.fullmatch(r"\s*[-+0-9.eE]+\s*", t) for t in nums):
        try:
            return View(np.array([float(t) for t in nums]))
        except ValueError:
            pass
    path, sep, k = text.rpartition(":")
    if not sep or not k.isdigit():
        path, k = text, "0"
    from pathlib import Path

    from refcodec.render.camera import load_cameras_json, load_colmap_text
    p = Path(path)
    if not p.exists():
        raise ValueError(f"--view {text!r}: expected x,y,z or CAMERAS.json[:K] (no file {path!r})")
    cams = load_cameras_json(p) if p.is_file() else load_colmap_text(p)
    i = int(k)
    if not 0 <= i < len(cams):
        raise ValueError(f"--view {text!r}: camera {i} out of range ({len(cams)} cameras)")
    return View(cams[i].position, cams[i])


def unit_bytes(front: FrontMatter) -> dict:
    """(layer, region) -> bytes a client fetches for the unit: its critical and adjustment segments
    (``refcodec.format.decode.unit_bytes``), 0 for a unit whose segments are absent (nothing to fetch)."""
    from refcodec.format.decode import unit_bytes as present_bytes

    return {k: b or 0 for k, b in present_bytes(front).items()}


def region_weights(front: FrontMatter, view: View, samples: dict | None = None) -> np.ndarray:
    """Each region's expected weight of one of its Gaussians for the view: the mean, over sample
    points of the region, of 1 / d^2 (d: distance to the camera, at least 2% of the scene's
    size), times 0.05 where the point is outside the camera's view (behind it or beyond the image
    borders; a camera position alone sees everything). The samples are ``samples[r]`` (positions
    of region r's Gaussians already decoded, e.g. layer 1: ``layer1_samples``) where given, else a
    5 x 5 x 5 grid filling the region's bounding box in the ROI table."""
    regs = front.regions
    lo = np.array([r.bbox_min for r in regs], dtype=np.float64)
    hi = np.array([r.bbox_max for r in regs], dtype=np.float64)
    counts = np.array([sum(r.counts) for r in regs])
    filled = counts > 0
    if not filled.any():
        return np.zeros(len(regs))
    size = float(np.linalg.norm(hi[filled].max(axis=0) - lo[filled].min(axis=0))) or 1.0
    t = (np.arange(GRID) + 0.5) / GRID
    frac = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3)      # (G^3, 3)
    pts = lo[:, None, :] + frac[None] * (hi - lo)[:, None, :]                           # (R, G^3, 3)
    p = np.asarray(view.position, dtype=np.float64)
    d2 = np.maximum(((pts - p) ** 2).sum(axis=2), (MIN_DISTANCE_FRACTION * size) ** 2)
    w = d2 ** (-DISTANCE_POWER / 2)
    if view.camera is not None:
        w = np.where(_in_view(view.camera, pts.reshape(-1, 3)).reshape(w.shape), w, OFF_SCREEN_WEIGHT * w)
    out = w.mean(axis=1)
    for r, sp in (samples or {}).items():
        sp = np.asarray(sp, dtype=np.float64).reshape(-1, 3)
        if filled[r] and len(sp):
            ws = np.maximum(((sp - p) ** 2).sum(axis=1), (MIN_DISTANCE_FRACTION * size) ** 2) ** (-DISTANCE_POWER / 2)
            if view.camera is not None:
                ws = np.where(_in_view(view.camera, sp), ws, OFF_SCREEN_WEIGHT * ws)
            out[r] = ws.mean()
    return np.where(filled, out, 0.0)


def layer1_samples(result, max_per_region: int = 512) -> dict:
    """Positions of each region's decoded Gaussians (a DecodeResult of layer 1, say), at most
    ``max_per_region`` evenly spaced ones each: samples for ``region_weights``."""
    out = {}
    order = np.argsort(result.region, kind="stable")
    regs, starts = np.unique(result.region[order], return_index=True)
    bounds = np.r_[starts, len(order)]
    for i, r in enumerate(regs):
        idx = order[bounds[i]: bounds[i + 1]]
        step = max(1, len(idx) // max_per_region)
        out[int(r)] = result.scene.positions[idx[::step]]
    return out


def _in_view(cam, pts: np.ndarray) -> np.ndarray:
    """Points in front of the camera and inside its image."""
    pc = pts @ cam.R.T + cam.t
    z = pc[:, 2]
    zc = np.maximum(z, 1e-12)
    u = cam.fx * pc[:, 0] / zc + cam.cx
    v = cam.fy * pc[:, 1] / zc + cam.cy
    return (z > 0) & (u >= 0) & (u <= cam.width) & (v >= 0) & (v <= cam.height)


def select_levels(front: FrontMatter, view: View, budget: int, max_levels: list | None = None,
                  samples: dict | None = None) -> list:
    """Per-region levels for ``view`` whose fetch (``selected_bytes``: the front, the selected units
    and each region's correction, spec 8.7) fits ``budget`` bytes.
    ``max_levels`` caps each region (e.g. from --level/--roi); ``samples`` as for
    ``region_weights``."""
    from refcodec.format.decode import correction_bytes

    info = front.info
    R, L = info.num_regions, info.num_layers
    caps = list(max_levels) if max_levels is not None else [L] * R
    ub, corr = unit_bytes(front), correction_bytes(front)
    counts = [list(r.counts) for r in front.regions]

    def cost(r, k):                                   # from level k - 1 to k: the unit, and the
        b = ub.get((k, r), 0)                         # level's correction instead of the one below's
        return None if b is None else b + corr.get((k, r), 0) - corr.get((k - 1, r), 0)

    layer_bytes = [max(1, sum(b for (l, _), b in ub.items() if l == k + 1)) for k in range(L)]
    w = region_weights(front, view, samples)
    left = int(budget) - front.front_length
    levels = [0] * R
    if left < 0:
        return levels
    order = [r for r in np.argsort(-w, kind="stable") if w[r] > 0 and caps[r] >= 1]
    for r in order:                                   # layer 1 everywhere first, nearest first
        b = cost(r, 1)
        if b is not None and b <= left:
            levels[r], left = 1, left - b
    heap = []

    def push(r):
        nxt = levels[r] + 1
        if levels[r] >= 1 and nxt <= caps[r]:
            heapq.heappush(heap, (-(w[r] / layer_bytes[nxt - 1]), r, nxt))

    for r in range(R):
        push(r)
    while heap:
        _, r, nxt = heapq.heappop(heap)
        b = cost(r, nxt)
        if b is not None and b <= left:
            levels[r], left = nxt, left - b
            push(r)
    # regions without Gaussians: any level selects nothing; keep them at the cap
    for r in range(R):
        if w[r] == 0 and sum(counts[r]) == 0:
            levels[r] = caps[r]
    return levels


def selected_bytes(front: FrontMatter, levels: list) -> int:
    """Bytes a client fetches for the selection: the front, the selected units (critical and
    adjustment segments) and the correction segments of each region's selected level (spec 8.7)."""
    from refcodec.format.decode import correction_bytes

    ub, corr = unit_bytes(front), correction_bytes(front)
    return (front.front_length + sum(corr.get((k, r), 0) for r, k in enumerate(levels))
            + sum(b for (l, r), b in ub.items() if l <= levels[r]))


def level_bytes(front: FrontMatter) -> list:
    """``selected_bytes`` of every uniform selection, levels 1..L (every region at that level), in
    one pass over the TOC (``refcodec info``; a front of many layers and entries stays cheap)."""
    from refcodec.format.decode import correction_bytes

    L = front.info.num_layers
    units, corr = [0] * (L + 1), [0] * (L + 1)
    for (l, _), b in unit_bytes(front).items():
        units[l] += b
    for (l, _), b in correction_bytes(front).items():
        corr[l] += b
    out, acc = [], front.front_length
    for l in range(1, L + 1):
        acc += units[l]
        out.append(acc + corr[l])
    return out
