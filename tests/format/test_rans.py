"""Tests of spec 6.3 rANS."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refcodec.format import rans
from refcodec.format import rans_reference as ref
from refcodec.format.errors import CorruptError

U64 = np.uint64
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# spec 6.3 rANS

def test_normalize_freqs():
    f = rans.normalize_freqs([5])
    assert f.tolist() == [4096]
    f = rans.normalize_freqs([0, 3, 0, 1])
    assert f.sum() == 4096 and f[0] == 0 and f[2] == 0 and f[1] > f[3] > 0
    counts = np.array([10**9] + [1] * 135)
    f = rans.normalize_freqs(counts)
    assert f.sum() == 4096 and (f >= 1).all()
    counts = np.arange(136) ** 3
    f = rans.normalize_freqs(counts)
    assert f.sum() == 4096 and f[0] == 0 and (f[1:] >= 1).all()
    assert (rans.normalize_freqs(counts) == f).all()
    with pytest.raises(ValueError):
        rans.normalize_freqs([0, 0])


def test_choose_lanes_log2():
    assert rans.choose_lanes_log2(0) == 0
    assert rans.TARGET_STEPS == 1024
    assert rans.choose_lanes_log2(1024) == 0
    assert rans.choose_lanes_log2(1025) == 1
    assert rans.choose_lanes_log2(5_000_000) == 12
    assert rans.choose_lanes_log2(2048, target_steps=2048) == 0
    assert rans.choose_lanes_log2(2_000_000, target_steps=2048) == 10
    assert rans.choose_lanes_log2(10**9) == 12


@st.composite
def rans_cases(draw):
    """Tables (skewed, degenerate, with zero entries, unused empty ones) and symbols."""
    C = draw(st.integers(1, 6))
    freqs = []
    for _ in range(C):
        kind = draw(st.sampled_from(["random", "skewed", "single", "empty", "wide"]))
        if kind == "single":
            nsym = draw(st.integers(1, 5))
            f = [0] * nsym
            f[draw(st.integers(0, nsym - 1))] = 4096
        elif kind == "empty":
            f = []
        else:
            nsym = {"random": 10, "skewed": 20, "wide": 136}[kind]
            nsym = draw(st.integers(1, nsym))
            counts = draw(st.lists(st.integers(0, 1000), min_size=nsym, max_size=nsym))
            if kind == "skewed":
                counts = [c ** 3 for c in counts]
            if sum(counts) == 0:
                counts[-1] = 1
            f = rans.normalize_freqs(counts).tolist()
        freqs.append(f)
    usable = [c for c in range(C) if freqs[c]]
    if not usable:
        freqs[0] = [4096]
        usable = [0]
    n = draw(st.sampled_from([0, 1, 2, draw(st.integers(0, 300))]))
    L = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ctx = rng.choice(usable, n).astype(np.uint8)
    syms = np.zeros(n, dtype=np.uint8)
    for c in usable:
        where = np.flatnonzero(ctx == c)
        p = np.array(freqs[c], dtype=np.float64) / 4096
        syms[where] = rng.choice(len(p), where.size, p=p)
    return freqs, ctx, syms, L


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rans_cases())
def test_rans_fast_matches_reference(case):
    freqs, ctx, syms, L = case
    s_fast, w_fast = rans.encode(syms, ctx, freqs, L)
    s_ref, w_ref = ref.encode(syms.tolist(), ctx.tolist(), freqs, L)
    assert s_fast.tolist() == s_ref
    assert w_fast.tolist() == w_ref
    assert s_fast.dtype == np.uint32 and w_fast.dtype == np.uint16
    out = rans.decode(s_fast, w_fast, ctx, freqs)
    assert out.dtype == np.uint8 and (out == syms).all()
    assert ref.decode(s_ref, w_ref, ctx.tolist(), freqs) == syms.tolist()
    # bytes forms of states/words decode the same
    out = rans.decode(s_fast.astype("<u4").tobytes(), w_fast.astype("<u2").tobytes(), ctx, freqs)
    assert (out == syms).all()


def _both_decoders(states, words, ctx, freqs):
    try:
        fast = rans.decode(np.array(states, dtype=np.uint32), np.array(words, dtype=np.uint16),
                           ctx, freqs).tolist()
    except CorruptError:
        fast = "corrupt"
    try:
        slow = ref.decode(list(states), list(words), ctx.tolist(), freqs)
    except CorruptError:
        slow = "corrupt"
    return fast, slow


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rans_cases(), st.data())
def test_rans_decoders_agree_on_damaged_streams(case, data):
    freqs, ctx, syms, L = case
    states, words = ref.encode(syms.tolist(), ctx.tolist(), freqs, L)
    what = data.draw(st.sampled_from(["state", "word", "drop", "add", "random"]))
    if what == "state":
        states[data.draw(st.integers(0, len(states) - 1))] = data.draw(st.integers(0, 2**32 - 1))
    elif what == "word" and words:
        words[data.draw(st.integers(0, len(words) - 1))] ^= data.draw(st.integers(1, 0xFFFF))
    elif what == "drop" and words:
        del words[data.draw(st.integers(0, len(words) - 1))]
    elif what == "add":
        words.insert(data.draw(st.integers(0, len(words))), data.draw(st.integers(0, 0xFFFF)))
    elif what == "random":
        states = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=len(states),
                                    max_size=len(states)))
        words = data.draw(st.lists(st.integers(0, 0xFFFF), max_size=2 * len(words) + 2))
    fast, slow = _both_decoders(states, words, ctx, freqs)
    assert fast == slow


def test_rans_table_validation():
    ctx = np.zeros(3, dtype=np.uint8)
    states, words = rans.encode(np.array([0, 1, 0]), ctx, [[2048, 2048]], 0)
    for bad in ([[2048, 2047]], [[]], [[4096] + [0] * 136]):
        with pytest.raises(CorruptError):
            rans.decode(states, words, ctx, bad)
    with pytest.raises(CorruptError):                # unused table must still be valid
        rans.decode(states, words, ctx, [[2048, 2048], [5]])
    assert rans.decode(states, words, ctx, [[2048, 2048], []]).tolist() == [0, 1, 0]
    with pytest.raises(CorruptError):                # context outside the tables
        rans.decode(states, words, np.array([0, 1, 0]), [[2048, 2048]])
    with pytest.raises(ValueError):                  # encoder: symbol with frequency 0
        rans.encode(np.array([1]), np.zeros(1, dtype=np.uint8), [[4096, 0]], 0)


def test_rans_degenerate_tables_cost_nothing():
    n = 1000
    states, words = rans.encode(np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.uint8),
                                [[4096]], 3)
    assert words.size == 0 and (states == 1 << 16).all()
    assert rans.decode(states, words, np.zeros(n, dtype=np.uint8), [[4096]]).tolist() == [0] * n
