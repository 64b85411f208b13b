"""Coded integer streams (spec 6.4): the public entropy-coding API.

``encode_uints`` turns unsigned integers into hybrid-uint tokens (spec 6.2), codes the tokens
with interleaved rANS using one static table per context (spec 6.3), packs the extra bits
LSB-first (spec 6.5) and serializes everything as ``IntStream`` (container/schema.py).
``decode_uints`` is its exact, integer-only inverse and trusts nothing in ``data``: every
problem is reported as CorruptError.  ``encode_channels``/``decode_channels`` wrap both for
an (N, C) matrix stored channel-major with context = channel index (spec 6.6).
"""
from __future__ import annotations

import io

import numpy as np
from construct import ConstructError

from refcodec.format.schema import IntStream
from refcodec.format import bitpack, hybrid_uint, rans
from refcodec.format.errors import CorruptError

__all__ = ["encode_uints", "decode_uints", "encode_channels", "decode_channels", "StreamReader"]

MAX_CONTEXTS = 255          # spec 6.4: num_contexts is a u8
_CHUNK = 1 << 16            # values decoded at a time by read_same (not normative)


# ---------------------------------------------------------------------------------------------
# Encoding

def encode_uints(values, contexts, num_contexts: int, lanes_log2: int | None = None) -> bytes:
    """Encode ``values`` (unsigned, < 2**64) as one IntStream (spec 6.4).

    ``contexts[i]`` (0 <= contexts[i] < num_contexts <= 255) selects the probability table
    that codes value i; the decoder must be given the same contexts.  ``lanes_log2``
    overrides the encoder's lane choice (``rans.choose_lanes_log2``).  Raises ValueError or
    TypeError on bad arguments.
    """
    num_contexts = _check_num_contexts(num_contexts, ValueError)
    vals = np.asarray(values).reshape(-1)
    ctx = np.asarray(contexts).reshape(-1)
    if vals.size != ctx.size:
        raise ValueError(f"{vals.size} values but {ctx.size} contexts")
    if ctx.size and (ctx.dtype.kind not in "ui" or int(ctx.min()) < 0
                     or int(ctx.max()) >= num_contexts):
        raise ValueError(f"contexts must be integers in 0..{num_contexts - 1}")
    n = vals.size
    if lanes_log2 is None:
        lanes_log2 = rans.choose_lanes_log2(n)
    if not 0 <= int(lanes_log2) <= rans.MAX_LANES_LOG2:
        raise ValueError(f"lanes_log2 must be in 0..{rans.MAX_LANES_LOG2}")
    lanes_log2 = int(lanes_log2)

    tokens, nbits, extra = hybrid_uint.split(vals)                       # spec 6.2
    ctx_i = ctx if ctx.dtype == np.uint8 else ctx.astype(np.intp)
    counts = np.bincount(ctx_i.astype(np.int32) * rans.MAX_NSYM + tokens,
                         minlength=num_contexts * rans.MAX_NSYM)
    counts = counts.reshape(num_contexts, rans.MAX_NSYM)
    freqs: list[list[int]] = []
    for c in range(num_contexts):
        used = np.flatnonzero(counts[c])
        if used.size == 0:
            freqs.append([])                                              # nsym = 0
        else:
            nsym = int(used[-1]) + 1
            freqs.append(rans.normalize_freqs(counts[c, :nsym]).tolist())
    states, words = rans.encode(tokens, ctx_i, freqs, lanes_log2)        # spec 6.3
    raw = bitpack.pack(extra, nbits)                                     # spec 6.5
    return IntStream.build(dict(
        num_contexts=num_contexts,
        tables=[dict(nsym=len(f), freqs=f) for f in freqs],
        lanes_log2=lanes_log2,
        num_words=int(words.size),
        states=states.astype("<u4").tobytes(),
        words=words.astype("<u2").tobytes(),
        raw_len=len(raw),
        raw=raw,
    ))


def encode_channels(matrix) -> bytes:
    """spec 6.6: encode an (N, C) unsigned matrix channel-major, context = channel index."""
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError("encode_channels needs an (N, C) matrix")
    N, C = m.shape
    if C > MAX_CONTEXTS:
        raise ValueError(f"at most {MAX_CONTEXTS} channels")
    ctx = np.repeat(np.arange(C, dtype=np.uint8), N)
    return encode_uints(m.T.reshape(-1), ctx, C)


# ---------------------------------------------------------------------------------------------
# Decoding

class _GuardedStream(io.BytesIO):
    """BytesIO that stops runaway LEB128 VarInts early.

    construct's VarInt reads one byte at a time and assembles the value in quadratic time,
    so a long run of continuation bytes (0x80..0xFF) could stall the parser.  Valid tables
    never have more than a few single-byte reads with the high bit set in a row (u8 counts
    may be >= 128, and a frequency <= 4096 needs at most one continuation byte), so a run
    longer than 4 is corrupt (a frequency >= 2**21 at least).
    """

    _MAX_RUN = 4

    def __init__(self, data: bytes):
        super().__init__(data)
        self._run = 0

    def read(self, size=-1):
        b = super().read(size)
        if size == 1 and len(b) == 1 and b[0] & 0x80:
            self._run += 1
            if self._run > self._MAX_RUN:
                raise CorruptError("IntStream: VarInt frequency too long")
        else:
            self._run = 0
        return b


