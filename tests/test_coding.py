"""Tests of the entropy-coding core (spec 6): hybrid-uint tokens, raw bits, rANS, IntStream."""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refcodec.format import bitpack, hybrid_uint, intstream, rans
from refcodec.format import rans_reference as ref
from refcodec.format.schema import IntStream, VarInt
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


# ---------------------------------------------------------------------------------------------
# spec 6.4 IntStream

@st.composite
def uint_streams(draw):
    C = draw(st.integers(1, 8))
    n = draw(st.sampled_from([0, 1, 5, draw(st.integers(0, 400))]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mode = draw(st.sampled_from(["small", "geom", "wide", "huge", "mixed", "const"]))
    if mode == "small":
        v = rng.integers(0, 16, n).astype(U64)
    elif mode == "geom":
        v = (rng.geometric(0.05, n) - 1).astype(U64)
    elif mode == "wide":
        shift = rng.integers(0, 62, n).astype(U64)
        v = rng.integers(0, 1 << 62, n, dtype=np.int64).astype(U64) >> shift
    elif mode == "huge":
        v = rng.integers(0, 1 << 63, n, dtype=np.uint64) | U64(1 << 63)
    elif mode == "const":
        v = np.full(n, draw(st.integers(0, (1 << 64) - 1)), dtype=U64)
    else:
        v = np.where(rng.random(n) < 0.9, rng.integers(0, 20, n),
                     rng.integers(0, 1 << 40, n)).astype(U64)
    ctx = rng.integers(0, C, n).astype(np.uint8)
    L = draw(st.one_of(st.none(), st.integers(0, 5)))
    return v, ctx, C, L


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uint_streams())
def test_intstream_roundtrip(case):
    v, ctx, C, L = case
    data = intstream.encode_uints(v, ctx, C, lanes_log2=L)
    out = intstream.decode_uints(data, ctx, C)
    assert out.dtype == U64 and out.shape == v.shape and (out == v).all()
    parsed = IntStream.parse(data)
    assert parsed.num_contexts == C
    used = set(ctx.tolist())
    for c, tb in enumerate(parsed.tables):
        assert (tb.nsym == 0) == (c not in used)


def test_intstream_empty_and_scalar_layout():
    data = intstream.encode_uints(np.zeros(0, dtype=U64), np.zeros(0, dtype=np.uint8), 3)
    # 3 empty tables, lanes_log2 0, no words, one state 2**16, raw_len 0
    assert data == bytes([3, 0, 0, 0, 0]) + b"\0" * 4 + (1 << 16).to_bytes(4, "little") + b"\0" * 4
    assert intstream.decode_uints(data, np.zeros(0, dtype=np.uint8), 3).size == 0
    data = intstream.encode_uints(np.array([7], dtype=U64), np.array([1], dtype=np.uint8), 2)
    assert intstream.decode_uints(data, np.array([1], dtype=np.uint8), 2).tolist() == [7]


def test_channels_roundtrip():
    rng = np.random.default_rng(3)
    N, C = 11_000, 14                                # 154k values: several internal chunks
    m = np.stack([(rng.geometric(0.1 + 0.05 * c, N) - 1) for c in range(C)], 1).astype(U64)
    m[:, 3] = rng.integers(0, 1 << 16, N)
    m[:, 5] = 42
    m[::1000, 7] = (1 << 64) - 1
    data = intstream.encode_channels(m)
    out = intstream.decode_channels(data, N, C)
    assert out.shape == (N, C) and out.dtype == U64 and (out == m).all()
    # channel-major with context = channel (spec 6.6)
    ctx = np.repeat(np.arange(C, dtype=np.uint8), N)
    assert (intstream.decode_uints(data, ctx, C) == m.T.reshape(-1)).all()
    empty = intstream.encode_channels(np.zeros((0, 4), U64))
    assert intstream.decode_channels(empty, 0, 4).shape == (0, 4)


def _sample_stream():
    rng = np.random.default_rng(11)
    n = 120
    v = np.where(rng.random(n) < 0.8, rng.integers(0, 30, n), rng.integers(0, 1 << 20, n))
    ctx = rng.integers(0, 3, n).astype(np.uint8)
    return intstream.encode_uints(v.astype(U64), ctx, 3, lanes_log2=2), ctx, v


def test_intstream_structural_errors():
    data, ctx, v = _sample_stream()
    assert (intstream.decode_uints(data, ctx, 3) == v).all()
    with pytest.raises(CorruptError, match="contexts"):
        intstream.decode_uints(data, ctx, 4)          # num_contexts mismatch
    with pytest.raises(CorruptError):
        intstream.decode_uints(data + b"\0", ctx, 3)  # trailing byte
    with pytest.raises(CorruptError):
        intstream.decode_uints(data, np.full(ctx.size, 3, np.uint8), 3)   # ctx out of range
    with pytest.raises(CorruptError):
        intstream.decode_uints(data, ctx[:-1], 3)     # wrong n
    with pytest.raises(CorruptError):
        intstream.decode_uints(data, np.concatenate((ctx, ctx[:1])), 3)
    with pytest.raises(CorruptError):
        intstream.decode_uints("text", ctx, 3)
    for cut in range(len(data)):                      # every truncation
        with pytest.raises(CorruptError):
            intstream.decode_uints(data[:cut], ctx, 3)


def _build(**over):
    fields = dict(num_contexts=1, tables=[dict(nsym=1, freqs=[4096])], lanes_log2=0,
                  num_words=0, states=(1 << 16).to_bytes(4, "little"), words=b"",
                  raw_len=0, raw=b"")
    fields.update(over)
    return IntStream.build(fields)


def test_intstream_table_errors():
    ctx = np.zeros(4, dtype=np.uint8)
    assert intstream.decode_uints(_build(), ctx, 1).tolist() == [0] * 4
    with pytest.raises(CorruptError, match="sum"):
        intstream.decode_uints(_build(tables=[dict(nsym=2, freqs=[4096, 1])]), ctx, 1)
    with pytest.raises(CorruptError, match="empty"):
        intstream.decode_uints(_build(tables=[dict(nsym=0, freqs=[])]), ctx, 1)
    # non-minimal VarInt: 4096 is 0x80 0x20; write it as 0x80 0xA0 0x00
    good = _build()
    assert good[2:4] == VarInt.build(4096)
    bad = good[:2] + b"\x80\xa0\x00" + good[4:]
    with pytest.raises(CorruptError, match="minimal"):
        intstream.decode_uints(bad, ctx, 1)
    # nsym > 136 and lanes_log2 > 12 fail the schema checks
    with pytest.raises(CorruptError):
        intstream.decode_uints(bytes([1, 137]) + good[2:], ctx, 1)
    bad = bytearray(good)
    bad[4] = 13
    with pytest.raises(CorruptError):
        intstream.decode_uints(bytes(bad), ctx, 1)
    # lanes without symbols must hold 2**16; extra word; raw bytes where none are due
    with pytest.raises(CorruptError):
        intstream.decode_uints(_build(states=(1 << 17).to_bytes(4, "little")), ctx, 1)
    with pytest.raises(CorruptError):
        intstream.decode_uints(_build(num_words=1, words=b"\0\0"), ctx, 1)
    with pytest.raises(CorruptError, match="raw"):
        intstream.decode_uints(_build(raw_len=1, raw=b"\0"), ctx, 1)


def test_runaway_varint_is_rejected_quickly():
    data = bytes([1, 1]) + b"\x80" * 2_000_000 + b"\x01" + b"\0" * 20
    t = time.perf_counter()
    with pytest.raises(CorruptError):
        intstream.decode_uints(data, np.zeros(1, dtype=np.uint8), 1)
    assert time.perf_counter() - t < 2.0


def _decode_or_corrupt(data, ctx, C):
    try:
        out = intstream.decode_uints(data, ctx, C)
    except CorruptError:
        return None
    assert out.dtype == U64 and out.shape == ctx.shape
    return out


def test_intstream_every_byte_flipped():
    data, ctx, v = _sample_stream()
    ok = 0
    for pos in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[pos] ^= mask
            if _decode_or_corrupt(bytes(bad), ctx, 3) is not None:
                ok += 1
    assert ok < 3 * len(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_intstream_random_damage_only_corrupt_error(data):
    stream, ctx, _ = _sample_stream()
    buf = bytearray(stream)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(buf)))
        if op == "set" and pos < len(buf):
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[pos:pos + data.draw(st.integers(1, 8))]
    _decode_or_corrupt(bytes(buf), ctx, 3)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 50), st.integers(1, 4))
