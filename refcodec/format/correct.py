"""Prefix corrections (spec 8.7, version 4.2): a region decoded only up to a level below L gets
that level's own attribute values, signalled per Gaussian as multiples of 2^s of its unit's steps
(the units keep the full scene's values, so a full decode is unchanged). From 4.3 (8.7.1) the
same payload may code scales and SH DC as differences to the channel before.

Normative and small: the payload's validity, and integer arithmetic on the quantized values
before the dequantization of spec 7.2. Imports numpy, construct and the format package only.
"""
from __future__ import annotations

import numpy as np

from refcodec.format import intstream
from refcodec.format import schema as S
from refcodec.format.errors import CorruptError
from refcodec.format.hybrid_uint import unzigzag, zigzag

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def kinds(version) -> dict:
    """The correction kinds a file of ``version`` may use: kind -> predicted (spec 8.7, 8.7.1)."""
    v = tuple(version)
    out = {S.KIND_CORRECTION: False} if v >= S.GATE_PREFIX_CORRECTIONS else {}
    if v >= S.GATE_CORRECTION_PREDICTION:
        out[S.KIND_PREDICTED_CORRECTION] = True
    return out


def _predicted_pairs(chans) -> list:
    """(row of channel j, row of channel j - 1) in a (K, n) array over ``chans`` for each j of
    PREDICTED_CHANNELS that 8.7.1 predicts (both corrected), in increasing j."""
    pos = {int(j): k for k, j in enumerate(chans)}
    return [(pos[j], pos[j - 1]) for j in S.PREDICTED_CHANNELS if j in pos and j - 1 in pos]


def predict(chans, d: np.ndarray) -> np.ndarray:
    """spec 8.7.1: t of each corrected channel j in PREDICTED_CHANNELS whose channel j - 1 is also
    corrected is d_j + t_{j-1}, in increasing j; ``d`` (K, n) int64, returned as a new array."""
    t = np.array(d, dtype=np.int64, copy=True)
    for k, prev in _predicted_pairs(chans):
        t[k] += t[prev]
    return t


def unpredict(chans, t: np.ndarray) -> np.ndarray:
    """The inverse of ``predict`` (encoder side): d_j = t_j - t_{j-1} where 8.7.1 predicts."""
    t = np.asarray(t, dtype=np.int64)
    d = t.copy()
    for k, prev in _predicted_pairs(chans):
        d[k] -= t[prev]
    return d


def payload_deltas(payload: bytes, C: int, n: int, predicted: bool = False):
    """(corrected channels as an int array, shift s, t as int64 (K, n)) of a correction payload
    for a region of n decoded Gaussians and C channels, or None when it is invalid (spec 8.7:
    shorter than its header, a channel bit >= C, s > 16, a stream that read for K n values meets a
    condition of spec 6.7, or some |t| >= 2^31, with ``predicted`` (kind 131, 8.7.1) after the
    prediction). An invalid correction is ignored, never an error."""
    if len(payload) < S.CORRECTION_HEADER_SIZE:
        return None
    h = S.CorrectionHeader.parse(payload[:S.CORRECTION_HEADER_SIZE])
    if h.channels >> C or h.shift > S.CORRECTION_MAX_SHIFT:
        return None
    chans = np.array([j for j in range(C) if h.channels >> j & 1], np.int64)
    K = chans.size
    ctx = np.repeat(np.arange(K, dtype=np.uint8), n)
    try:
        u = intstream.decode_uints(payload[S.CORRECTION_HEADER_SIZE:], ctx, K)
    except CorruptError:
        return None
    if u.size and int(u.max()) >= 1 << 32:                     # |t| (8.7.1: |d|) >= 2^31
        return None
    t = unzigzag(u).reshape(K, n)
    if predicted:
        t = predict(chans, t)              # |d| < 2^32: the sums stay far inside int64
    if t.size and (int(t.min()) <= INT32_MIN or int(t.max()) > INT32_MAX):
        return None
    return chans, int(h.shift), t


def corrected(q: np.ndarray, chans: np.ndarray, shift: int, t: np.ndarray) -> np.ndarray | None:
    """q' = q + t 2^s (spec 8.7) for the rows of ``q`` (n, C) and the channels ``chans``, int64
    (n, K); None when some q' leaves [-2^31, 2^31)."""
    out = q[:, chans].astype(np.int64) + (t.T << shift)
    if out.size and (int(out.min()) < INT32_MIN or int(out.max()) > INT32_MAX):
        return None
    return out


def corrected_reference(q: np.ndarray, chans, shift: int, t: np.ndarray):
    """Plain per-value form of ``corrected``, for tests."""
    out = np.zeros((q.shape[0], len(chans)), np.int64)
    for i in range(q.shape[0]):
        for k, j in enumerate(chans):
            v = int(q[i, j]) + int(t[k, i]) * 2 ** shift
            if not INT32_MIN <= v <= INT32_MAX:
                return None
            out[i, k] = v
    return out


def build_payload(chans, shift: int, t: np.ndarray, predicted: bool = False) -> bytes:
    """The payload (encoder side): ``t`` (K, n) integers for the channels ``chans`` (ascending);
    ``predicted``: coded as kind 131 codes them (8.7.1)."""
    chans = [int(j) for j in chans]
    assert chans == sorted(set(chans)) and 0 <= shift <= S.CORRECTION_MAX_SHIFT
    mask = sum(1 << j for j in chans)
    t = np.asarray(t, np.int64)
    t = t.reshape(len(chans), t.size // len(chans) if chans else 0)
    if predicted:
        t = unpredict(chans, t)
    ctx = np.repeat(np.arange(len(chans), dtype=np.uint8), t.shape[1])
    head = S.CorrectionHeader.build(dict(channels=mask, shift=shift))
    return head + intstream.encode_uints(zigzag(t.reshape(-1)), ctx, len(chans))
