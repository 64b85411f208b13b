"""Render-based pruning (spec A.6): removal errors against brute force, the count rule, the encoder."""
import json

import numpy as np
import pytest
import torch

from refcodec.cli import main
from refcodec.format.decode import decode
from refcodec.encoder import EncodeOptions, encode_scene, encode_scene_with_order
from refcodec.io.ply import write_ply
from refcodec.io.synthetic import make_scene
from refcodec.encoder.layering.pruning import downscaled, prune_by_render, removal_errors
from refcodec.render import GaussianTensors, orbit_cameras
from refcodec.render.reference import removal_errors_reference
from refcodec.render.torch_renderer import render_torch
from refcodec.roi import RegionSpec
from refcodec.format.scene import Scene


def _cams(scene, n=4, size=40):
    return orbit_cameras(scene.positions, n_views=n, width=size, height=size - 8)


def _brute_force(g, cam, background):
    """Squared change of the image with each Gaussian removed, one tile render per Gaussian (a
    scene too large for the plain reference)."""
    with torch.no_grad():
        full = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, background=background)["rgb"]
        out = np.zeros(g.n)
        for i in range(g.n):
            k = torch.cat([torch.arange(i), torch.arange(i + 1, g.n)])
            o = render_torch(g.means[k], g.log_scales[k], g.quats[k], g.opacity_logits[k], g.sh[k], cam,
                             background=background)["rgb"]
            out[i] = float(((o - full) ** 2).sum())
    return out


def test_removal_errors_match_the_plain_reference():
    """Against refcodec.render.reference: one plain per-pixel render per removed Gaussian."""
    scene = make_scene(24, seed=8)
    g = GaussianTensors.from_scene(scene, dtype=torch.float64)
    cam = orbit_cameras(scene.positions, n_views=2, width=20, height=16)[0]
    with torch.no_grad():
        est = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, background=(0.1, 0.2, 0.3),
                           return_removal=True)["removal"].numpy()
    ref = removal_errors_reference(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam,
                                   background=(0.1, 0.2, 0.3))
    assert (ref > 0).sum() >= 10
    np.testing.assert_allclose(est, ref, rtol=1e-6, atol=1e-9 * ref.max())


@pytest.mark.parametrize("background", [(0.0, 0.0, 0.0), (0.2, 0.3, 0.4)])
def test_removal_errors_match_brute_force(background):
    scene = make_scene(160, seed=3)
    g = GaussianTensors.from_scene(scene, dtype=torch.float64)
    cam = _cams(scene, n=3)[1]
    with torch.no_grad():
        est = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, background=background,
                           return_removal=True)["removal"].numpy()
    ref = _brute_force(g, cam, background)
    assert (ref > 0).sum() > 50
    # exact but for pixels whose early stop (T < 1e-4) a removal moves
    assert np.abs(est - ref).max() <= 1e-3 * ref.max()
    assert np.corrcoef(est, ref)[0, 1] > 0.9999


def test_removal_beside_autograd():
    """The removal pass runs without autograd; the image stays differentiable."""
    scene = make_scene(50, seed=1)
    cam = _cams(scene)[0]
    g = GaussianTensors.from_scene(scene, requires_grad=True)
    out = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, return_removal=True)
    out["rgb"].sum().backward()
    assert g.sh.grad is not None and not out["removal"].requires_grad
    np.testing.assert_array_equal(out["removal"].numpy(),
                                  removal_errors(scene, [cam], progress=False) * cam.width * cam.height)


def _with_invisible(n=300, extra=60, seed=2) -> tuple[Scene, np.ndarray]:
    """A scene plus ``extra`` Gaussians no render shows (alpha below 1/255 everywhere)."""
    s = make_scene(n, seed=seed)
    hidden = s.subset(np.arange(extra))
    hidden.opacity = np.full(extra, -9.0, np.float32)
    return Scene.concat([s, hidden]), np.arange(n, n + extra)


