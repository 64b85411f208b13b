"""The real CLI on click regions: encode with clicks (cameras.json views), the region decodes alone
with --roi NAME=8 --level 0, info shows the prompts, segment writes the selection, and
--roi-quality / --max-bytes --priority."""
from __future__ import annotations

import json

import numpy as np
import pytest

from refcodec.cli import main
from refcodec.format.decode import decode
from refcodec.io.load import load_scene
from refcodec.io.ply import write_ply
from refcodec.roi.click import default_views
from tests.roi.scenes import two_objects


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("clickcli")
    scene, label, c1, c2 = two_objects()
    write_ply(d / "scene.ply", scene)
    cams = default_views(scene.positions, size=96, n_per_ring=6)
    (d / "cameras.json").write_text(json.dumps([c.to_json() for c in cams]))
    uv, _ = cams[0].project(np.array([c1, c2]))
    clicks = {"ball": f"0:{uv[0, 0]:.2f},{uv[0, 1]:.2f}", "cube": f"0:{uv[1, 0]:.2f},{uv[1, 1]:.2f}"}
    return d, scene, label, clicks


def test_encode_with_clicks_and_decode_the_object_alone(files, capsys):
    d, scene, label, clicks = files
    rc = main(["encode", "--no-adjust", str(d / "scene.ply"), str(d / "s.lgs"), "--layers", "4", "--overcomplete", "8",
               "--cameras", str(d / "cameras.json"), "--roi", f"ball=click:{clicks['ball']}",
               "--roi", f"cube=click:{clicks['cube']};-{clicks['ball']}", "--quiet"])
    assert rc == 0
    capsys.readouterr()
    assert main(["info", str(d / "s.lgs"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    ball, cube = info["regions"][1], info["regions"][2]
    assert ball["source"] == "click" and ball["label"] == "ball"
    x, y = (float(t) for t in clicks["ball"].split(":")[1].split(","))
    assert ball["prompts"] == [dict(view=0, negative=False, x=pytest.approx(x, abs=1e-3),
                                    y=pytest.approx(y, abs=1e-3), threshold=pytest.approx(0.7))]
    assert [p["negative"] for p in cube["prompts"]] == [False, True]
    assert abs(sum(cube["counts"]) - (label == 2).sum()) <= 0.05 * (label == 2).sum()
    n_ball = sum(ball["counts"])
    assert abs(n_ball - (label == 1).sum()) <= 0.05 * (label == 1).sum()
    assert main(["info", str(d / "s.lgs")]) == 0
    text = capsys.readouterr().out
    assert "click view 0 pixel" in text and f"negative view 0 pixel ({x:g}, {y:g}) threshold 0.7" in text
    # the object alone
    assert main(["decode", str(d / "s.lgs"), str(d / "ball.ply"), "--roi", "ball=8", "--level", "0",
                 "--quiet"]) == 0
    alone = load_scene(d / "ball.ply")
    assert alone.n == n_ball
    dist = np.linalg.norm(alone.positions - np.array([0.0, -1.2, 0.0]), axis=1)
    assert np.all(np.abs(dist - 0.7) < 0.05)          # every decoded Gaussian lies on the sphere


def test_segment_writes_selection(files, capsys):
    d, scene, label, clicks = files
    out = d / "seg"
    assert main(["segment", str(d / "scene.ply"), str(out), "--cameras", str(d / "cameras.json"),
                 "--roi", f"ball=click:{clicks['ball']}", "--quiet"]) == 0
    idx = np.load(out / "ball.npy")
    sel = np.zeros(scene.n, bool)
    sel[idx] = True
    truth = label == 1
    assert (sel & truth).sum() / (sel | truth).sum() >= 0.95
    assert (out / "ball.png").stat().st_size > 0 and len(list((out / "views").glob("*.png"))) == 12
    # the selection feeds encode as an index region
    assert main(["encode", "--no-adjust",
                 str(d / "scene.ply"), str(d / "i.lgs"), "--layers", "2", "--overcomplete", "4",
                 "--roi", f"ball=indices:{out / 'ball.npy'}", "--quiet"]) == 0


def test_roi_quality_and_budget_decode(files, capsys):
    d, scene, label, _ = files
    np.save(d / "ball_truth.npy", np.flatnonzero(label == 1))
    args = ["encode", str(d / "scene.ply"), None, "--layers", "4", "--overcomplete", "8", "--quality", "low",
            "--roi", f"ball=indices:{d / 'ball_truth.npy'}", "--quiet", "--no-adjust"]
    args[2] = str(d / "plain.lgs")
    assert main(args) == 0
    args[2] = str(d / "fine.lgs")
    assert main(args + ["--roi-quality", "ball=max", "--roi-quality", "background=preview"]) == 0
    plain, fine = decode((d / "plain.lgs").read_bytes()), decode((d / "fine.lgs").read_bytes())
    for res in (plain, fine):
        assert res.scene.n == scene.n
    # finer steps for the ball, coarser for the background (per-unit step exponents, spec 5.3.1)
    ps = {u.region: u.steps[1] for u in plain.units if u.steps is not None and u.layer == 1}
    fs = {u.region: u.steps[1] for u in fine.units if u.steps is not None and u.layer == 1}
    assert fs[0] > ps[0]
    fb = [u.steps[1] for u in fine.units if u.steps is not None and u.region == 1]
    pb = [u.steps[1] for u in plain.units if u.steps is not None and u.region == 1]
    assert max(fb) < min(pb)
    # a byte budget spent on the ball first
    data = (d / "fine.lgs").read_bytes()
    ball_bytes = sum(s["length"] for s in json.loads(_info_json(d / "fine.lgs", capsys))["segments"]
                     if s["region"] == 1)
    front = decode(data).front.front_length
    budget = front + ball_bytes + 10
    assert main(["decode", str(d / "fine.lgs"), str(d / "b.ply"), "--max-bytes", str(budget),
                 "--priority", "ball", "--with-labels"]) == 0
    out = capsys.readouterr().out
    assert "ball=4" in out and "background=4" not in out
    got = load_scene(d / "b.ply")
    assert (got.extra["lgs_region"] == 1).sum() == (label == 1).sum()
    assert main(["decode", str(d / "fine.lgs"), str(d / "b.ply"), "--priority", "ball"]) == 1


def _info_json(path, capsys) -> str:
    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == 0
    return capsys.readouterr().out
