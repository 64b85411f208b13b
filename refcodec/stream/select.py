"""View-dependent selection: a level per region (spatial tiles, objects) for one view, under a
byte budget. Client-side policy, not part of the format: any selection is valid (spec 8.1).

The policy: every non-empty region first gets layer 1 (the whole scene shows), in order of
weight while the budget lasts; then layers are added greedily, each step taking the unit with
the highest value per byte that still fits. A unit's value is its region's weight times its
share of its layer's Gaussians (each layer is taken to be worth as much as the one before it
to the whole scene, as a uniform prefix assumes; layers grow exponentially, so a near region
goes a few layers deeper than a far one instead of taking every layer first). A region's weight
is 1 / d^2 (d: distance from the camera to the nearest point of its bounding box in the ROI
table, at least 2% of the scene's size), times 0.05 when the box lies outside the camera's view
(behind it or beyond the image borders; a camera position alone sees everything).
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

import numpy as np

from refcodec.format.front import FrontMatter

OFF_SCREEN_WEIGHT = 0.05
MIN_DISTANCE_FRACTION = 0.02


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
    """(layer, region) -> bytes of the unit's critical segments."""
    out = {}
    for u in front.units:
        out[u.layer, u.region] = sum(front.toc[i].length for i in u.critical)
    return out


def region_weights(front: FrontMatter, view: View) -> np.ndarray:
    regs = front.regions
    lo = np.array([r.bbox_min for r in regs], dtype=np.float64)
    hi = np.array([r.bbox_max for r in regs], dtype=np.float64)
    counts = np.array([sum(r.counts) for r in regs])
    filled = counts > 0
    if not filled.any():
        return np.zeros(len(regs))
    size = float(np.linalg.norm(hi[filled].max(axis=0) - lo[filled].min(axis=0))) or 1.0
    p = np.asarray(view.position, dtype=np.float64)
    nearest = np.clip(p, lo, hi)
    d = np.maximum(np.linalg.norm(nearest - p, axis=1), MIN_DISTANCE_FRACTION * size)
    w = 1.0 / d ** 2
    if view.camera is not None:
        w = np.where(_boxes_visible(view.camera, lo, hi), w, OFF_SCREEN_WEIGHT * w)
    return np.where(filled, w, 0.0)


def _boxes_visible(cam, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Conservative test per box: some part of it may be in front of the camera and inside the
    image (corners projected; a box the camera is inside counts as visible)."""
    corners = np.stack([np.where(np.array([(c >> k) & 1 for k in range(3)], bool), hi, lo)
                        for c in range(8)], axis=1)                       # (R, 8, 3)
    pc = corners.reshape(-1, 3) @ cam.R.T + cam.t
    z = pc[:, 2].reshape(-1, 8)
    zc = np.maximum(pc[:, 2], 1e-9)
    u = (cam.fx * pc[:, 0] / zc + cam.cx).reshape(-1, 8)
    v = (cam.fy * pc[:, 1] / zc + cam.cy).reshape(-1, 8)
    front = z > 0
    # the projected corners in front of the camera span a rectangle; visible if it meets the image
    big = 1e12
    umin = np.where(front, u, big).min(axis=1)
    umax = np.where(front, u, -big).max(axis=1)
    vmin = np.where(front, v, big).min(axis=1)
    vmax = np.where(front, v, -big).max(axis=1)
    partly_behind = front.any(axis=1) & ~front.all(axis=1)
    # a box straddling the image plane may reach any part of the image
    meets = (umax >= 0) & (umin <= cam.width) & (vmax >= 0) & (vmin <= cam.height)
    inside = np.all((cam.position >= lo) & (cam.position <= hi), axis=1)
    return inside | partly_behind | (front.any(axis=1) & meets)


def select_levels(front: FrontMatter, view: View, budget: int, max_levels: list | None = None) -> list:
    """Per-region levels for ``view`` whose front plus selected units fit ``budget`` bytes.
    ``max_levels`` caps each region (e.g. from --level/--roi)."""
    info = front.info
    R, L = info.num_regions, info.num_layers
    caps = list(max_levels) if max_levels is not None else [L] * R
    ub = unit_bytes(front)
    counts = [list(r.counts) for r in front.regions]
    layer_total = [max(1, sum(c[l] for c in counts)) for l in range(L)]
    w = region_weights(front, view)
    left = int(budget) - front.front_length
    levels = [0] * R
    if left < 0:
        return levels
    order = [r for r in np.argsort(-w, kind="stable") if w[r] > 0 and caps[r] >= 1]
    for r in order:                                   # layer 1 everywhere first, nearest first
        b = ub.get((1, r), 0)
        if b <= left:
            levels[r], left = 1, left - b
    heap = []

    def push(r):
        nxt = levels[r] + 1
        if levels[r] >= 1 and nxt <= caps[r]:
            b = ub.get((nxt, r), 0)
            gain = w[r] * counts[r][nxt - 1] / layer_total[nxt - 1]
            heapq.heappush(heap, (-(gain / max(b, 1)), r, nxt))

    for r in range(R):
        push(r)
    while heap:
        _, r, nxt = heapq.heappop(heap)
        b = ub.get((nxt, r), 0)
        if b <= left:
            levels[r], left = nxt, left - b
            push(r)
    # regions without Gaussians: any level selects nothing; keep them at the cap
    for r in range(R):
        if w[r] == 0 and sum(counts[r]) == 0:
            levels[r] = caps[r]
    return levels


def selected_bytes(front: FrontMatter, levels: list) -> int:
    ub = unit_bytes(front)
    return front.front_length + sum(b for (l, r), b in ub.items() if l <= levels[r])
