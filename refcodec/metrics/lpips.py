"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, with user-supplied weights.

Nothing is ever downloaded.  The ``lpips`` package ships only the small
linear-calibration layers (``lpips/weights/v0.1/{alex,vgg,squeeze}.pth``);
the backbone (AlexNet/VGG/SqueezeNet ImageNet weights) normally comes from a
torchvision download, which this wrapper never triggers.  So pass either

* ``weights=`` a full LPIPS ``state_dict`` (keys ``net.*`` and ``lin*``;
  e.g. ``torch.save(lpips.LPIPS(net="alex").state_dict(), path)`` done once
  on a machine that has the weights), or
* ``weights=`` the linear-layer file shipped with ``lpips`` **and**
  ``backbone_weights=`` the torchvision backbone ``state_dict``
  (e.g. ``alexnet-owt-7be5be79.pth``, keys ``features.*``).

Without ``weights`` every call raises :class:`LPIPSUnavailableError` saying
weights are needed; the same class is raised when ``lpips`` (or torch) is
not installed.
"""
from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

__all__ = ["lpips", "load_lpips", "LPIPSUnavailableError"]

_CACHE: dict = {}


class LPIPSUnavailableError(RuntimeError):
    """LPIPS cannot be computed: weights not given, or `lpips`/torch missing."""


def _need_weights_msg(net: str) -> str:
    return (
        f"LPIPS needs network weights: pass weights=PATH to an LPIPS ({net}) state_dict "
        "(a full LPIPS state_dict, or the lpips package's linear-layer file together with "
        "backbone_weights=PATH to the torchvision backbone state_dict). "
        "refcodec never downloads weights."
    )


def load_lpips(
    weights: str | os.PathLike | None,
    backbone_weights: str | os.PathLike | None = None,
    net: str = "alex",
    device: str = "cpu",
):
    """Build an ``lpips.LPIPS`` model from local weight files (cached per arguments)."""
    if weights is None:
        raise LPIPSUnavailableError(_need_weights_msg(net))
    paths = [os.fspath(weights)] + ([os.fspath(backbone_weights)] if backbone_weights else [])
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"LPIPS weights file not found: {p}")
    key = (tuple(os.path.abspath(p) for p in paths), net, str(device))
    if key in _CACHE:
        return _CACHE[key]
    try:
        import torch

        lp = importlib.import_module("lpips")
    except ImportError as e:
        raise LPIPSUnavailableError(
            f"LPIPS needs the 'lpips' package (and torch/torchvision) installed: {e}"
        ) from e

    # pnet_rand=True / pretrained=False: build the architecture only, so
    # neither torchvision nor lpips loads or downloads anything itself.
    model = lp.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
    expected = model.state_dict()
    state = dict(torch.load(paths[0], map_location="cpu", weights_only=True))
    if not any(k.startswith("net.") for k in state):
        if backbone_weights is None:
            raise LPIPSUnavailableError(
                f"{paths[0]} holds only LPIPS linear layers; also pass backbone_weights=PATH "
                f"to the torchvision {net} ImageNet state_dict. " + _need_weights_msg(net)
            )
        backbone = torch.load(paths[1], map_location="cpu", weights_only=True)
        # lpips keeps torchvision's `features.{i}` modules under `net.slice{s}.{i}`.
        for k in expected:
            parts = k.split(".")
            if parts[0] == "net" and parts[1].startswith("slice"):
                tv_key = "features." + ".".join(parts[2:])
                if tv_key in backbone:
                    state[k] = backbone[tv_key]
    missing = [
        k for k in expected if k not in state and not k.startswith("scaling_layer.")
    ]
    if missing:
        raise LPIPSUnavailableError(
            f"LPIPS weights incomplete for net={net!r}: missing {missing[:5]}"
            + (" ..." if len(missing) > 5 else "")
        )
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    model.eval().to(device)
    _CACHE[key] = model
    return model


def lpips(
    a: Any,
    b: Any,
    weights: str | os.PathLike | None = None,
    *,
    backbone_weights: str | os.PathLike | None = None,
    net: str = "alex",
    device: str = "cpu",
) -> float:
    """LPIPS distance between two ``(H, W, 3)`` images in ``[0, 1]`` (lower is better).

    Images are numpy arrays or torch tensors (channels last, like the other
    metrics here); they are mapped to ``[-1, 1]`` as LPIPS expects
    (``normalize=True``).  Raises :class:`LPIPSUnavailableError` when no
    ``weights`` path is given or ``lpips`` is not installed.
    """
    if weights is None:
        raise LPIPSUnavailableError(_need_weights_msg(net))
    model = load_lpips(weights, backbone_weights, net=net, device=device)
    import torch

    def to_tensor(x: Any) -> "torch.Tensor":
        t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
        if t.ndim != 3 or t.shape[-1] != 3:
            raise ValueError(f"LPIPS expects (H, W, 3) images, got shape {tuple(t.shape)}")
        return t.to(device=device, dtype=torch.float32).permute(2, 0, 1)[None]

    ta, tb = to_tensor(a), to_tensor(b)
    if ta.shape != tb.shape:
        raise ValueError(f"image shapes differ: {tuple(ta.shape)} vs {tuple(tb.shape)}")
    with torch.no_grad():
        return float(model(ta, tb, normalize=True).reshape(-1)[0])
