"""Progressive distillation (spec A.8): the loss falls, distilled prefixes render closer to the
teacher on views distillation never saw, the encoder and the CLI take it."""
import numpy as np

from refcodec.cli import main
from refcodec.encoder import EncodeOptions, encode_scene_with_order
from refcodec.encoder.layering import assign_layers
from refcodec.encoder.layering.distill import distill, prefix_loss
from refcodec.format.decode import decode
from refcodec.io.ply import write_ply
from refcodec.io.synthetic import make_scene
from refcodec.render import GaussianTensors, orbit_cameras
from refcodec.render.torch_renderer import render_torch


def _setup(n=300, layers=4, seed=1):
    scene = make_scene(n, seed=seed)
    layer = assign_layers(scene, layers, 2 * layers)
    return scene, layer


def _train_cams(scene, size=32):
    return orbit_cameras(scene.positions, n_views=6, width=size, height=size, elevation_deg=20.0)


def _held_out(scene, size=48):
    # other elevations, other azimuths, another resolution, and close-ups
    return (orbit_cameras(scene.positions, n_views=3, width=size, height=size, elevation_deg=-35.0,
                          azimuth_offset_deg=40.0)
            + orbit_cameras(scene.positions, n_views=3, width=size, height=size, elevation_deg=60.0,
                            azimuth_offset_deg=10.0, margin=0.7))


def _teacher(scene, cams):
    g = GaussianTensors.from_scene(scene)
    return [render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, c)["rgb"].detach().clamp(0, 1)
            for c in cams]


def test_distillation_lowers_the_prefix_loss_on_its_views_and_on_held_out_views():
    scene, layer = _setup()
    train = _train_cams(scene)
    out, rep = distill(scene, layer, cameras=train, steps=25, size=32, progress=False)
    assert out.n == scene.n and out.positions.shape == scene.positions.shape
    assert rep.stages[-1]["stage"] == 1                          # fine to coarse
    seen, unseen = _teacher(scene, train), _teacher(scene, _held_out(scene))
    for stage in rep.stages:                        # each distilled level, on the training views
        level = stage["stage"]
        before = prefix_loss(scene, layer, level, train, seen)
        after = prefix_loss(out, layer, level, train, seen)
        assert after < 0.95 * before, (level, before, after)
    # the coarsest prefix on views distillation never saw (other elevations, close-ups, 48 px)
    before = prefix_loss(scene, layer, 1, _held_out(scene), unseen)
    after = prefix_loss(out, layer, 1, _held_out(scene), unseen)
    assert after < 0.95 * before, (before, after)


def test_the_distilled_stage_loss_decreases_and_is_deterministic():
    scene, layer = _setup(n=200, layers=3, seed=2)
    train = _train_cams(scene, 24)
    a, rep = distill(scene, layer, cameras=train, steps=30, size=24, progress=False, max_fraction=1.0)
    b, _ = distill(scene, layer, cameras=train, steps=30, size=24, progress=False, max_fraction=1.0)
    assert np.array_equal(a.opacity, b.opacity) and np.array_equal(a.positions, b.positions)
    stage1 = [s for s in rep.stages if s["stage"] == 1][0]
    assert stage1["steps"] == 30
    # Gaussians of the top layer keep their parameters (no stage trains them)
    top = layer == layer.max()
    assert np.array_equal(a.opacity[top], scene.opacity[top])
    assert not np.array_equal(a.opacity[~top], scene.opacity[~top])


def test_time_budget_and_nothing_to_do():
    scene, layer = _setup(n=120, layers=4)
    out, rep = distill(scene, layer, cameras=_train_cams(scene, 16), seconds=0.0, size=16, progress=False)
    assert all(s["steps"] == 1 for s in rep.stages)          # at least one step a stage
    one, rep1 = distill(scene, np.ones(scene.n, np.uint8), cameras=_train_cams(scene, 16), steps=3,
                        progress=False)
    assert one is scene and rep1.stages == []                 # one layer: nothing to distill


