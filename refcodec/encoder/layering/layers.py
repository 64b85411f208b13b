"""Layer assignment: overcomplete layer search with uniform merge (paper Sec. 3.1-3.2)."""
from __future__ import annotations

import numpy as np

from refcodec.encoder.layering.importance import opacity_area
from refcodec.encoder.layering.schedule import cumulative_counts, default_first_layer, layer_sizes


def assign_layers(scene, layers: int = 8, overcomplete: int = 16, first_layer: int | None = None,
                  scorer=opacity_area) -> np.ndarray:
    """Return the (N,) uint8 layer (1..layers) of every Gaussian.

    1. Overcomplete schedule C_1..C_Lover with n1 = ``first_layer`` (Eq. 1-2).
    2. From the top overcomplete layer down to 2: score the remaining Gaussians, move the n_i
       least important into layer i (ties broken by index, so the result is deterministic).
       What remains forms layer 1.
    3. Merge every k = Lover / L adjacent overcomplete layers into one: (1..k) -> 1, ...
    """
    if layers < 1 or layers > 255:
        raise ValueError("--layers must be in 1..255")
    if overcomplete < layers or overcomplete % layers:
        raise ValueError(f"--overcomplete ({overcomplete}) must be a multiple of --layers ({layers})")
    n = scene.n
    first = default_first_layer(n) if first_layer is None else int(first_layer)
    sizes = layer_sizes(cumulative_counts(n, overcomplete, first))
    over = np.ones(n, dtype=np.int64)
    remaining = np.arange(n)
    for i in range(overcomplete, 1, -1):
        take = int(sizes[i - 1])
        if take == 0 or len(remaining) == 0:
            continue
        score = np.asarray(scorer(scene, remaining), dtype=np.float64)
        order = np.lexsort((remaining, score))  # lowest score first, then lowest index
        over[remaining[order[:take]]] = i
        remaining = np.sort(remaining[order[take:]])
    k = overcomplete // layers
    return ((over - 1) // k + 1).astype(np.uint8)
