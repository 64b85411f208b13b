"""Prefix benchmark: is each level of an LGS file a scene worth showing, next to a decimated LOD?

    python tools/bench/prefix_bench.py ../shared/data/plant.ply [more.ply ...] \\
        [--variants default,prune] [--size 192] [--views 8] [--out tools/bench/results/prefix-DATE]

For each scene and each encoder variant (``VARIANTS``; all in one run, against the same
renders), per level k = 1..L of the file: the Gaussians and cumulative bytes of the level-k
prefix, PSNR / SSIM of its renders against the original scene's renders, and fg-PSNR (PSNR over
the pixels the original covers, alpha > 0.5). Beside it, what a user would otherwise do: a
decimated level of detail with the same Gaussian count, PlayCanvas splat-transform 3.10.2
``--decimate-adaptive N -g cpu`` then SPZ (``tools/bench/peers.py``; the full level's peer is the
SPZ of the original). Then the BD-rate of the prefix curve against the LOD curve (bytes over
fg-PSNR and over PSNR; pchip, ``refcodec.metrics.bd``) and a contact sheet per scene and variant:
one row of levels 1..L, one row of the LODs of the same counts (first evaluation view).

Evaluation views (never seen by the encoder's pruning or distillation rings, which sit at
elevations -15/20/55 and 35 degrees): two orbit rings at 5 and 42 degrees elevation, azimuths
offset by 17 and 31 degrees, ``--views`` in all, ``--size`` pixels square, and with
``--closeups`` as many again at half the camera distance (close-ups).

``--quality peer`` encodes each scene at the coarsest quality level (to 0.25) whose full level,
from the default encoder, has at least the fg-PSNR of SPZ of the original: prefixes compared at
the full-level quality a user would otherwise ship, rather than at a preset that is far finer
than SPZ on one scene and coarser on another.

LOD files are cached under ``--cache`` (default /tmp/prefix_bench_cache) by scene file and
count: decimation takes 10-20 s a level on this machine.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from refcodec.encoder.pipeline import STREAM  # noqa: E402

# encoder variants: name -> keyword arguments of EncodeOptions (besides layers)
VARIANTS = {
    "default": {},                         # the default encoder (the 4.0 encoder of 2026-12-02)
    # --stream (spec A.10): render ranking, coverage, adjustments and, since 4.2, the corrections
    # of A.8 (b) at quality medium (refcodec.encoder.STREAM)
    "stream": dict(STREAM),
    "stream-nodistill": {"coverage": True, "rank": "full", "adjust": True},   # --stream --distill-seconds 0
    "fast": {"coverage": True, "rank": "fast", "adjust": True},    # ... --rank fast (the 4.1 --stream)
    "proxy": {"coverage": True, "adjust": True},                   # ... --rank none
    "gradient": {"coverage": True, "rank": "gradient", "adjust": True},  # ... --rank gradient (Eq. 3)
    "prune": {"prune_margin": 12.0},
    "distill-shared": {"distill_seconds": 120.0, "distill_mode": "shared"},   # spec A.8 option (a)
}
EVAL_RINGS = ((5.0, 17.0), (42.0, 31.0))   # (elevation, azimuth offset) degrees


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def eval_cameras(positions, views: int = 8, size: int = 192, closeups: bool = False) -> list:
    from refcodec.render import orbit_cameras

    cams = []
    for i, (el, off) in enumerate(EVAL_RINGS):
        k = views // len(EVAL_RINGS) + (1 if i < views % len(EVAL_RINGS) else 0)
        if k:
            cams += orbit_cameras(positions, n_views=k, width=size, height=size, elevation_deg=el,
                                  azimuth_offset_deg=off)
        if closeups and k:
            cams += orbit_cameras(positions, n_views=k, width=size, height=size, elevation_deg=el,
                                  azimuth_offset_deg=off + 45.0, margin=0.625)
    return cams


def render_all(scene, cameras) -> tuple[list, list]:
    """(clamped float32 RGB renders, alpha renders) of ``scene`` from each camera."""
    from rd_eval import render_all as renders

    return renders(scene, cameras, alpha=True)


def score(ref: list, masks: list, views: list) -> dict:
    from refcodec.metrics import mean_over_views, psnr, ssim

    p = mean_over_views(psnr, ref, views)
    fg = mean_over_views(psnr, ref, views, masks=masks)
    s = mean_over_views(ssim, ref, views)
    return dict(psnr=_finite(p), fg_psnr=_finite(fg), ssim=float(s))


def _finite(x: float):
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else float("nan"))


def _num(x):
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def bd(rows_test: list, rows_anchor: list, key: str):
    """BD-rate (%) of the test curve (bytes, key) against the anchor curve; None if undefined."""
    import warnings

    from refcodec.metrics import bd_rate

    def pts(rows):
        p = sorted({(_num(r[key]), r["bytes"]) for r in rows if _num(r.get(key)) is not None})
        return [b for _, b in p], [q for q, _ in p]

    (rt, qt), (ra, qa) = pts(rows_test), pts(rows_anchor)
    if len(rt) < 2 or len(ra) < 2 or len(set(qt)) != len(qt) or len(set(qa)) != len(qa):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = bd_rate(ra, qa, rt, qt, method="pchip", on_no_overlap="nan")
    return None if not math.isfinite(v) else float(v)


# ------------------------------------------------------------------------------------------------
# The decimated LOD
# ------------------------------------------------------------------------------------------------
def _scene_key(path: str) -> str:
    """Cache key of a scene file: a hash of its bytes (a copy of the same scene keeps its LODs)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def lod_spz(tool, path: str, original, count: int, cache: Path, timeout: float = 900) -> tuple[str | None, str]:
    """Path of the SPZ of ``path`` decimated to ``count`` Gaussians (``count`` = all: no
    decimation), built once and cached; (None, reason) on failure."""
    import peers as P

    d = cache / _scene_key(path)
    d.mkdir(parents=True, exist_ok=True)
    spz = d / f"lod_{count}.spz"
    if spz.exists():
        return str(spz), ""
    src = str(path)
    if Path(path).suffix.lower() != ".ply":
        from refcodec.io.ply import write_ply
        src = str(d / "input.ply")
        if not os.path.exists(src):
            write_ply(src, original)
    if count < original.n:
        ply = str(d / f"lod_{count}.ply")
        r = P.decimate(tool, src, count, ply, timeout=timeout)
        if r["rc"] != 0 or not os.path.exists(ply):
            return None, f"decimate failed (rc {r['rc']}): {r['output'].strip()[-300:]}"
        src = ply
    r = P.encode(tool, src, str(spz) + ".tmp.spz", timeout=timeout, gpu="cpu")
    if r["rc"] != 0:
        return None, f"spz failed (rc {r['rc']}): {r['output'].strip()[-300:]}"
    os.replace(str(spz) + ".tmp.spz", spz)
    if count < original.n:
        os.remove(src)
    return str(spz), ""


