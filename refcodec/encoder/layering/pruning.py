"""Render-based pruning (spec A.6): drop the Gaussians whose removal the renders barely show.

A trained scene holds many Gaussians that no view sees much of: hidden inside objects, behind
others, or the same colour as what lies behind them. Their bytes buy nothing. Opacity or size
does not find them (on plant, removing 5% by opacity leaves 51.6 dB PSNR, 5% by this score
74.5 dB), the renders do:

1. **Rank.** Render the scene from the ranking cameras; for each Gaussian, sum over the views
   its *removal error*, the mean over pixels of the squared change of the image were that
   Gaussian alone removed (``render_torch(..., return_removal=True)``, exact up to early pixel
   stops). Lower = less visible.
2. **Choose how many.** Remove the k least visible and render the *check* cameras, a ring the
   ranking did not use; bisection finds the largest k (at most ``max_fraction`` of the scene)
   whose check renders keep PSNR >= ``min_psnr`` against the original's. Removal errors of
   neighbours add up, so the sum of the scores alone would badly underestimate the joint
   error: the check renders measure it.
3. **Target.** ``min_psnr`` comes from the caller: the encoder's margin rule
   (``EncodeOptions.prune_margin``, CLI ``--prune``) takes the check-view PSNR of the file coded
   without pruning plus ``DEFAULT_MARGIN`` dB, so pruning adds a fixed fraction of the coding
   error at every quality.

Without cameras from the user, both sets are orbit rings around the scene's robust centre
(:func:`refcodec.render.orbit_cameras`) at elevations and azimuths of their own. With user
cameras (e.g. the training views), the ranking uses all of them and the check every fourth.
The encoder then also layers the kept Gaussians by sqrt(removal error x opacity_area) and
coarsens its last layers harder (``refcodec.encoder.layering.importance.render_opacity_area``,
``refcodec.encoder.quantization.layer_tilt``; spec A.6 item 5).
Encoder only: the decoder never sees this (a pruned scene is just a smaller scene).
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

# ranking rings: (elevation degrees, azimuth offset degrees, views); check ring likewise
RANK_RINGS = ((-15.0, 11.0, 12), (20.0, 22.5, 12), (55.0, 7.0, 8))
CHECK_RING = (35.0, 15.0, 8)
RANK_SIZE, CHECK_SIZE = 192, 192
# margin rule (spec A.6): prune to the coded scene's check PSNR plus this; measured on biker,
# plant and playbot_lod2 at the peers' PSNR (tools/bench/results/pruning-2026-12-02.md): 7-10 dB
# was best on biker, 13-19 on plant, 8 on playbot_lod2
DEFAULT_MARGIN = 12.0
# ranking without removal (`refcodec encode --rank`): a check PSNR that no removal keeps
RANK_ONLY_PSNR = 1000.0
MAX_SIDE = 256  # user cameras are scaled down to at most this many pixels a side
# fast pruning (EncodeOptions.prune_fast, CLI --prune-fast; spec A.6 item 7): the same rule on
# fewer, smaller views: 6 ranking views (2 per ring) at 128 px instead of 32 at 192, 3 check
# views at 128 px instead of 8 at 192, a coarser bisection (a removal-error view costs about 4
# plain renders, and a render's cost is mostly per Gaussian, not per pixel, at these sizes)
FAST_RANK_RINGS = ((-15.0, 11.0, 2), (20.0, 112.5, 2), (55.0, 52.0, 2))
FAST_CHECK_RING = (35.0, 15.0, 3)
FAST_SIZE = 128
FAST_ITERATIONS = 5
UP = (0.0, -1.0, 0.0)


@dataclass
class PruneReport:
    removed: int
    total: int
    check_psnr: float          # check views, pruned scene against the original (inf: none removed)
    min_psnr: float
    trials: list               # (removed, check PSNR) of each bisection step
    errors: np.ndarray | None = None  # removal errors of every input Gaussian (the ranking)


def _rings(positions, rings, size: int, up) -> list:
    from refcodec.render import orbit_cameras

    cams = []
    for el, off, k in rings:
        cams += orbit_cameras(positions, n_views=k, width=size, height=size, elevation_deg=el,
                              azimuth_offset_deg=off, up=up)
    return cams


def small_views(positions, rings, size: int, user_cameras=None) -> list:
    """A few small views: the user's cameras (as many as ``rings`` hold, evenly spaced, scaled down
    to ``size``) or the orbit ``rings`` ((elevation, azimuth offset, views), ...) at ``size`` px."""
    total = sum(k for _, _, k in rings)
    if user_cameras:
        step = max(1, len(user_cameras) // total)
        return [downscaled(c, size) for c in list(user_cameras)[::step][:total]]
    return _rings(positions, rings, size, UP)


def ranking_cameras(positions, size: int = RANK_SIZE, up=UP) -> list:
    return _rings(positions, RANK_RINGS, size, up)


def check_cameras(positions, size: int = CHECK_SIZE, up=UP) -> list:
    return _rings(positions, (CHECK_RING,), size, up)


def downscaled(cam, max_side: int = MAX_SIDE):
    """The camera at most ``max_side`` pixels a side (same field of view)."""
    f = max_side / max(cam.width, cam.height)
    if f >= 1.0:
        return cam
    w, h = max(1, round(cam.width * f)), max(1, round(cam.height * f))
    return replace(cam, fx=cam.fx * w / cam.width, fy=cam.fy * h / cam.height, cx=cam.cx * w / cam.width,
                   cy=cam.cy * h / cam.height, width=w, height=h)


def _per_view(fn, cameras, desc: str | None = None, progress: bool | None = None) -> list:
    """[fn(camera) for camera in cameras], views rendered concurrently by up to 2 threads (torch
    releases the GIL inside its kernels), each kernel on one intra-op thread: one thread per
    kernel was the fastest setting on 2 cores (``render_torch``), and a fixed thread count keeps
    every result identical from run to run."""
    import torch

    old = torch.get_num_threads()
    workers = max(1, min(2, os.cpu_count() or 1, len(cameras)))
    bar = tqdm(total=len(cameras), desc=desc, unit="view", leave=False,
               disable=desc is None or (None if progress is None else not progress))
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            out = []
            for r in pool.map(fn, cameras):
                out.append(r)
                bar.update()
            return out
    finally:
        torch.set_num_threads(old)
        bar.close()


def removal_errors(scene, cameras, progress: bool | None = None) -> np.ndarray:
    """(N,) float64: per Gaussian, the sum over ``cameras`` of the mean squared change per pixel
    (summed over the 3 channels) of the render were it alone removed."""
    import torch

    from refcodec.render import GaussianTensors
    from refcodec.render.torch_renderer import render_torch

    err = np.zeros(scene.n, dtype=np.float64)
    if scene.n == 0:
        return err
    g = GaussianTensors.from_scene(scene)

    def one(cam):
        with torch.no_grad():
            out = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, return_removal=True)
        return out["removal"].numpy() / (cam.width * cam.height)

    for e in _per_view(one, cameras, "pruning: ranking", progress):     # summed in camera order
        err += e
    return err


def _renders(scene, cameras) -> list:
    import torch

    from refcodec.render import GaussianTensors, render

    g = GaussianTensors.from_scene(scene)           # converted once for all views

    def one(cam):
        with torch.no_grad():       # threads set by _per_view
            return render(g, cam, backend="torch", num_threads=None)["rgb"].clamp(0.0, 1.0).numpy()

    return _per_view(one, cameras)


def _check_psnr(ref: list, views: list) -> float:
    from refcodec.metrics import mean_over_views, psnr
    return float(mean_over_views(psnr, ref, views))


def views(scene, cameras=None) -> tuple[list, list]:
    """(ranking cameras, check cameras): the user's (scaled down; the check every fourth) or the
    default rings."""
    if cameras:
        cams = [downscaled(c) for c in cameras]
        return cams, cams[::4]
    return ranking_cameras(scene.positions), check_cameras(scene.positions)


def fast_views(scene, cameras=None) -> tuple[list, list]:
    """The views of fast pruning: the user's (6 spread over them for the ranking, 3 others for
    the check, at most FAST_SIZE px) or smaller rings (FAST_RANK_RINGS, FAST_CHECK_RING)."""
    if cameras:
        cams = [downscaled(c, FAST_SIZE) for c in cameras]
        k = max(1, len(cams) // 6)
        return cams[::k][:6], cams[k // 2 + 1::max(1, len(cams) // 3)][:3] or cams[:1]
    return (_rings(scene.positions, FAST_RANK_RINGS, FAST_SIZE, UP),
            _rings(scene.positions, (FAST_CHECK_RING,), FAST_SIZE, UP))


def coded_psnr(scene, coded, cameras=None, fast: bool = False) -> float:
    """Check-view PSNR of ``coded`` (e.g. the decoded file) against ``scene``: the margin rule's
    reference point."""
    check = (fast_views(scene, cameras) if fast else views(scene, cameras))[1]
    return _check_psnr(_renders(scene, check), _renders(coded, check))


def prune_by_render(scene, min_psnr: float, cameras=None, max_fraction: float = 0.5,
                    iterations: int = 8, progress: bool | None = None,
                    errors: np.ndarray | None = None, fast: bool = False) -> tuple[np.ndarray, PruneReport]:
    """Indices (increasing) of the Gaussians to keep, and a report (module docstring).
    ``errors``: this scene's removal errors from the same cameras, when already computed;
    ``fast``: fewer, smaller views and a coarser bisection (``fast_views``, FAST_ITERATIONS)."""
    if not math.isfinite(min_psnr):
        raise ValueError("the pruning PSNR must be a finite number of dB")
    if not 0.0 <= max_fraction < 1.0:
        raise ValueError("max_fraction must lie in [0, 1)")
    n = scene.n
    rank_cams, check = fast_views(scene, cameras) if fast else views(scene, cameras)
    if fast:
        iterations = min(iterations, FAST_ITERATIONS)
    if n == 0:
        return np.arange(0), PruneReport(0, 0, math.inf, min_psnr, [], np.zeros(0))
    if errors is not None and np.shape(errors) != (n,):
        raise ValueError(f"errors must hold one value per Gaussian ({n})")
    err = removal_errors(scene, rank_cams, progress) if errors is None else np.asarray(errors, np.float64)
    order = np.lexsort((np.arange(n), err))          # least visible first, ties by index
    ref = _renders(scene, check) if min_psnr < RANK_ONLY_PSNR else None

    def trial(k: int) -> float:
        keep = np.sort(order[k:])
        return _check_psnr(ref, _renders(scene.subset(keep), check)) if k else math.inf

    lo, hi, trials = 0, int(max_fraction * n), []
    lo_psnr = math.inf
    if min_psnr >= RANK_ONLY_PSNR:                   # ranking only: no removal can keep this
        hi = 0
    if hi > 0:
        p = trial(hi)
        trials.append((hi, p))
        if p >= min_psnr:
            lo, lo_psnr = hi, p
        else:  # removing lo passes, hi fails
            for _ in tqdm(range(iterations), desc="pruning: how many", leave=False,
                          disable=None if progress is None else not progress):
                if hi - lo <= max(1, n // 1000):
                    break
                mid = (lo + hi) // 2
                p = trial(mid)
                trials.append((mid, p))
                if p >= min_psnr:
                    lo, lo_psnr = mid, p
                else:
                    hi = mid
    keep = np.sort(order[lo:])
    return keep, PruneReport(lo, n, lo_psnr, min_psnr, trials, err)
