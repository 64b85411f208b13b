"""Hostile inputs (issue 14): work and memory bounded by the file (spec 9.7), linear front
handling, iterative dependency checks, finite output (spec 4.2 / 7). Small generated versions of
the files in ../shared/hostile/ (tests/format/hostile.py)."""
import sys
import time

import numpy as np
import pytest

from refcodec.format import intstream, rans
from refcodec.format.decode import decode, extract
from refcodec.format.errors import CorruptError, LimitError, printable
from refcodec.format.front import Limits, data_end, read_front, units
from tests.format import hostile as H


def test_dependency_chain_longer_than_the_recursion_limit():
    """depchain_1500: a spec-valid chain of ancillary dependencies, longer than Python's
    recursion limit, decodes and extracts (it was a RecursionError)."""
    n = sys.getrecursionlimit() + 500
    data = H.ancillary_chain(n)
    res = decode(data)
    assert res.scene.n == 60 and not res.problems
    out = extract(data, [2])
    fm = read_front(out)
    assert len(fm.toc) == len(read_front(data).toc)
    assert sum(1 for e in fm.toc if not e.flags & 1) == len(fm.toc)   # the whole chain is ok and kept


def test_dependency_chain_with_a_damaged_link_drops_the_rest():
    data = bytearray(H.ancillary_chain(300))
    fm = read_front(bytes(data))
    mid = len(fm.toc) - 150
    data[fm.toc[mid].offset] ^= 0xFF                   # damage one link: it and every later one fail
    out = read_front(extract(bytes(data), [2]))
    kept = [not e.flags & 1 for e in out.toc]
    assert kept[:mid] == [True] * mid and not any(kept[mid:])


def test_front_of_many_entries_is_linear():
    """front_200k_entries at 50,000 entries: parsing, validating and grouping units is linear
    (it was quadratic: 12.5 s at 50k; construct alone 4 s)."""
    data = H.many_entries(50_000)
    t = time.perf_counter()
    fm = read_front(data)
    elapsed = time.perf_counter() - t
    assert len(fm.toc) == 50_000 + len(read_front(H.valid()).toc) and len(fm.units) == 2
    assert len(fm.units[0].ancillary) == 50_000
    assert elapsed < 2.0, elapsed
    t = time.perf_counter()
    units(fm)
    assert time.perf_counter() - t < 0.5


def test_struct_front_reader_matches_the_schema():
    """read_front parses with struct; the construct schema stays the normative layout."""
    from refcodec.format import schema as S
    data = H.with_label("é\x1b", H.ancillary_chain(5))
    fm = read_front(data)
    fx = S.FixedHeader.parse(data[:16])
    ref = S.Front.parse(data[16: fx.front_length - 4])
    for a, b in zip(ref.toc, fm.toc):
        assert all(a[k] == b[k] for k in ("layer", "region", "kind", "flags", "reserved", "offset", "length", "crc32"))
        assert list(a.deps) == b.deps
    for a, b in zip(ref.regions, fm.regions):
        assert (a.label, a.source, list(a.counts), list(a.bbox_min)) == (b.label, b.source, b.counts, b.bbox_min)


@pytest.mark.parametrize("cut", [17, 30, 60])
def test_front_cut_inside_records_is_corrupt_not_a_crash(cut):
    data = H.valid()
    info, regions, toc, payloads = H.parts(data)
    good = H.rebuild(info, regions, toc, payloads)
    fl = int.from_bytes(good[12:16], "little")
    body = good[16: fl - 4]
    # a front whose ROI table/TOC end early: shorten the body and fix the length and CRC
    import zlib
    short = body[:cut]
    head = good[:12] + (16 + len(short) + 4).to_bytes(4, "little") + short
    bad = head + zlib.crc32(head).to_bytes(4, "little")
    with pytest.raises((CorruptError, LimitError)):
        read_front(bad)


def test_identical_gaussians_beyond_the_density_limit():
    """ident_38M_sh0 at the front: a unit declaring far more Gaussians than its bytes can hold
    under spec 9.7 (a) is a LimitError before anything is allocated; Limits.trusted() lifts it."""
    data = H.with_count(5_000_000)
    with pytest.raises(LimitError, match="9.7"):
        read_front(data)
    with pytest.raises(LimitError):
        decode(data)
    fm = read_front(data, limits=Limits.trusted())
    assert fm.info.total_gaussians > 5_000_000


def test_density_limit_has_a_wide_margin_on_refcodec_files(small):
    """Every unit of an encoded scene is far below 256 values a byte (spec 9.7 a)."""
    _, data, _ = small
    fm = read_front(data)
    per = 3 + len(fm.info.steps)
    worst = max(u.count * per / sum(fm.toc[i].length for i in u.critical) for u in fm.units if u.count)
    assert worst < 256 / 8


def _one_lane_stream(n):
    return intstream.encode_uints(np.zeros(n, np.uint64), np.zeros(n, np.uint8), 1, lanes_log2=0)