def lod_rows(tool, path: str, original, counts: list, cams, ref, masks, cache: Path, keep: dict) -> list:
    import peers as P

    from refcodec.io.load import load_scene

    rows = []
    for k, n in enumerate(counts, 1):
        t = time.perf_counter()
        spz, why = lod_spz(tool, path, original, int(n), cache)
        if spz is None:
            rows.append(dict(level=k, target=int(n), status=why))
            _log(f"  LOD {n}: {why}")
            continue
        dec, turn, _ = P.align_scene(original, load_scene(spz))
        views, _ = render_all(dec, cams)
        row = dict(level=k, target=int(n), gaussians=dec.n, bytes=os.path.getsize(spz), axes=turn,
                   status="ok", **score(ref, masks, views))
        keep[k] = views[0]
        rows.append(row)
        _log(f"  LOD   level {k}: {dec.n:>8,} G {row['bytes']:>10,} B  PSNR {_fmt(row['psnr'])}  "
             f"fg {_fmt(row['fg_psnr'])}  SSIM {row['ssim']:.4f}  ({time.perf_counter() - t:.1f} s)")
    return rows


# ------------------------------------------------------------------------------------------------
# LGS prefixes
# ------------------------------------------------------------------------------------------------
def encode_variant(original, name: str, layers: int, extra: dict | None = None, cameras=None) -> tuple[bytes, float]:
    from refcodec.encoder import EncodeOptions, encode_scene

    kw = dict(VARIANTS[name] if extra is None else extra)
    if cameras is not None:
        kw.setdefault("views", cameras)
    t = time.perf_counter()
    data = encode_scene(original, EncodeOptions(layers=layers, **kw))
    return data, time.perf_counter() - t


