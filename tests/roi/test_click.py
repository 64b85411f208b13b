"""Click extraction (RecastGS Eq. 5-7) on a generated scene with known objects: a sphere and a
cube that hides part of it from one side, over a ground plane."""
from __future__ import annotations

import numpy as np
import pytest

from refcodec.render import look_at
from refcodec.render.camera import Camera
from refcodec.roi.click import (
    Click, default_views, extract_object, lift_click, member_masks, parse_clicks, render_views, view_prompts,
    visible_at, vote,
)
from refcodec.roi.regions import parse_roi
from refcodec.roi.segmenters import GrabCutSegmenter, MaskFolder, make_segmenter
from refcodec.render import save_png
from tests.roi.scenes import two_objects

SIZE = 96


@pytest.fixture(scope="module")
def world():
    scene, label, c1, c2 = two_objects()
    cams = default_views(scene.positions, size=SIZE, n_per_ring=6)
    return scene, label, (c1, c2), cams, render_views(scene, cams, max_side=SIZE, progress=False)


def _iou(indices, truth):
    sel = np.zeros(len(truth), bool)
    sel[indices] = True
    return (sel & truth).sum() / (sel | truth).sum()


def _click_on(view, point, negative=False):
    uv, _ = view.camera.project(np.asarray(point)[None])
    return Click(view.index, float(uv[0, 0]), float(uv[0, 1]), negative)


def test_parse_clicks():
    cs = parse_clicks("3:10.5,20;-4:1,2;neg:0:5,6")
    assert [(c.view, c.x, c.y, c.negative) for c in cs] == [(3, 10.5, 20.0, False), (4, 1.0, 2.0, True),
                                                           (0, 5.0, 6.0, True)]
    assert cs[1].prompt(0.7) == dict(view=4, flags=1, x=1.0, y=2.0, threshold=pytest.approx(0.7))
    for bad in ("3:10", "x:1,2", "3:1,2,3", "-3:1,2", ""):
        with pytest.raises(ValueError):
            parse_clicks(bad)
    spec = parse_roi("ball=click:0:5,6;-1:7,8", threshold=0.6)
    assert spec.source == "click" and spec.indices is None and len(spec.prompts) == 2
    assert spec.prompts[1]["flags"] == 1 and spec.prompts[0]["threshold"] == pytest.approx(0.6)


def test_lift_takes_least_depth_within_epsilon():
    cam = Camera(look_at((0, 0, -5.0), (0, 0, 0)), 50, 50, 32, 32, 64, 64)
    pts = np.array([[0, 0, 1.0], [0, 0, -1.0], [0.02, 0, -2.0], [3, 3, -4.0], [0, 0, -9.0]])
    # the last point is behind the camera (z = -9 < -5): not a candidate
    assert lift_click(pts, cam, 32, 32) == 2
    assert lift_click(pts[:2], cam, 32.5, 31.5) == 1
    with pytest.raises(ValueError):
        lift_click(pts, cam, 5, 5)
    # L1, not L2: 4 + 1.5 px is inside 6 px, 4 + 2.5 is not
    one = np.array([[0, 0, 0.0]])
    assert lift_click(one, cam, 36, 33.5) == 0
    with pytest.raises(ValueError):
        lift_click(one, cam, 36, 34.5)


@pytest.mark.parametrize("obj", [1, 2])
def test_one_click_extracts_each_object_model_free(world, obj):
    scene, label, centres, _, views = world
    ex = extract_object(scene, views, [_click_on(views[0], centres[obj - 1])], GrabCutSegmenter())
    assert label[ex.lifted[0]] == obj
    assert len(ex.masks) >= 3
    assert _iou(ex.indices, label == obj) >= 0.95


def test_exact_user_masks(world, tmp_path):
    scene, label, centres, cams, views = world
    for i, m in enumerate(member_masks(scene, cams, label == 1)):
        save_png(tmp_path / f"{i:03d}.png", m.astype(np.float32))
    ex = extract_object(scene, views, [_click_on(views[2], centres[0])], MaskFolder(tmp_path))
    assert _iou(ex.indices, label == 1) >= 0.95
    seg = make_segmenter(f"masks:{tmp_path}")
    assert isinstance(seg, MaskFolder) and seg.path_for(views[5]).name == "005.png"


def test_several_clicks_and_a_negative_click(world):
    scene, label, centres, _, views = world
    clicks = [_click_on(views[0], centres[0]), _click_on(views[3], centres[0]), _click_on(views[0], centres[1], True)]
    ex = extract_object(scene, views, clicks, GrabCutSegmenter())
    assert _iou(ex.indices, label == 1) >= 0.95
    assert any((vp.labels == 0).any() for vp in ex.prompts)   # the negative click went along


class _Recorder:
    """A segmenter that records the views and prompts it is asked for and returns exact masks."""

    def __init__(self, masks):
        self.masks, self.asked = masks, {}

    def segment(self, view, points, labels):
        self.asked[view.index] = (points, labels)
        return self.masks[view.index]


def test_occluded_views_do_not_vote():
    scene, label, c1, c2 = two_objects()
    # view 0 sees the sphere beside the cube; view 1 looks at the clicked point straight through
    # the cube; views 2-3 are orbit views
    eye0 = c1 + np.array([-2.5, -1.0, 5.0])
    v0 = Camera(look_at(eye0, c1), 80, 80, 48, 48, 96, 96, "side")
    pts = scene.positions.astype(np.float64)
    k = lift_click(pts, v0, 48.0, 48.0, opacity=scene.opacity)
    assert label[k] == 1
    p = pts[k]
    eye1 = p + 6.0 * (c2 - p) / np.linalg.norm(c2 - p)
    v1 = Camera(look_at(eye1, p), 80, 80, 48, 48, 96, 96, "through_cube")
    cams = [v0, v1] + default_views(scene.positions, size=96, n_per_ring=4)[:4]
    views = render_views(scene, cams, max_side=96, progress=False)
    assert not visible_at(views[1], p)[0]
    rec = _Recorder(member_masks(scene, cams, label == 1))
    ex = extract_object(scene, views, [Click(0, 48.0, 48.0)], rec)
    assert 1 not in rec.asked and 1 not in ex.masks and 0 in rec.asked
    # without the cube the same view does see the point, and votes
    keep = label != 2
    open_views = render_views(scene.subset(keep), cams[:2], max_side=96, progress=False)
    assert visible_at(open_views[1], p)[0]
    assert [vp.view for vp in view_prompts(open_views, [p], [Click(0, 48.0, 48.0)])] == [0, 1]


def test_vote_threshold():
    cam = Camera(look_at((0, 0, -5.0), (0, 0, 0)), 50, 50, 8, 8, 16, 16)

    class V:
        index, camera = 0, cam

    views = []
    for i in range(4):
        v = V()
        v.index = i
        views.append(v)
    pts = np.array([[0, 0, 0.0], [0.5, 0.5, 0.0]])
    uv, _ = cam.project(pts)
    masks = {}
    for i in range(4):
        m = np.zeros((16, 16), bool)
        m[int(uv[0, 1]), int(uv[0, 0])] = True                    # point 0: every view
        if i < 3:
            m[int(uv[1, 1]), int(uv[1, 0])] = True                # point 1: 3 of 4 views
        masks[i] = m
    sel, s = vote(pts, views, masks, tau=0.7)
    assert s.tolist() == [1.0, 0.75] and sel.tolist() == [True, True]
    sel, _ = vote(pts, views, masks, tau=0.75)
    assert sel.tolist() == [True, False]                           # s > tau, strictly
