"""Deterministic generated 3DGS scenes for tests and benchmarks.

Layout (world units, z up; fixed, independent of ``n`` and ``seed``):

- ground plane: x, y uniform in [-8, 8], z in [-0.05, 0.05]; flat Gaussians. 40 % of rows.
- background blobs: four solid ellipsoids (uniform inside) at y < -1 and z in [0.3, 3.6].
  40 % of rows (60 % when ``objects == 0``: the objects' share goes to the blobs).
- ``objects`` compact objects: sphere shells (radius in [0.9 r, r]) laid out on a grid over
  x in [-6, 6], y in [1, 7], centred at z = 1.5. 20 % of rows, split evenly. Object i has
  ``extra['object_id'] == i`` (1-based); everything else is 0.

The regions are disjoint: ``object_boxes(objects)[i - 1]`` (axis-aligned, a 5 % margin around
the shell) contains exactly the Gaussians of object ``i`` and nothing else, so a box ROI around
it selects ``object_id == i``. ``object_spheres(objects)`` gives centres and radii for a
sphere ROI. Rows are shuffled, so objects are not contiguous in the arrays.

``duplicates`` = fraction of rows whose position (and ``object_id``) is an exact copy of another
row's (attributes stay their own), to exercise duplicate voxels.
"""
from __future__ import annotations

import math

import numpy as np

from refcodec.format.channels import SH_REST_WIDTH
from refcodec.format.scene import Scene

__all__ = ["make_scene", "object_boxes", "object_spheres", "SCENE_BOUNDS"]

# Every generated position lies inside this box (lo, hi).
SCENE_BOUNDS = np.array([[-8.0, -8.0, -0.05], [8.0, 8.0, 4.0]], dtype=np.float32)

_GROUND_FRACTION = 0.4
_OBJECT_FRACTION = 0.2
_OBJECT_Z = 1.5
_BOX_MARGIN = 1.05

# (centre, semi-axes) of the background blobs; all within y < -1, z > 0.3.
_BLOBS = np.array([
    [[-5.0, -5.0, 1.5], [1.8, 1.2, 1.0]],
    [[-1.0, -4.0, 2.0], [1.0, 2.0, 1.5]],
    [[3.0, -6.0, 1.2], [2.0, 1.0, 0.8]],
    [[5.5, -3.0, 2.5], [1.0, 1.0, 1.0]],
], dtype=np.float64)


def object_spheres(objects: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Centres (objects, 3) and outer radii (objects,) of the sphere-shell objects 1..objects."""
    if objects < 0:
        raise ValueError("objects must be >= 0")
    if objects == 0:
        return np.zeros((0, 3)), np.zeros(0)
    cols = math.ceil(math.sqrt(objects))
    rows = math.ceil(objects / cols)
    cw, ch = 12.0 / cols, 6.0 / rows
    i = np.arange(objects)
    centres = np.stack([
        -6.0 + (i % cols + 0.5) * cw,
        1.0 + (i // cols + 0.5) * ch,
        np.full(objects, _OBJECT_Z),
    ], axis=1)
    radius = min(0.6, 0.35 * min(cw, ch))
    return centres, np.full(objects, radius)


def object_boxes(objects: int = 1) -> np.ndarray:
    """Axis-aligned boxes (objects, 2, 3) as [lo, hi]; box ``i - 1`` holds exactly object ``i``."""
    centres, radii = object_spheres(objects)
    half = (radii * _BOX_MARGIN)[:, None]
    return np.stack([centres - half, centres + half], axis=1)


def _split(n: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of n into len(weights) non-negative counts."""
    w = np.asarray(weights, dtype=np.float64)
    if n == 0 or w.sum() == 0:
        return [0] * len(w)
    raw = n * w / w.sum()
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:short]] += 1
    return counts.tolist()