def _varint_len(v: int) -> int:
    return max(1, (int(v).bit_length() + 6) // 7)


def _check_num_contexts(num_contexts, exc) -> int:
    try:
        nc = int(num_contexts)
    except (TypeError, ValueError):
        raise exc(f"num_contexts must be an integer, got {num_contexts!r}") from None
    if not 0 <= nc <= MAX_CONTEXTS:
        raise exc(f"num_contexts must be in 0..{MAX_CONTEXTS}, got {nc}")
    return nc


def _parse(data: bytes):
    """spec 6.4: parse with the schema; the stream must end exactly at the end of data."""
    stream = _GuardedStream(data)
    try:
        st = IntStream.parse_stream(stream)
    except ConstructError as e:
        raise CorruptError(f"IntStream: malformed or truncated ({type(e).__name__})") from None
    if stream.tell() != len(data):
        raise CorruptError(
            f"IntStream: {len(data) - stream.tell()} trailing bytes after the stream")
    # spec 6.3: frequencies are minimal LEB128; with all fixed-size fields accounted for,
    # any non-minimal VarInt shows up as extra length.
    canon = 1 + sum(1 + sum(_varint_len(f) for f in tb.freqs) for tb in st.tables)
    canon += 1 + 4 + (4 << st.lanes_log2) + 2 * st.num_words + 4 + st.raw_len
    if canon != len(data):
        raise CorruptError("IntStream: a table frequency is not a minimal LEB128 VarInt")
    return st


def decode_uints(data, contexts, num_contexts: int) -> np.ndarray:
    """Decode one IntStream (spec 6.4) holding ``len(contexts)`` values; returns uint64.

    ``contexts`` and ``num_contexts`` must be those the encoder used.  Any malformation of
    ``data`` (or contexts that cannot match it) raises CorruptError.  Work and memory are
    O(len(contexts) + len(data)).
    """
    reader = StreamReader(data, num_contexts)
    out = reader.read(contexts)
    reader.finish()
    return out


class StreamReader:
    """Reads an IntStream (spec 6.4) in batches: ``read(contexts)`` returns the next
    ``len(contexts)`` values, so a batch's contexts may be computed from the values before it
    (spec 6.4).  ``finish()`` checks that the stream was consumed exactly."""

    def __init__(self, data, num_contexts: int):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CorruptError(f"IntStream: expected bytes, got {type(data).__name__}")
        self.num_contexts = _check_num_contexts(num_contexts, CorruptError)
        st = _parse(bytes(data))
        if st.num_contexts != self.num_contexts:
            raise CorruptError(
                f"IntStream: {st.num_contexts} contexts in the stream, expected {self.num_contexts}")
        self.rans = rans.Decoder(st.states, st.words, [list(tb.freqs) for tb in st.tables])
        self.bits = bitpack.BitReader(st.raw)
        # per rANS slot: its token's extra-bit count and base value (spec 6.2)
        self._nbits = hybrid_uint.EXTRA_BITS[self.rans.sym]
        self._base = hybrid_uint.BASE[self.rans.sym]

    def read(self, contexts) -> np.ndarray:
        ctx = np.asarray(contexts).reshape(-1)
        if ctx.size and (ctx.dtype.kind not in "ui" or int(ctx.min()) < 0
                         or int(ctx.max()) >= self.num_contexts):
            raise CorruptError(f"IntStream: contexts must be integers in 0..{self.num_contexts - 1}")
        return self._values(self.rans.read_slots(ctx))

    def read_same(self, n: int, context: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next ``n`` values, all coded with ``context``: ``read(np.full(n, context))``,
        decoded in chunks (small temporaries) into ``out`` (uint64, n) when given."""
        if not 0 <= context < self.num_contexts:
            raise CorruptError(f"IntStream: contexts must be integers in 0..{self.num_contexts - 1}")
        out = np.empty(n, np.uint64) if out is None else out
        for a in range(0, n, _CHUNK):
            b = min(a + _CHUNK, n)
            self._values(self.rans.read_slots(context, b - a), out[a:b])
        return out

    def _values(self, slots: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        nbits, base = self._nbits, self._base                            # spec 6.3 -> 6.2
        nb = nbits[slots]
        extra = self.bits.read(nb)                                       # spec 6.5
        vals = np.take(base, slots, out=out)
        vals |= extra                                                    # spec 6.2
        return vals

    def finish(self) -> None:
        self.rans.finish()
        self.bits.finish()


def decode_channels(data, n: int, C: int) -> np.ndarray:
    """spec 6.6: inverse of :func:`encode_channels`; returns an (n, C) uint64 matrix."""
    n, C = int(n), int(C)
    if n < 0 or not 0 <= C <= MAX_CONTEXTS:
        raise CorruptError(f"decode_channels: bad shape ({n}, {C})")
    ctx = np.repeat(np.arange(C, dtype=np.uint8), n)
    vals = decode_uints(data, ctx, C)
    return np.ascontiguousarray(vals.reshape(C, n).T)
