"""Attributes segment: quantized attribute channels, centred, zigzagged, entropy coded (spec 5.3)."""
from __future__ import annotations

import numpy as np
from construct import ConstructError

from refcodec.coding.hybrid_uint import unzigzag, zigzag
from refcodec.coding.intstream import decode_channels, encode_channels
from refcodec.container.schema import AttributesPayload
from refcodec.errors import CorruptError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def encode(q: np.ndarray) -> bytes:
    """``q``: (N, C) int64 quantized attributes of one unit, in decoding order."""
    n, c = q.shape
    centers = np.median(q, axis=0).round().astype(np.int64) if n else np.zeros(c, np.int64)
    u = zigzag(q - centers[None, :])
    return AttributesPayload.build(dict(num_channels=c, centers=[int(x) for x in centers],
                                        stream=encode_channels(u)))


def decode(payload: bytes, count: int, channels: int) -> np.ndarray:
    """Return the (count, channels) int64 quantized attributes. spec 5.3."""
    try:
        a = AttributesPayload.parse(payload)
    except ConstructError as e:
        raise CorruptError(f"attributes payload is malformed: {e}") from None
    if a.num_channels != channels:
        raise CorruptError(f"attributes carry {a.num_channels} channels, header implies {channels}")
    u = decode_channels(a.stream, count, channels)
    if np.any(u >= np.uint64(1 << 33)):
        raise CorruptError("attribute value out of range")
    q = unzigzag(u) + np.asarray(a.centers, dtype=np.int64)[None, :]
    if q.size and (q.min() < INT32_MIN or q.max() > INT32_MAX):
        raise CorruptError("attribute value outside the 32-bit range")
    return q