def test_views_render_concurrently_with_the_serial_results():
    """Ranking and check renders run two views at a time; the results equal one view at a time
    on one thread, and torch's thread setting is restored."""
    from refcodec.encoder.layering.pruning import _renders
    from refcodec.render import render

    scene = make_scene(200, seed=7)
    cams = _cams(scene, n=3)
    before = torch.get_num_threads()
    g = GaussianTensors.from_scene(scene)
    serial = np.zeros(scene.n)
    with torch.no_grad():
        for cam in cams:
            out = render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, cam, return_removal=True,
                               num_threads=1)
            serial += out["removal"].numpy() / (cam.width * cam.height)
        plain = [render(scene, cam, backend="torch")["rgb"].clamp(0.0, 1.0).numpy() for cam in cams]
    np.testing.assert_array_equal(removal_errors(scene, cams, progress=False), serial)
    assert all(np.array_equal(a, b) for a, b in zip(_renders(scene, cams), plain))
    assert torch.get_num_threads() == before


def test_prune_removes_what_no_view_shows_and_keeps_the_check_psnr():
    scene, hidden = _with_invisible()
    cams = _cams(scene, n=8)
    err = removal_errors(scene, cams, progress=False)
    assert np.all(err[hidden] == 0) and np.all(err >= 0)
    keep, rep = prune_by_render(scene, 45.0, cams, progress=False)
    assert np.all(np.diff(keep) > 0) and len(keep) == scene.n - rep.removed
    assert not np.isin(hidden, keep).any()          # zero-error Gaussians go first
    assert rep.check_psnr >= 45.0 and rep.removed <= scene.n // 2
    assert all(p >= 45.0 for k, p in rep.trials if k == rep.removed)
    # stricter thresholds prune no more
    keep2, rep2 = prune_by_render(scene, 80.0, cams, progress=False)
    assert rep2.removed <= rep.removed and np.isin(keep, keep2).all()
    # deterministic
    assert np.array_equal(prune_by_render(scene, 45.0, cams, progress=False)[0], keep)


def test_prune_argument_checks():
    scene = make_scene(20)
    with pytest.raises(ValueError):
        prune_by_render(scene, float("nan"), _cams(scene))
    with pytest.raises(ValueError):
        prune_by_render(scene, 50.0, _cams(scene), max_fraction=1.0)
    keep, rep = prune_by_render(Scene.empty(), 50.0, progress=False)
    assert keep.size == 0 and rep.removed == 0


def test_downscaled_keeps_the_field_of_view():
    cam = orbit_cameras(np.zeros((1, 3)), n_views=1, width=1024, height=512)[0]
    small = downscaled(cam, 256)
    assert (small.width, small.height) == (256, 128)
    assert small.fx / small.width == pytest.approx(cam.fx / cam.width)
    assert downscaled(small, 256) is small


def test_encoder_prunes_then_codes_the_smaller_scene():
    scene, hidden = _with_invisible(seed=5)
    cams = _cams(scene, n=8)
    opts = dict(quality="medium", progress=False)
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False, prune_psnr=45.0, views=cams, **opts))
    keep, rep = prune_by_render(scene, 45.0, cams, progress=False)
    assert rep.removed >= len(hidden)
    # the same file as encoding the kept Gaussians with the render-ranked layering and its tilt
    from refcodec.encoder.layering.importance import render_opacity_area
    sub = EncodeOptions(adjust=False, scorer=render_opacity_area(rep.errors[keep]), **opts)
    import refcodec.encoder.pipeline as enc
    plan = enc._plan(scene.subset(keep), sub)
    plan.render_layers = True
    assert data == enc._code(plan, "medium")
    assert data != encode_scene(scene.subset(keep), EncodeOptions(adjust=False, **opts))
    dec = decode(data).scene
    assert dec.n == len(keep) == len(order) and np.isin(order, keep).all()
    np.testing.assert_allclose(dec.positions, scene.positions[order], atol=0.05)


