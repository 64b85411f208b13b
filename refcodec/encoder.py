"""The LGS encoder: scene -> layers x regions -> coded segments -> file (spec 3, 5, 6, 7)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from refcodec.coding import attributes, duplicates, geometry, morton
from refcodec.coding.quantization import (
    PRESETS, attribute_steps, attribute_values, position_grid, quantize_attributes,
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
    progress: bool | None = None       # None: a bar only on a terminal


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


def encode_unit(qpos: np.ndarray, qattr: np.ndarray):
    """Code one (layer, region) unit.

    Returns (geometry, duplicates or None, attributes) payloads and the decoding order (indices
    into the unit's rows): ascending Morton code of the voxel, ties in input order (spec 5.4).
    """
    codes = morton.encode(qpos)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    uniq, mult = np.unique(codes, return_counts=True)
    return (geometry.encode(uniq), duplicates.encode(mult), attributes.encode(qattr[order])), order


def encode_scene(scene, options: EncodeOptions | None = None) -> bytes:
    """Encode ``scene`` to LGS 1.0 bytes."""
    return encode_scene_with_order(scene, options)[0]


def encode_scene_with_order(scene, options: EncodeOptions | None = None) -> tuple[bytes, np.ndarray]:
    """Encode ``scene``; also return ``order``: the full decode's Gaussian j is input Gaussian
    ``order[j]`` (for measuring errors and for tests)."""
    o = options or EncodeOptions()
    scene = _check_scene(scene)
    labels = [s.label for s in o.regions]
    if len(set(labels)) != len(labels) or "background" in labels:
        raise ValueError("region labels must be unique and not 'background'")
    steps = attribute_steps(scene.sh_degree, o.quality)
    region = assign_regions(scene, o.regions)
    layer = assign_layers(scene, o.layers, o.overcomplete, o.first_layer, o.scorer)
    origin, voxel = position_grid(scene.positions)
    qpos = quantize_positions(scene.positions, origin, voxel)
    qattr = quantize_attributes(attribute_values(scene), steps)

    num_regions = len(o.regions) + 1
    counts = np.zeros((num_regions, o.layers), dtype=np.int64)
    np.add.at(counts, (region.astype(np.int64), layer.astype(np.int64) - 1), 1)
    regions = [_region_entry(i, None if i == 0 else o.regions[i - 1], scene, region == i, counts[i])
               for i in range(num_regions)]

    # spec 3.5: segments ordered by layer, then region, then kind.
    key = layer.astype(np.int64) * num_regions + region
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(o.layers * num_regions + 1) + num_regions)
    toc, payloads, decoded_order = [], [], []
    units = [(l, r) for l in range(1, o.layers + 1) for r in range(num_regions) if counts[r, l - 1]]
    for l, r in tqdm(units, desc="encoding", unit="unit", disable=(None if o.progress is None else not o.progress),
                     leave=False):
        u = l * num_regions + r - num_regions
        idx = order[bounds[u]: bounds[u + 1]]
        (geo, dup, att), unit_order = encode_unit(qpos[idx], qattr[idx])
        decoded_order.append(idx[unit_order])
        g = len(toc)
        toc.append(_toc(l, r, S.KIND_GEOMETRY, []))
        payloads.append(geo)
        deps = [g]
        if dup is not None:
            toc.append(_toc(l, r, S.KIND_DUPLICATES, [g]))
            payloads.append(dup)
            deps.append(g + 1)
        toc.append(_toc(l, r, S.KIND_ATTRIBUTES, deps))
        payloads.append(att)

    info = dict(sh_degree=scene.sh_degree, num_layers=o.layers, num_regions=num_regions,
                num_segments=len(toc), total_gaussians=scene.n, quality=PRESETS[o.quality][0],
                reserved=b"\0\0\0", origin=origin.tolist(), voxel_size=voxel.tolist(),
                steps=steps.tolist())
    order_all = np.concatenate(decoded_order) if decoded_order else np.zeros(0, np.int64)
    return assemble(info, regions, toc, payloads), order_all


def _toc(layer: int, region: int, kind: int, deps: list) -> dict:
    return dict(layer=layer, region=region, kind=kind, flags=0, reserved=0, offset=0, length=0,
                crc32=0, deps=deps)
