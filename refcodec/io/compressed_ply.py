"""Read and write PlayCanvas chunked ``compressed.ply`` files (SuperSplat / splat-transform).

Layout (after PlayCanvas splat-transform ``decompress-ply.ts`` / ``write-compressed-ply.ts``):
a binary little-endian PLY with

- ``element chunk C`` (``C = ceil(N / 256)``), float properties ``min_x min_y min_z max_x max_y
  max_z min_scale_x min_scale_y min_scale_z max_scale_x max_scale_y max_scale_z`` and optionally
  ``min_r min_g min_b max_r max_g max_b`` (older files have no colour range);
- ``element vertex N`` with uint ``packed_position packed_rotation packed_scale packed_color``;
  splat ``i`` uses chunk ``i // 256``;
- optional ``element sh N`` with uchar ``f_rest_0 .. f_rest_{9,24,45 - 1}`` (INRIA order).

Unpacking: position and scale are 11/10/11-bit unorms (x in bits 21-31, y 11-20, z 0-10)
lerped between the chunk's min and max (scales are log scales); colour is 8/8/8/8 (r in the top
byte) with r, g, b lerped in the chunk's colour range when present and ``f_dc = (c - 0.5) / C0``,
alpha ``opacity = logit(a)`` (clamped to ``[1e-6, 1 - 1e-6]`` so 0 and 255 stay finite);
rotation is 2-bit index of the largest component of ``(rot_0, rot_1, rot_2, rot_3)`` then the
other three in order as 10-bit unorms ``(u - 0.5) * sqrt(2)`` (bits 20-29, 10-19, 0-9);
SH bytes ``v`` give ``(n - 0.5) * 8`` with ``n = 0, 1`` for ``v = 0, 255`` else ``(v + 0.5) / 256``.
Axes are the INRIA PLY's.
"""
from __future__ import annotations

import os

import numpy as np

from refcodec.format.errors import SceneFormatError
from refcodec.io.splat import SH_C0, logit_of_alpha, normalized_quaternions, read_file_bytes, sigmoid
from refcodec.format.channels import SH_REST_WIDTH
from refcodec.format.scene import Scene

__all__ = [
    "read_compressed_ply", "write_compressed_ply", "decode_compressed_ply_bytes",
    "encode_compressed_ply_bytes", "parse_ply_header", "is_compressed_ply_header", "CHUNK_SIZE",
]

CHUNK_SIZE = 256
MAX_HEADER_BYTES = 1 << 16
CHUNK_PROPS = [
    "min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
    "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z",
]
CHUNK_COLOR_PROPS = ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
VERTEX_PROPS = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


# ----------------------------------------------------------------------------- PLY header

def parse_ply_header(data: bytes, name: str = "PLY data"):
    """Parse a PLY header. Returns ``(fmt, elements, body_offset)`` where ``elements`` is a list
    of ``(element_name, count, [(prop_name, ply_type or None for list)])``."""
    if not data.startswith(b"ply"):
        raise SceneFormatError(f"{name}: not a PLY file (no 'ply' magic)")
    end = data.find(b"end_header", 0, MAX_HEADER_BYTES)
    if end < 0:
        raise SceneFormatError(f"{name}: PLY header has no end_header in its first {MAX_HEADER_BYTES} bytes")
    nl = data.find(b"\n", end)
    if nl < 0:
        raise SceneFormatError(f"{name}: PLY header truncated after end_header")
    try:
        text = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise SceneFormatError(f"{name}: PLY header is not ASCII") from None
    fmt = None
    elements = []
    for raw in text.replace("\r", "").split("\n")[1:]:
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            try:
                count = int(words[2])
            except ValueError:
                raise SceneFormatError(f"{name}: bad PLY element count {words[2]!r}") from None
            if count < 0:
                raise SceneFormatError(f"{name}: negative PLY element count {count}")
            elements.append((words[1], count, []))
        elif words[0] == "property" and elements:
            if len(words) == 3:
                elements[-1][2].append((words[2], words[1]))
            elif len(words) == 5 and words[1] == "list":
                elements[-1][2].append((words[4], None))
            else:
                raise SceneFormatError(f"{name}: malformed PLY property line {raw.strip()!r}")
        else:
            raise SceneFormatError(f"{name}: malformed PLY header line {raw.strip()!r}")
    if fmt is None:
        raise SceneFormatError(f"{name}: PLY header has no format line")
    return fmt, elements, nl + 1


