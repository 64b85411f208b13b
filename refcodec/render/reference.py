"""A plain per-pixel reference renderer (float64 numpy/Python loops; tiny scenes only).

It implements, one Gaussian and one pixel at a time, exactly the math documented in
:mod:`refcodec.render.torch_renderer` (3DGS image formation); the tile renderer is tested
against it.  Not differentiable and slow (about N * W * H Python iterations).
"""
from __future__ import annotations

import math

import numpy as np

from refcodec.quaternion import to_matrix

from refcodec.render.sh import sh_basis, num_coeffs

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
T_MIN = 1e-4
EPS2D = 0.3


def _np(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def project_one(mean, log_scale, quat, camera, near=0.01, far=1e10, tile_size=16):
    """Projection of one Gaussian: dict(mean2d, conic (A, B, C), depth, radius, rect) or None if culled."""
    V = np.asarray(camera.viewmat, dtype=np.float64)
    Rv, tv = V[:3, :3], V[:3, 3]
    W, H, fx, fy, cx, cy = camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy
    x, y, z = Rv @ mean + tv
    if not (near < z < far):
        return None
    R = to_matrix(np.asarray(quat, np.float64))
    S = np.diag(np.exp(log_scale))
    Sigma = R @ S @ S.T @ R.T
    Sigma_c = Rv @ Sigma @ Rv.T
    tan_fovx, tan_fovy = 0.5 * W / fx, 0.5 * H / fy
    txz = min((W - cx) / fx + 0.3 * tan_fovx, max(-(cx / fx + 0.3 * tan_fovx), x / z))
    tyz = min((H - cy) / fy + 0.3 * tan_fovy, max(-(cy / fy + 0.3 * tan_fovy), y / z))
    J = np.array([[fx / z, 0.0, -fx * txz / z], [0.0, fy / z, -fy * tyz / z]])
    cov = J @ Sigma_c @ J.T + EPS2D * np.eye(2)
    a, b, c = cov[0, 0], cov[0, 1], cov[1, 1]
    det = a * c - b * b
    if det <= 0:
        return None
    conic = (c / det, -b / det, a / det)
    mx, my = fx * x / z + cx, fy * y / z + cy
    mid = 0.5 * (a + c)
    lam = mid + math.sqrt(max(0.1, mid * mid - det))
    r = math.ceil(3.0 * math.sqrt(lam))
    T = tile_size
    gw, gh = (W + T - 1) // T, (H + T - 1) // T
    qx, qy = mx - 0.5, my - 0.5  # 3DGS pixel coordinates (pixel centres at integers)
    x0 = min(gw, max(0, math.floor((qx - r) / T)))
    x1 = min(gw, max(0, math.floor((qx + r + T - 1) / T)))
    y0 = min(gh, max(0, math.floor((qy - r) / T)))
    y1 = min(gh, max(0, math.floor((qy + r + T - 1) / T)))
    if x1 <= x0 or y1 <= y0:
        return None
    return {"mean2d": (mx, my), "conic": conic, "depth": z, "radius": r, "rect": (x0, y0, x1, y1)}


def render_reference(means, log_scales, quats, opacity_logits, sh_coeffs, camera, background=(0.0, 0.0, 0.0),
                     sh_degree=None, near=0.01, far=1e10, tile_size=16, colors=None):
    """Returns dict(rgb (H, W, 3), alpha (H, W)) as float64 numpy arrays."""
    means, log_scales, quats = _np(means), _np(log_scales), _np(quats)
    logits = _np(opacity_logits)
    campos = np.asarray(camera.position, dtype=np.float64)
    gs = []
    for i in range(len(means)):
        p = project_one(means[i], log_scales[i], quats[i], camera, near, far, tile_size)
        if p is None:
            continue
        if colors is not None:
            col = _np(colors)[i]
        else:
            coeffs = _np(sh_coeffs)[i]
            deg = int(round(math.sqrt(coeffs.shape[0]))) - 1 if sh_degree is None else sh_degree
            d = means[i] - campos
            d = d / math.sqrt(float(d @ d))
            basis = sh_basis(deg, d[None])[0]
            col = np.maximum(basis @ coeffs[: num_coeffs(deg)] + 0.5, 0.0)
        p["color"] = col
        p["opacity"] = 1.0 / (1.0 + math.exp(-logits[i]))
        p["index"] = i
        gs.append(p)
    gs.sort(key=lambda g: (g["depth"], g["index"]))  # front to back, stable

    H, W, T = camera.height, camera.width, tile_size
    bg = np.asarray(background, dtype=np.float64).reshape(3)
    rgb = np.zeros((H, W, 3))
    alpha_img = np.zeros((H, W))
    for j in range(H):
        for i in range(W):
            tx, ty = i // T, j // T
            trans = 1.0
            acc = np.zeros(3)
            for g in gs:
                x0, y0, x1, y1 = g["rect"]
                if not (x0 <= tx < x1 and y0 <= ty < y1):
                    continue
                dx, dy = (i + 0.5) - g["mean2d"][0], (j + 0.5) - g["mean2d"][1]
                A, B, C = g["conic"]
                power = -0.5 * (A * dx * dx + C * dy * dy) - B * dx * dy
                alpha = min(ALPHA_MAX, g["opacity"] * math.exp(power))
                if alpha <= ALPHA_MIN:
                    continue
                test_t = trans * (1.0 - alpha)
                if test_t < T_MIN:
                    break
                acc += g["color"] * alpha * trans
                trans = test_t
            rgb[j, i] = acc + trans * bg
            alpha_img[j, i] = 1.0 - trans
    return {"rgb": rgb, "alpha": alpha_img}


def removal_errors_reference(means, log_scales, quats, opacity_logits, sh_coeffs, camera,
                             background=(0.0, 0.0, 0.0), **kwargs) -> np.ndarray:
    """(N,) per Gaussian, the sum over pixels and channels of the squared change of the image
    when that Gaussian alone is removed: one :func:`render_reference` per Gaussian (the plain
    definition behind ``render_torch(..., return_removal=True)``; tiny scenes only)."""
    arrays = [_np(a) for a in (means, log_scales, quats, opacity_logits, sh_coeffs)]
    full = render_reference(*arrays, camera, background, **kwargs)["rgb"]
    out = np.zeros(len(arrays[0]))
    for i in range(len(out)):
        rest = [np.delete(a, i, axis=0) for a in arrays]
        out[i] = float(((render_reference(*rest, camera, background, **kwargs)["rgb"] - full) ** 2).sum())
    return out
