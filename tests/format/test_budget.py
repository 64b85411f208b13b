"""Byte-budget selection (refcodec.format.decode.budget_levels): the named regions' layers first."""
from __future__ import annotations

import pytest

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format.decode import budget_levels, extract, unit_bytes
from refcodec.format.front import read_front
from refcodec.io.synthetic import make_scene, object_boxes
from refcodec.roi import RegionSpec


@pytest.fixture(scope="module")
def front_and_data():
    scene = make_scene(6000, objects=2, seed=3)
    regions = [RegionSpec(f"obj{i + 1}", "box", [*b[0], *b[1]]) for i, b in enumerate(object_boxes(2))]
    data = encode_scene(scene, EncodeOptions(adjust=False, layers=4, overcomplete=8, regions=regions, progress=False))
    return read_front(data), data


def _cost(front, levels):
    return front.front_length + sum(b for (l, r), b in unit_bytes(front).items() if l <= levels[r])


def test_priority_first_then_the_rest(front_and_data):
    front, data = front_and_data
    full = _cost(front, [4, 4, 4])
    assert full == len(data)
    assert budget_levels(front, full, ["obj1"]) == [4, 4, 4]
    obj1_all = _cost(front, [0, 4, 0])
    levels = budget_levels(front, obj1_all, ["obj1"])
    assert levels[1] == 4 and _cost(front, levels) <= obj1_all
    for budget in range(front.front_length, full, max(1, full // 37)):
        levels = budget_levels(front, budget, ["obj2", "obj1"])
        assert _cost(front, levels) <= budget
        # a priority region stops only at its top or at a layer the budget left after the
        # priority regions could not pay; the background gets only what is left after them
        left = budget - _cost(front, [0, levels[1], levels[2]])
        sizes = unit_bytes(front)
        for r in (1, 2):
            assert levels[r] == 4 or sizes[levels[r] + 1, r] > left
        assert levels[0] == 4 or sizes[levels[0] + 1, 0] > budget - _cost(front, levels)
    assert len(extract(data, budget_levels(front, obj1_all, [1]))) == obj1_all   # what extract keeps
    assert budget_levels(front, full, ["obj1"], caps=[1, 2, 4]) == [1, 2, 4]
    with pytest.raises(ValueError):
        budget_levels(front, front.front_length - 1, ["obj1"])
    with pytest.raises(ValueError):
        budget_levels(front, full, ["nope"])
