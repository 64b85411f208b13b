"""Rate-distortion bench: LGS presets (and its cumulative levels) against SOG and SPZ.

    python tools/bench/rd_bench.py [scenes...] [--views 8] [--size 256] \
        [--presets max,high,medium,low,preview] [--peers sog,spz] \
        [--md out.md] [--json out.json] [--plot rd.png] [--pictures DIR]

For each scene (default: the ``*.ply`` files in ``../shared/data`` next to the repository), the
scene is encoded with every LGS preset, decoded, and rendered from ``--views`` orbit cameras
(``refcodec.render.orbit_cameras`` around the original's robust centre, ``--size`` pixels
square); PSNR and SSIM are measured against the original's renders (colours clamped to [0, 1],
per-view values averaged, as 3DGS reports them).  The cumulative curve decodes the byte prefix
of each level k = 1..L of the ``--curve-preset`` file (default ``high``, the codec's default).

Peers, when PlayCanvas splat-transform is available (see ``tools/bench/peers.py``): SOG and SPZ
written by it from the same PLY, SOG decoded back to PLY by it, SPZ read by
``refcodec.io.load.load_scene``; decoded peer scenes are turned onto the original's axes
when their axis convention differs (reported).  Each peer has one point, so the comparison is
"LGS bytes at the peer's PSNR" (log-linear interpolation of bytes over PSNR on the LGS preset
curve) and "LGS PSNR at the peer's bytes"; a BD-rate is printed only when both curves have at
least 2 points.

Times: LGS encode/decode are in-process calls (scene already in memory); peer times are
whole-process splat-transform runs (node start-up and reading the PLY included; for SOG the
decode time is the SOG -> PLY conversion plus reading that PLY).  Scenes are read from the paths
given and never copied into the repository.  The plot is drawn with numpy and the built-in
bitmap font of ``refcodec.render.pictures`` (no matplotlib needed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ALL_PRESETS = ("max", "high", "medium", "low", "preview")
PEER_CODECS = ("sog", "spz")


def default_scenes() -> list:
    d = REPO.parent / "shared" / "data"
    return sorted(str(p) for p in d.glob("*.ply")) if d.is_dir() else []


class _Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Rendering and scoring
# ------------------------------------------------------------------------------------------------
def render_all(scene, cameras) -> list:
    """Clamped float32 (H, W, 3) numpy renders of ``scene`` from each camera."""
    import torch

    from refcodec.render import render

    out = []
    with torch.no_grad():
        for cam in cameras:
            if scene.n == 0:
                out.append(np.zeros((cam.height, cam.width, 3), np.float32))
                continue
            rgb = render(scene, cam)["rgb"].clamp(0.0, 1.0)
            out.append(rgb.cpu().numpy().astype(np.float32))
    return out


def score(ref_views: list, views: list) -> dict:
    from refcodec.metrics import mean_over_views, psnr, ssim

    p, per_view = mean_over_views(psnr, ref_views, views, return_per_view=True)
    s = mean_over_views(ssim, ref_views, views)
    return dict(psnr=_finite(p), ssim=float(s), psnr_per_view=[_finite(v) for v in per_view])


def _finite(x: float):
    """JSON-safe float: inf (identical renders) becomes the string "inf"."""
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else float("nan"))


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


# ------------------------------------------------------------------------------------------------
# Comparisons
# ------------------------------------------------------------------------------------------------
def _curve_points(rows: list) -> tuple:
    pts = sorted((float(r["psnr"]), float(r["bytes"])) for r in rows if _num(r.get("psnr")) is not None)
    return np.array([p for p, _ in pts]), np.array([b for _, b in pts])


def lgs_bytes_at_psnr(rows: list, target: float):
    """Bytes the LGS curve needs for PSNR ``target``: log-linear interpolation of bytes over PSNR
    between the two presets around it; None outside the curve's PSNR range."""
    q, b = _curve_points(rows)
    if len(q) < 2 or not q[0] <= target <= q[-1]:
        return None
    return float(np.exp(np.interp(target, q, np.log(b))))


