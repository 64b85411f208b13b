"""Per-scene rate-distortion choices (opt-in, ``EncodeOptions.rd = "auto"``; spec A.9).

The quality model of spec A.3 couples everything to one level L: position bits 16 - round(L)
and every attribute group's step 2^(L/2) times a fixed base (with a fixed group balance). That
coupling was tuned on trained scenes; a clean object converted from a mesh needs its positions
much finer than its colours. ``rd="auto"`` measures the scene instead:

1. **Error model, fitted once.** Render the scene from a few small views the encoder picks
   itself (``RD_VIEWS`` ring views at ``RD_SIZE`` px, or every few of the user's cameras); then,
   for each knob k (positions, and each attribute group), render it again with only that knob
   quantized at the reference level's step s_k and measure the mean squared render error D_k.
   Quantization error is uniform in the step, so D_k(s) = D_k * (s / s_k)^2 (each halving of the
   step quarters the error).
2. **Rate model.** What one halving of k's step costs, r_k bits per Gaussian: the change of the
   zeroth-order entropy of the quantized values between s_k and s_k / 2, summed over the
   group's channels (about 1 bit per channel where the step is fine, less where it is coarse);
   for positions, the real geometry coder's bytes at B and B + 1 bits.
3. **Allocation.** Equal slopes (reverse water-filling): minimize sum D_k(s) at a fixed rate,
   i.e. D_k(s_k') / r_k equal for all k. The offsets x_k (halvings finer than the default
   step; positions in whole bits, attribute groups in half-steps of the step exponent) are
   rate-neutral against the default model (sum r_k x_k = 0), so the quality level (and rate
   control, which bisects on it) still sets the overall size.

4. **Values already on a grid.** Many scenes were quantized once before (8-bit colours of
   ``.splat``, mesh conversions, other codecs): a channel whose distinct values (at most
   ``LATTICE_MAX_VALUES``) lie on a uniform grid a + k g is coded with step g (or g / 2 when the
   grid is offset by half a cell, as 8-bit colours are in SH DC units), which reconstructs every
   value exactly, wherever that step is at most ``LATTICE_FINER`` times finer than the level's
   (``lattice_steps``): never a step finer than the data's own grid; such a channel keeps that
   step in every layer (no tilt) and is left out of the allocation. A group whose error costs
   no measurable rate (one value, e.g. constant scales) gets the finest offset.

The renders are reused by every knob (one reference set, one render per knob and view); the
model is fitted at one level and applied at whatever level the file is coded at (rate control
bisects with the same offsets). Encoder only: the file carries its steps and grid as always.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from refcodec.format.channels import group_slices, num_channels

RD_VIEWS = ((-15.0, 11.0, 3), (55.0, 67.0, 3))   # (elevation, azimuth offset, views): the encoder's own
RD_SIZE = 128
MAX_ATTR_OFFSET = 4      # half-steps either way
LATTICE_MAX_VALUES = 4096  # more distinct values than this: a continuous channel
LATTICE_TOL = 1e-3         # relative to the grid spacing
LATTICE_FINER = 1.25       # the exact step is used when at most this much finer than the level's
                           # (a third of a halving: about 0.3 bits per channel at most)
POS_OFFSET = (-3, 4)     # bits (coarser, finer)


@dataclass
class RDModel:
    """The fitted model: per knob the render MSE at the reference step (``mse``) and the bits
    per Gaussian one halving of the step costs (``rate``); ``level``: the reference level."""
    level: float
    mse: dict
    rate: dict
    render_s: float = 0.0
    lattice: dict | None = None      # channel -> exact step (float32), see lattice_steps

    def offsets(self) -> dict:
        """Equal-slope, rate-neutral offsets: {"positions": bits (+ finer), group: half-steps
        (+ coarser, the sign of spec A.3's balance)}."""
        knobs = [k for k in self.mse if self.mse[k] > 0 and self.rate[k] > 1e-6]
        out = {k: 0 for k in self.mse}
        for k in self.mse:              # error but no measurable cost (e.g. one value): finest
            if self.mse[k] > 0 and self.rate[k] <= 1e-6 and k != "positions":
                out[k] = -MAX_ATTR_OFFSET
        if self.lattice:
            out["lattice"] = dict(self.lattice)
        if len(knobs) < 2:
            return out
        # x_k = 0.5 log2(D_k / (r_k mu)); sum r_k x_k = 0
        logs = {k: math.log2(self.mse[k] / self.rate[k]) for k in knobs}
        rsum = sum(self.rate[k] for k in knobs)
        log_mu = sum(self.rate[k] * logs[k] for k in knobs) / rsum
        for k in knobs:
            x = 0.5 * (logs[k] - log_mu)               # halvings finer than the default
            if k == "positions":
                out[k] = int(np.clip(math.floor(x + 0.5), *POS_OFFSET))
            else:
                out[k] = int(np.clip(-math.floor(2.0 * x + 0.5), -MAX_ATTR_OFFSET, MAX_ATTR_OFFSET))
        return out


def lattice_step(values: np.ndarray) -> float | None:
    """The step that reconstructs every value of one channel exactly (up to float32), when its
    distinct values lie on a uniform grid a + k g with a a whole or half cell: g or g / 2; else
    None."""
    u = np.unique(np.asarray(values, np.float64))
    if not 2 <= len(u) <= LATTICE_MAX_VALUES:
        return None
    d = np.diff(u)
    g = float(d.min())
    if not g > 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.all(np.abs(d / g - np.rint(d / g)) < LATTICE_TOL):
            return None
    for m in (1, 2):
        step = np.float32(g / m)
        r = u / float(step)
        if np.all(np.abs(r - np.rint(r)) < LATTICE_TOL * m):
            return float(step)
    return None


def lattice_steps(values: np.ndarray, sh_degree: int) -> dict:
    """{channel: exact step} of the channels on a grid (``lattice_step``); rotations never (their
    steps are 1/S, spec A.3), opacity and the others wherever they are."""
    out = {}
    for name, sl in group_slices(num_channels(sh_degree)):
        if name == "rotations":
            continue
        for c in range(sl.start, sl.stop):
            st = lattice_step(values[:, c])
            if st is not None:
                out[c] = st
    return out


def apply_lattice(steps: np.ndarray, lattice: dict | None) -> np.ndarray:
    """(steps, exact): ``steps`` with each lattice channel's exact step where it is at most
    LATTICE_FINER times finer than the level's, and the mask of those channels."""
    steps = np.array(steps, dtype=np.float32)
    exact = np.zeros(steps.size, bool)
    for c, st in (lattice or {}).items():
        if c < steps.size and st * LATTICE_FINER >= steps[c]:
            steps[c] = np.float32(st)
            exact[c] = True
    return steps, exact


def rd_cameras(scene, cameras=None) -> list:
    """The model's views: the user's (every few, scaled down to RD_SIZE) or two small rings."""
    from refcodec.encoder.layering.pruning import small_views
    return small_views(scene.positions, RD_VIEWS, RD_SIZE, cameras)


def _entropy_bits(q: np.ndarray) -> float:
    """Zeroth-order entropy (bits per value) of integer values."""
    if q.size == 0:
        return 0.0
    _, counts = np.unique(q, return_counts=True)
    p = counts / q.size
    return float(-(p * np.log2(p)).sum())


def fit(scene, level: float, cameras=None) -> RDModel:
    """Fit the error and rate model of ``scene`` at quality ``level`` (module docstring)."""
    import time

    from refcodec.encoder import geometry
    from refcodec.encoder.layering.pruning import _renders
    from refcodec.encoder.quantization import (attribute_steps, attribute_values, position_bits, position_grid,
                                               quantize_positions)
    from refcodec.format import geometry as fgeometry
    from refcodec.format import morton

    t0 = time.perf_counter()
    cams = rd_cameras(scene, cameras)
    ref = _renders(scene, cams)

    def mse(variant) -> float:
        views = _renders(variant, cams)
        return float(np.mean([np.mean((a - b) ** 2) for a, b in zip(ref, views)]))

    mse_of, rate = {}, {}
    # positions: the level's grid
    bits = position_bits(level, scene.sh_degree)
    origin, voxel = position_grid(scene.positions, bits)
    q = quantize_positions(scene.positions, origin, voxel, bits)
    moved = scene.subset(slice(None))
    moved.positions = (origin.astype(np.float64) + q * voxel.astype(np.float64)).astype(np.float32)
    mse_of["positions"] = mse(moved)
    if bits < 16:
        sizes = []
        for b in (bits, bits + 1):
            o2, v2 = position_grid(scene.positions, b)
            codes = np.unique(morton.encode(quantize_positions(scene.positions, o2, v2, b)))
            sizes.append(len(geometry.encode(codes, fgeometry.LowerOccupancy([]))))
        rate["positions"] = 8.0 * (sizes[1] - sizes[0]) / max(1, scene.n)
    else:
        rate["positions"] = 0.0          # no finer grid to buy
    # attribute groups: each alone at the level's step
    values = attribute_values(scene)
    lattice = lattice_steps(values, scene.sh_degree)
    steps, exact = apply_lattice(attribute_steps(scene.sh_degree, level), lattice)
    steps = steps.astype(np.float64)
    for name, sl in group_slices(num_channels(scene.sh_degree)):
        if sl.stop <= sl.start or exact[sl].all():
            continue                     # nothing to choose: exact on its grid
        s = steps[sl]
        v = values.copy()
        qv = np.rint(values[:, sl] / s)
        v[:, sl] = qv * s
        if name == "rotations":
            n = np.linalg.norm(v[:, sl], axis=1, keepdims=True)
            v[:, sl] = np.where(n > 0, v[:, sl] / np.where(n > 0, n, 1.0), values[:, sl])
        mse_of[name] = mse(scene.with_attributes(v))
        fine = np.rint(values[:, sl] / (0.5 * s))
        rate[name] = float(sum(_entropy_bits(fine[:, c]) - _entropy_bits(qv[:, c]) for c in range(fine.shape[1])))
    return RDModel(level=float(level), mse=mse_of, rate=rate, render_s=time.perf_counter() - t0,
                   lattice=lattice or None)


def position_offset(offsets: dict | None) -> int:
    return int((offsets or {}).get("positions", 0))


def group_offsets(offsets: dict | None) -> dict | None:
    """The attribute groups' half-step offsets (None when there are none)."""
    if not offsets:
        return None
    g = {k: int(v) for k, v in offsets.items() if k not in ("positions", "lattice") and v}
    return g or None

