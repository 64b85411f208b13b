"""Hybrid-uint tokens (spec 6.2) and the zigzag map for signed values.

An unsigned integer ``u`` (0 <= u < 2**64) becomes a small *token* (0..135), which is
entropy coded, plus ``nbits`` raw *extra bits*, which are stored verbatim (spec 6.5):

* ``u < 16``: token = u, no extra bits.
* otherwise, with n = floor(log2(u)) (n >= 4) and m = bit n-1 of u:
  token = 16 + 2*(n-4) + m, extra = the low n-1 bits of u (n-1 extra bits).

Inverse: token < 16 gives u = token; otherwise n = 4 + (token-16)//2, m = (token-16)%2 and
u = 2**n | m * 2**(n-1) | extra.  Token 135 (n = 63, m = 1) is the largest, so the alphabet
has at most 136 symbols and the largest extra-bit count is 62.

Every function is vectorized over numpy arrays; nothing loops per value.
"""
from __future__ import annotations

import numpy as np

from refcodec.format.errors import CorruptError

__all__ = [
    "MAX_TOKEN", "ALPHABET_SIZE", "MAX_EXTRA_BITS",
    "split", "join", "extra_bits", "zigzag", "unzigzag",
]

MAX_TOKEN = 135          # spec 6.2: token of u in [2**63 + 2**62, 2**64)
ALPHABET_SIZE = 136      # spec 6.2 / 6.3: nsym <= 136
MAX_EXTRA_BITS = 62      # spec 6.2: n - 1 for n = 63

_U64 = np.uint64


def _extra_bits_table() -> np.ndarray:
    t = np.arange(ALPHABET_SIZE, dtype=np.int64)
    nb = np.where(t < 16, 0, 4 + (t - 16) // 2 - 1)
    return nb.astype(np.uint8)


# spec 6.2: number of extra bits of each token.
_EXTRA_BITS = _extra_bits_table()


def _as_u64(u) -> np.ndarray:
    a = np.asarray(u)
    if a.dtype == np.uint64:
        return a
    if a.dtype.kind == "u":
        return a.astype(np.uint64)
    if a.dtype.kind == "i":
        if a.size and int(a.min()) < 0:
            raise ValueError("hybrid-uint values must be non-negative")
        return a.astype(np.uint64)
    if a.dtype.kind == "b":
        return a.astype(np.uint64)
    if a.size == 0:
        return a.astype(np.uint64)
    raise TypeError(f"hybrid-uint values must be an integer array, got dtype {a.dtype}")


# spec 6.2: value of a token with all extra bits zero (u = token below 16).
def _base_table() -> np.ndarray:
    base = []
    for t in range(ALPHABET_SIZE):
        if t < 16:
            base.append(t)
        else:
            n, m = 4 + (t - 16) // 2, (t - 16) % 2
            base.append((1 << n) | (m << (n - 1)))
    return np.array(base, dtype=np.uint64)


_BASE = _base_table()
EXTRA_BITS, BASE = _EXTRA_BITS, _BASE   # per token (uint8, uint64), for table-driven decoders
_CHUNK = 1 << 16          # cache-sized chunks; the result does not depend on it
_TWO53 = np.uint64(1 << 53)


def floor_log2(u) -> np.ndarray:
    """Exact floor(log2(u)) for uint64 u >= 1, as int64 (unspecified for u == 0)."""
    u = _as_u64(u)
    # The float64 exponent is exact below 2**53; above, rounding can only carry a value up
    # to the next power of two, so the estimate is exact or one too high: fix that case.
    n = (u.astype(np.float64).view(_U64) >> _U64(52)).astype(np.int64) - 1023
    if u.size and u.max() >= _TWO53:
        big = u >= _TWO53
        nb = n[big]
        nb -= (u[big] >> nb.astype(_U64)) == 0
        n[big] = nb
    return n


def split(u) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spec 6.2: values -> (tokens uint8, nbits uint8, extra uint64)."""
    u = _as_u64(u)
    shape = u.shape
    u = u.reshape(-1)
    tokens = np.empty(u.size, dtype=np.uint8)
    nbits = np.empty(u.size, dtype=np.uint8)
    extra = np.empty(u.size, dtype=_U64)
    for a in range(0, u.size, _CHUNK):
        b = min(a + _CHUNK, u.size)
        uc = u[a:b]
        small = uc < _U64(16)
        n1 = np.maximum(floor_log2(uc), 4) - 1            # n - 1 >= 3, extra-bit count
        n1u = n1.astype(_U64)
        top = uc >> n1u                                   # 2 + m for u >= 16
        tok = (n1u << _U64(1)) + top + _U64(8)            # 16 + 2*(n-4) + m
        extra[a:b] = np.where(small, _U64(0), uc - (top << n1u))
        tokens[a:b] = np.where(small, uc, tok)
        nbits[a:b] = np.where(small, 0, n1)
    return tokens.reshape(shape), nbits.reshape(shape), extra.reshape(shape)


def extra_bits(tokens) -> np.ndarray:
    """spec 6.2: number of extra bits of each token (uint8).  Tokens > 135 raise CorruptError."""
    t = np.asarray(tokens)
    if t.size and (t.dtype.kind not in "ui" or int(t.min()) < 0 or int(t.max()) > MAX_TOKEN):
        raise CorruptError(f"hybrid-uint token out of range 0..{MAX_TOKEN}")
    return _EXTRA_BITS[t.astype(np.intp)]


def join(tokens, extra, check: bool = True) -> np.ndarray:
    """spec 6.2: (tokens, extra bits) -> values (uint64).  Inverse of :func:`split`.

    Raises CorruptError if a token is > 135 or (with ``check``) an extra value does not fit
    its bit count.  ``check=False`` is for extra values that come from ``bitpack.unpack``
    with ``extra_bits(tokens)``, which fit by construction.
    """
    t = np.asarray(tokens)
    nb = extra_bits(t)
    x = _as_u64(extra)
    if x.shape != t.shape:
        raise CorruptError("hybrid-uint: tokens and extra bits differ in length")
    if check and x.size and bool(np.any((x >> nb.astype(_U64)) != 0)):
        raise CorruptError("hybrid-uint: extra bits do not fit the token")
    return _BASE[t.astype(np.intp)] | x


def zigzag(v) -> np.ndarray:
    """Signed int64 -> uint64: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ... (a bijection)."""
    a = np.asarray(v)
    if a.dtype.kind not in "iu" and a.size:
        raise TypeError(f"zigzag needs an integer array, got dtype {a.dtype}")
    a = a.astype(np.int64)
    return (a.view(_U64) << _U64(1)) ^ (a >> np.int64(63)).view(_U64)


def unzigzag(u, out=None) -> np.ndarray:
    """Inverse of :func:`zigzag`: uint64 -> int64. ``out``: a uint64 array of u's shape to
    write the result into (its int64 view is returned; ``out=u`` works in place)."""
    a = _as_u64(u)
    if out is None:
        out = np.empty(a.shape, _U64)
    flat_a, flat_o = a.reshape(-1), out.reshape(-1)
    for s in range(0, flat_a.size, _CHUNK):           # small temporaries
        x = flat_a[s:s + _CHUNK]
        neg = (x & _U64(1)).view(np.int64)
        np.negative(neg, out=neg)                     # 0 or -1 (all ones)
        o = flat_o[s:s + _CHUNK]
        np.right_shift(x, _U64(1), out=o)
        o.view(np.int64)[...] ^= neg
    return out.view(np.int64)
