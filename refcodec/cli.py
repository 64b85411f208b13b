"""``refcodec`` command line: encode, decode, extract, info, demo. ``main(argv) -> int``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from refcodec.format.errors import LGSError, printable

EPILOG = "Errors are printed on one line; the exit status is 1 for bad input, 2 for bad usage."


class FORMATTER(argparse.HelpFormatter):
    """Every option's help shows its default (unless it says it already, or there is none)."""

    def _get_help_string(self, action):
        h = action.help or ""
        if "default" in h or not action.option_strings or action.default in (None, False, [], "", argparse.SUPPRESS):
            return h
        return h + " (default: %(default)s)"


# optional dependency (top-level module) -> the extra that installs it
EXTRAS = {"viser": "view", "requests": "stream", "torch": "render", "zstandard": "spz", "cv2": "roi",
          "segment_anything": "roi"}


def _levels_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--level", type=int, default=None,
                   help="highest layer kept for regions not named with --roi (default: all)")
    p.add_argument("--roi", action="append", default=[], metavar="NAME=K",
                   help="highest layer kept for the region labelled NAME (0 drops it); repeatable")
    p.add_argument("--max-bytes", type=int, default=None,
                   help="use only the first N bytes of the input (simulates a partial download)")
    p.add_argument("--max-gaussians", type=int, default=None,
                   help="refuse files declaring more Gaussians (default: 2 GiB of decoded output)")
    p.add_argument("--trusted", action="store_true",
                   help="input you trust: lift the limits of spec 9.7 that tie decoded values and rANS steps "
                        "to the file's size (the --max-gaussians output bound stays)")


