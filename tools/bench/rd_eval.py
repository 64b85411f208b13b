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


def render_all(scene, cameras) -> list:
    """Clamped float32 (H, W, 3) numpy renders of ``scene`` from each camera."""
    import torch

    from refcodec.render import render

    out = []
    with torch.no_grad():
        for cam in cameras:
            if scene.n == 0:
                out.append(np.zeros((cam.height, cam.width, 3), np.float32))
                continue
            rgb = render(scene, cam)["rgb"].clamp(0.0, 1.0)
            out.append(rgb.cpu().numpy().astype(np.float32))
    return out


def score(ref_views: list, views: list) -> dict:
    from refcodec.metrics import mean_over_views, psnr, ssim

    p, per_view = mean_over_views(psnr, ref_views, views, return_per_view=True)
    s = mean_over_views(ssim, ref_views, views)
    return dict(psnr=finite(p), ssim=float(s), psnr_per_view=[finite(v) for v in per_view])


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
