"""Exponential layer-size schedule, paper Eq. (1)-(2)."""
from __future__ import annotations

import math

import numpy as np


def default_first_layer(n: int) -> int:
    """Paper: n1 = 1e5 for scenes of millions of Gaussians; here 2% of the scene, at most 1e5."""
    return max(1, min(100_000, math.ceil(0.02 * n)))


def cumulative_counts(n: int, layers: int, first: int) -> np.ndarray:
    """C_i = ceil(n1 * exp((log N - log n1) / (L - 1) * (i - 1))), i = 1..L  (paper Eq. 1).

    The paper writes the exponent with ``i``; we use ``i - 1`` so that C_1 = n1 and C_L = N,
    which is what the surrounding text describes. Counts are clamped to be non-decreasing
    and to end exactly at N. Layers may be empty when N < L.
    """
    if layers < 1:
        raise ValueError("need at least one layer")
    if n == 0:
        return np.zeros(layers, dtype=np.int64)
    n1 = min(max(1, int(first)), n)
    if layers == 1:
        return np.array([n], dtype=np.int64)
    i = np.arange(layers, dtype=np.float64)
    c = np.ceil(n1 * np.exp((math.log(n) - math.log(n1)) / (layers - 1) * i))
    c = np.minimum(np.maximum.accumulate(c.astype(np.int64)), n)
    c[-1] = n
    return c


def layer_sizes(cumulative: np.ndarray) -> np.ndarray:
    """n_1 = C_1, n_i = C_i - C_{i-1}  (paper Eq. 2)."""
    return np.diff(np.concatenate([[0], cumulative]))
