"""Command-line parts of click regions and region-adaptive quality (encoder side), hooked into
``refcodec.cli``: resolving ``encode``'s click regions, and the ``segment`` command that writes a
click selection for checking before encoding. Their options are declared in
``refcodec.roi_options`` (imported by the parser, which the decoder's CLI builds too)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from refcodec.roi.click import EPSILON


def parse_roi_quality(items: list) -> dict:
    out = {}
    for it in items:
        name, sep, q = it.rpartition("=")
        if not sep or not name or not q:
            raise ValueError(f"--roi-quality {it!r}: expected NAME=LEVEL")
        out[name] = q
    return out


def _cameras(a, scene) -> list:
    from refcodec.roi.click import load_views_cameras

    if a.view_size < 16:
        raise ValueError("--view-size must be >= 16")
    return load_views_cameras(a.cameras, scene.positions, size=a.view_size)


def resolve_clicks(a, scene, specs: list, quiet: bool = False) -> list:
    """Find the Gaussians of the click regions among ``specs`` (in place). Returns extractions."""
    if not any(s.source == "click" for s in specs):
        return []
    from refcodec.roi.click import resolve_click_regions
    from refcodec.roi.segmenters import make_segmenter

    eps = EPSILON if a.epsilon is None else a.epsilon
    if not eps > 0:
        raise ValueError("--epsilon must be > 0")
    seg = make_segmenter(a.segmenter)
    t0 = time.perf_counter()
    ex = resolve_click_regions(scene, specs, _cameras(a, scene), seg, eps=eps,
                               progress=False if quiet else None)
    if not quiet:
        for s, e in zip([s for s in specs if s.source == "click"], ex):
            print(f"region {s.label}: {len(e.indices):,} Gaussians from {len(s.prompts)} click(s), "
                  f"{len(e.masks)} voting views ({seg.name})", file=sys.stderr)
        print(f"click regions took {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return ex


def cmd_segment(a) -> int:
    from refcodec.io.load import load_scene
    from refcodec.io.atomic import write_atomic
    from refcodec.render.pictures import contact_sheet
    from refcodec.roi.click import render_views, resolve_click_regions
    from refcodec.roi.regions import parse_roi
    from refcodec.roi.segmenters import make_segmenter

    scene = load_scene(a.input)
    specs = [parse_roi(s, a.tau) for s in a.roi]
    if any(s.source != "click" for s in specs):
        raise ValueError("refcodec segment takes click regions only (NAME=click:VIEW:X,Y)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cams = _cameras(a, scene)
    views = render_views(scene, cams, progress=False if a.quiet else None)
    vdir = out / "views"
    vdir.mkdir(exist_ok=True)
    for v in views:
        write_atomic(vdir / f"{v.index:03d}.png", _png(v.rgb8()))
    scaled = [v for v in views if v.scale != 1.0]
    print(f"wrote {len(views)} views to {vdir}: VIEW is the file number, X,Y pixels of that view"
          + (f" (these pictures are scaled by {scaled[0].scale:.3g}: divide their pixel coordinates by it)"
             if scaled else ""))
    if a.views_only or not specs:
        return 0
    seg = make_segmenter(a.segmenter)
    exs = resolve_click_regions(scene, specs, cams, seg, eps=EPSILON if a.epsilon is None else a.epsilon,
                                views=views,
                                progress=False if a.quiet else None)
    for spec, ex in zip(specs, exs):
        write_atomic(out / f"{spec.label}.npy", _npy(ex.indices.astype(np.int64)))
        member = np.zeros(scene.n, bool)
        member[ex.indices] = True
        shown = [vp.view for vp in ex.prompts if vp.view in ex.masks][:6]
        obj = render_views(scene.subset(member), [views[k].camera for k in shown], progress=False) if shown else []
        tiles, labels = [], []
        for k, ov in zip(shown, obj):
            v = views[k]
            vp = next(p for p in ex.prompts if p.view == k)
            marked = _mark(v.rgb8(), vp.points, vp.labels)
            tiles += [marked, (ex.masks[k][..., None] * np.array([255, 255, 255], np.uint8)).astype(np.uint8),
                      ov.rgb8()]
            labels += [f"view {k} prompts", f"view {k} mask", f"view {k} object"]
        if tiles:
            sheet = contact_sheet(tiles, labels, cols=3)
            write_atomic(out / f"{spec.label}.png", _png(sheet))
        print(f"{spec.label}: {len(ex.indices):,} of {scene.n:,} Gaussians, {len(ex.masks)} voting views "
              f"-> {out / (spec.label + '.npy')}, {out / (spec.label + '.png')}")
    return 0


def _png(img: np.ndarray):
    """A writer for ``write_atomic``: the picture as PNG."""
    from refcodec.render import save_png

    return lambda path: save_png(path, img)


def _npy(arr: np.ndarray):
    """A writer for ``write_atomic``: the array as .npy."""
    return lambda path: np.save(path, arr)


def _mark(img: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The prompts drawn on a copy of ``img``: green crosses positive, red negative."""
    img = img.copy()
    h, w = img.shape[:2]
    for (x, y), lab in zip(points, labels):
        i, j = int(np.floor(x)), int(np.floor(y))
        col = np.array([0, 255, 0] if lab else [255, 0, 0], np.uint8)
        for d in range(-3, 4):
            if 0 <= j < h and 0 <= i + d < w:
                img[j, i + d] = col
            if 0 <= j + d < h and 0 <= i < w:
                img[j + d, i] = col
    return img
