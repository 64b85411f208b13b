"""The LGS encoder: scene -> layers x regions -> coded segments -> file (spec 3, 5, 6, 7)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from refcodec.coding import attributes, duplicates, geometry, morton
from refcodec.coding.quantization import (
    CUSTOM_QUALITY, PRESETS, attribute_steps, attribute_values, position_grid, quantize_attributes,
    quantize_positions,
)
from refcodec.container import schema as S
from refcodec.container.front import assemble
from refcodec.layering import assign_layers, opacity_area
from refcodec.roi import assign_regions
from refcodec.roi.regions import SOURCE_IDS, RegionSpec


@dataclass
class EncodeOptions:
    layers: int = 8
    overcomplete: int = 16
    first_layer: int | None = None     # n1 of the overcomplete schedule; None: 2% of N, <= 1e5
    quality: str = "high"
    regions: list = field(default_factory=list)  # RegionSpec, in order (region 1, 2, ...)
    scorer: object = opacity_area
    target_bytes: int | None = None    # rate control: overrides ``quality`` (spec A.3)
    progress: bool | None = None       # None: a bar only on a terminal
    disable: frozenset = frozenset()   # coding tools switched off (names in TOOLS), for ablation


# Coding tools the encoder may use; each can be switched off for ablation studies.
TOOLS = ("cross_layer", "geometry_contexts", "intra", "delta", "rotation_norm", "sh_mask")


OPACITY_CLAMP = 20.0  # logit; +-inf opacities (alpha exactly 1 or 0, seen in real files) clamp here


def _check_scene(scene):
    """Reject NaN and infinities, except infinite opacity logits which are clamped. Returns the
    scene to encode (a copy when something was clamped)."""
    for name in ("positions", "opacity", "scales", "rotations", "sh_dc", "sh_rest"):
        arr = getattr(scene, name)
        if name == "opacity":
            arr = arr[~np.isinf(arr)]
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"scene has non-finite values in {name}")
    if scene.n >= 1 << 31:
        raise ValueError("scene too large for LGS 1.0 (at most 2^31 - 1 Gaussians)")
    if np.isinf(scene.opacity).any():
        scene = scene.subset(slice(None))
        scene.opacity = np.clip(scene.opacity, -OPACITY_CLAMP, OPACITY_CLAMP)
    return scene


def _region_entry(i: int, spec: RegionSpec | None, scene, mask, counts) -> dict:
    if spec is None:
        label, source, params, prompts = "background", 0, [], []
    else:
        label, source, params, prompts = spec.label, SOURCE_IDS[spec.source], spec.params, spec.prompts
    if len(label.encode("utf-8")) > 255:
        raise ValueError(f"region label {label[:40]!r}... is longer than 255 bytes")
    if mask.any():
        p = scene.positions[mask]
        lo, hi = p.min(axis=0).tolist(), p.max(axis=0).tolist()
    else:
        lo = hi = [0.0, 0.0, 0.0]
    return dict(region_id=i, label=label, source=source, flags=0, bbox_min=lo, bbox_max=hi,
                params=[float(v) for v in params][:255], prompts=list(prompts)[:255],
                counts=[int(c) for c in counts])


def _unit_order(qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoding order of a unit's rows: ascending Morton code of the voxel, ties in input order
    (spec 5.4). Returns (order, distinct codes, multiplicity of each)."""
    codes = morton.encode(qpos)
    order = np.argsort(codes, kind="stable")
    uniq, mult = np.unique(codes[order], return_counts=True)
    return order, uniq, mult


@dataclass
class _Plan:
    """Everything about an encoding that does not depend on the attribute steps."""
    scene: object
    options: EncodeOptions
    info: dict                  # scene info without quality/steps/num_segments
    regions: list               # ROI table entries
    units: list                 # (layer, region, decoding-ordered row indices, geometry, duplicates)
    values: np.ndarray          # (N, C) float64 attribute matrix (spec 3.2 order)


