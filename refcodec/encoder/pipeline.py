"""The LGS encoder: scene -> layers x regions -> coded segments -> file (spec 3, 5, 6, 7)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from refcodec.encoder import attributes, geometry
from refcodec.encoder.axes import canonical_scene
from refcodec.encoder.layering import assign_layers, opacity_area
from refcodec.encoder.layering.importance import coverage, render_opacity_area
from refcodec.encoder.quantization import (
    attribute_steps, attribute_values, coarsen_positions, layer_position_shift, layer_tilt, position_bits,
    position_grid, quality_id, quality_level, quantize_attributes, quantize_positions, region_step_shift,
)
from refcodec.format import duplicates, morton
from refcodec.format import geometry as fgeometry
from refcodec.format import schema as S
from refcodec.format.attributes import MAX_NORM, Lower
from refcodec.format.channels import BASE_CHANNELS, ROT_W
from refcodec.format.dequantize import unit_steps
from refcodec.format.front import assemble
from refcodec.roi import assign_regions
from refcodec.roi.regions import SOURCE_IDS, RegionSpec


@dataclass
class EncodeOptions:
    layers: int = 8
    overcomplete: int = 16
    first_layer: int | None = None     # n1 of the overcomplete schedule; None: 2% of N, <= 1e5
    quality: str = "high"              # a preset name or a quality level (spec A.3)
    regions: list = field(default_factory=list)  # RegionSpec, in order (region 1, 2, ...)
    scorer: object = opacity_area
    # spread every prefix over the scene (spec A.1): the scorer ranks within grid cells
    # (refcodec.encoder.layering.importance.coverage); part of STREAM
    coverage: bool = False
    # the layers' ranking when not pruning (spec A.6 item 5, A.10): "fast" the removal errors on the
    # 6 small views of A.6 item 7, "full" on A.6's 32 views, None the view-independent scorer alone
    rank: str | None = None
    target_bytes: int | None = None    # rate control: overrides ``quality`` (spec A.3)
    progress: bool | None = None       # None: a bar only on a terminal
    disable: frozenset = frozenset()   # coding tools switched off (names in TOOLS), for ablation
    # render-based pruning (spec A.6): check views keep prune_psnr dB, or (prune_margin) the coded
    # scene's check PSNR plus prune_margin dB; views: its cameras (None: orbit rings);
    # prune_errors: this scene's removal errors when already computed (benchmarks)
    prune_psnr: float | None = None
    prune_margin: float | None = None
    views: list | None = None
    prune_errors: object = None
    # progressive distillation of the prefixes (spec A.8; RecastGS Eq. 4): None = off, else the
    # time budget in seconds; views as for pruning; distill_options: keyword arguments of
    # refcodec.encoder.layering.distill.distill (benchmarks)
    distill_seconds: float | None = None
    distill_options: dict = field(default_factory=dict)
    # how the distilled values live in the file (spec A.8): "levels" = option (b), each level's own
    # values as 4.3 prefix corrections (spec 8.7, 8.7.1; the full level unchanged); "shared" = option (a),
    # one parameter set for every level (no bitstream change; the full level changes)
    distill_mode: str = "levels"
    # region-adaptive quality (spec A.3): region label -> quality level (preset or number); the
    # region's steps and position grid follow that level instead of ``quality`` (with rate
    # control, the same difference to the level reached)
    region_quality: dict = field(default_factory=dict)
    # per-scene rate-distortion choices (spec A.9, refcodec.encoder.rd): None = the fixed model of
    # A.3; "auto" = position bits and group steps from a render-error model fitted on this scene
    rd: str | None = None
    # fast pruning (spec A.6, refcodec.encoder.layering.pruning.FAST_*): fewer, smaller views
    prune_fast: bool = False
    # prefix adjustment (spec 8.6, A.10; version 4.1): each level's scale floor and opacity offset
    # fitted on renders and written as ancillary segments, so that a prefix covers the scene
    # (about 300 renders at 64 px; False: a 4.0 file, no renders); part of STREAM
    adjust: bool = False


# spec A.10: the encoder choices for files meant to be streamed or cut (`refcodec encode --stream`):
# prefixes that are coarser scenes, at the cost of encode time (biker: about 150 s instead of 2 s;
# without the distillation of spec A.8 (b) and with rank="fast", 17 s)
STREAM = dict(coverage=True, rank="full", adjust=True, distill_seconds=120.0, quality="medium")


# Coding tools the encoder may use; each can be switched off for ablation studies.
TOOLS = ("cross_layer", "geometry_contexts", "intra", "delta", "rotation_norm", "sh_mask", "residual_contexts",
         "canonical_axes", "rest_refs")


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
        raise ValueError("scene too large for LGS (at most 2^31 - 1 Gaussians)")
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
    sc = codes[order]
    heads = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]]) if sc.size else np.zeros(0, np.intp)
    return order, sc[heads], np.diff(np.r_[heads, sc.size])


@dataclass
class _Plan:
    """Everything about an encoding that does not depend on the quality level."""
    scene: object
    options: EncodeOptions
    info: dict                  # scene info without quality/steps/num_segments/origin/voxel
    regions: list               # ROI table entries
    units: list                 # (layer, region, row indices) in file order (spec 3.5)
    geometry: dict = field(default_factory=dict)   # (position bits, per-unit shifts) -> _Geometry
    kept: np.ndarray | None = None  # after pruning (spec A.6): the input index of each Gaussian
    pruning: object = None          # its PruneReport
    render_layers: bool = False     # layers ranked from the renders, with their tilt (spec A.6)
    rd: dict | None = None          # per-scene offsets (spec A.9): positions bits, group half-steps
    adjust: object = None           # the prefix adjustment's AdjustReport (spec A.10), once fitted
    corrections: object = None      # the prefix corrections' CorrectionReport (spec A.8 (b))


@dataclass
class _Geometry:
    origin: np.ndarray
    voxel: np.ndarray
    units: list                 # per unit: (decoding-ordered rows, code of each row, geometry, duplicates)


def _plan(scene, o: EncodeOptions) -> _Plan:
    scene = _check_scene(scene)
    labels = [s.label for s in o.regions]
    if len(set(labels)) != len(labels) or "background" in labels:
        raise ValueError("region labels must be unique and not 'background'")
    for name, q in o.region_quality.items():
        if name not in labels and name != "background":
            raise ValueError(f"--roi-quality {name}: no region labelled {name!r} "
                             f"(regions: {', '.join(['background'] + labels)})")
        quality_level(q)
    unknown = set(o.disable) - set(TOOLS)
    if unknown:
        raise ValueError(f"unknown coding tools {sorted(unknown)}; known: {', '.join(TOOLS)}")
    if "canonical_axes" not in o.disable and scene.n:
        scene = canonical_scene(scene)                  # spec A.5: the same Gaussians
    region = assign_regions(scene, o.regions)
    kept = report = None
    prune_psnr, fast = o.prune_psnr, o.prune_fast
    if o.rank not in (None, "fast", "full", "gradient"):
        raise ValueError(f"unknown ranking {o.rank!r}; choose fast, full, gradient or None")
    if prune_psnr is None and o.rank in ("fast", "full") and scene.n:   # rank without removing (A.10)
        from refcodec.encoder.layering.pruning import RANK_ONLY_PSNR
        prune_psnr, fast = RANK_ONLY_PSNR, o.rank == "fast"
    if prune_psnr is not None:                          # spec A.6
        from refcodec.encoder.layering.pruning import prune_by_render
        kept, report = prune_by_render(scene, float(prune_psnr), o.views, progress=o.progress,
                                       errors=o.prune_errors, **(dict(fast=True) if fast else {}))
        scene, region = scene.subset(kept), region[kept]
    scorer = o.scorer
    if report is not None and scorer is opacity_area:  # spec A.6 item 5: layers ranked from the renders
        scorer = render_opacity_area(report.errors[kept])
    elif o.rank == "gradient" and scene.n:              # spec A.10 item 1: GoDe's Eq. 3
        from refcodec.encoder.layering.gradient import gradient_importance, gradient_scorer
        from refcodec.encoder.layering.pruning import views as rank_views
        scorer = gradient_scorer(gradient_importance(scene, rank_views(scene, o.views)[0], o.progress))
    # A.6 items 5-6 (harder tilt, coarser last-layer positions) only with pruning: ranked without
    # removal (A.10), the last layer still holds Gaussians the views need (A.10: -5 dB on
    # stanford_bunny_100k at 0.70 x SOG's bytes)
    render_layers = report is not None and o.scorer is opacity_area and o.prune_psnr is not None
    if o.coverage:
        scorer = coverage(scorer)
    layer = assign_layers(scene, o.layers, o.overcomplete, o.first_layer, scorer)
    if o.distill_mode not in ("levels", "shared"):
        raise ValueError(f"unknown distillation mode {o.distill_mode!r}; choose levels or shared")
    if o.distill_seconds is not None and o.distill_mode == "shared" and scene.n:   # spec A.8 (a)
        from refcodec.encoder.layering.distill import distill
        scene, _ = distill(scene, layer, o.views, seconds=float(o.distill_seconds), progress=o.progress,
                           **o.distill_options)
        if "canonical_axes" not in o.disable:
            scene = canonical_scene(scene)

    num_regions = len(o.regions) + 1
    counts = np.zeros((num_regions, o.layers), dtype=np.int64)
    np.add.at(counts, (region.astype(np.int64), layer.astype(np.int64) - 1), 1)
    regions = [_region_entry(i, None if i == 0 else o.regions[i - 1], scene, region == i, counts[i])
               for i in range(num_regions)]
    # spec 3.5: units ordered by layer, then region.
    key = layer.astype(np.int64) * num_regions + region
    rows = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[rows], np.arange(o.layers * num_regions + 1) + num_regions)
    units = [(u // num_regions + 1, u % num_regions, rows[bounds[u]: bounds[u + 1]])
             for u in range(o.layers * num_regions) if bounds[u + 1] > bounds[u]]
    info = dict(sh_degree=scene.sh_degree, num_layers=o.layers, num_regions=num_regions,
                total_gaussians=scene.n, reserved=b"\0\0\0")
    rd = None
    if o.rd is not None:                                # spec A.9: per-scene choices
        if o.rd != "auto":
            raise ValueError(f"unknown rd mode {o.rd!r}; choose auto")
        from refcodec.encoder.rd import fit
        ref_level = quality_level(o.quality) if o.target_bytes is None else RD_RATE_LEVEL
        rd = fit(scene, ref_level, o.views).offsets() if scene.n else None
    return _Plan(scene, o, info, regions, units, kept=kept, pruning=report, render_layers=render_layers, rd=rd)


RD_RATE_LEVEL = 2.0     # --rd auto with rate control: the model's reference level (medium)
RATE_LEVELS = (-8.0, 14.0)   # rate control bisects the quality level in this range (spec A.3)
# rate control's second stage (spec A.3): the attributes alone get finer, by at most one level
# (where the positions gain their next bit), in this many bisection steps
FILL_RANGE = 1.0
FILL_ITERATIONS = 6


def _group_offsets(rd: dict | None) -> dict | None:
    from refcodec.encoder.rd import group_offsets
    return group_offsets(rd) if rd else None


def _region_levels(plan: _Plan, level: float) -> list:
    """Quality level of each region (spec A.3): ``level`` moved by the region's --roi-quality
    difference to --quality."""
    rq = plan.options.region_quality
    if not rq:
        return [level] * len(plan.regions)
    base = quality_level(plan.options.quality)
    return [level + quality_level(rq[r["label"]]) - base if r["label"] in rq else level for r in plan.regions]


def _position_bits(plan: _Plan, level: float) -> tuple[int, list]:
    """The file's position bits (the finest region's) and each region's own."""
    own = [position_bits(lv, plan.scene.sh_degree) for lv in _region_levels(plan, level)]
    if plan.rd:                                         # spec A.9
        own = [int(min(16, max(6, b + plan.rd.get("positions", 0)))) for b in own]
    return max(own), own


