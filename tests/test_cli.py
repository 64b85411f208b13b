"""The CLI, run in-process through ``refcodec.cli.main``."""
import json

import numpy as np
import pytest

from refcodec.cli import main
from refcodec.io.ply import read_ply, write_ply
from refcodec.io.synthetic import make_scene, object_boxes


@pytest.fixture
def ply(tmp_path):
    scene = make_scene(2500, sh_degree=2, seed=5, duplicates=0.01, objects=2)
    p = tmp_path / "in.ply"
    write_ply(p, scene)
    return p, scene


def test_encode_decode_info_extract(tmp_path, ply, capsys):
    p, scene = ply
    lo, hi = object_boxes(2)[0]
    box = ",".join(f"{v:g}" for v in [*lo, *hi])
    out = tmp_path / "s.lgs"
    assert main(["encode", str(p), str(out), "--layers", "4", "--overcomplete", "8",
                 "--roi", f"chair=box:{box}", "--quality", "medium", "--quiet"]) == 0
    assert main(["info", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_gaussians"] == 2500 and [r["label"] for r in d["regions"]] == ["background", "chair"]
    assert main(["info", str(out)]) == 0
    assert "chair" in capsys.readouterr().out

    full = tmp_path / "full.ply"
    assert main(["decode", str(out), str(full), "--with-labels", "--quiet"]) == 0
    dec = read_ply(full)
    assert dec.n == 2500 and set(dec.extra) >= {"lgs_layer", "lgs_region"}

    obj = tmp_path / "obj.ply"
    assert main(["decode", str(out), str(obj), "--level", "0", "--roi", "chair=4", "--quiet"]) == 0
    n_obj = int(np.sum(dec.extra["lgs_region"] == 1))
    assert read_ply(obj).n == n_obj > 0

    rm = tmp_path / "rm.ply"
    assert main(["decode", str(out), str(rm), "--roi", "chair=0", "--quiet"]) == 0
    assert read_ply(rm).n == 2500 - n_obj

    small = tmp_path / "obj.lgs"
    assert main(["extract", str(out), str(small), "--level", "0", "--roi", "chair=4"]) == 0
    assert small.stat().st_size < out.stat().st_size
    obj2 = tmp_path / "obj2.ply"
    assert main(["decode", str(small), str(obj2), "--quiet"]) == 0
    a, b = read_ply(obj), read_ply(obj2)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.sh_rest, b.sh_rest)

    pre = tmp_path / "pre.ply"
    assert main(["decode", str(out), str(pre), "--max-bytes", str(out.stat().st_size // 3), "--quiet"]) == 0
    assert 0 < read_ply(pre).n < 2500


def test_roi_property(tmp_path, ply, capsys):
    p, scene = ply
    out = tmp_path / "p.lgs"
    assert main(["encode", "--no-adjust", str(p), str(out), "--roi-property", "object_id", "--quiet"]) == 0
    assert main(["info", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in d["regions"]] == ["background", "object_id=1", "object_id=2"]
    assert [sum(r["counts"]) for r in d["regions"][1:]] == [
        int(np.sum(scene.extra["object_id"] == k)) for k in (1, 2)]


def test_bad_input_one_line_no_traceback(tmp_path, ply, capsys):
    p, scene = ply
    bad = tmp_path / "bad.lgs"
    bad.write_bytes(b"not an lgs file at all")
    assert main(["decode", str(bad), str(tmp_path / "x.ply")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and err.count("\n") == 1

    out = tmp_path / "s.lgs"
    assert main(["encode", "--no-adjust", str(p), str(out), "--quiet"]) == 0
    cut = tmp_path / "cut.lgs"
    cut.write_bytes(out.read_bytes()[:40])
    assert main(["info", str(cut)]) == 1
    assert "header" in capsys.readouterr().err

    assert main(["decode", str(tmp_path / "missing.lgs"), str(tmp_path / "x.ply")]) == 1
    assert main(["encode", "--no-adjust", str(p), str(out), "--layers", "3", "--overcomplete", "16"]) == 1
    assert "multiple" in capsys.readouterr().err
    assert main(["encode", "--no-adjust", str(p), str(out), "--roi", "x=cube:1,2"]) == 1
    notply = tmp_path / "n.ply"
    notply.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n")
    assert main(["encode", "--no-adjust", str(notply), str(out)]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["decode", str(out), str(tmp_path / "x.ply"), "--roi", "nosuch=1"]) == 1
    assert main(["frobnicate"]) == 2


def test_demo_runs(capsys):
    assert main(["demo", "--gaussians", "3000"]) == 0
    out = capsys.readouterr().out
    assert "object full, background level 2" in out and "first 10% of the bytes" in out


# ---------------------------------------------------------------------------------------------
# the command line's own conventions (version, help, optional dependencies, pipes, reports)

def test_version(capsys):
    from refcodec import __version__
    with pytest.raises(SystemExit) as e:
        from refcodec.cli import _parser
        _parser().parse_args(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_argument_has_help_and_options_show_defaults():
    import argparse

    from refcodec.cli import _parser
    ap = _parser()
    subs = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    for name, sp in subs.choices.items():
        text = sp.format_help()
        for act in sp._actions:
            if isinstance(act, argparse._HelpAction):
                continue
            assert act.help, f"{name} {act.dest} has no help"
            meaningful = act.default not in (None, False, [], "") and act.option_strings
            if meaningful:
                assert "default" in sp._get_formatter()._get_help_string(act), f"{name} {act.dest}: default not shown"
        assert "exit status" in text


def test_missing_optional_dependency_names_the_extra(tmp_path, ply):
    import subprocess
    import sys
    p, _ = ply
    code = ("import sys; sys.modules['torch'] = None\n"
            "from refcodec.cli import main\n"
            f"sys.exit(main(['encode', {str(p)!r}, {str(tmp_path / 'o.lgs')!r}, '--prune', '--quiet']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "refcodec[render]" in r.stderr and "Traceback" not in r.stderr


def test_closed_pipe_exits_quietly(tmp_path, ply):
    import subprocess
    import sys
    p, _ = ply
    out = tmp_path / "s.lgs"
    assert main(["encode", "--no-adjust", str(p), str(out), "--layers", "4", "--overcomplete", "8", "--quiet"]) == 0
    # a reader that closes the pipe at once; the writer has much more to say than a pipe buffer
    r = subprocess.run(f"{sys.executable} -m refcodec.cli info {out} --json | head -c 10", shell=True,
                       capture_output=True, text=True, executable="/bin/bash")
    assert r.stderr == "" and len(r.stdout) == 10
    r = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m refcodec.cli info {out} | head -1"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == ""


def test_decode_report_and_encode_json(tmp_path, ply, capsys):
    p, _ = ply
    out = tmp_path / "s.lgs"
    assert main(["encode", "--no-adjust", str(p), str(out), "--layers", "4", "--overcomplete", "8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["bytes"] == out.stat().st_size and d["gaussians"] == 2500 and len(d["levels"]) == 4
    data = out.read_bytes()
    # flip a byte inside the last segment so its unit fails its checksum
    bad = bytearray(data)
    bad[-3] ^= 0xFF
    (tmp_path / "bad.lgs").write_bytes(bytes(bad))
    rep = tmp_path / "r.json"
    assert main(["decode", str(tmp_path / "bad.lgs"), str(tmp_path / "o.ply"),
                 "--report", str(rep), "--quiet"]) == 0
    units = json.loads(rep.read_text())["units"]
    assert [u["status"] for u in units].count("checksum") == 1 and units[0]["status"] == "decoded"
    assert {u["label"] for u in units} == {"background"}
    assert "checksum" in capsys.readouterr().err


def test_encode_stream_ranks_spreads_and_adjusts(tmp_path, ply, capsys):
    """--stream: layers from the render ranking, nothing removed, the 4.3 corrections of the coarse
    levels (spec A.8 (b)) and the 4.1 adjustments of the others (spec A.10); --distill-seconds 0:
    no corrections, a 4.1 file; without --stream, and with --stream --no-adjust, a 4.0 file."""
    from refcodec.format.front import read_front

    path, scene = ply
    out = tmp_path / "r.lgs"
    for extra, version in ((["--distill-seconds", "2"], (4, 3)),
                           (["--distill-seconds", "0", "--rank", "fast"], (4, 1))):
        assert main(["encode", str(path), str(out), "--stream", *extra, "--layers", "4", "--overcomplete", "8",
                     "--quiet"]) == 0
        fm = read_front(out.read_bytes())
        assert fm.info.total_gaussians == scene.n and fm.version == version
        assert any(e.kind == (0x83 if version == (4, 3) else 0x81) for e in fm.toc)
    for args in ([], ["--stream", "--no-adjust", "--no-coverage", "--rank", "none", "--distill-seconds", "0"],
                 ["--rank", "fast"]):
        assert main(["encode", str(path), str(out), *args, "--quiet"]) == 0
        assert read_front(out.read_bytes()).version == (4, 0)
