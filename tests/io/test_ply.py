"""PLY reader/writer (refcodec.io.ply) and the synthetic scene generator (refcodec.io.synthetic)."""
from __future__ import annotations

import io

import numpy as np
import plyfile
import pytest

from refcodec.format.errors import LGSError, SceneFormatError
from refcodec.io.ply import read_ply, write_ply
from refcodec.io.synthetic import SCENE_BOUNDS, make_scene, object_boxes, object_spheres
from refcodec.format.scene import Scene

FLOAT_FIELDS = ("positions", "opacity", "scales", "rotations", "sh_dc", "sh_rest")
BASE = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
        "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]


def assert_bit_exact(a: Scene, b: Scene) -> None:
    assert a.n == b.n and a.sh_degree == b.sh_degree
    for f in FLOAT_FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype == np.float32, f
        assert x.shape == y.shape, f
        assert np.array_equal(x.view(np.uint32), y.view(np.uint32)), f


def random_bits_scene(n: int, degree: int, seed: int = 0) -> Scene:
    """Arbitrary float32 bit patterns (NaN payloads, inf, denormals, -0.0 included)."""
    rng = np.random.default_rng(seed)
    width = 3 * ((degree + 1) ** 2 - 1)

    def bits(*shape):
        return rng.integers(0, 2**32, size=shape, dtype=np.uint32).view(np.float32)

    return Scene(bits(n, 3), bits(n), bits(n, 3), bits(n, 4), bits(n, 3), bits(n, width))


def scene_fields(scene: Scene) -> dict:
    """PLY property name -> float32 column for a scene."""
    cols = {"x": scene.positions[:, 0], "y": scene.positions[:, 1], "z": scene.positions[:, 2]}
    for i in range(3):
        cols[f"f_dc_{i}"] = scene.sh_dc[:, i]
        cols[f"scale_{i}"] = scene.scales[:, i]
    for i in range(4):
        cols[f"rot_{i}"] = scene.rotations[:, i]
    for i in range(scene.sh_rest.shape[1]):
        cols[f"f_rest_{i}"] = scene.sh_rest[:, i]
    cols["opacity"] = scene.opacity
    return cols


def ply_bytes(columns: dict, text=False, byte_order="<", dtypes=None, more_elements=()) -> bytes:
    """A PLY written by plyfile with the given vertex columns (in dict order)."""
    dtypes = dtypes or {}
    n = len(next(iter(columns.values()))) if columns else 0
    dt = [(name, dtypes.get(name, np.asarray(col).dtype.str)) for name, col in columns.items()]
    arr = np.empty(n, dtype=dt)
    for name, col in columns.items():
        arr[name] = col
    els = [plyfile.PlyElement.describe(arr, "vertex")] + list(more_elements)
    buf = io.BytesIO()
    plyfile.PlyData(els, text=text, byte_order=byte_order).write(buf)
    return buf.getvalue()


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_bit_exact(tmp_path, degree):
    scene = make_scene(501, sh_degree=degree, seed=degree, objects=2)
    path = tmp_path / "s.ply"
    write_ply(path, scene)
    back = read_ply(path)
    assert_bit_exact(scene, back)
    assert back.extra["object_id"].dtype == np.int32
    assert np.array_equal(back.extra["object_id"], scene.extra["object_id"])
    # a second write of what was read gives the same bytes
    write_ply(tmp_path / "t.ply", back)
    assert (tmp_path / "t.ply").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("degree", [0, 3])
def test_round_trip_arbitrary_bits_and_file_objects(tmp_path, degree):
    scene = random_bits_scene(300, degree, seed=7)
    buf = io.BytesIO()
    write_ply(buf, scene)
    buf.seek(0)
    assert_bit_exact(scene, read_ply(buf))
    path = tmp_path / "bits.ply"
    with open(path, "wb") as fh:
        write_ply(fh, scene)
    with open(path, "rb") as fh:
        assert_bit_exact(scene, read_ply(fh))
    assert_bit_exact(scene, read_ply(str(path)))


