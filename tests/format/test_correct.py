"""Prefix corrections (spec 8.7, 4.2): payload validity, the integer rule against its plain form,
and the decoder's use of them (which region, which level, the full file unchanged)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.encoder.corrections import add_corrections
from refcodec.format import correct
from refcodec.format import schema as S
from refcodec.format.decode import decode
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene
from refcodec.info import describe


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), shift=st.integers(0, 16))
def test_payload_round_trip_and_rule_against_reference(seed, n, shift):
    rng = np.random.default_rng(seed)
    C = 11
    chans = sorted(rng.choice(C, size=int(rng.integers(0, C + 1)), replace=False).tolist())
    t = rng.integers(-(1 << 12), 1 << 12, size=(len(chans), n))
    got = correct.payload_deltas(correct.build_payload(chans, shift, t), C, n)
    assert got is not None
    assert got[0].tolist() == chans and got[1] == shift and np.array_equal(got[2], t)
    q = rng.integers(-(1 << 20), 1 << 20, size=(n, C)).astype(np.int32)
    a = correct.corrected(q, np.array(chans, np.int64), shift, t)
    b = correct.corrected_reference(q, chans, shift, t)
    assert (a is None) == (b is None)
    if a is not None:
        assert np.array_equal(a, b)


def test_invalid_payloads_are_none():
    C, n = 11, 5
    t = np.array([[1, -4, 9, 0, 3], [2, 2, -7, 1, 0]], np.int64)
    good = correct.build_payload([0, 8], 3, t)
    assert correct.payload_deltas(good, C, n) is not None
    assert correct.payload_deltas(good[:8], C, n) is None                       # shorter than the header
    assert correct.payload_deltas(good, C, n + 1) is None                       # values for another count
    assert correct.payload_deltas(good + b"\0", C, n) is None                   # trailing bytes
    assert correct.payload_deltas(good, 8, n) is None                           # channel 8 >= C
    assert correct.payload_deltas(bytes([*good[:8], 17]) + good[9:], C, n) is None   # shift 17
    big = correct.build_payload([0], 0, np.full((1, n), 1 << 31, np.int64))
    assert correct.payload_deltas(big, C, n) is None                            # |t| >= 2^31
    assert correct.payload_deltas(correct.build_payload([], 0, np.zeros((0, n))), C, n)[2].shape == (0, n)
    q = np.full((1, C), (1 << 31) - 2, np.int32)
    assert correct.corrected(q, np.array([0]), 0, np.array([[1]])) is not None
    assert correct.corrected(q, np.array([0]), 0, np.array([[2]])) is None       # q' beyond 32 bits
    assert correct.corrected_reference(q, [0], 0, np.array([[2]])) is None


@pytest.fixture(scope="module")
def coded():
    scene = make_scene(1200, seed=5, objects=1)
    return encode_scene(scene, EncodeOptions(layers=4, overcomplete=8, adjust=False, rank=None, progress=False))


def test_decoder_applies_the_level_of_each_coarse_region(coded):
    fm = read_front(coded)
    R = fm.info.num_regions
    table, rng = {}, np.random.default_rng(0)
    for level in (1, 2, 3):
        for r in range(R):
            n = int(sum(fm.regions[r].counts[:level]))
            table[level, r] = correct.build_payload([0, 9], 1, rng.integers(-2, 3, size=(2, n)))
    data = add_corrections(coded, table, predicted=False)
    assert tuple(read_front(data).version) == S.GATE_PREFIX_CORRECTIONS
    full, plain = decode(data), decode(coded)
    assert full.corrected == {}
    assert np.array_equal(full.scene.attribute_matrix(), plain.scene.attribute_matrix())   # bit for bit
    for level in (1, 2, 3):
        end = describe(data)["levels"][level - 1]["bytes"]
        for got in (decode(data[:end]), decode(data, levels=[level] * R)):
            assert got.corrected == {r: level for r in range(R)}
            raw = decode(data, levels=[level] * R, adjust=False).scene
            changed = raw.attribute_matrix() != got.scene.attribute_matrix()
            assert changed[:, [0, 9]].any() and not changed[:, [1, 2, 3, 4, 5, 6, 7, 8, 10]].any()
            assert np.array_equal(raw.positions, got.scene.positions)
    # the values follow spec 8.7: f32(q + t 2^s) * ustep, with the unit's step
    got = decode(data, levels=[1] * R)
    raw = decode(data, levels=[1] * R, adjust=False)
    rows0 = np.flatnonzero(got.region == 0)
    step = raw.units[0].steps
    q = np.rint(raw.scene.opacity[rows0].astype(np.float64) / step[0]).astype(np.int64)
    t = correct.payload_deltas(table[1, 0], 11, rows0.size)[2]
    want = (np.float32(1) * (q + t[0] * 2).astype(np.float32)) * np.float32(step[0])
    assert np.array_equal(got.scene.opacity[rows0], want.astype(np.float32))
    # a 4.1 decoder's view: the same file labelled 4.1 skips kind 130
    from conformance.craft import relabel
    assert decode(relabel(data, 4, 1), levels=[1] * R).corrected == {}


def test_predicted_channels_add_the_channel_before():
    """spec 8.7.1: in a kind-131 payload the t of channels 2, 3, 9 and 10 is coded as the
    difference to channel j - 1's t when that channel is corrected too; against a plain loop."""
    rng = np.random.default_rng(3)
    for chans in ([1, 2, 3, 8, 9, 10], [0, 2, 3, 9], [1, 3, 10], [2, 8, 10, 11, 12]):
        t = rng.integers(-40, 41, size=(len(chans), 25))
        d = correct.unpredict(chans, t)
        want = np.array(d)
        for k, j in enumerate(chans):                           # the plain form of 8.7.1
            if j in S.PREDICTED_CHANNELS and k > 0 and chans[k - 1] == j - 1:
                want[k] = d[k] + want[k - 1]
        assert np.array_equal(correct.predict(chans, d), want) and np.array_equal(want, t)
        C = 11 + 9
        pay = correct.build_payload(chans, 2, t, predicted=True)
        got = correct.payload_deltas(pay, C, 25, predicted=True)
        assert got is not None and np.array_equal(got[2], t) and got[1] == 2
        plain = correct.payload_deltas(pay, C, 25)           # read as kind 130: the differences
        assert np.array_equal(plain[2], d)
    # |t| is checked after the prediction: two values under 2^31 whose sum is not
    pay = correct.build_payload([1, 2], 0, np.full((2, 3), (1 << 30) + 5, np.int64))   # the coded d
    assert correct.payload_deltas(pay, 11, 3) is not None
    assert correct.payload_deltas(pay, 11, 3, predicted=True) is None                  # t of 2 >= 2^31
    # ... and on the values read: t within 2^31 whose difference d is not
    d = np.array([[-(1 << 31) + 10] * 3, [(1 << 32) - 20] * 3], np.int64)
    pay = correct.build_payload([1, 2], 0, d)
    assert np.array_equal(correct.predict([1, 2], d)[1], [(1 << 31) - 10] * 3)
    assert correct.payload_deltas(pay, 11, 3, predicted=True) is None


