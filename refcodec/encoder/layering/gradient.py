"""GoDe's gradient importance (RecastGS Eq. 3) without training images (spec A.10 item 1).

Eq. 3 scores a Gaussian g by ``s_g = sum_v sum_{p in P(g)} ||dL(v)/dp||_2`` over the views v and
its parameter groups P(g) (position, opacity, colour, rotation, scale), with L the training loss
of vanilla 3DGS against the training images. An encoder has no training images, and against its
own renders the loss is at its minimum, where every gradient is zero. What the gradient measures
there is how strongly the image depends on the parameter; so here L(v) = <r_v, I_v>, the render
projected on a fixed random sign image r_v (one sign a pixel and channel): its gradient is a
random projection of the render's Jacobian, whose squared norm is on average the Jacobian's
(sum over pixels of the squared derivatives). Summed over views the noise averages out.
One render and one backward pass a view; CUDA when torch sees one. Encoder only.
"""
from __future__ import annotations

import numpy as np

from refcodec.encoder.layering.pruning import _per_view

# the parameter groups of Eq. 3, in GaussianTensors' order
GROUPS = ("means", "log_scales", "quats", "opacity_logits", "sh")


def _signs(cam, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (cam.height, cam.width, 3), generator=g).float().mul_(2.0).sub_(1.0)


def gradient_importance(scene, cameras, progress: bool | None = None, seed: int = 0) -> np.ndarray:
    """(N,) float64: Eq. 3 with L(v) = <r_v, render_v> (module docstring), summed over ``cameras``."""
    from refcodec.render import GaussianTensors
    from refcodec.render.torch_renderer import render_torch

    out = np.zeros(scene.n, dtype=np.float64)
    if scene.n == 0 or not cameras:
        return out

    def one(args):
        k, cam = args
        g = GaussianTensors.from_scene(scene, requires_grad=True)
        img = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam)["rgb"]
        (img * _signs(cam, seed + k)).sum().backward()
        s = np.zeros(scene.n, dtype=np.float64)
        for name in GROUPS:
            grad = getattr(g, name).grad
            if grad is not None:
                s += grad.reshape(scene.n, -1).double().norm(dim=1).numpy()
        return s

    for s in _per_view(one, list(enumerate(cameras)), "ranking: gradients", progress):   # camera order
        out += s
    return out


def gradient_scorer(scores: np.ndarray):
    """The layering scorer (refcodec.encoder.layering.importance) of precomputed Eq. 3 scores."""
    scores = np.asarray(scores, dtype=np.float64)

    def score(scene, idx: np.ndarray) -> np.ndarray:
        return scores[idx]

    return score


def gradient_importance_reference(scene, cameras, seed: int = 0, eps: float = 1e-6) -> np.ndarray:
    """Plain form of ``gradient_importance`` for tests: every derivative by central differences,
    one parameter value at a time, in float64."""
    import torch

    from refcodec.render import GaussianTensors
    from refcodec.render.torch_renderer import render_torch

    base = GaussianTensors.from_scene(scene, dtype=torch.float64)
    out = np.zeros(scene.n, dtype=np.float64)
    for k, cam in enumerate(cameras):
        r = _signs(cam, seed + k).double()

        def loss(params, cam=cam, r=r):
            with torch.no_grad():
                return float((render_torch(*params, cam)["rgb"] * r).sum())

        for i in range(scene.n):
            for gi, name in enumerate(GROUPS):
                grad = []
                for j in range(getattr(base, name)[i].numel()):
                    vals = []
                    for sign in (1.0, -1.0):
                        params = [getattr(base, n).clone() for n in GROUPS]
                        params[gi][i].view(-1)[j] += sign * eps
                        vals.append(loss(params))
                    grad.append((vals[0] - vals[1]) / (2 * eps))
                out[i] += float(np.linalg.norm(grad))
    return out