def test_written_layout_is_standard_inria(tmp_path):
    scene = make_scene(40, sh_degree=1)
    path = tmp_path / "s.ply"
    write_ply(path, scene)
    ply = plyfile.PlyData.read(str(path))
    assert not ply.text and ply.byte_order == "<"
    el = ply["vertex"]
    names = [p.name for p in el.properties]
    assert names == (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                     + [f"f_rest_{i}" for i in range(9)]
                     + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
                        "object_id"])
    assert all(el.data.dtype[n] == np.dtype("<f4") for n in names[:-1])
    assert el.data.dtype["object_id"] == np.dtype("<i4")
    assert np.all(el.data["nx"] == 0) and np.all(el.data["nz"] == 0)
    assert np.array_equal(el.data["f_rest_4"], scene.sh_rest[:, 4])
    assert np.array_equal(el.data["rot_0"], scene.rotations[:, 0])


def test_shuffled_property_order_and_normals_skipped():
    scene = make_scene(257, sh_degree=2, seed=3)
    cols = scene_fields(scene)
    cols["nx"] = cols["ny"] = cols["nz"] = np.ones(scene.n, np.float32)
    names = list(cols)
    order = np.random.default_rng(0).permutation(len(names))
    shuffled = {names[i]: cols[names[i]] for i in order}
    back = read_ply(io.BytesIO(ply_bytes(shuffled)))
    assert_bit_exact(scene, back)
    assert back.extra == {}


def test_extra_properties_round_trip_with_their_dtypes(tmp_path):
    scene = make_scene(300, sh_degree=1, seed=5, objects=3)
    n = scene.n
    extra = {
        "label": (np.arange(n) % 256).astype(np.uint8),
        "part": (np.arange(n) - 150).astype(np.int16),
        "weight": np.linspace(0, 1, n).astype(np.float64),
        "flag": np.arange(n) % 3 == 0,                  # bool -> uchar
        "big": np.arange(n, dtype=np.int64) * 1000,     # int64 -> int (fits)
    }
    path = tmp_path / "e.ply"
    write_ply(path, scene, extra=extra)
    back = read_ply(path)
    assert_bit_exact(scene, back)
    assert list(back.extra) == ["object_id", "label", "part", "weight", "flag", "big"]
    assert back.extra["object_id"].dtype == np.int32
    assert back.extra["label"].dtype == np.uint8
    assert back.extra["part"].dtype == np.int16
    assert back.extra["weight"].dtype == np.float64
    assert back.extra["flag"].dtype == np.uint8
    assert back.extra["big"].dtype == np.int32
    assert np.array_equal(back.extra["object_id"], scene.extra["object_id"])
    for k, v in extra.items():
        assert np.array_equal(back.extra[k], v.astype(back.extra[k].dtype)), k


def test_extra_property_errors(tmp_path):
    scene = make_scene(10)
    with pytest.raises(ValueError, match="32-bit"):
        write_ply(tmp_path / "a.ply", scene, extra={"huge": np.full(10, 2**40, np.int64)})
    with pytest.raises(ValueError, match="clashes"):
        write_ply(tmp_path / "a.ply", scene, extra={"opacity": np.zeros(10)})
    with pytest.raises(ValueError, match="1-D"):
        write_ply(tmp_path / "a.ply", scene, extra={"v": np.zeros((10, 2))})
    with pytest.raises(ValueError, match="name"):
        write_ply(tmp_path / "a.ply", scene, extra={"a b": np.zeros(10)})


def test_extra_int_property_from_foreign_file():
    scene = make_scene(100, seed=2)
    cols = scene_fields(scene)
    ids = np.arange(100, dtype=np.int32) - 50
    cols = {"object_id": ids, **cols, "semantic": (np.arange(100) % 5).astype(np.uint16)}
    back = read_ply(io.BytesIO(ply_bytes(cols)))
    assert_bit_exact(scene, back)
    assert back.extra["object_id"].dtype == np.int32 and np.array_equal(back.extra["object_id"], ids)
    assert back.extra["semantic"].dtype == np.uint16