def level_prefixes(data: bytes) -> list:
    """Per level k: dict(level, bytes of the level-k prefix, fetch: bytes a client fetches to
    select level k (the front, units 1..k, their adjustments and level k's corrections, spec 8.7),
    gaussians, decoded scene)."""
    from refcodec.format.decode import decode
    from refcodec.format.front import read_front
    from refcodec.info import describe
    from refcodec.stream.select import selected_bytes

    front = read_front(data)
    out = []
    for lv in describe(data)["levels"]:
        nbytes = min(int(lv["bytes"]), len(data))
        scene = decode(data[:nbytes]).scene
        k = int(lv["level"])
        out.append(dict(level=k, bytes=nbytes, fetch=selected_bytes(front, [k] * front.info.num_regions),
                        gaussians=scene.n, scene=scene))
    return out


PEER_PRESETS = ("preview", "low", "medium", "high", "max")   # coarsest first (spec A.3)
PEER_RESOLUTION = 0.25     # quality levels: the search's last step


def peer_quality(tool, path: str, original, layers: int, cams, ref, masks, cache: Path) -> dict:
    """The coarsest quality level (spec A.3: presets are named levels, any real level is allowed)
    whose full level, written by the default encoder, has at least the fg-PSNR of SPZ of the
    original (what a user ships instead): LGS compared at the peer's full-level quality rather
    than at a fixed preset that is far finer than SPZ on one scene and coarser on another. The
    presets are tried coarsest first; between the first that passes and the coarser one before it,
    bisection to PEER_RESOLUTION levels. Returns dict(preset: the level, as a preset name when it
    is one, peer_fg_psnr, trials: [dict(preset, level, fg_psnr, bytes)] in the order tried)."""
    import peers as P

    from refcodec.encoder.quantization import PRESET_LEVELS
    from refcodec.format.decode import decode
    from refcodec.io.load import load_scene

    spz, why = lod_spz(tool, path, original, original.n, cache)
    if spz is None:
        raise SystemExit(f"--quality peer: no SPZ of the original: {why}")
    dec, _, _ = P.align_scene(original, load_scene(spz))
    peer = score(ref, masks, render_all(dec, cams)[0])["fg_psnr"]
    trials = []

    def passes(q) -> bool:
        data, _ = encode_variant(original, "default", layers, {"quality": q})
        fg = score(ref, masks, render_all(decode(data).scene, cams)[0])["fg_psnr"]
        level = PRESET_LEVELS.get(q, q) if isinstance(q, str) else float(q)
        trials.append(dict(preset=q, level=level, fg_psnr=fg, bytes=len(data)))
        _log(f"  quality {q}: full level fg {_fmt(fg)} dB, {len(data):,} B (SPZ of the original: {_fmt(peer)} dB)")
        return fg == "inf" or (_num(fg) is not None and fg >= peer)

    good = bad = None
    for q in PEER_PRESETS:
        if passes(q):
            good = PRESET_LEVELS[q]
            break
        bad = PRESET_LEVELS[q]
    if good is None or bad is None:              # the finest fails, or the coarsest passes
        return dict(preset=trials[-1]["preset"], peer_fg_psnr=peer, trials=trials)
    while bad - good > PEER_RESOLUTION + 1e-9:   # larger level: coarser
        mid = round((good + bad) / 2 / PEER_RESOLUTION) * PEER_RESOLUTION
        if mid in (good, bad):
            break
        if passes(mid):
            good = mid
        else:
            bad = mid
    name = next((k for k, v in PRESET_LEVELS.items() if v == good), good)
    return dict(preset=name, peer_fg_psnr=peer, trials=trials)