def test_decoder_reads_predicted_corrections_from_4_3(coded):
    fm = read_front(coded)
    R = fm.info.num_regions
    rng = np.random.default_rng(2)
    chans = [1, 2, 3, 8, 9, 10]
    ts = {(1, r): rng.integers(-3, 4, size=(6, int(fm.regions[r].counts[0]))) for r in range(R)}
    table = {k: correct.build_payload(chans, 1, t, predicted=True) for k, t in ts.items()}
    data = add_corrections(coded, table, predicted=True)
    assert tuple(read_front(data).version) == S.GATE_CORRECTION_PREDICTION
    assert all(e.kind == S.KIND_PREDICTED_CORRECTION for e in read_front(data).toc if e.kind & 0x80)
    got = decode(data, levels=[1] * R)
    raw = decode(data, levels=[1] * R, adjust=False)
    assert got.corrected == {r: 1 for r in range(R)}
    rows0 = np.flatnonzero(got.region == 0)
    step = raw.units[0].steps
    for k, j in enumerate(chans):                   # f32(q + t 2^s) * ustep with the intended t
        col = raw.scene.attribute_matrix()[rows0, j].astype(np.float64)
        q = np.rint(col / step[j]).astype(np.int64)
        want = (q + ts[1, 0][k] * 2).astype(np.float32) * np.float32(step[j])
        assert np.array_equal(got.scene.attribute_matrix()[rows0, j], want.astype(np.float32))
    assert np.array_equal(decode(data).scene.attribute_matrix(), decode(coded).scene.attribute_matrix())
    # a 4.2 decoder's view: the same file labelled 4.2 skips kind 131
    from conformance.craft import relabel
    assert decode(relabel(data, 4, 2), levels=[1] * R).corrected == {}


@pytest.fixture(scope="module")
def corrected_file(coded):
    fm = read_front(coded)
    rng = np.random.default_rng(1)
    table = {(level, r): correct.build_payload([0, 1, 8], 2, rng.integers(-3, 4, size=(3, int(sum(
        fm.regions[r].counts[:level])))), predicted=True) for level in (1, 2, 3)
        for r in range(fm.info.num_regions)}
    return add_corrections(coded, table, predicted=True)


@settings(max_examples=40, deadline=None)
@given(frac=st.floats(0, 1), where=st.integers(0, 2**31), bit=st.integers(0, 7))
def test_cut_or_damaged_corrections_never_raise(corrected_file, frac, where, bit):
    """Any byte prefix of a corrected file, and any bit flipped in a correction segment, decodes
    (spec 8.4, 8.7): a damaged correction is ignored, never an error and never a traceback."""
    from refcodec.format.errors import LGSError

    data = corrected_file
    fm = read_front(data)
    ents = [e for e in fm.toc if e.kind == S.KIND_PREDICTED_CORRECTION]
    e = ents[where % len(ents)]
    bad = bytearray(data)
    bad[e.offset + where % e.length] ^= 1 << bit
    full = decode(data).scene
    for blob in (data[:int(frac * len(data))], bytes(bad)):
        try:
            got = decode(blob)
        except LGSError:
            assert len(blob) < fm.front_length          # only a cut front is an error
            continue
        assert got.scene.n <= full.n
        assert set(got.corrected.values()) <= {1, 2, 3}
    R = fm.info.num_regions
    at_level = decode(bytes(bad), levels=[e.layer] * R)         # the damaged correction's own level
    assert e.region not in at_level.corrected                    # its checksum fails: ignored (8.2)
    assert at_level.corrected == {r: e.layer for r in range(R) if r != e.region}
    damaged = decode(bytes(bad))
    assert np.array_equal(damaged.scene.positions, full.positions)
    assert np.array_equal(damaged.scene.attribute_matrix(), full.attribute_matrix())   # full level: untouched
