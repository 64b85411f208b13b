"""tools/bench/rd_bench.py (and rd_sweep, rd_eval, rd_tables, rd_plot, stamp) and peers.py on a tiny
generated scene."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench"
sys.path.insert(0, str(BENCH))

import peers  # noqa: E402
import rd_bench  # noqa: E402
import rd_eval  # noqa: E402
import rd_sweep  # noqa: E402
import rd_tables  # noqa: E402

from refcodec.io.ply import write_ply  # noqa: E402
from refcodec.io.synthetic import make_scene  # noqa: E402
from refcodec.render import Camera, orbit_cameras, render  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROW_KEYS = {"codec", "setting", "bytes", "bits_per_gaussian", "gaussians", "psnr", "ssim", "encode_s", "decode_s"}


@pytest.fixture
def tiny_ply(tmp_path):
    path = tmp_path / "tiny.ply"
    write_ply(path, make_scene(1200, sh_degree=1, seed=5))
    return path


def test_bench_without_peers(tiny_ply, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(peers, "find_splat_transform", lambda explicit=None: (None, "absent in this test"))
    out_json, out_md, out_png = tmp_path / "rd.json", tmp_path / "rd.md", tmp_path / "rd.png"
    rc = rd_bench.main([str(tiny_ply), "--views", "2", "--size", "64", "--presets", "high,low", "--layers", "3",
                        "--json", str(out_json), "--md", str(out_md), "--plot", str(out_png), "--quiet",
                        "--pictures", str(tmp_path / "pics")])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "| scene | codec | setting | bytes | bits/G | PSNR dB | fg-PSNR dB | SSIM | encode s | decode s |" in stdout
    assert out_md.read_text() == stdout
    assert out_png.read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "pics" / "tiny_variants.png").read_bytes().startswith(PNG_MAGIC)

    doc = json.loads(out_json.read_text())
    assert {"settings", "environment", "scenes"} <= set(doc)
    assert list(doc)[0] == "stamp" and doc["stamp"]["spec_version"] == "4.3" and doc["stamp"]["peers"] == {}
    assert doc["settings"]["presets"] == ["high", "low"] and doc["settings"]["views"] == 2
    (sc,) = doc["scenes"]
    assert {"scene", "gaussians", "sh_degree", "input_bytes", "lgs", "curve", "peers", "comparisons"} <= set(sc)
    assert sc["scene"] == "tiny.ply" and sc["gaussians"] == 1200
    assert [r["setting"] for r in sc["lgs"]] == ["high", "low"]
    for r in sc["lgs"]:
        assert ROW_KEYS <= set(r)
        assert r["bytes"] > 0 and r["bits_per_gaussian"] == pytest.approx(8 * r["bytes"] / 1200)
        assert 20 < r["psnr"] < 200 and 0.9 < r["ssim"] <= 1.0 and len(r["psnr_per_view"]) == 2
    high, low = sc["lgs"]
    assert low["bytes"] < high["bytes"] and low["psnr"] < high["psnr"]
    levels = sc["curve"]["levels"]
    assert sc["curve"]["preset"] == "high" and [x["level"] for x in levels] == [1, 2, 3]
    assert levels[-1]["bytes"] == high["bytes"] and levels[-1]["psnr"] == high["psnr"]
    assert all(a["bytes"] < b["bytes"] and a["gaussians"] < b["gaussians"] for a, b in zip(levels, levels[1:]))
    assert [p["codec"] for p in sc["peers"]] == ["SOG", "SPZ"]
    assert all(p["status"].startswith("skipped") for p in sc["peers"])
    assert sc["comparisons"] == []


def test_interpolation_and_compare():
    rows = [dict(bytes=1000, psnr=30.0), dict(bytes=4000, psnr=40.0), dict(bytes=16000, psnr=float("inf"))]
    assert rd_eval.lgs_bytes_at_psnr(rows, 35.0) == pytest.approx(2000.0)     # log-linear
    assert rd_eval.lgs_bytes_at_psnr(rows, 45.0) is None                       # outside the curve
    assert rd_eval.lgs_psnr_at_bytes(rows, 2000) == pytest.approx(35.0)
    assert rd_eval.lgs_psnr_at_bytes(rows, 500) is None
    c = rd_eval.compare(rows, dict(codec="SOG", bytes=2500, psnr=35.0))
    assert c["lgs_bytes_at_peer_psnr"] == pytest.approx(2000.0)
    assert c["lgs_bytes_ratio"] == pytest.approx(0.8)
    assert c["lgs_psnr_gain_db"] == pytest.approx(10 * math.log(2500 / 1000) / math.log(4) + 30 - 35)
    assert c["bd_rate_percent"] is None                                         # one peer point
    two = dict(codec="X", bytes=2000, psnr=30.0, points=[dict(bytes=2000, psnr=30.0), dict(bytes=8000, psnr=40.0)])
    assert rd_eval.compare(rows, two)["bd_rate_percent"] == pytest.approx(-50.0)


def test_align_scene_undoes_axis_turns():
    scene = make_scene(600, sh_degree=2, seed=1)
    for name in peers.TURNS:
        turned = peers.apply_turn(scene, name)
        back, found, _ = peers.align_scene(scene, turned)
        assert found == name
        np.testing.assert_allclose(back.positions, scene.positions, atol=1e-6)
        np.testing.assert_allclose(back.sh_rest, scene.sh_rest, atol=1e-7)


def test_apply_turn_renders_the_same_picture():
    """A turned scene seen by the equally turned camera looks the same (quaternions and SH)."""
    scene = make_scene(800, sh_degree=2, seed=2)
    cam = orbit_cameras(scene.positions, n_views=1, width=40, height=40)[0]
    ref = render(scene, cam)["rgb"].numpy()
    for name, diag in peers.TURNS.items():
        T = np.eye(4)
        T[:3, :3] = np.diag(diag)
        cam2 = Camera(cam.viewmat @ T, cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
        img = render(peers.apply_turn(scene, name), cam2)["rgb"].numpy()
        np.testing.assert_allclose(img, ref, atol=2e-4, err_msg=name)


def test_bench_with_splat_transform(tiny_ply, tmp_path):
    tool, why = peers.find_splat_transform()
    if tool is None:
        pytest.skip(f"splat-transform not available: {why}")
    out_json = tmp_path / "rd.json"
    rc = rd_bench.main([str(tiny_ply), "--views", "1", "--size", "48", "--presets", "max,preview",
                        "--curve-preset", "none", "--json", str(out_json), "--quiet"])
    assert rc == 0
    (sc,) = json.loads(out_json.read_text())["scenes"]
    assert sc["curve"]["levels"] == []
    for p in sc["peers"]:
        assert p["status"] == "ok", p
        assert ROW_KEYS <= set(p) and p["gaussians"] == 1200 and p["psnr"] > 30
    assert {c["peer"] for c in sc["comparisons"]} == {"SOG", "SPZ"}
    for c in sc["comparisons"]:
        m = c.get("lgs_matched")
        if m is not None:                        # the encoder has rate control (target_bytes)
            # fits the peer's size; close to it unless even the finest level is smaller
            assert m["bytes"] <= c["peer_bytes"] and m["psnr"] > 30


def test_ablation_variants():
    from refcodec.encoder import TOOLS

    every = rd_sweep.ablation_variants("all")
    assert [v for v, _ in every] == list(TOOLS) + ["none-of-them"]
    assert all(off == {v} for v, off in every[:-1]) and every[-1][1] == frozenset(TOOLS)
    assert rd_sweep.ablation_variants(["delta", "delta", "none-of-them"]) == [
        ("delta", frozenset({"delta"})), ("none-of-them", frozenset(TOOLS))]
    with pytest.raises(ValueError):
        rd_sweep.ablation_variants("delta,no_such_tool")
    with pytest.raises(SystemExit):
        rd_bench.main(["x.ply", "--ablate", "no_such_tool", "--quiet"])


def test_bench_ablation(tiny_ply, tmp_path, monkeypatch, capsys):
    """One tool ablated: the presets are encoded again with it off, the peer runs once, and the LGS
    bytes at the peer's PSNR are interpolated on each variant's curve."""
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene

    calls = []

    def fake_peer(codec, tool, src, tmp, original, cams, ref, *rest):
        calls.append(codec)          # a "peer" that is LGS medium: its PSNR lies on the high-low curve
        data = encode_scene(original, EncodeOptions(adjust=False,
                                                    layers=3, overcomplete=6, quality="medium", progress=False))
        row = dict(codec=codec.upper(), setting="fake", status="ok", bytes=len(data) + 1000,
                   bits_per_gaussian=8.0 * (len(data) + 1000) / original.n, encode_s=0.0, decode_s=0.0,
                   axes="identity", gaussians=original.n)
        row.update(rd_eval.score(ref, rd_eval.render_all(decode(data).scene, cams)))
        return row

    monkeypatch.setattr(rd_sweep, "_run_peer", fake_peer)
    r = rd_sweep.bench_scene(str(tiny_ply), ("high", "low"), views=1, size=48, layers=3, peers=["sog"],
                             tool=object(), match_peer_bytes=False, ablate=["delta"], log=lambda m: None)
    assert calls == ["sog"]                                             # peers run once, not per variant
    full, off = r["ablation"]
    assert (full["variant"], full["disabled"]) == ("all tools on", [])
    assert (off["variant"], off["disabled"]) == ("delta", ["delta"])
    assert full["rows"] == r["lgs"] and full["preset"] == off["preset"] == "high"
    assert full["bytes_at_preset"] == r["lgs"][0]["bytes"] and full["delta_at_preset"] == 0.0
    assert [x["setting"] for x in off["rows"]] == ["high", "low"] and off["status"] == "ok"
    for x in off["rows"]:
        assert ROW_KEYS <= set(x) and x["bytes"] > 0 and len(x["psnr_per_view"]) == 1
    assert off["bytes_at_preset"] == off["rows"][0]["bytes"]
    assert off["delta_at_preset"] == pytest.approx(off["bytes_at_preset"] / full["bytes_at_preset"] - 1)
    (peer,) = r["peers"]
    (cmp,) = r["comparisons"]
    assert set(full["at_peer"]) == set(off["at_peer"]) == set(full["delta_vs_full"]) == {"SOG"}
    assert full["at_peer"]["SOG"] is not None and full["at_peer"]["SOG"] == pytest.approx(cmp["lgs_bytes_at_peer_psnr"])
    assert full["delta_vs_full"]["SOG"] == 0.0
    at = off["at_peer"]["SOG"]
    assert at == rd_eval.lgs_bytes_at_psnr(off["rows"], peer["psnr"])
    assert off["delta_vs_full"]["SOG"] == (None if at is None else pytest.approx(at / full["at_peer"]["SOG"] - 1))
    json.loads(json.dumps(rd_bench._json_ready([r])))

    lines = rd_tables.ablation_markdown(r)
    md = rd_tables.markdown([r], dict(views=1, size=48))
    assert "\n".join(lines) in md
    head = next(i for i, s in enumerate(lines) if s.startswith("| variant |"))
    assert lines[head].startswith("| variant | tools off | bytes at high | PSNR at high | change | bytes at SOG PSNR (")
    assert lines[head].endswith("| change | bytes at SPZ PSNR | change |")
    rows = lines[head + 2:]
    assert len(rows) == 2 and all(s.count("|") == lines[head].count("|") for s in rows)
    assert rows[0].startswith(f"| all tools on | - | {full['bytes_at_preset']:,} |")
    assert rows[1].startswith(f"| without delta | delta | {off['bytes_at_preset']:,} |")
    assert rows[1].endswith("| - | - |")                                  # SPZ was not run

    # --peers none through the command line: only the bytes at the preset (high, with no curve)
    out_json = tmp_path / "ab.json"
    assert rd_bench.main([str(tiny_ply), "--views", "1", "--size", "32", "--presets", "high,low", "--layers", "3",
                          "--curve-preset", "none", "--peers", "none", "--ablate", "delta",
                          "--json", str(out_json), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    doc = json.loads(out_json.read_text())
    assert doc["settings"]["ablate"] == ["delta"]
    (sc,) = doc["scenes"]
    assert [e["variant"] for e in sc["ablation"]] == ["all tools on", "delta"]
    assert all(e["at_peer"] == {} and e["bytes_at_preset"] > 0 for e in sc["ablation"])
    assert "| variant | tools off | bytes at high | PSNR at high | change | bytes at SOG PSNR | change |" in stdout
    assert "| without delta | delta | " in stdout and stdout.rstrip().endswith("| - | - | - | - |")


def test_bench_with_pruning(tiny_ply, monkeypatch):
    """--prune-margin: the ranking runs once, every encode prunes with it, bits/G stay per input."""
    import refcodec.encoder.layering.pruning as pruning

    small = []
    real_views, real_errors = pruning.views, pruning.removal_errors
    rankings = []

    def few_views(scene, cameras=None):
        if not small:
            small.extend(orbit_cameras(scene.positions, n_views=4, width=32, height=32))
        return real_views(scene, small)

    def counted(scene, cams, progress=None):
        rankings.append(scene.n)
        return real_errors(scene, cams, progress)

    monkeypatch.setattr(pruning, "views", few_views)
    monkeypatch.setattr(pruning, "removal_errors", counted)
    r = rd_sweep.bench_scene(str(tiny_ply), ("high", "low"), views=1, size=48, layers=3, peers=[],
                             log=lambda m: None, prune={"margin": 6.0})
    assert rankings == [1200]                        # once for the whole sweep
    assert r["pruning"]["margin"] == 6.0 and r["pruning"]["ranking_s"] > 0
    assert any(row["gaussians"] < 1200 for row in r["lgs"])
    for row in r["lgs"]:
        assert row["bits_per_gaussian"] == pytest.approx(8.0 * row["bytes"] / 1200)
    assert "prunes first" in rd_tables.markdown([r], dict(views=1, size=48))


def test_target_fractions(tiny_ply, monkeypatch):
    """--target-fractions: LGS rate-controlled to F x the peer's bytes, and whether it reaches the
    peer's PSNR; the fake peer is LGS medium plus 1,000 bytes, so at F = 1 LGS meets it."""
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene

    def fake_peer(codec, tool, src, tmp, original, cams, ref, *rest):
        data = encode_scene(original, EncodeOptions(adjust=False,
                                                    layers=3, overcomplete=6, quality="medium", progress=False))
        row = dict(codec=codec.upper(), setting="fake", status="ok", bytes=len(data) + 1000,
                   bits_per_gaussian=0.0, encode_s=0.0, decode_s=0.0, axes="identity", gaussians=original.n)
        row.update(rd_eval.score(ref, rd_eval.render_all(decode(data).scene, cams)))
        return row

    monkeypatch.setattr(rd_sweep, "_run_peer", fake_peer)
    r = rd_sweep.bench_scene(str(tiny_ply), ("high", "low"), views=1, size=48, layers=3, peers=["sog", "spz"],
                             tool=object(), match_peer_bytes=False, fractions={"sog": 1.0, "spz": 0.3},
                             log=lambda m: None)
    sog, spz = r["comparisons"]
    assert sog["lgs_at_fraction"]["fraction"] == 1.0 and sog["lgs_at_fraction"]["meets"] is True
    assert sog["lgs_at_fraction"]["bytes"] <= sog["peer_bytes"]
    assert spz["lgs_at_fraction"]["bytes"] <= int(0.3 * spz["peer_bytes"]) and spz["lgs_at_fraction"]["meets"] is False
    md = rd_tables.markdown([r], dict(views=1, size=48))
    assert "| fraction |" in md and "| yes, yes |" in md and "| no, no |" in md
    assert rd_sweep.parse_fractions("sog=0.70, spz=0.6") == {"sog": 0.7, "spz": 0.6}
    assert rd_sweep.parse_fractions(None) == {}
    for bad in ("sog", "xyz=0.5", "spz=0", "spz=abc"):
        with pytest.raises(ValueError):
            rd_sweep.parse_fractions(bad)


