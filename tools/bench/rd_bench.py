"""Rate-distortion bench: LGS presets (and its cumulative levels) against SOG and SPZ.

    python tools/bench/rd_bench.py [scenes...] [--views 8] [--size 256] \
        [--presets max,high,medium,low,preview] [--peers sog,spz] \
        [--md out.md] [--json out.json] [--plot rd.png] [--pictures DIR] [--ablate all] \
        [--prune-margin 12 | --prune-psnr DB] [--target-fractions sog=0.70,spz=0.60]

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
least 2 points.  With rate control in the encoder (``EncodeOptions.target_bytes``) LGS is also
encoded to each peer's size and scored (``--no-match-peer-bytes`` skips it), and with
``--target-fractions sog=0.70,spz=0.60`` to those fractions of each peer's bytes, reported as
meeting the target when its PSNR reaches the peer's (the size targets checked directly, without
interpolation).

Ablation (``--ablate``, like the paper's Fig. 8): for each variant the LGS preset sweep is run
again with coding tools switched off (``EncodeOptions.disable``; the names are
``refcodec.encoder.TOOLS``, ``all`` is each of them alone plus ``none-of-them``, every tool off),
on the same cameras and reference renders; the peers are not run again.  Per variant: the bytes at
the curve preset (``high`` when there is no curve), the LGS bytes at each peer's PSNR and their
change against all tools on, i.e. what each tool saves.

Pruning (``--prune-margin DB``, the CLI's ``--prune`` at 12; or ``--prune-psnr DB``): every LGS
encode prunes first (spec A.6, ``EncodeOptions.prune_margin`` / ``prune_psnr``); the ranking
renders run once per scene and are shared (``EncodeOptions.prune_errors``), so the encode times
include each encode's own count search but not the ranking, which is reported apart.

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
ALL_OFF = "none-of-them"     # ablation variant with every coding tool switched off
FULL = "all tools on"        # the reference row of the ablation (the ordinary sweep)


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
                layers: int = 8, overcomplete: int | None = None, peers=PEER_CODECS, tool=None,
                peer_timeout: float = 600.0, peer_workers: int | None = None, up=(0.0, -1.0, 0.0),
                workdir: str | None = None, log=print, keep_images: bool = False,
                match_peer_bytes: bool = True, ablate=None, prune: dict | None = None,
                fractions: dict | None = None) -> dict:
    """Bench one scene; ``ablate``: ablation variants (see ``ablation_variants``), None or empty
    for none; ``prune``: every LGS encode prunes first (spec A.6), ``{"margin": DB}`` or
    ``{"psnr": DB}`` (``EncodeOptions.prune_margin`` / ``prune_psnr``); the ranking renders run
    once here and every encode shares them."""
    from refcodec.io.load import load_scene
    from refcodec.io.ply import write_ply
    from refcodec.render import orbit_cameras
    from refcodec.render.pictures import level_prefixes

    variants = ablation_variants(ablate) if ablate else []
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

    enc_opts = {}
    if prune:
        from refcodec.encoder.layering.pruning import removal_errors, views
        t = time.perf_counter()
        errors = removal_errors(original, views(original)[0], progress=False)
        enc_opts = dict(prune_margin=prune.get("margin"), prune_psnr=prune.get("psnr"), prune_errors=errors)
        res["pruning"] = dict(margin=prune.get("margin"), psnr=prune.get("psnr"), ranking_s=time.perf_counter() - t)
        log(f"  pruning {prune}: ranking {res['pruning']['ranking_s']:.1f} s")

    # the preset whose total bytes the ablation reports: the curve preset, else the codec's default
    ablation_preset = curve_preset or "high"
    want = list(presets)
    for extra in (curve_preset, ablation_preset if variants else None):
        if extra and extra not in want:
            want.append(extra)
    res["lgs"], blobs, first_views = _sweep(original, want, presets, layers, overcomplete, cams, ref, log, enc_opts=enc_opts)
    if keep_images:
        images.update({f"LGS {p}": v for p, v in first_views.items()})
    full_preset_bytes = len(blobs[ablation_preset]) if variants else None

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
            c = compare(res["lgs"], pr)
            if match_peer_bytes:
                c["lgs_matched"] = _lgs_at_bytes(original, pr["bytes"], layers, overcomplete, cams, ref, log, enc_opts)
            frac = (fractions or {}).get(pr["codec"].lower())
            if frac:
                row = _lgs_at_bytes(original, int(frac * pr["bytes"]), layers, overcomplete, cams, ref, log, enc_opts)
                if row is not None:
                    row.update(fraction=frac, meets=row["psnr"] == "inf" or (_num(row["psnr"]) is not None
                                                                          and row["psnr"] >= float(pr["psnr"])))
                c["lgs_at_fraction"] = row
            res["comparisons"].append(c)
    if variants:
        res["ablation"] = _ablation(original, variants, want, presets, ablation_preset, full_preset_bytes,
                                    res["lgs"], res["peers"], layers, overcomplete, cams, ref, log, enc_opts)
    if keep_images:
        res["_images"] = images
    return res


def _sweep(original, want, presets, layers: int, overcomplete, cams, ref, log, disable=frozenset(),
           enc_opts: dict | None = None) -> tuple:
    """Encode ``original`` with each preset in ``want`` (tools in ``disable`` switched off, other
    ``EncodeOptions`` fields from ``enc_opts``) and decode it; score those in ``presets``.
    Returns (rows, {preset: file bytes}, {preset: view 0})."""
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene

    n = original.n
    rows, blobs, first = [], {}, {}
    extra = dict(enc_opts or {}, **(dict(disable=frozenset(disable)) if disable else {}))
    tag = "LGS" if not disable else "LGS without " + (",".join(disable) if len(disable) == 1 else
                                                      f"{len(disable)} tools")
    for p in want:
        t = time.perf_counter()
        data = encode_scene(original, EncodeOptions(layers=layers, overcomplete=overcomplete or 2 * layers,
                                                    quality=p, progress=False, **extra))
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
        rows.append(row)
        first[p] = views_p[0]
        log(f"  {tag} {p:8s} {len(data):>12,} B  {row['bits_per_gaussian']:6.2f} bits/G  "
            f"PSNR {_fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  enc {enc:.2f} s  dec {dec_s:.2f} s")
    return rows, blobs, first


# ------------------------------------------------------------------------------------------------
# Ablation
# ------------------------------------------------------------------------------------------------
def ablation_variants(spec) -> list:
    """Ablation variants from ``spec`` (a comma-separated string or a list of names): a name in
    ``refcodec.encoder.TOOLS`` switches that tool off alone, ``none-of-them`` switches every tool
    off, ``all`` is each tool alone followed by ``none-of-them``.  Returns [(variant, frozenset of
    tools off)] in the order given, without repeats; ValueError on an unknown name."""
    from refcodec.encoder import TOOLS

    names = [w.strip() for w in (spec.split(",") if isinstance(spec, str) else spec or []) if w and w.strip()]
    out = []
    for w in names:
        if w.lower() == "all":
            todo = list(TOOLS) + [ALL_OFF]
        elif w.lower() == ALL_OFF or w in TOOLS:
            todo = [w.lower() if w.lower() == ALL_OFF else w]
        else:
            raise ValueError(f"unknown coding tool {w!r}; choose from {', '.join(TOOLS)}, {ALL_OFF} or all")
        for v in todo:
            if v not in [x for x, _ in out]:
                out.append((v, frozenset(TOOLS) if v == ALL_OFF else frozenset({v})))
    return out


def _ablation_entry(variant: str, disabled, rows: list, preset: str, preset_bytes, peers: list,
                    full: dict | None = None, status: str = "ok") -> dict:
    """One ablation row: the LGS bytes at each peer's PSNR (``peers`` with status ok) on the curve
    of ``rows``, and, against ``full`` (the all-tools-on entry), the fractional change of those bytes
    and of the bytes at ``preset`` (+0.05: 5 % more bytes without the tool)."""
    at_peer = {}
    for pr in peers:
        if pr.get("status") == "ok":
            q = _num(pr.get("psnr"))
            at_peer[pr["codec"]] = lgs_bytes_at_psnr(rows, q) if q is not None else None

    def change(new, old):
        return new / old - 1.0 if new is not None and old else None

    ref = full or {}
    return dict(variant=variant, disabled=sorted(disabled), status=status, rows=rows, preset=preset,
                bytes_at_preset=preset_bytes,
                delta_at_preset=change(preset_bytes, ref.get("bytes_at_preset", preset_bytes)),
                at_peer=at_peer,
                delta_vs_full={c: change(b, ref.get("at_peer", at_peer).get(c)) for c, b in at_peer.items()})


def _ablation(original, variants: list, want: list, presets, preset: str, full_preset_bytes: int, full_rows: list,
              peers: list, layers: int, overcomplete, cams, ref, log, enc_opts: dict | None = None) -> list:
    """The ablation list of a scene: first all tools on (the sweep already run), then each variant
    re-encoded with its tools off.  A variant whose encode or decode fails keeps its error in
    ``status`` and has no numbers."""
    full = _ablation_entry(FULL, (), full_rows, preset, full_preset_bytes, peers)
    out = [full]
    for variant, off in variants:
        log(f"  ablation: {variant} (off: {', '.join(sorted(off))})")
        try:
            rows, blobs, _ = _sweep(original, want, presets, layers, overcomplete, cams, ref, log, disable=off,
                                    enc_opts=enc_opts)
        except Exception as e:  # noqa: BLE001 - one failing tool must not lose the whole bench
            msg = f"failed: {type(e).__name__}: {e}"[:300]
            log(f"  ablation {variant}: {msg}")
            out.append(_ablation_entry(variant, off, [], preset, None, peers, full, status=msg))
            continue
        e = _ablation_entry(variant, off, rows, preset, len(blobs[preset]), peers, full)
        log(f"  ablation {variant}: {e['bytes_at_preset']:,} B at {preset} ({_pct(e['delta_at_preset'])} vs all "
            f"tools on)" + "".join(f", at {c} PSNR {_fmt(b, 0)} B ({_pct(e['delta_vs_full'][c])})"
                                  for c, b in e["at_peer"].items()))
        out.append(e)
    return out


def _pct(x) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100.0 * x:+.1f}%"


def _lgs_at_bytes(original, target: int, layers: int, overcomplete, cams, ref, log, enc_opts: dict | None = None):
    """LGS encoded with rate control (``EncodeOptions.target_bytes``) to a peer's size, scored;
    None when this encoder has no rate control."""
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene

    try:
        opts = EncodeOptions(layers=layers, overcomplete=overcomplete or 2 * layers, target_bytes=int(target),
                             progress=False, **(enc_opts or {}))
    except TypeError:
        return None
    t = time.perf_counter()
    data = encode_scene(original, opts)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    dec = decode(data).scene
    dec_s = time.perf_counter() - t
    row = dict(bytes=len(data), target_bytes=int(target), bits_per_gaussian=8.0 * len(data) / max(1, original.n),
               encode_s=enc, decode_s=dec_s, **score(ref, render_all(dec, cams)))
    log(f"  LGS at {target:,} B (target): {len(data):,} B  PSNR {_fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  "
        f"enc {enc:.2f} s")
    return row


def _parse_fractions(text) -> dict:
    """``"sog=0.70,spz=0.60"`` -> {"sog": 0.7, "spz": 0.6}; None or "" -> {}."""
    out = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, val = part.partition("=")
        name = name.strip().lower()
        try:
            f = float(val)
        except ValueError:
            f = float("nan")
        if not sep or name not in PEER_CODECS or not 0.0 < f <= 10.0:
            raise ValueError(f"expected PEER=F with PEER in {', '.join(PEER_CODECS)} and 0 < F <= 10, got {part!r}")
        out[name] = f
    return out


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
    words = [w for w in tool.version.split() if w.startswith("v")]
    row = dict(codec=codec.upper(), setting=f"splat-transform {words[0] if words else tool.version}", status="ok")
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
    log(f"  {row['codec']:3s} {row['bytes']:>17,} B  {row['bits_per_gaussian']:6.2f} bits/G  "
        f"PSNR {_fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  enc {row['encode_s']:.2f} s  "
        f"dec {row['decode_s']:.2f} s  axes {turn}")
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
    for r in results:
        pr = r.get("pruning")
        if pr:
            rule = (f"check views {pr['margin']:g} dB above the unpruned file's" if pr.get("margin") is not None
                    else f"check views at {pr['psnr']:g} dB")
            cut = ", ".join(f"{row['setting']} {100 * (1 - row['gaussians'] / max(1, r['gaussians'])):.1f}%"
                            for row in r["lgs"])
            L.append("")
            L.append(f"{r['scene']}: every LGS encode prunes first (spec A.6; {rule}); ranking "
                     f"{pr['ranking_s']:.1f} s once, and each encode time below includes its own count search. "
                     f"Removed: {cut}.")
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
        L.append("LGS against each peer: interpolated on the LGS preset curve (log-linear; '-' where the "
                 "peer lies outside its range), and measured: LGS encoded with rate control "
                 "(`--target-bytes`) to the peer's size:")
        L.append("")
        L.append("| scene | peer | peer bytes | peer PSNR | LGS bytes at peer's PSNR | ratio | "
                 "LGS PSNR at peer's bytes | gain dB | LGS rate-controlled: bytes, PSNR, SSIM | BD-rate |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for sc, c in comps:
            b, bd, m = c["lgs_bytes_at_peer_psnr"], c["bd_rate_percent"], c.get("lgs_matched")
            matched = "-" if not m else f"{m['bytes']:,}, {_fmt(m['psnr'])}, {m['ssim']:.4f}"
            L.append(f"| {sc} | {c['peer']} | {c['peer_bytes']:,} | {_fmt(c['peer_psnr'])} | "
                     f"{'-' if b is None else f'{b:,.0f}'} | {_fmt(c['lgs_bytes_ratio'], 3)} | "
                     f"{_fmt(c['lgs_psnr_at_peer_bytes'])} | {_fmt(c['lgs_psnr_gain_db'], 2)} | {matched} | "
                     f"{'-' if bd is None else f'{bd:+.1f}%'} |")
    fr = [(sc, c) for sc, c in comps if c.get("lgs_at_fraction")]
    if fr:
        L.append("")
        L.append("LGS encoded with rate control to a fraction of each peer's bytes (`--target-fractions`): "
                 "it meets the target when its PSNR is at least the peer's:")
        L.append("")
        L.append("| scene | peer | peer bytes | peer PSNR | fraction | LGS bytes | LGS PSNR | LGS SSIM | meets |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for sc, c in fr:
            m = c["lgs_at_fraction"]
            L.append(f"| {sc} | {c['peer']} | {c['peer_bytes']:,} | {_fmt(c['peer_psnr'])} | {m['fraction']:.2f} | "
                     f"{m['bytes']:,} ({m['bytes'] / c['peer_bytes']:.3f}) | {_fmt(m['psnr'])} | {m['ssim']:.4f} | "
                     f"{'yes' if m['meets'] else 'no'} |")
    for r in results:
        if r.get("ablation"):
            L.append("")
            L.extend(ablation_markdown(r))
    return "\n".join(L) + "\n"


def ablation_markdown(r: dict) -> list:
    """Lines of the "Ablation" table of one scene result: a row per variant, all tools on first;
    bytes (and PSNR) at the ablation preset, LGS bytes at each peer's PSNR, and their change
    against all tools on (positive: bytes the tool saves)."""
    ab = r["ablation"]
    preset = ab[0]["preset"]
    peers = {p["codec"]: p for p in r["peers"]}
    codecs = list(dict.fromkeys([c.upper() for c in PEER_CODECS] + list(peers)))
    L = [f"Ablation, {r['scene']}: LGS re-encoded with coding tools switched off (same presets, cameras and "
         f"reference renders); bytes at preset {preset}, and LGS bytes at each peer's PSNR (log-linear on the "
         "preset curve; '-' where there is no such peer or it lies outside the curve); change against all "
         "tools on, i.e. what the tools switched off save:", ""]
    head = f"| variant | tools off | bytes at {preset} | PSNR at {preset} | change |"
    rule = "| --- | --- | ---: | ---: | ---: |"
    for c in codecs:
        q = _num(peers.get(c, {}).get("psnr")) if peers.get(c, {}).get("status") == "ok" else None
        head += f" bytes at {c} PSNR{'' if q is None else f' ({q:.2f} dB)'} | change |"
        rule += " ---: | ---: |"
    L += [head, rule]
    for e in ab:
        off = e["disabled"]
        label = FULL if e["variant"] == FULL else (f"{ALL_OFF} (all tools off)" if e["variant"] == ALL_OFF
                                                    else f"without {e['variant']}")
        if e.get("status", "ok") != "ok":
            label += " (" + e["status"].replace("|", "/").replace("\n", " ") + ")"
        row = next((x for x in e["rows"] if x["setting"] == preset), None)
        full = e["variant"] == FULL
        b = e["bytes_at_preset"]
        off = "-" if not off else "all" if e["variant"] == ALL_OFF else ", ".join(off)
        line = (f"| {label} | {off} | {'-' if b is None else f'{b:,}'} | "
                f"{_fmt(row['psnr']) if row else '-'} | {'-' if full else _pct(e['delta_at_preset'])} |")
        for c in codecs:
            v = e["at_peer"].get(c)
            line += f" {'-' if v is None else f'{v:,.0f}'} | {'-' if full else _pct(e['delta_vs_full'].get(c))} |"
        L.append(line)
    return L


# ------------------------------------------------------------------------------------------------
# Rate-distortion plot, drawn with numpy (no matplotlib)
# ------------------------------------------------------------------------------------------------
BLUE, ORANGE, RED, GREEN, PURPLE = (31, 119, 180), (255, 127, 14), (214, 39, 40), (44, 160, 44), (148, 103, 189)
PEER_STYLE = {"SOG": (RED, "square"), "SPZ": (GREEN, "triangle")}


def _stamp(img, xs, ys, color, r: int = 0):
    H, W = img.shape[:2]
    xs = np.round(np.asarray(xs, dtype=np.float64)).astype(np.int64)
    ys = np.round(np.asarray(ys, dtype=np.float64)).astype(np.int64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            x, y = xs + dx, ys + dy
            ok = (x >= 0) & (x < W) & (y >= 0) & (y < H)
            img[y[ok], x[ok]] = color


def _line(img, x0, y0, x1, y1, color, width: int = 1, dash: float = 0.0):
    n = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 2
    t = np.linspace(0.0, 1.0, n)
    xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
    if dash:
        s = t * math.hypot(x1 - x0, y1 - y0)
        keep = (s // dash) % 2 == 0
        xs, ys = xs[keep], ys[keep]
    _stamp(img, xs, ys, color, r=width // 2)


def _marker(img, x, y, shape: str, color, r: int = 4):
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    if shape == "circle":
        m = xx * xx + yy * yy <= r * r + 1
    elif shape == "square":
        m = np.ones_like(xx, dtype=bool)
    elif shape == "triangle":
        m = (yy >= -r) & (np.abs(xx) * 2 <= (yy + r))
    else:  # diamond
        m = np.abs(xx) + np.abs(yy) <= r
    _stamp(img, x + xx[m], y + yy[m], color)


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _bytes_label(v: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= f:
            return f"{v / f:g}{unit}"
    return f"{v:g}"


def _byte_ticks(lo: float, hi: float) -> list:
    """Tick values (bytes) between 10**lo and 10**hi: 1-2-5 per decade, finer steps when the
    range spans less than a decade, only the decades when it spans many."""
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9), tuple(np.arange(10, 100) / 10)):
        ticks = []
        for e in range(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 1):
            for m in mantissas:
                v = m * 10.0 ** e
                if lo <= math.log10(v) <= hi:
                    ticks.append(v)
        if len(ticks) >= 3:
            break
    if len(ticks) > 9:
        decades = [v for v in ticks if abs(math.log10(v) - round(math.log10(v))) < 1e-9]
        ticks = decades if len(decades) >= 2 else ticks
    if len(ticks) > 9:
        ticks = ticks[::math.ceil(len(ticks) / 8)]
    return ticks


def _panel(r: dict, w: int, h: int, levels: bool = True) -> np.ndarray:
    from refcodec.render.pictures import draw_text, text_size

    img = np.full((h, w, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 52, 14, 40, 34
    series = []  # (label, color, shape, [(bytes, psnr, tag)], dashed)
    series.append(("LGS presets", BLUE, "circle",
                   [(x["bytes"], x["psnr"], x["setting"]) for x in r["lgs"]], False))
    if levels and r["curve"]["levels"]:
        series.append((f"LGS {r['curve']['preset']} levels", ORANGE, "diamond",
                       [(x["bytes"], x["psnr"], f"L{x['level']}") for x in r["curve"]["levels"]], True))
    matched = [(c["lgs_matched"]["bytes"], c["lgs_matched"]["psnr"], f"LGS@{c['peer']}")
               for c in r.get("comparisons", []) if c.get("lgs_matched")]
    if matched:
        series.append(("LGS at peer's size", PURPLE, "diamond", matched, False))
    for p in r["peers"]:
        if p.get("status") == "ok":
            col, shp = PEER_STYLE.get(p["codec"], (PURPLE, "square"))
            series.append((p["codec"], col, shp, [(p["bytes"], p["psnr"], p["codec"])], False))
    pts = [(b, q) for s in series for b, q, _ in s[3] if _num(q) is not None and b > 0]
    title = f"{r['scene']}: {r['gaussians']:,} Gaussians" + ("" if levels else ", zoom")
    draw_text(img, title, 8, 6, (0, 0, 0), scale=2 if text_size(title, 2)[0] < w - 16 else 1)
    if not pts:
        draw_text(img, "no finite PSNR to plot", left, h // 2, (0, 0, 0))
        return img
    lx = np.log10([b for b, _ in pts])
    qy = np.array([q for _, q in pts], dtype=np.float64)
    xlo, xhi = lx.min(), lx.max()
    if xhi - xlo < 0.2:
        xlo, xhi = xlo - 0.1, xhi + 0.1
    pad = 0.06 * (xhi - xlo)
    xlo, xhi = xlo - pad, xhi + pad
    ylo, yhi = qy.min(), qy.max()
    if yhi - ylo < 1.0:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    pad = 0.08 * (yhi - ylo)
    ylo, yhi = ylo - pad, yhi + pad
    x0, x1, y0, y1 = left, w - right, top, h - bottom

    def X(b):
        return x0 + (math.log10(b) - xlo) / (xhi - xlo) * (x1 - x0)

    def Y(q):
        return y1 - (q - ylo) / (yhi - ylo) * (y1 - y0)

    grid, axis, grey = (225, 225, 225), (0, 0, 0), (90, 90, 90)
    step = _nice_step(yhi - ylo)
    q = math.ceil(ylo / step) * step
    while q <= yhi:
        yy = Y(q)
        _line(img, x0, yy, x1, yy, grid)
        lab = f"{q:g}"
        draw_text(img, lab, x0 - 4 - text_size(lab)[0], int(round(yy)) - 3, grey)
        q += step
    for b in _byte_ticks(xlo, xhi):
        xx = X(b)
        _line(img, xx, y0, xx, y1, grid)
        lab = _bytes_label(b)
        draw_text(img, lab, int(round(xx)) - text_size(lab)[0] // 2, y1 + 5, grey)
    _line(img, x0, y0, x0, y1, axis)
    _line(img, x0, y1, x1, y1, axis)
    draw_text(img, "bytes (log scale)", (x0 + x1) // 2 - text_size("bytes (log scale)")[0] // 2, h - 12, axis)
    draw_text(img, "PSNR dB", 4, top - 14, axis)
    for label, col, shp, sp, dashed in series:
        sp = [(b, q, t) for b, q, t in sp if _num(q) is not None and b > 0]
        sp.sort()
        for (b0, q0, _), (b1, q1, _) in zip(sp, sp[1:]) if label != "LGS at peer's size" else ():
            _line(img, X(b0), Y(q0), X(b1), Y(q1), col, width=2, dash=6.0 if dashed else 0.0)
        for b, q, tag in sp:
            _marker(img, int(round(X(b))), int(round(Y(q))), shp, col, r=4 if not dashed else 3)
            preset_bytes = {x["bytes"] for x in r["lgs"]}
            if not dashed or tag == "L1" or (tag == sp[-1][2] and b not in preset_bytes):
                tx = int(round(X(b))) + 6
                if tx + text_size(tag)[0] > x1:
                    tx = int(round(X(b))) - 6 - text_size(tag)[0]
                draw_text(img, tag, tx, int(round(Y(q))) + (1 if shp == "circle" else -11 if not dashed else 4), col)
    notes = [f"{p['codec']}: {p['status']}" for p in r["peers"] if p.get("status") != "ok"]
    for i, note in enumerate(notes):
        draw_text(img, note, x0 + 6, y0 + 4 + 10 * i, (120, 120, 120))
    # legend, bottom-right inside the axes
    ly = y1 - 8 - 12 * len(series)
    lx0 = x1 - 8 - max(text_size(s[0])[0] for s in series) - 22
    img[ly - 4:y1 - 4, lx0 - 4:x1 - 4] = 255
    for i, (label, col, shp, _, dashed) in enumerate(series):
        yy = ly + 12 * i + 3
        _line(img, lx0, yy, lx0 + 14, yy, col, width=2, dash=4.0 if dashed else 0.0)
        _marker(img, lx0 + 7, yy, shp, col, r=3)
        draw_text(img, label, lx0 + 20, yy - 3, (0, 0, 0))
    return img


def plot_rd(results: list, path, panel_w: int = 560, panel_h: int = 400) -> np.ndarray:
    """PSNR over bytes (log): per scene a row of two panels, the presets with the cumulative
    levels and a zoom on the presets and peers; written as PNG to ``path``."""
    from refcodec.render import save_png

    panels = [_panel(r, panel_w, panel_h, levels) for r in results for levels in (True, False)]
    cols = 2
    rows = math.ceil(len(panels) / cols)
    sheet = np.full((rows * panel_h, cols * panel_w, 3), 255, dtype=np.uint8)
    for i, p in enumerate(panels):
        rr, cc = divmod(i, cols)
        sheet[rr * panel_h:(rr + 1) * panel_h, cc * panel_w:(cc + 1) * panel_w] = p
    if path:
        save_png(path, sheet)
    return sheet


def write_pictures(results: list, folder) -> list:
    """Per scene, view 0 of the original and of every decoded variant as a captioned sheet."""
    from refcodec.render import save_png
    from refcodec.render.pictures import contact_sheet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        imgs = r.get("_images") or {}
        rows = {f"LGS {x['setting']}": x for x in r["lgs"]}
        rows.update({x["codec"]: x for x in r["peers"] if x.get("status") == "ok"})
        labels = []
        for k in imgs:
            x = rows.get(k)
            labels.append(k if x is None else f"{k}: {x['bytes']:,} B, {_fmt(x['psnr'])} dB")
        if imgs:
            p = folder / f"{Path(r['scene']).stem}_variants.png"
            save_png(p, contact_sheet(list(imgs.values()), labels, cols=min(4, len(imgs))))
            written.append(p)
    return written


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def _environment(tool) -> dict:
    import platform

    env = dict(python=platform.python_version(), cpus=os.cpu_count(), numpy=np.__version__)
    try:
        import torch
        env["torch"] = torch.__version__
        env["cuda"] = bool(torch.cuda.is_available())
    except ImportError:
        pass
    if tool is not None:
        env["splat_transform"] = tool.version
        env["node"] = tool.node_version
    return env


def _json_ready(results: list) -> list:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="*", help="scene files (.ply, .splat, .spz, compressed .ply); "
                                              "default: ../shared/data/*.ply next to the repository")
    ap.add_argument("--presets", default=",".join(ALL_PRESETS), help="LGS presets or quality levels (numbers), comma-separated")
    ap.add_argument("--views", type=int, default=8, help="orbit views (default 8)")
    ap.add_argument("--size", type=int, default=256, help="render width and height (default 256)")
    ap.add_argument("--layers", type=int, default=8, help="LGS layers (default 8)")
    ap.add_argument("--overcomplete", type=int, default=None,
                    help="LGS overcomplete layers, a multiple of --layers (default 2 x --layers)")
    ap.add_argument("--curve-preset", default="high",
                    help="preset of the cumulative level curve (default high; 'none' to skip)")
    ap.add_argument("--peers", default="sog,spz", help="peer codecs: sog,spz (default) or none")
    ap.add_argument("--splat-transform", default=None, help="path of splat-transform (see peers.py)")
    ap.add_argument("--peer-timeout", type=float, default=600.0,
                    help="seconds allowed per splat-transform run (default 600)")
    ap.add_argument("--peer-workers", type=int, default=None,
                    help="splat-transform --max-workers (default min(4, CPUs))")
    ap.add_argument("--skip-peer", action="append", default=[], metavar="SCENE:CODEC",
                    help="do not run CODEC (sog/spz) on the scene whose file name is SCENE; repeatable")
    ap.add_argument("--match-peer-bytes", action=argparse.BooleanOptionalAction, default=True,
                    help="also encode LGS with rate control to each peer's size and score it (default on)")
    ap.add_argument("--target-fractions", default=None, metavar="PEER=F,...",
                    help="also encode LGS with rate control to F x each peer's bytes and report whether its "
                         "PSNR reaches the peer's (the issue's targets: sog=0.70,spz=0.60; default: off)")
    ap.add_argument("--ablate", default=None, metavar="TOOLS",
                    help="ablation: re-run the LGS presets with each of these coding tools switched off "
                         "(comma-separated names of refcodec.encoder.TOOLS, 'none-of-them' for all off, or "
                         "'all' for each tool plus none-of-them; default: no ablation)")
    ap.add_argument("--prune-margin", type=float, default=None, metavar="DB",
                    help="every LGS encode prunes first (spec A.6) with this margin (refcodec: --prune is 12)")
    ap.add_argument("--prune-psnr", type=float, default=None, metavar="DB",
                    help="every LGS encode prunes first (spec A.6) to this check-view PSNR")
    ap.add_argument("--up", default="0,-1,0", help="world up for the orbit cameras (default 0,-1,0)")
    ap.add_argument("--md", default=None, help="also write the Markdown tables here")
    ap.add_argument("--json", default=None, help="write all results as JSON here")
    ap.add_argument("--plot", default=None, help="write a rate-distortion plot (PNG) here")
    ap.add_argument("--pictures", default=None, help="write per-scene contact sheets of view 0 here")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = ap.parse_args(argv)
    log = _Log(a.quiet)

    import peers as P

    scenes = a.scenes or default_scenes()
    if not scenes:
        ap.error("no scenes given and none found in ../shared/data")
    presets = [p.strip() for p in a.presets.split(",") if p.strip()]
    from refcodec.encoder.quantization import quality_level

    def _bad(p):
        try:
            quality_level(p)
            return False
        except ValueError:
            return True

    bad = [p for p in presets if _bad(p)]
    curve = None if a.curve_preset.lower() == "none" else a.curve_preset
    if bad or (curve and _bad(curve)):
        ap.error(f"unknown preset(s) {', '.join(bad or [curve])}; choose from {', '.join(ALL_PRESETS)} "
                 "or give quality levels as numbers")
    peers = [] if a.peers.lower() in ("", "none") else [p.strip().lower() for p in a.peers.split(",") if p.strip()]
    if any(p not in PEER_CODECS for p in peers):
        ap.error(f"--peers: choose from {', '.join(PEER_CODECS)} or none")
    up = tuple(float(v) for v in a.up.split(","))
    if a.prune_margin is not None and a.prune_psnr is not None:
        ap.error("give --prune-margin or --prune-psnr, not both")
    prune = ({"margin": a.prune_margin} if a.prune_margin is not None else
             {"psnr": a.prune_psnr} if a.prune_psnr is not None else None)
    try:
        ablate = [v for v, _ in ablation_variants(a.ablate)] if a.ablate else []
    except ValueError as e:
        ap.error(f"--ablate: {e}")
    try:
        fractions = _parse_fractions(a.target_fractions)
    except ValueError as e:
        ap.error(f"--target-fractions: {e}")
    skips = {tuple(s.lower().rsplit(":", 1)) for s in a.skip_peer}
    workers = a.peer_workers if a.peer_workers is not None else P.default_workers()

    tool, why = (None, "")
    if peers:
        tool, why = P.find_splat_transform(a.splat_transform)
        log(f"peers: splat-transform {tool.version} on node {tool.node_version}" if tool
            else f"peers skipped: {why}")
    settings = dict(presets=presets, views=a.views, size=a.size, layers=a.layers,
                    overcomplete=a.overcomplete or 2 * a.layers, curve_preset=curve,
                    match_peer_bytes=a.match_peer_bytes, ablate=ablate, prune=prune, target_fractions=fractions,
                    peers=peers, peer_timeout_s=a.peer_timeout, peer_workers=workers, up=list(up),
                    skip_peer=sorted(":".join(s) for s in skips), peers_unavailable=why or None)
    results = []
    t_all = time.perf_counter()
    for path in scenes:
        name = Path(path).name.lower()
        scene_peers = [p for p in peers if (name, p) not in skips and (Path(name).stem, p) not in skips]
        r = bench_scene(path, presets, a.views, a.size, curve, a.layers, a.overcomplete, scene_peers, tool,
                        a.peer_timeout, workers, up, log=log, keep_images=bool(a.pictures),
                        match_peer_bytes=a.match_peer_bytes, ablate=ablate, prune=prune, fractions=fractions)
        for p in peers:
            if p not in scene_peers:
                r["peers"].append(dict(codec=p.upper(), status="skipped (--skip-peer)"))
        results.append(r)
    settings["total_s"] = time.perf_counter() - t_all
    md = markdown(results, settings)
    print(md, end="")
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        doc = dict(tool="tools/bench/rd_bench.py", settings=settings, environment=_environment(tool),
                   scenes=_json_ready(results))
        Path(a.json).write_text(json.dumps(doc, indent=2, default=float))
    if a.plot:
        plot_rd(results, a.plot)
    if a.pictures:
        for p in write_pictures(results, a.pictures):
            log(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
