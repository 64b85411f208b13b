"""Tests of spec 7 dequantization."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings

U64 = np.uint64
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_decoder_output_matches_reference_dequantization():
    """spec 7.1-7.2: the decoder's in-place binary32 conversions equal the plain functions,
    also for |q| > 2^24 where binary32(q) rounds."""
    from refcodec.format.decode import _Output
    from refcodec.format.dequantize import dequantize_attributes, dequantize_positions
    rng = np.random.default_rng(5)
    n, C = 500, 56                          # SH degree 3: 11 + 45 channels
    q = rng.integers(-(1 << 31), 1 << 31, size=(n, C)).astype(np.int32)
    q[:100] = rng.integers(-300, 300, size=(100, C))
    q = np.asfortranarray(q)
    steps = rng.random(C).astype(np.float32) * np.float32(0.03)
    vox = rng.integers(0, 1 << 16, size=(n, 3)).astype(np.uint16)
    origin, voxel = np.float32([-3.5, 0.25, 7.0]), np.float32([1e-4, 3e-4, 2.5e-4])
    out = _Output(n + 7, C, origin, voxel)
    out.add(vox, q, steps, 3, 1)
    scene, layer, region = out.result()
    assert np.array_equal(scene.positions, dequantize_positions(vox, origin, voxel))
    assert np.array_equal(scene.attribute_matrix(), dequantize_attributes(q, steps))
    assert (layer == 3).all() and (region == 1).all() and scene.n == n
