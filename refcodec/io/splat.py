"""Read and write antimatter15 ``.splat`` files (32 bytes a splat, no header, no SH).

Record layout (little-endian), as written by antimatter15/splat's ``convert.py`` and read by
its viewer and by PlayCanvas splat-transform:

====== ======= =====================================================================
offset type    meaning
====== ======= =====================================================================
0      3 x f32 position x, y, z (same axes as INRIA PLY)
12     3 x f32 scale, *linear* (``exp`` of the PLY's log scale)
24     4 x u8  colour R, G, B = ``(0.5 + C0 * f_dc) * 255``, A = ``sigmoid(opacity) * 255``
28     4 x u8  rotation w, x, y, z of the normalized quaternion, ``q * 128 + 128`` clipped
====== ======= =====================================================================

Decoding inverts this: ``f_dc = (c / 255 - 0.5) / C0``, ``opacity = logit(a / 255)`` with
alpha clamped to ``[1e-6, 1 - 1e-6]`` (splat-transform's clamp, so a = 0 or 255 stays finite),
``scale = log(s)`` (``s <= 0`` clamps to ``log(1e-30)``), ``q = (b - 128) / 128`` normalized
(an all-zero quaternion decodes as identity). The result has SH degree 0.
"""
from __future__ import annotations

import os

import numpy as np

from refcodec.format.errors import SceneFormatError
from refcodec.format.scene import Scene

__all__ = ["read_splat", "write_splat", "decode_splat_bytes", "encode_splat_bytes", "SH_C0"]

SH_C0 = 0.28209479177387814
BYTES_PER_SPLAT = 32
ALPHA_EPS = 1e-6
_MIN_LINEAR_SCALE = 1e-30

SPLAT_DTYPE = np.dtype([
    ("position", "<f4", (3,)),
    ("scale", "<f4", (3,)),
    ("rgba", "u1", (4,)),
    ("rot", "u1", (4,)),
])
assert SPLAT_DTYPE.itemsize == BYTES_PER_SPLAT


def logit_of_alpha(alpha: np.ndarray, eps: float = ALPHA_EPS) -> np.ndarray:
    """``log(a / (1 - a))`` with ``a`` clamped to ``[eps, 1 - eps]`` (float32 result)."""
    a = np.clip(np.asarray(alpha, dtype=np.float64), eps, 1.0 - eps)
    return np.log(a / (1.0 - a)).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def read_file_bytes(path) -> bytes:
    """The whole file. Missing files and directories raise the usual OSError subclasses."""
    with open(os.fspath(path), "rb") as f:
        return f.read()


def quantize_u8(x: np.ndarray) -> np.ndarray:
    """Round to nearest and clamp to 0..255 (NaN -> 0)."""
    y = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def normalized_quaternions(q: np.ndarray) -> np.ndarray:
    """Rows divided by their norm; zero or non-finite rows become identity (1, 0, 0, 0)."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    bad = ~np.isfinite(norm[:, 0]) | (norm[:, 0] <= 0)
    out = q / np.where(bad[:, None], 1.0, norm)
    out[bad] = (1.0, 0.0, 0.0, 0.0)
    return out


# ----------------------------------------------------------------------------- read

def decode_splat_bytes(data: bytes | memoryview, name: str = ".splat data") -> Scene:
    """Decode the bytes of a ``.splat`` file."""
    with np.errstate(all="ignore"):  # hostile floats (NaN, inf) are reported, not warned about
        return _decode_splat(data, name)


def _decode_splat(data, name: str) -> Scene:
    size = len(data)
    if size == 0:
        raise SceneFormatError(f"{name}: empty .splat file (no splats)")
    if size % BYTES_PER_SPLAT:
        raise SceneFormatError(
            f"{name}: not a .splat file: size {size} is not a multiple of {BYTES_PER_SPLAT} bytes"
        )
    rec = np.frombuffer(data, dtype=SPLAT_DTYPE)
    positions = rec["position"].astype(np.float32)
    linear = rec["scale"].astype(np.float64)
    if not np.isfinite(positions).all():
        bad = int(np.flatnonzero(~np.isfinite(positions).all(axis=1))[0])
        raise SceneFormatError(f"{name}: splat {bad} has a non-finite position")
    if not np.isfinite(linear).all():
        bad = int(np.flatnonzero(~np.isfinite(linear).all(axis=1))[0])
        raise SceneFormatError(f"{name}: splat {bad} has a non-finite scale")
    scales = np.log(np.maximum(linear, _MIN_LINEAR_SCALE)).astype(np.float32)
    rgba = rec["rgba"].astype(np.float64) / 255.0
    sh_dc = ((rgba[:, :3] - 0.5) / SH_C0).astype(np.float32)
    opacity = logit_of_alpha(rgba[:, 3])
    rotations = normalized_quaternions((rec["rot"].astype(np.float64) - 128.0) / 128.0)
    n = len(rec)
    return Scene(positions, opacity, scales, rotations, sh_dc, np.zeros((n, 0), np.float32))


def read_splat(path) -> Scene:
    """Read an antimatter15 ``.splat`` file into a ``Scene`` (SH degree 0)."""
    return decode_splat_bytes(read_file_bytes(path), name=os.fspath(path))


# ----------------------------------------------------------------------------- write

def encode_splat_bytes(scene: Scene) -> bytes:
    """Encode a scene as ``.splat`` bytes (higher SH bands are dropped: the format has none)."""
    n = scene.n
    rec = np.zeros(n, dtype=SPLAT_DTYPE)
    rec["position"] = scene.positions
    rec["scale"] = np.exp(scene.scales.astype(np.float64))
    rgb = (0.5 + SH_C0 * scene.sh_dc.astype(np.float64)) * 255.0
    rec["rgba"][:, :3] = quantize_u8(rgb)
    rec["rgba"][:, 3] = quantize_u8(sigmoid(scene.opacity) * 255.0)
    q = normalized_quaternions(scene.rotations)
    rec["rot"] = quantize_u8(q * 128.0 + 128.0)
    return rec.tobytes()


def write_splat(path, scene: Scene) -> None:
    """Write a scene as an antimatter15 ``.splat`` file (lossy: 8-bit colour/alpha/rotation,
    no view-dependent SH)."""
    with open(os.fspath(path), "wb") as f:
        f.write(encode_splat_bytes(scene))
