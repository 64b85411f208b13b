"""Generated scenes with known objects for the click-extraction tests (world up is -y, as in
INRIA/COLMAP reconstructions, so ``orbit_cameras``' default up fits)."""
from __future__ import annotations

import numpy as np

from refcodec.format.scene import Scene


def _surface_gaussians(points: np.ndarray, colour, rng, scale: float = 0.06) -> dict:
    n = len(points)
    rgb = np.clip(np.asarray(colour, np.float64)[None] + 0.04 * rng.standard_normal((n, 3)), 0, 1)
    return dict(positions=points.astype(np.float32),
                opacity=np.full(n, 3.0, np.float32),
                scales=np.full((n, 3), np.log(scale), np.float32),
                rotations=np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1)),
                sh_dc=((rgb - 0.5) / 0.28209479177387814).astype(np.float32),
                sh_rest=np.zeros((n, 0), np.float32))


def two_objects(seed: int = 0, n_sphere: int = 2500, n_cube: int = 2500, n_ground: int = 3000) -> tuple:
    """A red sphere shell (object 1) floating over a grey ground, and a green cube (object 2)
    beside it that hides part of the sphere from the +z side. Returns (scene, object id per
    Gaussian: 0 ground, 1 sphere, 2 cube, sphere centre, cube centre)."""
    rng = np.random.default_rng(seed)
    c1 = np.array([0.0, -1.2, 0.0])
    d = rng.standard_normal((n_sphere, 3))
    sphere = c1 + 0.7 * d / np.linalg.norm(d, axis=1, keepdims=True)
    c2 = np.array([0.3, -0.9, 1.9])
    face = rng.integers(0, 3, n_cube)
    side = rng.choice([-1.0, 1.0], n_cube)
    cube = rng.uniform(-0.45, 0.45, (n_cube, 3))
    cube[np.arange(n_cube), face] = 0.45 * side
    cube += c2
    ground = np.stack([rng.uniform(-2.2, 2.2, n_ground), np.zeros(n_ground), rng.uniform(-2.2, 2.8, n_ground)], axis=1)
    parts = [_surface_gaussians(sphere, (0.85, 0.15, 0.1), rng),
             _surface_gaussians(cube, (0.1, 0.75, 0.2), rng),
             _surface_gaussians(ground, (0.5, 0.5, 0.55), rng, scale=0.1)]
    fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    label = np.concatenate([np.full(n_sphere, 1), np.full(n_cube, 2), np.zeros(n_ground, np.int64)])
    order = rng.permutation(len(label))
    scene = Scene(**{k: v[order] for k, v in fields.items()})
    return scene, label[order], c1, c2
