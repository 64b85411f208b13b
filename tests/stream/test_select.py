"""View-dependent selection (refcodec.stream.select) and decode --view over HTTP."""
from __future__ import annotations

import functools
import json

import numpy as np

from refcodec.cli import main
from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format.decode import canonical_dump, decode
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene
from refcodec.render.camera import Camera, look_at
from refcodec.roi.tiles import tile_regions
from refcodec.stream.select import View, level_bytes, region_weights, select_levels, selected_bytes


@functools.lru_cache(maxsize=None)
def tiled():
    scene = make_scene(20_000, seed=4)
    return scene, encode_scene(scene, EncodeOptions(adjust=False, regions=tile_regions(scene, 8), progress=False))


def camera_at(eye, target, size=128):
    return Camera(look_at(eye, target), 100.0, 100.0, size / 2, size / 2, size, size)


def test_near_tiles_get_more_layers_under_a_budget():
    scene, data = tiled()
    fm = read_front(data)
    lo, hi = scene.positions.min(0), scene.positions.max(0)
    eye = np.array([lo[0] - 0.05 * (hi[0] - lo[0]), (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2])
    view = View(eye)
    budget = len(data) // 3
    levels = select_levels(fm, view, budget)
    assert selected_bytes(fm, levels) <= budget
    w = region_weights(fm, view)
    tiles = [r for r in range(1, fm.info.num_regions)]
    near, far = max(tiles, key=lambda r: w[r]), min(tiles, key=lambda r: w[r])
    assert levels[near] > levels[far] >= 1
    # a budget below the front selects nothing; a budget of the whole file selects everything
    assert select_levels(fm, view, fm.front_length - 1) == [0] * fm.info.num_regions
    assert all(k == fm.info.num_layers for k in select_levels(fm, view, len(data))[1:])


def test_off_screen_tiles_are_coarse():
    scene, data = tiled()
    fm = read_front(data)
    lo, hi = scene.positions.min(0), scene.positions.max(0)
    c = (lo + hi) / 2
    eye = np.array([lo[0] - 0.5 * (hi[0] - lo[0]), c[1], c[2]])
    toward = View(eye, camera_at(eye, c))
    away = View(eye, camera_at(eye, 2 * eye - c))                 # looking away from the scene
    assert region_weights(fm, away)[1:].max() < region_weights(fm, toward)[1:].min()


def test_decode_view_over_http(served, tmp_path, capsys):
    scene, data = tiled()
    (served.root / "tiled.lgs").write_bytes(data)
    lo, hi = scene.positions.min(0), scene.positions.max(0)
    eye = ",".join(f"{v:.6f}" for v in [lo[0] - 0.1, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2])
    budget = len(data) // 4
    served.log.clear()
    assert main(["decode", served.url("tiled.lgs"), str(tmp_path / "v.raw"), "--raw", f"--view={eye}",
                 "--max-bytes", str(budget), "--report", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["bytes"] == served.bytes_sent() <= budget
    assert (tmp_path / "v.raw").read_bytes() == canonical_dump(decode(data, rep["levels"]).scene)
    assert len(set(rep["levels"][1:])) > 1                     # not uniform
    # a cameras.json view works the same way (camera K of the file)
    cam = camera_at(np.array([float(v) for v in eye.split(",")]), (lo + hi) / 2)
    (tmp_path / "cameras.json").write_text(json.dumps([{"id": 0, "img_name": "a", **cam.to_json()}]))
    assert main(["decode", served.url("tiled.lgs"), str(tmp_path / "c.ply"), "--view",
                 f"{tmp_path / 'cameras.json'}:0", "--max-bytes", str(budget)]) == 0
    assert "levels for the view" in capsys.readouterr().out
    assert main(["decode", served.url("tiled.lgs"), str(tmp_path / "c.ply"), "--view", "nope.json:3"]) == 1


def test_budgets_count_the_corrections_a_client_fetches():
    """With prefix corrections (spec 8.7) a region at level k costs its units and level k's
    correction; both budgeted selections keep the fetch within the budget."""
    from refcodec.encoder.corrections import add_corrections
    from refcodec.format import correct
    from refcodec.format.decode import budget_levels, correction_bytes

    scene, data = tiled()
    fm = read_front(data)
    rng = np.random.default_rng(3)
    table = {(k, r): correct.build_payload([0, 1], 1, rng.integers(-9, 10, size=(2, n)))
             for k in range(1, fm.info.num_layers) for r in range(fm.info.num_regions)
             if (n := int(sum(fm.regions[r].counts[:k])))}
    data = add_corrections(data, table)
    fm = read_front(data)
    corr = correction_bytes(fm)
    assert len(corr) == len(table) and all(b > 0 for b in corr.values())
    R = fm.info.num_regions
    full = [fm.info.num_layers] * R
    assert selected_bytes(fm, full) == len(data) - sum(corr.values())      # no correction at level L
    assert level_bytes(fm) == [selected_bytes(fm, [k] * R) for k in range(1, fm.info.num_layers + 1)]
    lo, hi = scene.positions.min(0), scene.positions.max(0)
    view = View(np.array([lo[0] - 0.05 * (hi[0] - lo[0]), (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2]))
    for frac in (0.05, 0.2, 0.5, 0.9):
        budget = int(frac * len(data))
        for levels in (select_levels(fm, view, budget), budget_levels(fm, budget, [1])):
            assert selected_bytes(fm, levels) <= budget and max(levels) >= 1
    # a budget of exactly level k's fetch selects level k everywhere (uniform priority)
    held = [r for r in range(R) if sum(fm.regions[r].counts)]
    for k in range(1, fm.info.num_layers + 1):
        got = budget_levels(fm, selected_bytes(fm, [k] * R), [])
        assert [got[r] for r in held] == [k] * len(held)
