"""LGS coding tools (spec 5.1.2, 5.3, 5.3.5): octree geometry, predicted attributes, ablation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refcodec.encoder import TOOLS, EncodeOptions, encode_scene_with_order
from refcodec.encoder import attributes as enc_attributes
from refcodec.encoder import geometry as enc_geometry
from refcodec.encoder.axes import covariances
from refcodec.format import attributes, geometry, morton
from refcodec.format.attributes import Lower, grid_means, isqrt, norm_prediction
from refcodec.format.decode import decode
from refcodec.format.errors import CorruptError
from refcodec.format.schema import AttributesPayload
from refcodec.io.synthetic import make_scene, with_rest_palette


def _codes(rng, n, bits):
    q = rng.integers(0, 1 << bits, size=(n, 3))
    return np.unique(morton.encode(q.astype(np.uint16)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(0, 16), st.integers(0, 2**32 - 1))
def test_geometry_methods_round_trip(n, bits, seed):
    rng = np.random.default_rng(seed)
    codes = _codes(rng, n, bits)
    lower = geometry.LowerOccupancy(_codes(rng, n, bits))
    for method in (geometry.METHOD_GAPS, geometry.CTX_MODE_LEVEL, geometry.CTX_MODE_FULL):
        data = enc_geometry.encode(codes, lower, [method])
        assert np.array_equal(geometry.decode(data, codes.size, lower), codes)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=60), st.integers(0, 2**32 - 1))
def test_octree_children_match_reference(masks, seed):
    rng = np.random.default_rng(seed)
    nodes = np.sort(rng.choice(1 << 20, size=len(masks), replace=False)).astype(np.uint64)
    m = np.asarray(masks, np.int64)
    fast, ref = geometry._children(nodes, m), geometry._children_reference(nodes, m)
    assert np.array_equal(fast[0], ref[0]) and np.array_equal(fast[1], ref[1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**20), max_size=50), max_size=6))
def test_merge_distinct_matches_unique(parts):
    arrays = [np.unique(np.asarray(p, np.uint64)) for p in parts]
    expect = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.uint64)
    assert np.array_equal(morton.merge_distinct(arrays), expect)
    assert np.array_equal(geometry.LowerOccupancy(arrays).codes, expect)


def test_geometry_encoder_keeps_octree_only_when_it_pays():
    """spec A.4: a dense block of voxels (every cell occupied, not aligned to the Morton order's
    blocks, which would make nearly every gap 0) codes smaller as an octree; scattered voxels
    stay Morton gaps."""
    g = np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3) + 1003
    dense = np.sort(morton.encode(g.astype(np.uint16)))
    method = geometry.GeometryPayload.parse(enc_geometry.encode(dense)).method
    assert method == geometry.CTX_MODE_FULL
    sparse = _codes(np.random.default_rng(3), 2000, 16)
    assert geometry.GeometryPayload.parse(enc_geometry.encode(sparse)).method == geometry.METHOD_GAPS


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-(1 << 33), 1 << 33), max_size=200))
def test_cost_estimate_matches_hybrid_split(vals):
    r = np.asarray(vals, np.int64)
    assert enc_attributes._cost_bits(r) == pytest.approx(enc_attributes._cost_bits_reference(r), rel=1e-12, abs=1e-9)


def test_geometry_octree_rejects_bad_counts():
    codes = np.array([1, 5, 9000], np.uint64)
    data = enc_geometry.encode(codes, None, [geometry.CTX_MODE_FULL])
    with pytest.raises(CorruptError):
        geometry.decode(data, 2)          # more voxels than Gaussians
    bad = bytearray(data)
    bad[0] = 2                            # V = 2 while the octree holds 3 leaves
    with pytest.raises(CorruptError):
        geometry.decode(bytes(bad), 3)


def _grid_reference(lower: Lower, codes, shifts, g, G, j):
    """spec 5.3.3 written as plain loops."""
    rows = [(int(c), int(q[j]), int(ush[j])) for uc, uq, ush in lower.units for c, q in zip(uc, uq)]
    out = []
    for c in codes.tolist():
        res = None
        for t in range(G):
            s = 3 * (g + 2 * t)
            vals = []
            for v, Q, E in rows:
                if v >> s == c >> s:
                    e = int(shifts[j])
                    a = Q << (E - e) if E >= e else Q >> (e - E)
                    vals.append(min(max(a, -2**31), 2**31 - 1))
            if vals:
                res = (sum(vals) + len(vals) // 2) // len(vals)
                break
        out.append(res)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 60), st.integers(1, 40), st.integers(0, 4), st.integers(1, 4), st.integers(0, 3),
       st.integers(0, 2**32 - 1))
def test_grid_means_match_reference(m, n, g, G, units, seed):
    rng = np.random.default_rng(seed)
    C = 3
    lower = Lower.empty()
    for _ in range(units):
        k = int(rng.integers(0, m + 1))
        lower = lower.add(rng.integers(0, 1 << 24, k).astype(np.uint64), rng.integers(-3000, 3000, size=(k, C)),
                          rng.integers(-3, 4, size=C))
    codes = _codes(rng, n, 8)
    shifts = rng.integers(-3, 4, size=C).astype(np.int8)
    means, found = grid_means(lower, codes, shifts, g, G, np.arange(C))
    for j in range(C):
        ref = _grid_reference(lower, codes, shifts, g, G, j)
        assert [None if not f else int(v) for v, f in zip(means[:, j], found)] == ref


def test_isqrt_and_norm_prediction_exact():
    v = np.concatenate([np.arange(0, 5000), (np.arange(1, 2000) ** 2) - 1, np.arange(1, 2000) ** 2,
                        np.array([2**30, 2**30 - 1, 2**40 + 12345])])
    r = isqrt(v.astype(np.int64))
    assert np.all(r * r <= v) and np.all((r + 1) * (r + 1) > v)
    xyz = np.array([[0, 0, 0], [256, 0, 0], [-300, 5, 5], [100, -100, 100]])
    assert norm_prediction(256, xyz).tolist() == [256, 0, 0, int(np.sqrt(256**2 - 3 * 100**2))]


@pytest.mark.parametrize("sh", [0, 2])
def test_attribute_tools_round_trip(sh):
    """Every channel coding the encoder can choose decodes back exactly, with lower layers."""
    rng = np.random.default_rng(sh)
    C = 11 + [0, 9, 24, 45][sh]
    n = 500
    codes = np.sort(rng.integers(0, 1 << 30, n).astype(np.uint64))
    q = rng.integers(-200, 200, size=(n, C))
    q[:, 9] = q[:, 8] // 2 + rng.integers(-3, 3, n)            # correlated colour: intra pays
    q[:, 4] = np.abs(q[:, 4])
    q[::3, 11:] = 0                                            # zero SH-rest rows: mask pays
    lower = Lower.empty().add(codes[::2] + np.uint64(1), rng.integers(-200, 200, size=(n // 2, C)),
                              np.zeros(C, np.int8))
    for tools in (set(TOOLS), set()):
        data = enc_attributes.encode(q, np.ones(C, np.int8), codes, lower, tools, grid_shift=2, grid_levels=3,
                                     norm_S=256)
        got, shifts = attributes.decode(data, n, C, codes, lower)
        assert np.array_equal(got, q) and shifts.tolist() == [1] * C
    descs = AttributesPayload.parse(enc_attributes.encode(q, None, codes, lower, set(TOOLS), norm_S=256)).channels
    assert any(d.ref != attributes.NO_REF for d in descs)


def test_attribute_descriptors_validated():
    q = np.arange(40, dtype=np.int64).reshape(10, 4)
    q = np.concatenate([q, q, q[:, :3]], axis=1)          # 11 channels
    good = AttributesPayload.parse(enc_attributes.encode(q, tools=set(TOOLS), norm_S=256))
    for field, value in (("mode", 8), ("shift", 9), ("ref", 12)):
        a = AttributesPayload.parse(AttributesPayload.build(good))
        a.channels[3][field] = value
        with pytest.raises(CorruptError):
            attributes.decode(AttributesPayload.build(a), 10, 11)
    a = AttributesPayload.parse(AttributesPayload.build(good))
    a.channels[2].mode = attributes.MODE_NORM            # norm only on channel 4
    with pytest.raises(CorruptError):
        attributes.decode(AttributesPayload.build(a), 10, 11)


def _dense_block_scene():
    """A fully occupied 32^3 voxel block away from the Morton blocks' corners: octrees pay."""
    g = np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3)
    k = len(g) // 100                        # 1% of the scene at each corner: the grid spans [0, 1] (one
    scene = make_scene(len(g) + 2 * k, sh_degree=0, seed=5, duplicates=0.0)   # voxel per lattice step);
    pos = np.concatenate([(g + 1003) / 65535.0, np.zeros((k, 3)), np.ones((k, 3))])   # as many corner
    scene.positions[:] = pos                 # points are not outliers (spec A.3), a pair would be clamped
    return scene, dict(layers=2, overcomplete=2, quality="max")


