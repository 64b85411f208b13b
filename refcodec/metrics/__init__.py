"""Quality metrics for LGS evaluation (evaluation side only).

* image metrics: :func:`psnr` (optionally ROI via :func:`roi_mask`),
  :func:`ssim` (3DGS-compatible), :func:`mean_over_views`;
* rate-quality comparison: :func:`bd_rate`, :func:`bd_psnr` (Bjontegaard).

numpy only at import time; torch is imported lazily (torch inputs).
This package must not depend on ``refcodec.container`` / ``refcodec.format.decode``.
"""
from refcodec.metrics.bd import BDFallbackWarning, bd_psnr, bd_rate
from refcodec.metrics.image import (
    gaussian_window,
    mean_over_views,
    psnr,
    roi_mask,
    ssim,
    ssim_map,
)

__all__ = [
    "psnr",
    "ssim",
    "ssim_map",
    "roi_mask",
    "gaussian_window",
    "mean_over_views",
    "bd_rate",
    "bd_psnr",
    "BDFallbackWarning",
]
