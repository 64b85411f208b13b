"""The encoder's quantization: quality model (spec A.3), position grid and rounding (float64).

The decoder side, spec 7's dequantization, is ``refcodec.format.dequantize``.
"""
from __future__ import annotations

import warnings

import numpy as np

from refcodec.format.channels import group_slices, num_channels
from refcodec.format.schema import QUALITY_NAMES

POSITION_BITS = 16
POSITION_MAX = (1 << POSITION_BITS) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# Encoder quality model (spec A.3, not normative). A quality *level* L (a real number; presets
# name a few) sets everything lossy: position bits 16 - round(L) (L > 0) plus POSITION_BALANCE,
# steps of every group but opacity times 2^((L + b)/2), opacity times 2^((max(0, L - 2) + b)/2)
# (b: GROUP_BALANCE), and for L >= 1 a per-layer tilt: layers 5.. use twice the steps of layers
# 1-4 (a unit step exponent of 1) in every group but opacity and SH rest.
BASE_STEPS = {"opacity": 0.05, "scales": 0.02, "rotations": 1 / 256, "sh_dc": 1 / 128, "sh_rest": 1 / 64}
PRESET_LEVELS = {"max": -4.0, "high": 0.0, "medium": 2.0, "low": 4.0, "preview": 6.0}
QUALITY_IDS = {name: i for i, name in QUALITY_NAMES.items()}   # header ids; 255 "custom": any other level
MIN_POSITION_BITS = 6


def quality_level(quality) -> float:
    """A preset name or a number (string or float) -> quality level."""
    if isinstance(quality, str) and quality in PRESET_LEVELS:
        return PRESET_LEVELS[quality]
    try:
        level = float(quality)
    except (TypeError, ValueError):
        raise ValueError(f"unknown quality {quality!r}; choose one of {', '.join(PRESET_LEVELS)} or a number "
                         "(0 = high, each +2 halves the precision)") from None
    if not -8.0 <= level <= 16.0:
        raise ValueError("a numeric quality level must lie in -8..16")
    return level


def quality_id(quality) -> int:
    return QUALITY_IDS[quality] if isinstance(quality, str) and quality in PRESET_LEVELS else QUALITY_IDS["custom"]


# Extra position bits (spec A.3): with SH rest, positions carried the largest share of the render
# error at the benchmark's operating points, and one more bit paid (playbot_lod2, results of
# 2026-12-02).
POSITION_BALANCE = {False: 0, True: 1}


def position_bits(level: float, sh_degree: int = 0) -> int:
    """B = 16 - round(L) (L > 0) plus the position balance, within [6, 16]."""
    bits = POSITION_BITS - max(0, int(np.floor(level + 0.5))) + POSITION_BALANCE[sh_degree > 0]
    return int(min(POSITION_BITS, max(MIN_POSITION_BITS, bits)))


LAST_LAYER_POSITION_SHIFT = 2    # bits (spec A.6 item 6)


def layer_position_shift(level: float, layer: int, layers: int = 8, render_layers: bool = False,
                         bits: int = POSITION_BITS) -> int:
    """Extra position coarsening of a layer, in bits (spec A.6 item 6): with layers ranked from
    renders, at least 4 layers and L >= 1 (where the tilt starts), the last layer's positions
    lie on a grid 2^2 times coarser; never below MIN_POSITION_BITS. 0 otherwise."""
    if level < 1.0 or not render_layers or layers < 4 or layer != layers:
        return 0
    return max(0, min(LAST_LAYER_POSITION_SHIFT, bits - MIN_POSITION_BITS))


def coarsen_positions(q: np.ndarray, shift: int) -> np.ndarray:
    """Voxel coordinates moved to the centre of their cell of a grid 2^shift times coarser:
    (q >> s << s) + 2^(s-1); stays below 2^B for q < 2^B."""
    if shift <= 0:
        return q
    q = np.asarray(q).astype(np.int64)
    return (((q >> shift) << shift) + (1 << (shift - 1))).astype(np.uint16)


