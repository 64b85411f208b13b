"""Progressive distillation of the layered scene (RecastGS Sec. 3.2, Eq. 4; spec A.8).

A prefix of an LGS file is the cumulative submodel G<=i: the Gaussians of layers 1..i, left as
they were trained for the full model. Distillation fine-tunes them so that G<=i on its own
renders like the full scene: the full scene is the teacher (its renders I^T, no training images
needed) and the loss of stage i is ``||I_i^S - I^T||^2`` (Eq. 4), with stages run fine to coarse,
i = L-1 down to 1, each starting from the parameters the stage above left.

A nested file holds one copy of each Gaussian, so a Gaussian of layer j is shared by every level
k >= j. This module trains that one shared parameter set (option (a) of issue 15): stage i
trains only the Gaussians of layers <= i (those of higher layers keep what their own stage
made), and its loss is a weighted sum of Eq. 4 over levels the trained Gaussians belong to:
levels j = i..i+``reach`` (``reach=None``: i..L, the full level rendering every Gaussian), one
level sampled per step with probability ``weights[j]`` normalised over them (default 1, and
``full_weight`` for level L). Only stages whose G<=i holds at most ``max_fraction`` of the
scene run (the finer ones cost most per step and are closest to the teacher already).

Measured (spec A.8, tools/bench/results/prefix-distill-2026-12-07.md): the coarse levels gain
6-8 dB on plant, but every finer level and the full level lose far more, because the coarse
Gaussians stay in them; hence (a) is only ``--distill shared``. With ``per_level`` (and
``reach=0``) it gives instead each level's own distilled model, option (b) of spec A.8, which
``refcodec.encoder.corrections`` stores as prefix corrections (spec 8.7, 8.7.1; ``--distill``,
``--stream``). There a stage may start instead from other values (``starts``: the stored values
under the level's prefix adjustment, spec 8.6), whichever renders the level closer to the teacher
on a few of its views, and keeps its start when its result renders the level worse there.

Views: the pruning ranking rings (refcodec.encoder.layering.pruning.RANK_RINGS) at ``size``
pixels, or the user's cameras scaled to ``size``. A time budget (``seconds``, after the teacher
renders) is split equally over the stages that run, at least one step each; ``steps`` fixes the
steps a stage instead (benchmarks, tests).
Device: CUDA when torch sees one (the gsplat backend when that package is installed), else CPU
with the pure-torch renderer; same code path (``refcodec.render.render``).
Encoder only: the decoder sees an ordinary scene.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

DEFAULT_SECONDS = 120.0
DEFAULT_SIZE = 96
FULL_WEIGHT = 1.0
REACH = 1        # stage i's loss sums Eq. 4 over levels i..i+REACH (None: i..L)
MAX_FRACTION = 0.25  # stages whose G<=i holds more of the scene are skipped (costly, least to gain)
LR_SCALE = 1.0   # all learning rates times this
ANCHOR = 0.0     # weight of the parameter-space pull towards the original (stands in for level L)
# learning rates per parameter group (Adam); positions scale with the scene's extent
PARAMS = ("means", "log_scales", "quats", "opacity_logits", "sh")   # GaussianTensors.parameters() order
# views (evenly spaced over the distillation's) on which a stage picks its start and checks its
# result (spec A.8 (b)); a handful: the check costs two or three renders a view and a stage
CHECK_VIEWS = 8
LR = dict(means=2e-4, log_scales=1e-2, quats=2e-3, opacity_logits=5e-2, sh_dc=5e-3, sh_rest=5e-4)


@dataclass
class DistillReport:
    device: str
    backend: str
    views: int
    size: int
    seconds: float
    stages: list = field(default_factory=list)   # dict(stage, steps, first_loss, last_loss, seconds)

    def summary(self) -> str:
        steps = sum(s["steps"] for s in self.stages)
        return (f"distillation: {len(self.stages)} stages, {steps} steps on {self.views} views at "
                f"{self.size}px, {self.seconds:.0f} s on {self.device} ({self.backend})")


def pick_device(device=None) -> str:
    import torch

    if device is not None:
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def distill_cameras(positions, cameras=None, size: int = DEFAULT_SIZE) -> list:
    from refcodec.encoder.layering.pruning import RANK_RINGS, _rings, downscaled

    if cameras:
        return [downscaled(c, size) for c in cameras]
    return _rings(positions, RANK_RINGS, size, (0.0, -1.0, 0.0))


def _render(g, cam, backend):
    from refcodec.render import render

    return render(g, cam, backend=backend)["rgb"]


def level_weights(layers: int, full_weight: float = FULL_WEIGHT) -> np.ndarray:
    w = np.ones(layers + 1)
    w[0] = 0.0
    w[layers] = full_weight
    return w


def distill(scene, layer: np.ndarray, cameras=None, seconds: float = DEFAULT_SECONDS,
            size: int = DEFAULT_SIZE, weights=None, full_weight: float = FULL_WEIGHT,
            reach: int | None = REACH, anchor: float = ANCHOR, max_fraction: float = MAX_FRACTION,
            lr_scale: float = LR_SCALE, freeze: tuple = (), per_level: bool = False,
            device=None, progress: bool | None = None, seed: int = 0, steps: int | None = None,
            starts: dict | None = None, check_views: int = CHECK_VIEWS):
    """The distilled scene (same Gaussians, same order, new parameters) and a DistillReport.

    ``layer``: (N,) layer 1..L of every Gaussian. ``steps``: a fixed number of steps per stage
    instead of the time budget (tests). ``weights``: (L + 1,) level weights (index 0 unused).
    ``reach``: stage i's loss takes levels i..i+reach (None: up to L, the exact weighted sum,
    whose full-level renders cost the whole scene per step). ``anchor``: weight of
    ``mean((theta - theta_0)^2)`` over the trained Gaussians (positions in units of the
    scene's extent), a cheap stand-in for the levels left out. ``max_fraction``: only stages
    whose G<=i holds at most this fraction of the scene run. ``freeze``: parameter groups left
    as they are ("means", "log_scales", "quats", "opacity_logits", "sh"; "sh_rest": the SH rest
    alone). ``per_level``: also return, as a third value, {i: (rows, the scene G<=i as stage i
    left it, None)}
    for every stage that ran (option (b) of spec A.8: one distilled model per level; with
    ``reach=0`` stage i is Eq. 4 of level i alone).
    ``starts``: {i: [(values, adjustment), ...]}: other starts for stage i, each a Scene of G<=i
    (rows in input order) and None or level i's prefix adjustment (spec 8.6: (scale_floor,
    opacity_offset)) that the stage then trains the values under. The stage starts from
    whichever of them and the stage above's values renders level i closer to the teacher on
    ``check_views`` of the views (evenly spaced), and a stage whose result renders level i
    farther from the teacher there than its start keeps the start (``check_views=0``: neither
    check; the stage above's values). With ``per_level`` the levels' values are then (rows, the
    values before the adjustment, the adjustment or None) (spec A.8 (b)).
    """
    import torch

    from refcodec.render import GaussianTensors, gsplat_available

    t_start = time.perf_counter()
    dev = pick_device(device)
    backend = "gsplat" if dev.startswith("cuda") and gsplat_available() else "torch"
    layer = np.asarray(layer, dtype=np.int64)
    L = int(layer.max()) if layer.size else 0
    cams = distill_cameras(scene.positions, cameras, size)
    rep = DistillReport(dev, backend, len(cams), size, 0.0)
    snaps = {}
    if scene.n == 0 or L < 2 or not cams:
        return (scene, rep, snaps) if per_level else (scene, rep)
    w = level_weights(L, full_weight) if weights is None else np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(seed)

    full = GaussianTensors.from_scene(scene, device=dev)
    with torch.no_grad():
        teacher = [_render(full, c, backend).clamp(0.0, 1.0) for c in cams]
    # rows sorted by layer: G<=i is the first count[i] rows
    order = np.argsort(layer, kind="stable")
    counts = np.searchsorted(layer[order], np.arange(1, L + 1), side="right")  # counts[i-1] = |G<=i|
    perm = torch.as_tensor(order, device=dev)
    params = {k: v.detach()[perm].clone() for k, v in zip(PARAMS, full.parameters())}
    check = [(v, cams[v])
             for v in np.unique(np.linspace(0, len(cams) - 1, max(int(check_views), 1)).round().astype(int))]
    extent = float(np.percentile(np.linalg.norm(scene.positions - np.median(scene.positions, 0), axis=1), 90))
    lr = {k: v * lr_scale for k, v in LR.items()}
    lr_means = lr["means"] * max(extent, 1e-6)

    top = (lambda i: L) if reach is None else (lambda i: min(L, i + int(reach)))
    run = np.array([counts[i - 1] <= max_fraction * scene.n for i in range(1, L)])
    # equal time per stage: the coarse stages, cheap per step, take the most steps (they have
    # the most to learn)
    share = run / max(run.sum(), 1) if steps is None else None
    budget = max(0.0, seconds - (time.perf_counter() - t_start))
    bar = tqdm(total=L - 1, desc="distilling", unit="stage", leave=False,
               disable=None if progress is None else not progress)
    for i in range(L - 1, 0, -1):                            # fine to coarse (Eq. 4 schedule)
        n_i = int(counts[i - 1])
        if n_i == 0 or not run[i - 1]:
            bar.update()
            continue
        cand = [({k: v[:n_i].clone() for k, v in params.items()}, None)]       # the stage above's
        if starts is not None and i in starts:
            rows = order[:n_i]                           # the given scenes' rows are sorted(rows)
            pos = torch.as_tensor(np.searchsorted(np.sort(rows), rows), device=dev)
            for values, adj in starts[i]:
                g = GaussianTensors.from_scene(values, device=dev)
                cand.append(({k: v.detach()[pos].clone() for k, v in zip(PARAMS, g.parameters())}, adj))
        if check_views and len(cand) > 1:
            losses = [_check_loss(_adjusted(c, a), check, teacher, backend) for c, a in cand]
            pick = int(np.argmin(losses))
        else:
            pick = 0
        start, adj = cand[pick]
        live = {k: v.clone().requires_grad_(k not in freeze) for k, v in start.items()}
        rates = dict(means=lr_means, log_scales=lr["log_scales"], quats=lr["quats"],
                     opacity_logits=lr["opacity_logits"], sh=lr["sh_dc"])
        opt = torch.optim.Adam([dict(params=[live[k]], lr=r) for k, r in rates.items() if k not in freeze],
                               eps=1e-15)
        levels = np.arange(i, top(i) + 1)
        p = w[i:top(i) + 1] / w[i:top(i) + 1].sum()
        init = {key: params[key][:n_i] for key in params}
        t_stage = time.perf_counter()
        stage_budget = None if share is None else budget * share[i - 1]
        k, first, last = 0, math.nan, math.nan
        while True:
            if steps is not None and k >= steps:
                break
            if stage_budget is not None and k > 0 and time.perf_counter() - t_stage >= stage_budget:
                break
            j = int(rng.choice(levels, p=p))
            v = int(rng.integers(len(cams)))
            m = int(counts[j - 1])
            shown = _adjusted(live, adj) if j == i else live        # level i's adjustment: its own render
            parts = {key: (torch.cat([shown[key], params[key][n_i:m]]) if m > n_i else shown[key])
                     for key in live}
            g = GaussianTensors(parts["means"], parts["log_scales"], parts["quats"],
                                parts["opacity_logits"], parts["sh"])
            img = _render(g, cams[v], backend)
            loss = (img - teacher[v]).square().mean()
            val = float(loss.detach())
            if anchor > 0:
                pull = sum(((live[key] - init[key]) * (1.0 / max(extent, 1e-6) if key == "means" else 1.0))
                           .square().mean() for key in live)
                loss = loss + anchor * pull
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:        # not when no Gaussian reaches the view (nothing to learn)
                loss.backward()
                if live["sh"].grad is not None and live["sh"].shape[1] > 1:
                    live["sh"].grad[:, 1:] *= 0.0 if "sh_rest" in freeze else LR["sh_rest"] / LR["sh_dc"]
                opt.step()
            first = val if k == 0 else first
            last = val
            k += 1
        end = {key: v.detach() for key, v in live.items()}
        kept = True
        if check_views:         # a stage that made level i worse on the check views keeps its start
            kept = (_check_loss(_adjusted(end, adj), check, teacher, backend)
                    <= _check_loss(_adjusted(start, adj), check, teacher, backend))
            end = end if kept else start
        with torch.no_grad():
            shown = _adjusted(end, adj)                  # what level i renders: the stage below's start
            for key in params:
                params[key][:n_i] = shown[key]
        if per_level:
            snaps[i] = ({key: v.cpu().numpy().copy() for key, v in end.items()}, adj)
        rep.stages.append(dict(stage=i, steps=k, gaussians=n_i, first_loss=first, last_loss=last,
                               start=("above", *("given %d" % k for k in range(1, len(cand))))[pick],
                               adjusted=adj is not None, kept=kept, seconds=time.perf_counter() - t_stage))
        bar.set_postfix(stage=i, steps=k)
        bar.update()
    bar.close()
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm), device=dev)
    res = _as_scene({k: v[inv].detach().cpu().numpy() for k, v in params.items()}, scene)
    rep.seconds = time.perf_counter() - t_start
    if not per_level:
        return res, rep
    # stage i's G<=i, in the input order of its Gaussians
    levels = {}
    for i, (snap, adj) in snaps.items():
        rows = order[:int(counts[i - 1])]
        back = np.argsort(rows, kind="stable")
        levels[i] = (np.sort(rows), _as_scene({k: v[back] for k, v in snap.items()}, scene.subset(np.sort(rows))),
                     adj)
    return res, rep, levels


def _adjusted(parts: dict, adj) -> dict:
    """``parts`` (PARAMS -> tensor) seen through a prefix adjustment (spec 8.6; ``adj`` =
    (scale_floor, opacity_offset), None: as they are): the two larger log-scales floored, the
    opacity logits offset; differentiable in the values."""
    import torch

    if adj is None:
        return parts
    s = parts["log_scales"]
    keep = torch.nn.functional.one_hot(s.detach().argmin(dim=1), 3).bool()   # first of equal smallest
    floor = torch.as_tensor(float(adj[0]), dtype=s.dtype, device=s.device)
    out = dict(parts)
    out["log_scales"] = torch.where(keep, s, torch.maximum(s, floor))
    out["opacity_logits"] = parts["opacity_logits"] + float(adj[1])
    return out


def _check_loss(parts: dict, views: list, teacher: list, backend: str) -> float:
    """Eq. 4's loss of the Gaussians ``parts`` (PARAMS -> tensor), averaged over ``views``:
    (index into ``teacher``, camera) pairs."""
    import torch

    from refcodec.render import GaussianTensors

    with torch.no_grad():
        g = GaussianTensors(*(parts[k] for k in PARAMS))
        return float(np.mean([float((_render(g, c, backend) - teacher[v]).square().mean()) for v, c in views]))


def _as_scene(out: dict, like):
    """Scene of the trained parameter arrays (quaternions normalized, SH split as Scene holds it)."""
    from refcodec.format.scene import Scene

    n = out["means"].shape[0]
    q = out["quats"] / np.maximum(np.linalg.norm(out["quats"], axis=1, keepdims=True), 1e-12)
    sh = out["sh"]                                           # (N, K, 3) -> dc, channel-major rest
    rest = sh[:, 1:, :].transpose(0, 2, 1).reshape(n, -1) if sh.shape[1] > 1 else like.sh_rest
    return Scene(out["means"], out["opacity_logits"], out["log_scales"], q, sh[:, 0, :], rest, dict(like.extra))


def prefix_loss(scene, layer: np.ndarray, level: int, cameras, teacher=None, backend: str = "torch") -> float:
    """Mean squared error of the level-``level`` prefix's renders against ``teacher`` (default:
    the full scene's renders) over ``cameras``: what distillation lowers (for tests, reports)."""
    import torch

    from refcodec.render import GaussianTensors

    with torch.no_grad():
        if teacher is None:
            full = GaussianTensors.from_scene(scene)
            teacher = [_render(full, c, backend).clamp(0.0, 1.0) for c in cameras]
        sub = GaussianTensors.from_scene(scene.subset(np.nonzero(np.asarray(layer) <= level)[0]))
        errs = [float((_render(sub, c, backend).clamp(0.0, 1.0) - t).square().mean())
                for c, t in zip(cameras, teacher)]
    return float(np.mean(errs))
