"""Tests of spec 6.2 hybrid-uint tokens."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refcodec.format import hybrid_uint
from refcodec.format.errors import CorruptError

U64 = np.uint64
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# spec 6.2 hybrid-uint tokens

def _split_scalar(u: int) -> tuple[int, int, int]:
    if u < 16:
        return u, 0, 0
    n = u.bit_length() - 1
    m = (u >> (n - 1)) & 1
    return 16 + 2 * (n - 4) + m, n - 1, u & ((1 << (n - 1)) - 1)


EDGE_VALUES = sorted({v for k in range(64) for d in (-1, 0, 1)
                      if 0 <= (v := (1 << k) + d) < 1 << 64}
                     | {(1 << 64) - 1, (1 << 63) + (1 << 62), (1 << 62) - 1, 3 << 61,
                        (1 << 53) - 1, (1 << 53) + 1, 0, 15, 16, 23, 24, 32})


def test_hybrid_split_edges_match_scalar():
    u = np.array(EDGE_VALUES, dtype=U64)
    tok, nb, ex = hybrid_uint.split(u)
    for v, t, b, e in zip(EDGE_VALUES, tok.tolist(), nb.tolist(), ex.tolist()):
        assert (t, b, e) == _split_scalar(v), v
    assert (hybrid_uint.join(tok, ex) == u).all()
    assert (hybrid_uint.extra_bits(tok) == nb).all()
    assert tok.dtype == np.uint8 and nb.dtype == np.uint8 and ex.dtype == U64
    assert int(tok.max()) == 135 and int(nb.max()) == 62


def test_hybrid_spec_examples():
    vals = [16, 23, 24, 32, 1 << 62, (1 << 64) - 1]
    tok, nb, ex = hybrid_uint.split(np.array(vals, dtype=U64))
    assert tok.tolist() == [16, 16, 17, 18, 132, 135]
    assert nb.tolist() == [3, 3, 3, 4, 61, 62]
    assert ex.tolist() == [0, 7, 0, 0, 0, (1 << 62) - 1]


@FAST
@given(st.lists(st.one_of(st.integers(0, 40), st.integers(0, (1 << 64) - 1),
                          st.integers(1 << 61, (1 << 63) - 1)), max_size=200))
def test_hybrid_roundtrip(vals):
    u = np.array(vals, dtype=U64)
    tok, nb, ex = hybrid_uint.split(u)
    assert [_split_scalar(v) for v in vals] == list(zip(tok.tolist(), nb.tolist(), ex.tolist()))
    assert (hybrid_uint.join(tok, ex) == u).all()


def test_hybrid_join_rejects_bad_input():
    with pytest.raises(CorruptError):
        hybrid_uint.join(np.array([136], dtype=np.uint8), np.array([0], dtype=U64))
    with pytest.raises(CorruptError):
        hybrid_uint.join(np.array([16], dtype=np.uint8), np.array([8], dtype=U64))
    with pytest.raises(CorruptError):
        hybrid_uint.extra_bits(np.array([200], dtype=np.uint8))


def test_hybrid_accepts_signed_nonnegative_and_rejects_negative():
    tok, _, _ = hybrid_uint.split(np.array([0, 5, 1 << 40], dtype=np.int64))
    assert tok.tolist()[:2] == [0, 5]
    with pytest.raises(ValueError):
        hybrid_uint.split(np.array([-1], dtype=np.int64))


def test_zigzag():
    s = np.array([0, -1, 1, -2, 2, (1 << 63) - 1, -(1 << 63)], dtype=np.int64)
    z = hybrid_uint.zigzag(s)
    assert z.dtype == U64
    assert z.tolist() == [0, 1, 2, 3, 4, (1 << 64) - 2, (1 << 64) - 1]
    assert (hybrid_uint.unzigzag(z) == s).all()


@FAST
@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=100))
def test_zigzag_roundtrip(vals):
    s = np.array(vals, dtype=np.int64)
    z = hybrid_uint.zigzag(s)
    assert z.tolist() == [2 * v if v >= 0 else -2 * v - 1 for v in vals]
    assert (hybrid_uint.unzigzag(z) == s).all()
