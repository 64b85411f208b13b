"""Mask sources: SAM plumbing with a tiny randomly initialised model built from
segment-anything's own classes (no weights can be downloaded here), the model-free segmenter,
and the option parser."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from refcodec.roi.click import Click, View, extract_object
from refcodec.roi.segmenters import GrabCutSegmenter, SamSegmenter, import_sam, make_segmenter
from refcodec.render.camera import Camera
from refcodec.render import look_at


def tiny_sam(img_size: int = 64, dim: int = 32):
    import_sam()
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    emb = img_size // 16
    return Sam(
        image_encoder=ImageEncoderViT(img_size=img_size, patch_size=16, embed_dim=dim, depth=1, num_heads=2,
                                      mlp_ratio=2.0, out_chans=dim, window_size=0, global_attn_indexes=()),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(emb, emb),
                                     input_image_size=(img_size, img_size), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=dim, iou_head_depth=1,
                                 iou_head_hidden_dim=16,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2)),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def _view(h=48, w=40, index=0):
    rng = np.random.default_rng(index)
    cam = Camera(look_at((0, 0, -5.0), (0, 0, 0)), 40, 40, w / 2, h / 2, w, h)
    return View(index, cam, 1.0, rng.random((h, w, 3)).astype(np.float32), np.ones((h, w), np.float32),
                np.full((h, w), 5.0, np.float32))


def test_sam_plumbing_shapes_and_prompts():
    seg = SamSegmenter(model=tiny_sam(), device="cpu")
    assert seg.device == "cpu"
    calls = []
    predict = seg.predictor.predict

    def spy(**kw):
        calls.append(kw)
        return predict(**kw)

    seg.predictor.predict = spy
    v = _view()
    pts = np.array([[10.0, 20.0], [30.0, 5.0]])
    m = seg.segment(v, pts, np.array([1, 0]))
    assert m.shape == (48, 40) and m.dtype == bool
    assert seg.predictor.original_size == (48, 40)
    assert seg.predictor.input_size == (64, 53)          # longest side resized to the model's 64
    np.testing.assert_allclose(calls[0]["point_coords"], pts)
    assert calls[0]["point_labels"].tolist() == [1, 0] and calls[0]["multimask_output"] is True


def test_sam_in_extraction_pipeline():
    """The whole Eq. 5-7 path runs through SAM (random weights: the masks mean nothing, the
    shapes and the prompts do)."""
    from refcodec.format.scene import Scene

    n = 200
    rng = np.random.default_rng(1)
    scene = Scene(positions=rng.uniform(-1, 1, (n, 3)).astype(np.float32), opacity=np.full(n, 3.0, np.float32),
                  scales=np.full((n, 3), -3.0, np.float32), rotations=np.tile(np.float32([1, 0, 0, 0]), (n, 1)),
                  sh_dc=rng.standard_normal((n, 3)).astype(np.float32), sh_rest=np.zeros((n, 0), np.float32))
    from refcodec.roi.click import default_views, render_views

    views = render_views(scene, default_views(scene.positions, size=32, n_per_ring=3), progress=False)
    seg = SamSegmenter(model=tiny_sam(), device="cpu")
    uv, _ = views[0].camera.project(scene.positions[:1].astype(np.float64))
    ex = extract_object(scene, views, [Click(0, float(uv[0, 0]), float(uv[0, 1]))], seg)
    assert ex.masks and all(m.shape == (32, 32) for m in ex.masks.values())
    assert ex.scores.shape == (n,) and ((ex.scores >= 0) & (ex.scores <= 1)).all()


def test_make_segmenter(tmp_path):
    assert isinstance(make_segmenter(None), GrabCutSegmenter)
    assert isinstance(make_segmenter("grabcut"), GrabCutSegmenter)
    with pytest.raises(ValueError, match="not found"):
        make_segmenter(f"sam:{tmp_path / 'missing_vit_b.pth'}")
    with pytest.raises(ValueError):
        make_segmenter("sam:")
    with pytest.raises(ValueError):
        make_segmenter("masks:" + str(tmp_path / "nope"))
    with pytest.raises(ValueError):
        make_segmenter("watershed")


def test_grabcut_stops_at_depth_steps_and_negative_clicks():
    h = w = 40
    v = _view(h, w)
    v.rgb[:] = 0.5 + 0.05 * v.rgb         # grey with a little texture
    v.depth[:, 20:] = 8.0                 # a depth step splits the picture in two surfaces
    v.alpha[:5] = 0.0                     # and the top rows are empty
    grown = GrabCutSegmenter(iterations=0).segment(v, np.array([[5.0, 20.0]]), np.array([1]))
    assert grown[5:, :20].all() and not grown[:, 20:].any() and not grown[:5].any()
    v.rgb[:, :20, 0] = 0.9                # the near surface is red: GrabCut's colour models agree
    m = GrabCutSegmenter().segment(v, np.array([[5.0, 20.0]]), np.array([1]))
    assert m[5:, :20].all() and not m[:, 20:].any() and not m[:5].any()
    v.depth[:] = 5.0                      # one surface in depth: the colour step still splits it
    m = GrabCutSegmenter().segment(v, np.array([[5.0, 20.0]]), np.array([1]))
    assert m[5:, :20].all() and not m[:, 20:].any()
    # a negative click on the same surface: its own grown part is background
    v.rgb[:, :20, 0] = 0.5 + 0.05 * v.rgb[:, :20, 1]
    m2 = GrabCutSegmenter(iterations=0).segment(v, np.array([[5.0, 20.0], [30.0, 20.0]]), np.array([1, 0]))
    assert not m2[20, 30]
