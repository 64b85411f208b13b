"""Evaluation for the rate-distortion bench: renders, scores and where a peer falls on the LGS curve.

Renders are clamped float32 numpy images from ``refcodec.render`` (orbit cameras chosen by the
caller); scores are PSNR / SSIM of ``refcodec.metrics`` averaged over views, as 3DGS reports
them.  A peer has one point, so it is compared with the LGS curve by interpolation: the LGS
bytes at the peer's PSNR (log-linear) and the LGS PSNR at the peer's bytes; a BD-rate only when
both curves have at least 2 points.
"""
from __future__ import annotations

import math

import numpy as np


def render_all(scene, cameras, alpha: bool = False):
    """Clamped float32 (H, W, 3) numpy renders of ``scene`` from each camera; with ``alpha`` also
    the (H, W) accumulated opacities: (renders, alphas)."""
    import torch

    from refcodec.render import render

    out, alphas = [], []
    with torch.no_grad():
        for cam in cameras:
            if scene.n == 0:
                out.append(np.zeros((cam.height, cam.width, 3), np.float32))
                alphas.append(np.zeros((cam.height, cam.width), np.float32))
                continue
            r = render(scene, cam)
            out.append(r["rgb"].clamp(0.0, 1.0).cpu().numpy().astype(np.float32))
            if alpha:
                alphas.append(r["alpha"].cpu().numpy().astype(np.float32))
    return (out, alphas) if alpha else out


# foreground: pixels the ORIGINAL covers (accumulated opacity above this), the same mask for
# every variant of a scene
FG_ALPHA = 0.5


class Reference(list):
    """The original's renders from the bench cameras (a list, as ``score`` takes it) with the
    foreground masks of those views (``masks``) and, optionally, a second camera set unlike the
    encoder's own (``unseen``: (cameras, Reference)) that every variant is scored on too."""

    def __init__(self, views, masks=None, unseen=None):
        super().__init__(views)
        self.masks = masks
        self.unseen = unseen


def reference(original, cameras, unseen_cameras=None) -> Reference:
    views, alphas = render_all(original, cameras, alpha=True)
    unseen = None
    if unseen_cameras:
        u_views, u_alphas = render_all(original, unseen_cameras, alpha=True)
        unseen = (list(unseen_cameras), Reference(u_views, [a > FG_ALPHA for a in u_alphas]))
    return Reference(views, [a > FG_ALPHA for a in alphas], unseen)


def unseen_cameras(positions, up=(0.0, -1.0, 0.0), closeups: int = 4, closeup_size: int = 512,
                   others: int = 4, size: int = 256) -> list:
    """A camera set unlike the encoder's own views (the pruning rings sit at elevations -15, 20,
    35 and 55 degrees, 2.5 robust radii away, 192 px; the bench's orbit at 20 degrees, 256 px):
    ``closeups`` views at ``closeup_size`` px from 1.2 robust radii (a third of the distance: the
    fine detail is magnified about 4x), 5 degrees above the ring, between the orbit's azimuths;
    and ``others`` views at -40 and +72 degrees elevation (from below and nearly from above)."""
    from refcodec.render import orbit_cameras

    cams = []
    if closeups:
        cams += orbit_cameras(positions, n_views=closeups, width=closeup_size, height=closeup_size,
                              elevation_deg=5.0, margin=0.6, azimuth_offset_deg=67.5, up=up)
    half = others // 2
    if half:
        cams += orbit_cameras(positions, n_views=half, width=size, height=size, elevation_deg=-40.0,
                              azimuth_offset_deg=30.0, up=up)
    if others - half:
        cams += orbit_cameras(positions, n_views=others - half, width=size, height=size, elevation_deg=72.0,
                              azimuth_offset_deg=100.0, up=up)
    for i, c in enumerate(cams):
        c.name = f"unseen_{i:03d}"
    return cams