def test_other_numeric_types_and_big_endian():
    scene = make_scene(120, sh_degree=1, seed=4)
    cols = scene_fields(scene)
    cols["object_id"] = np.arange(120, dtype=np.int32)
    # doubles, big-endian, plus an unaligned record (uchar extra in the middle)
    cols64 = {k: np.asarray(v, np.float64) for k, v in cols.items() if k != "object_id"}
    cols64 = {"tag": np.full(120, 7, np.uint8), **cols64, "object_id": cols["object_id"]}
    for order in "<>":
        back = read_ply(io.BytesIO(ply_bytes(cols64, byte_order=order)))
        assert_bit_exact(scene, back)   # float32 -> float64 -> float32 is exact
        assert back.extra["tag"].dtype == np.uint8
        assert back.extra["object_id"].dtype == np.dtype("=i4")
        assert np.array_equal(back.extra["object_id"], cols["object_id"])
    # all float32 but big-endian
    back = read_ply(io.BytesIO(ply_bytes(cols, byte_order=">")))
    assert_bit_exact(scene, back)
    # mixed: positions as double, opacity as uchar
    mixed = dict(cols)
    mixed["opacity"] = np.arange(120) % 200
    back = read_ply(io.BytesIO(ply_bytes(mixed, dtypes={"x": "<f8", "opacity": "u1"})))
    assert np.array_equal(back.positions, scene.positions)
    assert np.array_equal(back.opacity, (np.arange(120) % 200).astype(np.float32))


def test_ascii_ply_read(tmp_path):
    scene = make_scene(64, sh_degree=3, seed=9)
    cols = scene_fields(scene)
    cols["object_id"] = scene.extra["object_id"]
    data = ply_bytes(cols, text=True)
    assert data.split(b"\n")[1] == b"format ascii 1.0"
    back = read_ply(io.BytesIO(data))
    assert_bit_exact(scene, back)
    assert np.array_equal(back.extra["object_id"], scene.extra["object_id"])
    (tmp_path / "a.ply").write_bytes(data.replace(b"\n", b"\r\n"))
    assert_bit_exact(scene, read_ply(tmp_path / "a.ply"))


def test_list_properties_and_other_elements(tmp_path):
    """A 3DGS vertex element next to a mesh face element (read through plyfile)."""
    scene = make_scene(30, seed=1)
    faces = np.empty(2, dtype=[("vertex_indices", "O")])
    faces["vertex_indices"] = [np.array([0, 1, 2], np.int32), np.array([2, 3, 4], np.int32)]
    face_el = plyfile.PlyElement.describe(faces, "face")
    path = tmp_path / "m.ply"
    path.write_bytes(ply_bytes(scene_fields(scene), more_elements=[face_el]))
    assert_bit_exact(scene, read_ply(path))
    # the face element before the vertex element
    buf = io.BytesIO()
    arr = np.empty(scene.n, dtype=[(k, "<f4") for k in scene_fields(scene)])
    for k, v in scene_fields(scene).items():
        arr[k] = v
    plyfile.PlyData([face_el, plyfile.PlyElement.describe(arr, "vertex")]).write(buf)
    assert_bit_exact(scene, read_ply(io.BytesIO(buf.getvalue())))


# ----------------------------------------------------------------------------- errors

def _columns_without(*drop, n=5, rest=0):
    cols = {name: np.zeros(n, np.float32) for name in BASE}
    cols.update({f"f_rest_{i}": np.zeros(n, np.float32) for i in range(rest)})
    for d in drop:
        del cols[d]
    return cols


