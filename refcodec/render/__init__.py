"""Rendering of 3DGS scenes (evaluation side; needs torch).  Never imported by the decoder.

Public API::

    from refcodec.render import render, save_png, Camera, orbit_cameras
    cams = orbit_cameras(scene.positions, n_views=8, width=256, height=256)
    out = render(scene, cams[0])            # dict(rgb (H, W, 3), alpha (H, W)) torch tensors
    save_png("view.png", out["rgb"])

Backends: ``"torch"`` (:mod:`refcodec.render.torch_renderer`, pure PyTorch, CPU or GPU,
differentiable), ``"gsplat"`` (CUDA only, needs the ``gsplat`` package), ``"auto"`` (gsplat
when CUDA and gsplat are available, else torch).
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from refcodec.render.camera import Camera, load_cameras_json, load_colmap_text, look_at, orbit_cameras
from refcodec.render.sh import sh_coeffs_from_ply, sh_to_color

if TYPE_CHECKING:
    import torch

__all__ = [
    "Camera", "load_cameras_json", "load_colmap_text", "orbit_cameras", "look_at",
    "GaussianTensors", "render", "render_views", "save_png", "to_uint8", "gsplat_available",
    "sh_coeffs_from_ply", "sh_to_color",
]


@dataclass
class GaussianTensors:
    """Scene parameters as torch tensors (the differentiable form of :class:`refcodec.format.scene.Scene`).

    means (N, 3), log_scales (N, 3), quats (N, 4) wxyz, opacity_logits (N,), sh (N, K, 3)
    coefficient-major (``sh[:, 0]`` is the DC term).
    """

    means: "torch.Tensor"
    log_scales: "torch.Tensor"
    quats: "torch.Tensor"
    opacity_logits: "torch.Tensor"
    sh: "torch.Tensor"

    @staticmethod
    def from_scene(scene, device=None, dtype=None, requires_grad: bool = False) -> "GaussianTensors":
        import torch
        dtype = dtype or torch.float32

        def t(a):
            x = torch.as_tensor(np.asarray(a), dtype=dtype, device=device).clone()
            return x.requires_grad_(requires_grad)

        return GaussianTensors(
            t(scene.positions), t(scene.scales), t(scene.rotations), t(scene.opacity),
            t(sh_coeffs_from_ply(scene.sh_dc, scene.sh_rest)),
        )

    @property
    def n(self) -> int:
        return self.means.shape[0]

    def parameters(self) -> list:
        return [self.means, self.log_scales, self.quats, self.opacity_logits, self.sh]


def _as_tensors(obj, device=None, dtype=None) -> GaussianTensors:
    if isinstance(obj, GaussianTensors):
        return obj
    if isinstance(obj, dict):
        import torch
        g = lambda *keys: next(obj[k] for k in keys if k in obj)  # noqa: E731
        means = torch.as_tensor(g("means", "positions"), dtype=dtype, device=device)
        if "sh" in obj:
            sh = torch.as_tensor(obj["sh"], dtype=means.dtype, device=means.device)
        else:
            dc = torch.as_tensor(obj["sh_dc"], dtype=means.dtype, device=means.device)
            rest = torch.as_tensor(obj.get("sh_rest", np.zeros((len(dc), 0))), dtype=means.dtype, device=means.device)
            sh = sh_coeffs_from_ply(dc, rest)
        cv = lambda x: torch.as_tensor(x, dtype=means.dtype, device=means.device)  # noqa: E731
        return GaussianTensors(means, cv(g("log_scales", "scales")), cv(g("quats", "rotations")),
                               cv(g("opacity_logits", "opacity")), sh)
    if hasattr(obj, "positions") and hasattr(obj, "sh_dc"):  # refcodec.format.scene.Scene
        return GaussianTensors.from_scene(obj, device=device, dtype=dtype)
    raise TypeError(f"cannot render a {type(obj).__name__}; pass a Scene, GaussianTensors or dict")


def gsplat_available() -> bool:
    try:
        import torch
        if not torch.cuda.is_available():
            return False
        import gsplat  # noqa: F401
        return True
    except Exception:
        return False


def render(scene_or_tensors, camera: Camera, backend: str = "auto", background=(0.0, 0.0, 0.0),
           return_depth: bool = False, device=None, num_threads: int | None = 1, **kwargs) -> dict:
    """Render one view.  Returns dict(rgb (H, W, 3), alpha (H, W)) as torch tensors (values of
    ``rgb`` are not clamped to [0, 1]; 3DGS colours can exceed 1).  With ``return_depth`` also
    ``depth`` (H, W), the alpha-weighted mean view-space depth (torch backend).

    ``scene_or_tensors``: a :class:`refcodec.format.scene.Scene` (numpy), :class:`GaussianTensors`
    (differentiable), or a dict with those field names.  ``backend``: ``"auto"``, ``"torch"``
    or ``"gsplat"``.  Extra keyword arguments go to the backend (torch: ``tile_size``,
    ``chunk``, ``block_size``, ``near``, ``far``, ``sh_degree``).

    ``num_threads`` (torch backend on CPU): torch intra-op threads during the call, restored
    afterwards; ``None`` leaves torch's setting alone.  The default 1 is deliberate: the
    renderer's tensors are small, and on the shared 2-core dev machine torch's default of 2
    OpenMP threads was 4-6x *slower* (threads spin-waiting for a descheduled sibling).
    """
    if backend not in ("auto", "torch", "gsplat"):
        raise ValueError(f"unknown backend {backend!r}; use 'auto', 'torch' or 'gsplat'")
    if backend == "gsplat" and not gsplat_available():
        raise RuntimeError("backend='gsplat' needs CUDA (torch.cuda.is_available()) and the gsplat "
                           "package; use backend='torch' for the pure-PyTorch renderer")
    use_gsplat = backend == "gsplat" or (backend == "auto" and gsplat_available() and not return_depth)
    if device is None and use_gsplat:
        device = "cuda"
    g = _as_tensors(scene_or_tensors, device=device)
    if use_gsplat:
        return _render_gsplat(g, camera, background, **kwargs)
    from refcodec.render.torch_renderer import render_torch
    if g.means.device.type != "cpu":
        num_threads = None
    out = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, camera,
                       background=background, return_depth=return_depth, num_threads=num_threads, **kwargs)
    res = {"rgb": out["rgb"], "alpha": out["alpha"]}
    if return_depth:
        res["depth"] = out["depth"]
    return res


# ---------------------------------------------------------------------------------------------
# gsplat backend (CUDA only).  NOT exercised by the CPU test-suite; kept minimal on purpose.
# ---------------------------------------------------------------------------------------------
def _render_gsplat(g: GaussianTensors, camera: Camera, background=(0.0, 0.0, 0.0), sh_degree=None,
                   tile_size: int = 16, near: float = 0.01, far: float = 1e10, **_ignored) -> dict:
    import torch
    import gsplat

    dev = torch.device("cuda")
    f32 = lambda x: x.to(device=dev, dtype=torch.float32)  # noqa: E731
    K = sh_degree if sh_degree is not None else int(round(g.sh.shape[1] ** 0.5)) - 1
    viewmat = torch.as_tensor(camera.viewmat, dtype=torch.float32, device=dev)[None]
    Ks = torch.as_tensor(camera.K, dtype=torch.float32, device=dev)[None]
    colors, alphas, _meta = gsplat.rasterization(
        means=f32(g.means), quats=f32(g.quats), scales=torch.exp(f32(g.log_scales)),
        opacities=torch.sigmoid(f32(g.opacity_logits)), colors=f32(g.sh), viewmats=viewmat, Ks=Ks,
        width=camera.width, height=camera.height, near_plane=near, far_plane=far, sh_degree=K,
        tile_size=tile_size, backgrounds=torch.as_tensor(background, dtype=torch.float32, device=dev)[None],
        packed=False, rasterize_mode="classic",
    )
    return {"rgb": colors[0], "alpha": alphas[0, ..., 0]}


def render_views(scene_or_tensors, cameras, **kwargs) -> list:
    """``render`` for each camera (no grad); returns a list of dicts of tensors."""
    import torch
    g = _as_tensors(scene_or_tensors, device=kwargs.pop("device", None))
    with torch.no_grad():
        return [render(g, cam, **kwargs) for cam in cameras]


# ---------------------------------------------------------------------------------------------
# PNG output
# ---------------------------------------------------------------------------------------------
def to_uint8(img) -> np.ndarray:
    """Float image in [0, 1] (torch or numpy; (H, W), (H, W, 1|3|4)) -> uint8, rounded and clipped."""
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
    a = np.asarray(img, dtype=np.float64)
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def save_png(path, rgb) -> None:
    """Write a float image in [0, 1] ((H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA) or a uint8
    image as PNG.  Uses pillow when installed, else a minimal zlib PNG writer."""
    a = np.asarray(rgb) if not hasattr(rgb, "detach") else rgb.detach().cpu().numpy()
    img = a if a.dtype == np.uint8 else to_uint8(a)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"cannot write an image of shape {img.shape} as PNG")
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        Image.fromarray(np.ascontiguousarray(img)).save(os.fspath(path))
        return
    with open(path, "wb") as f:
        f.write(png_bytes(img))


def png_bytes(img: np.ndarray) -> bytes:
    """PNG encoding of a uint8 (H, W) / (H, W, 3) / (H, W, 4) array (8-bit, no filtering)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    color_type = {2: 0, 3: {3: 2, 4: 6}.get(img.shape[-1])}[img.ndim]
    rows = img.reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1).tobytes()  # filter 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
