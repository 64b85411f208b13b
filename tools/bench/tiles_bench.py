"""Tiles bench: what spatial tiles cost in bytes, and what a view-selected decode buys at a fixed
byte budget (spec A.7).

    python tools/bench/tiles_bench.py SCENE.ply [...] [--tiles 8] [--budgets 0.1,0.25] \
        [--views 4] [--size 256] [--md out.md] [--json out.json]

For each scene (read by path, never copied):

1. Cost: the scene encoded (quality high) without tiles and with ``--cost-tiles`` (default
   4,8,16) tiles; bytes and the increase.
2. Views: ``--views`` close-up cameras (an orbit ring at 20 degrees elevation, distance 0.5 x the
   default orbit's, so that part of the scene is near, part far and part off-screen), 60 degree
   field of view, ``--size`` pixels square.
3. For each view and budget B (a fraction of the untiled file's bytes):
   - ``view``: the tiled file, levels chosen for the view by ``refcodec.stream.select`` with the
     decoded layer-1 positions as each tile's samples (front + selected units <= B bytes, layer 1
     included: exactly what ``refcodec decode URL --view`` fetches);
   - ``prefix``: the first B bytes of the same tiled file (uniform levels);
   - ``prefix, untiled``: the first B bytes of the untiled file.
   Each is rendered from the view and scored against the original scene's render: PSNR over the
   whole frame and over the foreground (pixels where the original's alpha > 0.5).

Times are not the point here. Output: Markdown table (stdout and --md) and JSON (--json) with
the commit and spec version.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def stamp() -> dict:
    """The results stamp of tools/bench/stamp.py (commit, dirty, spec version, refcodec, date)."""
    sys.path.insert(0, str(REPO / "tools" / "bench"))
    from stamp import stamp as bench_stamp

    return bench_stamp()


def close_views(positions, n: int, size: int, margin: float = 0.5):
    from refcodec.render.camera import orbit_cameras

    return orbit_cameras(positions, n_views=n, width=size, height=size, margin=margin, elevation_deg=20.0,
                         azimuth_offset_deg=10.0)


def score(scene, cam, ref):
    from refcodec.metrics.image import psnr, roi_mask
    from refcodec.render import render

    out = render(scene, cam)
    img = out["rgb"].clamp(0, 1).numpy()
    mask = roi_mask(ref["alpha"].numpy())
    return psnr(img, ref["rgb"].clamp(0, 1).numpy()), psnr(img, ref["rgb"].clamp(0, 1).numpy(), mask)


def bench_scene(path: str, a) -> dict:
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.format.decode import decode
    from refcodec.format.front import read_front
    from refcodec.io.load import load_scene
    from refcodec.render import render
    from refcodec.roi.tiles import tile_regions
    from refcodec.stream.select import View, layer1_samples, select_levels, selected_bytes

    scene = load_scene(path)
    name = Path(path).stem
    log = (lambda *m: None) if a.quiet else (lambda *m: print(*m, file=sys.stderr, flush=True))
    plain = encode_scene(scene, EncodeOptions(progress=False))
    cost = [dict(tiles=1, bytes=len(plain), increase_pct=0.0)]
    files = {}
    for n in sorted(set(a.cost_tiles) | {a.tiles}):
        data = encode_scene(scene, EncodeOptions(regions=tile_regions(scene, n), progress=False))
        files[n] = data
        cost.append(dict(tiles=n, bytes=len(data), increase_pct=100.0 * (len(data) / len(plain) - 1),
                         front_bytes=read_front(data).front_length))
        log(f"{name}: {n} tiles {len(data):,} bytes ({cost[-1]['increase_pct']:+.2f}%)")
    tiled = files[a.tiles]
    fm = read_front(tiled)
    samples = layer1_samples(decode(tiled, [1] * fm.info.num_regions))   # what a client has first
    rows = []
    cams = [(m, c) for m in a.margins for c in close_views(scene.positions, a.views, a.size, m)]
    for vi, (margin, cam) in enumerate(cams):
        ref = render(scene, cam)
        for frac in a.budgets:
            budget = int(round(frac * len(plain)))
            levels = select_levels(fm, View(cam.position, cam), budget, samples=samples)
            used = selected_bytes(fm, levels)
            sel = decode(tiled, levels)
            cases = [("view", sel.scene, used, levels),
                     ("prefix", decode(tiled[:budget]).scene, budget, None),
                     ("prefix, untiled", decode(plain[:budget]).scene, budget, None)]
            for kind, sc, nbytes, lv in cases:
                p, fg = score(sc, cam, ref)
                rows.append(dict(scene=name, view=vi, margin=margin, budget_fraction=frac, budget=budget, kind=kind,
                                 bytes=nbytes, gaussians=int(sc.n), psnr=p, fg_psnr=fg,
                                 levels=None if lv is None else [int(k) for k in lv]))
                log(f"{name} view {vi} budget {frac:.2f} {kind:<16} {nbytes:>9,} B {sc.n:>8,} G "
                    f"PSNR {p:6.2f} fg {fg:6.2f}")
    return dict(scene=name, path=path, gaussians=scene.n, tiles=a.tiles, cost=cost, rows=rows)


def _mean(xs):
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def markdown(doc: dict) -> str:
    s = doc["stamp"]
    out = [f"Tiles bench (commit {s['commit'][:10] if s['commit'] else '?'}{' + local changes' if s['dirty'] else ''}, "
           f"LGS {s['spec_version']}, {s['date']}): quality high, {doc['settings']['views']} close-up views at each "
           f"distance (orbit margins {', '.join(map(str, doc['settings'].get('margins', [0.5])))}), "
           f"{doc['settings']['size']} px, renders scored against the original scene's.", "",
           "Cost of tiles (bytes of the whole file):", "",
           "| scene | tiles | bytes | increase |", "| --- | --- | --- | --- |"]
    for sc in doc["scenes"]:
        for c in sc["cost"]:
            out.append(f"| {sc['scene']} | {c['tiles']} | {c['bytes']:,} | {c['increase_pct']:+.2f}% |")
    out += ["", f"View-selected decode ({doc['settings']['tiles']} tiles) against uniform prefixes at the same "
            "budget; mean over the views (PSNR dB, full frame / foreground):", "",
            "| scene | budget | distance (margin) | view-selected | prefix (tiled) | prefix (untiled) | view bytes "
            "| view wins |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for sc in doc["scenes"]:
        for frac, margin in [(f, m) for f in doc["settings"]["budgets"]
                             for m in doc["settings"].get("margins", [None])]:
            r = [x for x in sc["rows"] if x["budget_fraction"] == frac and x.get("margin") == margin]
            cell = {}
            for kind in ("view", "prefix", "prefix, untiled"):
                k = [x for x in r if x["kind"] == kind]
                cell[kind] = (_mean([x["psnr"] for x in k]), _mean([x["fg_psnr"] for x in k]),
                              _mean([x["bytes"] for x in k]))
            views = sorted({x["view"] for x in r})
            wins = sum(1 for v in views
                       if [x for x in r if x["view"] == v and x["kind"] == "view"][0]["psnr"]
                       > max(x["psnr"] for x in r if x["view"] == v and x["kind"] != "view"))
            out.append(f"| {sc['scene']} | {frac:.0%} ({r[0]['budget']:,} B) | {margin} | "
                       + " | ".join(f"{cell[k][0]:.2f} / {cell[k][1]:.2f}"
                                    for k in ("view", "prefix", "prefix, untiled"))
                       + f" | {cell['view'][2]:,.0f} | {wins}/{len(views)} |")
    out += ["", "Per view:", "", "| scene | budget | view (margin) | kind | bytes | Gaussians | PSNR | fg PSNR |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for sc in doc["scenes"]:
        for x in sc["rows"]:
            out.append(f"| {x['scene']} | {x['budget_fraction']:.0%} | {x['view']} ({x.get('margin')}) | {x['kind']} "
                       f"| {x['bytes']:,} | "
                       f"{x['gaussians']:,} | {x['psnr']:.2f} | {x['fg_psnr']:.2f} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenes", nargs="+")
    ap.add_argument("--tiles", type=int, default=8)
    ap.add_argument("--cost-tiles", default="4,8,16")
    ap.add_argument("--budgets", default="0.1,0.25")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--margins", default="0.5,0.25",
                    help="camera distances as orbit margins (1.25: the whole scene in view; smaller: closer)")
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    a.cost_tiles = [int(t) for t in a.cost_tiles.split(",") if t]
    a.budgets = [float(t) for t in a.budgets.split(",") if t]
    a.margins = [float(t) for t in a.margins.split(",") if t]
    doc = dict(stamp=stamp(), settings=dict(tiles=a.tiles, cost_tiles=a.cost_tiles, budgets=a.budgets,
                                            views=a.views, margins=a.margins, size=a.size,
                                            quality="high"),
               scenes=[bench_scene(p, a) for p in a.scenes])
    md = markdown(doc)
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
