"""Real spherical harmonics up to degree 3, exactly as INRIA 3DGS evaluates them.

``colour = sum_k basis_k(dir) * coeff_k + 0.5``, clamped at 0 (no upper clamp), where ``dir``
is the unit vector from the camera centre to the Gaussian mean.  The basis is the orthonormal
real SH basis in 3DGS's ordering and sign convention (``SH_C0`` ... ``SH_C3`` below).

Works on numpy arrays and on torch tensors (differentiable) alike.

Coefficient layouts
-------------------
* ``Scene`` / PLY layout: ``sh_dc`` (N, 3) and ``sh_rest`` (N, 3*(K-1)) channel-major
  (coefficients 1..K-1 of R, then of G, then of B).
* "coefficient-major" layout used here and by gsplat: ``coeffs`` (N, K, 3).
"""
from __future__ import annotations

import math

import numpy as np

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
         -0.4570457994644658, 1.445305721320277, -0.5900435899266435)

__all__ = ["SH_C0", "SH_C1", "SH_C2", "SH_C3", "num_coeffs", "degree_from_num_coeffs", "sh_basis",
           "sh_coeffs_from_ply", "sh_to_color", "rgb_to_sh_dc", "sh_dc_to_rgb"]


def num_coeffs(degree: int) -> int:
    return (degree + 1) ** 2


def degree_from_num_coeffs(k: int) -> int:
    d = int(round(math.sqrt(k))) - 1
    if d < 0 or d > 3 or (d + 1) ** 2 != k:
        raise ValueError(f"{k} SH coefficients is not a degree 0..3 set")
    return d


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def sh_basis(degree: int, dirs):
    """Real SH basis (..., K) for unit directions ``dirs`` (..., 3); K = (degree+1)^2."""
    if degree < 0 or degree > 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    if _is_torch(dirs):
        import torch
        stack = lambda xs: torch.stack(xs, dim=-1)  # noqa: E731
        ones = torch.ones_like(dirs[..., 0])
    else:
        dirs = np.asarray(dirs)
        stack = lambda xs: np.stack(xs, axis=-1)  # noqa: E731
        ones = np.ones_like(dirs[..., 0])
    out = [SH_C0 * ones]
    if degree > 0:
        x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
        if degree > 1:
            xx, yy, zz = x * x, y * y, z * z
            xy, yz, xz = x * y, y * z, x * z
            out += [SH_C2[0] * xy, SH_C2[1] * yz, SH_C2[2] * (2.0 * zz - xx - yy), SH_C2[3] * xz,
                    SH_C2[4] * (xx - yy)]
            if degree > 2:
                out += [SH_C3[0] * y * (3.0 * xx - yy), SH_C3[1] * xy * z, SH_C3[2] * y * (4.0 * zz - xx - yy),
                        SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy), SH_C3[4] * x * (4.0 * zz - xx - yy),
                        SH_C3[5] * z * (xx - yy), SH_C3[6] * x * (xx - 3.0 * yy)]
    return stack(out)


def sh_coeffs_from_ply(sh_dc, sh_rest):
    """(N, 3) + channel-major (N, 3*(K-1)) -> coefficient-major (N, K, 3)."""
    n = sh_dc.shape[0]
    k = sh_rest.shape[-1] // 3
    if sh_rest.shape[-1] != 3 * k:
        raise ValueError(f"sh_rest width {sh_rest.shape[-1]} is not a multiple of 3")
    if _is_torch(sh_dc):
        import torch
        rest = sh_rest.reshape(n, 3, k).transpose(1, 2)
        return torch.cat([sh_dc.reshape(n, 1, 3), rest.to(sh_dc.dtype)], dim=1)
    rest = np.asarray(sh_rest).reshape(n, 3, k).transpose(0, 2, 1)
    return np.concatenate([np.asarray(sh_dc).reshape(n, 1, 3), rest], axis=1)


def sh_to_color(coeffs, dirs, degree: int | None = None):
    """RGB (N, 3) = max(SH(dirs) . coeffs + 0.5, 0) for coeffs (N, K, 3), unit dirs (N, 3).

    ``degree`` defaults to the full degree of ``coeffs``; a lower one uses only the first
    ``(degree+1)^2`` coefficients (as 3DGS does while its active degree ramps up).
    """
    k = coeffs.shape[-2]
    if degree is None:
        degree = degree_from_num_coeffs(k)
    kk = num_coeffs(degree)
    basis = sh_basis(degree, dirs)  # (N, kk)
    c = coeffs[..., :kk, :]
    if _is_torch(coeffs):
        import torch
        rgb = torch.einsum("...k,...kc->...c", basis.to(c.dtype), c) + 0.5
        return torch.clamp_min(rgb, 0.0)
    rgb = np.einsum("...k,...kc->...c", basis, c) + 0.5
    return np.maximum(rgb, 0.0)


def sh_dc_to_rgb(sh_dc):
    """View-independent base colour of a DC coefficient (not clamped)."""
    return sh_dc * SH_C0 + 0.5


def rgb_to_sh_dc(rgb):
    return (rgb - 0.5) / SH_C0
