import functools

import pytest

from refcodec.encoder import EncodeOptions, encode_scene_with_order
from refcodec.io.synthetic import make_scene, object_boxes, with_rest_palette
from refcodec.roi import RegionSpec


@functools.lru_cache(maxsize=None)
def encoded(n=3000, sh_degree=1, seed=0, duplicates=0.02, layers=4, overcomplete=8,
            quality="high", regions=2, palette=0):
    """A small generated scene encoded with ``regions`` - 1 object regions (cached); with
    ``palette`` > 0 its SH rest comes from that many shared vectors (SH-rest references pay)."""
    scene = make_scene(n, sh_degree=sh_degree, seed=seed, duplicates=duplicates, objects=max(1, regions - 1))
    if palette:
        scene = with_rest_palette(scene, palette, seed)
    specs = []
    boxes = object_boxes(max(1, regions - 1))
    for i in range(regions - 1):
        lo, hi = boxes[i]
        specs.append(RegionSpec(f"obj{i + 1}", "box", [*map(float, lo), *map(float, hi)]))
    data, order = encode_scene_with_order(
        scene, EncodeOptions(adjust=False, layers=layers, overcomplete=overcomplete, quality=quality, regions=specs,
                             progress=False))
    return scene, data, order


@pytest.fixture
def small():
    return encoded()