def prefix_rows(data: bytes, cams, ref, masks, keep: dict) -> list:
    rows = []
    for p in level_prefixes(data):
        views, _ = render_all(p["scene"], cams)
        row = dict(level=int(p["level"]), gaussians=int(p["gaussians"]), bytes=int(p["bytes"]), fetch=int(p["fetch"]),
                   **score(ref, masks, views))
        keep[row["level"]] = views[0]
        rows.append(row)
        _log(f"  LGS   level {row['level']}: {row['gaussians']:>8,} G {row['bytes']:>10,} B  PSNR "
             f"{_fmt(row['psnr'])}  fg {_fmt(row['fg_psnr'])}  SSIM {row['ssim']:.4f}")
    return rows


def sheet(lgs_imgs: dict, lgs_rows: list, lod_imgs: dict, lod_rows_: list, path: str) -> None:
    from refcodec.render import save_png
    from refcodec.render.pictures import as_uint8_rgb, contact_sheet

    tiles, labels = [], []
    for r in lgs_rows:
        tiles.append(as_uint8_rgb(lgs_imgs[r["level"]]))
        labels.append(f"LGS {r['level']}: {r['gaussians']:,} G {r['bytes']:,} B fg {_fmt(r['fg_psnr'], 1)} dB")
    by_level = {r["level"]: r for r in lod_rows_}
    blank = np.zeros_like(tiles[0])
    for r in lgs_rows:
        lr = by_level.get(r["level"])
        if lr is None or lr.get("status") != "ok":
            tiles.append(blank)
            labels.append("LOD: none")
            continue
        tiles.append(as_uint8_rgb(lod_imgs[r["level"]]))
        labels.append(f"LOD {lr['gaussians']:,} G {lr['bytes']:,} B fg {_fmt(lr['fg_psnr'], 1)} dB")
    save_png(path, contact_sheet(tiles, labels, cols=len(lgs_rows)))


def _fmt(x, nd=2):
    return x if isinstance(x, str) else ("-" if x is None or not math.isfinite(x) else f"{x:.{nd}f}")


def compare(lgs: list, lod: list) -> dict:
    """Per level: does the prefix reach the LOD's fg-PSNR at no more bytes? Plus BD-rates."""
    by = {r["level"]: r for r in lod if r.get("status") == "ok"}
    levels = []
    for r in lgs:
        o = by.get(r["level"])
        if o is None:
            continue
        dq = (_num(r["fg_psnr"]) or 1e9) - (_num(o["fg_psnr"]) or 1e9) if r["fg_psnr"] != "inf" else math.inf
        fetch = r.get("fetch", r["bytes"])
        levels.append(dict(level=r["level"], d_fg_psnr=dq, bytes_ratio=r["bytes"] / o["bytes"],
                           fetch_ratio=fetch / o["bytes"],
                           wins=bool(dq >= 0 and r["bytes"] <= o["bytes"]),
                           wins_fetch=bool(dq >= 0 and fetch <= o["bytes"])))
    ok_lod = [r for r in lod if r.get("status") == "ok"]
    fetched = [dict(r, bytes=r.get("fetch", r["bytes"])) for r in lgs]
    return dict(levels=levels, bd_rate_fg_fetch=bd(fetched[:-1], ok_lod[:-1], "fg_psnr"),
                bd_rate_fg=bd(lgs, ok_lod, "fg_psnr"), bd_rate=bd(lgs, ok_lod, "psnr"),
                bd_rate_fg_partial=bd(lgs[:-1], ok_lod[:-1], "fg_psnr"))


