"""Interleaved rANS with static per-context tables (spec 6.3).

Constants: PROB_BITS = 12 (frequencies sum to M = 4096), RANS_L = 2**16 (lower bound of
the normalized state interval [2**16, 2**32)), 16-bit renormalization words, 32-bit state.

Symbol ``i`` (0-based) of ``n`` is coded in lane ``k = i mod K`` at step ``t = i div K``
(``K = 2**lanes_log2``); its table is that of context ``ctx[i]``.  Both sides know ``ctx``.

Normative decoding (spec 6.3)::

    x[k] = states[k] (u32 LE) for k < K; p = 0; T = ceil(n/K)
    for t in 0..T-1:
      for each k ascending with i = t*K+k < n:
         c = ctx[i]; slot = x[k] & 4095
         s = the symbol with cum[c][s] <= slot < cum[c][s] + freq[c][s]
         x[k] = freq[c][s] * (x[k] >> 12) + slot - cum[c][s]; out[i] = s
      for each k ascending with i = t*K+k < n:
         if x[k] < 2**16:
            if p == num_words: error
            x[k] = (x[k] << 16) | words[p]; p += 1
    at the end: p == num_words and x[k] == 2**16 for every k < K, else error

Encoding is the exact inverse (steps T-1 down to 0, states start at 2**16, words of one
step are collected in descending lane order and the whole word list is reversed at the
end).  Both directions here are vectorized across lanes: the only Python loop runs over
the T steps.  ``rans_reference`` holds the obviously-correct scalar version used by tests.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Sequence

import numpy as np

from refcodec.format.errors import CorruptError, LimitError

__all__ = [
    "PROB_BITS", "PROB_SCALE", "RANS_L", "MAX_LANES_LOG2", "MAX_NSYM", "TARGET_STEPS",
    "normalize_freqs", "choose_lanes_log2", "validate_tables", "encode", "decode", "Decoder", "work_limits",
]

PROB_BITS = 12
PROB_SCALE = 1 << PROB_BITS          # M = 4096
RANS_L = 1 << 16                     # lower bound of the state interval
MAX_LANES_LOG2 = 12                  # spec 6.4: lanes_log2 <= 12
MAX_NSYM = 136                       # spec 6.2/6.3: hybrid-uint alphabet
TARGET_STEPS = 1024                  # encoder's aim for the number of steps (not normative)

_SLOT_MASK = PROB_SCALE - 1
_XMAX_SHIFT = 20   # encoder: x_max(f) = ((RANS_L >> PROB_BITS) << 16) * f = f << 20


# ---------------------------------------------------------------------------------------------
# Encoder-side helpers (not normative: any tables that pass validation are valid)

def normalize_freqs(counts) -> np.ndarray:
    """Scale symbol counts to frequencies summing to exactly 4096 (int64 array).

    Deterministic and integer-only: every symbol with count > 0 gets freq >= 1 and every
    symbol with count 0 gets freq 0.  Method: floor(count * 4096 / total), raised to 1 where
    that is 0; a deficit is handed out one unit each to the symbols with the largest
    remainders (ties: lowest index); an excess (from the raised ones) is taken one unit at a
    time from the symbol with the largest frequency (ties: lowest index), never below 1.
    Raises ValueError if there are no symbols or more than 4096 distinct ones.
    """
    c = [int(x) for x in np.asarray(counts).reshape(-1).tolist()]
    if any(x < 0 for x in c):
        raise ValueError("symbol counts must be non-negative")
    total = sum(c)
    if total == 0:
        raise ValueError("normalize_freqs needs at least one symbol with count > 0")
    nz = [i for i, x in enumerate(c) if x > 0]
    if len(nz) > PROB_SCALE:
        raise ValueError("more than 4096 distinct symbols")
    f = [0] * len(c)
    rem = [0] * len(c)
    raised = [False] * len(c)
    for i in nz:
        q, r = divmod(c[i] * PROB_SCALE, total)
        if q == 0:
            q, raised[i] = 1, True
        f[i], rem[i] = q, r
    diff = PROB_SCALE - sum(f)
    if diff > 0:
        # deficit <= number of non-raised symbols with a nonzero remainder
        order = sorted((i for i in nz if not raised[i] and rem[i] > 0),
                       key=lambda i: (-rem[i], i))
        for i in order[:diff]:
            f[i] += 1
        diff = PROB_SCALE - sum(f)
        if diff > 0:                     # cannot happen, but stay exact whatever the input
            f[max(nz, key=lambda i: (f[i], -i))] += diff
    while diff < 0:                      # excess < number of raised symbols
        i = max(nz, key=lambda j: (f[j], -j))
        f[i] -= 1
        diff += 1
    return np.asarray(f, dtype=np.int64)


def choose_lanes_log2(n: int, target_steps: int = TARGET_STEPS) -> int:
    """Encoder's lane count: the smallest L in 0..12 with ceil(n / 2**L) <= target_steps.

    Few lanes keep the per-lane overhead (a 4-byte final state each) small; enough lanes
    keep the number of decoder steps, which is what a vectorized decoder pays per call
    (roughly 10-20 us each), at ``target_steps`` or fewer (default 1024: against 512, plant
    with --prune at level 2.5 0.5% smaller, decode 0.139 -> 0.163 s; a 150k SH3 scene 0.5%
    smaller, decode 0.226 -> 0.261 s; against 2048, plant 0.3% larger, decode 0.223 s).  Above
    ``target_steps * 4096`` symbols it returns 12 (more steps then).
    Not normative: a decoder accepts any lanes_log2 in 0..12.
    """
    n = int(n)
    target_steps = max(1, int(target_steps))
    for L in range(MAX_LANES_LOG2 + 1):
        if -(-n >> L) <= target_steps:
            return L
    return MAX_LANES_LOG2


# ---------------------------------------------------------------------------------------------
# Table validation and lookup (spec 6.3)

def validate_tables(freqs: Sequence[Sequence[int]], used: np.ndarray | Sequence[bool]) -> None:
    """spec 6.3: raise CorruptError unless every table is valid.

    A table is valid if it has at most 136 entries and either has 0 entries (nsym = 0) or
    its frequencies sum to exactly 4096.  A context used by at least one symbol must not have
    nsym = 0.
    """
    used = np.asarray(used, dtype=bool)
    if len(freqs) != used.size:
        raise CorruptError("rANS: number of tables does not match the number of contexts")
    for c, fr in enumerate(freqs):
        nsym = len(fr)
        if nsym > MAX_NSYM:
            raise CorruptError(f"rANS table {c}: nsym {nsym} > {MAX_NSYM}")
        if nsym == 0:
            if used[c]:
                raise CorruptError(f"rANS table {c}: empty table for a context in use")
            continue
        vals = [int(x) for x in fr]
        if any(v < 0 for v in vals):
            raise CorruptError(f"rANS table {c}: negative frequency")
        if sum(vals) != PROB_SCALE:
            raise CorruptError(
                f"rANS table {c}: frequencies sum to {sum(vals)}, must be {PROB_SCALE}")


def _freq_arrays(freqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(freq, cum) as (C, 136) int64 arrays, zero-padded."""
    C = len(freqs)
    f = np.zeros((C, MAX_NSYM), dtype=np.int64)
    for c, fr in enumerate(freqs):
        if len(fr):
            f[c, : len(fr)] = np.asarray(fr, dtype=np.int64)
    cum = np.zeros_like(f)
    np.cumsum(f[:, :-1], axis=1, out=cum[:, 1:])
    return f, cum