def test_intstream_garbage_only_corrupt_error(blob, n, C):
    ctx = (np.arange(n) % C).astype(np.uint8)
    _decode_or_corrupt(blob, ctx, C)
    # also behind a plausible header
    _decode_or_corrupt(bytes([C]) + blob, ctx, C)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 6), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_stream_reader_batches_match_one_shot(n, lanes_log2, num_ctx, seed):
    """spec 6.4: reading an IntStream in arbitrary batches gives the one-shot values."""
    from refcodec.format.intstream import StreamReader
    rng = np.random.default_rng(seed)
    vals = (rng.geometric(0.02, n) * rng.integers(1, 300, n)).astype(np.uint64)
    ctx = rng.integers(0, num_ctx, n).astype(np.uint8)
    data = intstream.encode_uints(vals, ctx, num_ctx, lanes_log2=lanes_log2)
    cuts = np.sort(rng.integers(0, n + 1, rng.integers(0, 6)))
    reader = StreamReader(data, num_ctx)
    parts = [reader.read(ctx[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, n])]
    reader.finish()
    assert np.array_equal(np.concatenate(parts), vals)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 700)), max_size=8),
       st.integers(0, 8), st.integers(0, 2**32 - 1))
def test_stream_reader_read_same_matches_read(runs, lanes_log2, seed):
    """The one-context fast path reads exactly what read() with those contexts reads."""
    from refcodec.format.intstream import StreamReader
    rng = np.random.default_rng(seed)
    ctx = np.concatenate([np.full(k, c, np.uint8) for c, k in runs]) if runs else np.zeros(0, np.uint8)
    vals = (rng.geometric(0.05, ctx.size) * rng.integers(1, 1 << 20, ctx.size)).astype(np.uint64)
    data = intstream.encode_uints(vals, ctx, 5, lanes_log2=lanes_log2)
    reader = StreamReader(data, 5)
    parts = [reader.read_same(k, c) for c, k in runs]
    reader.finish()
    got = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    assert np.array_equal(got, vals)
    with pytest.raises(CorruptError):
        StreamReader(data, 5).read_same(1, 5)


