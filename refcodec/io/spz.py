"""Read and write Niantic SPZ files (versions 2, 3 and 4).

Container (after nianticlabs/spz ``load-spz.cc`` and its README):

- **v1-v3** ("legacy"): the whole file is one gzip stream holding a 16-byte header
  ``magic u32 = 0x5053474e ('NGSP'), version u32, numPoints u32, shDegree u8,
  fractionalBits u8, flags u8, reserved u8`` followed by the attribute arrays, each for all
  points: positions, alphas, colours, scales, rotations, SH. With flag ``0x2`` extension
  records follow the SH block (ignored here).
- **v4**: *not* gzip. A plaintext 32-byte header ``magic, version, numPoints, shDegree,
  fractionalBits, flags, numStreams u8, tocByteOffset u32, reserved[12]``; extension records
  (flag ``0x2``) in ``[32, tocByteOffset)``; at ``tocByteOffset`` a table of ``numStreams``
  entries ``(compressedSize u64, uncompressedSize u64)``; then the streams back to back, each
  an independent **Zstandard** frame, in the same attribute order with empty streams omitted
  (5 streams for SH degree 0, else 6). The file must end where the last stream ends.

Attributes (per point): position 3 x 24-bit signed fixed point with ``fractionalBits``
fraction bits; alpha u8 = ``sigmoid(opacity) * 255``; colour u8 = ``f_dc * 0.15 * 255 + 127.5``;
scale u8 = ``(log_scale + 10) * 16``; rotation (quaternion stored x, y, z, w) as v2: 3 bytes
``x, y, z`` = ``q * 127.5 + 127.5`` with ``w >= 0`` implied, v3+: 4 bytes "smallest three" (u32:
2-bit index of the largest component, then for the other three in ascending index order a
sign bit and a 9-bit magnitude scaled by ``sqrt(1/2)``); SH u8 = ``x * 128 + 128``, stored
coefficient-major with the colour channel fastest. Decoding clamps alpha to ``[1e-6, 1 - 1e-6]``
before the logit (as the other importers do, so alpha 0 and 255 stay finite and within 1e-6);
the reference loader clamps to ``[1/255, 254/255]`` instead, so its opacity differs for those
two byte values only.

Axes: SPZ stores RUB (OpenGL: x right, y up, z back); INRIA PLY is RDF (y down, z forward).
Converting is a 180-degree turn about x: positions ``(x, -y, -z)``, quaternion
``(w, x, -y, -z)``, and SH coefficient ``k`` multiplied by ``_SH_FLIP_RUB_RDF[k]`` (the sign
each real SH basis function takes under ``y -> -y, z -> -z``). ``read_spz`` returns INRIA
(RDF) axes and ``write_spz`` expects them.

SPZ allows SH degree 4; ``Scene`` stops at 3, so a degree-4 file is read with its degree-4
band dropped (degree 3).

Zstandard for v4 comes from the first of: ``compression.zstd`` (Python 3.14+),
``backports.zstd``, ``zstandard``, ``pyzstd``, or the system ``libzstd`` through ctypes.
Without any of them a v4 file raises ``SceneFormatError`` saying what to install
(``pip install zstandard``); v2/v3 need only the standard library.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gzip
import math
import os
import struct
import zlib

import numpy as np

from refcodec.format.errors import SceneFormatError
from refcodec.io.splat import logit_of_alpha, normalized_quaternions, quantize_u8, read_file_bytes, sigmoid
from refcodec.format.scene import Scene

__all__ = ["read_spz", "write_spz", "decode_spz_bytes", "encode_spz_bytes", "zstd_available"]

MAGIC = 0x5053474E
GZIP_MAGIC = b"\x1f\x8b"
LEGACY_HEADER = struct.Struct("<IIIBBBB")          # 16 bytes
V4_HEADER = struct.Struct("<IIIBBBBI12s")          # 32 bytes
FLAG_ANTIALIASED = 0x1
FLAG_HAS_EXTENSIONS = 0x2
COLOR_SCALE = 0.15
SQRT1_2 = 0.7071067811865476
MAX_FRACTIONAL_BITS = 24
MAX_POINTS = 1 << 28               # far above any real scene; keeps int arithmetic sane
MAX_COMPRESSION_RATIO = 1100       # gzip (deflate) cannot exceed ~1032:1
MAX_ZSTD_RATIO = 1024              # the reference decoder's own sanity bound
ZSTD_MAX_EXPANSION = 1 << 15       # no Zstandard frame expands more (an RLE block: 4 B -> 128 KiB)
_SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}  # coefficients per channel (without DC)

# Sign of each real SH basis function (INRIA order, coefficient 1..15) under a 180-degree turn
# about x (y -> -y, z -> -z): band 1 ~ (y, z, x); band 2 ~ (xy, yz, 3z^2-1, xz, x^2-y^2);
# band 3 ~ (y(3x^2-y^2), xyz, y(5z^2-1), z(5z^2-3), x(5z^2-1), z(x^2-y^2), x(x^2-3y^2)).
_SH_FLIP_RUB_RDF = np.array(
    [-1, -1, 1,
     -1, 1, 1, -1, 1,
     -1, 1, -1, -1, 1, -1, 1], dtype=np.float32)


# ----------------------------------------------------------------------------- zstd backend

class _Zstd:
    """Minimal (de)compression over whichever Zstandard implementation is importable.

    ``decompress(src, size)`` returns at most ``size + 1`` bytes (so a caller can tell "too
    long" from "exact") and never allocates much more than that, whatever the frame claims.
    """

    def __init__(self) -> None:
        self.name = None
        self._decompress = None
        self._compress = None
        for probe in (self._std, self._zstandard, self._pyzstd, self._libzstd):
            if probe():
                break

    def _std(self) -> bool:
        for modname in ("compression.zstd", "backports.zstd"):
            try:
                mod = __import__(modname, fromlist=["ZstdDecompressor"])
            except ImportError:
                continue

            def dec(src, size, mod=mod):
                out, rest = b"", bytes(src)
                while rest and len(out) <= size:  # concatenated frames, as ZSTD_decompress allows
                    d = mod.ZstdDecompressor()
                    out += d.decompress(rest, max_length=size + 1 - len(out))
                    if not d.eof:
                        break
                    rest = d.unused_data
                return out

            self.name, self._decompress = modname, dec
            self._compress = lambda data, level, mod=mod: mod.compress(data, level=level)
            return True
        return False

    def _zstandard(self) -> bool:
        try:
            import zstandard  # type: ignore
        except ImportError:
            return False

        def dec(src, size):
            reader = zstandard.ZstdDecompressor().stream_reader(bytes(src), read_across_frames=True)
            with reader:
                return reader.read(size + 1)

        self.name, self._decompress = "zstandard", dec
        self._compress = lambda data, level: zstandard.ZstdCompressor(level=level).compress(data)
        return True

    def _pyzstd(self) -> bool:
        try:
            import pyzstd  # type: ignore
        except ImportError:
            return False

        def dec(src, size):
            return pyzstd.EndlessZstdDecompressor().decompress(bytes(src), max_length=size + 1)

        self.name, self._decompress = "pyzstd", dec
        self._compress = lambda data, level: pyzstd.compress(data, level)
        return True

    def _libzstd(self) -> bool:
        lib = None
        for cand in (ctypes.util.find_library("zstd"), "libzstd.so.1", "libzstd.dylib"):
            if cand:
                try:
                    lib = ctypes.CDLL(cand)
                    break
                except OSError:
                    continue
        if lib is None:
            return False
        size_t, vp = ctypes.c_size_t, ctypes.c_void_p
        lib.ZSTD_decompress.restype = size_t
        lib.ZSTD_decompress.argtypes = [vp, size_t, ctypes.c_char_p, size_t]
        lib.ZSTD_compress.restype = size_t
        lib.ZSTD_compress.argtypes = [vp, size_t, ctypes.c_char_p, size_t, ctypes.c_int]
        lib.ZSTD_compressBound.restype = size_t
        lib.ZSTD_compressBound.argtypes = [size_t]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_isError.argtypes = [size_t]

        def dec(src, size):
            src = bytes(src)
            dst = ctypes.create_string_buffer(max(size, 1))
            ret = lib.ZSTD_decompress(dst, size, src, len(src))
            if lib.ZSTD_isError(ret):  # includes "frame larger than the declared size"
                raise ValueError("invalid frame or wrong size")
            return dst.raw[:ret]

        def comp(data, level):
            bound = lib.ZSTD_compressBound(len(data))
            dst = ctypes.create_string_buffer(max(bound, 1))
            ret = lib.ZSTD_compress(dst, bound, data, len(data), level)
            if lib.ZSTD_isError(ret):
                raise RuntimeError("zstd compression failed")
            return dst.raw[:ret]

        self.name, self._decompress, self._compress = "libzstd (ctypes)", dec, comp
        return True

    @property
    def available(self) -> bool:
        return self._decompress is not None

    def decompress(self, src, size: int) -> bytes:
        if not self.available:
            raise SceneFormatError(
                "SPZ version 4 is Zstandard-compressed and no Zstandard decoder is available: "
                "pip install zstandard (or backports.zstd), or install the system libzstd"
            )
        try:
            return self._decompress(src, size)
        except Exception as exc:  # any backend error on hostile input
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SceneFormatError(f"corrupt Zstandard stream ({msg})") from None

    def compress(self, data: bytes, level: int = 12) -> bytes:
        if not self.available:
            raise RuntimeError("writing SPZ v4 needs Zstandard: pip install zstandard")
        return self._compress(bytes(data), level)


_ZSTD = None


def _zstd() -> _Zstd:
    global _ZSTD
    if _ZSTD is None:
        _ZSTD = _Zstd()
    return _ZSTD


def zstd_available() -> bool:
    """Whether SPZ v4 (Zstandard) files can be read and written here."""
    return _zstd().available


# ----------------------------------------------------------------------------- layout

def _field_sizes(n: int, version: int, sh_degree: int) -> list[int]:
    """Byte sizes of positions, alphas, colours, scales, rotations, SH for n points."""
    rot = 4 if version >= 3 else 3
    pos = 6 if version == 1 else 9
    return [n * pos, n, n * 3, n * 3, n * rot, n * _SH_DIM[sh_degree] * 3]


def _check_header(name, version, n, sh_degree, fractional_bits, bytes_per_point_bound) -> None:
    if n == 0:
        raise SceneFormatError(f"{name}: SPZ file holds no points")
    if n > MAX_POINTS or n > bytes_per_point_bound:
        raise SceneFormatError(
            f"{name}: SPZ header claims {n} points, more than a file of this size can hold"
        )
    if sh_degree > 4:
        raise SceneFormatError(f"{name}: SPZ SH degree {sh_degree} is not supported (0..4)")
    if fractional_bits > MAX_FRACTIONAL_BITS:
        raise SceneFormatError(
            f"{name}: SPZ fractionalBits {fractional_bits} out of range (0..{MAX_FRACTIONAL_BITS})"
        )


# ----------------------------------------------------------------------------- read

def decode_spz_bytes(data: bytes, name: str = "SPZ data") -> Scene:
    """Decode the bytes of an ``.spz`` file (any version 2..4) to a Scene in INRIA axes."""
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] == MAGIC:
        return _decode_v4(data, name)
    if data[:2] == GZIP_MAGIC:
        return _decode_legacy(data, name)
    raise SceneFormatError(
        f"{name}: not an SPZ file (expected a gzip stream or the 'NGSP' magic of version 4)"
    )


def read_spz(path) -> Scene:
    """Read a Niantic ``.spz`` file (versions 2, 3 and 4) into a ``Scene`` in INRIA (RDF) axes."""
    return decode_spz_bytes(read_file_bytes(path), name=os.fspath(path))


class _Gunzip:
    """Incremental gzip reader that never inflates more than it is asked for."""

    def __init__(self, data: bytes, name: str) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._src = data
        self._name = name

    def read(self, want: int) -> bytes:
        """Up to ``want`` more bytes (fewer only if the stream ends)."""
        out = bytearray()
        try:
            while len(out) < want and not self._d.eof:
                before = len(self._src)
                chunk = self._d.decompress(self._src, want - len(out))
                self._src = self._d.unconsumed_tail
                out += chunk
                if not self._src or (not chunk and len(self._src) == before):
                    break  # input exhausted (or no progress possible)
        except zlib.error as exc:
            raise SceneFormatError(f"{self._name}: corrupt gzip stream in SPZ file ({exc})") from None
        return bytes(out)

    def finish(self, max_trailing: int) -> int:
        """Inflate to the end of the stream (which checks its CRC), allowing at most
        ``max_trailing`` more bytes (extension records); returns how many there were."""
        extra = 0
        while not self._d.eof:
            got = len(self.read(min(1 << 20, max_trailing - extra + 1)))
            extra += got
            if extra > max_trailing:
                raise SceneFormatError(f"{self._name}: SPZ gzip stream has unexpected trailing data")
            if got == 0 and not self._d.eof:
                raise SceneFormatError(f"{self._name}: SPZ file truncated: gzip stream does not end")
        return extra


def _decode_legacy(data: bytes, name: str) -> Scene:
    gz = _Gunzip(data, name)
    head = gz.read(LEGACY_HEADER.size)
    if len(head) < LEGACY_HEADER.size:
        raise SceneFormatError(f"{name}: SPZ file truncated: gzip stream ends inside the header")
    magic, version, n, sh_degree, fbits, flags, _ = LEGACY_HEADER.unpack(head)
    if magic != MAGIC:
        raise SceneFormatError(f"{name}: not an SPZ file: bad magic 0x{magic:08x} inside the gzip stream")
    if version not in (2, 3):
        if version == 1:
            raise SceneFormatError(f"{name}: SPZ version 1 (float16 positions) is not supported")
        raise SceneFormatError(f"{name}: unsupported SPZ version {version} in a gzip stream (expected 2 or 3)")
    per_point = sum(_field_sizes(1, version, min(sh_degree, 4)))
    _check_header(name, version, n, sh_degree, fbits, len(data) * MAX_COMPRESSION_RATIO // per_point)
    need = n * per_point
    raw = gz.read(need)
    if len(raw) < need:
        raise SceneFormatError(
            f"{name}: SPZ file truncated: {len(raw)} payload bytes, {need} expected for {n} points"
        )
    # extension records (flag 0x2) trail the SH block: skip up to 1 MiB of them, then the
    # stream must end (which makes zlib check its CRC)
    gz.finish(max_trailing=1 << 20)
    fields = _split(memoryview(raw), _field_sizes(n, version, sh_degree))
    return _unpack(fields, n, version, sh_degree, fbits)


def _decode_v4(data: bytes, name: str) -> Scene:
    size = len(data)
    if size < V4_HEADER.size:
        raise SceneFormatError(f"{name}: SPZ file truncated: {size} bytes, header needs {V4_HEADER.size}")
    magic, version, n, sh_degree, fbits, flags, num_streams, toc_off, _ = V4_HEADER.unpack_from(data)
    if version != 4:
        raise SceneFormatError(
            f"{name}: unsupported SPZ version {version} with a plaintext header (expected 4; "
            "versions 2-3 are gzip-compressed)"
        )
    _check_header(name, version, n, sh_degree, fbits, size * MAX_ZSTD_RATIO // 9)
    expected = [s for s in _field_sizes(n, version, sh_degree) if s]
    if num_streams != len(expected):
        raise SceneFormatError(
            f"{name}: SPZ v4 declares {num_streams} streams, expected {len(expected)} for SH degree {sh_degree}"
        )
    if toc_off < V4_HEADER.size or toc_off + 16 * num_streams > size:
        raise SceneFormatError(f"{name}: SPZ v4 table of contents offset {toc_off} out of range")
    toc = np.frombuffer(data, dtype="<u8", count=2 * num_streams, offset=toc_off).reshape(-1, 2)
    offset = toc_off + 16 * num_streams
    parts = []
    for i, ((csize, usize), want) in enumerate(zip(toc.tolist(), expected)):
        if usize != want:
            raise SceneFormatError(
                f"{name}: SPZ v4 stream {i} holds {usize} bytes, expected {want} for {n} points"
            )
        if csize > size - offset:
            raise SceneFormatError(f"{name}: SPZ file truncated: stream {i} runs past the end of the file")
        if want > csize * ZSTD_MAX_EXPANSION + 1024:
            raise SceneFormatError(
                f"{name}: SPZ v4 stream {i} cannot expand {csize} compressed bytes to {want}"
            )
        parts.append((offset, csize, want))
        offset += csize
    if offset != size:
        raise SceneFormatError(f"{name}: SPZ v4 streams end at byte {offset}, file has {size}")
    zstd = _zstd()
    fields = []
    for i, (off, csize, want) in enumerate(parts):
        out = zstd.decompress(memoryview(data)[off:off + csize], want)
        if len(out) != want:
            raise SceneFormatError(
                f"{name}: SPZ v4 stream {i} decompressed to {len(out)} bytes, expected {want}"
            )
        fields.append(out)
    if sh_degree == 0:
        fields.append(b"")
    return _unpack(fields, n, version, sh_degree, fbits)


def _split(buf: memoryview, sizes: list[int]) -> list[memoryview]:
    out, off = [], 0
    for s in sizes:
        out.append(buf[off:off + s])
        off += s
    return out


def _unpack(fields, n: int, version: int, sh_degree: int, fbits: int) -> Scene:
    pos_b, alpha_b, color_b, scale_b, rot_b, sh_b = (np.frombuffer(f, dtype=np.uint8) for f in fields)

    # positions: 24-bit little-endian two's complement
    p = pos_b.reshape(n, 3, 3).astype(np.int32)
    fixed = p[..., 0] | (p[..., 1] << 8) | (p[..., 2] << 16)
    fixed = (fixed ^ 0x800000) - 0x800000
    positions = np.ldexp(fixed.astype(np.float64), -fbits)

    opacity = logit_of_alpha(alpha_b.astype(np.float64) / 255.0)
    sh_dc = (color_b.reshape(n, 3).astype(np.float64) / 255.0 - 0.5) / COLOR_SCALE
    scales = scale_b.reshape(n, 3).astype(np.float64) / 16.0 - 10.0

    if version >= 3:
        xyzw = _unpack_smallest_three(rot_b.reshape(n, 4))
    else:
        xyz = rot_b.reshape(n, 3).astype(np.float64) / 127.5 - 1.0
        w = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", xyz, xyz)))
        xyzw = np.concatenate([xyz, w[:, None]], axis=1)

    dim = _SH_DIM[sh_degree]
    keep = min(dim, 15)
    if dim:
        sh = (sh_b.reshape(n, dim, 3)[:, :keep, :].astype(np.float64) - 128.0) / 128.0
    else:
        sh = np.zeros((n, 0, 3))

    # RUB -> RDF (180 degrees about x)
    positions[:, 1:] *= -1.0
    rotations = np.stack([xyzw[:, 3], xyzw[:, 0], -xyzw[:, 1], -xyzw[:, 2]], axis=1)
    sh = sh * _SH_FLIP_RUB_RDF[:keep, None]
    sh_rest = sh.transpose(0, 2, 1).reshape(n, 3 * keep)  # channel-major (INRIA f_rest order)
    return Scene(positions, opacity, scales, rotations, sh_dc, sh_rest)


def _unpack_smallest_three(b: np.ndarray) -> np.ndarray:
    comp = b.astype(np.uint32)
    comp = comp[:, 0] | (comp[:, 1] << 8) | (comp[:, 2] << 16) | (comp[:, 3] << 24)
    largest = (comp >> 30).astype(np.intp)
    n = len(comp)
    vals = np.empty((n, 3))
    for j in range(3):  # j = 0: lowest 10 bits = highest of the three stored indices
        chunk = comp >> np.uint32(10 * j)
        mag = (chunk & 0x1FF).astype(np.float64) * (SQRT1_2 / 511.0)
        neg = ((chunk >> 9) & 1).astype(bool)
        vals[:, 2 - j] = np.where(neg, -mag, mag)
    # the three stored indices (ascending) for each possible largest index
    others = np.array([[k for k in range(4) if k != L] for L in range(4)], dtype=np.intp)
    q = np.zeros((n, 4))
    rows = np.arange(n)
    idx = others[largest]
    q[rows[:, None], idx] = vals
    q[rows, largest] = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", vals, vals)))
    return q


# ----------------------------------------------------------------------------- write

def encode_spz_bytes(scene: Scene, version: int = 3, sh1_bits: int = 5, sh_rest_bits: int = 4,
                     antialiased: bool = False) -> bytes:
    """Encode a scene (INRIA axes) as ``.spz`` bytes of the given version (2, 3 or 4)."""
    if version not in (2, 3, 4):
        raise ValueError(f"SPZ version {version} cannot be written (2, 3 or 4)")
    if not (1 <= sh1_bits <= 8 and 1 <= sh_rest_bits <= 8):
        raise ValueError("sh1_bits and sh_rest_bits must be in 1..8")
    n = scene.n
    if n == 0:
        raise ValueError("SPZ cannot hold an empty scene")
    degree = scene.sh_degree

    # positions: pick the most fractional bits (<= 12, the reference's choice) that fit 24 bits
    pos = scene.positions.astype(np.float64).copy()
    pos[:, 1:] *= -1.0  # RDF -> RUB
    extent = float(np.max(np.abs(pos))) if n else 0.0
    if not math.isfinite(extent):
        raise ValueError("scene has non-finite positions")
    fbits = 12
    while fbits > 0 and round(extent * (1 << fbits)) > 0x7FFFFF:
        fbits -= 1
    if round(extent * (1 << fbits)) > 0x7FFFFF:
        raise ValueError(f"positions up to {extent:g} do not fit SPZ's 24-bit fixed point")
    fixed = np.round(pos * (1 << fbits)).astype(np.int64) & 0xFFFFFF
    pos_b = np.stack([fixed & 0xFF, (fixed >> 8) & 0xFF, (fixed >> 16) & 0xFF], axis=-1).astype(np.uint8)

    alpha_b = quantize_u8(sigmoid(scene.opacity) * 255.0)
    color_b = quantize_u8(scene.sh_dc.astype(np.float64) * (COLOR_SCALE * 255.0) + 0.5 * 255.0)
    scale_b = quantize_u8((scene.scales.astype(np.float64) + 10.0) * 16.0)

    q = normalized_quaternions(scene.rotations)          # w, x, y, z (RDF)
    xyzw = np.stack([q[:, 1], -q[:, 2], -q[:, 3], q[:, 0]], axis=1)  # RUB, x y z w
    if version >= 3:
        rot_b = _pack_smallest_three(xyzw)
    else:
        sign = np.where(xyzw[:, 3:4] < 0, -1.0, 1.0)
        rot_b = quantize_u8(xyzw[:, :3] * sign * 127.5 + 127.5)

    dim = _SH_DIM[degree]
    if dim:
        sh = scene.sh_rest.astype(np.float64).reshape(n, 3, dim).transpose(0, 2, 1)  # (n, k, c)
        sh = sh * _SH_FLIP_RUB_RDF[:dim, None]
        bucket = np.where(np.arange(dim) < 3, 1 << (8 - sh1_bits), 1 << (8 - sh_rest_bits))[None, :, None]
        qv = np.round(np.nan_to_num(sh) * 128.0).clip(-1 << 20, 1 << 20).astype(np.int64) + 128
        qv = (qv + bucket // 2) // bucket * bucket
        sh_b = np.clip(qv, 0, 255).astype(np.uint8)
    else:
        sh_b = np.zeros((n, 0), np.uint8)

    fields = [pos_b.tobytes(), alpha_b.tobytes(), color_b.tobytes(), scale_b.tobytes(),
              rot_b.tobytes(), sh_b.tobytes()]
    flags = FLAG_ANTIALIASED if antialiased else 0
    if version < 4:
        header = LEGACY_HEADER.pack(MAGIC, version, n, degree, fbits, flags, 0)
        return gzip.compress(header + b"".join(fields), compresslevel=6, mtime=0)
    zstd = _zstd()
    streams = [f for f in fields if f]
    comp = [zstd.compress(f) for f in streams]
    header = V4_HEADER.pack(MAGIC, 4, n, degree, fbits, flags, len(streams), V4_HEADER.size, bytes(12))
    toc = np.array([[len(c), len(f)] for c, f in zip(comp, streams)], dtype="<u8").tobytes()
    return header + toc + b"".join(comp)


def _pack_smallest_three(xyzw: np.ndarray) -> np.ndarray:
    n = len(xyzw)
    a = np.abs(xyzw)
    largest = np.argmax(a, axis=1)  # first maximum, as the reference's strict '>' scan
    rows = np.arange(n)
    negate = xyzw[rows, largest] < 0
    others = np.array([[k for k in range(4) if k != L] for L in range(4)], dtype=np.intp)
    idx = others[largest]
    vals = xyzw[rows[:, None], idx]                              # (n, 3), ascending index
    negbit = ((vals < 0) ^ negate[:, None]).astype(np.uint32)
    mag = np.floor(511.0 * (np.abs(vals) / SQRT1_2) + 0.5).clip(0, 511).astype(np.uint32)
    comp = largest.astype(np.uint32)
    for j in range(3):
        comp = (comp << np.uint32(10)) | (negbit[:, j] << np.uint32(9)) | mag[:, j]
    return np.stack([comp & 0xFF, (comp >> 8) & 0xFF, (comp >> 16) & 0xFF, (comp >> 24) & 0xFF],
                    axis=1).astype(np.uint8)


def write_spz(path, scene: Scene, version: int = 3, sh1_bits: int = 5, sh_rest_bits: int = 4,
              antialiased: bool = False) -> None:
    """Write a scene (INRIA axes) as Niantic ``.spz``: version 2 or 3 (gzip, standard library)
    or 4 (Zstandard; needs a zstd backend, see ``zstd_available``). Lossy: 24-bit positions,
    8-bit everything else, SH quantized to ``sh1_bits`` / ``sh_rest_bits`` as the reference."""
    data = encode_spz_bytes(scene, version=version, sh1_bits=sh1_bits, sh_rest_bits=sh_rest_bits,
                            antialiased=antialiased)
    with open(os.fspath(path), "wb") as f:
        f.write(data)
