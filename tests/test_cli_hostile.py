"""The CLI on hostile inputs and failures (issue 14): one-line messages with file strings
escaped, no overwriting of the input, atomic outputs, truncation reported, outliers handled."""
import os

import numpy as np
import pytest

from refcodec.cli import main
from refcodec.io.ply import read_ply, write_ply
from refcodec.io.synthetic import make_scene
from tests.format import hostile as H


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "\x1b" not in err and "Traceback" not in err and ".py:" not in err
    return lines[0]


@pytest.mark.parametrize("make", [
    lambda: H.with_info(steps=[3.0e38] * 11),
    lambda: H.with_info(voxel_size=[3.0e38, 1.0, 1.0]),
    lambda: H.with_count(5_000_000),
])
def test_hostile_fronts_give_one_line_errors(tmp_path, capsys, make):
    f = _write(tmp_path, "h.lgs", make())
    assert main(["decode", f, str(tmp_path / "o.ply"), "--quiet"]) == 1
    assert _one_line(capsys.readouterr().err).startswith("error: ")
    assert not (tmp_path / "o.ply").exists()


def test_trusted_lifts_the_density_limit(tmp_path, capsys):
    f = _write(tmp_path, "h.lgs", H.with_count(5_000_000))
    assert main(["decode", f, str(tmp_path / "o.ply"), "--quiet"]) == 1
    assert "--trusted" in capsys.readouterr().err
    # trusted: the front passes; the unit's payload does not hold 5M Gaussians, so it is dropped
    assert main(["decode", f, str(tmp_path / "o.ply"), "--quiet", "--trusted"]) == 0
    assert "dropped layer 1" in capsys.readouterr().err


def test_labels_are_escaped(tmp_path, capsys):
    f = _write(tmp_path, "l.lgs", H.with_label("\x1b[2J\x1b[1;31mPWNED\x07\nerror: fake line"))
    assert main(["info", f]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out and "fake line" not in out.split("\n")[3:4]
    assert main(["decode", f, str(tmp_path / "o.ply"), "--roi", "missing=1"]) == 1
    _one_line(capsys.readouterr().err)


def test_refuses_to_overwrite_the_input(tmp_path, capsys):
    p = tmp_path / "a.ply"
    write_ply(p, make_scene(200, seed=1))
    before = p.read_bytes()
    assert main(["encode", "--no-adjust", str(p), str(p), "--quiet"]) == 1
    assert "overwrite" in _one_line(capsys.readouterr().err)
    assert p.read_bytes() == before
    lgs = _write(tmp_path, "a.lgs", H.valid())
    assert main(["decode", lgs, lgs]) == 1
    assert main(["extract", lgs, str(tmp_path / "." / "a.lgs"), "--level", "1"]) == 1
    assert (tmp_path / "a.lgs").read_bytes() == H.valid()


def test_outputs_are_written_atomically(tmp_path, capsys, monkeypatch):
    """A write that fails half-way leaves neither a partial output nor a temporary file."""
    import refcodec.io.ply as ply

    def broken(path, scene, extra=None):
        with open(path, "wb") as f:
            f.write(b"ply\npartial")
        raise OSError("disk full")

    monkeypatch.setattr(ply, "write_ply", broken)
    lgs = _write(tmp_path, "a.lgs", H.valid())
    out = tmp_path / "out.ply"
    assert main(["decode", lgs, str(out), "--quiet"]) == 1
    assert "disk full" in _one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["a.lgs"]


def test_truncated_file_is_reported(tmp_path, capsys):
    data = H.valid()
    f = _write(tmp_path, "cut.lgs", data[:-40])
    assert main(["decode", f, str(tmp_path / "o.ply"), "--quiet"]) == 0
    assert "ends at byte" in _one_line(capsys.readouterr().err)
    assert main(["decode", f, str(tmp_path / "o2.ply"), "--quiet", "--require-complete"]) == 1
    assert "require-complete" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "o2.ply").exists()
    whole = _write(tmp_path, "whole.lgs", data)        # a whole file, or an explicit --max-bytes: silent
    assert main(["decode", whole, str(tmp_path / "o3.ply"), "--quiet", "--require-complete"]) == 0
    assert main(["decode", whole, str(tmp_path / "o4.ply"), "--quiet", "--max-bytes", str(len(data) - 40)]) == 0
    assert capsys.readouterr().err == ""


def test_info_on_an_extracted_file_reports_what_is_present(tmp_path, capsys):
    import json
    f = _write(tmp_path, "a.lgs", H.valid())
    x = str(tmp_path / "x.lgs")
    assert main(["extract", f, x, "--level", "1"]) == 0
    capsys.readouterr()
    assert main(["info", x, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    first = d["regions"][0]["counts"][0]
    assert d["present_gaussians"] == first and d["absent_gaussians"] == 60 - first
    assert d["regions"][0]["present"] == [first, 0] and d["levels"][-1]["present_gaussians"] == first
    assert main(["info", x]) == 0
    assert f"present: {first} of 60 Gaussians" in capsys.readouterr().out


def _scene_with(x_values):
    s = make_scene(800, seed=4)
    s.positions[: len(x_values), 0] = x_values
    return s


@pytest.mark.parametrize("xs", [[1e30], [3e38, -3e38]])
def test_encoder_outliers_warn_and_keep_the_bulk(tmp_path, capsys, xs):
    """huge_one / huge_span: a warning (one line, no source path); the decoded scene is finite
    and the other Gaussians keep their precision (was: every other x collapsed, or inf)."""
    p = tmp_path / "h.ply"
    scene = _scene_with(xs)
    write_ply(p, scene)
    lgs, out = tmp_path / "h.lgs", tmp_path / "d.ply"
    assert main(["encode", "--no-adjust", str(p), str(lgs), "--quiet"]) == 0
    assert "clamped" in _one_line(capsys.readouterr().err)
    assert main(["decode", str(lgs), str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    dec = read_ply(out).positions
    assert np.isfinite(dec).all()
    bulk = scene.positions[len(xs):, 0]
    assert len(np.unique(dec[:, 0])) > 0.9 * len(np.unique(bulk))
    assert np.abs(dec[:, 0]).max() <= np.abs(bulk).max() * 1.001


def test_ordinary_scene_grid_unchanged():
    """No outlier: the grid is the bounding box, as before (the goldens depend on it)."""
    from refcodec.encoder.quantization import position_bounds
    s = make_scene(3000, seed=7)
    lo, hi, n = position_bounds(s.positions)
    assert n == 0 and np.array_equal(lo, s.positions.min(0).astype(np.float64))
    assert np.array_equal(hi, s.positions.max(0).astype(np.float64))
