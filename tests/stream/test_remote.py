"""Range-request decoding against a real HTTP server on loopback (aiohttp, see conftest.py)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from refcodec.cli import main
from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format import schema as S
from refcodec.format.decode import canonical_dump, decode, resolve_levels
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene, object_boxes
from refcodec.roi import RegionSpec
from refcodec.stream import MissingRangeError, RemoteLGS, SparseBytes, StreamError, coalesce

N = 60_000


@functools.lru_cache(maxsize=None)
def big_file() -> bytes:
    """A 60k-Gaussian SH1 scene with one object region, 8 layers (about 1 MB)."""
    scene = make_scene(N, sh_degree=1, seed=3, objects=1)
    lo, hi = object_boxes(1)[0]
    spec = RegionSpec("obj1", "box", [*map(float, lo), *map(float, hi)])
    return encode_scene(scene, EncodeOptions(adjust=False, regions=[spec], progress=False))


@pytest.fixture(scope="module")
def url(served):
    (served.root / "scene.lgs").write_bytes(big_file())
    return served.url("scene.lgs")


def expected_bytes(data: bytes, levels: list) -> int:
    fm = read_front(data)
    return fm.front_length + sum(fm.toc[i].length for u in fm.units if u.layer <= levels[u.region]
                                 for i in u.critical)


def test_level2_over_http_fetches_front_and_levels_1_2_only(served, url, tmp_path, capsys):
    data = big_file()
    served.log.clear()
    assert main(["decode", url, str(tmp_path / "remote.ply"), "--level", "2"]) == 0
    out = capsys.readouterr().out
    assert main(["decode", str(served.root / "scene.lgs"), str(tmp_path / "local.ply"), "--level", "2"]) == 0
    assert (tmp_path / "remote.ply").read_bytes() == (tmp_path / "local.ply").read_bytes()
    fm = read_front(data)
    want = expected_bytes(data, [2] * fm.info.num_regions)
    # header, front, then layers 1-2 (contiguous in file order, spec 3.5): three requests
    assert [r[3] for r in served.log] == [206, 206, 206]
    assert served.bytes_sent() == want
    assert f"fetched {want:,} of {len(data):,} bytes" in out
    assert want < 0.15 * len(data)


def test_roi_selection_coalesces_and_matches_local(served, url):
    data = big_file()
    fm = read_front(data)
    levels = resolve_levels(fm, 1, {"obj1": 8})
    served.log.clear()
    with RemoteLGS(url) as r:                          # obj1's units lie apart: one range each
        res = r.decode(levels)
        assert r.stats().bytes_fetched == expected_bytes(data, levels)
        assert 4 <= r.stats().requests <= 2 + 8
    assert canonical_dump(res.scene) == canonical_dump(decode(data, levels).scene)
    assert np.array_equal(res.region, decode(data, levels).region)
    # a bound of one request per fetch merges the gaps: more bytes, still the same result
    with RemoteLGS(url, max_requests=1) as r:
        res1 = r.decode(levels)
        assert r.stats().requests == 3
        assert r.stats().bytes_fetched > expected_bytes(data, levels)
    assert canonical_dump(res1.scene) == canonical_dump(res.scene)


def test_max_bytes_over_http_equals_local_prefix(url):
    data = big_file()
    cut = len(data) // 3
    with RemoteLGS(url, max_bytes=cut) as r:
        res = r.decode()
        assert r.stats().bytes_fetched <= cut
    ref = decode(data[:cut])
    assert canonical_dump(res.scene) == canonical_dump(ref.scene)
    assert [u.status for u in res.units] == [u.status for u in ref.units]


def test_checksum_failure_is_reported_as_for_a_local_file(served, tmp_path, capsys):
    data = bytearray(big_file())
    fm = read_front(bytes(data))
    seg = next(fm.toc[i] for u in fm.units if u.layer == 2 and u.region == 0 for i in u.critical)
    data[seg.offset + seg.length // 2] ^= 0xFF
    (served.root / "damaged.lgs").write_bytes(bytes(data))
    assert main(["decode", served.url("damaged.lgs"), str(tmp_path / "r.ply"), "--level", "3"]) == 0
    remote_err = capsys.readouterr().err
    assert main(["decode", str(served.root / "damaged.lgs"), str(tmp_path / "l.ply"), "--level", "3"]) == 0
    assert remote_err == capsys.readouterr().err
    assert "checksum" in remote_err
    assert (tmp_path / "r.ply").read_bytes() == (tmp_path / "l.ply").read_bytes()
    assert main(["decode", served.url("damaged.lgs"), str(tmp_path / "s.ply"), "--level", "3", "--strict"]) == 1


def test_info_over_http_reads_the_front_only(served, url, capsys):
    data = big_file()
    served.log.clear()
    assert main(["info", url, "--json"]) == 0
    import json
    d = json.loads(capsys.readouterr().out)
    assert d["file_bytes"] == len(data)
    assert d["fetched_bytes"] == served.bytes_sent() == read_front(data).front_length
    assert d["total_gaussians"] == N


def test_progressive_writes_each_level(served, url, tmp_path, capsys):
    data = big_file()
    L = read_front(data).info.num_layers
    served.log.clear()
    assert main(["decode", url, str(tmp_path / "levels"), "--progressive", "--raw"]) == 0
    out = capsys.readouterr().out
    for k in range(1, L + 1):
        got = (tmp_path / "levels" / f"level_{k}.raw").read_bytes()
        assert got == canonical_dump(decode(data, [k] * read_front(data).info.num_regions).scene)
        assert f"level {k}:" in out
    assert served.bytes_sent() == len(data)            # every byte once
    assert len(served.log) == 2 + L                    # header, front, one range per level


def test_server_ignoring_range_is_an_error_by_default(served_no_range, tmp_path, capsys):
    (served_no_range.root / "scene.lgs").write_bytes(big_file())
    url = served_no_range.url("scene.lgs")
    served_no_range.log.clear()
    assert main(["decode", url, str(tmp_path / "x.ply"), "--level", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ignores Range" in err and "--whole-file" in err
    assert "Traceback" not in err
    assert len(served_no_range.log) == 1 and served_no_range.log[0][3] == 200
    assert not (tmp_path / "x.ply").exists()


def test_server_ignoring_range_whole_file_fallback_warns(served_no_range, tmp_path, capsys):
    data = big_file()
    (served_no_range.root / "scene.lgs").write_bytes(data)
    url = served_no_range.url("scene.lgs")
    served_no_range.log.clear()
    assert main(["decode", url, str(tmp_path / "x.raw"), "--level", "2", "--raw", "--whole-file"]) == 0
    cap = capsys.readouterr()
    assert "warning:" in cap.err and "ignores Range" in cap.err
    assert len(served_no_range.log) == 1                # one download, later ranges served from it
    fm = read_front(data)
    assert (tmp_path / "x.raw").read_bytes() == canonical_dump(decode(data, [2] * fm.info.num_regions).scene)
    assert f"fetched {len(data):,} of {len(data):,} bytes" in cap.out


def test_http_errors_are_one_line(served, tmp_path, capsys):
    assert main(["decode", served.url("missing.lgs"), str(tmp_path / "x.ply")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "404" in err
    (served.root / "notlgs.bin").write_bytes(b"hello world, not a splat file at all")
    assert main(["info", served.url("notlgs.bin")]) == 1
    assert "bad magic" in capsys.readouterr().err
    assert main(["info", "http://127.0.0.1:9/none.lgs"]) == 1      # nothing listens on port 9
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


def test_file_and_fsspec_urls(tmp_path):
    data = big_file()
    p = tmp_path / "s.lgs"
    p.write_bytes(data)
    levels = [3] * read_front(data).info.num_regions
    ref = canonical_dump(decode(data, levels).scene)
    with RemoteLGS(p.as_uri()) as r:
        assert canonical_dump(r.decode(levels).scene) == ref
        assert r.stats().bytes_fetched == expected_bytes(data, levels)
    fsspec = pytest.importorskip("fsspec")            # a dependency of the test extra
    with fsspec.open("memory://lgs/s.lgs", "wb") as f:
        f.write(data)
    with RemoteLGS("memory://lgs/s.lgs") as r:
        assert canonical_dump(r.decode(levels).scene) == ref


def test_coalesce():
    assert coalesce([(10, 20), (20, 30), (40, 50)], 8) == [(10, 30), (40, 50)]
    assert coalesce([(40, 50), (10, 20), (15, 25)], 8) == [(10, 25), (40, 50)]
    assert coalesce([(0, 1), (5, 6), (100, 101), (102, 103)], 2) == [(0, 6), (100, 103)]
    assert coalesce([(0, 1), (5, 6), (100, 101)], 1) == [(0, 101)]
    assert coalesce([], 3) == []


def test_sparse_bytes():
    s = SparseBytes(100)
    s.add(10, b"abcdef")
    s.add(16, b"ghij")
    assert len(s) == 100 and s[10:20] == b"abcdefghij" and s[12:14] == b"cd"
    with pytest.raises(MissingRangeError):
        s[5:12]
    with pytest.raises(MissingRangeError):
        s[18:30]
    assert isinstance(MissingRangeError("x"), StreamError)


def test_server_sending_the_wrong_range_is_an_error(served, url, tmp_path, capsys):
    assert main(["decode", served.url("liar/scene.lgs"), str(tmp_path / "x.ply"), "--level", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "server sent 0-15" in err


def test_priority_budget_and_require_complete_over_http(served, url, tmp_path, capsys):
    data = big_file()
    budget = len(data) // 5
    served.log.clear()
    assert main(["decode", url, str(tmp_path / "r.raw"), "--raw", "--max-bytes", str(budget),
                 "--priority", "obj1"]) == 0
    assert served.bytes_sent() <= budget
    assert main(["decode", str(served.root / "scene.lgs"), str(tmp_path / "l.raw"), "--raw",
                 "--max-bytes", str(budget), "--priority", "obj1"]) == 0
    assert (tmp_path / "r.raw").read_bytes() == (tmp_path / "l.raw").read_bytes()
    capsys.readouterr()
    assert main(["decode", url, str(tmp_path / "p.ply"), "--max-bytes", str(budget), "--require-complete"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "require-complete" in err
    assert main(["decode", url, str(tmp_path / "q.ply"), "--max-bytes", str(budget), "--view=0,0,0",
                 "--priority", "obj1"]) == 1


def test_streamed_selection_fetches_and_applies_the_adjustments(served):
    """spec 8.6: a client that selects a coarse level fetches that level's adjustment segments
    with the units (31 bytes each) and decodes what a local decode of the selection gives."""
    from refcodec.encoder.adjust import add_adjustments

    data = add_adjustments(big_file(), {(l, r): (-3.0, 1.0 - 0.1 * l) for l in range(1, 8) for r in (0, 1)})
    (served.root / "adjusted.lgs").write_bytes(data)
    levels = [2, 8]
    with RemoteLGS(served.url("adjusted.lgs")) as r:
        r.fetch(levels)
        got = r.decode(levels)
    local = decode(data, levels)
    assert got.adjusted == local.adjusted == {0: 2}
    assert np.array_equal(got.scene.attribute_matrix(), local.scene.attribute_matrix())


def test_streamed_selection_fetches_only_its_levels_corrections(served):
    """spec 8.7: a client that selects a coarse level fetches that level's correction (not those of
    the levels below it) and decodes what a local decode of the selection gives."""
    from refcodec.encoder.corrections import add_corrections
    from refcodec.format import correct
    from refcodec.format.front import read_front
    from refcodec.stream.select import selected_bytes

    base = big_file()
    fm = read_front(base)
    rng = np.random.default_rng(4)
    table = {(l, r): correct.build_payload([0, 8], 2, rng.integers(-2, 3, size=(2, sum(fm.regions[r].counts[:l]))))
             for l in (1, 2, 3) for r in (0, 1)}
    data = add_corrections(base, table)
    (served.root / "corrected.lgs").write_bytes(data)
    levels = [2, 8]
    with RemoteLGS(served.url("corrected.lgs")) as r:
        fetched = r.segments_for(levels)
        r.fetch(levels)
        got = r.decode(levels)
        front = r.open()
    kinds = [(front.toc[i].layer, front.toc[i].region) for i in fetched
             if front.toc[i].kind in (S.KIND_CORRECTION, S.KIND_PREDICTED_CORRECTION)]
    assert kinds == [(2, 0)]
    local = decode(data, levels)
    assert got.corrected == local.corrected == {0: 2}
    assert np.array_equal(got.scene.attribute_matrix(), local.scene.attribute_matrix())
    old = read_front(base)
    assert selected_bytes(front, levels) == (selected_bytes(old, levels) + len(table[2, 0])
                                             + front.front_length - old.front_length)