def _zero_rest_scene():
    """10% of the SH rest all zero, no shared rest vectors: the rest mask and residual contexts pay."""
    scene = make_scene(12000, sh_degree=1, seed=5, duplicates=0.05)
    scene.sh_rest[::10] = 0
    return scene, dict(layers=4, overcomplete=8, quality="10")


# the scene on which each tool is used (a tool an encoder finds no use for leaves the bytes alone)
TOOL_SCENES = {"geometry_contexts": _dense_block_scene, "sh_mask": _zero_rest_scene,
               "residual_contexts": _zero_rest_scene,
               "rest_refs": lambda: (with_rest_palette(make_scene(1500, sh_degree=1, seed=5, duplicates=0.05), 50, 5),
                                     dict(layers=4, overcomplete=8, quality="2"))}


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_can_be_switched_off(tool):
    scene, opts = TOOL_SCENES.get(tool, lambda: (make_scene(1500, sh_degree=1, seed=5, duplicates=0.05),
                                                 dict(layers=4, overcomplete=8, quality="2")))()
    opts = dict(opts, progress=False)
    on, order = encode_scene_with_order(scene, EncodeOptions(adjust=False, rank=None, **opts))
    off, order_off = encode_scene_with_order(scene, EncodeOptions(adjust=False, rank=None, **opts,
                                                                  disable=frozenset({tool})))
    assert on != off, f"switching {tool} off left the file unchanged"
    a, b = decode(on).scene, decode(off).scene
    assert np.array_equal(order, order_off)
    assert np.array_equal(a.positions, b.positions)
    if tool == "canonical_axes":
        # the same Gaussians in another parametrization (spec A.5): both are within quantization
        # of the source's covariances, and the other channels are untouched
        src = scene.subset(order)
        want = covariances(src.rotations, src.scales)
        for c in (a, b):
            assert np.abs(covariances(c.rotations, c.scales) - want).max() < 0.02 * np.exp(2 * scene.scales).max()
        keep = [0] + list(range(8, a.attribute_matrix().shape[1]))
        assert np.array_equal(a.attribute_matrix()[:, keep], b.attribute_matrix()[:, keep])
        return
    # the tools are lossless given the quantized values: both files decode to the same scene
    assert np.array_equal(a.attribute_matrix(), b.attribute_matrix())


