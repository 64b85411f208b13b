"""Spatial tiles (refcodec.roi.tiles, spec A.7): a k-d partition of the background."""
from __future__ import annotations

import numpy as np
import pytest

from refcodec.cli import main
from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format.decode import decode
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene, object_boxes
from refcodec.roi import RegionSpec, assign_regions
from refcodec.roi.tiles import kd_boxes, tile_regions


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_tiles_partition_the_background_evenly(n):
    scene = make_scene(4000, seed=2, objects=1)
    lo, hi = object_boxes(1)[0]
    obj = RegionSpec("obj1", "box", [*map(float, lo), *map(float, hi)])
    specs = [obj] + tile_regions(scene, n, [obj])
    region = assign_regions(scene, specs)
    assert not (region == 0).any()                              # the tiles cover the background
    assert np.array_equal(region == 1, obj.mask(scene))          # the object keeps its Gaussians
    counts = np.bincount(region, minlength=n + 2)[2:]
    assert len(counts) == n and counts.min() >= 0.8 * counts.max() * (1 if n > 1 else 1)
    # each background Gaussian lies in exactly one tile box (no point sits on a cut)
    inside = np.stack([s.mask(scene) for s in specs[1:]], axis=1) & (region != 1)[:, None]
    assert (inside.sum(axis=1)[region != 1] == 1).all()


def test_kd_boxes_with_ties():
    pts = np.zeros((100, 3))
    pts[50:, 0] = 1.0
    boxes = kd_boxes(pts, 4)
    assert len(boxes) >= 2
    (one,) = kd_boxes(np.zeros((10, 3)), 3)                   # all points equal: one tile
    assert np.array_equal(one[0], np.zeros(3)) and np.array_equal(one[1], np.zeros(3))
    with pytest.raises(ValueError):
        kd_boxes(pts, 0)


def test_encode_tiles_cli(tmp_path, capsys):
    from refcodec.io.ply import write_ply

    scene = make_scene(3000, seed=1)
    write_ply(str(tmp_path / "s.ply"), scene)
    assert main(["encode", "--no-adjust",
                 str(tmp_path / "s.ply"), str(tmp_path / "t.lgs"), "--tiles", "4", "--quiet"]) == 0
    data = (tmp_path / "t.lgs").read_bytes()
    fm = read_front(data)
    assert [r.label for r in fm.regions] == ["background", "tile_0", "tile_1", "tile_2", "tile_3"]
    assert sum(fm.regions[0].counts) == 0 and all(sum(r.counts) > 0 for r in fm.regions[1:])
    assert decode(data).scene.n == 3000
    # without --tiles nothing changes (goldens cover the bytes)
    plain = encode_scene(scene, EncodeOptions(adjust=False, progress=False))
    assert main(["encode", "--no-adjust", str(tmp_path / "s.ply"), str(tmp_path / "p.lgs"), "--quiet"]) == 0
    assert len((tmp_path / "p.lgs").read_bytes()) == len(plain)
