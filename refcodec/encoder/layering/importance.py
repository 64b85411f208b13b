"""Importance scorers for layer assignment (plug-ins).

A scorer is a callable ``score(scene, idx) -> (len(idx),) float64``: the importance of the
Gaussians ``idx`` given that exactly ``idx`` remain in the scene. Layering calls it again on
each shrinking remaining set (top layer down), so a scorer that depends on the rest of the
scene (e.g. the render-based score of paper Eq. (3)) re-scores as the paper describes.
"""
from __future__ import annotations

import numpy as np


def opacity_area(scene, idx: np.ndarray) -> np.ndarray:
    """View-independent score: alpha times the area of the ellipsoid's largest cross-section.

    sigmoid(opacity) * exp(s_a + s_b) where s_a, s_b are the two largest log-scales: a proxy for
    how many pixels the Gaussian covers times how much it occludes.
    """
    op = scene.opacity[idx].astype(np.float64)
    alpha = 1.0 / (1.0 + np.exp(-np.clip(op, -60, 60)))
    s = np.sort(scene.scales[idx].astype(np.float64), axis=1)
    return alpha * np.exp(np.clip(s[:, 1] + s[:, 2], -200, 200))


def opacity_volume(scene, idx: np.ndarray) -> np.ndarray:
    """sigmoid(opacity) * ellipsoid volume."""
    op = scene.opacity[idx].astype(np.float64)
    alpha = 1.0 / (1.0 + np.exp(-np.clip(op, -60, 60)))
    return alpha * np.exp(np.clip(scene.scales[idx].astype(np.float64).sum(axis=1), -300, 300))


def render_opacity_area(errors: np.ndarray):
    """The scorer of render-ranked layering (spec A.6): sqrt(removal error x opacity_area), with
    ``errors`` the scene's per-Gaussian removal errors (refcodec.encoder.layering.pruning)."""
    errors = np.asarray(errors, dtype=np.float64)

    def score(scene, idx: np.ndarray) -> np.ndarray:
        return np.sqrt(errors[idx] * opacity_area(scene, idx))

    return score




def grid_cells(positions: np.ndarray, want: float) -> np.ndarray | None:
    """Cell index (0..) of each position in the finest cubic grid (cell sides extent x 2^-k/20,
    bisected over k in [0, 12], extent the largest spread of the 0.5-99.5% quantiles, outliers in
    the border cells) with at most ``want`` occupied cells; None if even one cell a side is too
    many."""
    pos = positions.astype(np.float64)
    lo = np.percentile(pos, 0.5, axis=0)
    extent = float(np.max(np.percentile(pos, 99.5, axis=0) - lo)) or 1.0

    def bins(size):
        k = np.clip(np.floor((pos - lo) / size), 0, (1 << 20) - 1).astype(np.int64)
        return np.unique((k[:, 0] << 40) | (k[:, 1] << 20) | k[:, 2], return_inverse=True)[1].reshape(-1)

    coarse, fine = 0.0, -12.0
    cells = bins(extent)
    if cells.max() + 1 > want:
        return None
    for _ in range(10):
        mid = 0.5 * (coarse + fine)
        inv = bins(extent * 2.0 ** mid)
        if inv.max() + 1 > want:
            fine = mid
        else:
            coarse, cells = mid, inv
    return cells


def rank_in_cells(cells: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """Rank of each element within its cell by decreasing importance (0 = the most important;
    ties: the lower index first)."""
    n = len(cells)
    order = np.lexsort((np.arange(n), -importance, cells))
    starts = np.r_[0, np.flatnonzero(np.diff(cells[order])) + 1]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return rank


def coverage(base=opacity_area, per_cell: float = 2.0):
    """A scorer that spreads each prefix over the scene (spec A.1, ``EncodeOptions.coverage``): the
    remaining Gaussians are binned in a grid whose occupied cells number about
    len(idx) / ``per_cell``, ranked by ``base`` within their cell (0 = the most important), and
    scored base / (1 + rank). The less important Gaussians of crowded cells go to the upper
    layers first, so every prefix keeps a representative wherever the scene has Gaussians (as a
    decimated level of detail does) instead of the largest Gaussians wherever they are."""

    def score(scene, idx: np.ndarray) -> np.ndarray:
        imp = np.asarray(base(scene, idx), dtype=np.float64)
        cells = grid_cells(scene.positions[idx], max(1.0, len(idx) / per_cell)) if len(idx) > 1 else None
        return imp if cells is None else imp / (1.0 + rank_in_cells(cells, imp))

    return score


SCORERS = {"opacity-area": opacity_area, "opacity-volume": opacity_volume}
