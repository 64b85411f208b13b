"""``load_scene(path)``: read any supported 3DGS scene file into a ``Scene`` (INRIA axes).

Supported formats, recognised by content first and file extension second:

- INRIA 3DGS PLY (``.ply``)                      -> ``refcodec.io.ply.read_ply``
- PlayCanvas chunked compressed PLY (``.ply``,   -> ``read_compressed_ply``
  a ``chunk`` element and ``packed_*`` vertex properties; ``.compressed.ply`` by convention)
- Niantic SPZ v2/v3 (gzip) and v4 (``NGSP`` + zstd) (``.spz``) -> ``read_spz``
- antimatter15 ``.splat`` (headerless; extension only)       -> ``read_splat``

Anything else raises ``SceneFormatError`` naming these formats. Missing files raise
``FileNotFoundError`` as ``read_ply`` does.
"""
from __future__ import annotations

import os
import struct

from refcodec.format.errors import SceneFormatError
from refcodec.format.scene import Scene

__all__ = ["load_scene", "detect_format", "SUPPORTED_FORMATS"]

SUPPORTED_FORMATS = (
    "3DGS PLY (.ply), PlayCanvas compressed PLY (.compressed.ply), "
    "Niantic SPZ v2-v4 (.spz), antimatter15 splat (.splat)"
)
_SNIFF_BYTES = 1 << 16


def detect_format(path) -> str:
    """One of ``'ply'``, ``'compressed_ply'``, ``'spz'``, ``'splat'``; raises SceneFormatError
    for anything else."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    ext = os.path.splitext(path)[1].lower()
    if head.startswith(b"ply"):
        from refcodec.io.compressed_ply import is_compressed_ply_header, parse_ply_header

        try:
            _, elements, _ = parse_ply_header(head, path)
        except SceneFormatError:
            return "ply"  # let read_ply produce its own diagnosis
        return "compressed_ply" if is_compressed_ply_header(elements) else "ply"
    if len(head) >= 4 and struct.unpack_from("<I", head)[0] == 0x5053474E:
        return "spz"
    if head[:2] == b"\x1f\x8b" and ext != ".splat":
        return "spz"
    if ext == ".spz":
        return "spz"  # read_spz explains what is wrong with it
    if ext == ".splat":
        return "splat"
    if ext == ".ply":
        return "ply"
    raise SceneFormatError(
        f"{path}: unrecognised scene format (extension {ext or 'none'!r}); supported: {SUPPORTED_FORMATS}"
    )


def load_scene(path) -> Scene:
    """Read a scene file of any supported format (see module doc) into a ``Scene``."""
    fmt = detect_format(path)
    if fmt == "ply":
        from refcodec.io.ply import read_ply

        return read_ply(path)
    if fmt == "compressed_ply":
        from refcodec.io.compressed_ply import read_compressed_ply

        return read_compressed_ply(path)
    if fmt == "spz":
        from refcodec.io.spz import read_spz

        return read_spz(path)
    from refcodec.io.splat import read_splat

    return read_splat(path)
