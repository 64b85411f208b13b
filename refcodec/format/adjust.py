"""Prefix adjustment (spec 8.6, version 4.1): a region decoded only up to a level below L gets
that level's signalled scale floor and opacity offset, so that its fewer Gaussians cover what the
whole region covers.

Normative and tiny: which regions are coarse, which ancillary segment applies, and two binary32
operations per value. Imports numpy, construct and the format package only.
"""
from __future__ import annotations

import math

import numpy as np

from refcodec.format import schema as S


def payload_values(payload: bytes) -> tuple[np.float32, np.float32] | None:
    """(scale_floor, opacity_offset) of an adjustment payload, or None when it is invalid (spec
    8.6: not exactly 8 bytes, or a value that is not finite or exceeds 2^16 in magnitude); an
    invalid adjustment is ignored, never an error."""
    if len(payload) != S.ADJUSTMENT_SIZE:
        return None
    p = S.AdjustmentPayload.parse(payload)
    vals = (p.scale_floor, p.opacity_offset)
    if not all(math.isfinite(v) and abs(v) <= S.ADJUSTMENT_MAX for v in vals):
        return None
    return np.float32(vals[0]), np.float32(vals[1])


def build_payload(scale_floor: float, opacity_offset: float) -> bytes:
    """The 8-byte payload (encoder side)."""
    return S.AdjustmentPayload.build(dict(scale_floor=scale_floor, opacity_offset=opacity_offset))


def coarse_levels(num_layers: int, units, decoded) -> dict:
    """spec 8.6: region -> d_r for every *coarse* region: 1 <= d_r < L, where d_r counts the
    layers 1, 2, ... of the region whose unit has no Gaussians or was decoded, up to the first that
    was not. ``units``: (layer, region, count) of every unit with a TOC entry; ``decoded``: the set
    of (layer, region) units decoded."""
    missing: dict = {}
    for layer, region, count in units:
        if count and (layer, region) not in decoded:
            missing[region] = min(missing.get(region, num_layers + 1), layer)
    have = {region for layer, region in decoded}
    return {r: m - 1 for r, m in missing.items() if r in have and 1 <= m - 1 < num_layers}


def apply(scales: np.ndarray, opacity: np.ndarray, rows: np.ndarray, scale_floor, opacity_offset) -> None:
    """spec 8.6, in place on the rows ``rows`` (bool mask or indices) of the decoded float32 arrays:
    opacity = f32(opacity + offset); of the three log-scales, every one but the smallest (the first
    of equal smallest) becomes max(scale, floor). ``scale_floor`` and ``opacity_offset``: float32
    scalars, or one value per selected row."""
    s = scales[rows]
    smallest = np.argmin(s, axis=1)
    floored = np.maximum(s, np.asarray(scale_floor, np.float32).reshape(-1, 1))
    keep = np.arange(3)[None, :] == smallest[:, None]
    scales[rows] = np.where(keep, s, floored)
    opacity[rows] = (opacity[rows] + np.asarray(opacity_offset, np.float32)).astype(np.float32)


def apply_reference(scales: np.ndarray, opacity: np.ndarray, rows, scale_floor, opacity_offset) -> None:
    """Plain per-Gaussian form of ``apply``, for tests."""
    idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
    for i in idx:
        m = 0
        for a in (1, 2):
            if scales[i, a] < scales[i, m]:
                m = a
        for a in range(3):
            if a != m and scales[i, a] < scale_floor:
                scales[i, a] = scale_floor
        opacity[i] = np.float32(opacity[i]) + np.float32(opacity_offset)
