"""Image-quality metrics: PSNR (optionally restricted to a region), SSIM.

Conventions
-----------
* Images are float arrays of shape ``(H, W, C)`` (channels last, usually
  ``C == 3``) or ``(H, W)``; numpy arrays and torch tensors are both accepted
  (tensors are detached and copied to CPU).  Note that 3DGS code usually keeps
  renders as ``(3, H, W)`` tensors: permute them (``t.permute(1, 2, 0)``)
  before calling these functions; the layout is never guessed.
* All arithmetic is done in float64 on numpy; every function returns a Python
  ``float``.
* Nothing is clamped: callers evaluating renders the 3DGS way should clamp
  renders to ``[0, 1]`` first (3DGS does ``render.clamp(0, 1)``).
* ``max_val`` is the peak signal value / data range (1.0 for ``[0, 1]``
  images, 255 for 8-bit images).

Region of interest (ROI) evaluation: render the region alone from the
*original* scene, take its alpha (accumulated opacity) channel, and build a
pixel mask with :func:`roi_mask`; pass that mask to :func:`psnr` (or
:func:`ssim`) for every decoded variant so all variants are scored on the same
pixels.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["psnr", "ssim", "ssim_map", "roi_mask", "mean_over_views", "gaussian_window"]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _as_float64(x: Any, name: str) -> np.ndarray:
    if _is_torch(x):
        import torch  # only reached when the caller already uses torch

        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    return arr


def _image_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _as_float64(a, "a")
    b = _as_float64(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a = a[:, :, None]
        b = b[:, :, None]
    elif a.ndim != 3:
        raise ValueError(
            f"images must be (H, W) or (H, W, C) (channels last), got shape {a.shape}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"empty image, shape {a.shape}")
    return a, b


def _weights(mask: Any, hw: tuple[int, int]) -> np.ndarray:
    """Mask -> float64 (H, W) pixel weights (bool -> 0/1)."""
    m = _as_float64(mask, "mask")
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != hw:
        raise ValueError(f"mask shape {m.shape} does not match image (H, W) = {hw}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("mask weights must be finite and non-negative")
    return m


def roi_mask(alpha: Any, threshold: float = 0.5) -> np.ndarray:
    """Boolean ROI pixel mask from an alpha (accumulated opacity) image.

    ``alpha`` is ``(H, W)`` or ``(H, W, 1)`` (numpy or torch).  A pixel is in
    the region when ``alpha > threshold`` (strictly).  Use the alpha of the
    region rendered from the *original* (uncompressed) scene, so the mask does
    not depend on the variant being scored.
    """
    a = _as_float64(alpha, "alpha")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2:
        raise ValueError(f"alpha must be (H, W) or (H, W, 1), got shape {a.shape}")
    return a > threshold


def psnr(a: Any, b: Any, mask: Any = None, max_val: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(max_val**2 / MSE)``.

    MSE is the mean of the squared difference over all pixels and channels (as
    in the 3DGS evaluation).  With ``mask`` (``(H, W)`` bool or non-negative
    float weights) the MSE is the mask-weighted mean over pixels (all
    channels), i.e. ROI-PSNR; a bool mask simply selects pixels.

    Returns ``inf`` when the (selected) pixels are identical.  Raises
    ``ValueError`` for mismatched shapes or a mask that selects nothing.
    NaNs in the inputs give NaN.
    """
    a, b = _image_pair(a, b)
    if max_val <= 0:
        raise ValueError("max_val must be > 0")
    sq = (a - b) ** 2
    if mask is None:
        mse = float(sq.mean())
    else:
        w = _weights(mask, a.shape[:2])
        wsum = float(w.sum())
        if wsum <= 0:
            raise ValueError("mask selects no pixels (all weights are zero)")
        mse = float((sq.mean(axis=2) * w).sum() / wsum)
    if math.isnan(mse):
        return math.nan
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(max_val * max_val / mse)


# ----------------------------------------------------------------------------
# SSIM
# ----------------------------------------------------------------------------

def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian taps (the 2-D window is its outer product).

    Same as 3DGS's ``gaussian(window_size, sigma)`` and, for size 11 / sigma
    1.5, the kernel of ``scipy.ndimage.gaussian_filter(sigma=1.5,
    truncate=3.5)`` used by ``skimage.metrics.structural_similarity``.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError("window size must be a positive odd integer")
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


try:  # optional speed-up (about 3x); results agree to rounding
    from scipy import ndimage as _ndimage
