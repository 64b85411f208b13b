"""Tests for refcodec.metrics (PSNR / ROI-PSNR, SSIM, BD-rate / BD-PSNR)."""
from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from refcodec.metrics import (
    BDFallbackWarning,
    bd_psnr,
    bd_rate,
    mean_over_views,
    psnr,
    roi_mask,
    ssim,
    ssim_map,
)


def _pair(h=24, w=31, c=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, c))
    b = np.clip(a + noise * rng.standard_normal(a.shape), 0.0, 1.0)
    return a, b


# --------------------------------------------------------------------------- PSNR

def test_psnr_known_value_and_identical():
    a = np.zeros((4, 5, 3))
    b = np.full((4, 5, 3), 0.1)  # MSE = 0.01 -> 20 dB
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-12)
    assert psnr(a * 255, b * 255, max_val=255.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(b, b) == math.inf
    assert isinstance(psnr(a, b), float)


def test_psnr_matches_3dgs_formula_and_torch_input():
    torch = pytest.importorskip("torch")
    a, b = _pair()
    ta = torch.from_numpy(a).permute(2, 0, 1)[None]
    tb = torch.from_numpy(b).permute(2, 0, 1)[None]
    mse = ((ta - tb) ** 2).reshape(1, -1).mean(1)
    ref = float(20 * torch.log10(1.0 / torch.sqrt(mse)))  # 3DGS utils/image_utils.psnr
    assert psnr(a, b) == pytest.approx(ref, abs=1e-9)
    assert psnr(torch.from_numpy(a).float(), torch.from_numpy(b).float()) == pytest.approx(ref, abs=1e-4)


def test_psnr_mask_restricts_pixels():
    a, b = _pair()
    mask = np.zeros(a.shape[:2], bool)
    mask[5:15, 3:20] = True
    b2 = b.copy()
    b2[~mask] = 0.9  # garbage outside the ROI must not matter
    expected = psnr(a[5:15, 3:20], b[5:15, 3:20])
    assert psnr(a, b2, mask=mask) == pytest.approx(expected, abs=1e-12)
    # float mask of 0/1 == bool mask; float weights are a weighted mean
    assert psnr(a, b2, mask=mask.astype(np.float32)) == pytest.approx(expected, abs=1e-12)
    assert psnr(a, b, mask=np.full(mask.shape, 0.3)) == pytest.approx(psnr(a, b), abs=1e-12)
    # identical inside the ROI -> inf even if different outside
    assert psnr(a, np.where(mask[..., None], a, 0.0), mask=mask) == math.inf


def test_psnr_errors():
    a, b = _pair()
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, b[:-1])
    with pytest.raises(ValueError, match="no pixels"):
        psnr(a, b, mask=np.zeros(a.shape[:2], bool))
    with pytest.raises(ValueError, match="mask shape"):
        psnr(a, b, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError):
        psnr(a[None], b[None])


def test_roi_mask_threshold():
    alpha = np.array([[0.0, 0.5, 0.51], [1.0, 0.2, 0.9]])
    np.testing.assert_array_equal(roi_mask(alpha), [[False, False, True], [True, False, True]])
    np.testing.assert_array_equal(roi_mask(alpha[..., None], threshold=0.1).shape, (2, 3))
    assert roi_mask(alpha).dtype == bool


# --------------------------------------------------------------------------- SSIM

