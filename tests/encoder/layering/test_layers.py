"""Encoder-side stages: the layer schedule (paper Eq. 1-2), overcomplete search, regions."""
import numpy as np
import pytest

from refcodec.io.synthetic import make_scene, object_boxes, object_spheres
from refcodec.encoder.layering import assign_layers, cumulative_counts, default_first_layer, layer_sizes
from refcodec.roi import assign_regions, parse_roi, property_regions


def test_schedule_eq1_eq2():
    c = cumulative_counts(1_000_000, 8, 100_000)
    assert c[0] == 100_000 and c[-1] == 1_000_000
    ratio = (1_000_000 / 100_000) ** (1 / 7)
    expect = np.ceil(100_000 * ratio ** np.arange(8))
    assert np.array_equal(c[:-1], expect[:-1].astype(int))
    assert layer_sizes(c).sum() == 1_000_000
    assert np.all(np.diff(c) >= 0)
    # small scenes: never more than N, may hold empty layers
    c = cumulative_counts(3, 8, 1)
    assert c[-1] == 3 and np.all(np.diff(c) >= 0)
    assert default_first_layer(10_000_000) == 100_000 and default_first_layer(1000) == 20


def test_overcomplete_merge_matches_schedule():
    s = make_scene(5000, seed=4)
    layer = assign_layers(s, layers=4, overcomplete=8, first_layer=100)
    over = layer_sizes(cumulative_counts(5000, 8, 100))
    got = np.bincount(layer, minlength=5)[1:]
    assert np.array_equal(got, over.reshape(4, 2).sum(axis=1))


def test_scorer_plugin_and_importance_order():
    s = make_scene(2000, seed=5)
    seen = []

    def scorer(scene, idx):
        seen.append(len(idx))
        return -idx.astype(float)  # prefer low indices

    layer = assign_layers(s, layers=2, overcomplete=4, first_layer=100, scorer=scorer)
    # re-scored on a shrinking remaining set, from the top layer down
    assert seen == sorted(seen, reverse=True) and seen[0] == 2000 and len(seen) == 3
    # lowest score = highest index leaves first, so layer 1 holds the lowest indices
    assert np.all(np.flatnonzero(layer == 1) < np.flatnonzero(layer == 2).min())


def test_layers_validation():
    s = make_scene(100)
    with pytest.raises(ValueError):
        assign_layers(s, layers=3, overcomplete=8)
    with pytest.raises(ValueError):
        assign_layers(s, layers=0, overcomplete=8)


def test_regions_box_sphere_indices_property(tmp_path):
    s = make_scene(3000, seed=6, objects=2)
    lo, hi = object_boxes(2)[0]
    c, r = object_spheres(2)
    box = parse_roi("a=box:" + ",".join(map(str, [*hi, *lo])))  # corners in any order
    sph = parse_roi(f"b=sphere:{c[1][0]},{c[1][1]},{c[1][2]},{r[1] * 1.01}")
    idx = np.array([0, 1, 2, 5])
    np.save(tmp_path / "i.npy", idx)
    ind = parse_roi(f"c=indices:{tmp_path / 'i.npy'}")
    region = assign_regions(s, [box, sph, ind])
    assert np.array_equal(region == 1, s.extra["object_id"] == 1)
    assert np.array_equal(region == 2, (s.extra["object_id"] == 2) & ~np.isin(np.arange(3000), idx[region[idx] != 3]))
    assert set(np.flatnonzero(region == 3)) <= set(idx)
    props = property_regions(s, "object_id")
    assert [p.label for p in props] == ["object_id=1", "object_id=2"]
    region = assign_regions(s, props)
    assert np.array_equal(region, s.extra["object_id"])
    for bad in ["x", "a=cube:1", "a=box:1,2,3", "a=sphere:0,0,0,-1"]:
        with pytest.raises(ValueError):
            parse_roi(bad)
    with pytest.raises(ValueError):
        property_regions(s, "nope")


def test_large_scene_roundtrip_and_prefix():
    """200,000 Gaussians (upper end of the issue's range): full decode and a 10% prefix."""
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene_with_order
    s = make_scene(200_000, sh_degree=1, seed=7, duplicates=0.01)
    data, order = encode_scene_with_order(s, EncodeOptions(adjust=False, progress=False))
    full = decode(data)
    assert full.scene.n == 200_000
    err = np.abs(full.scene.positions.astype(np.float64) - s.positions[order])
    assert np.all(err <= 0.5 * np.asarray(full.front.info.voxel_size) + 1e-6)
    part = decode(data[: len(data) // 10])
    assert 0 < part.scene.n < 200_000
    assert np.array_equal(part.scene.positions, full.scene.positions[: part.scene.n])
