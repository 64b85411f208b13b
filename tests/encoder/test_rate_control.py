"""Rate control (spec A.3, refcodec.encoder.pipeline._fit_size): the second stage that refines the
attributes alone when the position grid's whole-bit jump leaves part of the target unused."""
import numpy as np

from refcodec.encoder import EncodeOptions
from refcodec.encoder import pipeline as P
from refcodec.format.decode import decode
from refcodec.io.synthetic import make_scene


def test_second_stage_fills_the_target_with_the_positions_kept():
    scene = make_scene(3000, sh_degree=1, seed=8)
    opts = EncodeOptions(adjust=False, layers=4, overcomplete=8, progress=False)
    plan = P._plan(scene, opts)
    # a target just below the file where the positions gain a bit (level 2.5 -> 2.49): the first
    # stage must take the coarser grid, and what that leaves is the second stage's to use
    fine, coarse = len(P._code(plan, 2.49)), len(P._code(plan, 2.5))
    assert fine - coarse > 0.02 * fine                        # the jump is real
    target = fine - 1
    first, lvl, plvl = P._fit_size(plan, target, fill_iterations=0)
    assert lvl == plvl and len(first) <= target
    data, alvl, plvl2 = P._fit_size(plan, target)
    assert len(first) <= len(data) <= target and plvl2 == lvl and alvl < lvl
    assert target - len(data) < 0.5 * (target - len(first))
    a, b = decode(first).scene, decode(data).scene
    assert np.array_equal(np.sort(a.positions, axis=0), np.sort(b.positions, axis=0))   # same grid
    # through the public path: the file fits and decodes whole
    out = P.encode_scene(scene, EncodeOptions(adjust=False, layers=4, overcomplete=8, progress=False,
                                              target_bytes=target))
    assert len(out) <= target and decode(out).scene.n == scene.n
