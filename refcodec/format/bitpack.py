"""Raw bit fields, packed LSB-first (spec 6.5).

The stream is a sequence of bits.  A value ``v`` of ``n`` bits contributes bit 0 of ``v``
first, then bit 1, ..., bit n-1.  Stream bit ``k`` is stored in byte ``k // 8`` at bit
position ``k % 8`` (value ``1 << (k % 8)``).  The last byte is zero-padded; the byte length
is exactly ``ceil(total_bits / 8)``.

Implementation: the bit stream is viewed as little-endian 64-bit words.  A field of at most
64 bits starting at stream bit ``o`` lies in word ``o // 64`` and possibly word
``o // 64 + 1``, so packing is two vectorized scatter-ORs and unpacking two gathers; there
is no loop over values.
"""
from __future__ import annotations

import numpy as np

from refcodec.format.errors import CorruptError

__all__ = ["pack", "unpack", "packed_size"]

_U64 = np.uint64
MAX_FIELD_BITS = 64


def _check_nbits(nbits) -> np.ndarray:
    nb = np.asarray(nbits)
    if nb.ndim != 1:
        nb = nb.reshape(-1)
    if nb.size and (nb.dtype.kind not in "ui" or int(nb.min()) < 0
                    or int(nb.max()) > MAX_FIELD_BITS):
        raise ValueError(f"bit counts must be integers in 0..{MAX_FIELD_BITS}")
    return nb.astype(np.int64)


def packed_size(nbits) -> int:
    """Byte length of the packed stream: ceil(sum(nbits) / 8)."""
    nb = _check_nbits(nbits)
    return (int(nb.sum()) + 7) // 8


# 2**n - 1 for n = 0..64
_MASK = np.array([(1 << i) - 1 for i in range(MAX_FIELD_BITS + 1)], dtype=_U64)
# Values are processed in chunks so that the temporaries stay in cache (about 2x faster
# than whole-array passes); the chunking changes nothing in the result.
_CHUNK = 1 << 16


def pack(values, nbits) -> bytes:
    """spec 6.5: pack ``values[i]`` in ``nbits[i]`` bits each, in index order.

    Raises ValueError if a value does not fit its bit count (an encoder bug).
    """
    nb = np.asarray(nbits).reshape(-1)
    if nb.size and (nb.dtype.kind not in "ui" or int(nb.min()) < 0 or int(nb.max()) > MAX_FIELD_BITS):
        raise ValueError(f"bit counts must be integers in 0..{MAX_FIELD_BITS}")
    v = np.asarray(values).reshape(-1)
    if v.shape != nb.shape:
        raise ValueError("values and nbits differ in length")
    if v.size == 0:
        return b""
    total = int(nb.sum(dtype=np.int64))
    nwords = (total + 63) // 64
    words = np.zeros(nwords + 2, dtype=_U64)      # zero-width fields may start at word nwords
    start = _U64(0)
    # everything per chunk (no whole-array temporaries: ~1 byte a value beyond the input)
    for a in range(0, v.size, _CHUNK):
        b = min(a + _CHUNK, v.size)
        vc = v[a:b].astype(_U64)
        nbc = nb[a:b].astype(np.int64)
        if bool(np.any(vc & ~_MASK[nbc])):
            raise ValueError("a value does not fit in its bit count")
        nb64 = nbc.astype(_U64)
        ends = np.cumsum(nb64) + start
        start = ends[-1]
        st = ends - nb64
        w = (st >> _U64(6)).astype(np.intp)      # non-decreasing
        sh = st & _U64(63)
        lo = vc << sh
        # the part that spills into the next word, v >> (64 - sh), as two shifts so that
        # sh == 0 gives 0 rather than an undefined 64-bit shift
        spill = (vc >> _U64(1)) >> (_U64(63) - sh)
        # fields are disjoint, so each word is the OR of the contributions aimed at it;
        # w is sorted, so those are contiguous runs: reduce each run, then scatter.
        heads = np.flatnonzero(np.diff(w, prepend=-1))
        uw = w[heads]
        words[uw] |= np.bitwise_or.reduceat(lo, heads)
        words[uw + 1] |= np.bitwise_or.reduceat(spill, heads)
    return words.astype("<u8").tobytes()[: (total + 7) // 8]


def unpack(data, nbits) -> np.ndarray:
    """spec 6.5: inverse of :func:`pack`; returns uint64 values.

    Raises CorruptError if ``data`` is not exactly ``ceil(sum(nbits)/8)`` bytes long or a
    padding bit of the last byte is set.
    """
    reader = BitReader(data)
    out = reader.read(nbits)
    reader.finish()
    return out


class BitReader:
    """Reads consecutive LSB-first fields of ``data`` (spec 6.5) batch by batch.

    A field starting at stream bit ``o`` is read from the 8 bytes at byte ``o // 8`` (an
    unaligned little-endian 64-bit view), shifted right by ``o % 8``: one gather for fields
    of up to 56 bits; wider ones (rare) also take the next word."""

    def __init__(self, data):
        buf = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self.nbytes = len(buf)
        nwords = (self.nbytes + 7) // 8
        padded = np.zeros((nwords + 2) * 8, dtype=np.uint8)    # see pack()
        padded[: self.nbytes] = np.frombuffer(buf, dtype=np.uint8)
        self.words = padded.view("<u8")
        self.window = np.ndarray(shape=(padded.size - 7,), dtype="<u8", buffer=padded, strides=(1,))
        self.pos = 0                                            # bits consumed

    def read(self, nbits) -> np.ndarray:
        nb = np.asarray(nbits).reshape(-1)
        if nb.size == 0 or (nb.dtype.kind in "ui" and int(nb.max()) == 0 and int(nb.min()) == 0):
            return np.zeros(nb.size, dtype=_U64)                # no extra bits in this batch
        if nb.dtype != np.uint8:
            nb = _check_nbits(nb).astype(np.uint8)
        elif int(nb.max()) > MAX_FIELD_BITS:
            raise ValueError(f"bit counts must be integers in 0..{MAX_FIELD_BITS}")
        out = np.empty(nb.size, dtype=_U64)
        pos = _U64(self.pos)
        for a in range(0, nb.size, _CHUNK):
            b = min(a + _CHUNK, nb.size)
            n = nb[a:b]
            st = np.cumsum(n, dtype=_U64)
            st += pos
            pos = st[-1]
            st -= n                                             # start bit of each field
            if int(pos) > 8 * self.nbytes:
                raise CorruptError(f"raw bit stream too short: {self.nbytes} bytes, need {(int(pos) + 7) // 8}")
            v = self.window[(st >> _U64(3)).astype(np.intp)]
            v >>= st & _U64(7)
            wide = np.flatnonzero(n > 56)
            if wide.size:                                       # two aligned words, as pack()
                sw = st[wide]
                w = (sw >> _U64(6)).astype(np.intp)
                sh = sw & _U64(63)
                v[wide] = (self.words[w] >> sh) | ((self.words[w + 1] << _U64(1)) << (_U64(63) - sh))
            v &= _MASK[n]
            out[a:b] = v
        self.pos = int(pos)
        return out

    def finish(self) -> None:
        need = (self.pos + 7) // 8
        if self.nbytes > need:
            raise CorruptError(f"raw bit stream too long: {self.nbytes} bytes, expected {need}")
        if self.pos % 8 and int(self.words.view(np.uint8)[need - 1]) >> (self.pos % 8):
            raise CorruptError("raw bit stream: nonzero padding bits")
