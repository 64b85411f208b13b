"""Tests of spec 6.5 raw bits."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refcodec.format import bitpack
from refcodec.format.errors import CorruptError

U64 = np.uint64
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# spec 6.5 raw bits

def _pack_scalar(vals, nbits) -> bytes:
    bits = []
    for v, n in zip(vals, nbits):
        bits += [(v >> j) & 1 for j in range(n)]
    out = bytearray((len(bits) + 7) // 8)
    for j, b in enumerate(bits):
        out[j // 8] |= b << (j % 8)
    return bytes(out)


fields = st.lists(st.integers(0, 64).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, (1 << n) - 1))), max_size=150)


@FAST
@given(fields)
def test_bitpack_roundtrip_matches_scalar(fl):
    nb = np.array([n for n, _ in fl], dtype=np.uint8)
    v = np.array([x for _, x in fl], dtype=U64)
    data = bitpack.pack(v, nb)
    assert data == _pack_scalar(v.tolist(), nb.tolist())
    assert len(data) == bitpack.packed_size(nb)
    out = bitpack.unpack(data, nb)
    assert out.dtype == U64 and (out == v).all()


def test_bitpack_spec_example_and_chunks():
    assert bitpack.pack(np.array([5, 10, 1], dtype=U64),
                        np.array([3, 4, 2], dtype=np.uint8)) == b"\xd5\x00"
    rng = np.random.default_rng(7)
    n = 150_000                                       # spans several internal chunks
    nb = rng.integers(0, 63, n).astype(np.uint8)
    nb[rng.random(n) < 0.5] = 0
    v = rng.integers(0, 1 << 62, n, dtype=np.int64).astype(U64) & bitpack._MASK[nb]
    data = bitpack.pack(v, nb)
    assert (bitpack.unpack(data, nb) == v).all()


def test_bitpack_corrupt_inputs():
    nb = np.array([3, 4, 2], dtype=np.uint8)
    good = b"\xd5\x00"
    with pytest.raises(CorruptError):
        bitpack.unpack(good[:1], nb)                 # too short
    with pytest.raises(CorruptError):
        bitpack.unpack(good + b"\x00", nb)           # too long
    with pytest.raises(CorruptError):
        bitpack.unpack(b"\xd5\x02", nb)              # padding bit set
    with pytest.raises(CorruptError):
        bitpack.unpack(b"\x00", np.zeros(5, dtype=np.uint8))
    assert bitpack.unpack(b"", np.zeros(5, dtype=np.uint8)).tolist() == [0] * 5
    with pytest.raises(ValueError):
        bitpack.pack(np.array([8], dtype=U64), np.array([3], dtype=np.uint8))