def make_scene(n: int, sh_degree: int = 0, seed: int = 0, duplicates: float = 0.0,
               objects: int = 1) -> Scene:
    """A deterministic scene of ``n`` Gaussians that looks like a trained 3DGS scene."""
    n = int(n)
    if n < 0:
        raise ValueError("n must be >= 0")
    if sh_degree not in (0, 1, 2, 3):
        raise ValueError("sh_degree must be 0..3")
    if not 0.0 <= duplicates < 1.0:
        raise ValueError("duplicates must be in [0, 1)")
    if objects < 0:
        raise ValueError("objects must be >= 0")
    rng = np.random.default_rng(seed)
    f32 = np.float32

    obj_w = _OBJECT_FRACTION if objects else 0.0
    n_ground, n_blob, n_obj = _split(n, [_GROUND_FRACTION, 1.0 - _GROUND_FRACTION - obj_w, obj_w])

    # ---- positions and per-row surface kind (float64 while placing, then float32)
    # ground
    g = rng.random((n_ground, 3))
    g[:, :2] = g[:, :2] * 16.0 - 8.0
    g[:, 2] = (g[:, 2] - 0.5) * 0.1
    # blobs: uniform inside each ellipsoid
    blob_of = rng.integers(0, len(_BLOBS), n_blob)
    d = rng.standard_normal((n_blob, 3))
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    r = rng.random(n_blob) ** (1.0 / 3.0)
    b = _BLOBS[blob_of, 0] + d * r[:, None] * _BLOBS[blob_of, 1]
    # objects: sphere shells
    centres, radii = object_spheres(objects)
    per_obj = _split(n_obj, [1.0] * objects) if objects else []
    obj_id_o = np.repeat(np.arange(1, objects + 1, dtype=np.int32), per_obj)
    d = rng.standard_normal((n_obj, 3))
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    if objects:
        rr = radii[obj_id_o - 1] * (0.9 + 0.1 * rng.random(n_obj))
        o = centres[obj_id_o - 1] + d * rr[:, None]
    else:
        o = np.zeros((0, 3))

    positions = np.concatenate([g, b, o]).astype(f32)
    kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n_ground, n_blob, n_obj])
    object_id = np.concatenate([np.zeros(n_ground + n_blob, np.int32), obj_id_o])

    # ---- duplicates: copy position (and object id) of another, non-duplicate row
    m = min(int(round(duplicates * n)), max(n - 1, 0))
    if m:
        perm = rng.permutation(n)
        targets, pool = perm[:m], perm[m:]
        sources = pool[rng.integers(0, len(pool), m)]
        positions[targets] = positions[sources]
        object_id[targets] = object_id[sources]

    # ---- shuffle rows so surfaces are interleaved as in a trained PLY; the attributes
    # below are generated in the shuffled order (only the spatial arrays need permuting)
    order = rng.permutation(n)
    positions, kind, object_id = positions[order], kind[order], object_id[order]

    # ---- attributes
    # opacity logits: bimodal (faint floaters + solid surface), within [-4, 8]
    faint = rng.random(n) < 0.3
    opacity = np.where(faint, rng.normal(-2.0, 1.0, n), rng.normal(3.0, 2.0, n))
    opacity = np.clip(opacity, -4.0, 8.0).astype(f32)

    # log scales: per-surface base size, per-axis anisotropy; the ground is flat in z
    base = np.array([-3.0, -2.5, -3.5], f32)[kind]
    spread = np.array([0.5, 0.6, 0.4], f32)[kind]
    scales = rng.standard_normal((n, 3), dtype=f32)
    scales *= f32(0.5)
    scales += (base + spread * rng.standard_normal(n, dtype=f32))[:, None]
    scales[kind == 0, 2] -= f32(1.5)
    np.clip(scales, -7.0, 0.0, out=scales)

    # rotations: uniformly random unit quaternions (w x y z), w >= 0
    q = rng.standard_normal((n, 4))
    q *= np.copysign(1.0 / np.maximum(np.sqrt(np.einsum("ij,ij->i", q, q)), 1e-12), q[:, 0])[:, None]
    rotations = q.astype(f32)

    # colour: a smooth field over space, a per-object tint, a little noise
    freq = rng.normal(0.0, 0.35, (3, 3))
    phase = rng.uniform(0.0, 2 * np.pi, 3)
    tint = rng.uniform(-0.8, 0.8, (objects + 1, 3))
    tint[0] = 0.0
    sh_dc = positions @ freq.astype(f32)
    sh_dc += phase.astype(f32)
    np.sin(sh_dc, out=sh_dc)
    sh_dc *= f32(0.7)
    sh_dc += tint.astype(f32)[object_id]
    noise = rng.standard_normal((n, 3), dtype=f32)
    noise *= f32(0.1)
    sh_dc += noise
    np.clip(sh_dc, -1.5, 1.5, out=sh_dc)

    # higher SH: small, ~N(0, 0.05), smaller for higher bands (channel-major layout)
    k1 = (sh_degree + 1) ** 2 - 1
    if k1:
        band = np.floor(np.sqrt(np.arange(1, k1 + 1))).astype(np.float32)  # 1,1,1,2,...
        sigma = (0.05 / band).astype(f32)
        sh_rest = rng.standard_normal((n, 3, k1), dtype=f32)
        sh_rest *= sigma
        sh_rest = sh_rest.reshape(n, 3 * k1)
    else:
        sh_rest = np.zeros((n, 0), f32)
    assert sh_rest.shape[1] == SH_REST_WIDTH[sh_degree]

    return Scene(positions, opacity, scales, rotations, sh_dc, sh_rest, {"object_id": object_id})


def with_rest_palette(scene: Scene, entries: int, seed: int = 0) -> Scene:
    """The scene with each Gaussian's SH rest replaced by one of ``entries`` shared vectors (as
    codebook formats such as SOG store them), so that SH-rest references (spec 5.3.6) pay."""
    rng = np.random.default_rng(seed)
    out = scene.subset(slice(None))
    if scene.sh_rest.shape[1] and scene.n:
        palette = scene.sh_rest[rng.choice(scene.n, size=min(entries, scene.n), replace=False)]
        out.sh_rest = palette[rng.integers(0, len(palette), scene.n)]
    return out
