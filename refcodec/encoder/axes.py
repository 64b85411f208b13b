"""Canonical axes of each Gaussian (encoder side, spec A.5).

A Gaussian's covariance R diag(e^2s) R^T does not change when its principal axes are relabelled
or reversed: for any of the 24 rotations P of the octahedral group (signed permutation matrices
with determinant +1), the pair (R P, scales permuted by P) describes the same Gaussian. A source
file holds an arbitrary one of the 24, which costs about log2(24) = 4.6 bits a Gaussian to code.
The encoder picks one representative by a fixed rule:

1. the axes are ordered by decreasing scale (ties keep their input order);
2. of the 4 rotations that keep this order (the identity and the half turns about each axis),
   the one whose quaternion has the largest |w| (the one closest to the identity), then w >= 0;
3. *twist*: when two scales are equal, the Gaussian is a body of revolution about the third axis
   and any rotation about that axis (a twist) keeps it; of all those rotations, combined with the
   half turns of step 2, the one with the largest w again, which is the one whose quaternion has
   a zero component on that axis (mesh-converted splats, discs with two equal scales, then code
   one rotation component fewer, and neighbours on a smooth surface get similar quaternions).
   All three equal: the identity.

``canonical_axes`` computes it in O(n); ``canonical_axes_reference`` tries all 24 group elements
per Gaussian and is the plain statement of the rule (tests compare the two).
"""
from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from refcodec.quaternion import to_matrix


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (..., 4) quaternions (w, x, y, z); broadcasts."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    return to_matrix(q, normalize=False)


