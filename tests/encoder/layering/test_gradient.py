"""GoDe's gradient importance (spec A.10 item 1, RecastGS Eq. 3): against finite differences, and
what it ranks."""
import numpy as np

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.encoder.layering.gradient import gradient_importance, gradient_importance_reference
from refcodec.format.decode import decode
from refcodec.io.synthetic import make_scene
from refcodec.render import orbit_cameras


def test_matches_finite_differences():
    scene = make_scene(6, seed=4)
    cams = orbit_cameras(scene.positions, n_views=2, width=12, height=10)
    fast = gradient_importance(scene, cams)
    ref = gradient_importance_reference(scene, cams)
    assert (ref > 0).sum() >= 4
    np.testing.assert_allclose(fast, ref, rtol=2e-3, atol=1e-4 * ref.max())


def test_faint_gaussians_score_low():
    scene = make_scene(200, seed=2)
    cams = orbit_cameras(scene.positions, n_views=3, width=32, height=32)
    s = gradient_importance(scene, cams)
    assert np.array_equal(s, gradient_importance(scene, cams))            # deterministic
    faint = scene.subset(np.arange(scene.n))
    faint.opacity[1] = -12.0                                              # alpha ~ 6e-6
    assert gradient_importance(faint, cams)[1] < 0.01 * s[1]


def test_encode_ranks_by_gradients():
    scene = make_scene(600, seed=5)
    data = encode_scene(scene, EncodeOptions(layers=4, rank="gradient"))
    assert decode(data).scene.n == scene.n
    plain = encode_scene(scene, EncodeOptions(layers=4))
    assert data != plain                                                  # another layering