def _geometry(plan: _Plan, level: float) -> _Geometry:
    """Positions on the level's grid (each unit's coarsened by its position shift, spec A.6, and
    by its region's coarser grid, A.3); each unit's decoding order and coded geometry, with
    octree contexts from the region's lower layers (spec 5.1)."""
    bits, own = _position_bits(plan, level)
    levels = _region_levels(plan, level)
    shifts = tuple(bits - own[r] + layer_position_shift(levels[r], l, plan.options.layers, plan.render_layers, own[r])
                   for l, r, _ in plan.units)
    if (bits, shifts) in plan.geometry:
        return plan.geometry[bits, shifts]
    origin, voxel = position_grid(plan.scene.positions, bits)
    qpos = quantize_positions(plan.scene.positions, origin, voxel, bits)
    methods = [fgeometry.METHOD_GAPS]
    methods.append(fgeometry.CTX_MODE_LEVEL if "geometry_contexts" in plan.options.disable else fgeometry.CTX_MODE_FULL)
    lower: dict = {}
    out = []
    for (_l, r, idx), shift in zip(plan.units, shifts):
        order, uniq, mult = _unit_order(coarsen_positions(qpos[idx], shift))
        low = fgeometry.LowerOccupancy(list(lower.get(r, [])))
        out.append((idx[order], np.repeat(uniq, mult), geometry.encode(uniq, low, methods),
                    duplicates.encode(mult)))
        lower.setdefault(r, []).append(uniq)
    plan.geometry = {(bits, shifts): _Geometry(origin, voxel, out)}      # keep one grid at a time
    return plan.geometry[bits, shifts]