def layer_tilt(level: float, layer: int, layers: int = 8, render_layers: bool = False) -> int:
    """Unit step exponent of a layer (all groups but opacity and SH rest; spec A.3). With layers
    ranked from renders (``render_layers``, spec A.6) and at least 4 layers: shift 3 for the last
    layer, 1 for the two before it."""
    if level < 1.0:
        return 0
    if render_layers and layers >= 4:
        return 3 if layer == layers else 1 if layer >= layers - 2 else 0
    return 1 if layer >= 5 else 0


# Balance between the groups (spec A.3): extra half-step exponents b, steps times 2^(b/2), set
# where render PSNR showed one group's step buying more dB per byte than the others
# (tools/bench/results/allocation-2026-11-22.md, lgs4-2026-12-02.md): finer scales without SH
# rest; with SH rest, coarser opacity, rotation and DC, and SH rest without the layer tilt.
GROUP_BALANCE = {
    False: {"opacity": 0, "scales": -1, "rotations": 0, "sh_dc": 0, "sh_rest": 0},
    True: {"opacity": 1, "scales": 0, "rotations": 1, "sh_dc": 1, "sh_rest": 0},
}


def region_step_shift(level: float, region_level: float, channels: int) -> np.ndarray:
    """Step exponents (spec 5.3.1 shift) that bring a unit coded at ``level`` to the steps of
    ``region_level`` (region-adaptive quality, spec A.3): steps grow by 2^(dL/2), so every
    channel moves by round(dL / 2), opacity by the change of its own max(0, L - 2) term."""
    shift = np.full(channels, int(np.floor((region_level - level) / 2.0 + 0.5)), np.int8)
    shift[0] = int(np.floor((max(0.0, region_level - 2.0) - max(0.0, level - 2.0)) / 2.0 + 0.5))
    return shift


def rotation_scale(level: float, balance: int = 0) -> int:
    """S: rotation steps are exactly 1/S, S even, so the unit-norm prediction (spec 5.3.2) is exact
    in every layer."""
    return max(2, 2 * int(np.floor(128.0 / 2.0 ** ((level + balance) / 2.0) + 0.5)))


def attribute_steps(sh_degree: int, quality="high", offsets: dict | None = None) -> np.ndarray:
    """Per-channel float32 step sizes (spec 3.2 channel order) at a preset or quality level;
    ``offsets``: extra half-step exponents per group added to the balance (``--rd auto``, A.9)."""
    level = quality_level(quality)
    bal = GROUP_BALANCE[sh_degree > 0]
    if offsets:
        bal = {k: v + int(offsets.get(k, 0)) for k, v in bal.items()}
    mult = {name: 2.0 ** ((level + bal[name]) / 2.0) for name in bal}
    mult["opacity"] = 2.0 ** ((max(0.0, level - 2.0) + bal["opacity"]) / 2.0)
    steps = []
    for name, s in group_slices(num_channels(sh_degree)):
        step = 1.0 / rotation_scale(level, bal[name]) if name == "rotations" else BASE_STEPS[name] * mult[name]
        steps += [step] * (s.stop - s.start)
    return np.asarray(steps, dtype=np.float32)


# Outliers (spec A.3, encoder choice): a Gaussian farther than OUTLIER_FACTOR times the scene's
# central extent (the largest per-axis spread of the 0.5-99.5% quantiles) beyond those quantiles
# is clamped to the bounds of the others, so one stray Gaussian cannot stretch the grid and
# collapse the rest. The real scenes measured reach at most 0.08 of the central extent beyond
# it (ordinary scenes are never clamped: their grid is their bounding box, as before).
OUTLIER_FACTOR = 16.0
OUTLIER_QUANTILES = (0.5, 99.5)
# spec 4.2: |origin| + 2^16 * voxel_size <= 2^127. Positions are clamped to +-2^125 so that the
# grid always satisfies it (every decoded position is then finite).
POSITION_LIMIT = 2.0 ** 125