def test_quality_levels_and_tilt():
    scene = make_scene(3000, sh_degree=0, seed=9)
    sizes = [len(encode_scene_with_order(scene, EncodeOptions(adjust=False, rank=None, quality=q, progress=False))[0])
             for q in ("max", "high", "2", "low", "preview", "10")]
    assert sizes == sorted(sizes, reverse=True)
    res = decode(encode_scene_with_order(scene, EncodeOptions(adjust=False, rank=None, quality="3", progress=False))[0])
    steps = {u.layer: u.steps for u in res.units}
    assert steps[8][1] == 2 * steps[1][1] and steps[8][0] == steps[1][0]     # tilt, opacity kept
    with pytest.raises(ValueError):
        EncodeOptions(quality="nonsense") and encode_scene_with_order(scene, EncodeOptions(quality="nonsense"))
    with pytest.raises(ValueError):
        encode_scene_with_order(scene, EncodeOptions(adjust=False, rank=None, disable=frozenset({"magic"})))


def _heteroscedastic_unit(rng, n, C):
    """A unit whose residual sizes vary per Gaussian, the same in every channel: the
    activity of spec 5.3.5 predicts them, so residual contexts pay."""
    spread = np.exp(rng.normal(0.0, 1.5, n))[:, None]
    q = np.rint(rng.laplace(0.0, 1.0, (n, C)) * spread * 4).astype(np.int64)
    q[:, 4] = np.abs(q[:, 4])
    return q