def _code(plan: _Plan, quality, position_level: float | None = None) -> bytes:
    """Quantize and code the attributes at ``quality`` and lay out the file (spec 3.5); the
    positions at ``position_level`` when given (rate control's second stage), else at the same."""
    level = quality_level(quality)
    plevel = level if position_level is None else float(position_level)
    sh = plan.scene.sh_degree
    steps = attribute_steps(sh, level, _group_offsets(plan.rd))
    exact = None
    if plan.rd and plan.rd.get("lattice"):              # spec A.9 item 4: values on a grid
        from refcodec.encoder.rd import apply_lattice
        steps, exact = apply_lattice(steps, plan.rd["lattice"])
    bits = _position_bits(plan, plevel)[0]
    levels = _region_levels(plan, level)
    geo = _geometry(plan, plevel)
    tools = set(TOOLS) - set(plan.options.disable)
    C = steps.size
    grid_shift = max(0, bits - 9)
    toc, payloads = [], []
    lower: dict = {}
    last: dict = {}             # region -> TOC indices of its previous unit's segments
    bar = tqdm(list(zip(plan.units, geo.units)), desc="encoding", unit="unit", leave=False,
               disable=None if plan.options.progress is None else not plan.options.progress)
    for (l, r, _), (rows, codes, geo_payload, dup) in bar:
        below = last.get(r, [])
        g = len(toc)
        toc.append(_toc(l, r, S.KIND_GEOMETRY, [i for i in below if toc[i]["kind"] == S.KIND_GEOMETRY]))
        payloads.append(geo_payload)
        deps = [g]
        if dup is not None:
            toc.append(_toc(l, r, S.KIND_DUPLICATES, [g]))
            payloads.append(dup)
            deps.append(g + 1)
        toc.append(_toc(l, r, S.KIND_ATTRIBUTES, deps + below))   # spec 3.4: lower layers first
        shifts = np.full(C, layer_tilt(levels[r], l, plan.options.layers, plan.render_layers), np.int8)
        shifts[0] = 0                                               # opacity keeps its step
        shifts[BASE_CHANNELS:] = 0                                # and SH rest (references, spec A.3)
        if exact is not None:
            shifts[exact] = 0                                     # exact on their grid (A.9)
        if levels[r] != level:                                    # region-adaptive quality (A.3)
            shifts += region_step_shift(level, levels[r], C)
            np.clip(shifts, -8, 8, out=shifts)
        q = quantize_attributes(attribute_values(plan.scene, rows), unit_steps(steps, shifts))
        low = lower.get(r) or Lower.empty()
        norm_s = int(round(1.0 / float(unit_steps(steps, shifts)[ROT_W])))
        payloads.append(attributes.encode(q, shifts, codes, low, tools, grid_shift=grid_shift, grid_levels=4,
                                          norm_S=norm_s if 1 <= norm_s <= MAX_NORM else None))
        last[r] = list(range(g, len(toc)))
        lower[r] = low.add(codes, q, shifts)           # grid means and SH-rest references
    info = dict(plan.info, num_segments=len(toc), quality=quality_id(quality), steps=steps.tolist(),
                origin=geo.origin.tolist(), voxel_size=geo.voxel.tolist())
    return assemble(info, plan.regions, toc, payloads)