def test_render_layers_tilt_and_scorer():
    from refcodec.encoder.quantization import layer_tilt
    from refcodec.encoder.layering import opacity_area
    from refcodec.encoder.layering.importance import render_opacity_area

    assert [layer_tilt(3.0, l, 8, True) for l in range(1, 9)] == [0, 0, 0, 0, 0, 1, 1, 3]
    assert [layer_tilt(3.0, l, 8) for l in range(1, 9)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [layer_tilt(0.5, l, 8, True) for l in range(1, 9)] == [0] * 8
    assert [layer_tilt(3.0, l, 4, True) for l in range(1, 5)] == [0, 1, 1, 3]
    assert [layer_tilt(3.0, l, 3, True) for l in range(1, 4)] == [0, 0, 0]
    scene = make_scene(50, seed=4)
    err = np.linspace(0.0, 1.0, 50)
    idx = np.arange(10, 40)
    np.testing.assert_allclose(render_opacity_area(err)(scene, idx), np.sqrt(err[idx] * opacity_area(scene, idx)))


def test_last_layer_position_shift():
    from refcodec.encoder.quantization import coarsen_positions, layer_position_shift

    assert [layer_position_shift(3.0, l, 8, True, 13) for l in range(1, 9)] == [0] * 7 + [2]
    assert [layer_position_shift(3.0, l, 8, False, 13) for l in range(1, 9)] == [0] * 8
    assert layer_position_shift(0.5, 8, 8, True, 16) == 0          # where the tilt starts
    assert layer_position_shift(3.0, 3, 3, True, 13) == 0          # fewer than 4 layers
    assert [layer_position_shift(9.0, 8, 8, True, b) for b in (6, 7, 8)] == [0, 1, 2]  # B >= 6
    q = np.array([[0, 1, 2], [3, 4, 65535], [7, 8, 65532]], np.uint16)
    np.testing.assert_array_equal(coarsen_positions(q, 2), [[2, 2, 2], [2, 6, 65534], [6, 10, 65534]])
    assert coarsen_positions(q, 0) is q


def test_pruned_last_layer_lies_on_a_coarser_grid():
    """spec A.6 item 6: the last layer's voxels are cell centres of a 4x coarser grid, and the
    octree spends almost nothing on the two levels that fixes."""
    from refcodec.encoder import geometry as enc_geometry
    from refcodec.format import geometry
    from refcodec.format.morton import distinct_sorted

    scene, _ = _with_invisible(n=600, seed=9)
    res = decode(encode_scene(scene, EncodeOptions(adjust=False,
                                                   prune_psnr=45.0, views=_cams(scene, n=8), quality="medium",
                                                   progress=False)))
    info = res.front.info
    q = np.rint((res.scene.positions.astype(np.float64) - np.asarray(info.origin, np.float64))
                / np.asarray(info.voxel_size, np.float64)).astype(np.int64)
    last = np.asarray(res.layer) == info.num_layers
    assert last.sum() > 100 and np.all(q[last] % 4 == 2)
    assert not np.all(q[~last] % 4 == 2)
    rng = np.random.default_rng(1)
    codes = distinct_sorted(np.sort(rng.integers(0, 1 << 39, 3000).astype(np.uint64)))   # 13 bits an axis
    coarse = distinct_sorted(codes >> np.uint64(6))
    centred = (coarse << np.uint64(6)) | np.uint64(7 << 3)          # coordinates (x >> 2 << 2) + 2
    octree = (geometry.CTX_MODE_FULL,)
    assert len(enc_geometry.encode(centred, methods=octree)) <= len(enc_geometry.encode(coarse, methods=octree)) + 48


def test_index_regions_survive_pruning():
    scene, hidden = _with_invisible(seed=6)
    cams = _cams(scene, n=8)
    picked = np.r_[np.arange(0, 40), hidden[:10]]
    spec = RegionSpec(label="thing", source="indices", indices=picked)
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False,
                                                               prune_psnr=45.0, views=cams, regions=[spec],
                                                               quality="medium", progress=False))
    res = decode(data)
    in_region = np.asarray(res.region) == 1
    assert set(order[in_region].tolist()) == set(picked.tolist()) & set(order.tolist())