def test_unseen_cameras_differ_from_the_encoders_views():
    """--unseen: 4 close-ups at 512 px and 4 views from elevations no encoder step renders."""
    from refcodec.encoder.layering import pruning

    scene = make_scene(300, seed=2)
    cams = rd_eval.unseen_cameras(scene.positions)
    assert [c.width for c in cams] == [512] * 4 + [256] * 4
    seen = pruning.views(scene)[0] + pruning.views(scene)[1]

    def elev(c):   # degrees above the ring plane (world up 0,-1,0): camera centre's -y from the target
        centre = -c.R.T @ c.viewmat[:3, 3]
        d = centre - np.median(scene.positions, axis=0)
        return round(float(np.degrees(np.arcsin(-d[1] / np.linalg.norm(d)))))

    assert {elev(c) for c in cams}.isdisjoint({elev(c) for c in seen})
    near = np.linalg.norm(-cams[0].R.T @ cams[0].viewmat[:3, 3] - np.median(scene.positions, axis=0))
    far = np.linalg.norm(-seen[0].R.T @ seen[0].viewmat[:3, 3] - np.median(scene.positions, axis=0))
    assert near < 0.6 * far                      # close-ups


def test_bench_scores_foreground_and_unseen_views(tiny_ply):
    r = rd_sweep.bench_scene(str(tiny_ply), ("high", "low"), views=2, size=48, layers=3, peers=[],
                             curve_preset=None, log=lambda m: None, unseen=True)
    for row in r["lgs"]:
        assert {"fg_psnr", "unseen_psnr", "unseen_fg_psnr", "unseen_ssim"} <= set(row)
        assert row["fg_psnr"] < row["psnr"]      # the empty background dilutes the error
    assert len(r["unseen"]) == 8 and 0 < r["fg_fraction"] < 1
    md = rd_tables.markdown([r], dict(views=2, size=48))
    assert "| fg-PSNR dB | unseen fg-PSNR dB | unseen PSNR dB |" in md and "Unseen views" in md


