"""Read and write 3DGS scenes as INRIA-layout PLY files.

``read_ply`` accepts binary little/big-endian and ascii PLY, with the 3DGS properties in any
order and of any numeric type (converted to float32). Properties other than the 3DGS ones and
``nx ny nz`` are kept in ``Scene.extra`` with their own dtype (native byte order). Anything
that is not a 3DGS PLY raises ``SceneFormatError`` with a one-line message.

The header is parsed here and the vertex block read with one ``readinto`` into a structured
numpy array, then gathered into the Scene columns row-wise (no per-row Python). plyfile is
only used for what that fast path does not cover (list properties in or before ``vertex``,
ascii files whose first element is not ``vertex``, headers it does not understand): plyfile
itself reads binary data row by row unless it can memory-map a real file.

``write_ply`` writes binary little-endian float32 in the standard order
``x y z nx ny nz f_dc_0..2 f_rest_* opacity scale_0..2 rot_0..3`` followed by the extra
properties, from one structured array.
"""
from __future__ import annotations

import io
import os
import re

import numpy as np
import plyfile

from refcodec.format.errors import SceneFormatError
from refcodec.format.channels import SH_REST_WIDTH
from refcodec.format.scene import Scene

__all__ = ["read_ply", "write_ply", "STANDARD_GROUPS"]

# Required property groups, in write order (f_rest goes between f_dc and opacity).
STANDARD_GROUPS: dict[str, list[str]] = {
    "positions": ["x", "y", "z"],
    "sh_dc": ["f_dc_0", "f_dc_1", "f_dc_2"],
    "opacity": ["opacity"],
    "scales": ["scale_0", "scale_1", "scale_2"],
    "rotations": ["rot_0", "rot_1", "rot_2", "rot_3"],
}
_NORMALS = ("nx", "ny", "nz")
_F_REST_RE = re.compile(r"f_rest_\d+\Z")
_STANDARD_NAMES = frozenset(n for g in STANDARD_GROUPS.values() for n in g) | frozenset(_NORMALS)

# numpy kind+size -> PLY type name (little-endian output)
_PLY_TYPE = {
    ("i", 1): "char", ("u", 1): "uchar", ("i", 2): "short", ("u", 2): "ushort",
    ("i", 4): "int", ("u", 4): "uint", ("f", 4): "float", ("f", 8): "double",
}

_PARSE_ERRORS = (
    plyfile.PlyParseError, ValueError, TypeError, UnicodeDecodeError, EOFError,
    IndexError, KeyError, OverflowError, MemoryError,
)


def _describe_missing(names: list[str], missing: set[str]) -> list[str]:
    """``scale_0, scale_1, scale_2`` all missing -> ``scale_0..2``; else list them one by one."""
    gone = [n for n in names if n in missing]
    if len(names) > 1 and len(gone) == len(names) and names[0][-1] == "0" and "_" in names[0]:
        return [f"{names[0]}..{len(names) - 1}"]
    return gone


# ----------------------------------------------------------------------------- read

_PLY_SCALAR = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_HEADER_LIMIT = 1 << 20
_FORMATS = {"ascii": "ascii", "binary_little_endian": "<", "binary_big_endian": ">"}


def read_ply(path_or_file) -> Scene:
    """Read a 3DGS PLY (path, ``os.PathLike`` or readable binary file object) into a ``Scene``.

    Raises ``SceneFormatError`` for anything that is not a readable 3DGS PLY (the message is
    one line, e.g. ``not a 3DGS PLY: missing opacity, scale_0..2``). A path that cannot be
    opened raises the usual ``OSError`` (``FileNotFoundError``, ...).

    The common case (binary, or ascii with ``vertex`` as first element, no list properties in
    or before ``vertex``) is read here with numpy in one pass; anything else goes through
    plyfile's parser.
    """
    if hasattr(path_or_file, "read"):
        return _read_stream(path_or_file, path=None)
    path = os.fspath(path_or_file)
    with open(path, "rb") as fh:
        return _read_stream(fh, path=path)


def _read_stream(fh, path):
    head = _read_head(fh)
    if not (head.startswith(b"ply\n") or head.startswith(b"ply\r\n")):
        what = "empty file" if not head else "does not start with 'ply'"
        raise SceneFormatError(f"not a PLY file: {what}")
    header = _parse_header(head)
    if header is None:
        if b"end_header" not in head:
            raise SceneFormatError("invalid PLY file: header has no end_header"
                                   + (" (truncated)" if len(head) < _HEADER_LIMIT else ""))
        return _read_fallback(fh, head, path)
    fmt, elements, body_start = header
    _check_vertex_props({name: [p for p, _ in props] for name, _, props in elements})

    names = [e[0] for e in elements]
    vi = names.index("vertex")
    _, count, props = elements[vi]
    if any(t is None for _, t in props):
        return _read_fallback(fh, head, path)
    if fmt == "ascii":
        if vi != 0:
            return _read_fallback(fh, head, path)
        data = _read_ascii_vertex(fh, head[body_start:], count, props)
    else:
        skip = 0
        for _, n_before, p_before in elements[:vi]:
            if any(t is None for _, t in p_before):
                return _read_fallback(fh, head, path)
            skip += n_before * sum(np.dtype(t).itemsize for _, t in p_before)
        dtype = np.dtype([(name, fmt + t) for name, t in props])
        data = _read_binary_block(fh, head[body_start:], skip, count, dtype)
    return _to_scene(data, [p for p, _ in props], count)