@pytest.mark.parametrize("drop, message", [
    (("opacity", "scale_0", "scale_1", "scale_2"), "not a 3DGS PLY: missing opacity, scale_0..2"),
    (("rot_2",), "not a 3DGS PLY: missing rot_2"),
    (("x", "y", "z", "f_dc_1"), "not a 3DGS PLY: missing x, y, z, f_dc_1"),
    (("f_dc_0", "f_dc_1", "f_dc_2", "rot_0", "rot_1", "rot_2", "rot_3"),
     "not a 3DGS PLY: missing f_dc_0..2, rot_0..3"),
])
def test_missing_properties_are_named(tmp_path, drop, message):
    data = ply_bytes(_columns_without(*drop))
    for src in (io.BytesIO(data), io.BytesIO(ply_bytes(_columns_without(*drop), text=True))):
        with pytest.raises(SceneFormatError) as info:
            read_ply(src)
        assert str(info.value) == message
    path = tmp_path / "p.ply"
    path.write_bytes(data)
    with pytest.raises(SceneFormatError, match="^" + message + "$"):
        read_ply(path)


def test_mesh_ply_is_not_3dgs():
    verts = {"x": np.zeros(3, np.float32), "y": np.zeros(3, np.float32), "z": np.zeros(3, np.float32),
             "red": np.zeros(3, np.uint8)}
    faces = np.empty(1, dtype=[("vertex_indices", "O")])
    faces["vertex_indices"] = [np.array([0, 1, 2], np.int32)]
    data = ply_bytes(verts, more_elements=[plyfile.PlyElement.describe(faces, "face")])
    with pytest.raises(SceneFormatError, match="missing f_dc_0..2, opacity, scale_0..2, rot_0..3$"):
        read_ply(io.BytesIO(data))


@pytest.mark.parametrize("rest", [1, 8, 10, 44, 46])
def test_wrong_f_rest_count(rest):
    with pytest.raises(SceneFormatError, match=f"{rest} f_rest_\\* properties .*0/9/24/45"):
        read_ply(io.BytesIO(ply_bytes(_columns_without(rest=rest))))


def test_f_rest_with_gaps():
    cols = _columns_without(rest=10)
    del cols["f_rest_4"]                        # 9 present but not 0..8
    with pytest.raises(SceneFormatError, match="gaps .*missing f_rest_4"):
        read_ply(io.BytesIO(ply_bytes(cols)))