def _fit_size(plan: _Plan, target: int, iterations: int = 10,
              fill_iterations: int = FILL_ITERATIONS) -> tuple[bytes, float, float]:
    """Rate control: the finest quality level whose file fits ``target`` (spec A.3); returns
    (file, attribute level, position level).

    Bisection on the level in [-8, 14]; the file shrinks as the level grows. The result is the
    finest level tried whose file fits (each passing trial is finer than the last). The position
    grid changes by whole bits (position_bits), so the file jumps there and the level found may
    leave part of the target unused; a second bisection then keeps that level's positions and
    refines the attribute steps alone, down to the level where the positions would gain a bit.
    """
    lo, hi = RATE_LEVELS
    coarsest = _code(plan, hi)
    if len(coarsest) > target:
        raise ValueError(f"--target-bytes {target:,} is below the smallest file at this layering "
                         f"({len(coarsest):,} bytes)")
    best = (coarsest, hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        data = _code(plan, mid)
        if len(data) <= target:
            hi = mid
            best = (data, mid)
        else:
            lo = mid
    data, level = best
    # second stage: the positions stay at ``level``'s grid, the attributes get finer
    lo, hi = max(RATE_LEVELS[0], level - FILL_RANGE), level
    out = (data, level, level)
    for _ in range(fill_iterations if len(data) < target else 0):
        mid = 0.5 * (lo + hi)
        trial = _code(plan, mid, position_level=level)
        if len(trial) <= target:
            hi = mid
            out = (trial, mid, level)
        else:
            lo = mid
    return out


def encode_scene(scene, options: EncodeOptions | None = None) -> bytes:
    """Encode ``scene`` to LGS bytes."""
    return encode_scene_with_order(scene, options)[0]


def encode_scene_with_order(scene, options: EncodeOptions | None = None) -> tuple[bytes, np.ndarray]:
    """Encode ``scene``; also return ``order``: the full decode's Gaussian j is input Gaussian
    ``order[j]`` (for measuring errors and for tests)."""
    o = options or EncodeOptions()
    if o.target_bytes is None:
        quality_level(o.quality)  # validate the quality before the expensive part
    asked = o
    if o.prune_margin is not None:
        o = _margin_rule(scene, o)
    plan = _plan(scene, o)
    if o.target_bytes is not None:
        target = int(o.target_bytes) - _adjust_bytes(plan)
        data, level, plevel = _fit_size(plan, target)
        if asked.prune_margin is not None and o.prune_psnr is not None:
            # spec A.6 item 3 with a byte target: the pruned file reaches a finer level than the
            # unpruned one at the same bytes, so the reference is taken again at the level reached
            o = replace(_margin_rule(scene, replace(asked, target_bytes=None, quality=level)),
                        target_bytes=asked.target_bytes)
            plan = _plan(scene, o)
            data, level, plevel = _fit_size(plan, target)
    else:
        data, level = _code(plan, o.quality), quality_level(o.quality)
        plevel = level
    corrected = set()
    if o.distill_seconds is not None and o.distill_mode == "levels":
        # spec A.8 (b): after rate control, so that a byte target bounds the full level (what a
        # client fetches for the whole scene); the corrections (and the adjustments they were
        # distilled under) come on top of it
        data, corrected = _with_corrections(plan, data)
    if o.adjust:
        data = _with_adjustments(plan, data, skip=corrected)
    geo = _geometry(plan, plevel)
    order = np.concatenate([u[0] for u in geo.units]) if geo.units else np.zeros(0, np.int64)
    if plan.kept is not None:
        order = plan.kept[order]
    return data, order


def _adjusted_units(plan: _Plan) -> list:
    """(layer, region) of every adjustment the file may carry (spec 8.6): each level l < L of a
    region that has Gaussians in a layer above l."""
    top = {}
    for l, r, _ in plan.units:
        top[r] = max(top.get(r, 0), l)
    return sorted((l, r) for r, t in top.items() for l in range(1, t))


def _adjust_bytes(plan: _Plan) -> int:
    """The most bytes the adjustments add (rate control keeps room for them)."""
    from refcodec.encoder.adjust import ENTRY_BYTES
    return ENTRY_BYTES * len(_adjusted_units(plan)) if plan.options.adjust else 0


def _with_corrections(plan: _Plan, data: bytes) -> tuple[bytes, set]:
    """spec A.8 (b): each coarse level's own distilled values, as prefix corrections (spec 8.7).
    Also returns the (layer, region) units corrected."""
    from refcodec.encoder.corrections import PREDICT, add_corrections, fit

    o = plan.options
    kw = dict(o.distill_options)
    predicted = bool(kw.pop("predicted", PREDICT))
    if not o.adjust:                       # no prefix adjustments (spec 8.6) in this file
        kw.setdefault("adjusted", False)
    table, report = fit(data, o.views, seconds=float(o.distill_seconds), progress=o.progress, predicted=predicted,
                        **kw)
    plan.corrections = report
    if o.progress or (o.progress is None and sys.stderr.isatty()):
        print(report.summary(), file=sys.stderr)
    return add_corrections(data, table, predicted, report.adjustments(table)), set(table)


def _with_adjustments(plan: _Plan, data: bytes, skip: set = frozenset()) -> bytes:
    """spec A.10: fit each level's prefix adjustment on renders and add it to the file (spec 8.6);
    not for the units in ``skip`` (they have their own values, spec 8.7)."""
    from refcodec.encoder.adjust import add_adjustments, fit

    wanted = [k for k in _adjusted_units(plan) if k not in skip]
    if not wanted:
        return data
    report = fit(data, plan.scene, plan.options.views, progress=plan.options.progress)
    plan.adjust = report
    if plan.options.progress or (plan.options.progress is None and sys.stderr.isatty()):
        print(report.summary(), file=sys.stderr)          # what it did, beside the progress bars
    table = report.table()
    return add_adjustments(data, {(l, r): table[l] for l, r in wanted if l in table})


def _margin_rule(scene, o: EncodeOptions) -> EncodeOptions:
    """spec A.6: the pruning PSNR is the check-view PSNR of the file coded without pruning (at the
    same quality or byte target) plus the margin."""
    from refcodec.format.decode import decode
    from refcodec.encoder.layering.pruning import coded_psnr

    if o.prune_psnr is not None:
        raise ValueError("give a pruning PSNR or a pruning margin, not both")
    margin = float(o.prune_margin)
    if not np.isfinite(margin):
        raise ValueError("the pruning margin must be a finite number of dB")
    plain = replace(o, prune_margin=None)
    coded = decode(encode_scene(scene, replace(plain, distill_seconds=None, adjust=False, rank=None))).scene
    psnr = coded_psnr(_check_scene(scene), coded, o.views, **(dict(fast=True) if o.prune_fast else {}))
    return replace(plain, prune_psnr=psnr + margin) if np.isfinite(psnr) else plain  # lossless: keep all


def _toc(layer: int, region: int, kind: int, deps: list) -> dict:
    return dict(layer=layer, region=region, kind=kind, flags=0, reserved=0, offset=0, length=0,
                crc32=0, deps=deps)
