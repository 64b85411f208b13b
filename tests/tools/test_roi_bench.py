"""tools/bench/roi_bench.py end to end on the generated two-object scene (small views, 2 layers)."""
import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench"
sys.path.insert(0, str(BENCH))

import roi_bench  # noqa: E402

from refcodec.io.ply import write_ply  # noqa: E402
from refcodec.roi.click import default_views  # noqa: E402
from tests.roi.scenes import two_objects  # noqa: E402


def test_interp_log_and_psnr():
    assert abs(roi_bench.interp_log(100.0, [10.0, 1000.0], [0.0, 2.0]) - 1.0) < 1e-12
    assert roi_bench.interp_log(5.0, [10.0, 1000.0], [0.0, 2.0]) is None
    a, b = np.zeros((1, 2, 2, 3)), np.full((1, 2, 2, 3), 0.1)
    m = np.array([[[True, False], [False, False]]])
    assert abs(roi_bench.psnr_in(a, b, m) - 20.0) < 1e-9
    assert np.isnan(roi_bench.psnr_in(a, b, ~np.ones_like(m)))


def test_roi_bench_tiny(tmp_path, capsys):
    scene, label, c1, _ = two_objects(n_sphere=800, n_cube=800, n_ground=1000)
    write_ply(tmp_path / "two.ply", scene)
    cams = default_views(scene.positions, size=64, n_per_ring=4)
    (tmp_path / "two_cameras.json").write_text(json.dumps([c.to_json() for c in cams]))
    uv, _ = cams[0].project(c1[None])
    (tmp_path / "two.json").write_text(json.dumps(dict(scene="two.ply", object="ball", cameras="two_cameras.json",
                                                       clicks=f"0:{uv[0, 0]:.2f},{uv[0, 1]:.2f}")))
    out = tmp_path / "res"
    assert roi_bench.main(["--data", str(tmp_path), "--out", str(out), "--configs", str(tmp_path / "two.json"),
                           "--layers", "2", "--eval-size", "48", "--eval-views", "2"]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["stamp"]["spec_version"] and "commit" in doc["stamp"]
    s = doc["scenes"][0]
    assert abs(s["object_gaussians"] - (label == 1).sum()) <= 0.05 * (label == 1).sum()
    sel = {(r["file"], r["selection"]): r for r in s["rows"]}
    assert sel["plain", "uniform 2"]["bytes"] == s["file_bytes"]["plain"]
    first = sel["plain", "object 2, background 1"]
    assert first["roi_psnr"] > sel["plain", "uniform 1"]["roi_psnr"]
    assert first["bytes"] < s["file_bytes"]["plain"]
    assert Path(tmp_path / "res-two-sheet.png").stat().st_size > 0
    assert (tmp_path / "res-tables.md").read_text().startswith("### two.ply: ball")
