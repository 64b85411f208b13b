"""refcodec.encoder.rd (``EncodeOptions.rd = "auto"``, spec A.9) and fast pruning
(``EncodeOptions.prune_fast``, spec A.6 item 7) on small generated scenes."""
import numpy as np
import pytest

pytest.importorskip("torch")

import refcodec.encoder.rd as rd  # noqa: E402
from refcodec.encoder import EncodeOptions, encode_scene, encode_scene_with_order  # noqa: E402
from refcodec.encoder.layering import pruning  # noqa: E402
from refcodec.format.decode import decode  # noqa: E402
from refcodec.io.synthetic import make_scene  # noqa: E402
from refcodec.render import orbit_cameras  # noqa: E402

SH_C0 = 0.28209479177387814


def _eight_bit_colours(scene):
    """The scene with its DC colours on the 8-bit grid of .splat files: (c / 255 - 0.5) / C0."""
    s = scene.subset(slice(None))
    c = np.clip(np.rint((s.sh_dc * SH_C0 + 0.5) * 255), 0, 255)
    s.sh_dc = ((c / 255.0 - 0.5) / SH_C0).astype(np.float32)
    return s


def test_lattice_step_finds_grids_and_rejects_continuous_values():
    rng = np.random.default_rng(0)
    g = 1.0 / 255 / SH_C0
    half = ((rng.integers(0, 256, 500) / 255.0 - 0.5) / SH_C0).astype(np.float32)   # offset half a cell
    st = rd.lattice_step(half)
    assert st == pytest.approx(g / 2, rel=1e-4)
    assert np.abs(np.rint(half / np.float32(st)) * np.float32(st) - half).max() < 1e-5
    aligned = (rng.integers(-40, 40, 500) * 0.05).astype(np.float32)
    assert rd.lattice_step(aligned) == pytest.approx(0.05, rel=1e-4)
    assert rd.lattice_step(rng.normal(size=500).astype(np.float32)) is None      # continuous
    assert rd.lattice_step(np.ones(10, np.float32)) is None                      # one value: no grid
    steps, exact = rd.apply_lattice(np.array([0.1, 0.01], np.float32), {0: 0.09, 1: 0.002})
    assert exact.tolist() == [True, False] and steps[0] == np.float32(0.09)     # never finer than needed


def test_offsets_equalize_slopes_and_stay_rate_neutral():
    m = rd.RDModel(level=2.0, mse={"positions": 1e-6, "sh_dc": 1e-8, "scales": 1e-8, "opacity": 1e-9},
                   rate={"positions": 3.0, "sh_dc": 3.0, "scales": 3.0, "opacity": 0.0})
    off = m.offsets()
    assert off["positions"] > 0                 # the dominant error gets finer positions
    assert off["sh_dc"] > 0 and off["scales"] > 0   # paid for by coarser attributes (half-steps)
    assert off["opacity"] == -rd.MAX_ATTR_OFFSET    # error at no measurable rate: finest
    flat = rd.RDModel(2.0, {"positions": 1e-8, "sh_dc": 1e-8}, {"positions": 3.0, "sh_dc": 3.0}).offsets()
    assert flat["positions"] == 0 and flat["sh_dc"] == 0


def test_fit_measures_every_knob_on_small_views():
    scene = make_scene(400, seed=3)
    m = rd.fit(scene, 2.0)
    assert set(m.mse) == {"positions", "opacity", "scales", "rotations", "sh_dc"}
    assert all(v >= 0 for v in m.mse.values()) and m.mse["positions"] > 0
    assert m.rate["positions"] > 0 and m.rate["sh_dc"] > 0
    off = m.offsets()
    assert rd.POS_OFFSET[0] <= off["positions"] <= rd.POS_OFFSET[1]
    assert all(abs(v) <= rd.MAX_ATTR_OFFSET for k, v in off.items() if k not in ("positions", "lattice"))
    cams = rd.rd_cameras(scene)
    assert len(cams) == 6 and all(c.width == rd.RD_SIZE for c in cams)


def test_rd_auto_encodes_decodable_files_and_is_opt_in():
    scene = make_scene(600, seed=4)
    plain = encode_scene(scene, EncodeOptions(adjust=False, quality="medium", progress=False))
    assert plain == encode_scene(scene, EncodeOptions(adjust=False, quality="medium", progress=False, rd=None))
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False,
                                                               quality="medium", progress=False, rd="auto"))
    dec = decode(data).scene
    assert dec.n == scene.n and len(order) == scene.n
    sized = encode_scene(scene, EncodeOptions(adjust=False, target_bytes=len(plain), progress=False, rd="auto"))
    assert len(sized) <= len(plain)
    with pytest.raises(ValueError):
        encode_scene(scene, EncodeOptions(adjust=False, progress=False, rd="manual"))


def test_rd_auto_codes_grid_colours_exactly():
    scene = _eight_bit_colours(make_scene(500, seed=6))
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False, quality="high", progress=False, rd="auto"))
    dec = decode(data).scene
    np.testing.assert_allclose(dec.sh_dc, scene.sh_dc[order], atol=1e-5)
    plain = decode(encode_scene(scene, EncodeOptions(adjust=False, quality="high", progress=False))).scene
    assert np.abs(plain.sh_dc - scene.sh_dc[order]).max() > 1e-3     # the fixed model does not


def test_fast_pruning_uses_fewer_smaller_views(monkeypatch):
    scene = make_scene(300, seed=2)
    rank, check = pruning.fast_views(scene)
    assert len(rank) == 6 and len(check) == 3 and {c.width for c in rank + check} == {pruning.FAST_SIZE}
    slow = pruning.views(scene)
    assert sum(c.width * c.height for c in rank) < 0.25 * sum(c.width * c.height for c in slow[0])
    user = orbit_cameras(scene.positions, n_views=24, width=400, height=300)
    r2, c2 = pruning.fast_views(scene, user)
    assert len(r2) == 6 and len(c2) == 3 and max(c.width for c in r2) == pruning.FAST_SIZE
    assert not {id(c) for c in r2} & {id(c) for c in c2}
    seen = []
    real = pruning.removal_errors
    monkeypatch.setattr(pruning, "removal_errors", lambda s, cams, progress=None: seen.append(len(cams)) or
                        real(s, cams, progress))
    data, order = encode_scene_with_order(scene, EncodeOptions(adjust=False,
                                                               quality="medium", progress=False, prune_margin=12.0,
                                                               prune_fast=True))
    assert seen == [6]
    assert decode(data).scene.n == len(order) <= scene.n
