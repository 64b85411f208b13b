"""Canonical axes (spec A.5): the fast rule against its plain statement, and that it keeps
every Gaussian."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from refcodec.encoder.axes import (
    FLIPS, GROUP, GROUP_PERMS, canonical_axes, canonical_axes_reference, covariances, quat_mul, quat_to_matrix,
)


def test_group_is_the_octahedral_rotations():
    assert len(GROUP) == 24
    mats = np.round(quat_to_matrix(GROUP)).astype(int)
    assert len({m.tobytes() for m in mats}) == 24
    assert all(round(np.linalg.det(m)) == 1 and (np.abs(m).sum(axis=0) == 1).all() for m in mats)
    # four elements (the half turns times one element) for each of the 6 axis orders
    assert sorted(np.unique(GROUP_PERMS, axis=0, return_counts=True)[1].tolist()) == [4] * 6


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), scale=st.floats(0.01, 4.0))
def test_fast_matches_reference(seed, n, scale):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4)) * rng.uniform(0.1, 10.0, size=(n, 1))
    s = rng.normal(size=(n, 3)) * scale
    a, b = canonical_axes(q, s)
    c, d = canonical_axes_reference(q, s)
    assert np.array_equal(b, d)
    np.testing.assert_allclose(a, c, atol=1e-12)
    np.testing.assert_allclose(covariances(a, b), covariances(q, s), rtol=1e-9, atol=1e-12 * np.exp(2 * s).max())


def test_canonical_form():
    rng = np.random.default_rng(1)
    q, s = rng.normal(size=(5000, 4)), rng.normal(size=(5000, 3))
    a, b = canonical_axes(q, s)
    assert (np.diff(b, axis=1) <= 0).all()
    assert (a[:, 0] >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-12)
    # no half turn keeping the axis order brings the quaternion closer to the identity
    for f in FLIPS:
        assert (np.abs(quat_mul(a, f)[:, 0]) <= a[:, 0] + 1e-12).all()
    # canonical forms are fixed points, and every equivalent input has the same one
    a2, b2 = canonical_axes(a, b)
    np.testing.assert_allclose(a2, a, atol=1e-12)
    assert np.array_equal(b2, b)
    g = GROUP[7]
    perm = GROUP_PERMS[7]
    a3, b3 = canonical_axes(quat_mul(q, g), s[:, perm])
    np.testing.assert_allclose(np.abs((a3 * a).sum(axis=1)), 1.0, atol=1e-9)
    assert np.array_equal(b3, b)


def test_ties_and_degenerate_rotations():
    q = np.array([[1.0, 0, 0, 0], [0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [0, 1, 0, 0]])
    s = np.array([[0.0, 0, 0], [1, 2, 3], [3, 3, 1], [-1, 0, -1.0]])
    a, b = canonical_axes(q, s)
    c, d = canonical_axes_reference(q, s)
    assert np.array_equal(b, d)
    np.testing.assert_allclose(np.abs(a[:, 0]), np.abs(c[:, 0]), atol=1e-12)       # ties: either is canonical
    qq = np.where(np.linalg.norm(q, axis=1, keepdims=True) > 0, q, [1.0, 0, 0, 0])  # zero -> identity
    np.testing.assert_allclose(covariances(a, b), covariances(qq, s), atol=1e-9)
    assert canonical_axes(np.zeros((0, 4)), np.zeros((0, 3)))[0].shape == (0, 4)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200))
def test_twist_of_bodies_of_revolution(seed, n):
    """Rule 3: two equal scales leave a rotation about the third axis free; the representative
    has a zero quaternion component on that axis, the largest w of all equivalent rotations,
    and the same covariance (fast rule against the reference, ties of every kind)."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    s = rng.normal(size=(n, 3))
    kind = rng.integers(0, 4, size=n)                     # none, 0=1, 1=2, all three equal
    s[kind == 1, 1] = s[kind == 1, 0]
    s[kind == 2, 2] = s[kind == 2, 1]
    s[kind == 3] = s[kind == 3, :1]
    a, b = canonical_axes(q, s)
    c, d = canonical_axes_reference(q, s)
    assert np.array_equal(b, d)
    np.testing.assert_allclose(a, c, atol=1e-12)
    np.testing.assert_allclose(covariances(a, b), covariances(q, s), rtol=1e-9, atol=1e-9 * np.exp(2 * s).max())
    top = (b[:, 0] == b[:, 1]) & (b[:, 1] != b[:, 2])
    low = (b[:, 1] == b[:, 2]) & (b[:, 0] != b[:, 1])
    assert (a[top, 3] == 0).all() and (a[low, 1] == 0).all()
    assert (a[(b[:, 0] == b[:, 2])] == [1, 0, 0, 0]).all()
    # no twist or half turn gets closer to the identity: w = hypot(w, q_c) for each flip
    for f in FLIPS:
        g = quat_mul(a, f)
        assert (np.hypot(g[top, 0], g[top, 3]) <= a[top, 0] + 1e-12).all()
        assert (np.hypot(g[low, 0], g[low, 1]) <= a[low, 0] + 1e-12).all()
    a2, b2 = canonical_axes(a, b)                          # a fixed point
    np.testing.assert_allclose(a2, a, atol=1e-12)