def score(ref_views: list, views: list) -> dict:
    """PSNR, SSIM and per-view PSNR; ``fg_psnr`` (foreground PSNR: the pixels the original covers,
    per view, averaged like PSNR) when ``ref_views`` is a ``Reference`` with masks."""
    from refcodec.metrics import mean_over_views, psnr, ssim

    p, per_view = mean_over_views(psnr, ref_views, views, return_per_view=True)
    s = mean_over_views(ssim, ref_views, views)
    out = dict(psnr=finite(p), ssim=float(s), psnr_per_view=[finite(v) for v in per_view])
    masks = getattr(ref_views, "masks", None)
    if masks is not None:
        fg = [psnr(a, b, mask=m) for a, b, m in zip(ref_views, views, masks) if m.any()]
        out["fg_psnr"] = finite(float(np.mean(fg))) if fg else None  # mean of per-view dB, as 3DGS
    return out


def evaluate(scene, cameras, ref) -> tuple:
    """Render ``scene`` from ``cameras`` and score it against ``ref`` (a list of renders or a
    ``Reference``); with ``ref.unseen`` also on the unseen set, as ``unseen_psnr``,
    ``unseen_fg_psnr`` and ``unseen_ssim``.  Returns (scores, the orbit renders)."""
    views = render_all(scene, cameras)
    out = score(ref, views)
    unseen = getattr(ref, "unseen", None)
    if unseen:
        u = score(unseen[1], render_all(scene, unseen[0]))
        out.update(unseen_psnr=u["psnr"], unseen_fg_psnr=u.get("fg_psnr"), unseen_ssim=u["ssim"])
    return out, views


def finite(x: float):
    """JSON-safe float: inf (identical renders) becomes the string "inf"."""
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else float("nan"))


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def curve_points(rows: list) -> tuple:
    pts = sorted((float(r["psnr"]), float(r["bytes"])) for r in rows if num(r.get("psnr")) is not None)
    return np.array([p for p, _ in pts]), np.array([b for _, b in pts])


def lgs_bytes_at_psnr(rows: list, target: float):
    """Bytes the LGS curve needs for PSNR ``target``: log-linear interpolation of bytes over PSNR
    between the two presets around it; None outside the curve's PSNR range."""
    q, b = curve_points(rows)
    if len(q) < 2 or not q[0] <= target <= q[-1]:
        return None
    return float(np.exp(np.interp(target, q, np.log(b))))


def lgs_psnr_at_bytes(rows: list, nbytes: float):
    """PSNR of the LGS curve at ``nbytes``: linear interpolation of PSNR over log-bytes; None
    outside the curve's byte range."""
    pts = sorted((float(r["bytes"]), float(r["psnr"])) for r in rows if num(r.get("psnr")) is not None)
    if len(pts) < 2:
        return None
    lb = np.log([p[0] for p in pts])
    q = np.array([p[1] for p in pts])
    x = math.log(nbytes)
    if not lb[0] <= x <= lb[-1]:
        return None
    return float(np.interp(x, lb, q))


def compare(lgs_rows: list, peer: dict) -> dict:
    out = dict(peer=peer["codec"], peer_bytes=peer["bytes"], peer_psnr=peer["psnr"])
    pp = num(peer.get("psnr"))
    at_q = lgs_bytes_at_psnr(lgs_rows, pp) if pp is not None else None
    at_b = lgs_psnr_at_bytes(lgs_rows, peer["bytes"])
    out["lgs_bytes_at_peer_psnr"] = at_q
    out["lgs_bytes_ratio"] = at_q / peer["bytes"] if at_q else None
    out["lgs_psnr_at_peer_bytes"] = at_b
    out["lgs_psnr_gain_db"] = at_b - pp if (at_b is not None and pp is not None) else None
    out["bd_rate_percent"] = None
    peer_pts = peer.get("points") or [dict(bytes=peer["bytes"], psnr=peer["psnr"])]
    lq, lb = curve_points(lgs_rows)
    pq, pb = curve_points(peer_pts)
    if len(lq) >= 2 and len(pq) >= 2:
        import warnings

        from refcodec.metrics import bd_rate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = bd_rate(pb, pq, lb, lq, method="pchip", on_no_overlap="nan")
        out["bd_rate_percent"] = None if math.isnan(v) else v
    return out


def fmt(x, nd=2, default="-"):
    """A number for tables and logs; strings ("inf") pass through, None and NaN give ``default``."""
    if isinstance(x, str):
        return x
    return default if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def pct(x) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100.0 * x:+.1f}%"