def test_steps_per_lane_limit():
    """ident_1M_lanes1 in small: one rANS lane, more steps than spec 9.7 (b) allows: a
    LimitError at the first batch, before the work. Without limits it decodes."""
    n = 20_000
    stream = _one_lane_stream(n)
    assert len(stream) < 64
    t = time.perf_counter()
    with rans.work_limits(1 << 14, None), pytest.raises(LimitError, match="steps a lane"):
        intstream.decode_uints(stream, np.zeros(n, np.uint8), 1)
    assert time.perf_counter() - t < 0.5
    assert intstream.decode_uints(stream, np.zeros(n, np.uint8), 1).sum() == 0


def test_step_budget_limit():
    """spec 9.7 (c): the steps of a whole decode are bounded by 2^17 + 2|D|."""
    stream = _one_lane_stream(4000)
    with rans.work_limits(None, 3000), pytest.raises(LimitError, match="steps"):
        intstream.decode_uints(stream, np.zeros(4000, np.uint8), 1)
    with rans.work_limits(None, 4000):
        intstream.decode_uints(stream, np.zeros(4000, np.uint8), 1)


def test_one_lane_file_is_refused_by_default(monkeypatch):
    """A whole file coded with one lane per stream: decode refuses it (9.7 b) unless the
    limits are lifted, and then decodes it to the same scene."""
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.io.synthetic import make_scene
    scene = make_scene(1500, seed=2)
    opts = EncodeOptions(adjust=False, layers=1, overcomplete=1, progress=False)
    normal = decode(encode_scene(scene, opts))
    monkeypatch.setattr(rans, "choose_lanes_log2", lambda n, target_steps=0: 0)
    data = encode_scene(scene, opts)
    monkeypatch.undo()
    with pytest.raises(LimitError, match="steps a lane"):
        decode(data)
    res = decode(data, limits=Limits(steps_per_lane=None, steps_base=None))
    assert np.array_equal(res.scene.positions, normal.scene.positions)


def test_refcodec_files_are_within_the_step_limits(small):
    _, data, _ = small
    with rans.work_limits(4096, 20_000):                # much tighter than spec 9.7 (b), (c)
        assert decode(data).scene.n == 3000


@pytest.mark.parametrize("field,value,msg", [
    ("steps", [3.0e38] * 11, "2\\^88"),                 # steps_huge
    ("voxel_size", [3.0e38, 1.0, 1.0], "2\\^127"),       # voxel_huge
    ("origin", [-3.0e38, 0.0, 0.0], "2\\^127"),
])
def test_values_that_could_overflow_binary32_are_corrupt(field, value, msg):
    with pytest.raises(CorruptError, match=msg):
        decode(H.with_info(**{field: value}))


def test_finite_bounds_are_exact():
    """spec 4.2: steps <= 2^88 and |origin| + 2^16 voxel <= 2^127 pass; the next float fails;
    at the bounds the output is finite."""
    top = float(np.float32(2.0 ** 88))
    res = decode(H.with_info(steps=[top] * 11))
    assert np.isfinite(res.scene.attribute_matrix()).all()
    above = float(np.nextafter(np.float32(top), np.float32(np.inf)))
    with pytest.raises(CorruptError):
        read_front(H.with_info(steps=[above] * 11))
    v = 2.0 ** 110                                     # 2^16 v + |o| = 2^126 + 2^126
    res = decode(H.with_info(voxel_size=[v, v, v], origin=[2.0 ** 126, -(2.0 ** 126), 0.0]))
    assert np.isfinite(res.scene.positions).all()
    with pytest.raises(CorruptError):
        read_front(H.with_info(voxel_size=[2.0 ** 111, 1.0, 1.0], origin=[2.0 ** 127, 0.0, 0.0]))


def test_labels_are_escaped_in_messages():
    from refcodec.format.decode import resolve_levels
    data = H.with_label("\x1b[2J\x1b[31mPWNED\x07\nerror: fake")
    fm = read_front(data)
    with pytest.raises(ValueError) as e:
        resolve_levels(fm, None, {"nope\n": 1})
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value) and "\\x1b" in str(e.value)
    assert printable("a\u202eb\tc") == "a\\u202eb\\tc"


def test_prefix_reports_incomplete():
    data = H.valid()
    fm = read_front(data)
    assert decode(data).complete and data_end(fm) == len(data)
    assert not decode(data[:-1]).complete


def test_prefix_capacity_covers_only_present_units():
    """A prefix allocates output only for the units inside it (not what the TOC declares)."""
    data = H.valid()
    fm = read_front(data)
    first = fm.units[0]
    end = max(fm.toc[i].offset + fm.toc[i].length for i in first.critical)
    res = decode(data[:end])
    assert res.scene.n == first.count
    assert res.scene.positions.base is None or res.scene.positions.base.shape[0] == first.count


def test_front_entry_limit():
    """spec 9.7 (d): too many TOC entries is a LimitError before the TOC is parsed."""
    data = H.many_entries(2000)
    with pytest.raises(LimitError, match="9.7 d"):
        read_front(data, limits=Limits(max_entries=1000))
    assert len(read_front(data).toc) > 2000             # the default (2^18) allows it