def test_encoder_and_cli_take_distillation(tmp_path):
    scene = make_scene(250, seed=3)
    opts = EncodeOptions(adjust=False, layers=4, distill_seconds=0.0, distill_options=dict(steps=3, size=16),
                         views=_train_cams(scene, 16), progress=False)
    data, order = encode_scene_with_order(scene, opts)
    dec = decode(data).scene
    assert dec.n == scene.n and sorted(order) == list(range(scene.n))
    plain, _ = encode_scene_with_order(scene, EncodeOptions(adjust=False, layers=4, progress=False))
    assert data != plain
    src = tmp_path / "s.ply"
    write_ply(src, scene)
    assert main(["encode", "--no-adjust", str(src), str(tmp_path / "s.lgs"), "--layers", "4",
                 "--distill-seconds", "0.01", "--quiet"]) == 0
    assert decode((tmp_path / "s.lgs").read_bytes()).scene.n == scene.n


def test_a_stage_starts_from_the_better_start_and_keeps_it_when_training_makes_it_worse():
    """spec A.8 (b): stage i starts from whichever of the stage above's values and the given
    starts renders level i closer to the teacher on the check views, trains under the start's
    adjustment, and keeps its start when its result renders level i worse there."""
    from refcodec.encoder.adjust import adjusted

    scene, layer = _setup(n=240, layers=3, seed=4)
    train = _train_cams(scene, 24)
    rows = np.flatnonzero(layer <= 1)
    good = (scene.subset(rows), (-1.0, 2.0))           # a strong adjustment: fills the holes
    bad = (scene.subset(rows), (-8.0, -6.0))           # nearly transparent
    _, rep, levels = distill(scene, layer, cameras=train, steps=4, size=24, progress=False, max_fraction=1.0,
                             per_level=True, starts={1: [bad, good]})
    stage = {s["stage"]: s for s in rep.stages}
    assert stage[2]["start"] == "above" and stage[1]["start"] == "given 2" and stage[1]["adjusted"]
    got_rows, values, adj = levels[1]
    assert np.array_equal(got_rows, rows) and adj == good[1]
    assert levels[2][2] is None
    # what level 1 shows is the trained values under the adjustment; closer than the stored ones
    seen = _teacher(scene, train)
    shown = adjusted(values, *adj)
    assert _mse_of(shown, train, seen) < _mse_of(scene.subset(rows), train, seen)
    # a wild learning rate makes every stage worse: each keeps its start
    _, rep, levels = distill(scene, layer, cameras=train, steps=3, size=24, progress=False, max_fraction=1.0,
                             per_level=True, lr_scale=1e4, starts={1: [good]})
    stage = {s["stage"]: s for s in rep.stages}
    if not stage[2]["kept"]:        # the top stage's start is the scene's own values
        assert np.array_equal(levels[2][1].opacity, scene.subset(np.flatnonzero(layer <= 2)).opacity)
    assert not all(s["kept"] for s in rep.stages)


def test_the_differentiable_adjustment_is_spec_8_6():
    """distill._adjusted (torch, trained through) against the encoder's numpy form of spec 8.6."""
    from refcodec.encoder.adjust import adjusted
    from refcodec.encoder.layering.distill import PARAMS, _adjusted

    scene = make_scene(200, seed=8)
    scene.scales[:5] = scene.scales[:5, :1]               # equal smallest axes: the first one stays
    g = GaussianTensors.from_scene(scene)
    got = _adjusted(dict(zip(PARAMS, g.parameters())), (-3.0, 0.75))
    want = adjusted(scene, -3.0, 0.75)
    assert np.allclose(got["log_scales"].detach().numpy(), want.scales, atol=1e-6)
    assert np.allclose(got["opacity_logits"].detach().numpy().reshape(-1), want.opacity, atol=1e-6)


def _mse_of(sub, cams, teacher):
    g = GaussianTensors.from_scene(sub)
    return float(np.mean([float((render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, c)["rgb"]
                                 .detach().clamp(0, 1) - t).square().mean()) for c, t in zip(cams, teacher)]))
