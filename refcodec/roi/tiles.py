"""Spatial tiles (encoder side, spec A.7): a k-d split of the background into N box regions, so
a client can fetch a level per tile for a view. Object regions stay their own and come first.

Each split cuts the longest side of the Gaussians' bounding box at the count quantile that
gives each half its share of the tiles (n_left = floor(n/2) tiles); the cut lies halfway
between two distinct coordinates, so no Gaussian sits on it. The tiles are ``box`` regions
(spec 3.3) whose boxes partition the background's bounding box; since a Gaussian takes the
first region that claims it (A.2), objects listed before the tiles keep theirs and region 0
(``background``) is left empty.
"""
from __future__ import annotations

import numpy as np

from refcodec.roi.regions import RegionSpec, assign_regions


def kd_boxes(points: np.ndarray, n: int) -> list:
    """``n`` boxes (lo, hi) that split ``points`` (M, 3) into groups of near-equal size."""
    if n < 1:
        raise ValueError("--tiles must be >= 1")
    pts = np.asarray(points, dtype=np.float64)
    if not len(pts):
        return []
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    out = []
    stack = [(np.arange(len(pts)), lo, hi, n)]
    while stack:                                  # one entry per tile: a handful, not per Gaussian
        idx, blo, bhi, k = stack.pop()
        if k == 1 or len(idx) < 2:
            out.append((blo, bhi))
            continue
        p = pts[idx]
        ext = p.max(axis=0) - p.min(axis=0)
        cut = None
        for axis in np.argsort(-ext, kind="stable"):
            v = np.sort(p[:, axis])
            uniq = np.unique(v)
            if len(uniq) < 2:
                continue
            want = len(v) * (k // 2) / k
            j = int(np.clip(np.searchsorted(uniq, v[min(len(v) - 1, int(want))]), 1, len(uniq) - 1))
            c = np.float32(0.5 * (uniq[j - 1] + uniq[j]))       # boxes are stored as float32
            if uniq[j - 1] < c <= uniq[j] and not (c == uniq[j]):
                cut = (int(axis), float(c))
                break
        if cut is None:                           # all points equal: one tile holds them
            out.append((blo, bhi))
            continue
        axis, c = cut
        left = p[:, axis] < c
        llo, lhi, rlo, rhi = blo.copy(), bhi.copy(), blo.copy(), bhi.copy()
        lhi[axis], rlo[axis] = c, c
        stack.append((idx[~left], rlo, rhi, k - k // 2))
        stack.append((idx[left], llo, lhi, k // 2))
    return out


def tile_regions(scene, n: int, specs: list = ()) -> list:
    """RegionSpecs of ``n`` tiles over the Gaussians none of ``specs`` claims, to be listed after
    ``specs``. Labels tile_0 .. tile_{n-1}."""
    region = assign_regions(scene, list(specs))
    boxes = kd_boxes(scene.positions[region == 0], n)
    taken = {s.label for s in specs}
    tiles = []
    for i, (lo, hi) in enumerate(boxes):
        label = f"tile_{i}"
        if label in taken:
            raise ValueError(f"region label {label!r} is used by a --roi region")
        tiles.append(RegionSpec(label, "box", [*map(float, np.float32(lo)), *map(float, np.float32(hi))]))
    return tiles
