"""Fitting the prefix adjustments (spec A.10): the fit lowers each level's render error, a prefix
of the adjusted file renders closer to the whole scene on views the fit never used, rate control
keeps room for them, and a file without coarse levels is left as it was."""
import numpy as np

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.encoder.adjust import ENTRY_BYTES, fit
from refcodec.format import schema as S
from refcodec.format.decode import decode
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene


def _scene():
    return make_scene(2500, sh_degree=0, seed=31)


def _mse(scene, teacher, cams) -> float:
    from refcodec.encoder.layering.pruning import _renders
    a, b = _renders(scene, cams), _renders(teacher, cams)
    return float(np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b)]))


def test_fit_lowers_the_error_and_holds_on_other_views():
    from refcodec.render import orbit_cameras

    scene = _scene()
    opts = dict(layers=4, overcomplete=8, progress=False)
    plain = encode_scene(scene, EncodeOptions(adjust=False, **opts))
    full = decode(plain).scene                       # the teacher as the file codes it
    report = fit(plain, full)
    assert [f.level for f in report.levels] == [1, 2, 3]
    for f in report.levels:
        assert f.mse_after <= f.mse_before and np.isfinite([f.scale_floor, f.opacity_offset]).all()
    assert report.levels[0].mse_after < 0.9 * report.levels[0].mse_before
    adj = encode_scene(scene, EncodeOptions(adjust=True, **opts))
    assert read_front(adj).version == S.GATE_PREFIX_ADJUSTMENT
    assert len(adj) - len(plain) == ENTRY_BYTES * len(report.table())
    # unseen views: another elevation, closer
    cams = orbit_cameras(full.positions, n_views=4, width=48, height=48, elevation_deg=-35.0,
                         azimuth_offset_deg=70.0, margin=0.8)
    coarse, raw = decode(adj, [1]), decode(adj, [1], adjust=False)
    assert coarse.adjusted == {0: 1}
    assert _mse(coarse.scene, full, cams) < _mse(raw.scene, full, cams)
    # the full level is the 4.0 file's, bit for bit
    assert np.array_equal(decode(adj).scene.attribute_matrix(), full.attribute_matrix())


def test_rate_control_keeps_room_and_single_layer_files_stay_4_0():
    scene = _scene()
    target = 40_000
    data = encode_scene(scene, EncodeOptions(layers=4, overcomplete=8, target_bytes=target, progress=False,
                                             adjust=True))
    assert len(data) <= target
    one = encode_scene(scene, EncodeOptions(layers=1, overcomplete=1, progress=False, adjust=True))
    assert read_front(one).version == (4, 0)
