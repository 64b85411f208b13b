"""Fuzz the LGS decoder with mutated conformance streams (issue 17 item 5).

    python tools/fuzz.py --minutes 60 [--seed 1] [--out fuzz-findings/] [--memory-every 10]
    python tools/fuzz.py --inputs 20000

In-process: each input is decoded by ``refcodec.format.decode.decode`` (whole file, a random
selection, strict or lenient) and, one time in eight, by ``extract``. An input is a *finding*
when the decoder

- raises anything but an ``LGSError`` (a crash: the spec 9 rule "nothing else may raise");
- runs longer than ``--hang-seconds`` (default 10 s; SIGALRM interrupts it);
- allocates (tracemalloc peak, measured on every ``--memory-every``-th input and on every input
  that declares more than 10^5 Gaussians) more than 4 times the decoded-size bound the file
  justifies: ``4 * (output + len(file)) + 16 MiB``, where output is the canonical dump of
  the declared total_gaussians, (3 + C) float32 values each (spec 4.2, 9).

Findings are written to ``--out`` (``crash-*.lgs``, ``hang-*.lgs``, ``alloc-*.lgs`` with a
``.txt`` beside each) to become malformed-stream cases (conformance/generate.py). A summary
line and ``summary.json`` report inputs run, the rate and the findings.

Mutators (``MUTATORS``): bit flips, byte sets to boundary values, truncations, splices of two
seeds, block duplication/deletion, varint/length-field pokes, and, for each of them, a
*CRC-repaired* variant that recomputes the front CRC and every in-range segment CRC, so that
the payload parsers (geometry, duplicates, attributes, integer streams) are reached instead of
the checksum check.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import struct
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from construct import Array, Struct, Tell, this  # noqa: E402

from refcodec.format import schema as S  # noqa: E402
from refcodec.format.decode import decode, extract  # noqa: E402
from refcodec.format.errors import LGSError  # noqa: E402

MAX_SEED_BYTES = 16_000  # small seeds decode in milliseconds: many inputs a second
_FrontHead = Struct("info" / S.SceneInfo, "regions" / Array(this.info.num_regions, S.Region), "toc_start" / Tell)
SLACK = 16 << 20


def load_seeds(root: Path | None = None, max_bytes: int = MAX_SEED_BYTES) -> list:
    """The conformance inputs (every case folder's input.lgs up to ``max_bytes``), sorted by name."""
    root = root or ROOT / "conformance" / "cases"
    seeds = []
    for p in sorted(root.glob("*/input.lgs")):
        b = p.read_bytes()
        if 16 <= len(b) <= max_bytes and b[:8] == S.MAGIC:
            seeds.append((p.parent.name, b))
    return seeds


# ------------------------------------------------------------------------------------ repair
def _front_length(b: bytes) -> int | None:
    if len(b) < 16:
        return None
    fl = int.from_bytes(b[12:16], "little")
    return fl if 20 <= fl <= len(b) else None


def crc_repair(data: bytes) -> bytes:
    """Recompute every present, in-range segment CRC in the TOC and then the front CRC, so that
    a mutation reaches the parsers behind the checksums. Leaves unparseable fronts alone
    (front CRC still fixed when the front length is in range)."""
    b = bytearray(data)
    fl = _front_length(b)
    if fl is None:
        return bytes(b)
    body = bytes(b[16 : fl - 4])
    try:
        info = S.SceneInfo.parse(body)
        if info.num_segments * 23 + info.num_regions * 31 > len(body):
            raise ValueError
        pos = _FrontHead.parse(body).toc_start
        for _ in range(info.num_segments):
            e = S.TocEntry.parse(body[pos:])
            size = 23 + 4 * len(e.deps)
            if not e.flags & 1 and e.offset + e.length <= len(b):
                crc = zlib.crc32(bytes(b[e.offset : e.offset + e.length]))
                at = 16 + pos + 18  # after layer u8, region u16, kind, flags, reserved, offset u64, length u32
                b[at : at + 4] = crc.to_bytes(4, "little")
            pos += size
    except Exception:  # noqa: BLE001 - a mutated front
        pass
    b[fl - 4 : fl] = zlib.crc32(bytes(b[: fl - 4])).to_bytes(4, "little")
    return bytes(b)


# ---------------------------------------------------------------------------------- mutators
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40]
INTERESTING32 = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000, 0xFFFF, 1 << 24, 1 << 28]


