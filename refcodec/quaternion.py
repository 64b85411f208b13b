"""Quaternions (w, x, y, z): the one rotation-matrix helper, for numpy arrays and torch tensors
alike (encoder axes, cameras, the torch renderer and its plain reference)."""
from __future__ import annotations

import numpy as np


def to_matrix(q, normalize: bool = True):
    """(..., 4) quaternions w, x, y, z -> (..., 3, 3) rotation matrices, numpy or torch as given.
    ``normalize``: divide by the norm first (any norm accepted); else ``q`` must be unit."""
    if not isinstance(q, np.ndarray) and type(q).__module__.startswith("torch"):
        import torch
        import torch.nn.functional as F

        w, x, y, z = (F.normalize(q, dim=-1) if normalize else q).unbind(-1)
        stack = torch.stack
    else:
        q = np.asarray(q, dtype=np.float64 if np.asarray(q).dtype.kind in "iu" else None)
        if normalize:
            q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        w, x, y, z = np.moveaxis(q, -1, 0)
        stack = np.stack
    return stack([stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                  stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                  stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)
