"""Quantization of positions and attributes (spec 7).

Encoder side rounds in float64; the decoder side is the normative dequantization of spec 7:
IEEE-754 binary32 multiply, then add, each rounded to nearest-even, no fused multiply-add.
"""
from __future__ import annotations

import numpy as np

from refcodec.container.schema import BASE_CHANNELS, SH_REST_WIDTH

POSITION_BITS = 16
POSITION_MAX = (1 << POSITION_BITS) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# spec 3.2 channel groups, in coding order: (name, width)
GROUPS = (("opacity", 1), ("scale", 3), ("rotation", 4), ("sh_dc", 3))

# Base steps at preset "high"; each preset multiplies them (encoder choice, not normative).
BASE_STEPS = {"opacity": 0.05, "scale": 0.02, "rotation": 1 / 256, "sh_dc": 1 / 128, "sh_rest": 1 / 64}
PRESETS = {  # name -> (id stored in the header, step multiplier)
    "max": (0, 0.25),
    "high": (1, 1.0),
    "medium": (2, 2.0),
    "low": (3, 4.0),
    "preview": (4, 8.0),
}
PRESET_NAMES = {v[0]: k for k, v in PRESETS.items()}
CUSTOM_QUALITY = 255  # header quality id of a rate-controlled (custom) step scale
PRESET_NAMES[CUSTOM_QUALITY] = "custom"


def attribute_steps(sh_degree: int, quality: str = "high", scale: float | None = None) -> np.ndarray:
    """Per-channel float32 step sizes (spec 3.2 channel order) for a preset, or for an explicit
    ``scale`` of the base (preset ``high``) steps."""
    if scale is None:
        if quality not in PRESETS:
            raise ValueError(f"unknown quality preset {quality!r}; choose one of {', '.join(PRESETS)}")
        scale = PRESETS[quality][1]
    mult = float(scale)
    steps = []
    for name, width in GROUPS:
        steps += [BASE_STEPS[name] * mult] * width
    steps += [BASE_STEPS["sh_rest"] * mult] * SH_REST_WIDTH[sh_degree]
    return np.asarray(steps, dtype=np.float32)


def position_grid(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origin and per-axis voxel size of the 16-bit position grid over the scene bounds."""
    if len(positions) == 0:
        return np.zeros(3, np.float32), np.ones(3, np.float32)
    lo = positions.min(axis=0).astype(np.float32)
    hi = positions.max(axis=0).astype(np.float64)
    extent = hi - lo.astype(np.float64)
    voxel = np.where(extent > 0, extent / POSITION_MAX, 1.0).astype(np.float32)
    voxel = np.where(voxel > 0, voxel, np.float32(1e-30))  # float32 underflow guard
    return lo, voxel


def quantize_positions(positions: np.ndarray, origin: np.ndarray, voxel: np.ndarray) -> np.ndarray:
    q = np.rint((positions.astype(np.float64) - origin.astype(np.float64)) / voxel.astype(np.float64))
    return np.clip(q, 0, POSITION_MAX).astype(np.uint16)


def dequantize_positions(q: np.ndarray, origin, voxel) -> np.ndarray:
    """spec 7.1: x = binary32(q) * voxel_size + origin, two correctly rounded binary32 ops."""
    prod = q.astype(np.float32) * np.asarray(voxel, dtype=np.float32)
    return prod + np.asarray(origin, dtype=np.float32)


def attribute_values(scene) -> np.ndarray:
    """(N, C) float64 attribute matrix in coding order, rotations normalized with w >= 0."""
    rot = scene.rotations.astype(np.float64)
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    rot = np.where(norm > 0, rot / np.where(norm > 0, norm, 1), np.array([1.0, 0, 0, 0]))
    rot = np.where(rot[:, :1] < 0, -rot, rot)
    return np.concatenate([scene.opacity[:, None].astype(np.float64), scene.scales.astype(np.float64),
                           rot, scene.sh_dc.astype(np.float64), scene.sh_rest.astype(np.float64)], axis=1)


def quantize_attributes(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    q = np.rint(values / steps.astype(np.float64)[None, :])
    return np.clip(q, INT32_MIN // 2, INT32_MAX // 2).astype(np.int64)


def dequantize_attributes(q: np.ndarray, steps) -> np.ndarray:
    """spec 7.2: value = binary32(q) * step, one correctly rounded binary32 multiply."""
    return q.astype(np.float32) * np.asarray(steps, dtype=np.float32)[None, :]


def split_attributes(matrix: np.ndarray) -> dict:
    """Coding-order (N, C) matrix -> Scene field arrays."""
    return dict(opacity=matrix[:, 0], scales=matrix[:, 1:4], rotations=matrix[:, 4:8],
                sh_dc=matrix[:, 8:BASE_CHANNELS], sh_rest=matrix[:, BASE_CHANNELS:])
