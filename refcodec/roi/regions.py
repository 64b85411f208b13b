"""Regions of interest: parse user specs and partition Gaussians into regions (encoder side).

Region 0 is always ``background``: every Gaussian no other region claims. Regions 1.. follow
in the order given; a Gaussian matched by several takes the first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOURCE_IDS = {"rest": 0, "box": 1, "sphere": 2, "property": 3, "indices": 4, "click": 5}


@dataclass
class RegionSpec:
    label: str
    source: str                       # one of SOURCE_IDS
    params: list = field(default_factory=list)  # box: x0 y0 z0 x1 y1 z1; sphere: cx cy cz r; property: value
    indices: np.ndarray | None = None  # for "indices"/"click" sources: the selected Gaussians
    prompts: list = field(default_factory=list)  # click prompts: dicts view, flags, x, y, threshold
    property_name: str | None = None

    def mask(self, scene) -> np.ndarray:
        p = scene.positions
        if self.source == "box":
            lo, hi = np.asarray(self.params[:3]), np.asarray(self.params[3:6])
            return np.all((p >= lo) & (p <= hi), axis=1)
        if self.source == "sphere":
            c, r = np.asarray(self.params[:3]), float(self.params[3])
            return np.sum((p.astype(np.float64) - c) ** 2, axis=1) <= r * r
        if self.source == "property":
            return scene.extra[self.property_name] == self.params[0]
        if self.source in ("indices", "click"):
            if self.indices is None:
                raise ValueError(f"region {self.label!r}: its clicks were not resolved to Gaussians "
                                 "(refcodec.roi.click.resolve_click_regions)")
            m = np.zeros(scene.n, dtype=bool)
            idx = np.asarray(self.indices, dtype=np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= scene.n):
                raise ValueError(f"region {self.label!r}: index out of range for {scene.n} Gaussians")
            m[idx] = True
            return m
        raise ValueError(f"unknown region source {self.source!r}")


def _floats(text: str, n: int, what: str) -> list:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise ValueError(f"{what} needs {n} comma-separated numbers, got {text!r}")
    return vals


def parse_roi(text: str, threshold: float | None = None) -> RegionSpec:
    """``NAME=box:x0,y0,z0,x1,y1,z1`` | ``NAME=sphere:cx,cy,cz,r`` | ``NAME=indices:FILE.npy`` |
    ``NAME=click:VIEW:X,Y[;VIEW:X,Y...]`` (``-VIEW:X,Y`` negative; ``threshold``: the vote
    threshold tau, default 0.7). A click region's Gaussians are found later
    (:func:`refcodec.roi.click.resolve_click_regions`)."""
    name, sep, rest = text.partition("=")
    kind, sep2, arg = rest.partition(":")
    if not sep or not sep2 or not name:
        raise ValueError(f"--roi {text!r}: expected NAME=box:..., NAME=sphere:..., NAME=indices:FILE.npy "
                         "or NAME=click:VIEW:X,Y")
    if kind == "box":
        v = _floats(arg, 6, "box")
        lo, hi = np.minimum(v[:3], v[3:]), np.maximum(v[:3], v[3:])
        return RegionSpec(name, "box", [*map(float, lo), *map(float, hi)])
    if kind == "sphere":
        v = _floats(arg, 4, "sphere")
        if v[3] < 0:
            raise ValueError("sphere radius must be >= 0")
        return RegionSpec(name, "sphere", v)
    if kind in ("indices", "npy"):
        idx = np.load(Path(arg), allow_pickle=False)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{arg}: expected an integer index array or a boolean mask")
        return RegionSpec(name, "indices", [], indices=idx.ravel())
    if kind == "click":
        from refcodec.roi.click import TAU, parse_clicks

        tau = TAU if threshold is None else float(threshold)
        if not 0.0 <= tau < 1.0:
            raise ValueError("the vote threshold must lie in [0, 1)")
        clicks = parse_clicks(arg)
        if len(clicks) > 255:
            raise ValueError(f"--roi {name}: at most 255 clicks per region")
        return RegionSpec(name, "click", [], prompts=[c.prompt(tau) for c in clicks])
    raise ValueError(f"--roi {text!r}: unknown region kind {kind!r} (box, sphere, indices, click)")


def property_regions(scene, prop: str) -> list:
    """One region per distinct non-zero value of an integer per-Gaussian property; 0 = background."""
    if prop not in scene.extra:
        raise ValueError(f"the input has no per-Gaussian property {prop!r} "
                         f"(has: {', '.join(sorted(scene.extra)) or 'none'})")
    vals = np.asarray(scene.extra[prop])
    if not np.issubdtype(vals.dtype, np.integer):
        if not np.all(np.equal(np.mod(vals, 1), 0)):
            raise ValueError(f"property {prop!r} is not integer-valued")
    uniq = [v for v in np.unique(vals) if v != 0]
    return [RegionSpec(f"{prop}={int(v)}", "property", [float(v)], property_name=prop) for v in uniq]


def assign_regions(scene, specs: list) -> np.ndarray:
    """(N,) uint16 region index: 0 background, i for ``specs[i-1]`` (first match wins)."""
    if len(specs) > 65534:
        raise ValueError("too many regions (at most 65534)")
    region = np.zeros(scene.n, dtype=np.uint16)
    for i in range(len(specs), 0, -1):  # reverse so the first spec wins on overlap
        region[specs[i - 1].mask(scene)] = i
    return region