def is_compressed_ply_header(elements) -> bool:
    """Whether parsed PLY elements look like a PlayCanvas compressed PLY."""
    names = {e[0]: e for e in elements}
    if "chunk" not in names or "vertex" not in names:
        return False
    vprops = {p for p, _ in names["vertex"][2]}
    return any(p in vprops for p in VERTEX_PROPS)


# ----------------------------------------------------------------------------- read

def _element_dtype(props, ename: str, name: str) -> np.dtype:
    fields = []
    for pname, ptype in props:
        if ptype is None:
            raise SceneFormatError(f"{name}: list property {pname!r} in element {ename!r} is not supported")
        if ptype not in _PLY_TYPES:
            raise SceneFormatError(f"{name}: unknown PLY type {ptype!r} for {ename}.{pname}")
        fields.append((pname, "<" + _PLY_TYPES[ptype]))
    try:
        return np.dtype(fields)
    except (ValueError, TypeError):
        raise SceneFormatError(f"{name}: duplicate property names in element {ename!r}") from None


def decode_compressed_ply_bytes(data: bytes, name: str = "compressed PLY data") -> Scene:
    """Decode the bytes of a PlayCanvas compressed PLY."""
    with np.errstate(all="ignore"):  # hostile chunk floats (NaN, inf) are reported, not warned about
        return _decode(data, name)


