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
given and never copied into the repository.  The JSON carries a ``stamp`` (``stamp.py``: commit,
spec version, refcodec and peer versions).

The bench is split by what it does: ``rd_sweep.py`` (encode, decode, peers, ablation),
``rd_eval.py`` (renders, scores, interpolation on the curve), ``rd_tables.py`` (Markdown),
``rd_plot.py`` (the RD plot with matplotlib, contact sheets); this file is the command line.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rd_plot import plot_rd, write_pictures  # noqa: E402
from rd_sweep import (ALL_PRESETS, PEER_CODECS, ablation_variants, bench_scene, parse_encoder_options,  # noqa: E402
                      parse_fractions)
from rd_tables import markdown  # noqa: E402
from stamp import splat_transform_peers, write_json  # noqa: E402


def default_scenes() -> list:
    d = REPO.parent / "shared" / "data"
    return sorted(str(p) for p in d.glob("*.ply")) if d.is_dir() else []


class _Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)


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
    ap.add_argument("--presets", default=",".join(ALL_PRESETS),
                    help="LGS presets or quality levels (numbers), comma-separated")
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
    ap.add_argument("--unseen", action="store_true",
                    help="also score every variant on a second camera set unlike the encoder's own "
                         "(rd_eval.unseen_cameras: 4 close-ups at 512 px, 4 views from below and above)")
    ap.add_argument("--peer-cache", default=None, metavar="DIR",
                    help="keep each scene's peer outputs here and reuse them (keyed by the scene file and "
                         "the tool's version; outside the repository, e.g. /tmp/rd-peers)")
    ap.add_argument("--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra EncodeOptions field for every LGS encode (value parsed as a Python literal "
                         "when it is one, else a string); repeatable")
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
        fractions = parse_fractions(a.target_fractions)
    except ValueError as e:
        ap.error(f"--target-fractions: {e}")
    skips = {tuple(s.lower().rsplit(":", 1)) for s in a.skip_peer}
    try:
        encoder_options = parse_encoder_options(a.encoder_option)
    except ValueError as e:
        ap.error(f"--encoder-option: {e}")
    workers = a.peer_workers if a.peer_workers is not None else P.default_workers()

    tool, why = (None, "")
    if peers:
        tool, why = P.find_splat_transform(a.splat_transform)
        log(f"peers: splat-transform {tool.version} on node {tool.node_version}" if tool
            else f"peers skipped: {why}")
    settings = dict(presets=presets, views=a.views, size=a.size, layers=a.layers,
                    overcomplete=a.overcomplete or 2 * a.layers, curve_preset=curve,
                    match_peer_bytes=a.match_peer_bytes, ablate=ablate, prune=prune, target_fractions=fractions,
                    peers=peers, unseen=a.unseen, encoder_options=encoder_options,
                    peer_timeout_s=a.peer_timeout, peer_workers=workers, up=list(up),
                    skip_peer=sorted(":".join(s) for s in skips), peers_unavailable=why or None)
    results = []
    t_all = time.perf_counter()
    for path in scenes:
        name = Path(path).name.lower()
        scene_peers = [p for p in peers if (name, p) not in skips and (Path(name).stem, p) not in skips]
        r = bench_scene(path, presets, a.views, a.size, curve, a.layers, a.overcomplete, scene_peers, tool,
                        a.peer_timeout, workers, up, log=log, keep_images=bool(a.pictures),
                        match_peer_bytes=a.match_peer_bytes, ablate=ablate, prune=prune, fractions=fractions,
                        unseen=a.unseen, peer_cache=a.peer_cache, encoder_options=encoder_options)
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
        write_json(a.json, doc, peers=splat_transform_peers(tool), default=float)
    if a.plot:
        plot_rd(results, a.plot)
    if a.pictures:
        for p in write_pictures(results, a.pictures):
            log(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
