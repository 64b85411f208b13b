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


SCORERS = {"opacity-area": opacity_area, "opacity-volume": opacity_volume}
