"""The coverage scorer (spec A.1): ranks within grid cells, so every prefix spreads over the scene."""
import numpy as np

from refcodec.encoder.layering import assign_layers
from refcodec.encoder.layering.importance import coverage, grid_cells, opacity_area, rank_in_cells
from refcodec.io.synthetic import make_scene


def _plain_rank(cells, imp):
    """Rank of each Gaussian within its cell by decreasing importance (ties: lower index first)."""
    rank = np.zeros(len(cells), np.int64)
    for i in range(len(cells)):
        for j in range(len(cells)):
            if cells[j] == cells[i] and (imp[j] > imp[i] or (imp[j] == imp[i] and j < i)):
                rank[i] += 1
    return rank


def test_rank_within_cells_matches_plain_loop():
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 12, 200)
    imp = rng.integers(0, 6, 200).astype(np.float64)             # many ties
    assert np.array_equal(rank_in_cells(cells, imp), _plain_rank(cells, imp))


def test_grid_cells_fit_the_wanted_count():
    scene = make_scene(3000, seed=3)
    assert grid_cells(scene.positions, 1) is None                # the coarsest grid has up to 8 cells
    for want in (10, 300, 1500):
        cells = grid_cells(scene.positions, want)
        assert cells is not None and cells.max() + 1 <= want
        assert cells.max() + 1 >= want / 16                        # the finest such grid, not a coarse one
    scene.positions[0] = 1e30                                     # an outlier lands in a border cell
    assert grid_cells(scene.positions, 100).max() + 1 <= 100


def test_prefix_spreads_over_a_dense_cluster_and_sparse_rest():
    rng = np.random.default_rng(0)
    scene = make_scene(4000, seed=4)
    # a dense cluster of large, opaque Gaussians that the plain score takes first
    scene.positions[:2000] = rng.normal(0.0, 0.02, (2000, 3)).astype(np.float32)
    scene.scales[:2000] += 1.0
    scene.opacity[:2000] = 4.0
    base = assign_layers(scene, 4, 8, 100, opacity_area)
    cov = assign_layers(scene, 4, 8, 100, coverage(opacity_area))
    assert np.bincount(base).tolist() == np.bincount(cov).tolist()      # same layer sizes
    outside = lambda lay: int((lay[2000:] == 1).sum())                   # noqa: E731
    assert outside(cov) > 2 * outside(base)


def test_plain_rank_helper():
    cells = np.array([0, 1, 0, 0, 1])
    imp = np.array([1.0, 5.0, 3.0, 1.0, 5.0])
    assert _plain_rank(cells, imp).tolist() == [1, 0, 0, 2, 1]