def test_margin_rule_prunes_to_the_coded_error_plus_the_margin(monkeypatch):
    import refcodec.encoder.layering.pruning as pruning

    scene, hidden = _with_invisible(seed=9)
    cams = _cams(scene, n=8)
    seen = []
    real = pruning.prune_by_render

    def spy(sc, db, *a, **kw):
        seen.append(db)
        return real(sc, db, *a, **kw)

    monkeypatch.setattr(pruning, "prune_by_render", spy)
    opts = dict(quality="low", views=cams, progress=False)
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False, prune_margin=5.0, **opts))
    plain = decode(encode_scene(scene, EncodeOptions(adjust=False, rank=None, quality="low", progress=False))).scene
    (db,) = seen
    assert db == pytest.approx(pruning.coded_psnr(scene, plain, cams) + 5.0)
    assert data == encode_scene(scene, EncodeOptions(adjust=False, prune_psnr=db, **opts))
    assert len(order) <= scene.n - len(hidden)
    # precomputed removal errors give the same file
    errs = removal_errors(scene, cams, progress=False)
    assert data == encode_scene(scene, EncodeOptions(adjust=False, prune_margin=5.0, prune_errors=errs, **opts))
    with pytest.raises(ValueError, match="not both"):
        encode_scene(scene, EncodeOptions(adjust=False, prune_margin=5.0, prune_psnr=50.0, **opts))
    with pytest.raises(ValueError, match="one value per Gaussian"):
        encode_scene(scene, EncodeOptions(adjust=False, prune_psnr=50.0, prune_errors=errs[:-1], **opts))


def test_cli_prune(tmp_path, capsys):
    scene, _ = _with_invisible(n=200, extra=30, seed=7)
    src, out = tmp_path / "in.ply", tmp_path / "out.lgs"
    write_ply(src, scene)
    cams = _cams(scene, n=4, size=48)
    (tmp_path / "cameras.json").write_text(json.dumps([c.to_json() for c in cams]))
    assert main(["encode", "--no-adjust",
                 str(src), str(out), "--prune-psnr", "40", "--cameras", str(tmp_path / "cameras.json")]) == 0
    assert "pruned" in capsys.readouterr().out
    assert decode(out.read_bytes()).scene.n <= scene.n - 30
    assert main(["encode", "--no-adjust", str(src), str(out), "--prune", "--quality", "low", "--quiet",
                 "--cameras", str(tmp_path / "cameras.json")]) == 0
    assert decode(out.read_bytes()).scene.n <= scene.n - 30
    assert main(["encode", "--no-adjust", str(src), str(out), "--prune-margin", "5", "--prune-psnr", "40"]) != 0
    # --cameras alone is a usage error, not a traceback
    assert main(["encode", "--no-adjust", str(src), str(out), "--cameras", str(tmp_path / "cameras.json")]) != 0


def test_pruning_with_rate_control(monkeypatch):
    """--target-bytes with --prune: the margin comes first from the unpruned fit, then again from
    the unpruned file at the level the pruned fit reached (spec A.6 item 3); the file fits."""
    import refcodec.encoder.pipeline as enc

    scene, hidden = _with_invisible(seed=10)
    cams = _cams(scene, n=8)
    target = len(encode_scene(scene, EncodeOptions(adjust=False, quality="medium", progress=False)))
    calls, fits = [], []
    rule, fit = enc._margin_rule, enc._fit_size
    monkeypatch.setattr(enc, "_margin_rule", lambda sc, o: calls.append(o) or rule(sc, o))
    monkeypatch.setattr(enc, "_fit_size", lambda plan, t: fits.append(fit(plan, t)) or fits[-1])
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False,
                                                               target_bytes=target, prune_margin=6.0, views=cams,
                                                               progress=False))
    assert len(data) <= target and len(order) <= scene.n - len(hidden)
    assert decode(data).scene.n == len(order)
    assert len(fits) == 3                   # the unpruned fit (the first rule), then two pruned fits
    pruned_fits = fits[1:]
    assert len(calls) == 2 and calls[0].target_bytes == target and calls[1].target_bytes is None
    assert calls[1].quality == pruned_fits[0][1] and data == pruned_fits[1][0]
