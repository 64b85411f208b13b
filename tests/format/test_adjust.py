"""Prefix adjustment (spec 8.6, version 4.1): which regions are coarse, which segment applies, the
binary32 rule against its plain form, and what 4.0 decoders, damage, selections and extraction do."""
import numpy as np
import pytest

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.encoder.adjust import add_adjustments
from refcodec.format import adjust
from refcodec.format import schema as S
from refcodec.format.decode import decode, extract
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene, object_boxes
from refcodec.roi import RegionSpec

FLOOR, OFFSET = np.float32(-3.5), np.float32(1.75)


def test_apply_matches_plain_form_with_ties():
    rng = np.random.default_rng(1)
    scales = rng.normal(-4, 1, (500, 3)).astype(np.float32)
    scales[:40] = scales[:40, :1]                       # all three equal
    scales[40:80, 1] = scales[40:80, 2]                 # two equal smallest or largest
    opacity = rng.normal(0, 2, 500).astype(np.float32)
    rows = rng.random(500) < 0.7
    a_s, a_o = scales.copy(), opacity.copy()
    b_s, b_o = scales.copy(), opacity.copy()
    adjust.apply(a_s, a_o, rows, FLOOR, OFFSET)
    adjust.apply_reference(b_s, b_o, rows, FLOOR, OFFSET)
    assert a_s.dtype == np.float32 and a_o.dtype == np.float32
    assert np.array_equal(a_s, b_s) and np.array_equal(a_o, b_o)
    assert np.array_equal(a_s[~rows], scales[~rows]) and np.array_equal(a_o[~rows], opacity[~rows])
    # the smallest axis is kept, so a flat Gaussian stays flat
    m = np.argmin(scales, axis=1)
    assert np.array_equal(a_s[np.arange(500), m], scales[np.arange(500), m])


def test_payload_validity():
    assert adjust.payload_values(adjust.build_payload(-3.5, 1.75)) == (FLOOR, OFFSET)
    assert adjust.payload_values(adjust.build_payload(-3.5, 1.75) + b"\0") is None
    assert adjust.payload_values(b"\0" * 7) is None
    for bad in (float("nan"), float("inf"), 65537.0, -1e6):
        assert adjust.payload_values(adjust.build_payload(bad, 0.0)) is None
        assert adjust.payload_values(adjust.build_payload(0.0, bad)) is None
    assert adjust.payload_values(adjust.build_payload(65536.0, -65536.0)) is not None


def test_coarse_levels():
    units = [(1, 0, 5), (2, 0, 0), (3, 0, 4), (1, 1, 3), (2, 1, 3), (3, 1, 0), (1, 2, 2), (2, 2, 2)]
    decoded = {(1, 0), (1, 1), (2, 1), (1, 2)}
    # region 0: layer 2 empty counts as decoded, layer 3 missing -> 2; region 1 complete; region 2 -> 1
    assert adjust.coarse_levels(3, units, decoded) == {0: 2, 2: 1}
    assert adjust.coarse_levels(3, units, set()) == {}           # nothing decoded: not adjusted


@pytest.fixture(scope="module")
def files():
    scene = make_scene(1500, sh_degree=1, seed=5, objects=1)
    lo, hi = object_boxes(1)[0]
    obj = RegionSpec("object1", "box", [*map(float, lo), *map(float, hi)])
    plain = encode_scene(scene, EncodeOptions(layers=4, overcomplete=8, regions=[obj], progress=False, adjust=False,
                                              rank=None))
    table = {(l, r): (-1.0 - 0.25 * l - 0.5 * r, 2.0 - 0.5 * l) for l in (1, 2, 3) for r in (0, 1)}
    return plain, add_adjustments(plain, table), table


def _expected(data: bytes, levels) -> dict:
    """region -> level of the regions a selection leaves coarse with Gaussians decoded."""
    counts = [r.counts for r in read_front(data).regions]
    return {r: k for r, k in enumerate(levels) if 1 <= k < 4 and sum(counts[r][:k])}


def _adjusted(plain: bytes, levels, table) -> tuple:
    raw = decode(plain, levels)
    s = raw.scene
    scales, opacity = s.scales.copy(), s.opacity.copy()
    for r, k in enumerate(levels):
        if 1 <= k < 4:
            f, o = table[k, r]
            adjust.apply(scales, opacity, raw.region == r, np.float32(f), np.float32(o))
    return scales, opacity


def test_file_layout_and_version(files):
    plain, adj, table = files
    fm = read_front(adj)
    assert fm.version == S.GATE_PREFIX_ADJUSTMENT and read_front(plain).version == (4, 0)
    kinds = [(e.layer, e.region) for e in fm.toc if e.kind == S.KIND_ADJUSTMENT]
    assert sorted(kinds) == sorted(table)
    for i, e in enumerate(fm.toc):                     # each right after its unit's segments
        if e.kind == S.KIND_ADJUSTMENT and i + 1 < len(fm.toc):
            nxt = fm.toc[i + 1]
            assert (nxt.layer, nxt.region) > (e.layer, e.region)
    full_a, full_p = decode(adj), decode(plain)
    assert full_a.adjusted == {} and not full_a.problems
    assert np.array_equal(full_a.scene.attribute_matrix(), full_p.scene.attribute_matrix())


