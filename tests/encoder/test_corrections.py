"""Per-level distilled values as prefix corrections (spec A.8 option (b), 8.7): the full level
stays the file's, each corrected prefix renders closer to the whole scene on views the
distillation never saw, and the encoder and CLI write them."""
import numpy as np

from refcodec.cli import main
from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.encoder.corrections import (RESOLUTION, add_corrections, fit, level_deltas, level_shift, level_starts,
                                          quantized)
from refcodec.format import schema as S
from refcodec.format.decode import decode
from refcodec.format.front import read_front
from refcodec.io.ply import write_ply
from refcodec.io.synthetic import make_scene
from refcodec.render import GaussianTensors, orbit_cameras
from refcodec.render.torch_renderer import render_torch


def _views(scene, size, elevation, offset=0.0, margin=None, n=4):
    kw = {} if margin is None else dict(margin=margin)
    return orbit_cameras(scene.positions, n_views=n, width=size, height=size, elevation_deg=elevation,
                         azimuth_offset_deg=offset, **kw)


def _mse(a, b, cams):
    out = []
    for c in cams:
        imgs = []
        for s in (a, b):
            g = GaussianTensors.from_scene(s)
            imgs.append(render_torch(g.means, g.log_scales, g.quats, g.opacity_logits, g.sh, c)["rgb"]
                        .detach().clamp(0, 1).numpy())
        out.append(float(np.mean((imgs[0] - imgs[1]) ** 2)))
    return float(np.mean(out))


def test_quantized_values_and_deltas():
    steps = np.array([[0.05, 0.02]], np.float32)
    q = np.array([[7, -3]])
    vals = (q.astype(np.float32) * steps).astype(np.float32)
    assert np.array_equal(quantized(vals, steps), q)
    t, s = level_deltas(q, steps, vals + np.float32(16) * steps, shift=4)
    assert s == 4 and np.array_equal(t, [[1, 1]])
    # the chosen shift: 2^s nearest (in log) to the RMS change over RESOLUTION
    assert level_shift(np.full((5, 2), 4.0 * 32), 4.0) == 5 and level_shift(np.full((5, 2), 4.0 * 45), 4.0) == 5
    assert level_shift(np.full((5, 2), 4.0 * 46), 4.0) == 6 and level_shift(np.zeros((5, 2))) == 0
    assert level_shift(np.full((5, 2), 0.5)) == 0 and level_shift(np.full((2, 2), 1e30)) == 16
    assert level_shift(np.full((5, 2), RESOLUTION * 16)) == 4
    t, s = level_deltas(q, steps, vals + np.float32(64) * steps, shift=None, resolution=4.0)
    assert s == 4 and np.array_equal(t, [[4, 4]])


def test_corrections_keep_the_full_level_and_improve_each_prefix():
    scene = make_scene(600, seed=11)
    train = _views(scene, 32, 20.0, n=6)
    opts = EncodeOptions(layers=4, overcomplete=8, adjust=False, rank=None, progress=False, views=train)
    data = encode_scene(scene, opts)
    table, rep = fit(data, None, steps=40, size=32, progress=False, max_fraction=1.0)
    assert {d for d, _ in table} == {1, 2, 3} and rep.levels[0]["level"] == 1
    out = add_corrections(data, table, adjustments=rep.adjustments(table))
    assert tuple(read_front(out).version) == S.GATE_CORRECTION_PREDICTION
    full = decode(out).scene
    assert np.array_equal(full.attribute_matrix(), decode(data).scene.attribute_matrix())
    assert np.array_equal(full.positions, decode(data).scene.positions)
    # views the distillation never saw: other elevations, azimuths, a close-up ring, 48 px
    held = _views(scene, 48, -35.0, 40.0) + _views(scene, 48, 60.0, 10.0, margin=0.7)
    teacher = decode(data).scene
    for level in (1, 2):
        got = decode(out, levels=[level])
        assert got.corrected == {0: level}
        plain = decode(out, levels=[level], adjust=False).scene
        assert np.array_equal(got.scene.rotations, plain.rotations)          # rotations not distilled
        before, after = _mse(plain, teacher, held), _mse(got.scene, teacher, held)
        assert after < 0.95 * before, (level, before, after)


def test_encoder_and_cli_write_corrections(tmp_path):
    scene = make_scene(250, seed=3)
    src = tmp_path / "s.ply"
    write_ply(src, scene)
    out = tmp_path / "s.lgs"
    assert main(["encode", str(src), str(out), "--layers", "4", "--distill", "--distill-seconds", "0.01",
                 "--quiet"]) == 0
    data = out.read_bytes()
    fm = read_front(data)
    assert tuple(fm.version) == S.GATE_CORRECTION_PREDICTION
    assert any(e.kind == S.KIND_PREDICTED_CORRECTION for e in fm.toc)
    assert decode(data, levels=[1]).corrected == {0: 1}
    # info: a prefix holds every lower level's corrections, a ranged fetch only its level's
    from refcodec.info import describe, format_text
    d = describe(data)
    lv = d["levels"]
    assert lv[0]["fetch"] == lv[0]["bytes"] and all(c["fetch"] < c["bytes"] for c in lv[1:-1])
    assert lv[-1]["fetch"] == len(data) - d["bytes_per_kind"]["correction"]
    assert "fetched for the level" in format_text(d)
    # option (a) stays reachable and writes no correction
    assert main(["encode", str(src), str(tmp_path / "a.lgs"), "--layers", "4", "--distill", "shared",
                 "--distill-seconds", "0.01", "--quiet"]) == 0
    assert tuple(read_front((tmp_path / "a.lgs").read_bytes()).version) == S.BASE_VERSION
    # a byte target bounds the full level (what a client fetches for the whole scene); the
    # corrections come on top of it
    data = encode_scene(scene, EncodeOptions(layers=4, target_bytes=10_000, distill_seconds=0.01, progress=False))
    fm = read_front(data)
    extra = sum(e.length for e in fm.toc if e.kind == S.KIND_PREDICTED_CORRECTION)
    assert extra > 0 and len(data) - extra <= 10_000