except ImportError:  # pragma: no cover - scipy is not a hard dependency
    _ndimage = None


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with taps ``g`` over axes 0 and 1, 'valid' part."""
    k = g.shape[0]
    if _ndimage is not None:
        r = k // 2
        y = _ndimage.correlate1d(x, g, axis=0, mode="constant")
        y = _ndimage.correlate1d(y, g, axis=1, mode="constant")
        return y[r : x.shape[0] - r, r : x.shape[1] - r]
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    tmp = np.zeros((h,) + x.shape[1:], dtype=np.float64)
    for i in range(k):
        tmp += g[i] * x[i : i + h]
    out = np.zeros((h, w) + x.shape[2:], dtype=np.float64)
    for j in range(k):
        out += g[j] * tmp[:, j : j + w]
    return out


def ssim_map(
    a: Any,
    b: Any,
    max_val: float = 1.0,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: str = "zero",
) -> np.ndarray:
    """Per-pixel, per-channel SSIM map, shape ``(H', W', C)``.

    ``padding="zero"`` (default) reproduces the 3DGS evaluation
    (``utils/loss_utils.ssim``: ``conv2d`` with zero padding
    ``window_size // 2``, so the map is ``(H, W, C)`` and border windows see
    zeros).  ``padding="valid"`` keeps only windows fully inside the image
    (Wang et al. 2004 / ``skimage.metrics.structural_similarity`` with
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``), map
    shape ``(H - ws + 1, W - ws + 1, C)``.
    """
    a, b = _image_pair(a, b)
    if max_val <= 0:
        raise ValueError("max_val must be > 0")
    g = gaussian_window(window_size, sigma)
    r = window_size // 2
    if padding == "zero":
        pad = ((r, r), (r, r), (0, 0))
        a = np.pad(a, pad)
        b = np.pad(b, pad)
    elif padding == "valid":
        if a.shape[0] < window_size or a.shape[1] < window_size:
            raise ValueError(
                f"padding='valid' needs images of at least {window_size}x{window_size}, "
                f"got {a.shape[0]}x{a.shape[1]}"
            )
    else:
        raise ValueError(f"padding must be 'zero' or 'valid', got {padding!r}")

    mu_a = _filter_valid(a, g)
    mu_b = _filter_valid(b, g)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_aa
    var_b = _filter_valid(b * b, g) - mu_bb
    cov = _filter_valid(a * b, g) - mu_ab
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    return ((2.0 * mu_ab + c1) * (2.0 * cov + c2)) / (
        (mu_aa + mu_bb + c1) * (var_a + var_b + c2)
    )


def ssim(
    a: Any,
    b: Any,
    mask: Any = None,
    max_val: float = 1.0,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: str = "zero",
) -> float:
    """Structural similarity (Wang et al. 2004), mean over pixels and channels.

    Gaussian window 11 / sigma 1.5, ``C1 = (0.01 max_val)^2``,
    ``C2 = (0.03 max_val)^2``, population (not sample) statistics, computed
    per channel and averaged.  The default ``padding="zero"`` matches the
    3DGS ``metrics.py`` numbers; ``padding="valid"`` matches scikit-image /
    the original MATLAB code (see :func:`ssim_map`).

    ``mask`` (``(H, W)`` bool or float weights) gives the weighted mean of the
    SSIM map over the region (ROI-SSIM); windows near the region border still
    see pixels outside it.  With ``padding="valid"`` the mask is cropped like
    the map.
    """
    m = ssim_map(
        a, b, max_val, window_size=window_size, sigma=sigma, k1=k1, k2=k2, padding=padding
    )
    if mask is None:
        return float(m.mean())
    a_hw = (m.shape[0], m.shape[1])
    if padding == "valid":
        r = window_size // 2
        w = _as_float64(mask, "mask")
        if w.ndim == 3 and w.shape[2] == 1:
            w = w[:, :, 0]
        if w.shape != (a_hw[0] + 2 * r, a_hw[1] + 2 * r):
            raise ValueError(f"mask shape {w.shape} does not match the image")
        w = _weights(w[r:-r, r:-r], a_hw)
    else:
        w = _weights(mask, a_hw)
    wsum = float(w.sum())
    if wsum <= 0:
        raise ValueError("mask selects no pixels (all weights are zero)")
    return float((m.mean(axis=2) * w).sum() / wsum)


def mean_over_views(
    metric: Callable[..., float],
    list_a: Sequence[Any],
    list_b: Sequence[Any],
    masks: Sequence[Any] | None = None,
    return_per_view: bool = False,
    **kwargs: Any,
):
    """Arithmetic mean of ``metric(a_i, b_i, **kwargs)`` over paired views.

    This is how 3DGS reports PSNR/SSIM/LPIPS: the metric per test view, then
    the plain mean (for PSNR, the mean of per-view dB values, not the PSNR of
    the pooled MSE).  ``masks`` (optional, one per view) is passed as
    ``mask=``.  A view with infinite PSNR makes the mean ``inf``.
    With ``return_per_view=True`` returns ``(mean, [values...])``.
    """
    list_a = list(list_a)
    list_b = list(list_b)
    if len(list_a) != len(list_b):
        raise ValueError(f"view count differs: {len(list_a)} vs {len(list_b)}")
    if not list_a:
        raise ValueError("no views given")
    if masks is not None:
        masks = list(masks)
        if len(masks) != len(list_a):
            raise ValueError(f"{len(masks)} masks for {len(list_a)} views")
    values = []
    for i, (a, b) in enumerate(zip(list_a, list_b)):
        if masks is not None:
            values.append(float(metric(a, b, mask=masks[i], **kwargs)))
        else:
            values.append(float(metric(a, b, **kwargs)))
    mean = float(np.mean(values))
    return (mean, values) if return_per_view else mean
