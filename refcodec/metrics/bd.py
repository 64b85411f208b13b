"""Bjontegaard delta metrics (BD-rate, BD-PSNR) between two rate-quality curves.

Curve ``a`` is the anchor, curve ``b`` the test.  ``rates`` are positive
(bytes, bits, bpp... the unit cancels out, but both curves must use the same
one); ``psnr`` is any "higher is better" quality value in dB or otherwise
(PSNR, ROI-PSNR, SSIM...).  Points may be given in any order.

* :func:`bd_rate` -- average rate change of ``b`` relative to ``a`` at equal
  quality, in percent (negative: ``b`` needs fewer bytes).  The log-rate is
  interpolated as a function of quality for each curve, both interpolants are
  integrated over the overlapping quality interval, and
  ``100 * (exp(mean difference) - 1)`` is returned.
* :func:`bd_psnr` -- average quality difference ``b - a`` at equal rate,
  integrated over the overlapping log-rate interval.

Interpolation (``method``):

* ``"cubic"`` (default): the classic VCEG-M33 method (G. Bjontegaard,
  "Calculation of average PSNR differences between RD-curves", 2001): a
  least-squares cubic polynomial per curve, integrated exactly.  Needs at
  least 4 points per curve.
* ``"pchip"``: piecewise cubic Hermite interpolation (Fritsch-Carlson
  monotone slopes, same as ``scipy.interpolate.PchipInterpolator``), as in the
  JCT-VC / JVET common-test-conditions spreadsheets (JCTVC-L1100,
  JVET-T2010).  Needs at least 2 points per curve; with exactly 2 points it is
  linear interpolation.

Fallback rule for few points: with ``method="cubic"``, if *either* curve has
fewer than 4 points, *both* curves are interpolated with ``"pchip"`` instead
(piecewise cubic for 3 points, linear for 2) and a :class:`BDFallbackWarning`
is issued.  Fewer than 2 points in a curve is a ``ValueError``.

Non-overlapping curves (the integration interval is empty or a single point):
by default a ``ValueError`` naming both ranges is raised
(``on_no_overlap="raise"``).  With ``on_no_overlap="nan"`` the function
returns ``nan`` instead and issues a ``RuntimeWarning`` carrying the same
reason (handy when filling result tables).

Other input errors (``ValueError``): mismatched lengths, non-positive or
non-finite rates, non-finite quality values (drop lossless / infinite-PSNR
points first), and repeated values of the abscissa within one curve (quality
for BD-rate, rate for BD-PSNR), which make the curve ill-defined.

Both functions are invariant to the logarithm base and to the rate unit.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

__all__ = ["bd_rate", "bd_psnr", "BDFallbackWarning"]

_METHODS = ("cubic", "pchip")


class BDFallbackWarning(UserWarning):
    """A curve had too few points for the requested interpolation method."""


# ----------------------------------------------------------------------------
# Interpolants, each returning the exact integral over [lo, hi]
# ----------------------------------------------------------------------------

def _cubic_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    # Centre the abscissa for conditioning; the integral is unchanged.
    c = float(x.mean())
    p = np.polyfit(x - c, y, 3)
    pi = np.polyint(p)
    return float(np.polyval(pi, hi - c) - np.polyval(pi, lo - c))


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node derivatives of the monotone PCHIP (as scipy's PchipInterpolator)."""
    h = np.diff(x)
    m = np.diff(y) / h
    n = x.shape[0]
    if n == 2:
        return np.array([m[0], m[0]])
    d = np.zeros(n)
    # Interior: weighted harmonic mean of neighbouring secants (Fritsch-Butland),
    # zero at local extrema or flat segments.
    w1 = 2.0 * h[1:] + h[:-1]
    w2 = h[1:] + 2.0 * h[:-1]
    sm = np.sign(m)
    flat = (sm[1:] != sm[:-1]) | (m[1:] == 0) | (m[:-1] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        whmean = (w1 / m[:-1] + w2 / m[1:]) / (w1 + w2)
        d[1:-1] = np.where(flat, 0.0, 1.0 / whmean)

    def edge(h0: float, h1: float, m0: float, m1: float) -> float:
        # Non-centred three-point formula, kept shape preserving.
        e = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(e) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(e) > 3.0 * abs(m0):
            return 3.0 * m0
        return float(e)

    d[0] = edge(h[0], h[1], m[0], m[1])
    d[-1] = edge(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    d = _pchip_slopes(x, y)
    h = np.diff(x)
    m = np.diff(y) / h
    total = 0.0
    for k in range(x.shape[0] - 1):
        a = max(lo, x[k])
        b = min(hi, x[k + 1])
        if b <= a:
            continue
        # Hermite cubic on [x_k, x_k+1] in local t = x - x_k:
        # y_k + d_k t + c2 t^2 + c3 t^3
        c2 = (3.0 * m[k] - 2.0 * d[k] - d[k + 1]) / h[k]
        c3 = (d[k] + d[k + 1] - 2.0 * m[k]) / (h[k] * h[k])

        def prim(t: float, k=k, c2=c2, c3=c3) -> float:
            return t * (y[k] + t * (d[k] / 2.0 + t * (c2 / 3.0 + t * c3 / 4.0)))

        total += prim(b - x[k]) - prim(a - x[k])
    return float(total)


# ----------------------------------------------------------------------------
# Shared driver
# ----------------------------------------------------------------------------

def _curve(rates: Sequence[float], quality: Sequence[float], name: str):
    r = np.asarray(rates, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise ValueError(f"curve {name}: {r.size} rates but {q.size} quality values")
    if r.size < 2:
        raise ValueError(f"curve {name}: need at least 2 points, got {r.size}")
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"curve {name}: rates must be finite and > 0")
    if not np.all(np.isfinite(q)):
        raise ValueError(
            f"curve {name}: quality values must be finite "
            "(drop lossless / infinite-PSNR points)"
        )
    return np.log(r), q


def _bd(x_a, y_a, x_b, y_b, method, on_no_overlap, what):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if on_no_overlap not in ("raise", "nan"):
        raise ValueError(f"on_no_overlap must be 'raise' or 'nan', got {on_no_overlap!r}")
    for x, name in ((x_a, "a"), (x_b, "b")):
        if np.unique(x).size != x.size:
            raise ValueError(f"curve {name}: repeated {what} values; the curve is ill-defined")

    lo = max(x_a.min(), x_b.min())
    hi = min(x_a.max(), x_b.max())
    if not hi > lo:
        reason = (
            f"curves do not overlap in {what}: a spans [{x_a.min():.6g}, {x_a.max():.6g}], "
            f"b spans [{x_b.min():.6g}, {x_b.max():.6g}]"
        )
        if on_no_overlap == "raise":
            raise ValueError(reason)
        warnings.warn(reason + "; returning nan", RuntimeWarning, stacklevel=3)
        return math.nan

    if method == "cubic" and min(x_a.size, x_b.size) < 4:
        warnings.warn(
            f"cubic BD fit needs >= 4 points per curve (got {x_a.size} and {x_b.size}); "
            "using pchip for both curves (linear for 2 points)",
            BDFallbackWarning,
            stacklevel=3,
        )
        method = "pchip"

    if method == "cubic":
        integ = _cubic_integral
    else:
        integ = _pchip_integral
        ia, ib = np.argsort(x_a), np.argsort(x_b)
        x_a, y_a, x_b, y_b = x_a[ia], y_a[ia], x_b[ib], y_b[ib]
    int_a = integ(x_a, y_a, lo, hi)
    int_b = integ(x_b, y_b, lo, hi)
    return (int_b - int_a) / (hi - lo)


def bd_rate(
    rates_a: Sequence[float],
    psnr_a: Sequence[float],
    rates_b: Sequence[float],
    psnr_b: Sequence[float],
    method: str = "cubic",
    on_no_overlap: str = "raise",
) -> float:
    """BD-rate of curve ``b`` against anchor ``a``, in percent.

    ``-50.0`` means ``b`` needs half the rate of ``a`` for the same quality,
    averaged (in the log domain) over the quality range both curves cover.
    See the module docstring for ``method``, the few-points fallback and
    ``on_no_overlap``.
    """
    lr_a, q_a = _curve(rates_a, psnr_a, "a")
    lr_b, q_b = _curve(rates_b, psnr_b, "b")
    avg = _bd(q_a, lr_a, q_b, lr_b, method, on_no_overlap, "quality")
    if math.isnan(avg):
        return math.nan
    return float((math.exp(avg) - 1.0) * 100.0)


def bd_psnr(
    rates_a: Sequence[float],
    psnr_a: Sequence[float],
    rates_b: Sequence[float],
    psnr_b: Sequence[float],
    method: str = "cubic",
    on_no_overlap: str = "raise",
) -> float:
    """BD-PSNR: average quality difference ``b - a`` at equal rate (dB).

    Averaged over the log-rate range both curves cover.  See the module
    docstring for ``method``, the few-points fallback and ``on_no_overlap``.
    """
    lr_a, q_a = _curve(rates_a, psnr_a, "a")
    lr_b, q_b = _curve(rates_b, psnr_b, "b")
    return float(_bd(lr_a, q_a, lr_b, q_b, method, on_no_overlap, "log-rate"))
