"""The encode side of the rate-distortion bench: one scene through every LGS setting and the peers.

For a scene: the original's reference renders, every LGS preset encoded and decoded (optionally
after pruning, spec A.6, with the ranking renders shared by every encode), the cumulative curve
of the byte prefixes of each level (``refcodec.evaluation.levels.level_prefixes``), the peers
(SOG and SPZ written by splat-transform, ``peers.py``), LGS with rate control to each peer's bytes
or to a fraction of them, and the ablation (the sweep again with coding tools switched off).
Scoring and interpolation are in ``rd_eval.py``; tables in ``rd_tables.py``; pictures in
``rd_plot.py``; the command line in ``rd_bench.py``.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rd_eval import compare, evaluate, fmt, lgs_bytes_at_psnr, num, pct, reference, unseen_cameras

ALL_PRESETS = ("max", "high", "medium", "low", "preview")
PEER_CODECS = ("sog", "spz")
ALL_OFF = "none-of-them"     # ablation variant with every coding tool switched off
FULL = "all tools on"        # the reference row of the ablation (the ordinary sweep)


def bench_scene(path: str, presets=ALL_PRESETS, views: int = 8, size: int = 256, curve_preset: str = "high",
                layers: int = 8, overcomplete: int | None = None, peers=PEER_CODECS, tool=None,
                peer_timeout: float = 600.0, peer_workers: int | None = None, up=(0.0, -1.0, 0.0),
                workdir: str | None = None, log=print, keep_images: bool = False,
                match_peer_bytes: bool = True, ablate=None, prune: dict | None = None,
                fractions: dict | None = None, unseen: bool = False, peer_cache: str | None = None,
                encoder_options: dict | None = None) -> dict:
    """Bench one scene; ``ablate``: ablation variants (see ``ablation_variants``), None or empty
    for none; ``prune``: every LGS encode prunes first (spec A.6), ``{"margin": DB}`` or
    ``{"psnr": DB}`` (``EncodeOptions.prune_margin`` / ``prune_psnr``); the ranking renders run
    once here and every encode shares them; ``unseen``: every variant is scored on
    ``rd_eval.unseen_cameras`` too; ``peer_cache``: a folder that keeps each peer's output per scene
    (reused when present: a SOG encode of an SH scene takes minutes); ``encoder_options``: extra
    ``EncodeOptions`` fields for every LGS encode."""
    from refcodec.io.load import load_scene
    from refcodec.io.ply import write_ply
    from refcodec.render import orbit_cameras
    from refcodec.evaluation.levels import level_prefixes

    variants = ablation_variants(ablate) if ablate else []
    name = Path(path).name
    t = time.perf_counter()
    original = load_scene(path)
    n = original.n
    log(f"{name}: {n:,} Gaussians, SH degree {original.sh_degree} (read {time.perf_counter() - t:.1f} s)")
    cams = orbit_cameras(original.positions, n_views=views, width=size, height=size, up=up)
    u_cams = unseen_cameras(original.positions, up=up) if unseen else None
    t = time.perf_counter()
    ref = reference(original, cams, u_cams)
    render_s = (time.perf_counter() - t) / max(1, views + len(u_cams or ()))
    images = {"original": ref[0]} if keep_images else None
    res = dict(scene=name, path=str(path), gaussians=n, sh_degree=original.sh_degree,
               input_bytes=os.path.getsize(path), views=views, size=size, render_s_per_view=render_s,
               lgs=[], curve=dict(preset=curve_preset, levels=[]), peers=[], comparisons=[])
    if u_cams:
        res["unseen"] = [dict(name=c.name, width=c.width, height=c.height) for c in u_cams]
        res["fg_fraction"] = float(sum(m.mean() for m in ref.masks) / len(ref.masks))
        res["unseen_fg_fraction"] = float(sum(m.mean() for m in ref.unseen[1].masks) / len(ref.unseen[1].masks))

    enc_opts = dict(encoder_options or {})
    if prune:
        from refcodec.encoder.layering.pruning import fast_views, removal_errors, views
        t = time.perf_counter()
        errors = removal_errors(original, (fast_views if enc_opts.get("prune_fast") else views)(original)[0],
                                progress=False)
        enc_opts.update(prune_margin=prune.get("margin"), prune_psnr=prune.get("psnr"), prune_errors=errors)
        res["pruning"] = dict(margin=prune.get("margin"), psnr=prune.get("psnr"), ranking_s=time.perf_counter() - t)
        log(f"  pruning {prune}: ranking {res['pruning']['ranking_s']:.1f} s")

    # the preset whose total bytes the ablation reports: the curve preset, else the codec's default
    ablation_preset = curve_preset or "high"
    want = list(presets)
    for extra in (curve_preset, ablation_preset if variants else None):
        if extra and extra not in want:
            want.append(extra)
    res["lgs"], blobs, first_views = _sweep(original, want, presets, layers, overcomplete, cams, ref, log,
                                            enc_opts=enc_opts)
    if keep_images:
        images.update({f"LGS {p}": v for p, v in first_views.items()})
    full_preset_bytes = len(blobs[ablation_preset]) if variants else None

    if curve_preset:
        data = blobs[curve_preset]
        full = next((r for r in res["lgs"] if r["setting"] == curve_preset), None)
        for lv in level_prefixes(data):
            if lv["bytes"] >= len(data) and full is not None:
                sc = {k: full[k] for k in full if "psnr" in k or "ssim" in k}
            else:
                sc = evaluate(lv["scene"], cams, ref)[0]
            row = dict(level=lv["level"], bytes=lv["bytes"], bits_per_gaussian=8.0 * lv["bytes"] / max(1, n),
                       gaussians=lv["gaussians"], decode_s=lv["decode_s"], **sc)
            res["curve"]["levels"].append(row)
            log(f"  LGS {curve_preset} level {lv['level']}: {lv['bytes']:>12,} B  {lv['gaussians']:>9,} G  "
                f"PSNR {fmt(row['psnr'], 2)}")
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
                row = _run_peer(p, tool, src, tmp, original, cams, ref, peer_timeout, peer_workers, log,
                                _peer_cache_stem(peer_cache, path, tool))
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
                    row.update(fraction=frac, meets=_meets(row["psnr"], pr["psnr"]))
                    for k in ("fg_psnr", "unseen_psnr", "unseen_fg_psnr"):
                        if k in row and k in pr:
                            row[f"meets_{k}"] = _meets(row[k], pr[k])
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
        sc, views_p = evaluate(dec, cams, ref)
        row = dict(codec="LGS", setting=p, bytes=len(data), bits_per_gaussian=8.0 * len(data) / max(1, n),
                   gaussians=dec.n, encode_s=enc, decode_s=dec_s, **sc)
        rows.append(row)
        first[p] = views_p[0]
        log(f"  {tag} {p:8s} {len(data):>12,} B  {row['bits_per_gaussian']:6.2f} bits/G  "
            f"PSNR {fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  {_more(row)}enc {enc:.2f} s  dec {dec_s:.2f} s")
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
            q = num(pr.get("psnr"))
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
        log(f"  ablation {variant}: {e['bytes_at_preset']:,} B at {preset} ({pct(e['delta_at_preset'])} vs all "
            f"tools on)" + "".join(f", at {c} PSNR {fmt(b, 0)} B ({pct(e['delta_vs_full'][c])})"
                                  for c, b in e["at_peer"].items()))
        out.append(e)
    return out


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
               gaussians=dec.n, encode_s=enc, decode_s=dec_s, **evaluate(dec, cams, ref)[0])
    log(f"  LGS at {target:,} B (target): {len(data):,} B  PSNR {fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  "
        f"{_more(row)}enc {enc:.2f} s")
    return row


def parse_fractions(text) -> dict:
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


def parse_encoder_options(items) -> dict:
    """``["rd='auto'", "prune_fast=True"]`` -> {"rd": "auto", "prune_fast": True}: EncodeOptions
    fields (checked against its dataclass fields), values as Python literals or plain strings."""
    import ast
    import dataclasses

    from refcodec.encoder import EncodeOptions

    fields = {f.name for f in dataclasses.fields(EncodeOptions)}
    out = {}
    for item in items or []:
        key, sep, val = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise ValueError(f"expected KEY=VALUE with KEY an EncodeOptions field, got {item!r}")
        try:
            out[key] = ast.literal_eval(val.strip())
        except (ValueError, SyntaxError):
            out[key] = val.strip()
    return out


def _is_compressed_ply(path) -> bool:
    try:
        from refcodec.io.load import detect_format
        return detect_format(path) != "ply"
    except Exception:
        return True


def _meets(lgs, peer) -> bool:
    """LGS's dB value reaches the peer's ("inf": identical renders)."""
    if lgs == "inf":
        return True
    return num(lgs) is not None and num(peer) is not None and lgs >= peer


def _more(row: dict) -> str:
    """The foreground and unseen-view scores of a row for the log line ('' when absent)."""
    out = ""
    for k, label in (("fg_psnr", "fg"), ("unseen_psnr", "unseen"), ("unseen_fg_psnr", "unseen fg")):
        if k in row:
            out += f"{label} {fmt(row[k], 2)}  "
    return out


def _peer_cache_stem(folder, path, tool):
    """The cache path stem of a scene's peer outputs: the scene's name, size and modification
    time and the tool's version, so a changed scene or tool never reuses old outputs."""
    if not folder or tool is None:
        return None
    import hashlib

    st = os.stat(path)
    key = hashlib.sha256(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{tool.version}".encode())
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{Path(path).stem}-{key.hexdigest()[:12]}")


def _run_peer(codec: str, tool, src: str, tmp: str, original, cams, ref, timeout, workers, log,
              cache: str | None = None) -> dict:
    import json
    import shutil

    from refcodec.io.load import load_scene

    import peers as P

    ext = {"sog": ".sog", "spz": ".spz"}[codec]
    out = os.path.join(tmp, "peer" + ext)
    words = [w for w in tool.version.split() if w.startswith("v")]
    row = dict(codec=codec.upper(), setting=f"splat-transform {words[0] if words else tool.version}", status="ok")
    meta = cache + ext + ".json" if cache else None
    if meta and os.path.exists(meta) and os.path.exists(cache + ext):
        shutil.copyfile(cache + ext, out)
        r = dict(json.loads(Path(meta).read_text()), cached=True)
        row["cached"] = True
        log(f"  {row['codec']}: output reused from {cache + ext} (encoded in {r['seconds']:.1f} s)")
    else:
        r = P.encode(tool, src, out, timeout=timeout, gpu="cpu", workers=workers)
        if cache and r["rc"] == 0 and not r["timed_out"] and os.path.exists(out):
            shutil.copyfile(out, cache + ext)
            Path(meta).write_text(json.dumps(dict(rc=0, timed_out=False, seconds=r["seconds"], output="")))
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
    sc, views = evaluate(dec, cams, ref)
    row.update(sc)
    row["image"] = views[0]
    log(f"  {row['codec']:3s} {row['bytes']:>17,} B  {row['bits_per_gaussian']:6.2f} bits/G  "
        f"PSNR {fmt(row['psnr'], 2)}  SSIM {row['ssim']:.4f}  {_more(row)}enc {row['encode_s']:.2f} s  "
        f"dec {row['decode_s']:.2f} s  axes {turn}")
    return row
