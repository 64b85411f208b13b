"""The in-memory scene: one struct-of-arrays of 3D Gaussians (numpy, float32).

Conventions follow the INRIA 3DGS PLY layout:

- ``positions``  (N, 3)  x, y, z
- ``opacity``    (N,)    logit of alpha (alpha = sigmoid(opacity))
- ``scales``     (N, 3)  log of the per-axis standard deviation
- ``rotations``  (N, 4)  quaternion w, x, y, z (not necessarily normalized)
- ``sh_dc``      (N, 3)  degree-0 SH coefficient per colour channel (f_dc_0..2)
- ``sh_rest``    (N, 3*(K-1)) higher SH coefficients in PLY order f_rest_0.. which is
                 channel-major: all K-1 coefficients of R, then of G, then of B;
                 K = (degree+1)^2.
- ``extra``      other per-Gaussian properties kept by name (e.g. ``object_id``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refcodec.format.channels import SH_REST_WIDTH, group_slices, sh_degree_of_width


@dataclass
class Scene:
    positions: np.ndarray
    opacity: np.ndarray
    scales: np.ndarray
    rotations: np.ndarray
    sh_dc: np.ndarray
    sh_rest: np.ndarray
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.positions)
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float32).reshape(n, 3)
        self.opacity = np.ascontiguousarray(self.opacity, dtype=np.float32).reshape(n)
        self.scales = np.ascontiguousarray(self.scales, dtype=np.float32).reshape(n, 3)
        self.rotations = np.ascontiguousarray(self.rotations, dtype=np.float32).reshape(n, 4)
        self.sh_dc = np.ascontiguousarray(self.sh_dc, dtype=np.float32).reshape(n, 3)
        self.sh_rest = np.ascontiguousarray(self.sh_rest, dtype=np.float32)
        if self.sh_rest.ndim != 2 or len(self.sh_rest) != n:
            self.sh_rest = self.sh_rest.reshape(n, -1)
        sh_degree_of_width(self.sh_rest.shape[1])
        for name, arr in self.extra.items():
            if len(arr) != n:
                raise ValueError(f"extra property {name!r} has {len(arr)} rows, scene has {n}")

    @property
    def n(self) -> int:
        return len(self.positions)

    def __len__(self) -> int:
        return self.n

    @property
    def sh_degree(self) -> int:
        return sh_degree_of_width(self.sh_rest.shape[1])

    def subset(self, index) -> "Scene":
        """Gaussians selected by an index array or boolean mask, in that order."""
        return Scene(
            self.positions[index], self.opacity[index], self.scales[index],
            self.rotations[index], self.sh_dc[index], self.sh_rest[index],
            {k: v[index] for k, v in self.extra.items()},
        )

    @staticmethod
    def empty(sh_degree: int = 0) -> "Scene":
        z = np.zeros
        return Scene(z((0, 3)), z(0), z((0, 3)), z((0, 4)), z((0, 3)), z((0, SH_REST_WIDTH[sh_degree])))

    @staticmethod
    def concat(scenes: list, sh_degree: int | None = None) -> "Scene":
        scenes = list(scenes)
        if not scenes:
            return Scene.empty(sh_degree or 0)
        keys = set(scenes[0].extra)
        for s in scenes[1:]:
            keys &= set(s.extra)
        return Scene(
            np.concatenate([s.positions for s in scenes]),
            np.concatenate([s.opacity for s in scenes]),
            np.concatenate([s.scales for s in scenes]),
            np.concatenate([s.rotations for s in scenes]),
            np.concatenate([s.sh_dc for s in scenes]),
            np.concatenate([s.sh_rest for s in scenes]),
            {k: np.concatenate([s.extra[k] for s in scenes]) for k in sorted(keys)},
        )

    def attribute_matrix(self) -> np.ndarray:
        """All float attributes as one (N, C) matrix in the channel order of spec 3.2."""
        fields = [name for name, _ in group_slices(0)]          # opacity first, a column of its own
        return np.concatenate([self.opacity[:, None]] + [getattr(self, f) for f in fields[1:]], axis=1)

    def with_attributes(self, values: np.ndarray) -> "Scene":
        """A copy with every attribute taken from the (N, C) matrix ``values`` (the inverse of
        ``attribute_matrix``); positions and extra properties as they are."""
        out = self.subset(slice(None))
        values = np.asarray(values)
        out.opacity = values[:, 0].astype(np.float32)
        for name, sl in group_slices(values.shape[1])[1:]:
            setattr(out, name, values[:, sl].astype(np.float32).reshape(getattr(self, name).shape))
        return out