def _activity_contexts_reference(descs, values, rows, n):
    """spec 5.3.5 with plain loops: each value's context."""
    first, k = [], 0
    for d in descs:
        first.append(k)
        k += len(d["thresholds"]) + 1
    activity = [0] * n
    out = []
    for j, d in enumerate(descs):
        r = list(range(n)) if rows[j] is None else [int(i) for i in rows[j]]
        ctx = []
        for i in r:
            ctx.append(first[j] + sum(1 for t in d["thresholds"] if t <= activity[i]))
        for i, u in zip(r, values[j]):
            activity[i] += int(u).bit_length()
        out.append(ctx)
    return out


@pytest.mark.parametrize("sh", [0, 1])
def test_residual_contexts_round_trip(sh):
    rng = np.random.default_rng(40 + sh)
    C, n = 11 + [0, 9][sh], 6000
    q = _heteroscedastic_unit(rng, n, C)
    if sh:
        q[::4, 11:] = 0                                   # with the SH-rest mask
    codes = np.sort(rng.integers(0, 1 << 30, n).astype(np.uint64))
    on = enc_attributes.encode(q, None, codes, None, set(TOOLS), norm_S=256)
    off = enc_attributes.encode(q, None, codes, None, set(TOOLS) - {"residual_contexts"}, norm_S=256)
    a = AttributesPayload.parse(on)
    assert a.flags & attributes.FLAG_THRESHOLDS and sum(len(c.thresholds) for c in a.channels) >= C
    assert not AttributesPayload.parse(off).flags & attributes.FLAG_THRESHOLDS
    assert len(on) < 0.97 * len(off)
    for data in (on, off):
        got, _ = attributes.decode(data, n, C, codes)
        assert np.array_equal(got, q)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_value_contexts_match_reference(n, seed):
    rng = np.random.default_rng(seed)
    C = 5
    descs = [dict(thresholds=[] if j == 0 else sorted(set(rng.integers(1, 40, rng.integers(0, 4)).tolist())))
             for j in range(C)]
    rows = [None, None, None, np.sort(rng.choice(n, rng.integers(0, n + 1), replace=False)), None]
    values = [rng.integers(0, 1 << rng.integers(0, 34), n if r is None else r.size).astype(np.uint64)
              for r in rows]
    ref = _activity_contexts_reference(descs, values, rows, n)
    first, _ = attributes.context_layout(descs)
    activity = np.zeros(n, np.int32)
    for j in range(C):
        act = activity if rows[j] is None else activity[rows[j]]
        assert attributes.value_contexts(first[j], descs[j]["thresholds"], act).tolist() == ref[j]
        attributes.add_activity(activity, values[j], rows[j])
    assert attributes.bit_length(np.array([0, 1, 2, 3, 4, (1 << 33) - 1, 1 << 33], np.uint64)).tolist() == \
        [0, 1, 2, 2, 3, 33, 34]


def test_residual_context_thresholds_validated():
    rng = np.random.default_rng(3)
    n, C = 3000, 11
    q = _heteroscedastic_unit(rng, n, C)
    good = AttributesPayload.parse(enc_attributes.encode(q, tools=set(TOOLS), norm_S=256))
    j = next(i for i, c in enumerate(good.channels) if c.thresholds)
    for bad in ([0], [5, 5], [7, 3], [1, 2, 3, 4]):
        a = AttributesPayload.parse(AttributesPayload.build(good))
        a.channels[j].thresholds = bad
        with pytest.raises(CorruptError):
            attributes.decode(AttributesPayload.build(a), n, C)
    a = AttributesPayload.parse(AttributesPayload.build(good))
    a.channels[0].thresholds = [4]                        # channel 0 has no activity yet
    with pytest.raises(CorruptError):
        attributes.decode(AttributesPayload.build(a), n, C)
    a = AttributesPayload.parse(AttributesPayload.build(good))
    a.flags &= ~attributes.FLAG_THRESHOLDS                # descriptors then parse misaligned
    with pytest.raises(CorruptError):
        attributes.decode(AttributesPayload.build(a), n, C)
    wide = [dict(thresholds=[1, 2, 3]) for _ in range(64)]  # 4 x 64 + 1 contexts > 255
    with pytest.raises(CorruptError):
        attributes.context_layout(wide)


