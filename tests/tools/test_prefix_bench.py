"""tools/bench/prefix_bench.py on a small generated scene (no LOD peer: splat-transform is not
needed for the tests)."""
import json
import sys
from pathlib import Path

import numpy as np

from refcodec.io.ply import write_ply
from refcodec.io.synthetic import make_scene

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "bench"))
import prefix_bench as PB  # noqa: E402


def test_prefix_bench_rows_sheet_and_json(tmp_path):
    src = tmp_path / "s.ply"
    write_ply(src, make_scene(300, seed=4))
    out = tmp_path / "res" / "prefix"
    assert PB.main([str(src), "--variants", "default", "--layers", "4", "--views", "2", "--size", "32",
                    "--no-lod", "--out", str(out)]) == 0
    doc = json.loads(Path(str(out) + ".json").read_text())
    assert doc["stamp"]["spec_version"]
    v = doc["results"][0]["variants"][0]
    levels = v["levels"]
    assert [r["level"] for r in levels] == [1, 2, 3, 4]
    assert all(a["bytes"] < b["bytes"] and a["gaussians"] < b["gaussians"] for a, b in zip(levels, levels[1:]))
    assert levels[-1]["gaussians"] == 300
    fg = [r["fg_psnr"] for r in levels[:-1]]
    assert all(isinstance(x, float) for x in fg) and fg == sorted(fg)   # finer prefixes, closer
    assert Path(str(out) + "-s-default.png").stat().st_size > 0
    assert "| level | Gaussians |" in Path(str(out) + ".md").read_text()


def test_compare_and_bd():
    lgs = [dict(level=k, bytes=100 * 2 ** k, fg_psnr=10.0 + 3 * k, psnr=20.0 + 3 * k) for k in range(1, 5)]
    lod = [dict(level=k, bytes=110 * 2 ** k, fg_psnr=9.0 + 3 * k, psnr=19.0 + 3 * k, status="ok")
           for k in range(1, 5)]
    c = PB.compare(lgs, lod)
    assert all(x["wins"] for x in c["levels"])
    assert c["bd_rate_fg"] < 0 and c["bd_rate"] < 0
    cams = PB.eval_cameras(np.random.default_rng(0).normal(size=(50, 3)), views=5, size=16, closeups=True)
    assert len(cams) == 10


def test_peer_quality_picks_the_coarsest_preset_at_the_peers_full_level(tmp_path, monkeypatch):
    """--quality peer: presets tried coarsest first, stopping at the first whose full level has at
    least the fg-PSNR of SPZ of the original (here refcodec's own SPZ writer stands in for
    splat-transform)."""
    from refcodec.io.spz import write_spz

    scene = make_scene(400, seed=5)
    src, spz = tmp_path / "s.ply", tmp_path / "s.spz"
    write_ply(src, scene)
    write_spz(spz, scene)
    monkeypatch.setattr(PB, "lod_spz", lambda tool, path, original, n, cache: (str(spz), ""))
    cams = PB.eval_cameras(scene.positions, views=2, size=32)
    ref, alphas = PB.render_all(scene, cams)
    q = PB.peer_quality(None, str(src), scene, 4, cams, ref, [a > 0.5 for a in alphas], tmp_path)
    presets = [t["preset"] for t in q["trials"] if isinstance(t["preset"], str)]
    assert presets == list(PB.PEER_PRESETS[:len(presets)])
    ok = [t for t in q["trials"] if t["fg_psnr"] == "inf" or t["fg_psnr"] >= q["peer_fg_psnr"]]
    if ok and len(presets) > 1:     # bracketed: the answer is the coarsest passing level tried
        best = max(ok, key=lambda t: t["level"])
        assert q["preset"] in (best["preset"], best["level"])
        failing = [t["level"] for t in q["trials"] if t not in ok]
        assert min(x for x in failing if x > best["level"]) - best["level"] <= PB.PEER_RESOLUTION + 1e-9