@pytest.mark.parametrize("levels", [[1, 1], [2, 3], [0, 2], [3, 4], [4, 2]])
def test_selection_is_adjusted(files, levels):
    plain, adj, table = files
    got = decode(adj, levels)
    scales, opacity = _adjusted(plain, levels, table)
    assert np.array_equal(got.scene.scales, scales) and np.array_equal(got.scene.opacity, opacity)
    assert got.adjusted == _expected(adj, levels) and got.adjusted
    assert np.array_equal(got.scene.positions, decode(plain, levels).scene.positions)
    raw = decode(adj, levels, adjust=False)
    assert np.array_equal(raw.scene.scales, decode(plain, levels).scene.scales)
    assert not np.array_equal(raw.scene.opacity, got.scene.opacity)
    if levels == [1, 1]:
        assert not np.array_equal(raw.scene.scales, got.scene.scales)      # the floors bite


def test_prefix_at_a_level_boundary_and_mid_unit(files):
    from refcodec.info import describe

    plain, adj, table = files
    for lv in describe(adj)["levels"][:-1]:
        cut = adj[: lv["bytes"]]
        got = decode(cut)
        k = lv["level"]
        assert got.adjusted == _expected(adj, [k, k])
        scales, _ = _adjusted(plain, [k, k], table)
        assert np.array_equal(got.scene.scales, scales)
    # a cut inside layer 2's unit of region 0: region 0 stays at level 1, with its adjustment
    fm = read_front(adj)
    geo = next(e for e in fm.toc if (e.layer, e.region, e.kind) == (2, 0, S.KIND_GEOMETRY))
    got = decode(adj[: geo.offset + 1])
    assert got.adjusted == _expected(adj, [1, 1]) and not got.problems


def test_version_gate_damage_and_invalid_payloads(files):
    from conformance.craft import relabel, with_payload

    plain, adj, table = files
    # a 4.0 file's kind-129 segments are skipped
    as40 = decode(relabel(adj, 4, 0), [2, 2])
    assert as40.adjusted == {} and np.array_equal(as40.scene.scales, decode(plain, [2, 2]).scene.scales)
    fm = read_front(adj)
    i = next(j for j, e in enumerate(fm.toc) if e.kind == S.KIND_ADJUSTMENT and (e.layer, e.region) == (2, 0))
    e = fm.toc[i]
    # damaged (checksum): ignored, nothing dropped
    bad = bytearray(adj)
    bad[e.offset] ^= 0x40
    got = decode(bytes(bad), [2, 2])
    assert got.adjusted == {1: 2} and not got.problems
    # an invalid payload (NaN floor) is ignored too, even in strict mode
    nan = with_payload(adj, i, adjust.build_payload(float("nan"), 1.0))
    got = decode(nan, [2, 2], strict=True)
    assert got.adjusted == {1: 2} and not got.problems


def test_extraction_decodes_as_the_selection(files):
    plain, adj, table = files
    for levels in ([2, 2], [0, 3], [1, 4]):
        ex = extract(adj, levels)
        assert read_front(ex).version == read_front(adj).version
        a, b = decode(ex), decode(adj, levels)
        assert a.adjusted == b.adjusted
        assert np.array_equal(a.scene.attribute_matrix(), b.scene.attribute_matrix())


def test_cli_decode_no_adjust(files, tmp_path):
    from refcodec.cli import main
    from refcodec.io.ply import read_ply

    plain, adj, table = files
    (tmp_path / "a.lgs").write_bytes(adj)
    assert main(["decode", str(tmp_path / "a.lgs"), str(tmp_path / "a.ply"), "--level", "2", "--quiet"]) == 0
    assert main(["decode", str(tmp_path / "a.lgs"), str(tmp_path / "r.ply"), "--level", "2", "--quiet",
                 "--no-adjust"]) == 0
    a, r = read_ply(str(tmp_path / "a.ply")), read_ply(str(tmp_path / "r.ply"))
    assert np.array_equal(r.scales, decode(plain, [2, 2]).scene.scales)
    assert np.array_equal(a.scales, decode(adj, [2, 2]).scene.scales)
    assert not np.array_equal(a.scales, r.scales) and not np.array_equal(a.opacity, r.opacity)


def test_info_lists_the_adjustments(files):
    from refcodec.info import describe, format_text

    plain, adj, table = files
    d = describe(adj)
    got = {(a["layer"], a["region"]): (a["scale_floor"], a["opacity_offset"]) for a in d["adjustments"]}
    assert got == {k: (float(np.float32(f)), float(np.float32(o))) for k, (f, o) in table.items()}
    assert "prefix adjustments (spec 8.6)" in format_text(d) and "adjustment" in d["bytes_per_kind"]
    assert describe(plain)["adjustments"] == []