def test_decoder_output_matches_reference_dequantization():
    """spec 7.1-7.2: the decoder's in-place binary32 conversions equal the plain functions,
    also for |q| > 2^24 where binary32(q) rounds."""
    from refcodec.format.dequantize import dequantize_attributes, dequantize_positions
    from refcodec.format.decode import _Output
    rng = np.random.default_rng(5)
    n, C = 500, 56                          # SH degree 3: 11 + 45 channels
    q = rng.integers(-(1 << 31), 1 << 31, size=(n, C)).astype(np.int32)
    q[:100] = rng.integers(-300, 300, size=(100, C))
    q = np.asfortranarray(q)
    steps = rng.random(C).astype(np.float32) * np.float32(0.03)
    vox = rng.integers(0, 1 << 16, size=(n, 3)).astype(np.uint16)
    origin, voxel = np.float32([-3.5, 0.25, 7.0]), np.float32([1e-4, 3e-4, 2.5e-4])
    out = _Output(n + 7, C, origin, voxel)
    out.add(vox, q, steps, 3, 1)
    scene, layer, region = out.result()
    assert np.array_equal(scene.positions, dequantize_positions(vox, origin, voxel))
    assert np.array_equal(scene.attribute_matrix(), dequantize_attributes(q, steps))
    assert (layer == 3).all() and (region == 1).all() and scene.n == n