def position_bounds(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(lo, hi, outliers): per-axis float64 bounds of the grid and how many Gaussians lie
    outside them (clamped to them). Warns when it clamps."""
    p = np.asarray(positions, dtype=np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    ql, qh = np.percentile(p, OUTLIER_QUANTILES, axis=0)
    E = float(np.max(qh - ql))
    outside = 0
    if E > 0 and (np.any(lo < ql - OUTLIER_FACTOR * E) or np.any(hi > qh + OUTLIER_FACTOR * E)):
        inside = (p >= ql - OUTLIER_FACTOR * E) & (p <= qh + OUTLIER_FACTOR * E)
        lo = np.where(inside, p, np.inf).min(axis=0)
        hi = np.where(inside, p, -np.inf).max(axis=0)
        outside = int(np.count_nonzero(~inside.all(axis=1)))
        warnings.warn(f"{outside:,} Gaussian(s) lie more than {OUTLIER_FACTOR:g}x the scene's central extent "
                      f"({E:.4g}) outside it: their positions are clamped to the bounds of the others "
                      f"(x {lo[0]:.4g}..{hi[0]:.4g}, y {lo[1]:.4g}..{hi[1]:.4g}, z {lo[2]:.4g}..{hi[2]:.4g})",
                      stacklevel=2)
    if np.any(lo < -POSITION_LIMIT) or np.any(hi > POSITION_LIMIT):
        n = int(np.count_nonzero(np.any((p < -POSITION_LIMIT) | (p > POSITION_LIMIT), axis=1)))
        lo, hi = np.clip(lo, -POSITION_LIMIT, POSITION_LIMIT), np.clip(hi, -POSITION_LIMIT, POSITION_LIMIT)
        outside = max(outside, n)
        warnings.warn(f"{n:,} Gaussian(s) lie beyond +-2^125 ({POSITION_LIMIT:.3g}): clamped so that every "
                      f"decoded position stays finite (spec 4.2)", stacklevel=2)
    return lo, hi, outside


def position_grid(positions: np.ndarray, bits: int = POSITION_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Origin and per-axis voxel size of a ``bits``-bit position grid over the scene bounds
    (``position_bounds``: far outliers are left outside and clamped by ``quantize_positions``)."""
    if len(positions) == 0:
        return np.zeros(3, np.float32), np.ones(3, np.float32)
    lo64, hi, _ = position_bounds(positions)
    lo = lo64.astype(np.float32)
    extent = hi - lo.astype(np.float64)
    voxel = np.where(extent > 0, extent / ((1 << bits) - 1), 1.0).astype(np.float32)
    voxel = np.where(voxel > 0, voxel, np.float32(1e-30))  # float32 underflow guard
    return lo, voxel


def quantize_positions(positions: np.ndarray, origin: np.ndarray, voxel: np.ndarray,
                       bits: int = POSITION_BITS) -> np.ndarray:
    """Grid coordinates, clamped to the ``bits``-bit grid (outliers land on its faces)."""
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.rint((positions.astype(np.float64) - origin.astype(np.float64)) / voxel.astype(np.float64))
    return np.clip(q, 0, (1 << bits) - 1).astype(np.uint16)


def attribute_values(scene, rows=None) -> np.ndarray:
    """(N, C) float64 attribute matrix in coding order, rotations normalized with w >= 0; of
    the Gaussians ``rows`` only (an index array) when given."""
    if rows is not None:
        return attribute_values(_Rows(scene, rows))
    rot = scene.rotations.astype(np.float64)
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    rot = np.where(norm > 0, rot / np.where(norm > 0, norm, 1), np.array([1.0, 0, 0, 0]))
    rot = np.where(rot[:, :1] < 0, -rot, rot)
    return np.concatenate([scene.opacity[:, None].astype(np.float64), scene.scales.astype(np.float64),
                           rot, scene.sh_dc.astype(np.float64), scene.sh_rest.astype(np.float64)], axis=1)


class _Rows:
    """The attribute fields of some Gaussians of a scene (no positions, no copy of the rest)."""

    def __init__(self, scene, rows):
        for name in ("opacity", "scales", "rotations", "sh_dc", "sh_rest"):
            setattr(self, name, getattr(scene, name)[rows])


def quantize_attributes(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    q = np.rint(values / steps.astype(np.float64)[None, :])
    return np.clip(q, INT32_MIN // 2, INT32_MAX // 2).astype(np.int64)
