"""Timing of the pure-PyTorch renderer on a 3DGS scene (any format ``refcodec encode`` reads).

    python tools/bench/render_bench.py ../shared/data/biker.ply --views 8 --size 256 [--png-dir out/]

Prints wall-clock and process-CPU seconds per view (projection + rasterization, forward, no
grad), the number of (tile, Gaussian) pairs and of (Gaussian, pixel) evaluations.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ply")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--up", default="0,-1,0")
    ap.add_argument("--png-dir", default=None)
    args = ap.parse_args(argv)

    import torch
    from refcodec.render import GaussianTensors, orbit_cameras, save_png
    from refcodec.render.torch_renderer import render_torch, project_gaussians

    if args.threads:
        torch.set_num_threads(args.threads)
    from refcodec.io.load import load_scene
    scene = load_scene(args.ply)
    g = GaussianTensors.from_scene(scene)
    up = tuple(float(x) for x in args.up.split(","))
    cams = orbit_cameras(scene.positions, n_views=args.views, width=args.size, height=args.size, up=up)
    print(f"{os.path.basename(args.ply)}: {scene.n} Gaussians, SH degree {scene.sh_degree}, "
          f"{args.size}x{args.size}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    import refcodec.render.torch_renderer as TR
    times, cpus = [], []
    with torch.no_grad():
        render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cams[0], chunk=args.chunk)  # warm-up
        for i, cam in enumerate(cams):
            TR._STATS["evals"] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            out = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam,
                               chunk=args.chunk, block_size=args.block)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            times.append(dt)
            cpus.append(dc)
            rect = project_gaussians(g.means, g.log_scales, g.quats, cam)["rect"]
            pairs = int(((rect[:, 2] - rect[:, 0]) * (rect[:, 3] - rect[:, 1])).sum())
            print(f"  view {i}: {dt:.3f} s wall, {dc:.3f} s cpu  visible {out['visible'].numel()}  "
                  f"tile pairs {pairs}  evaluations {TR._STATS['evals'] / 1e6:.1f}M  "
                  f"mean alpha {out['alpha'].mean():.3f}")
            if args.png_dir:
                os.makedirs(args.png_dir, exist_ok=True)
                save_png(os.path.join(args.png_dir, f"{cam.name}.png"), out["rgb"])
    t, c = np.array(times), np.array(cpus)
    print(f"wall per view: mean {t.mean():.3f} s  median {np.median(t):.3f} s  min {t.min():.3f} s  "
          f"max {t.max():.3f} s;  process cpu per view: mean {c.mean():.3f} s")


if __name__ == "__main__":
    main()