def test_no_vertex_element():
    arr = np.zeros(3, dtype=[(n, "<f4") for n in BASE])
    buf = io.BytesIO()
    plyfile.PlyData([plyfile.PlyElement.describe(arr, "splat")]).write(buf)
    with pytest.raises(SceneFormatError, match="no 'vertex' element \\(elements: splat\\)"):
        read_ply(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("blob", [
    b"",
    b"hello world, not a ply",
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    b"ply\n",
    b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n",      # no end_header
    b"ply\nformat weird 1.0\nelement vertex 1\nproperty float x\nend_header\n",
    b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty quux x\nend_header\n",
    b"ply\nformat ascii 1.0\nelement vertex 2\n"
    + b"".join(b"property float %s\n" % n.encode() for n in BASE) + b"end_header\n1 2 3\n",
    b"ply\nformat ascii 1.0\nelement vertex 1\n"
    + b"".join(b"property float %s\n" % n.encode() for n in BASE) + b"end_header\n"
    + b"1 " * 13 + b"abc\n",
])
def test_not_a_ply(tmp_path, blob):
    path = tmp_path / "x.ply"
    path.write_bytes(blob)
    for src in (path, io.BytesIO(blob)):
        with pytest.raises(SceneFormatError) as info:
            read_ply(src)
        msg = str(info.value)
        assert msg and "\n" not in msg and "Traceback" not in msg
        assert isinstance(info.value, LGSError)


def test_truncated_body(tmp_path):
    scene = make_scene(50, sh_degree=1)
    buf = io.BytesIO()
    write_ply(buf, scene)
    data = buf.getvalue()
    for cut in (1, 100, len(data) // 2):
        with pytest.raises(SceneFormatError, match="truncated"):
            read_ply(io.BytesIO(data[:-cut]))
    # a huge declared count must not allocate: it is rejected from the file size
    huge = data.replace(b"element vertex 50\n", b"element vertex 99999999999\n")
    with pytest.raises(SceneFormatError, match="truncated"):
        read_ply(io.BytesIO(huge))


def test_missing_file_is_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ply(tmp_path / "nope.ply")


@pytest.mark.parametrize("degree", [0, 2])
def test_empty_scene(tmp_path, degree):
    empty = Scene.empty(degree)
    path = tmp_path / "e.ply"
    write_ply(path, empty)
    back = read_ply(path)
    assert back.n == 0 and back.sh_degree == degree
    assert back.positions.shape == (0, 3) and back.sh_rest.shape == (0, empty.sh_rest.shape[1])
    text = ply_bytes(_columns_without(n=0, rest=24), text=True)
    assert read_ply(io.BytesIO(text)).sh_degree == 2


# ----------------------------------------------------------------------------- synthetic

def test_make_scene_deterministic_and_shaped():
    a = make_scene(777, sh_degree=2, seed=11, duplicates=0.1, objects=3)
    b = make_scene(777, sh_degree=2, seed=11, duplicates=0.1, objects=3)
    c = make_scene(777, sh_degree=2, seed=12, duplicates=0.1, objects=3)
    assert_bit_exact(a, b)
    assert np.array_equal(a.extra["object_id"], b.extra["object_id"])
    assert not np.array_equal(a.positions, c.positions)
    assert a.sh_rest.shape == (777, 24) and a.extra["object_id"].dtype == np.int32


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_make_scene_tiny(n):
    s = make_scene(n, sh_degree=3, objects=2)
    assert s.n == n and s.sh_degree == 3
    assert np.all(np.isfinite(s.attribute_matrix()))


def test_make_scene_empty():
    assert make_scene(0, sh_degree=1).n == 0


def test_make_scene_distributions():
    s = make_scene(20000, sh_degree=3, seed=1)
    lo, hi = SCENE_BOUNDS
    assert np.all(s.positions >= lo) and np.all(s.positions <= hi)
    assert s.opacity.min() >= -4 and s.opacity.max() <= 8
    assert -4.5 < np.median(s.scales) < -2 and s.scales.max() <= 0
    assert np.allclose(np.linalg.norm(s.rotations, axis=1), 1, atol=1e-5)
    assert np.abs(s.sh_dc).max() <= 1.5 and s.sh_dc.std() > 0.2
    assert 0.02 < s.sh_rest[:, :3].std() < 0.08
    assert len(np.unique(s.positions, axis=0)) == s.n


@pytest.mark.parametrize("objects", [0, 1, 4, 10])
def test_object_boxes_select_exactly_their_object(objects):
    s = make_scene(6000, seed=objects, objects=objects)
    ids = s.extra["object_id"]
    assert set(np.unique(ids)) <= set(range(objects + 1))
    boxes = object_boxes(objects)
    centres, radii = object_spheres(objects)
    assert boxes.shape == (objects, 2, 3) and centres.shape == (objects, 3)
    for i in range(1, objects + 1):
        inside = np.all((s.positions >= boxes[i - 1, 0]) & (s.positions <= boxes[i - 1, 1]), axis=1)
        assert inside.sum() > 0
        assert np.array_equal(inside, ids == i)
        d = np.linalg.norm(s.positions - centres[i - 1], axis=1)
        assert np.array_equal(d <= radii[i - 1] * 1.001, ids == i)


def test_duplicates_copy_positions_exactly():
    n = 5000
    s = make_scene(n, seed=2, duplicates=0.25, objects=2)
    uniq, inverse = np.unique(s.positions, axis=0, return_inverse=True)
    assert len(uniq) == n - round(0.25 * n)
    # a duplicate keeps the object id of the row it copies
    ids = s.extra["object_id"]
    first = np.full(len(uniq), -1)
    first[inverse[::-1]] = ids[::-1]
    assert np.array_equal(first[inverse], ids)
    # attributes are not copied
    assert len(np.unique(s.opacity)) > n - round(0.25 * n)