class _SubParser(argparse.ArgumentParser):
    """Every sub-command's help shows defaults and the error epilog."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", FORMATTER)
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    from refcodec import __version__
    from refcodec.format.schema import VERSION_MAJOR, VERSION_MINOR

    ap = argparse.ArgumentParser(prog="refcodec", description="LGS (Layered Gaussian Splats) reference codec",
                                 epilog=EPILOG, formatter_class=FORMATTER)
    ap.add_argument("--version", action="version",
                    version=f"refcodec {__version__} (writes LGS {VERSION_MAJOR}.{VERSION_MINOR})")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_SubParser)

    e = sub.add_parser("encode", help="encode a 3DGS scene (.ply, .splat, .spz, compressed .ply) to .lgs")
    e.add_argument("input", help="the scene: INRIA 3DGS .ply, .splat, .spz or PlayCanvas compressed .ply")
    e.add_argument("output", help="the .lgs file to write")
    e.add_argument("--layers", type=int, default=8, help="quality layers L (default 8)")
    e.add_argument("--overcomplete", type=int, default=16,
                   help="overcomplete layers searched, a multiple of --layers (default 16)")
    e.add_argument("--first-layer", type=int, default=None,
                   help="n1, Gaussians in the first overcomplete layer (default 2%% of the scene, <= 100000)")
    e.add_argument("--quality", default=None,
                   help="max, high (default; medium with --stream), medium, low, preview, or a quality level number "
                        "(0 = high; each +2 halves the steps and drops a position bit per +1; spec A.3)")
    e.add_argument("--disable", default="", metavar="TOOLS",
                   help="coding tools to switch off, comma-separated (ablation): cross_layer, "
                        "geometry_contexts, intra, delta, rotation_norm, sh_mask, residual_contexts, canonical_axes, "
                        "rest_refs")
    e.add_argument("--target-bytes", type=int, default=None, metavar="N",
                   help="rate control: the finest attribute quantization whose file fits N bytes")
    e.add_argument("--roi", action="append", default=[], metavar="SPEC",
                   help="NAME=box:x0,y0,z0,x1,y1,z1 | NAME=sphere:cx,cy,cz,r | NAME=indices:FILE.npy | "
                        "NAME=click:VIEW:X,Y[;VIEW:X,Y...] (-VIEW:X,Y negative; views: --cameras)")
    e.add_argument("--prune", action="store_true",
                   help="render-based pruning (spec A.6): drop the least visible Gaussians while renders of "
                        "check views stay 12 dB above the coded file's own error (slow: about 45 s per "
                        "150k Gaussians on 2 cores)")
    e.add_argument("--prune-margin", type=float, default=None, metavar="DB",
                   help="--prune with this margin instead of 12 dB")
    e.add_argument("--prune-fast", action="store_true",
                   help="--prune on fewer, smaller views (spec A.6 item 7: 6 ranking views and 3 check views "
                        "at 128 px instead of 32 and 8 at 192); implies --prune")
    e.add_argument("--rd", choices=["auto"], default=None,
                   help="per-scene rate-distortion choices (spec A.9): position bits and each attribute "
                        "group's step from the render error measured on a few small views, instead of the "
                        "fixed coupling of A.3 (presets and --target-bytes go through it)")
    e.add_argument("--prune-psnr", type=float, default=None, metavar="DB",
                   help="--prune to a fixed check-view PSNR of DB instead of a margin")
    e.add_argument("--stream", action="store_true",
                   help="a file meant to be streamed or cut (spec A.10): layers ranked from renders and "
                        "spread over the scene, each coarse level's own distilled values (--distill, 4.3 "
                        "prefix corrections) and the 4.1 prefix adjustments, so that every prefix is a "
                        "coarser scene (slow: about 2.5 min on a 150k-Gaussian scene on 2 cores; "
                        "--distill-seconds 0 --rank fast: 17 s)")
    e.add_argument("--rank", choices=["fast", "full", "gradient", "none"], default=None,
                   help="how the layers are ranked when not pruning (spec A.6 item 5, A.10): removal errors "
                        "rendered from 6 small views (fast), from 32 views (full: --stream's, as slow as "
                        "--prune), GoDe's gradient importance on the 32 views (gradient), or the "
                        "view-independent score alone (none; the default)")
    e.add_argument("--no-coverage", action="store_true",
                   help="with --stream: the plain importance order of the layers (spec A.1) instead of "
                        "spreading every prefix over the scene")
    e.add_argument("--distill", nargs="?", const="levels", choices=("levels", "shared"), default=None,
                   help="progressive distillation (spec A.8, RecastGS Eq. 4): each prefix renders like the "
                        "whole scene. levels (the default; part of --stream): every level up to 60%% of "
                        "the Gaussians gets its own fitted opacities, scales and colours as 4.3 prefix "
                        "corrections (spec 8.7, 8.7.1; the full level unchanged; the file about 20-28%% larger, "
                        "a client fetches only its level's); shared: one parameter set for every level "
                        "(no 4.2 tool; the full level drops). Slow: --distill-seconds")
    e.add_argument("--distill-seconds", type=float, default=None, metavar="S",
                   help="--distill (and --stream's) with this time budget instead of 120 s; 0: none")
    e.add_argument("--no-adjust", action="store_true",
                   help="with --stream: leave out the prefix adjustments (spec 8.6, A.10: each level's scale "
                        "floor and opacity offset, fitted on renders, so that a cut download covers the "
                        "whole scene; about 31 bytes a level and 11 s on a 150k-Gaussian scene on 2 "
                        "cores): a 4.0 file")
    e.add_argument("--cameras", default=None, metavar="PATH",
                   help="views for pruning and for click regions: a 3DGS cameras.json or a COLMAP text "
                        "model folder (default: orbit rings around the scene)")
    e.add_argument("--roi-property", default=None, metavar="PROP",
                   help="one region per non-zero value of this integer per-Gaussian input property")
    from refcodec.roi_options import add_encode_args
    add_encode_args(e)                       # --segmenter, --tau, --epsilon, --view-size, --roi-quality
    e.add_argument("--tiles", type=int, default=None, metavar="N",
                   help="split the background into N spatial tiles (k-d, one region each; spec A.7) so that "
                        "a client can fetch a level per tile for a view (decode --view, view)")
    e.add_argument("--json", action="store_true",
                   help="print a JSON summary (bytes, Gaussians, times, per-level bytes) instead of a line")
    e.add_argument("--quiet", action="store_true", help="no progress bar, no summary")

    d = sub.add_parser("decode", help="decode an .lgs (or a prefix of one) to a 3DGS PLY")
    d.add_argument("input", help="an .lgs file, or any prefix of one")
    d.add_argument("output", help="the PLY (or with --raw the float32 dump) to write")
    _levels_args(d)
    d.add_argument("--with-labels", action="store_true",
                   help="add per-Gaussian properties lgs_layer and lgs_region")
    d.add_argument("--raw", action="store_true",
                   help="write the canonical float32 dump of the conformance suite instead of PLY")
    d.add_argument("--strict", action="store_true",
                   help="fail on a segment that fails its checksum instead of dropping it")
    d.add_argument("--no-adjust", action="store_true",
                   help="output a coarse region's Gaussians as stored, without its level's prefix "
                        "adjustment (spec 8.6; not the conforming output of a 4.1 file)")
    d.add_argument("--require-complete", action="store_true",
                   help="fail when the file ends before its last segment (a prefix) instead of warning")
    d.add_argument("--report", default=None, metavar="FILE.json",
                   help="write each unit's status (decoded, not selected, absent, incomplete, checksum, "
                        "corrupt, dependency) and why")
    d.add_argument("--priority", action="append", default=[], metavar="NAME",
                   help="with --max-bytes N: N is a byte budget (front + the chosen segments) spent on the "
                        "named regions' layers first, then on the others (instead of a prefix); repeatable")
    d.add_argument("--quiet", action="store_true", help="no summary line")
    from refcodec.stream.cli import add_decode_args
    add_decode_args(d)

    x = sub.add_parser("extract", help="write a smaller .lgs holding only the selected layers/regions")
    x.add_argument("input", help="an .lgs file, or any prefix of one")
    x.add_argument("output", help="the smaller .lgs file to write")
    _levels_args(x)

    from refcodec.roi_options import add_segment_parser
    add_segment_parser(sub)

    i = sub.add_parser("info", help="header, ROI table and bytes per layer/region/kind")
    i.add_argument("input", help="an .lgs file, or any prefix of one")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")

    v = sub.add_parser("view", help="browser viewer (viser) of an .lgs file or URL, refining as levels arrive")
    v.add_argument("input", help="an .lgs file or an http(s)://, file:// or fsspec URL")
    v.add_argument("--host", default="127.0.0.1", help="address the viewer listens on")
    v.add_argument("--port", type=int, default=8080, help="port of the viewer's web page")
    v.add_argument("--level", type=int, default=None, help="stop fetching at this level (default: all)")
    v.add_argument("--whole-file", action="store_true",
                   help="if the server ignores Range requests, download the whole file instead of failing")
    v.add_argument("--step-delay", type=float, default=0.0, metavar="S",
                   help="pause S seconds between levels (to watch the refinement)")

    m = sub.add_parser("demo", help="generate a scene, encode it, decode prefixes and ROI subsets")
    m.add_argument("--gaussians", type=int, default=100_000, help="size of the generated scene")
    m.add_argument("--sh-degree", type=int, default=1, help="SH degree of the generated scene (0-3)")
    m.add_argument("--out", default=None, help="also write the scene and the .lgs into this folder")

    r = sub.add_parser("render", help="render orbit views of a scene (.ply, .lgs, .splat, .spz) to PNG; "
                                      "for an .lgs also a contact sheet of its levels")
    r.add_argument("input", help="a scene (.ply, .splat, .spz, compressed .ply) or an .lgs")
    r.add_argument("--out", required=True, help="folder for the PNGs (created if missing)")
    r.add_argument("--views", type=int, default=4, help="orbit views (default 4)")
    r.add_argument("--size", type=int, default=256, help="width and height in pixels (default 256)")
    r.add_argument("--levels", action=argparse.BooleanOptionalAction, default=None,
                   help="write levels.png, one tile per cumulative level (default: on for .lgs)")
    r.add_argument("--level-views", type=int, default=1,
                   help="orbit views (rows) in levels.png (default 1)")
    r.add_argument("--up", default="0,-1,0", help="world up direction x,y,z (default 0,-1,0, INRIA/COLMAP)")
    r.add_argument("--background", default="0,0,0", help="background colour r,g,b in [0, 1] (default 0,0,0)")
    r.add_argument("--max-bytes", type=int, default=None,
                   help="for an .lgs, use only the first N bytes (simulates a partial download)")
    return ap


def _limits(a):
    """spec 9.7: the decoder's work limits (--trusted lifts those tied to the file's size)."""
    from refcodec.format.front import Limits
    return Limits.trusted(a.max_gaussians) if getattr(a, "trusted", False) else Limits(max_gaussians=a.max_gaussians)


def _check_output(a) -> None:
    """Refuse to write over the input file (``refcodec encode a.ply a.ply``)."""
    import os
    src, dst = Path(a.input), Path(a.output)
    same = dst.resolve() == src.resolve()
    if not same and dst.exists() and src.exists():
        same = os.path.samefile(src, dst)
    if same:
        raise ValueError(f"refusing to overwrite the input file {a.output}")


def _write_atomic(path, write) -> None:
    """Every output through a temporary file renamed into place (``refcodec.io.atomic``)."""
    from refcodec.io.atomic import write_atomic
    write_atomic(path, write)


def _check_limits_of_output(data: bytes) -> None:
    """Warn when an encoded file is beyond a limit of spec 9.7 (e.g. millions of identical
    Gaussians in a few bytes): decoders may refuse it, refcodec decodes it with --trusted."""
    import warnings
    from refcodec.format.errors import LimitError
    from refcodec.format.front import read_front
    try:
        read_front(data)
    except LimitError as e:
        warnings.warn(f"the file is beyond a limit of spec 9.7 (decode it with --trusted): {e}", stacklevel=2)


def warn_problems(res) -> None:
    """One warning line per dropped unit (spec 8.3), file strings escaped."""
    from refcodec.format.errors import printable

    for u in res.problems:
        print(f"warning: dropped layer {u.layer} region {u.region} ({u.count:,} Gaussians): "
              f"{u.status}{': ' + printable(u.detail) if u.detail else ''}", file=sys.stderr)


def write_report(path, res, **fields) -> None:
    """``decode --report``: ``fields`` and every unit's status (decoded, dropped and why), as JSON."""
    from refcodec.io.atomic import write_atomic

    labels = [r.label for r in res.front.regions]
    report = json.dumps(dict(fields, gaussians=int(res.scene.n), units=[
        dict(layer=u.layer, region=u.region, label=labels[u.region], gaussians=u.count, status=u.status,
             detail=u.detail) for u in res.units]), indent=2)
    write_atomic(path, lambda p: Path(p).write_text(report))