def _to_scene(data: np.ndarray, props: list[str], count: int) -> Scene:
    rest_names = [n for n in props if _F_REST_RE.match(n)]
    rest_names.sort(key=lambda n: int(n[7:]))
    columns = dict(STANDARD_GROUPS)
    columns["sh_rest"] = rest_names
    gathered = _gather(data, columns, count)
    taken = _STANDARD_NAMES | set(rest_names)
    extra = {}
    for name in props:
        if name not in taken:
            col = data[name]
            extra[name] = np.array(col, dtype=col.dtype.newbyteorder("="), copy=True)
    return Scene(
        gathered["positions"], gathered["opacity"], gathered["scales"], gathered["rotations"],
        gathered["sh_dc"], gathered["sh_rest"], extra,
    )


def _read_head(fh) -> bytes:
    """Bytes from the current position up to at least the end of the header (or EOF, or
    the header size limit, or as soon as it is clear this is not a PLY)."""
    head = b""
    while b"end_header" not in head and len(head) < _HEADER_LIMIT:
        chunk = fh.read(65536)
        if not chunk:
            break
        if not isinstance(chunk, bytes):
            raise SceneFormatError("read_ply needs a binary file object (opened with 'rb')")
        head += chunk
        if len(head) >= 5 and not (head.startswith(b"ply\n") or head.startswith(b"ply\r\n")):
            break
    return head