def markdown(results: list, settings: dict) -> str:
    L = [f"Prefix benchmark: {settings['views']} evaluation views at {settings['size']}x{settings['size']} "
         f"(orbit rings at elevations {', '.join(str(e) for e, _ in EVAL_RINGS)} deg"
         f"{', with close-ups' if settings.get('closeups') else ''}; not the encoder's views), PSNR / "
         "SSIM against the original scene's renders, fg-PSNR over the pixels the original covers "
         f"(alpha > 0.5). LOD: {settings.get('splat_transform') or 'splat-transform ?'} "
         "`--decimate-adaptive N -g cpu` to the prefix's count, then SPZ (full level: SPZ of the "
         f"original). LGS at quality `{settings.get('quality', 'high')}`. Commit " + settings["commit"]
         + f", LGS {settings['spec']}.", ""]
    for res in results:
        for v in res["variants"]:
            c = v["compare"]
            q = res.get("quality")
            tried = ", ".join(f"`{t['preset']}` {_fmt(t['fg_psnr'])} dB" for t in q["trials"]) if q else ""
            qs = (f", quality `{q['preset']}` (SPZ of the original {_fmt(q['peer_fg_psnr'])} dB fg; default "
                  f"encoder's full level at the levels tried: {tried})") if q else ""
            L.append(f"### {Path(res['scene']).stem}: `{v['variant']}` ({v['encode_s']:.1f} s encode{qs})")
            L.append("")
            L.append("| level | Gaussians | LGS bytes | PSNR | fg-PSNR | SSIM | LOD Gaussians | LOD bytes | "
                     "LOD PSNR | LOD fg-PSNR | LOD SSIM | fg diff | bytes ratio | fetch ratio |")
            L.append("|" + " ---: |" * 14)
            lod = {r["level"]: r for r in res["lod"][v["variant"]]}
            cmp_ = {r["level"]: r for r in c["levels"]}
            for r in v["levels"]:
                o = lod.get(r["level"], {})
                cl = cmp_.get(r["level"], {})
                L.append(f"| {r['level']} | {r['gaussians']:,} | {r['bytes']:,} | {_fmt(r['psnr'])} | "
                         f"{_fmt(r['fg_psnr'])} | {r['ssim']:.4f} | {o.get('gaussians', 0):,} | "
                         f"{o.get('bytes', 0):,} | {_fmt(o.get('psnr'))} | {_fmt(o.get('fg_psnr'))} | "
                         f"{o.get('ssim', float('nan')):.4f} | {_fmt(cl.get('d_fg_psnr'))} | "
                         f"{cl.get('bytes_ratio', float('nan')):.3f} | {cl.get('fetch_ratio', float('nan')):.3f} |")
            wins = sum(1 for x in c["levels"][:-1] if x["wins"])
            wins_f = sum(1 for x in c["levels"][:-1] if x.get("wins_fetch"))
            L.append("")
            L.append(f"BD-rate against the LOD curve: fg-PSNR {_fmt(c['bd_rate_fg'], 1)} %, PSNR "
                     f"{_fmt(c['bd_rate'], 1)} %, fg-PSNR levels 1..L-1 {_fmt(c['bd_rate_fg_partial'], 1)} % "
                     f"(negative: LGS needs fewer bytes). Levels 1..L-1 at or above the LOD's fg-PSNR "
                     f"at no more bytes: {wins} of {len(c['levels']) - 1} (byte prefix), {wins_f} (a client's "
                     f"fetch of the level: units, adjustments and that level's corrections; BD-rate "
                     f"{_fmt(c.get('bd_rate_fg_fetch'), 1)} %). Contact sheet: `{v['sheet']}`.")
            L.append("")
    return "\n".join(L)