def _pos(rng: random.Random, data: bytes, front_bias: float = 0.3) -> int:
    fl = _front_length(data)
    if fl and rng.random() < front_bias:
        return rng.randrange(0, fl)
    return rng.randrange(0, len(data))


def m_bitflip(rng, data, other):
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 4, 8))):
        i = _pos(rng, b)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_byteset(rng, data, other):
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        b[_pos(rng, b)] = rng.choice(INTERESTING)
    return bytes(b)


def m_word(rng, data, other):
    b = bytearray(data)
    if len(b) < 8:
        return bytes(b)
    i = min(_pos(rng, b), len(b) - 4)
    b[i : i + 4] = struct.pack("<I", rng.choice(INTERESTING32))
    return bytes(b)


def m_truncate(rng, data, other):
    return data[: rng.randrange(0, len(data) + 1)]


def m_splice(rng, data, other):
    i, j = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
    return data[:i] + other[j:]


def m_block(rng, data, other):
    i = rng.randrange(len(data) + 1)
    n = rng.choice((1, 2, 4, 16, 64, 256))
    if rng.random() < 0.5:
        return data[:i] + data[i : i + n] + data[i:]  # duplicate a block
    return data[:i] + data[i + n :]  # delete a block


def m_payload_splice(rng, data, other):
    """Copy a block of one place in the file over another (same length): structure-shaped garbage."""
    b = bytearray(data)
    n = rng.choice((2, 4, 8, 32, 128))
    if len(b) <= n:
        return bytes(b)
    src, dst = rng.randrange(len(b) - n), rng.randrange(len(b) - n)
    b[dst : dst + n] = data[src : src + n]
    return bytes(b)


MUTATORS = {f.__name__[2:]: f for f in (m_bitflip, m_byteset, m_word, m_truncate, m_splice, m_block, m_payload_splice)}


def mutate(rng: random.Random, seeds: list) -> tuple[bytes, str]:
    """One mutated input and a name for how it was made."""
    name, data = seeds[rng.randrange(len(seeds))]
    other = seeds[rng.randrange(len(seeds))][1]
    how = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        k = rng.choice(list(MUTATORS))
        if data:                                            # an earlier truncation may leave nothing
            data = MUTATORS[k](rng, data, other)
        how.append(k)
    if rng.random() < 0.6:
        data = crc_repair(data)
        how.append("crc")
    return data, f"{name}:{'+'.join(how)}"


# ------------------------------------------------------------------------------------ running
class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


def declared_output_bytes(data: bytes) -> int:
    """The canonical dump size of the Gaussians the front declares (0 when it does not parse)."""
    fl = _front_length(data)
    if fl is None:
        return 0
    try:
        info = S.SceneInfo.parse(data[16 : fl - 4])
    except Exception:  # noqa: BLE001
        return 0
    return int(info.total_gaussians) * 4 * (3 + S.num_channels(info.sh_degree))


def run_one(data: bytes, rng: random.Random, measure: bool, hang_seconds: float) -> tuple[str, str]:
    """Decode ``data`` once; returns (outcome, detail): ok | error | crash | hang | alloc."""
    levels = None
    strict = rng.random() < 0.2
    if rng.random() < 0.3 and len(data) > 16:
        nr = 1
        fl = _front_length(data)
        if fl:
            try:
                nr = S.SceneInfo.parse(data[16 : fl - 4]).num_regions
            except Exception:  # noqa: BLE001
                pass
        if nr <= 64:
            levels = [rng.randrange(0, 9) for _ in range(nr)]
    do_extract = rng.random() < 0.125
    if measure:
        tracemalloc.start()
    if hang_seconds:
        signal.setitimer(signal.ITIMER_REAL, hang_seconds)
    outcome, detail = "ok", ""
    try:
        if do_extract:
            extract(data, levels if levels is not None else [255] * 65536)
        else:
            decode(data, levels, strict=strict)
    except Hang:
        outcome, detail = "hang", f"> {hang_seconds} s"
    except LGSError as e:
        outcome, detail = "error", type(e).__name__
    except ValueError as e:
        # the caller's selection (levels) may not fit the file's region count: a usage error
        if "level" in str(e):
            outcome, detail = "error", "usage"
        else:
            outcome, detail = "crash", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001
        outcome, detail = "crash", f"{type(e).__name__}: {e}"
    except RecursionError as e:
        outcome, detail = "crash", f"RecursionError: {e}"
    finally:
        if hang_seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if measure:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    if measure and outcome in ("ok", "error"):
        bound = 4 * (declared_output_bytes(data) + len(data)) + SLACK
        if peak > bound:
            outcome, detail = "alloc", f"peak {peak:,} bytes > bound {bound:,}"
    return outcome, detail


