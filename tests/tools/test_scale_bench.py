"""tools/bench/scale_bench.py on a tiny generated scene (each step in its own subprocess)."""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench"
sys.path.insert(0, str(BENCH))

import scale_bench  # noqa: E402

STEP_KEYS = {"seconds", "gaussians", "baseline_mb", "peak_mb", "peak_increase_mb", "process_s"}


def test_scale_bench_tiny(tmp_path, capsys):
    out_json, out_md = tmp_path / "scale.json", tmp_path / "scale.md"
    rc = scale_bench.main(["--sizes", "2000", "--sh", "1", "--repeat", "1", "--quiet",
                           "--json", str(out_json), "--md", str(out_md)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "| scene | Gaussians | SH | bytes | bits/G | encode s | decode s | layer-1 decode s |" in stdout
    assert out_md.read_text() == stdout

    doc = json.loads(out_json.read_text())
    assert {"tool", "settings", "environment", "scenes"} <= set(doc)
    assert list(doc)[0] == "stamp" and doc["stamp"]["spec_version"] == "4.3"
    assert doc["settings"]["sizes"] == [2000] and doc["settings"]["sh_degree"] == 1
    assert doc["settings"]["quality"] == "high" and doc["settings"]["repeat"] == 1
    (r,) = doc["scenes"]
    assert r["scene"] == "synthetic 2k SH1" and r["gaussians"] == 2000 and r["sh_degree"] == 1
    assert r["errors"] == {} and r["repeat"] == 1
    assert r["bytes"] > 0 and r["bits_per_gaussian"] == pytest.approx(8 * r["bytes"] / 2000)
    for step in ("encode", "decode", "layer1"):
        assert STEP_KEYS <= set(r[step]), step
        assert r[step]["seconds"] > 0 and r[step]["peak_mb"] >= r[step]["baseline_mb"] > 0
        assert r[step]["peak_increase_mb"] == pytest.approx(r[step]["peak_mb"] - r[step]["baseline_mb"])
    assert r["encode"]["bytes"] == r["bytes"]
    assert r["decode_gaussians"] == 2000
    assert 0 < r["layer1_decode_gaussians"] < 2000
    assert r["layer1"]["num_regions"] >= 1
    for key in ("encode_s", "decode_s", "layer1_decode_s", "encode_peak_mb", "decode_peak_mb"):
        assert isinstance(r[key], float)
    assert r["checks"] == []  # no target applies to 2,000 Gaussians


def test_targets_apply_by_size():
    assert [t["name"] for t in scale_bench.targets_for(150_000, 0)] == ["150k"]
    assert [t["name"] for t in scale_bench.targets_for(1_000_000, 3)] == ["1M SH3"]
    assert scale_bench.targets_for(1_000_000, 1) == [] and scale_bench.targets_for(2000, 3) == []
    row = dict(gaussians=150_000, sh_degree=3, encode_s=2.0, decode_s=0.6, layer1_decode_s=None)
    checks = {c["quantity"]: c["ok"] for c in scale_bench.check_targets(row)}
    assert checks == {"encode_s": True, "decode_s": False, "layer1_decode_s": None}
    assert scale_bench.parse_sizes("150k, 1M,2000") == [150_000, 1_000_000, 2000]