def _parse_header(head: bytes):
    """(format, [(element, count, [(property, numpy type code or None for a list)])],
    body offset in ``head``), or None when the header is incomplete or anything in it is
    unusual; plyfile then parses it (and reports what is wrong)."""
    end = head.find(b"end_header")
    if end < 0:
        return None
    nl = head.find(b"\n", end)
    if nl < 0 or head[end + len(b"end_header"):nl].strip():
        return None
    body_start = nl + 1
    try:
        lines = head[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    fmt = None
    elements = []
    for line in lines[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in _FORMATS or words[2] != "1.0" or fmt is not None:
                return None
            fmt = _FORMATS[words[1]]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                return None
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            if not elements:
                return None
            if len(words) == 3 and words[1] in _PLY_SCALAR:
                elements[-1][2].append((words[2], _PLY_SCALAR[words[1]]))
            elif len(words) == 5 and words[1] == "list":
                elements[-1][2].append((words[4], None))
            else:
                return None
        else:
            return None
    if fmt is None:
        return None
    seen = [e[0] for e in elements]
    if len(set(seen)) != len(seen):
        return None
    for _, _, props in elements:
        pn = [p for p, _ in props]
        if len(set(pn)) != len(pn):
            return None
    return fmt, elements, body_start


def _remaining(fh):
    """Bytes left in a seekable stream after the current position, else None."""
    try:
        if not fh.seekable():
            return None
        pos = fh.tell()
        end = fh.seek(0, 2)
        fh.seek(pos)
        return end - pos
    except (AttributeError, OSError, ValueError):
        return None


def _read_binary_block(fh, leftover: bytes, skip: int, count: int, dtype: np.dtype) -> np.ndarray:
    """``count`` records of ``dtype`` starting ``skip`` bytes after the header, read into a
    fresh (aligned) array with one copy."""
    need = count * dtype.itemsize
    remaining = _remaining(fh)
    if remaining is None:  # unseekable stream: read it all
        leftover = leftover + fh.read()
        remaining = 0
    have = len(leftover) + remaining
    if have < skip + need:
        raise SceneFormatError(
            f"truncated PLY: element 'vertex' ({count} rows of {dtype.itemsize} bytes) needs "
            f"{skip + need} bytes after the header, found {have}"
        )
    buf = np.empty(need, dtype=np.uint8)
    if need == 0:
        return buf.view(dtype)
    got = 0
    if skip < len(leftover):
        part = leftover[skip:skip + need]
        buf[:len(part)] = np.frombuffer(part, dtype=np.uint8)
        got = len(part)
    else:
        fh.seek(skip - len(leftover), 1)
    view = memoryview(buf)
    while got < need:
        k = fh.readinto(view[got:]) if hasattr(fh, "readinto") else None
        if k is None:
            chunk = fh.read(need - got)
            k = len(chunk)
            buf[got:got + k] = np.frombuffer(chunk, dtype=np.uint8)
        if not k:
            raise SceneFormatError(f"truncated PLY: element 'vertex' ended after {got} of {need} bytes")
        got += k
    return buf.view(dtype)


def _read_ascii_vertex(fh, leftover: bytes, count: int, props) -> np.ndarray:
    dtype = np.dtype([(name, "=" + t) for name, t in props])
    data = np.empty(count, dtype=dtype)
    if count == 0:
        return data
    text = (leftover + fh.read()).decode("ascii", "replace")
    try:
        mat = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2, max_rows=count,
                         comments=None)
    except ValueError as exc:
        raise SceneFormatError(f"invalid ascii PLY: {_one_line(exc)}") from None
    if mat.shape != (count, len(props)):
        raise SceneFormatError(
            f"invalid ascii PLY: element 'vertex' expects {count} rows of {len(props)} values, "
            f"read {mat.shape[0]} rows of {mat.shape[1] if mat.ndim == 2 else 0}"
        )
    with np.errstate(invalid="ignore", over="ignore"):
        for j, (name, _) in enumerate(props):
            data[name] = mat[:, j]
    return data


def _read_fallback(fh, head: bytes, path):
    """plyfile for what the fast reader does not handle (list properties, unusual headers)."""
    src = path if path is not None else io.BytesIO(head + fh.read())
    try:
        ply = plyfile.PlyData.read(src)
    except _PARSE_ERRORS as exc:
        raise SceneFormatError(f"invalid PLY file: {_one_line(exc)}") from None
    except OSError as exc:
        raise SceneFormatError(f"cannot read PLY: {_one_line(exc)}") from None
    elements = {el.name: [p.name for p in el.properties if not isinstance(p, plyfile.PlyListProperty)]
                for el in ply.elements}
    _check_vertex_props(elements)
    el = ply["vertex"]
    props = elements["vertex"]
    data = np.asarray(el.data)[props] if len(props) != len(el.properties) else np.asarray(el.data)
    return _to_scene(data, props, el.count)


def _check_vertex_props(elements: dict) -> list[str]:
    """Validate {element name: scalar property names}; return the f_rest names in order."""
    if "vertex" not in elements:
        names = ", ".join(elements) or "none"
        raise SceneFormatError(f"not a 3DGS PLY: no 'vertex' element (elements: {names})")
    props = elements["vertex"]
    present = set(props)

    missing = set()
    for names in STANDARD_GROUPS.values():
        missing.update(n for n in names if n not in present)
    if missing:
        parts = []
        for names in STANDARD_GROUPS.values():
            parts.extend(_describe_missing(names, missing))
        raise SceneFormatError("not a 3DGS PLY: missing " + ", ".join(parts))

    rest = [n for n in props if _F_REST_RE.match(n)]
    width = len(rest)
    expected = [f"f_rest_{i}" for i in range(width)]
    if set(rest) != set(expected):
        gaps = [n for n in expected if n not in present]
        raise SceneFormatError(
            f"not a 3DGS PLY: f_rest_* properties have gaps ({width} present, "
            f"missing {_short_list(gaps)})"
        )
    if width not in SH_REST_WIDTH:
        ok = "/".join(str(w) for w in SH_REST_WIDTH)
        raise SceneFormatError(
            f"not a 3DGS PLY: {width} f_rest_* properties (expected {ok} for SH degree 0..3)"
        )
    return expected


def _gather(data: np.ndarray, columns: dict, n: int) -> dict:
    """Per group of property names, a fresh C-contiguous (n, k) float32 array.

    When all the wanted properties share one scalar type (the usual all-float32 file, with or
    without extras of other types) the records are reinterpreted as rows of that type and the
    columns gathered row-wise in one pass; otherwise (mixed types) copied column by column."""
    arr = np.ascontiguousarray(np.asarray(data))  # drop the memmap subclass; no copy if packed
    dt = arr.dtype
    wanted = [c for names in columns.values() for c in names]
    types = {dt.fields[c][0] for c in wanted}
    rows = None
    if len(types) == 1 and arr.ndim == 1 and n:
        base = next(iter(types))
        size = base.itemsize
        offsets = {c: dt.fields[c][1] for c in wanted}
        if base.kind in "iuf" and base.subdtype is None:
            if dt.itemsize % size == 0 and all(o % size == 0 for o in offsets.values()):
                rows = arr.view(base).reshape(n, dt.itemsize // size)
                index = {c: o // size for c, o in offsets.items()}
                if not rows.flags.aligned:  # memmap after a header of odd length: take() is slow
                    rows = None
            if rows is None:
                lo = min(offsets.values())
                hi = max(offsets.values()) + size
                if all((o - lo) % size == 0 for o in offsets.values()):
                    raw = arr.view(np.uint8).reshape(n, dt.itemsize)
                    rows = np.ascontiguousarray(raw[:, lo:hi]).view(base)
                    index = {c: (o - lo) // size for c, o in offsets.items()}
    out = {}
    for group, names in columns.items():
        if rows is not None:
            idx = [index[c] for c in names]
            if not idx:
                sel = np.empty((n, 0), dtype=rows.dtype)
            elif idx == list(range(idx[0], idx[0] + len(idx))):
                sel = np.ascontiguousarray(rows[:, idx[0]:idx[0] + len(idx)])
            else:
                sel = np.take(rows, idx, axis=1)
            out[group] = sel.astype(np.float32, copy=sel.dtype != np.float32)
        else:
            block = np.empty((n, len(names)), dtype=np.float32)
            for j, c in enumerate(names):
                block[:, j] = arr[c]
            out[group] = block
    return out


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _short_list(names: list[str], k: int = 6) -> str:
    if len(names) <= k:
        return ", ".join(names)
    return ", ".join(names[:k]) + f", ... ({len(names)} in all)"


# ----------------------------------------------------------------------------- write

def _extra_dtype(name: str, arr: np.ndarray) -> np.dtype:
    dt = arr.dtype
    if dt == np.bool_:
        return np.dtype("u1")
    if dt.kind == "f":
        return np.dtype("<f8") if dt.itemsize > 4 else np.dtype("<f4")
    if dt.kind in "iu":
        if dt.itemsize <= 4:
            return dt.newbyteorder("<")
        # PLY has no 64-bit integers: narrow when the values fit, else refuse.
        target = np.dtype("<i4") if dt.kind == "i" else np.dtype("<u4")
        if arr.size:
            info = np.iinfo(target)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                raise ValueError(
                    f"extra property {name!r}: values {lo}..{hi} do not fit a 32-bit PLY integer"
                )
        return target
    raise ValueError(f"extra property {name!r}: dtype {dt} cannot be stored in a PLY")


def write_ply(path_or_file, scene: Scene, extra: dict | None = None) -> None:
    """Write ``scene`` as binary little-endian INRIA 3DGS PLY.

    Extra properties written are ``scene.extra`` updated with ``extra`` (the argument wins on
    a name clash); each must be a 1-D array of N values. Integer extras keep their type
    (int64/uint64 are narrowed to 32 bits when the values fit; bool -> uchar); float extras
    are written as float (float64 as double). nx ny nz are written as zeros.
    """
    n = scene.n
    rest = scene.sh_rest.shape[1]
    extras = dict(scene.extra)
    if extra:
        extras.update(extra)

    std_names = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                 + [f"f_rest_{i}" for i in range(rest)]
                 + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    fields = [(name, "<f4") for name in std_names]
    extra_arrays = []
    for name, arr in extras.items():
        if not isinstance(name, str) or not name or not name.isascii() or any(c.isspace() for c in name):
            raise ValueError(f"extra property name {name!r} is not a valid PLY property name")
        if name in _STANDARD_NAMES or _F_REST_RE.match(name):
            raise ValueError(f"extra property {name!r} clashes with a standard 3DGS property")
        arr = np.asarray(arr)
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"extra property {name!r} must be a 1-D array of {n} values, got shape {arr.shape}")
        dt = _extra_dtype(name, arr)
        fields.append((name, dt))
        extra_arrays.append((name, arr))

    record = np.dtype(fields)
    out = np.empty(n, dtype=record)
    n_float = len(std_names)
    # the float32 block is the first 4 * n_float bytes of every record: fill it through a view
    raw = out.view(np.uint8).reshape(n, record.itemsize)
    mat = raw[:, :4 * n_float].view("<f4")
    mat[:, 0:3] = scene.positions
    mat[:, 3:6] = 0.0
    mat[:, 6:9] = scene.sh_dc
    k = 9 + rest
    mat[:, 9:k] = scene.sh_rest
    mat[:, k] = scene.opacity
    mat[:, k + 1:k + 4] = scene.scales
    mat[:, k + 4:k + 8] = scene.rotations
    for name, arr in extra_arrays:
        out[name] = arr

    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    for name, dt in fields:
        dt = np.dtype(dt)
        header.append(f"property {_PLY_TYPE[(dt.kind, dt.itemsize)]} {name}")
    header.append("end_header")
    blob = ("\n".join(header) + "\n").encode("ascii")

    payload = out.view(np.uint8) if n else np.empty(0, np.uint8)
    if hasattr(path_or_file, "write"):
        path_or_file.write(blob)
        path_or_file.write(payload.data)
        return
    with open(os.fspath(path_or_file), "wb") as fh:
        fh.write(blob)
        payload.tofile(fh)