def _slot_tables(freqs: Sequence[Sequence[int]], used: np.ndarray, out=None):
    """Per (context, slot) lookup: symbol, freq and slot - cum, flattened as c*4096 + slot.

    Only the contexts in ``used`` with non-empty tables are filled in (the others are never
    looked up); ``out``: the (sym, frq, bias) arrays to fill in place. Tables must be valid
    (each sums to 4096)."""
    C = len(freqs)
    if out is None:
        out = (np.zeros(C * PROB_SCALE, dtype=np.uint8), np.zeros(C * PROB_SCALE, dtype=np.int64),
               np.zeros(C * PROB_SCALE, dtype=np.int64))
    sym, frq, bias = out
    ctx = [c for c in np.flatnonzero(np.asarray(used, bool)) if len(freqs[c])]
    if not ctx:
        return sym, frq, bias
    f = np.concatenate([np.asarray(freqs[c], dtype=np.int64) for c in ctx])
    s = np.concatenate([np.arange(len(freqs[c]), dtype=np.int64) for c in ctx])
    cum = np.cumsum(f) - f                                  # running over all the tables
    rows = np.asarray(ctx, dtype=np.int64)[:, None] * PROB_SCALE + np.arange(PROB_SCALE)
    k = np.repeat(np.arange(len(ctx)), PROB_SCALE)          # which table each slot is in
    sym[rows.reshape(-1)] = np.repeat(s, f)
    frq[rows.reshape(-1)] = np.repeat(f, f)
    bias[rows.reshape(-1)] = np.tile(np.arange(PROB_SCALE), len(ctx)) - (np.repeat(cum, f) - k * PROB_SCALE)
    return sym, frq, bias


