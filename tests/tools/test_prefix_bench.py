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