def lgs_psnr_at_bytes(rows: list, nbytes: float):
    """PSNR of the LGS curve at ``nbytes``: linear interpolation of PSNR over log-bytes; None
    outside the curve's byte range."""
    pts = sorted((float(r["bytes"]), float(r["psnr"])) for r in rows if _num(r.get("psnr")) is not None)
    if len(pts) < 2:
        return None
    lb = np.log([p[0] for p in pts])
    q = np.array([p[1] for p in pts])
    x = math.log(nbytes)
    if not lb[0] <= x <= lb[-1]:
        return None
    return float(np.interp(x, lb, q))


def compare(lgs_rows: list, peer: dict) -> dict:
    out = dict(peer=peer["codec"], peer_bytes=peer["bytes"], peer_psnr=peer["psnr"])
    pp = _num(peer.get("psnr"))
    at_q = lgs_bytes_at_psnr(lgs_rows, pp) if pp is not None else None
    at_b = lgs_psnr_at_bytes(lgs_rows, peer["bytes"])
    out["lgs_bytes_at_peer_psnr"] = at_q
    out["lgs_bytes_ratio"] = at_q / peer["bytes"] if at_q else None
    out["lgs_psnr_at_peer_bytes"] = at_b
    out["lgs_psnr_gain_db"] = at_b - pp if (at_b is not None and pp is not None) else None
    out["bd_rate_percent"] = None
    peer_pts = peer.get("points") or [dict(bytes=peer["bytes"], psnr=peer["psnr"])]
    lq, lb = _curve_points(lgs_rows)
    pq, pb = _curve_points(peer_pts)
    if len(lq) >= 2 and len(pq) >= 2:
        import warnings

        from refcodec.metrics import bd_rate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = bd_rate(pb, pq, lb, lq, method="pchip", on_no_overlap="nan")
        out["bd_rate_percent"] = None if math.isnan(v) else v
    return out


# ------------------------------------------------------------------------------------------------
# One scene
# ------------------------------------------------------------------------------------------------
def bench_scene(path: str, presets=ALL_PRESETS, views: int = 8, size: int = 256, curve_preset: str = "high",
                layers: int = 8, peers=PEER_CODECS, tool=None, peer_timeout: float = 600.0,
                peer_workers: int | None = None, up=(0.0, -1.0, 0.0), workdir: str | None = None,
                log=print, keep_images: bool = False) -> dict:
    from refcodec.decoder import decode
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.io.load import load_scene
    from refcodec.io.ply import write_ply
    from refcodec.render import orbit_cameras
    from refcodec.render.pictures import level_prefixes

    name = Path(path).name
    t = time.perf_counter()
    original = load_scene(path)
    n = original.n
    log(f"{name}: {n:,} Gaussians, SH degree {original.sh_degree} (read {time.perf_counter() - t:.1f} s)")
    cams = orbit_cameras(original.positions, n_views=views, width=size, height=size, up=up)
    t = time.perf_counter()
    ref = render_all(original, cams)
    render_s = (time.perf_counter() - t) / max(1, views)
    images = {"original": ref[0]} if keep_images else None
    res = dict(scene=name, path=str(path), gaussians=n, sh_degree=original.sh_degree,
               input_bytes=os.path.getsize(path), views=views, size=size, render_s_per_view=render_s,
               lgs=[], curve=dict(preset=curve_preset, levels=[]), peers=[], comparisons=[])

    blobs = {}
    want = list(presets) + ([curve_preset] if curve_preset and curve_preset not in presets else [])
    for p in want:
        t = time.perf_counter()
        data = encode_scene(original, EncodeOptions(layers=layers, quality=p, progress=False))
        enc = time.perf_counter() - t
        t = time.perf_counter()
        dec = decode(data).scene
        dec_s = time.perf_counter() - t
        blobs[p] = data
        if p not in presets:
            continue
        views_p = render_all(dec, cams)
        row = dict(codec="LGS", setting=p, bytes=len(data), bits_per_gaussian=8.0 * len(data) / max(1, n),
                   gaussians=dec.n, encode_s=enc, decode_s=dec_s, **score(ref, views_p))
        res["lgs"].append(row)
        if keep_images:
            images[f"LGS {p}"] = views_p[0]
        log(f"  LGS {p:8s} {len(data):>12,} B  {row['bits_per_gaussian']:6.2f} bits/G  PSNR {row['psnr']:.2f}  "
            f"SSIM {row['ssim']:.4f}  enc {enc:.2f} s  dec {dec_s:.2f} s")

    if curve_preset:
        data = blobs[curve_preset]
        full = next((r for r in res["lgs"] if r["setting"] == curve_preset), None)
        for lv in level_prefixes(data):
            if lv["bytes"] >= len(data) and full is not None:
                sc = {k: full[k] for k in ("psnr", "ssim", "psnr_per_view")}
            else:
                sc = score(ref, render_all(lv["scene"], cams))
            row = dict(level=lv["level"], bytes=lv["bytes"], bits_per_gaussian=8.0 * lv["bytes"] / max(1, n),
                       gaussians=lv["gaussians"], decode_s=lv["decode_s"], **sc)
            res["curve"]["levels"].append(row)
            log(f"  LGS {curve_preset} level {lv['level']}: {lv['bytes']:>12,} B  {lv['gaussians']:>9,} G  "
                f"PSNR {_fmt(row['psnr'], 2)}")
    blobs.clear()

    peers = [p for p in (peers or []) if p]
    if peers and tool is None:
        for p in peers:
            res["peers"].append(dict(codec=p.upper(), status="skipped: splat-transform not available"))
    elif peers:
        with tempfile.TemporaryDirectory(dir=workdir, prefix="rd_peers_") as tmp:
            src = str(path)
            if Path(path).suffix.lower() != ".ply" or _is_compressed_ply(path):
                src = os.path.join(tmp, "input.ply")
                write_ply(src, original)
            for p in peers:
                row = _run_peer(p, tool, src, tmp, original, cams, ref, peer_timeout, peer_workers, log)
                row["gaussians_in"] = n
                res["peers"].append(row)
                if keep_images and row.get("image") is not None:
                    images[row["codec"]] = row["image"]
                row.pop("image", None)
    for pr in res["peers"]:
        if pr.get("status") == "ok":
            res["comparisons"].append(compare(res["lgs"], pr))
    if keep_images:
        res["_images"] = images
    return res