def fuzz(
    seconds: float | None = None,
    inputs: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    memory_every: int = 10,
    hang_seconds: float = 10.0,
    seeds: list | None = None,
    progress: bool = False,
) -> dict:
    seeds = seeds or load_seeds()
    rng = random.Random(seed)
    old = signal.signal(signal.SIGALRM, _alarm) if hang_seconds else None
    counts = {"ok": 0, "error": 0, "crash": 0, "hang": 0, "alloc": 0}
    errors: dict = {}
    findings = []
    t0 = time.monotonic()
    n = 0
    try:
        while True:
            if inputs is not None and n >= inputs:
                break
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
            data, how = mutate(rng, seeds)
            measure = memory_every > 0 and (n % memory_every == 0 or declared_output_bytes(data) > 100_000 * 44)
            outcome, detail = run_one(data, random.Random(rng.random()), measure, hang_seconds)
            counts[outcome] += 1
            if outcome == "error":
                errors[detail] = errors.get(detail, 0) + 1
            elif outcome != "ok":
                findings.append(dict(kind=outcome, how=how, detail=detail, input=n))
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    stem = f"{outcome}-{seed}-{n}"
                    (out / f"{stem}.lgs").write_bytes(data)
                    (out / f"{stem}.txt").write_text(f"{how}\n{detail}\n")
            n += 1
            if progress and n % 10000 == 0:
                el = time.monotonic() - t0
                print(f"{n:,} inputs, {el:.0f} s, {n / el:.0f}/s, {counts}", flush=True)
    finally:
        if hang_seconds:
            signal.signal(signal.SIGALRM, old)
    el = time.monotonic() - t0
    summary = dict(
        inputs=n,
        seconds=round(el, 1),
        rate=round(n / el, 1) if el else 0.0,
        seed=seed,
        seeds=[s[0] for s in seeds],
        outcomes=counts,
        errors=errors,
        crashes=counts["crash"],
        hangs=counts["hang"],
        over_allocations=counts["alloc"],
        memory_every=memory_every,
        findings=findings[:100],
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"summary-{seed}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=None, help="run this long (default: 1 minute)")
    ap.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="fuzz-findings", help="folder for findings and summary-SEED.json")
    ap.add_argument("--memory-every", type=int, default=10, help="tracemalloc every Nth input (0: never)")
    ap.add_argument("--hang-seconds", type=float, default=10.0)
    ap.add_argument(
        "--max-seed-bytes", type=int, default=MAX_SEED_BYTES, help="largest conformance input used as a seed"
    )
    a = ap.parse_args(argv)
    seconds = a.minutes * 60 if a.minutes is not None else (None if a.inputs else 60.0)
    s = fuzz(
        seconds,
        a.inputs,
        a.seed,
        Path(a.out),
        a.memory_every,
        a.hang_seconds,
        seeds=load_seeds(max_bytes=a.max_seed_bytes),
        progress=True,
    )
    print(
        f"{s['inputs']:,} inputs in {s['seconds']} s ({s['rate']}/s): {s['crashes']} crashes, {s['hangs']} hangs, "
        f"{s['over_allocations']} over-allocations; outcomes {s['outcomes']}; errors {s['errors']}"
    )
    return 1 if s["crashes"] or s["hangs"] or s["over_allocations"] else 0


if __name__ == "__main__":
    sys.exit(main())
