"""Tests of spec 6.4 IntStream."""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refcodec.format import intstream
from refcodec.format.errors import CorruptError
from refcodec.format.schema import IntStream, VarInt

U64 = np.uint64
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


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