# ---------------------------------------------------------------------------------------------
# SH-rest references (spec 5.3.6)

def _palette_unit(rng, n, C, entries, shift=0):
    q = rng.integers(-40, 40, (n, C)).astype(np.int64)
    palette = rng.integers(-30, 30, (entries, C - 11))
    q[:, 11:] = palette[rng.integers(0, entries, n)]
    q[::7, 11:] = 0
    return q


def _copies_reference(modes, M, lower_rest, q):
    """spec 5.3.6 with a plain loop: the SH-rest values of every copying row."""
    out = q.copy()
    for i, u in enumerate(modes.tolist()):
        if u < 2:
            continue
        c = u - 2
        assert c < M + len(modes)
        if c < M:
            out[i, 11:] = lower_rest[c]
        else:
            assert c - M < i and modes[c - M] == 1
            out[i, 11:] = q[c - M, 11:]
    return out


def test_rest_references_round_trip_and_reference():
    rng = np.random.default_rng(60)
    C, n = 11 + 24, 3000
    codes = np.sort(rng.integers(0, 1 << 30, 2 * n).astype(np.uint64))
    lower_q = _palette_unit(rng, n, C, 200)
    lower_shifts = np.ones(C, np.int8)                       # a lower unit in twice the steps
    lower = Lower.empty().add(codes[:n], lower_q, lower_shifts)
    q = _palette_unit(rng, n, C, 200)
    q[: n // 2, 11:] = lower_q[rng.integers(0, n, n // 2), 11:] * 2     # exact in this unit's steps
    on = enc_attributes.encode(q, None, codes[n:], lower, set(TOOLS), norm_S=256)
    off = enc_attributes.encode(q, None, codes[n:], lower, set(TOOLS) - {"rest_refs"}, norm_S=256)
    assert AttributesPayload.parse(on).flags & attributes.FLAG_REST_REFS
    assert not AttributesPayload.parse(off).flags & attributes.FLAG_REST_REFS
    assert len(on) < 0.6 * len(off)
    for data in (on, off):
        got, _ = attributes.decode(data, n, C, codes[n:], lower)
        assert np.array_equal(got, q)
    # the decoder's copies against a plain loop over the stream's modes
    a = AttributesPayload.parse(on)
    first, K1 = attributes.context_layout([dict(thresholds=list(c.thresholds or [])) for c in a.channels])
    from refcodec.format.intstream import StreamReader
    modes = StreamReader(a.stream, K1).read_same(n, K1 - 1)
    assert (modes >= 2).sum() > n // 2 and ((modes >= 2) & (modes - 2 >= n)).any()   # both kinds
    blank = q.copy()
    blank[modes >= 2, 11:] = 0
    want = _copies_reference(modes, n, lower_q[:, 11:] * 2, blank)
    assert np.array_equal(want, q)


def test_rest_reference_matching_is_exact():
    # rows equal only up to a hash collision are not references: the encoder compares values
    rng = np.random.default_rng(61)
    C, n = 11 + 9, 500
    q = _palette_unit(rng, n, C, 20)
    nz = np.any(q[:, 11:] != 0, axis=1)
    ref = enc_attributes.rest_references(q, np.zeros(C, np.int8), Lower.empty(), nz)
    for i in np.flatnonzero(ref >= 0):
        assert ref[i] < i and np.array_equal(q[ref[i], 11:], q[i, 11:]) and ref[ref[i]] == -1
    first_seen = {}
    for i in range(n):
        key = q[i, 11:].tobytes()
        if nz[i]:
            assert ref[i] == first_seen.get(key, -1)
            first_seen.setdefault(key, i)


def _with_modes(payload: bytes, n: int, modes: np.ndarray, flags: int) -> bytes:
    """``payload`` with its rest modes replaced (the channels' values kept)."""
    from refcodec.format.intstream import StreamReader, encode_uints
    a = AttributesPayload.parse(payload)
    descs = [dict(thresholds=list(c.thresholds or [])) for c in a.channels]
    first, K1 = attributes.context_layout(descs)
    r = StreamReader(a.stream, K1)
    old = r.read_same(n, K1 - 1)
    keep = np.isin(np.flatnonzero(old == 1), np.flatnonzero(modes == 1))     # rows still coded
    rest = []
    for j in range(a.num_channels):
        v = r.read_same(n if j < 11 else int((old == 1).sum()), first[j])
        rest.append(v if j < 11 else v[keep])
    vals = np.concatenate([modes.astype(np.uint64)] + rest)
    ctx = np.concatenate([np.full(n, K1 - 1, np.uint8)]
                         + [np.full(v.size, first[j], np.uint8) for j, v in enumerate(rest)])
    d = dict(num_channels=a.num_channels, flags=flags, grid_shift=a.grid_shift, grid_levels=a.grid_levels,
             channels=[dict(base=c.base, shift=c.shift, mode=c.mode, ref=c.ref, coef=c.coef, thresholds=[])
                       for c in a.channels], stream=encode_uints(vals, ctx, K1))
    return AttributesPayload.build(d)


def test_hostile_rest_references():
    rng = np.random.default_rng(62)
    C, n = 11 + 9, 64
    q = rng.integers(-20, 20, (n, C)).astype(np.int64)
    q[::5, 11:] = 0
    tools = set(TOOLS) - {"residual_contexts", "rest_refs"}
    data = enc_attributes.encode(q, None, None, None, tools, norm_S=256)
    assert AttributesPayload.parse(data).flags & attributes.FLAG_REST_MASK
    base = np.any(q[:, 11:] != 0, axis=1).astype(np.uint64)
    ok = base.copy()
    ok[-1] = 2 + int(np.flatnonzero(base == 1)[0])             # a valid copy of an earlier coded row
    good = _with_modes(data, n, ok, attributes.FLAG_REST_MASK | attributes.FLAG_REST_REFS)
    got, _ = attributes.decode(good, n, C)
    assert np.array_equal(got[-1, 11:], q[np.flatnonzero(base == 1)[0], 11:])
    bad_modes = []
    for row, mode in ((3, 2 + n),          # out of range (no lower layers)
                      (3, 2 + 10),         # a later row
                      (10, 2 + 5),         # row 5 is a zero row, not coded
                      (3, 2 + 3)):         # itself
        m = base.copy()
        m[row] = mode
        bad_modes.append(m)
    for m in bad_modes:
        with pytest.raises(CorruptError, match="reference"):
            attributes.decode(_with_modes(data, n, m, attributes.FLAG_REST_MASK | attributes.FLAG_REST_REFS), n, C)
    with pytest.raises(CorruptError, match="mask value"):        # copies without flags bit 2
        attributes.decode(_with_modes(data, n, ok, attributes.FLAG_REST_MASK), n, C)
    with pytest.raises(CorruptError, match="flags"):              # bit 2 without bit 0
        attributes.decode(_with_modes(data, n, base, attributes.FLAG_REST_REFS), n, C)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=30), st.integers(0, 6))