def _decode(data: bytes, name: str) -> Scene:
    fmt, elements, body = parse_ply_header(data, name)
    if fmt != "binary_little_endian":
        raise SceneFormatError(f"{name}: compressed PLY must be binary_little_endian, not {fmt}")
    if not is_compressed_ply_header(elements):
        raise SceneFormatError(f"{name}: not a compressed PLY (needs 'chunk' and packed 'vertex' elements)")

    # lay out every element in file order, checking sizes against the file before reading
    arrays = {}
    offset = body
    for ename, count, props in elements:
        dt = _element_dtype(props, ename, name)
        if dt.itemsize == 0 and count:
            raise SceneFormatError(f"{name}: element {ename!r} has no properties")
        nbytes = count * dt.itemsize
        if nbytes > len(data) - offset:
            raise SceneFormatError(
                f"{name}: compressed PLY truncated: element {ename!r} needs {nbytes} bytes, "
                f"{max(0, len(data) - offset)} left"
            )
        arrays[ename] = np.frombuffer(data, dtype=dt, count=count, offset=offset)
        offset += nbytes

    chunk, vertex = arrays["chunk"], arrays["vertex"]
    cnames, vnames = set(chunk.dtype.names or ()), set(vertex.dtype.names or ())
    missing = [p for p in CHUNK_PROPS if p not in cnames] + [p for p in VERTEX_PROPS if p not in vnames]
    if missing:
        raise SceneFormatError(f"{name}: compressed PLY lacks {', '.join(missing)}")
    for p in VERTEX_PROPS:
        if vertex.dtype[p] != np.dtype("<u4"):
            raise SceneFormatError(f"{name}: compressed PLY property {p} must be uint")
    has_color = all(p in cnames for p in CHUNK_COLOR_PROPS)
    n = len(vertex)
    if n == 0:
        raise SceneFormatError(f"{name}: compressed PLY holds no splats")
    if len(chunk) != -(-n // CHUNK_SIZE):
        raise SceneFormatError(
            f"{name}: compressed PLY has {len(chunk)} chunks for {n} splats "
            f"(expected {-(-n // CHUNK_SIZE)})"
        )

    ci = np.arange(n) // CHUNK_SIZE

    def col(names):
        c = np.stack([chunk[p].astype(np.float64) for p in names], axis=1)
        return c[ci]

    def lerp(lo, hi, t):
        return lo * (1.0 - t) + hi * t

    pp = vertex["packed_position"].astype(np.uint32)
    ps = vertex["packed_scale"].astype(np.uint32)
    pr = vertex["packed_rotation"].astype(np.uint32)
    pc = vertex["packed_color"].astype(np.uint32)

    positions = lerp(col(CHUNK_PROPS[0:3]), col(CHUNK_PROPS[3:6]), _unpack_111011(pp))
    scales = lerp(col(CHUNK_PROPS[6:9]), col(CHUNK_PROPS[9:12]), _unpack_111011(ps))
    rgba = np.stack([(pc >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1).astype(np.float64) / 255.0
    rgb = rgba[:, :3]
    if has_color:
        rgb = lerp(col(CHUNK_COLOR_PROPS[0:3]), col(CHUNK_COLOR_PROPS[3:6]), rgb)
    sh_dc = (rgb - 0.5) / SH_C0
    opacity = logit_of_alpha(rgba[:, 3])
    rotations = _unpack_rotation(pr)

    sh_rest = np.zeros((n, 0))
    if "sh" in arrays:
        sh = arrays["sh"]
        snames = list(sh.dtype.names or ())
        width = len(snames)
        if width not in SH_REST_WIDTH or width == 0:
            raise SceneFormatError(f"{name}: compressed PLY 'sh' element has {width} properties (9, 24 or 45)")
        if snames != [f"f_rest_{i}" for i in range(width)]:
            raise SceneFormatError(f"{name}: compressed PLY 'sh' properties must be f_rest_0..{width - 1}")
        if len(sh) != n:
            raise SceneFormatError(f"{name}: compressed PLY 'sh' has {len(sh)} rows for {n} splats")
        v = np.stack([sh[p].astype(np.float64) for p in snames], axis=1)
        t = np.where(v <= 0, 0.0, np.where(v >= 255, 1.0, (v + 0.5) / 256.0))
        sh_rest = (t - 0.5) * 8.0

    if not (np.isfinite(positions).all() and np.isfinite(scales).all() and np.isfinite(sh_dc).all()):
        raise SceneFormatError(f"{name}: compressed PLY chunk ranges hold non-finite values")
    return Scene(positions, opacity, scales, rotations, sh_dc, sh_rest)


def _unpack_111011(v: np.ndarray) -> np.ndarray:
    return np.stack([
        ((v >> 21) & 0x7FF) / 2047.0,
        ((v >> 11) & 0x3FF) / 1023.0,
        (v & 0x7FF) / 2047.0,
    ], axis=1)


def _unpack_rotation(v: np.ndarray) -> np.ndarray:
    n = len(v)
    vals = np.stack([((v >> s) & 0x3FF) / 1023.0 for s in (20, 10, 0)], axis=1)
    vals = (vals - 0.5) * np.sqrt(2.0)
    largest = (v >> 30).astype(np.intp)
    others = np.array([[k for k in range(4) if k != L] for L in range(4)], dtype=np.intp)
    q = np.zeros((n, 4))
    rows = np.arange(n)
    q[rows[:, None], others[largest]] = vals
    q[rows, largest] = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", vals, vals)))
    return q


def read_compressed_ply(path) -> Scene:
    """Read a PlayCanvas chunked ``compressed.ply`` into a ``Scene`` (INRIA axes)."""
    return decode_compressed_ply_bytes(read_file_bytes(path), name=os.fspath(path))


# ----------------------------------------------------------------------------- write

def _pack_unorm(t: np.ndarray, bits: int) -> np.ndarray:
    m = (1 << bits) - 1
    return np.clip(np.floor(t * m + 0.5), 0, m).astype(np.uint32)


def _normalize(x, lo, hi):
    rng = hi - lo
    t = np.where(rng < 1e-5, 0.0, (x - lo) / np.where(rng < 1e-5, 1.0, rng))
    return np.where(x <= lo, 0.0, np.where(x >= hi, 1.0, t))


def _pack_111011(t: np.ndarray) -> np.ndarray:
    return (_pack_unorm(t[..., 0], 11) << 21) | (_pack_unorm(t[..., 1], 10) << 11) | _pack_unorm(t[..., 2], 11)


def encode_compressed_ply_bytes(scene: Scene, comment: str = "Generated by refcodec") -> bytes:
    """Encode a scene as PlayCanvas compressed PLY bytes (18-property chunks, splats kept in
    the scene's order; no Morton sort)."""
    n = scene.n
    if n == 0:
        raise ValueError("compressed PLY cannot hold an empty scene")
    chunks = -(-n // CHUNK_SIZE)
    pad = np.concatenate([np.arange(n), np.full(chunks * CHUNK_SIZE - n, n - 1)])  # repeat the last

    def blocks(a):
        a = np.asarray(a, dtype=np.float64)[pad]
        return a.reshape(chunks, CHUNK_SIZE, -1)

    pos = blocks(scene.positions)
    scl = blocks(scene.scales)
    rgb = blocks(scene.sh_dc * SH_C0 + 0.5)
    pmin, pmax = pos.min(axis=1), pos.max(axis=1)
    smin, smax = np.clip(scl.min(axis=1), -20, 20), np.clip(scl.max(axis=1), -20, 20)
    cmin, cmax = rgb.min(axis=1), rgb.max(axis=1)

    packed_position = _pack_111011(_normalize(pos, pmin[:, None], pmax[:, None])).reshape(-1)[:n]
    packed_scale = _pack_111011(_normalize(scl, smin[:, None], smax[:, None])).reshape(-1)[:n]
    ct = _normalize(rgb, cmin[:, None], cmax[:, None]).reshape(-1, 3)[:n]
    alpha = sigmoid(scene.opacity)
    packed_color = ((_pack_unorm(ct[:, 0], 8) << 24) | (_pack_unorm(ct[:, 1], 8) << 16)
                    | (_pack_unorm(ct[:, 2], 8) << 8) | _pack_unorm(alpha, 8))

    q = normalized_quaternions(scene.rotations)
    largest = np.argmax(np.abs(q), axis=1)
    rows = np.arange(n)
    q = np.where((q[rows, largest] < 0)[:, None], -q, q)
    others = np.array([[k for k in range(4) if k != L] for L in range(4)], dtype=np.intp)
    vals = q[rows[:, None], others[largest]] * (np.sqrt(2.0) * 0.5) + 0.5
    packed_rotation = largest.astype(np.uint32)
    for j in range(3):
        packed_rotation = (packed_rotation << np.uint32(10)) | _pack_unorm(vals[:, j], 10)

    chunk_data = np.concatenate([pmin, pmax, smin, smax, cmin, cmax], axis=1).astype("<f4")
    vertex_data = np.stack([packed_position, packed_rotation, packed_scale, packed_color], axis=1).astype("<u4")

    width = scene.sh_rest.shape[1]
    header = ["ply", "format binary_little_endian 1.0", f"comment {comment}",
              f"element chunk {chunks}"]
    header += [f"property float {p}" for p in CHUNK_PROPS + CHUNK_COLOR_PROPS]
    header += [f"element vertex {n}"] + [f"property uint {p}" for p in VERTEX_PROPS]
    sh_bytes = b""
    if width:
        header += [f"element sh {n}"] + [f"property uchar f_rest_{i}" for i in range(width)]
        nv = np.nan_to_num(scene.sh_rest.astype(np.float64)) / 8.0 + 0.5
        sh_bytes = np.clip(np.trunc(nv * 256.0), 0, 255).astype(np.uint8).tobytes()
    header.append("end_header\n")
    return "\n".join(header).encode("ascii") + chunk_data.tobytes() + vertex_data.tobytes() + sh_bytes


def write_compressed_ply(path, scene: Scene) -> None:
    """Write a scene as a PlayCanvas compressed PLY (lossy: 11/10/11-bit positions and scales
    per 256-splat chunk, 8-bit colour and alpha, 2+10+10+10-bit rotation, 8-bit SH)."""
    with open(os.fspath(path), "wb") as f:
        f.write(encode_compressed_ply_bytes(scene))