def _commit() -> tuple[str, bool]:
    c = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    return c, dirty


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+")
    ap.add_argument("--variants", default="default,stream", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--closeups", action="store_true", help="add as many close-up views")
    ap.add_argument("--out", default=None, help="write OUT.md, OUT.json and OUT-<scene>-<variant>.png")
    ap.add_argument("--cache", default="/tmp/prefix_bench_cache")
    ap.add_argument("--splat-transform", default=None)
    ap.add_argument("--no-lod", action="store_true", help="skip the decimated LODs")
    ap.add_argument("--distill-seconds", type=float, default=None, help="time budget of the distill variants")
    ap.add_argument("--quality", default=None,
                    help="every variant at this quality (spec A.3; default high); 'peer': per scene, the "
                         "coarsest quality level (to 0.25) whose full level (default encoder) has at least "
                         "the fg-PSNR of SPZ of the original")
    ap.add_argument("--distill-opt", action="append", default=[], metavar="KEY=JSON",
                    help="a keyword argument of refcodec.encoder.layering.distill.distill, e.g. anchor=1.0")
    a = ap.parse_args(argv)

    import peers as P

    from refcodec.format.schema import VERSION_MAJOR, VERSION_MINOR
    from refcodec.io.load import load_scene

    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    names = [v.strip() for v in a.variants.split(",") if v.strip()]
    for v in names:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    tool, why = (None, "--no-lod") if a.no_lod else P.find_splat_transform(a.splat_transform)
    if tool is None:
        _log(f"LOD peer unavailable: {why}")
    commit, dirty = _commit()
    settings = dict(views=a.views, size=a.size, closeups=a.closeups, layers=a.layers, quality=a.quality or "high",
                    commit=commit + (" (+ uncommitted changes)" if dirty else ""),
                    spec=f"{VERSION_MAJOR}.{VERSION_MINOR}",
                    splat_transform=getattr(tool, "version", None),
                    date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    results = []
    for path in a.scenes:
        original = load_scene(path)
        _log(f"{path}: {original.n:,} Gaussians, SH {original.sh_degree}")
        cams = eval_cameras(original.positions, a.views, a.size, a.closeups)
        ref, alphas = render_all(original, cams)
        masks = [al > 0.5 for al in alphas]
        res = dict(scene=str(path), gaussians=original.n, variants=[], lod={})
        quality = a.quality
        if quality == "peer":
            if tool is None:
                ap.error("--quality peer needs splat-transform")
            res["quality"] = peer_quality(tool, path, original, a.layers, cams, ref, masks, Path(a.cache))
            quality = res["quality"]["preset"]
        lod_cache: dict = {}
        for v in names:
            _log(f" variant {v}")
            opts = dict(VARIANTS[v], **({"quality": quality} if quality else {}))
            if "distill_seconds" in opts:
                if a.distill_seconds is not None:
                    opts["distill_seconds"] = a.distill_seconds
                opts["distill_options"] = {k: json.loads(x) for k, x in (o.split("=", 1) for o in a.distill_opt)}
            data, secs = encode_variant(original, v, a.layers, opts)
            imgs: dict = {}
            rows = prefix_rows(data, cams, ref, masks, imgs)
            lod_imgs: dict = {}
            lrows = []
            if tool is not None:
                counts = [r["gaussians"] for r in rows[:-1]] + [original.n]
                missing = [n for n in counts if n not in lod_cache]
                if missing:
                    new_imgs: dict = {}
                    got = lod_rows(tool, path, original, missing, cams, ref, masks, Path(a.cache), new_imgs)
                    for i, (n, r) in enumerate(zip(missing, got)):
                        lod_cache[n] = (r, new_imgs.get(i + 1))
                for k, n in enumerate(counts, 1):
                    r, img = lod_cache[n]
                    lrows.append(dict(r, level=k))
                    if img is not None:
                        lod_imgs[k] = img
            entry = dict(variant=v, options=opts, encode_s=secs, levels=rows,
                         compare=compare(rows, lrows), sheet=None)
            if a.out:
                png = f"{a.out}-{Path(path).stem}-{v}.png"
                sheet(imgs, rows, lod_imgs, lrows, png)
                entry["sheet"] = os.path.relpath(png, REPO)
            res["variants"].append(entry)
            res["lod"][v] = lrows
        results.append(res)
    md = markdown(results, settings)
    print(md)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out + ".md").write_text(md + "\n")
        from stamp import splat_transform_peers, write_json

        write_json(a.out + ".json", dict(settings=settings, results=results),
                   peers=splat_transform_peers(tool), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
