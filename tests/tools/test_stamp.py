"""tools/bench/stamp.py: every results JSON says which commit, format version and peers made it;
format_bench.py and render_bench.py (moved out of the package) on a tiny generated scene."""
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "tools" / "bench"
sys.path.insert(0, str(BENCH))

import stamp  # noqa: E402

import refcodec  # noqa: E402
from refcodec.io.ply import write_ply  # noqa: E402
from refcodec.io.synthetic import make_scene  # noqa: E402


def test_stamp_fields(tmp_path):
    s = stamp.stamp({"splat-transform": "3.7.0"})
    assert set(s) == {"commit", "dirty", "spec_version", "refcodec", "peers", "date"}
    assert s["spec_version"] == "4.3" and s["refcodec"] == refcodec.__version__
    assert s["peers"] == {"splat-transform": "3.7.0"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", s["date"])
    if (REPO / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", s["commit"]) and isinstance(s["dirty"], bool)
    out = stamp.write_json(tmp_path / "a.json", {"scenes": [1], "stamp": "old"})
    doc = json.loads((tmp_path / "a.json").read_text())
    assert list(doc) == ["stamp", "scenes"] and doc == json.loads(json.dumps(out)) and doc["stamp"]["peers"] == {}


def test_peer_versions_from_splat_transform():
    class Tool:
        version = "splat-transform v3.7.0 (0f60b17)"
        node_version = "v22.23.5"

    assert stamp.splat_transform_peers(Tool()) == {"splat-transform": "3.7.0", "node": "22.23.5"}
    assert stamp.splat_transform_peers(None) == {}


def test_kept_results_are_stamped():
    """Every results JSON in the repository carries a stamp with a commit and the spec version."""
    files = sorted((BENCH / "results").glob("*.json"))
    assert files
    for f in files:
        doc = json.loads(f.read_text())
        st = doc.get("stamp") if isinstance(doc, dict) else None
        assert st, f.name
        assert re.fullmatch(r"[0-9a-f]{40}", st["commit"]) and st["spec_version"], f.name


def test_format_bench_json(tmp_path, capsys):
    import format_bench

    ply = tmp_path / "t.ply"
    write_ply(ply, make_scene(800, sh_degree=0, seed=2))
    assert format_bench.main([str(ply), "--json", str(tmp_path / "f.json")]) == 0
    doc = json.loads((tmp_path / "f.json").read_text())
    assert list(doc)[0] == "stamp" and doc["stamp"]["spec_version"] == "4.3"
    (row,) = doc["scenes"]
    assert row["gaussians"] == 800 and row["decoded"] == 800 and "| t.ply |" in capsys.readouterr().out


def test_render_bench_runs(tmp_path, capsys):
    pytest.importorskip("torch")
    import render_bench

    ply = tmp_path / "t.ply"
    write_ply(ply, make_scene(300, sh_degree=1, seed=4))
    render_bench.main([str(ply), "--views", "1", "--size", "32", "--png-dir", str(tmp_path / "png")])
    assert "wall per view" in capsys.readouterr().out
    assert len(list((tmp_path / "png").glob("*.png"))) == 1
