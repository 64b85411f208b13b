"""ROI benchmark (issue 18): an object picked by clicks, coded as a region, decoded object-first.

For each scene config (``tools/bench/roi/<name>.json``: scene file name, object label, clicks on
the committed cameras ``<name>_cameras.json``, segmenter):

1. the object's Gaussians from the clicks (refcodec.roi.click, RecastGS Eq. 5-7);
2. two files: ``plain`` (the object as region 1, one quality for all) and ``roi`` (the same with
   ``--roi-quality OBJECT=LEVEL background=LEVEL``, per-unit step exponents, spec A.3);
3. selections (spec 8.1): *uniform* levels k for every region, and *object-first*: the object at
   its top level, the background at k; also byte budgets (``budget_levels``) on the ``roi`` file;
4. for each: total bytes (front + the selected units' segments), ROI-PSNR (pixels of the
   object's own mask: the original scene rendered with colour 1 on the object's Gaussians and 0
   elsewhere, occlusion included, > 0.5) and background PSNR (the other pixels), pooled over the
   evaluation views (MSE summed over all views' pixels), against renders of the original scene;
5. the gain at equal bytes: each object-first point's ROI-PSNR minus the uniform curve's,
   interpolated linearly in log bytes at the same total bytes.

Evaluation views: 8 orbit views at 256x256, elevation 25 degrees, turned 7.5 degrees from the
click views (never used for the clicks). A contact sheet per scene (the evaluation view where
the object covers most pixels): the original, object at full quality with the background at
level 2, uniform at about the same bytes, the object alone, the scene without it.

    nice -n 10 python tools/bench/roi_bench.py --data ../shared/data --out tools/bench/results/roi-DATE
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import write_json  # noqa: E402

from refcodec.encoder import EncodeOptions, encode_scene  # noqa: E402
from refcodec.format.decode import budget_levels, decode, unit_bytes  # noqa: E402
from refcodec.format.front import read_front  # noqa: E402
from refcodec.io.load import load_scene  # noqa: E402
from refcodec.render import GaussianTensors, load_cameras_json, orbit_cameras, render, save_png  # noqa: E402
from refcodec.render.pictures import contact_sheet  # noqa: E402
from refcodec.roi import RegionSpec  # noqa: E402
from refcodec.roi.click import clicks_from_prompts, extract_object, member_masks, render_views  # noqa: E402
from refcodec.roi.regions import parse_roi  # noqa: E402
from refcodec.roi.segmenters import make_segmenter  # noqa: E402

ROI_QUALITY = {"object": "max", "background": "medium"}   # the roi file: --roi-quality


def eval_cameras(scene, size: int = 256, n: int = 8) -> list:
    return orbit_cameras(scene.positions, n_views=n, width=size, height=size, elevation_deg=25.0,
                         azimuth_offset_deg=7.5)


def renders(scene, cams) -> np.ndarray:
    import torch

    g = GaussianTensors.from_scene(scene)
    with torch.no_grad():
        return np.stack([render(g, c, backend="torch")["rgb"].clamp(0, 1).numpy() for c in cams])


def psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (peak 1) over the pixels in ``mask`` (all views pooled)."""
    if not mask.any():
        return float("nan")
    mse = float(np.mean((a[mask] - b[mask]) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def selection_bytes(front, levels) -> int:
    return front.front_length + sum(b or 0 for (l, r), b in unit_bytes(front).items() if l <= levels[r])


def measure(data: bytes, levels, cams, ref, mask) -> dict:
    front = read_front(data)
    scene = decode(data, list(levels)).scene
    img = renders(scene, cams)
    return dict(levels=list(levels), bytes=selection_bytes(front, levels), gaussians=int(scene.n),
                roi_psnr=psnr_in(img, ref, mask), bg_psnr=psnr_in(img, ref, ~mask))


def interp_log(x: float, xs: list, ys: list) -> float | None:
    """ys at x by linear interpolation in log x; None outside [min xs, max xs]."""
    order = np.argsort(xs)
    lx, yy = np.log(np.asarray(xs, float)[order]), np.asarray(ys, float)[order]
    if not lx[0] <= math.log(x) <= lx[-1]:
        return None
    return float(np.interp(math.log(x), lx, yy))


def run_scene(cfg_path: Path, data_dir: Path, out_dir: Path, layers: int = 8, eval_size: int = 256,
              eval_views: int = 8) -> dict:
    cfg = json.loads(cfg_path.read_text())
    scene = load_scene(data_dir / cfg["scene"])
    cams = load_cameras_json(cfg_path.parent / cfg["cameras"])
    t0 = time.perf_counter()
    spec = parse_roi(f"{cfg['object']}=click:{cfg['clicks']}")
    views = render_views(scene, cams, progress=False)
    ex = extract_object(scene, views, clicks_from_prompts(spec.prompts), make_segmenter(cfg.get("segmenter")))
    t_extract = time.perf_counter() - t0
    member = np.zeros(scene.n, bool)
    member[ex.indices] = True
    name = cfg["object"]
    region = RegionSpec(name, "click", [6.0], indices=ex.indices, prompts=spec.prompts)
    ecams = eval_cameras(scene, eval_size, eval_views)
    ref = renders(scene, ecams)
    mask = np.stack(member_masks(scene, ecams, member))
    files = {}
    for kind, rq in (("plain", {}), ("roi", {name: ROI_QUALITY["object"], "background": ROI_QUALITY["background"]})):
        files[kind] = encode_scene(scene, EncodeOptions(layers=layers, regions=[region], region_quality=rq,
                                                        progress=False))
    rows = []
    for kind, data in files.items():
        for k in range(1, layers + 1):
            rows.append(dict(file=kind, selection=f"uniform {k}", **measure(data, [k, k], ecams, ref, mask)))
            rows.append(dict(file=kind, selection=f"object {layers}, background {k}",
                             **measure(data, [k, layers], ecams, ref, mask)))
        rows.append(dict(file=kind, selection="object alone", **measure(data, [0, layers], ecams, ref, mask)))
        rows.append(dict(file=kind, selection="without object", **measure(data, [layers, 0], ecams, ref, mask)))
    # byte budgets on the roi file: the uniform curve's byte totals, object first
    front = read_front(files["roi"])
    for r in [r for r in rows if r["file"] == "plain" and r["selection"].startswith("uniform")]:
        lv = budget_levels(front, r["bytes"], [name])
        rows.append(dict(file="roi", selection=f"budget {r['bytes']} object first",
                         **measure(files["roi"], lv, ecams, ref, mask)))
    uni = [r for r in rows if r["file"] == "plain" and r["selection"].startswith("uniform")]
    ub, ur = [r["bytes"] for r in uni], [r["roi_psnr"] for r in uni]
    for r in rows:
        if r["selection"].startswith("uniform") and r["file"] == "plain":
            continue
        at = interp_log(r["bytes"], ub, ur)
        r["uniform_roi_psnr_at_bytes"] = at
        r["gain_db"] = None if at is None or not math.isfinite(r["roi_psnr"]) else r["roi_psnr"] - at
    # contact sheet (the evaluation view where the object covers most pixels)
    plain = files["plain"]
    sel2 = measure_scene(plain, [2, layers])
    b2 = selection_bytes(read_front(plain), [2, layers])
    k_eq = min(range(1, layers + 1), key=lambda k: abs(selection_bytes(read_front(plain), [k, k]) - b2))
    tiles = [(scene, f"original {scene.n:,} Gaussians"),
             (sel2, f"{name} full, background level 2: {b2:,} bytes"),
             (measure_scene(plain, [k_eq, k_eq]),
              f"uniform level {k_eq}: {selection_bytes(read_front(plain), [k_eq, k_eq]):,} bytes"),
             (measure_scene(plain, [0, layers]), f"{name} alone"),
             (measure_scene(plain, [layers, 0]), f"scene without {name}")]
    best = int(np.argmax(mask.reshape(len(ecams), -1).sum(axis=1)))     # the view showing most of it
    imgs = [renders(s, ecams[best:best + 1])[0] for s, _ in tiles]
    sheet = out_dir.parent / f"{out_dir.name}-{cfg_path.stem}-sheet.png"
    save_png(sheet, contact_sheet(imgs, [t for _, t in tiles], cols=len(tiles)))
    return dict(config=_rel(cfg_path), scene=cfg["scene"], object=name,
                clicks=cfg["clicks"], segmenter=cfg.get("segmenter", "grabcut"), object_gaussians=int(member.sum()),
                scene_gaussians=int(scene.n), voting_views=len(ex.masks), extract_seconds=round(t_extract, 1),
                mask_pixels=int(mask.sum()), eval_pixels=int(mask.size), roi_quality=ROI_QUALITY,
                file_bytes={k: len(v) for k, v in files.items()}, rows=rows, sheet=_rel(sheet))


def _rel(p: Path) -> str:
    p = Path(p).resolve()
    try:
        return str(p.relative_to(HERE.parents[1]))
    except ValueError:
        return str(p)


def measure_scene(data: bytes, levels):
    return decode(data, list(levels)).scene


def tables(doc: dict) -> str:
    out = []
    for s in doc["scenes"]:
        out += [f"### {s['scene']}: {s['object']} ({s['object_gaussians']:,} of {s['scene_gaussians']:,} Gaussians, "
                f"clicks {s['clicks']}, {s['voting_views']} voting views, {s['segmenter']})", "",
                "| file | selection | levels (bg, obj) | bytes | ROI-PSNR | bg PSNR "
                "| uniform ROI-PSNR at these bytes | gain dB |",
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in s["rows"]:
            at, g = r.get("uniform_roi_psnr_at_bytes"), r.get("gain_db")
            out.append(f"| {r['file']} | {r['selection']} | {r['levels']} | {r['bytes']:,} | {r['roi_psnr']:.2f} | "
                       f"{r['bg_psnr']:.2f} | {'' if at is None else f'{at:.2f}'} | "
                       f"{'' if g is None else f'{g:+.2f}'} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder of the scenes (../shared/data)")
    ap.add_argument("--out", required=True, help="results stem: writes STEM.json and STEM-tables.md")
    ap.add_argument("--configs", nargs="*", default=None, help="scene configs (default: tools/bench/roi/*.json "
                                                               "without _cameras)")
    ap.add_argument("--layers", type=int, default=8, help="quality layers of the files")
    ap.add_argument("--eval-size", type=int, default=256, help="evaluation views' size in pixels")
    ap.add_argument("--eval-views", type=int, default=8, help="evaluation views")
    a = ap.parse_args(argv)
    cfgs = [Path(c) for c in a.configs] if a.configs else sorted(
        p for p in (HERE / "roi").glob("*.json") if not p.stem.endswith("_cameras"))
    out = Path(a.out)
    doc = dict(setup=f"{a.eval_views} orbit views {a.eval_size}x{a.eval_size} (elevation 25, azimuth +7.5 deg from the "
                     "click views); ROI-PSNR in the "
                     "object's own mask rendered from its Gaussians in the original scene; PSNR against renders of "
                     "the original scene, pooled over views", scenes=[])
    for c in cfgs:
        t = time.perf_counter()
        doc["scenes"].append(run_scene(c, Path(a.data), out, a.layers, a.eval_size, a.eval_views))
        print(f"{c.stem}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    write_json(out.with_suffix(".json"), doc)
    Path(str(out) + "-tables.md").write_text(tables(doc) + "\n")
    print(tables(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
