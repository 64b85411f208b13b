"""Pinhole cameras (OpenCV convention) and loaders for the usual 3DGS camera files.

Convention
----------
``Camera.viewmat`` is the 4x4 *world-to-camera* matrix in the OpenCV/COLMAP convention:
camera x points right, y points down, z points forward (into the scene).  A world point
``p`` maps to camera coordinates ``viewmat[:3, :3] @ p + viewmat[:3, 3]`` and to pixel
coordinates ``(fx * x / z + cx, fy * y / z + cy)``, where the pixel ``(i, j)`` (column,
row) covers ``[i, i+1) x [j, j+1)`` and its centre is ``(i + 0.5, j + 0.5)`` (the gsplat /
COLMAP convention; a centred principal point is ``cx = width / 2``).

Lens distortion is ignored everywhere (3DGS renders undistorted pinhole images).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace

import numpy as np

from refcodec.quaternion import to_matrix

__all__ = [
    "Camera",
    "load_cameras_json",
    "load_colmap_text",
    "orbit_cameras",
    "look_at",
    "quat_wxyz_to_rotmat",
]


@dataclass(eq=False)
class Camera:
    """A pinhole camera.  ``viewmat`` is world-to-camera (OpenCV: x right, y down, z forward)."""

    viewmat: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    name: str = ""

    def __post_init__(self) -> None:
        self.viewmat = np.asarray(self.viewmat, dtype=np.float64).reshape(4, 4)
        self.fx, self.fy, self.cx, self.cy = (float(v) for v in (self.fx, self.fy, self.cx, self.cy))
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")

    # ---- derived quantities -------------------------------------------------------------------
    @property
    def R(self) -> np.ndarray:
        """World-to-camera rotation (3, 3)."""
        return self.viewmat[:3, :3]

    @property
    def t(self) -> np.ndarray:
        """World-to-camera translation (3,)."""
        return self.viewmat[:3, 3]

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t

    @property
    def camtoworld(self) -> np.ndarray:
        return np.linalg.inv(self.viewmat)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def fov_x_deg(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.width / self.fx))

    @property
    def fov_y_deg(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.height / self.fy))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and camera-space depth z (N,) of world points (N, 3)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ self.R.T + self.t
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * p[:, 0] / z + self.cx, self.fy * p[:, 1] / z + self.cy], axis=1)
        return uv, z

    def resized(self, width: int | None = None, height: int | None = None, scale: float | None = None) -> "Camera":
        """The same view at another resolution (intrinsics scaled with the image).

        Give ``scale`` or ``width`` (and optionally ``height``; by default the aspect ratio is kept).
        """
        if scale is not None:
            width, height = round(self.width * scale), round(self.height * scale)
        elif width is not None and height is None:
            height = max(1, round(self.height * width / self.width))
        elif width is None and height is not None:
            width = max(1, round(self.width * height / self.height))
        elif width is None and height is None:
            return replace(self)
        sx, sy = width / self.width, height / self.height
        return Camera(self.viewmat.copy(), self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                      width, height, self.name)

    def to_json(self) -> dict:
        """This camera as an INRIA ``cameras.json`` entry (principal point is not stored there)."""
        c2w = self.camtoworld
        return {"img_name": self.name, "width": self.width, "height": self.height,
                "position": c2w[:3, 3].tolist(), "rotation": c2w[:3, :3].tolist(),
                "fx": self.fx, "fy": self.fy}


def _viewmat_from_c2w(rotation_c2w: np.ndarray, position: np.ndarray) -> np.ndarray:
    R = np.asarray(rotation_c2w, dtype=np.float64).reshape(3, 3)
    pos = np.asarray(position, dtype=np.float64).reshape(3)
    V = np.eye(4)
    V[:3, :3] = R.T
    V[:3, 3] = -R.T @ pos
    return V


# ---- INRIA cameras.json ---------------------------------------------------------------------
def load_cameras_json(path) -> list[Camera]:
    """Cameras from the ``cameras.json`` written by INRIA 3DGS training.

    Each entry holds ``position`` (camera centre) and ``rotation`` (3x3 camera-to-world rotation
    whose columns are the camera x/y/z axes in world coordinates, OpenCV convention), ``fx``,
    ``fy``, ``width``, ``height``.  The file has no principal point: 3DGS assumes the image
    centre, so ``cx = width / 2``, ``cy = height / 2``.  File order is kept (3DGS writes them
    sorted by image name).
    """
    with open(path, "r", encoding="utf-8") as f:
        entries = json.load(f)
    if isinstance(entries, dict):  # tolerate {"cameras": [...]} wrappers
        entries = entries.get("cameras", entries.get("frames"))
    cams = []
    for i, e in enumerate(entries):
        w, h = int(e["width"]), int(e["height"])
        name = str(e.get("img_name", e.get("id", i)))
        cams.append(Camera(_viewmat_from_c2w(e["rotation"], e["position"]),
                           float(e["fx"]), float(e["fy"]), w / 2.0, h / 2.0, w, h, name))
    return cams


# ---- COLMAP text model -----------------------------------------------------------------------
# Parameter layouts: models whose params start with a single focal length "f cx cy ..." and
# those that start with "fx fy cx cy ...".  Distortion parameters are ignored.
_COLMAP_SINGLE_F = {"SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"}
_COLMAP_TWO_F = {"PINHOLE", "OPENCV", "FULL_OPENCV", "OPENCV_FISHEYE", "FOV", "THIN_PRISM_FISHEYE"}


def quat_wxyz_to_rotmat(q) -> np.ndarray:
    """Rotation matrix of a (not necessarily normalized) quaternion w, x, y, z."""
    return to_matrix(np.asarray(q, dtype=np.float64))


def _colmap_dir(path) -> str:
    path = os.fspath(path)
    for sub in ("", os.path.join("sparse", "0"), "sparse"):
        d = os.path.join(path, sub)
        if os.path.isfile(os.path.join(d, "cameras.txt")) and os.path.isfile(os.path.join(d, "images.txt")):
            return d
    raise FileNotFoundError(f"no cameras.txt + images.txt in {path} (or its sparse/0)")


def load_colmap_text(path) -> list[Camera]:
    """Cameras from a COLMAP text model (``cameras.txt`` + ``images.txt``) in ``path``
    (or ``path/sparse/0``).

    Intrinsics: PINHOLE (fx fy cx cy) and SIMPLE_PINHOLE (f cx cy) exactly; the distorted models
    (SIMPLE_RADIAL, RADIAL, OPENCV, ...) are treated as pinholes with their f / fx fy and cx cy,
    ignoring distortion.  ``images.txt`` holds per image ``IMAGE_ID QW QX QY QZ TX TY TZ
    CAMERA_ID NAME`` (world-to-camera rotation quaternion and translation) followed by one line
    of 2D points (possibly empty), which is skipped.  Cameras are returned sorted by image name
    (as 3DGS does).
    """
    d = _colmap_dir(path)
    intr = {}
    with open(os.path.join(d, "cameras.txt"), "r", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            el = line.split()
            cam_id, model, w, h = int(el[0]), el[1].upper(), int(el[2]), int(el[3])
            p = [float(v) for v in el[4:]]
            if model in _COLMAP_SINGLE_F:
                fx = fy = p[0]
                cx, cy = p[1], p[2]
            elif model in _COLMAP_TWO_F:
                fx, fy, cx, cy = p[0], p[1], p[2], p[3]
            else:
                raise ValueError(f"unsupported COLMAP camera model {model!r}")
            intr[cam_id] = (fx, fy, cx, cy, w, h)
    cams = []
    with open(os.path.join(d, "images.txt"), "r", encoding="utf-8") as f:
        while True:
            line = f.readline()
            if not line:
                break
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            el = line.split()
            qvec = [float(v) for v in el[1:5]]
            tvec = np.array([float(v) for v in el[5:8]])
            cam_id = int(el[8])
            name = " ".join(el[9:])
            f.readline()  # the POINTS2D line (may be empty)
            V = np.eye(4)
            V[:3, :3] = quat_wxyz_to_rotmat(qvec)
            V[:3, 3] = tvec
            fx, fy, cx, cy, w, h = intr[cam_id]
            cams.append(Camera(V, fx, fy, cx, cy, w, h, name))
    cams.sort(key=lambda c: c.name)
    return cams


# ---- synthetic views ------------------------------------------------------------------------
def look_at(eye, target, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """World-to-camera matrix (OpenCV convention) of a camera at ``eye`` looking at ``target``,
    with image-up as close as possible to the world direction ``up``."""
    eye = np.asarray(eye, dtype=np.float64)
    fwd = np.asarray(target, dtype=np.float64) - eye
    fwd /= np.linalg.norm(fwd)
    up = np.asarray(up, dtype=np.float64)
    right = np.cross(fwd, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight along `up`: pick any perpendicular
        right = np.cross(fwd, np.eye(3)[np.argmin(np.abs(fwd))])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return _viewmat_from_c2w(np.stack([right, down, fwd], axis=1), eye)


def orbit_cameras(
    positions,
    n_views: int = 8,
    width: int = 256,
    height: int = 256,
    fov_deg: float = 60.0,
    elevation_deg: float = 20.0,
    up=(0.0, -1.0, 0.0),
    percentile: float = 90.0,
    margin: float = 1.25,
    azimuth_offset_deg: float = 0.0,
) -> list[Camera]:
    """A deterministic ring of ``n_views`` views around a scene, all looking at its robust centre.

    * centre ``c`` = per-axis median of the Gaussian positions (robust to floaters and to the
      far-away background shells trained scenes often have);
    * robust extent ``r`` = the ``percentile`` (90th) percentile of ``|p - c|``;
    * camera distance ``D = margin * r / sin(fov_min / 2)``: a sphere of radius ``r`` exactly
      fills the narrower field of view at distance ``r / sin(fov/2)``; ``margin = 1.25`` leaves a
      25 % border.  For the default 60 degree fov this is ``D = 2.5 r``.
    * camera ``k`` sits at azimuth ``azimuth_offset + 360 k / n_views`` degrees and
      ``elevation_deg`` above the plane perpendicular to ``up`` (world "up"; the default
      ``(0, -1, 0)`` is the usual orientation of COLMAP/INRIA reconstructions, whose world y axis
      points roughly down), with square pixels, ``fov_deg`` horizontal field of view and a centred
      principal point.  Azimuth 0 is along the world axis most perpendicular to ``up``.
    """
    P = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    P = P[np.all(np.isfinite(P), axis=1)]
    if len(P) == 0:
        centre, r = np.zeros(3), 1.0
    else:
        centre = np.median(P, axis=0)
        r = float(np.percentile(np.linalg.norm(P - centre, axis=1), percentile))
        if not np.isfinite(r) or r <= 0:
            r = 1.0
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    fx = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
    fy = fx
    fov_y = 2.0 * math.atan(0.5 * height / fy)
    fov_min = min(math.radians(fov_deg), fov_y)
    dist = margin * r / math.sin(fov_min / 2.0)
    # orthonormal basis (e1, e2) of the plane perpendicular to `up`
    e1 = np.eye(3)[np.argmin(np.abs(up))]
    e1 = e1 - up * (e1 @ up)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    el = math.radians(elevation_deg)
    cams = []
    for k in range(n_views):
        az = math.radians(azimuth_offset_deg) + 2.0 * math.pi * k / n_views
        direction = math.cos(el) * (math.cos(az) * e1 + math.sin(az) * e2) + math.sin(el) * up
        eye = centre + dist * direction
        cams.append(Camera(look_at(eye, centre, up), fx, fy, width / 2.0, height / 2.0,
                           width, height, f"orbit_{k:03d}"))
    return cams
