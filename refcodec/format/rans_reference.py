"""Scalar reference rANS coder (spec 6.3), for tests only.

A direct, per-symbol transcription of the spec pseudo-code with Python integers.  It
produces and accepts exactly the same bitstream as the vectorized ``refcodec.format.rans``;
it is slow and must not be used outside tests.
"""
from __future__ import annotations

from typing import Sequence

from refcodec.format.errors import CorruptError

PROB_BITS = 12
M = 1 << PROB_BITS
RANS_L = 1 << 16


def _cum(freq: Sequence[int]) -> list[int]:
    cum, acc = [], 0
    for f in freq:
        cum.append(acc)
        acc += f
    return cum


def encode(symbols: Sequence[int], contexts: Sequence[int],
           freqs: Sequence[Sequence[int]], lanes_log2: int) -> tuple[list[int], list[int]]:
    """Return (states, words): K final states and the 16-bit words in reading order."""
    K = 1 << lanes_log2
    n = len(symbols)
    cums = [_cum(f) for f in freqs]
    x = [RANS_L] * K
    emitted: list[int] = []
    T = (n + K - 1) // K
    for t in range(T - 1, -1, -1):
        for k in range(K - 1, -1, -1):            # descending lanes: reversed at the end
            i = t * K + k
            if i >= n:
                continue
            c, s = contexts[i], symbols[i]
            f, cu = freqs[c][s], cums[c][s]
            assert f > 0
            if x[k] >= (f << (32 - PROB_BITS)):   # ((RANS_L >> 12) << 16) * f
                emitted.append(x[k] & 0xFFFF)
                x[k] >>= 16
            x[k] = ((x[k] // f) << PROB_BITS) + (x[k] % f) + cu
            assert RANS_L <= x[k] < (1 << 32)
    emitted.reverse()
    return x, emitted


def decode(states: Sequence[int], words: Sequence[int], contexts: Sequence[int],
           freqs: Sequence[Sequence[int]]) -> list[int]:
    """Decode len(contexts) symbols exactly as the spec 6.3 pseudo-code does."""
    K = len(states)
    n = len(contexts)
    x = list(states)
    cums = [_cum(f) for f in freqs]
    out = [0] * n
    p = 0
    T = (n + K - 1) // K
    for t in range(T):
        for k in range(K):
            i = t * K + k
            if i >= n:
                break
            c = contexts[i]
            slot = x[k] & (M - 1)
            s = 0
            while not (cums[c][s] <= slot < cums[c][s] + freqs[c][s]):
                s += 1
            x[k] = freqs[c][s] * (x[k] >> PROB_BITS) + slot - cums[c][s]
            out[i] = s
        for k in range(K):
            i = t * K + k
            if i >= n:
                break
            if x[k] < RANS_L:
                if p == len(words):
                    raise CorruptError("out of words")
                x[k] = (x[k] << 16) | words[p]
                p += 1
    if p != len(words) or any(v != RANS_L for v in x):
        raise CorruptError("stream does not end where it must")
    return out