def _is_compressed_ply(path) -> bool:
    try:
        from refcodec.io.load import detect_format
        return detect_format(path) != "ply"
    except Exception:
        return True


def _run_peer(codec: str, tool, src: str, tmp: str, original, cams, ref, timeout, workers, log) -> dict:
    from refcodec.io.load import load_scene

    import peers as P

    ext = {"sog": ".sog", "spz": ".spz"}[codec]
    out = os.path.join(tmp, "peer" + ext)
    row = dict(codec=codec.upper(), setting=f"splat-transform {tool.version.split()[-2] if ' ' in tool.version else tool.version}",
               status="ok")
    r = P.encode(tool, src, out, timeout=timeout, gpu="cpu", workers=workers)
    if r["timed_out"]:
        row["status"] = f"timeout: encode ran over {timeout:.0f} s"
        row["encode_s"] = r["seconds"]
        log(f"  {row['codec']}: {row['status']}")
        return row
    if r["rc"] != 0 or not os.path.exists(out):
        row["status"] = f"failed (rc {r['rc']}): {r['output'].strip()[-300:]}"
        log(f"  {row['codec']}: {row['status']}")
        return row
    row["bytes"] = os.path.getsize(out)
    row["bits_per_gaussian"] = 8.0 * row["bytes"] / max(1, original.n)
    row["encode_s"] = r["seconds"]
    t = time.perf_counter()
    if codec == "sog":
        back = os.path.join(tmp, "peer_sog.ply")
        r2 = P.to_ply(tool, out, back, timeout=timeout)
        if r2["rc"] != 0 or r2["timed_out"]:
            row["status"] = f"decode failed (rc {r2['rc']}): {r2['output'].strip()[-300:]}"
            return row
        dec = load_scene(back)
    else:
        dec = load_scene(out)
    row["decode_s"] = time.perf_counter() - t
    dec, turn, _ = P.align_scene(original, dec)
    row["axes"] = turn
    row["gaussians"] = dec.n
    views = render_all(dec, cams)
    row.update(score(ref, views))
    row["image"] = views[0]
    log(f"  {row['codec']:3s} {row['bytes']:>17,} B  {row['bits_per_gaussian']:6.2f} bits/G  PSNR {_fmt(row['psnr'], 2)}  "
        f"SSIM {row['ssim']:.4f}  enc {row['encode_s']:.2f} s  dec {row['decode_s']:.2f} s  axes {turn}")
    return row


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------
def _fmt(x, nd=2, default="-"):
    if isinstance(x, str):
        return x
    return default if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def markdown(results: list, settings: dict) -> str:
    L = []
    L.append(f"Rate-distortion: {settings['views']} orbit views at {settings['size']}x{settings['size']}, "
             "PSNR/SSIM against the original's renders (mean over views); bits/G = 8 x bytes / "
             "Gaussians of the original.")
    L.append("")
    L.append("| scene | codec | setting | bytes | bits/G | PSNR dB | SSIM | encode s | decode s |")
    L.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        sc = f"{r['scene']} ({r['gaussians']:,} G, SH {r['sh_degree']})"
        for row in r["lgs"]:
            L.append(f"| {sc} | LGS | {row['setting']} | {row['bytes']:,} | {row['bits_per_gaussian']:.2f} | "
                     f"{_fmt(row['psnr'])} | {row['ssim']:.4f} | {row['encode_s']:.2f} | {row['decode_s']:.2f} |")
        for row in r["peers"]:
            if row.get("status") == "ok":
                extra = "" if row.get("axes", "identity") == "identity" else f" (axes: {row['axes']})"
                L.append(f"| {sc} | {row['codec']} | {row['setting']}{extra} | {row['bytes']:,} | "
                         f"{row['bits_per_gaussian']:.2f} | {_fmt(row['psnr'])} | {row['ssim']:.4f} | "
                         f"{row['encode_s']:.2f} | {row['decode_s']:.2f} |")
            else:
                enc = f"{row['encode_s']:.0f}" if row.get("encode_s") is not None else "-"
                L.append(f"| {sc} | {row['codec']} | {row['status']} | - | - | - | - | {enc} | - |")
    if any(r["curve"]["levels"] for r in results):
        L.append("")
        L.append("Cumulative levels (byte prefix of level k of the LGS file, preset "
                 f"{results[0]['curve']['preset']}):")
        L.append("")
        L.append("| scene | level | Gaussians | bytes | bits/G | PSNR dB | SSIM | decode s |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            for row in r["curve"]["levels"]:
                L.append(f"| {r['scene']} | {row['level']} | {row['gaussians']:,} | {row['bytes']:,} | "
                         f"{row['bits_per_gaussian']:.2f} | {_fmt(row['psnr'])} | {row['ssim']:.4f} | "
                         f"{row['decode_s']:.3f} |")
    comps = [(r["scene"], c) for r in results for c in r["comparisons"]]
    if comps:
        L.append("")
        L.append("LGS against each peer (log-linear interpolation on the LGS preset curve; '-' where the "
                 "peer lies outside the LGS curve's range):")
        L.append("")
        L.append("| scene | peer | peer bytes | peer PSNR | LGS bytes at peer's PSNR | ratio | "
                 "LGS PSNR at peer's bytes | gain dB | BD-rate |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for sc, c in comps:
            b, bd = c["lgs_bytes_at_peer_psnr"], c["bd_rate_percent"]
            L.append(f"| {sc} | {c['peer']} | {c['peer_bytes']:,} | {_fmt(c['peer_psnr'])} | "
                     f"{'-' if b is None else f'{b:,.0f}'} | {_fmt(c['lgs_bytes_ratio'], 3)} | "
                     f"{_fmt(c['lgs_psnr_at_peer_bytes'])} | {_fmt(c['lgs_psnr_gain_db'], 2)} | "
                     f"{'-' if bd is None else f'{bd:+.1f}%'} |")
    return "\n".join(L) + "\n"