def _plan(scene, o: EncodeOptions) -> _Plan:
    scene = _check_scene(scene)
    labels = [s.label for s in o.regions]
    if len(set(labels)) != len(labels) or "background" in labels:
        raise ValueError("region labels must be unique and not 'background'")
    region = assign_regions(scene, o.regions)
    layer = assign_layers(scene, o.layers, o.overcomplete, o.first_layer, o.scorer)
    origin, voxel = position_grid(scene.positions)
    qpos = quantize_positions(scene.positions, origin, voxel)

    num_regions = len(o.regions) + 1
    counts = np.zeros((num_regions, o.layers), dtype=np.int64)
    np.add.at(counts, (region.astype(np.int64), layer.astype(np.int64) - 1), 1)
    regions = [_region_entry(i, None if i == 0 else o.regions[i - 1], scene, region == i, counts[i])
               for i in range(num_regions)]
    # spec 3.5: units ordered by layer, then region.
    key = layer.astype(np.int64) * num_regions + region
    rows = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[rows], np.arange(o.layers * num_regions + 1) + num_regions)
    units = []
    for u in range(o.layers * num_regions):
        idx = rows[bounds[u]: bounds[u + 1]]
        if len(idx):
            order, uniq, mult = _unit_order(qpos[idx])
            units.append((u // num_regions + 1, u % num_regions, idx[order],
                          geometry.encode(uniq), duplicates.encode(mult)))
    info = dict(sh_degree=scene.sh_degree, num_layers=o.layers, num_regions=num_regions,
                total_gaussians=scene.n, reserved=b"\0\0\0", origin=origin.tolist(),
                voxel_size=voxel.tolist())
    return _Plan(scene, o, info, regions, units, attribute_values(scene))


def _code(plan: _Plan, steps: np.ndarray, quality_id: int) -> bytes:
    """Quantize and code the attributes with ``steps`` and lay out the file (spec 3.5)."""
    qattr = quantize_attributes(plan.values, steps)
    toc, payloads = [], []
    bar = tqdm(plan.units, desc="encoding", unit="unit", leave=False,
               disable=None if plan.options.progress is None else not plan.options.progress)
    for l, r, rows, geo, dup in bar:
        g = len(toc)
        toc.append(_toc(l, r, S.KIND_GEOMETRY, []))
        payloads.append(geo)
        deps = [g]
        if dup is not None:
            toc.append(_toc(l, r, S.KIND_DUPLICATES, [g]))
            payloads.append(dup)
            deps.append(g + 1)
        toc.append(_toc(l, r, S.KIND_ATTRIBUTES, deps))
        payloads.append(attributes.encode(qattr[rows]))
    info = dict(plan.info, num_segments=len(toc), quality=quality_id, steps=steps.tolist())
    return assemble(info, plan.regions, toc, payloads)


def _fit_size(plan: _Plan, target: int, iterations: int = 12) -> tuple[bytes, float]:
    """Rate control: the finest step scale (relative to preset high) whose file fits ``target``.

    Bisection on log2(scale) in [1/16, 64]; the file shrinks as the scale grows. The result is
    the finest scale tried whose file fits (each passing trial is finer than the last).
    """
    sh = plan.scene.sh_degree
    lo, hi = -4.0, 6.0
    coarsest = _code(plan, attribute_steps(sh, scale=2.0 ** hi), CUSTOM_QUALITY)
    if len(coarsest) > target:
        raise ValueError(f"--target-bytes {target:,} is below the smallest file at this layering "
                         f"and 16-bit positions ({len(coarsest):,} bytes)")
    best = (coarsest, 2.0 ** hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        data = _code(plan, attribute_steps(sh, scale=2.0 ** mid), CUSTOM_QUALITY)
        if len(data) <= target:
            hi = mid
            best = (data, 2.0 ** mid)
        else:
            lo = mid
    return best


def encode_scene(scene, options: EncodeOptions | None = None) -> bytes:
    """Encode ``scene`` to LGS 1.0 bytes."""
    return encode_scene_with_order(scene, options)[0]


def encode_scene_with_order(scene, options: EncodeOptions | None = None) -> tuple[bytes, np.ndarray]:
    """Encode ``scene``; also return ``order``: the full decode's Gaussian j is input Gaussian
    ``order[j]`` (for measuring errors and for tests)."""
    o = options or EncodeOptions()
    if o.target_bytes is None:
        attribute_steps(0, o.quality)  # validate the preset name before the expensive part
    plan = _plan(scene, o)
    if o.target_bytes is not None:
        data, _ = _fit_size(plan, int(o.target_bytes))
    else:
        data = _code(plan, attribute_steps(plan.scene.sh_degree, o.quality), PRESETS[o.quality][0])
    order = (np.concatenate([u[2] for u in plan.units]) if plan.units else np.zeros(0, np.int64))
    return data, order


def _toc(layer: int, region: int, kind: int, deps: list) -> dict:
    return dict(layer=layer, region=region, kind=kind, flags=0, reserved=0, offset=0, length=0,
                crc32=0, deps=deps)