def test_a_level_distilled_under_its_adjustment_carries_it():
    """spec A.8 (b), 8.7: a stage that starts from the stored values under the level's prefix
    adjustment trains them under it; the file carries the adjustment before the correction, and a
    decoder applies both."""
    from refcodec.encoder.adjust import adjusted
    from refcodec.format.decode import correction_segments

    scene = make_scene(400, seed=5)
    data = encode_scene(scene, EncodeOptions(layers=3, overcomplete=6, adjust=False, rank=None, progress=False))
    full = decode(data, adjust=False)
    assert level_starts(data, full.scene, full.layer, None, 1.0, False, adjusted=False) == {}
    starts = level_starts(data, full.scene, full.layer, None, 1.0, False, adjusted=True)
    adj = starts[1][0][1]
    assert set(starts) == {1, 2} and starts[1][0][0].n == int((full.layer <= 1).sum())
    del starts[2]
    table, rep = fit(data, None, steps=5, size=24, progress=False, max_fraction=1.0, starts=starts)
    by_level = {d["level"]: d for d in rep.levels}
    stage = {s["stage"]: s for s in rep.distill.stages}
    assert stage[2]["start"] == "above" and by_level[2]["adjustment"] is None
    assert stage[1]["start"] == "given 1"        # thinned and unadjusted, the stored values lose
    assert by_level[1]["adjustment"] == adj and rep.adjustments(table) == {(1, 0): adj}
    assert fit(data, None, steps=2, size=24, progress=False, max_fraction=1.0, adjusted=False)[1].adjustments(
        table) == {}
    out = add_corrections(data, table, adjustments=rep.adjustments(table))
    fm = read_front(out)
    unit = [u for u in fm.units if (u.layer, u.region) == (1, 0)][0]
    kinds = [fm.toc[i].kind for i in unit.ancillary]
    assert kinds.index(S.KIND_ADJUSTMENT) < kinds.index(S.KIND_PREDICTED_CORRECTION)
    assert correction_segments(fm, unit)
    got = decode(out, levels=[1])
    assert got.corrected == {0: 1} and got.adjusted == {0: 1}
    # the adjustment applies to the corrected values (spec 8.7)
    corrected = decode(add_corrections(data, table), levels=[1]).scene
    want = adjusted(corrected, *adj)
    assert np.array_equal(got.scene.scales, want.scales) and np.array_equal(got.scene.opacity, want.opacity)


def test_a_finer_shift_when_the_rule_rounds_the_changes_away():
    """spec A.8 (b): one channel moving far more than the others sets the rule's shift; the check
    makes it finer while a step finer gains more than its bytes cost at the given slope."""
    from refcodec.encoder.corrections import FINER, _finer

    scene = make_scene(300, seed=6)
    cams = _views(scene, 32, 20.0, n=3)
    from refcodec.encoder.layering.pruning import _renders
    check = (cams, _renders(scene, cams))
    C = scene.attribute_matrix().shape[1]
    steps = np.full((scene.n, C), 0.01, np.float32)
    # the fitted values are the teacher's own; the stored ones are off by 100 unit steps in
    # opacity and about 5 in the colours
    target = scene.attribute_matrix().astype(np.float64)
    fitted = scene.with_attributes(target)
    off = np.zeros_like(target)
    off[:, 0] = 1.0
    off[:, 8:11] = np.random.default_rng(0).normal(0, 0.05, (scene.n, 3))
    q = quantized(target - off, steps)
    stored = scene.with_attributes(q * steps)
    live = np.zeros(C, bool)
    live[[0, 8, 9, 10]] = True

    def deltas(s):
        return level_deltas(q, steps, target, s, live)

    t, s = deltas(None)
    assert s >= 5
    # the colours' 5 steps rounded away cost far more than the finer shift's bytes
    t2, s2 = _finer(deltas, t, s, fitted, None, stored, q, steps, check, 10_000, 3.0, True)
    assert s2 < s and s2 >= max(0, s - FINER) and np.array_equal(t2, deltas(s2)[0])
    # when bytes are dear (a steep slope), the rule's shift stays
    t3, s3 = _finer(deltas, t, s, fitted, None, stored, q, steps, check, 10_000, 1e6, True)
    assert s3 == s and np.array_equal(t3, t)