def _read(path: str, max_bytes: int | None = None) -> bytes:
    with open(path, "rb") as f:
        data = f.read() if max_bytes is None else f.read(max(0, max_bytes))
    return data


def _parse_roi_levels(items: list) -> dict:
    out = {}
    for it in items:
        name, sep, k = it.rpartition("=")
        if not sep or not name or not k.lstrip("-").isdigit():
            raise ValueError(f"--roi {it!r}: expected NAME=K")
        out[name] = int(k)
    return out


def _cmd_encode(a) -> int:
    from refcodec.encoder import STREAM, EncodeOptions, encode_scene_with_order
    from refcodec.io.load import load_scene
    from refcodec.roi import parse_roi, property_regions

    _check_output(a)
    t0 = time.perf_counter()
    scene = load_scene(a.input)
    specs = [parse_roi(s, a.tau) for s in a.roi]
    from refcodec.roi.cli import parse_roi_quality, resolve_clicks
    resolve_clicks(a, scene, specs, quiet=a.quiet or a.json)
    if a.roi_property:
        specs += property_regions(scene, a.roi_property)
    if a.tiles:
        from refcodec.roi.tiles import tile_regions
        specs += tile_regions(scene, a.tiles, specs)
    margin = a.prune_margin
    if (a.prune or a.prune_fast) and margin is None and a.prune_psnr is None:
        from refcodec.encoder.layering.pruning import DEFAULT_MARGIN
        margin = DEFAULT_MARGIN
    if margin is not None and a.prune_psnr is not None:
        raise ValueError("give --prune-margin or --prune-psnr, not both")
    pruning = margin is not None or a.prune_psnr is not None
    distill_s = a.distill_seconds if a.distill_seconds is not None else (
        STREAM["distill_seconds"] if a.distill or a.stream else None)
    distill_s = distill_s if distill_s else None          # 0: no distillation
    distilling = distill_s is not None
    cams = None
    if a.cameras:
        if not pruning and not distilling and not any(s.source == "click" for s in specs):
            raise ValueError("--cameras is only used for pruning (--prune) and click regions")
        from refcodec.render import load_cameras_json, load_colmap_text
        cams = load_cameras_json(a.cameras) if Path(a.cameras).is_file() else load_colmap_text(a.cameras)
    t1 = time.perf_counter()
    opts = EncodeOptions(layers=a.layers, overcomplete=a.overcomplete, first_layer=a.first_layer,
                         quality=a.quality or (STREAM["quality"] if a.stream else "high"),
                         target_bytes=a.target_bytes, prune_psnr=a.prune_psnr,
                         prune_margin=margin, views=cams, distill_seconds=distill_s,
                         distill_mode=a.distill or "levels",
                         disable=frozenset(t for t in a.disable.split(",") if t), regions=specs,
                         region_quality=parse_roi_quality(a.roi_quality), progress=None if not a.quiet else False,
                         rd=a.rd, prune_fast=a.prune_fast, adjust=a.stream and not a.no_adjust,
                         coverage=a.stream and not a.no_coverage,
                         rank=((STREAM["rank"] if a.stream else None) if a.rank is None
                               else None if a.rank == "none" else a.rank))
    data, order = encode_scene_with_order(scene, opts)
    t2 = time.perf_counter()
    _write_atomic(a.output, lambda p: Path(p).write_bytes(data))
    _check_limits_of_output(data)
    if a.json:
        from refcodec.info import describe

        d = describe(data)
        print(json.dumps(dict(input=a.input, output=a.output, input_gaussians=scene.n, gaussians=len(order),
                              bytes=len(data), bits_per_gaussian=8 * len(data) / max(1, scene.n),
                              read_seconds=round(t1 - t0, 3), encode_seconds=round(t2 - t1, 3),
                              quality=d["quality"], levels=d["levels"], regions=d["regions"]), indent=2))
    elif not a.quiet:
        pruned = f" ({scene.n - len(order):,} pruned)" if pruning else ""
        print(f"{scene.n:,} Gaussians{pruned} -> {len(data):,} bytes "
              f"({8 * len(data) / max(1, scene.n):.1f} bits/Gaussian), "
              f"read {t1 - t0:.2f} s, encode {t2 - t1:.2f} s")
    return 0