def test_rest_modes_are_validated_like_the_reference(modes, M):
    """Any mode stream: rest_copies accepts exactly what the plain rules of 5.3.6 accept, and
    the accepted copies fill every copying row from a valid candidate."""
    m = np.array(modes, np.uint64)
    n = m.size
    ok = all(u < 2 or (u - 2 < M + n and (u - 2 < M or (u - 2 - M < i and modes[u - 2 - M] == 1)))
             for i, u in enumerate(modes))
    if not ok:
        with pytest.raises(CorruptError):
            attributes.rest_copies(m, M)
        return
    rows, c = attributes.rest_copies(m, M)
    assert rows.tolist() == [i for i, u in enumerate(modes) if u >= 2]
    C = 11 + 9
    rng = np.random.default_rng(len(modes) * 7 + M)
    lower = Lower.empty().add(np.zeros(M, np.uint64), rng.integers(-9, 9, (M, C)).astype(np.int32),
                              np.zeros(C, np.int8))
    q = np.zeros((n, C), np.int32)
    q[m == 1, 11:] = rng.integers(-9, 9, (int((m == 1).sum()), 9))
    want = _copies_reference(m, M, lower.units[0][1][:, 11:] if M else np.zeros((0, 9), np.int32), q)
    attributes.apply_copies(q, (rows, c), lower, np.zeros(C, np.int8))
    assert np.array_equal(q, want)