def _check_ctx(ctx: np.ndarray, num_contexts: int) -> np.ndarray:
    ctx = np.asarray(ctx)
    if ctx.ndim != 1:
        raise CorruptError("rANS: contexts must be a 1-D array")
    if ctx.size and (ctx.dtype.kind not in "ui" or int(ctx.min()) < 0
                     or int(ctx.max()) >= num_contexts):
        raise CorruptError(f"rANS: context index outside 0..{num_contexts - 1}")
    return ctx.astype(np.intp)


# ---------------------------------------------------------------------------------------------
# Encoder (inverse of spec 6.3)

def encode(symbols, contexts, freqs: Sequence[Sequence[int]], lanes_log2: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """rANS-encode ``symbols`` (symbol i with table ``freqs[contexts[i]]``).

    Returns ``(states, words)``: uint32 array of K = 2**lanes_log2 final states and the
    uint16 word list in decoder reading order.  Raises ValueError on a symbol whose
    frequency is 0 or that is outside its table, or on invalid tables.
    """
    sym = np.asarray(symbols).reshape(-1)
    if not 0 <= int(lanes_log2) <= MAX_LANES_LOG2:
        raise ValueError(f"lanes_log2 must be in 0..{MAX_LANES_LOG2}")
    K = 1 << int(lanes_log2)
    n = sym.size
    try:
        ctx = np.asarray(contexts)
        if not (ctx.dtype == np.uint8 and ctx.ndim == 1 and (ctx.size == 0 or int(ctx.max()) < len(freqs))):
            ctx = _check_ctx(contexts, len(freqs))    # general case (8-byte indices)
        if ctx.size != n:
            raise ValueError("symbols and contexts differ in length")
        validate_tables(freqs, np.bincount(ctx, minlength=len(freqs)) > 0)
    except CorruptError as e:                        # encoder input: a caller error
        raise ValueError(str(e)) from None
    states = np.full(K, RANS_L, dtype=np.uint64)
    if n == 0:
        return states.astype(np.uint32), np.zeros(0, dtype=np.uint16)
    if sym.dtype.kind not in "ui" or int(sym.min()) < 0 or int(sym.max()) >= MAX_NSYM:
        raise ValueError("symbols must be integers in 0..135")
    f_tab, c_tab = _freq_arrays(freqs)
    # per-symbol frequency and cumulative frequency, 2 bytes each (both < 2^13); widened to
    # 64 bits one step at a time, so the encoder needs about 4 bytes a symbol beyond its input
    flat = ctx.astype(np.int32) * MAX_NSYM + sym.astype(np.int32)
    f_sym = f_tab.astype(np.uint16).reshape(-1)[flat]
    if bool(np.any(f_sym == 0)):
        raise ValueError("a symbol has frequency 0 in its table")
    c_sym = c_tab.astype(np.uint16).reshape(-1)[flat]
    del flat
    T = -(-n // K)
    pad = T * K - n
    chunks = []
    x = states
    s16 = np.uint64(16)
    pb = np.uint64(PROB_BITS)
    m16 = np.uint64(0xFFFF)
    xs_shift = np.uint64(_XMAX_SHIFT)
    for t in range(T - 1, -1, -1):
        kk = K if t < T - 1 else K - pad
        xs = x[:kk]
        f = f_sym[t * K: t * K + kk].astype(np.uint64)
        emit = xs >= (f << xs_shift)                # x >= x_max(f) -> emit a word first
        if emit.any():
            idx = np.flatnonzero(emit)
            chunks.append((xs[idx[::-1]] & m16))    # descending lane order (spec 6.3)
            xs[idx] >>= s16
        q, r = np.divmod(xs, f)
        xs[:] = (q << pb) + r + c_sym[t * K: t * K + kk]
    if chunks:
        words = np.concatenate(chunks)[::-1].astype(np.uint16)
    else:
        words = np.zeros(0, dtype=np.uint16)
    return x.astype(np.uint32), words


# ---------------------------------------------------------------------------------------------
# Work limits (spec 9.7 b, c): a decoder may bound the steps of a stream with fewer than 4096
# lanes and the steps of a whole decode. Set for a decode with ``work_limits``; none by default.

class _Work:
    def __init__(self, per_lane: int | None, budget: int | None):
        self.per_lane, self.left = per_lane, budget


_WORK: contextvars.ContextVar = contextvars.ContextVar("lgs_rans_work", default=None)


@contextlib.contextmanager
def work_limits(per_lane: int | None, budget: int | None):
    """Within the block, a stream with K < 4096 lanes may not need more than ``per_lane`` steps
    (ceil(n / K)), and all streams together not more than ``budget`` steps: LimitError."""
    token = _WORK.set(_Work(per_lane, budget))
    try:
        yield
    finally:
        _WORK.reset(token)


def _charge(i: int, n: int, K: int) -> None:
    w = _WORK.get()
    if w is None:
        return
    if w.per_lane is not None and K < (1 << MAX_LANES_LOG2) and -(-(i + n) // K) > w.per_lane:
        raise LimitError(f"a coded stream of {K} lane{'s' if K > 1 else ''} needs more than {w.per_lane} steps a lane "
                         f"(spec 9.7 b)")
    if w.left is not None:
        w.left -= -(-(i % K + n) // K)          # loop iterations of this batch
        if w.left < 0:
            raise LimitError("the coded streams need more rANS steps than the file's size allows "
                             "(spec 9.7; --trusted lifts it)")


# ---------------------------------------------------------------------------------------------
# Decoder (spec 6.3)

def decode(states, words, contexts, freqs: Sequence[Sequence[int]]) -> np.ndarray:
    """Decode ``len(contexts)`` symbols (uint8) following spec 6.3.

    ``states``: K = 2**L uint32 values (or their 4*K little-endian bytes); ``words``: the
    uint16 words (or their little-endian bytes).  Validates the tables (CorruptError) and
    raises CorruptError if the words run out, are not all consumed, or a final state is not
    2**16.  Integer-only and bit-exact.
    """
    ctx = _check_ctx(contexts, len(freqs))
    validate_tables(freqs, np.bincount(ctx, minlength=len(freqs)) > 0)
    dec = Decoder(states, words, freqs)
    out = dec.read(ctx)
    dec.finish()
    return out


class Decoder:
    """Incremental spec 6.3 decoder: ``read(ctx)`` decodes the next ``len(ctx)`` symbols, so
    the contexts of later symbols may depend on earlier ones (spec 6.4).  Symbols are decoded
    in index order; a batch may start and end in the middle of a step, which reads the words
    in exactly the normative order (lanes ascending within a step).  ``finish()`` checks the
    end conditions.  Work per batch is O(batch + K) vectorized over lanes.
    """

    def __init__(self, states, words, freqs: Sequence[Sequence[int]]):
        x = _as_u32(states, "states")
        K = x.size
        if K == 0 or K & (K - 1) or K > (1 << MAX_LANES_LOG2):
            raise CorruptError("rANS: the number of lanes must be a power of two <= 4096")
        validate_tables(freqs, np.zeros(len(freqs), bool))
        self.K, self.x = K, x.astype(np.int64)
        self.w = _as_u16(words).astype(np.int64)
        self.freqs = freqs
        self.nonempty = np.array([len(f) > 0 for f in freqs], dtype=bool)
        # every table's slot lookup, built once (at most 255 x 4096 entries)
        self.sym, self.frq, self.bias = _slot_tables(freqs, self.nonempty)
        self.i = 0      # symbols decoded so far
        self.p = 0      # words consumed so far

    def _fill(self, used: np.ndarray) -> None:
        """Contexts in use must have tables (spec 6.3)."""
        if bool(np.any(used & ~self.nonempty)):
            c = int(np.flatnonzero(used & ~self.nonempty)[0])
            raise CorruptError(f"rANS table {c}: empty table for a context in use")

    def read(self, contexts) -> np.ndarray:
        """The next ``len(contexts)`` symbols (uint8), symbol i coded with table contexts[i]."""
        return self.sym[self.read_slots(contexts)]

    def read_slots(self, contexts, n: int | None = None) -> np.ndarray:
        """Decode the next symbols and return their slot indices ``context * 4096 + slot``
        (int64), which index ``self.sym`` (the symbol) or any table built like it.
        ``contexts``: one per symbol, or a single int for ``n`` symbols of one context."""
        if n is None:
            ctx = _check_ctx(contexts, len(self.freqs))
            n = ctx.size
            used = np.bincount(ctx, minlength=len(self.freqs)) > 0
            const = None
        else:
            const = int(contexts)
            if not 0 <= const < len(self.freqs):
                raise CorruptError(f"rANS: context index outside 0..{len(self.freqs) - 1}")
            used = np.zeros(len(self.freqs), bool)
            used[const] = n > 0
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        self._fill(used)
        _charge(self.i, n, self.K)
        K, x, w = self.K, self.x, self.w
        W = w.size
        if const is None:
            idx = ctx.astype(np.int64) * PROB_SCALE
        else:
            idx = np.empty(n, dtype=np.int64)
            offset = const * PROB_SCALE
        frq, bias = self.frq, self.bias
        k0 = self.i % K
        pos = 0
        while pos < n:
            m = min(K - k0, n - pos)              # lanes k0 .. k0+m-1 of the current step
            xs = x[k0:k0 + m]                     # a view: updates land in self.x
            it = idx[pos:pos + m]
            if const is None:
                it |= xs & _SLOT_MASK             # context * 4096 + slot
            else:
                np.bitwise_and(xs, _SLOT_MASK, out=it)
                it += offset
            xs >>= PROB_BITS
            xs *= frq[it]
            xs += bias[it]                        # freq * (x >> 12) + slot - cum
            lanes = np.flatnonzero(xs < RANS_L)  # ascending lane order
            cnt = lanes.size
            if cnt:
                if self.p + cnt > W:
                    raise CorruptError("rANS: ran out of words")
                xs[lanes] = (xs[lanes] << 16) | w[self.p:self.p + cnt]
                self.p += cnt
            pos += m
            k0 = 0
        self.i += n
        return idx

    def finish(self) -> None:
        if self.p != self.w.size:
            raise CorruptError(f"rANS: {self.w.size - self.p} words left over")
        if bool(np.any(self.x != RANS_L)):
            raise CorruptError("rANS: a final state is not 2**16 (corrupt stream)")


def _as_u32(a, what: str) -> np.ndarray:
    if isinstance(a, (bytes, bytearray, memoryview)):
        b = bytes(a)
        if len(b) % 4:
            raise CorruptError(f"rANS: {what} length is not a multiple of 4")
        return np.frombuffer(b, dtype="<u4").astype(np.uint32)
    return np.asarray(a, dtype=np.uint32).reshape(-1).copy()


def _as_u16(a) -> np.ndarray:
    if isinstance(a, (bytes, bytearray, memoryview)):
        b = bytes(a)
        if len(b) % 2:
            raise CorruptError("rANS: word data length is odd")
        return np.frombuffer(b, dtype="<u2").astype(np.uint16)
    return np.asarray(a, dtype=np.uint16).reshape(-1)
