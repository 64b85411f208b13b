"""The bounded fuzz mode that CI runs (issue 17 item 5): hypothesis drives tools/fuzz.py's
mutators over the conformance inputs; every input must decode or raise an LGSError, within the
hang limit and the allocation bound. About 30 s on a 2-core CPU; the long mode is
``python tools/fuzz.py --minutes N``."""

import random
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools import fuzz  # noqa: E402

SEEDS = fuzz.load_seeds()


@pytest.fixture(scope="module", autouse=True)
def _alarm():
    old = signal.signal(signal.SIGALRM, fuzz._alarm)
    yield
    signal.signal(signal.SIGALRM, old)


def _check(data: bytes, r: random.Random, measure: bool) -> None:
    outcome, detail = fuzz.run_one(data, r, measure, hang_seconds=10.0)
    assert outcome in ("ok", "error"), f"{outcome}: {detail}"


@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, len(SEEDS) - 1),
    other=st.integers(0, len(SEEDS) - 1),
    ops=st.lists(st.sampled_from(sorted(fuzz.MUTATORS)), min_size=1, max_size=3),
    rnd=st.integers(0, 2**32 - 1),
    repair=st.booleans(),
)
def test_mutated_conformance_inputs(seed, other, ops, rnd, repair):
    r = random.Random(rnd)
    data = SEEDS[seed][1]
    for op in ops:
        if data:
            data = fuzz.MUTATORS[op](r, data, SEEDS[other][1])
    if repair:
        data = fuzz.crc_repair(data)
    _check(data, r, measure=rnd % 8 == 0)


def test_seeds_cover_the_payload_parsers():
    names = {n for n, _ in SEEDS}
    for must in (
        "geometry-octree-methods",
        "attributes-rest-mask-thresholds",
        "attributes-grid-shifts-copies",
        "tiny-base",
        "sh3-extracted-object",
    ):
        assert must in names


def test_mutate_survives_empty_intermediates():
    """A truncation to nothing followed by another mutator (found by the long mode: a harness bug)."""
    r = random.Random(7)
    for _ in range(1000):
        data, how = fuzz.mutate(r, SEEDS)
        assert isinstance(data, bytes)
    assert fuzz.crc_repair(b"") == b""


def test_crc_repair_reaches_the_payloads():
    """A payload byte flipped and repaired passes every checksum: the unit fails in its parser, or
    decodes to other values, never as a checksum drop."""
    from refcodec.format.decode import decode

    data = dict(SEEDS)["tiny-base"]
    b = bytearray(data)
    b[-20] ^= 0x40
    fixed = fuzz.crc_repair(bytes(b))
    res = decode(fixed)
    assert not [u for u in res.units if u.status == "checksum"]


def test_harness_counts_a_crash(monkeypatch):
    """The harness reports what it is for: a non-LGSError exception is a crash, a slow decode a hang."""

    def boom(*a, **k):
        raise IndexError("x")

    monkeypatch.setattr(fuzz, "decode", boom)
    monkeypatch.setattr(fuzz, "extract", boom)
    s = fuzz.fuzz(inputs=5, seed=1, out=None, memory_every=0, seeds=SEEDS[:3])
    assert s["crashes"] == 5

    def slow(*a, **k):
        import time

        time.sleep(5)

    monkeypatch.setattr(fuzz, "decode", slow)
    monkeypatch.setattr(fuzz, "extract", slow)
    s = fuzz.fuzz(inputs=1, seed=1, out=None, memory_every=0, hang_seconds=0.2, seeds=SEEDS[:3])
    assert s["hangs"] == 1