def test_peer_outputs_are_cached(tiny_ply, tmp_path, monkeypatch):
    """--peer-cache: the first run keeps the peer's output, the second reuses it without encoding."""
    from types import SimpleNamespace

    from refcodec.io.load import load_scene

    calls = []

    def fake_encode(tool, src, out, **kw):
        calls.append(out)
        Path(out).write_bytes(b"x" * 1234)
        return dict(rc=0, timed_out=False, seconds=1.5, output="")

    monkeypatch.setattr(peers, "encode", fake_encode)
    monkeypatch.setattr(peers, "to_ply", lambda tool, src, out, timeout=None: write_ply(out, load_scene(tiny_ply)) or
                        dict(rc=0, timed_out=False, seconds=0.1, output=""))
    tool = SimpleNamespace(version="splat-transform v0.0.0 (test)")
    rows = []
    for _ in range(2):
        r = rd_sweep.bench_scene(str(tiny_ply), ("low",), views=1, size=32, layers=3, peers=["sog"], tool=tool,
                                 curve_preset=None, match_peer_bytes=False, log=lambda m: None,
                                 peer_cache=str(tmp_path / "cache"))
        rows.append(r["peers"][0])
    assert len(calls) == 1
    assert rows[0]["bytes"] == rows[1]["bytes"] == 1234 and rows[1]["cached"] and rows[1]["encode_s"] == 1.5
    assert rows[0]["psnr"] == rows[1]["psnr"]
    assert rd_sweep.parse_encoder_options(["rd=auto", "prune_fast=True"]) == {"rd": "auto", "prune_fast": True}
    with pytest.raises(ValueError):
        rd_sweep.parse_encoder_options(["nonsense=1"])


def test_rd_compare_tables_runs_side_by_side():
    import rd_compare

    peer = dict(codec="SOG", bytes=1000, psnr=50.0, fg_psnr=45.0, unseen_psnr=48.0, unseen_fg_psnr=44.0)

    def doc(fg):
        m = dict(fraction=0.7, bytes=690, psnr=51.0, fg_psnr=fg, unseen_psnr=49.0, unseen_fg_psnr=44.5)
        return dict(scenes=[dict(scene="s.ply", peers=[peer], comparisons=[dict(peer="SOG", lgs_at_fraction=m)])])

    md = rd_compare.table([("a", doc(46.0)), ("b", doc(44.0))])
    assert "| s.ply | SOG | 0.70 | a | 690 (0.690) | +1.00 | +1.00 | +1.00 | +0.50 | yes |" in md
    assert "| s.ply | SOG | 0.70 | b | 690 (0.690) | +1.00 | -1.00 | +1.00 | +0.50 | no |" in md
