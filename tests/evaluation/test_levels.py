"""The cumulative levels of an LGS file pictured above the renderer (refcodec.evaluation.levels),
and ``refcodec render`` which uses them."""
import functools

import numpy as np
import pytest

pytest.importorskip("torch")

from refcodec.cli import main  # noqa: E402
from refcodec.encoder import EncodeOptions, encode_scene  # noqa: E402
from refcodec.evaluation.levels import level_caption, level_prefixes, level_sheet  # noqa: E402
from refcodec.io.ply import write_ply  # noqa: E402
from refcodec.io.synthetic import make_scene  # noqa: E402
from refcodec.render import orbit_cameras  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@functools.lru_cache(maxsize=None)
def _encoded(n=1500, layers=3):
    scene = make_scene(n, sh_degree=1, seed=3)
    data = encode_scene(scene, EncodeOptions(adjust=False, layers=layers, overcomplete=2 * layers, progress=False))
    return scene, data


def test_level_prefixes_grow():
    scene, data = _encoded()
    lv = level_prefixes(data)
    assert [x["level"] for x in lv] == [1, 2, 3]
    assert all(a["bytes"] < b["bytes"] and a["gaussians"] < b["gaussians"] for a, b in zip(lv, lv[1:]))
    assert lv[-1]["bytes"] == len(data) and lv[-1]["gaussians"] == scene.n
    assert [x["level"] for x in level_prefixes(data, levels=[2])] == [2]


def test_level_sheet_small_scene():
    scene, data = _encoded()
    cams = orbit_cameras(scene.positions, n_views=2, width=48, height=40)
    sheet, info = level_sheet(data, cams, return_info=True)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    assert sheet.shape[1] == 3 * 48 + 4 * 2                          # one column per level
    assert sheet.shape[0] > 2 * 40                                   # two rows plus captions
    assert [x["level"] for x in info] == [1, 2, 3] and "scene" not in info[0]
    assert level_caption(2, 1234, 56789) == "level 2: 1,234 Gaussians, 56,789 bytes"
    # more Gaussians, more lit pixels: the first tile is darker than the last one
    single = level_sheet(data, cams[0])
    assert single.shape[1] == sheet.shape[1] and single.shape[0] < sheet.shape[0]
    first, last = single[2:42, 2:50].astype(int), single[2:42, 2 + 2 * 50:2 + 2 * 50 + 48].astype(int)
    assert last.sum() > first.sum()


def test_cli_render_lgs_and_ply(tmp_path, capsys):
    scene, data = _encoded()
    lgs = tmp_path / "s.lgs"
    lgs.write_bytes(data)
    out = tmp_path / "out"
    assert main(["render", str(lgs), "--out", str(out), "--views", "2", "--size", "40"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["levels.png", "view_00.png", "view_01.png"]
    for p in out.iterdir():
        assert p.read_bytes().startswith(PNG_MAGIC)
    assert "Gaussians" in capsys.readouterr().out

    ply = tmp_path / "s.ply"
    write_ply(ply, scene)
    out2 = tmp_path / "out2"
    assert main(["render", str(ply), "--out", str(out2), "--views", "1", "--size", "32"]) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["view_00.png"]
    out3 = tmp_path / "out3"
    assert main(["render", str(lgs), "--out", str(out3), "--views", "1", "--size", "32", "--no-levels"]) == 0
    assert sorted(p.name for p in out3.iterdir()) == ["view_00.png"]
    # --levels needs an .lgs; bad numbers are usage errors of the command (exit 1, one line)
    assert main(["render", str(ply), "--out", str(out2), "--views", "1", "--size", "32", "--levels"]) == 1
    assert main(["render", str(ply), "--out", str(out2), "--up", "0,1"]) == 1
    assert "error:" in capsys.readouterr().err