def _selection(a, front):
    from refcodec.format.decode import resolve_levels
    return resolve_levels(front, a.level, _parse_roi_levels(a.roi))


def _cmd_decode(a) -> int:
    from refcodec.stream.cli import decode_streamed, wants_stream
    if wants_stream(a):                      # a URL, --progressive or --view: ranged reads
        return decode_streamed(a)
    import numpy as np

    from refcodec.format.front import read_front
    from refcodec.format.decode import canonical_dump, decode
    from refcodec.io.ply import write_ply

    if a.priority and a.max_bytes is None:
        raise ValueError("--priority needs --max-bytes N (the byte budget)")
    _check_output(a)
    data = _read(a.input, None if a.priority else a.max_bytes)
    t0 = time.perf_counter()
    limits = _limits(a)
    front = read_front(data, a.max_gaussians, limits)
    levels = _selection(a, front)
    if a.priority:                           # a byte budget spent on the named regions first
        from refcodec.format.decode import budget_levels
        from refcodec.stream.select import selected_bytes
        levels = budget_levels(front, a.max_bytes, a.priority, caps=levels)
        used = selected_bytes(front, levels)
        if not a.quiet:
            print("levels: " + ", ".join(f"{printable(r.label)}={k}" for r, k in zip(front.regions, levels))
                  + f" ({used:,} of {a.max_bytes:,} bytes)")
    res = decode(data, levels, strict=a.strict, max_gaussians=a.max_gaussians, front=front, limits=limits,
                 adjust=not a.no_adjust)
    t1 = time.perf_counter()
    if not res.complete:                     # spec 8.4: a prefix decodes, but say so
        from refcodec.format.front import data_end
        msg = (f"the file ends at byte {len(data):,}, before its last segment ends "
               f"(byte {data_end(front):,}): a prefix")
        if a.require_complete:
            from refcodec.format.errors import TruncatedError
            raise TruncatedError(msg + " (--require-complete)")
        if a.max_bytes is None:
            print(f"warning: {msg}; the units beyond it are not decoded", file=sys.stderr)
    extra = None
    if a.with_labels:
        extra = {"lgs_layer": res.layer.astype(np.uint8), "lgs_region": res.region.astype(np.uint16)}
    if a.raw:
        _write_atomic(a.output, lambda p: Path(p).write_bytes(canonical_dump(res.scene)))
    else:
        _write_atomic(a.output, lambda p: write_ply(p, res.scene, extra=extra))
    warn_problems(res)
    if a.report:
        write_report(a.report, res, input=a.input, bytes=len(data))
    if not a.quiet:
        print(f"{res.scene.n:,} of {res.front.info.total_gaussians:,} Gaussians from {len(data):,} bytes "
              f"in {t1 - t0:.2f} s")
    return 0