def _direct_ssim_valid(a, b, c1=1e-4, c2=9e-4):
    """Plain, loop-based SSIM of Wang et al.: every full 11x11 Gaussian window."""
    x = np.arange(11) - 5
    g = np.exp(-(x ** 2) / (2 * 1.5 ** 2))
    win = np.outer(g, g)
    win /= win.sum()
    h, w, c = a.shape
    vals = []
    for ch in range(c):
        for i in range(h - 10):
            for j in range(w - 10):
                pa = a[i:i + 11, j:j + 11, ch]
                pb = b[i:i + 11, j:j + 11, ch]
                ma, mb = (win * pa).sum(), (win * pb).sum()
                va = (win * (pa - ma) ** 2).sum()
                vb = (win * (pb - mb) ** 2).sum()
                cov = (win * (pa - ma) * (pb - mb)).sum()
                vals.append(((2 * ma * mb + c1) * (2 * cov + c2))
                            / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


@pytest.fixture(params=["default", "numpy-only"])
def filter_backend(request, monkeypatch):
    """Run SSIM tests with the scipy fast path (if present) and the pure-numpy path."""
    if request.param == "numpy-only":
        import refcodec.metrics.image as image_mod
        monkeypatch.setattr(image_mod, "_ndimage", None)
    return request.param


def test_ssim_valid_matches_direct_loop(filter_backend):
    a, b = _pair(h=16, w=19, noise=0.1, seed=1)
    assert ssim(a, b, padding="valid") == pytest.approx(_direct_ssim_valid(a, b), abs=1e-12)


def test_ssim_valid_matches_skimage_formula_via_scipy(filter_backend):
    """skimage.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1) recomputed with
    scipy.ndimage.gaussian_filter (reflect mode) + border crop, as skimage does."""
    ndimage = pytest.importorskip("scipy.ndimage")
    a, b = _pair(h=40, w=33, noise=0.08, seed=2)
    vals = []
    for ch in range(3):
        x, y = a[..., ch], b[..., ch]
        f = lambda im: ndimage.gaussian_filter(im, sigma=1.5, truncate=3.5)
        ux, uy = f(x), f(y)
        vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
        s = ((2 * ux * uy + 1e-4) * (2 * vxy + 9e-4)) / ((ux ** 2 + uy ** 2 + 1e-4) * (vx + vy + 9e-4))
        vals.append(s[5:-5, 5:-5].mean())
    assert ssim(a, b, padding="valid") == pytest.approx(float(np.mean(vals)), abs=1e-12)


def test_ssim_zero_padding_matches_3dgs_conv2d(filter_backend):
    """Default padding reproduces gaussian-splatting utils/loss_utils.ssim."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a, b = _pair(h=23, w=29, noise=0.07, seed=3)
    t1 = torch.from_numpy(a).permute(2, 0, 1)[None]
    t2 = torch.from_numpy(b).permute(2, 0, 1)[None]
    x = torch.arange(11, dtype=torch.float64)
    g = torch.exp(-((x - 5) ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum())[:, None]
    window = (g @ g.t())[None, None].expand(3, 1, 11, 11).contiguous()
    conv = lambda im: F.conv2d(im, window, padding=5, groups=3)
    mu1, mu2 = conv(t1), conv(t2)
    s1 = conv(t1 * t1) - mu1 ** 2
    s2 = conv(t2 * t2) - mu2 ** 2
    s12 = conv(t1 * t2) - mu1 * mu2
    m = ((2 * mu1 * mu2 + 1e-4) * (2 * s12 + 9e-4)) / ((mu1 ** 2 + mu2 ** 2 + 1e-4) * (s1 + s2 + 9e-4))
    assert ssim(a, b) == pytest.approx(float(m.mean()), abs=1e-12)
    assert ssim(t1[0].permute(1, 2, 0), t2[0].permute(1, 2, 0)) == pytest.approx(float(m.mean()), abs=1e-12)
    assert ssim_map(a, b).shape == a.shape


def test_ssim_optional_skimage():
    skm = pytest.importorskip("skimage.metrics")
    a, b = _pair(h=32, w=32, seed=4)
    ref = skm.structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False)
    assert ssim(a, b, padding="valid") == pytest.approx(ref, abs=1e-9)


def test_ssim_properties_and_mask():
    a, b = _pair(seed=5)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b) < 1.0
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    full = np.ones(a.shape[:2], bool)
    assert ssim(a, b, mask=full) == pytest.approx(ssim(a, b), abs=1e-12)
    assert ssim(a, b, mask=full, padding="valid") == pytest.approx(ssim(a, b, padding="valid"), abs=1e-12)
    mask = np.zeros(a.shape[:2], bool)
    mask[:, :10] = True
    m = ssim_map(a, b).mean(axis=2)
    assert ssim(a, b, mask=mask) == pytest.approx(m[:, :10].mean(), abs=1e-12)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a[:8, :8], b[:8, :8], padding="valid")
    with pytest.raises(ValueError, match="padding"):
        ssim(a, b, padding="reflect")


def test_mean_over_views():
    views = [_pair(seed=s) for s in range(3)]
    A = [v[0] for v in views]
    B = [v[1] for v in views]
    per = [psnr(x, y) for x, y in views]
    assert mean_over_views(psnr, A, B) == pytest.approx(np.mean(per), abs=1e-12)
    mean, values = mean_over_views(ssim, A, B, return_per_view=True, padding="valid")
    assert values == pytest.approx([ssim(x, y, padding="valid") for x, y in views])
    masks = [np.ones(x.shape[:2], bool) for x in A]
    assert mean_over_views(psnr, A, B, masks=masks) == pytest.approx(np.mean(per), abs=1e-12)
    with pytest.raises(ValueError):
        mean_over_views(psnr, A, B[:2])
    with pytest.raises(ValueError):
        mean_over_views(psnr, [], [])


# --------------------------------------------------------------------------- BD

RA = [686.76, 309.58, 157.11, 85.95]
PA = [40.28, 37.18, 34.24, 31.42]
RB = [893.34, 407.8, 204.93, 112.75]
PB = [40.39, 37.21, 34.17, 31.24]


def _classic_bd(r1, p1, r2, p2, rate=True):
    """Literal VCEG-M33-style reference (uncentred polyfit, log10)."""
    l1, l2 = np.log10(r1), np.log10(r2)
    p1, p2 = np.asarray(p1), np.asarray(p2)
    x1, y1, x2, y2 = (p1, l1, p2, l2) if rate else (l1, p1, l2, p2)
    c1, c2 = np.polyfit(x1, y1, 3), np.polyfit(x2, y2, 3)
    lo, hi = max(x1.min(), x2.min()), min(x1.max(), x2.max())
    i1, i2 = np.polyint(c1), np.polyint(c2)
    avg = ((np.polyval(i2, hi) - np.polyval(i2, lo)) - (np.polyval(i1, hi) - np.polyval(i1, lo))) / (hi - lo)
    return (10 ** avg - 1) * 100 if rate else avg


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_identical_and_halved(method):
    assert bd_rate(RA, PA, RA, PA, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RA, PA, RA, PA, method=method) == pytest.approx(0.0, abs=1e-9)
    half = [r / 2 for r in RA]
    assert bd_rate(RA, PA, half, PA, method=method) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(half, PA, RA, PA, method=method) == pytest.approx(100.0, abs=1e-9)
    # order of points does not matter
    assert bd_rate(RA[::-1], PA[::-1], half, PA, method=method) == pytest.approx(-50.0, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_linear_in_log_rate_shift(method):
    rates = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])
    s, c = 4.0, 20.0
    pa = s * np.log(rates) + c
    pb = pa + 1.0
    assert bd_psnr(rates, pa, rates, pb, method=method) == pytest.approx(1.0, abs=1e-9)
    # same quality needs ln-rate lower by 1/s everywhere
    assert bd_rate(rates, pa, rates, pb, method=method) == pytest.approx(
        100 * (math.exp(-1.0 / s) - 1), abs=1e-9)


def test_bd_cubic_matches_classic_reference():
    assert bd_rate(RA, PA, RB, PB) == pytest.approx(_classic_bd(RA, PA, RB, PB, True), abs=1e-8)
    assert bd_psnr(RA, PA, RB, PB) == pytest.approx(_classic_bd(RA, PA, RB, PB, False), abs=1e-10)
    assert bd_rate(RA, PA, RB, PB) > 0 and bd_psnr(RA, PA, RB, PB) < 0  # b is worse


def test_bd_pchip_matches_scipy():
    interp = pytest.importorskip("scipy.interpolate")
    ra = [9487.76, 4593.60, 2486.44, 1358.24, 700.0]
    pa = [40.037, 38.615, 36.845, 34.851, 33.9]
    rb = [9787.80, 4469.00, 2451.52, 1356.24]
    pb = [40.121, 38.651, 36.970, 34.987]

    def ref(r1, p1, r2, p2, rate):
        out = []
        for r, p in ((r1, p1), (r2, p2)):
            lr, q = np.log(r), np.asarray(p)
            x, y = (q, lr) if rate else (lr, q)
            o = np.argsort(x)
            out.append((interp.PchipInterpolator(x[o], y[o]), x.min(), x.max()))
        (f1, a1, b1), (f2, a2, b2) = out
        lo, hi = max(a1, a2), min(b1, b2)
        avg = (f2.integrate(lo, hi) - f1.integrate(lo, hi)) / (hi - lo)
        return (math.exp(avg) - 1) * 100 if rate else avg

    assert bd_rate(ra, pa, rb, pb, method="pchip") == pytest.approx(ref(ra, pa, rb, pb, True), abs=1e-10)
    assert bd_psnr(ra, pa, rb, pb, method="pchip") == pytest.approx(ref(ra, pa, rb, pb, False), abs=1e-12)
    # non-monotone data exercises the zero-slope / edge branches
    p_wiggle = [40.0, 38.0, 38.5, 34.0, 33.0]
    assert bd_rate(ra, p_wiggle, rb, pb, method="pchip") == pytest.approx(
        ref(ra, p_wiggle, rb, pb, True), abs=1e-10)
    assert bd_psnr(ra, pa, ra, p_wiggle, method="pchip") == pytest.approx(
        ref(ra, pa, ra, p_wiggle, False), abs=1e-12)


def test_bd_few_points_fallback():
    r = [100.0, 200.0, 400.0]
    pa = [30.0, 33.0, 35.0]
    with pytest.warns(BDFallbackWarning, match="pchip"):
        v = bd_rate(r, pa, [x / 2 for x in r], pa)
    assert v == pytest.approx(-50.0, abs=1e-9)
    # 2 points: linear interpolation, exact for the linear-in-log case
    with pytest.warns(BDFallbackWarning):
        assert bd_psnr([100, 400], [30, 32], [100, 400], [31, 33]) == pytest.approx(1.0, abs=1e-12)
    # one curve with 4 points, the other with 3: both use pchip
    with pytest.warns(BDFallbackWarning):
        v1 = bd_rate(RA, PA, RB[:3], PB[:3])
    assert v1 == pytest.approx(bd_rate(RA, PA, RB[:3], PB[:3], method="pchip"), abs=1e-12)
    # pchip never warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bd_rate([100, 400], [30, 32], [100, 400], [31, 33], method="pchip")
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([100.0], [30.0], r, pa)


def test_bd_no_overlap():
    ra, pa = [100, 200, 400, 800], [30.0, 31.0, 32.0, 33.0]
    pb = [40.0, 41.0, 42.0, 43.0]
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(ra, pa, ra, pb)
    with pytest.warns(RuntimeWarning, match="do not overlap"):
        assert math.isnan(bd_rate(ra, pa, ra, pb, on_no_overlap="nan"))
    with pytest.raises(ValueError, match="do not overlap"):
        bd_psnr(ra, pa, [1e4, 2e4, 4e4, 8e4], pa)
    # touching at one point is not an overlap
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(ra, pa, ra, [33.0, 34.0, 35.0, 36.0])


def test_bd_input_errors():
    with pytest.raises(ValueError, match="rates must be"):
        bd_rate([0, 1, 2, 3], PA, RB, PB)
    with pytest.raises(ValueError, match="finite"):
        bd_rate(RA, [math.inf, 37, 34, 31], RB, PB)
    with pytest.raises(ValueError, match="repeated"):
        bd_rate(RA, [40, 40, 34, 31], RB, PB)
    with pytest.raises(ValueError, match="3 quality"):
        bd_rate(RA, PA[:3], RB, PB)
    with pytest.raises(ValueError, match="method"):
        bd_rate(RA, PA, RB, PB, method="akima")


# --------------------------------------------------------------------------- packaging

def test_metrics_import_is_light_and_decoupled():
    code = ("import sys, refcodec.metrics; "
            "bad = [m for m in sys.modules if m.startswith(('refcodec.container', 'refcodec.format.decode'))"
            " or m == 'torch']; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