def covariances(rotations: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(n, 3, 3) covariances R diag(exp(2 s)) R^T of rotations (any norm) and log-scales."""
    r = quat_to_matrix(_unit(rotations))
    return r @ (np.exp(2.0 * np.asarray(scales, np.float64))[:, :, None] * np.swapaxes(r, 1, 2))


def _group() -> tuple[np.ndarray, np.ndarray]:
    """The 24 octahedral rotations as unit quaternions with w >= 0 (one of each +-q pair), and
    for each the axis permutation: new axis i is old axis perm[i]."""
    h, r = 0.5, np.sqrt(0.5)
    quats = []
    for v in itertools.product((0.0, h, -h, r, -r, 1.0, -1.0), repeat=4):
        q = np.array(v)
        if abs(q @ q - 1.0) > 1e-12:
            continue
        m = np.abs(quat_to_matrix(q))
        if not np.allclose(m, np.round(m), atol=1e-12):
            continue
        first = q[np.flatnonzero(q)[0]]
        if first > 0:                        # one of q, -q (the same rotation)
            quats.append(q)
    quats = np.array(quats)
    perms = np.argmax(np.abs(np.round(quat_to_matrix(quats))), axis=1)   # column i = +-e_perm[i]
    return quats, perms


GROUP, GROUP_PERMS = _group()
# the half turns about x, y, z and the identity: they keep the axis order
FLIPS = np.eye(4)
# for each of the 6 axis orders (indexed 3 * p0 + p1, sparse), one group element with that order
_PERM_INDEX = {tuple(p): i for i, p in enumerate(itertools.permutations(range(3)))}
PERM_QUATS = np.zeros((6, 4))
for _q, _p in zip(GROUP, GROUP_PERMS):
    PERM_QUATS[_PERM_INDEX[tuple(_p)]] = _q
_PERM_LOOKUP = np.zeros(9, np.int64)
for _p, _i in _PERM_INDEX.items():
    _PERM_LOOKUP[3 * _p[0] + _p[1]] = _i


def _unit(rotations: np.ndarray) -> np.ndarray:
    q = np.asarray(rotations, np.float64)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(norm > 0, q / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0, 0.0, 0.0]))


def canonical_axes(rotations: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) rotations (w, x, y, z; any norm) and (n, 3) log-scales -> the canonical
    representative (float64 unit quaternions with w >= 0, scales in decreasing order)."""
    q = _unit(rotations)
    s = np.asarray(scales, np.float64)
    order = np.argsort(-s, axis=1, kind="stable")
    q = quat_mul(q, PERM_QUATS[_PERM_LOOKUP[3 * order[:, 0] + order[:, 1]]])
    # q * FLIPS[k] has w = q.w, -q.x, -q.y, -q.z for k = 0..3: keep the largest |.|
    k = np.argmax(np.abs(q), axis=1)
    q = quat_mul(q, FLIPS[k])
    q = np.where(q[:, :1] < 0, -q, q)
    s = np.take_along_axis(s, order, axis=1)
    return _untwist(q, s), s


def _zero_twist(q: np.ndarray, c: int) -> np.ndarray:
    """q times the rotation about axis c - 1 (component c of the quaternion) that zeroes that
    component: w becomes hypot(w, q_c) >= 0, the largest w of all such products."""
    r = np.hypot(q[:, 0], q[:, c])
    safe = np.where(r > 0, r, 1.0)
    t = np.zeros_like(q)
    t[:, 0] = np.where(r > 0, q[:, 0] / safe, 1.0)
    t[:, c] = np.where(r > 0, -q[:, c] / safe, 0.0)
    out = quat_mul(q, t)
    out[:, c] = 0.0                                   # exactly, not up to rounding
    return out


def _untwist(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Rule 3 of the module docstring on canonical (q, decreasing s)."""
    q = q.copy()
    for c, tie in ((3, s[:, 0] == s[:, 1]), (1, s[:, 1] == s[:, 2])):
        rows = np.flatnonzero(tie)
        if not rows.size:
            continue
        a = _zero_twist(q[rows], c)
        b = _zero_twist(quat_mul(q[rows], FLIPS[3 if c == 1 else 1]), c)   # the axis reversed
        q[rows] = np.where(b[:, :1] > a[:, :1], b, a)
    q[(s[:, 0] == s[:, 1]) & (s[:, 1] == s[:, 2])] = (1.0, 0.0, 0.0, 0.0)
    return q


def canonical_axes_reference(rotations: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule of the module docstring, one Gaussian at a time over all 24 group elements."""
    q_all, s_all = _unit(rotations), np.asarray(scales, np.float64)
    out_q, out_s = np.zeros_like(q_all), np.zeros_like(s_all)
    for i, (q, s) in enumerate(zip(q_all, s_all)):
        want = tuple(sorted(range(3), key=lambda a: (-s[a], a)))     # decreasing, ties by index
        best = None
        for g, perm in zip(GROUP, GROUP_PERMS):
            if tuple(perm) != want:
                continue
            c = quat_mul(q, g)
            if best is None or abs(c[0]) > abs(best[0]) + 1e-15:
                best = c
        best = best if best[0] >= 0 else -best
        ss = s[list(want)]
        if ss[0] == ss[1] == ss[2]:
            best = np.array([1.0, 0.0, 0.0, 0.0])
        else:
            # a tie: the axis c of revolution; for each half turn f, the twist about c maximizing w
            # is hypot(w, q_c) (w' = w cos(t/2) - q_c sin(t/2)); the best f's, twisted to q_c = 0
            c = 3 if ss[0] == ss[1] else 1 if ss[1] == ss[2] else 0
            if c:
                top = None
                for f in FLIPS:
                    g = quat_mul(best, f)
                    r = float(np.hypot(g[0], g[c]))
                    if top is None or r > top[0] + 1e-15:
                        top = (r, g)
                r, g = top
                tw = np.array([1.0, 0.0, 0.0, 0.0])
                if r > 0:
                    tw[0], tw[c] = g[0] / r, -g[c] / r
                best = quat_mul(g, tw)
                best[c] = 0.0
        out_q[i] = best
        out_s[i] = ss
    return out_q, out_s


def canonical_scene(scene):
    """The scene with every Gaussian's rotation and scales in canonical form (float32), the
    other fields shared, as the encoder codes it."""
    rot, scales = canonical_axes(scene.rotations, scene.scales)
    return replace(scene, rotations=rot.astype(np.float32), scales=scales.astype(np.float32))