def _cmd_extract(a) -> int:
    from refcodec.format.front import read_front
    from refcodec.format.decode import extract

    _check_output(a)
    data = _read(a.input, a.max_bytes)
    front = read_front(data, a.max_gaussians, _limits(a))
    out = extract(data, _selection(a, front), max_gaussians=a.max_gaussians, front=front)
    _write_atomic(a.output, lambda p: Path(p).write_bytes(out))
    print(f"wrote {len(out):,} of {len(data):,} bytes")
    return 0


def _cmd_info(a) -> int:
    from refcodec.info import describe, format_text
    from refcodec.stream.source import is_url
    if is_url(a.input):                      # the front alone is fetched
        from refcodec.stream.cli import info_streamed
        return info_streamed(a)

    d = describe(_read(a.input))
    print(json.dumps(d, indent=2) if a.json else format_text(d))
    return 0


def _cmd_demo(a) -> int:
    from refcodec.demo import run_demo

    print(run_demo(a.gaussians, a.sh_degree, a.out))
    return 0


def _cmd_render(a) -> int:
    from refcodec.format.front import read_front
    from refcodec.format.schema import MAGIC
    from refcodec.format.decode import decode
    from refcodec.io.load import load_scene
    from refcodec.render import orbit_cameras, render_views, save_png
    from refcodec.evaluation.levels import level_sheet

    def triple(text, what):
        v = [float(t) for t in text.split(",")]
        if len(v) != 3:
            raise ValueError(f"--{what} {text!r}: expected three comma-separated numbers")
        return tuple(v)

    if a.views < 1 or a.size < 8 or a.level_views < 1:
        raise ValueError("--views and --level-views must be >= 1 and --size >= 8")
    up, bg = triple(a.up, "up"), triple(a.background, "background")
    with open(a.input, "rb") as f:
        is_lgs = f.read(len(MAGIC)) == MAGIC or a.input.lower().endswith(".lgs")
    levels = is_lgs if a.levels is None else a.levels
    if levels and not is_lgs:
        raise ValueError("--levels needs an .lgs input")
    data = None
    t0 = time.perf_counter()
    if is_lgs:
        data = _read(a.input, a.max_bytes)
        scene = decode(data, front=read_front(data)).scene
    else:
        scene = load_scene(a.input)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cams = orbit_cameras(scene.positions, n_views=a.views, width=a.size, height=a.size, up=up)
    written = []
    for i, res in enumerate(render_views(scene, cams, background=bg)):
        path = out / f"view_{i:02d}.png"
        img = res["rgb"].clamp(0, 1)
        _write_atomic(path, lambda p, img=img: save_png(p, img))
        written.append(path)
    if levels:
        sheet = level_sheet(data, cams[: a.level_views], background=bg)
        _write_atomic(out / "levels.png", lambda p: save_png(p, sheet))
        written.append(out / "levels.png")
    print(f"{scene.n:,} Gaussians: wrote {', '.join(p.name for p in written)} to {out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_view(a) -> int:
    from refcodec.viewer import run_viewer

    return run_viewer(a.input, host=a.host, port=a.port, level=a.level, whole_file=a.whole_file,
                      step_delay=a.step_delay)


def _cmd_segment(a) -> int:
    from refcodec.roi.cli import cmd_segment

    return cmd_segment(a)


COMMANDS = {"encode": _cmd_encode, "decode": _cmd_decode, "extract": _cmd_extract,
            "info": _cmd_info, "demo": _cmd_demo, "render": _cmd_render, "view": _cmd_view,
            "segment": _cmd_segment}


def _quiet_stdout() -> None:
    """After a closed pipe (``refcodec info f | head -1``): point stdout at /dev/null so the
    interpreter's final flush cannot fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on one line, without source paths: ``warning: <message>``."""
    print(f"warning: {printable(str(message), 500)}", file=file or sys.stderr)


def main(argv: list | None = None) -> int:
    import warnings
    previous_showwarning, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.showwarning = previous_showwarning


def _main(argv: list | None) -> int:
    ap = _parser()
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and bad usage (2)
        return int(e.code or 0)
    try:
        code = COMMANDS[a.cmd](a)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"error: this needs the optional package {top!r}: pip install 'refcodec[{EXTRAS[top]}]'",
              file=sys.stderr)
        return 1
    except LGSError as e:
        print(f"error: {printable(str(e), 500)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {printable(str(e), 500)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
