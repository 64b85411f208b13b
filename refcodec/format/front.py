"""Reading and writing the front of an LGS file: fixed header, scene info, ROI table, table of
contents and the front CRC (spec 3, spec 4). Uses the structs of ``schema`` only.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction

from construct import ConstructError

from refcodec.format import schema as S
from refcodec.format.errors import (
    BadMagicError, ChecksumError, CorruptError, LimitError, TruncatedError, UnsupportedVersionError,
)

MAX_FRONT_LENGTH = 1 << 28  # spec 3.1: a front larger than 256 MiB is rejected (LimitError)
# spec 4.2: the reference decoder's default limit on the decoded output, 2 GiB of float32 values
# (3 + C per Gaussian): 36M Gaussians at SH degree 0, 9M at degree 3.
DEFAULT_MAX_OUTPUT_BYTES = 1 << 31


def default_max_gaussians(sh_degree: int) -> int:
    return DEFAULT_MAX_OUTPUT_BYTES // (4 * (3 + S.num_channels(sh_degree)))


@dataclass
class FrontMatter:
    """The parsed front: construct containers for info, regions and toc, plus its byte length."""
    version: tuple
    info: object
    regions: list
    toc: list
    front_length: int
    units: list = None  # Unit, in file order (set by read_front)

    @property
    def data_start(self) -> int:
        return self.front_length

    def segment_end(self, i: int) -> int:
        e = self.toc[i]
        return e.offset + e.length


def _check_fixed(data: bytes) -> object:
    """spec 4.1 steps 1-3: magic, version, front length."""
    n = len(data)
    head = data[:8]
    if head != S.MAGIC[: len(head)]:
        raise BadMagicError("not an LGS file (bad magic)")
    if n < S.FIXED_HEADER_SIZE:
        raise TruncatedError(f"file ends inside the fixed header ({n} of {S.FIXED_HEADER_SIZE} bytes)")
    fixed = S.FixedHeader.parse(data[: S.FIXED_HEADER_SIZE])
    if fixed.version_major not in S.READABLE_MAJORS:
        raise UnsupportedVersionError(
            f"LGS version {fixed.version_major}.{fixed.version_minor} is not supported "
            f"(this decoder reads {', '.join(f'{v}.x' for v in S.READABLE_MAJORS)})")
    if fixed.flags != 0 and fixed.version_minor == 0:   # spec 4.1 step 2 (1.3): a front extension point
        raise CorruptError(f"reserved header flags are {fixed.flags:#06x}, must be zero")
    if fixed.front_length < S.FIXED_HEADER_SIZE + 4:
        raise CorruptError(f"front length {fixed.front_length} is too small")
    if fixed.front_length > MAX_FRONT_LENGTH:
        raise LimitError(f"front length {fixed.front_length} exceeds the limit of {MAX_FRONT_LENGTH} bytes")
    if n < fixed.front_length:
        raise TruncatedError(
            f"file ends inside the header/table of contents ({n} of {fixed.front_length} bytes)")
    return fixed


def read_front(data: bytes, max_gaussians: int | None = None, limits: "Limits | None" = None) -> FrontMatter:
    """Parse and validate the front of ``data`` (a whole file or any prefix of it). spec 4.1.

    Work is linear in the front's size: the ROI table and the TOC are read with ``struct`` (the
    same layout as ``schema.Region`` and ``schema.TocEntry``), units are grouped in one pass.
    ``limits``: the spec 9.7 limits to enforce (default ``Limits()``; ``Limits.trusted()`` lifts
    the ones tied to the file size)."""
    fixed = _check_fixed(data)
    fl = fixed.front_length
    stored_crc = int.from_bytes(data[fl - 4: fl], "little")
    head = bytes(data[: fl - 4])
    if zlib.crc32(head) != stored_crc:
        raise ChecksumError("header/table of contents checksum mismatch")
    body = head[S.FIXED_HEADER_SIZE:]
    # spec 4.1 step 5: counts that cannot fit in the front are rejected before parsing arrays.
    try:
        info = S.SceneInfo.parse(body)
    except ConstructError as e:
        raise CorruptError(f"scene info is malformed: {_short(e)}") from None
    limits = limits or Limits()
    entries = max(info.num_segments, info.num_regions * info.num_layers)
    if limits.max_entries is not None and entries > limits.max_entries:
        raise LimitError(f"{info.num_segments:,} TOC entries and {info.num_regions:,} x {info.num_layers} region "
                         f"counts: more than {limits.max_entries:,} (spec 9.7 d)")
    min_region = S.MIN_REGION_SIZE + 4 * info.num_layers      # counts[L] are part of a record
    if info.num_segments * S.MIN_TOC_ENTRY_SIZE + info.num_regions * min_region > len(body):
        raise LimitError(
            f"{info.num_segments} segments and {info.num_regions} regions cannot fit in a "
            f"{fl}-byte front")
    pos = _info_size(info)
    regions, pos = _parse_regions(body, pos, info.num_regions, info.num_layers)
    toc, pos = _parse_toc(body, pos, info.num_segments)
    if pos != len(body):  # spec 4.1 step 6: the content must end exactly at the CRC
        raise CorruptError(f"front is malformed: {len(body) - pos} bytes after the table of contents")
    fm = FrontMatter((fixed.version_major, fixed.version_minor), info, regions, toc, fl)
    limits = limits or Limits()
    if max_gaussians is None:
        max_gaussians = limits.max_gaussians or default_max_gaussians(info.sh_degree)
    _validate(fm, max_gaussians)
    fm.units = units(fm)
    check_density(fm, limits)
    return fm


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def _info_size(info) -> int:
    return len(S.SceneInfo.build(info))


class _Record:
    """A parsed ROI record, prompt or TOC entry: attribute and item access, like construct's
    containers (``e.deps`` or ``e["deps"]``)."""
    __slots__ = ()

    def __getitem__(self, k):
        return getattr(self, k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


class TocEntry(_Record):
    """spec 3.4 (schema.TocEntry)."""
    __slots__ = ("layer", "region", "kind", "flags", "reserved", "offset", "length", "crc32", "deps")

    def __init__(self, layer, region, kind, flags, reserved, offset, length, crc32, deps):
        self.layer, self.region, self.kind, self.flags, self.reserved = layer, region, kind, flags, reserved
        self.offset, self.length, self.crc32, self.deps = offset, length, crc32, deps


class Prompt(_Record):
    """spec 3.3 (schema.Prompt)."""
    __slots__ = ("view", "flags", "x", "y", "threshold")

    def __init__(self, view, flags, x, y, threshold):
        self.view, self.flags, self.x, self.y, self.threshold = view, flags, x, y, threshold


class Region(_Record):
    """spec 3.3 (schema.Region)."""
    __slots__ = ("region_id", "label", "source", "flags", "bbox_min", "bbox_max", "params", "prompts", "counts")

    def __init__(self, region_id, label, source, flags, bbox_min, bbox_max, params, prompts, counts):
        self.region_id, self.label, self.source, self.flags = region_id, label, source, flags
        self.bbox_min, self.bbox_max, self.params = bbox_min, bbox_max, params
        self.prompts, self.counts = prompts, counts


_TOC_HEAD = struct.Struct("<BHBBBQIIB")        # spec 3.4, up to num_deps (23 bytes)
_REGION_MID = struct.Struct("<BB6f")           # source, flags, bbox_min, bbox_max
_PROMPT = struct.Struct("<HHfff")


def _need(body: bytes, pos: int, n: int, what: str) -> None:
    if pos + n > len(body):
        raise CorruptError(f"front is malformed: it ends inside {what}")


def _parse_regions(body: bytes, pos: int, count: int, layers: int) -> tuple[list, int]:
    """spec 3.3: ``count`` region records from ``body[pos:]``; the ROI table's end."""
    out = []
    cnt = struct.Struct(f"<{layers}I")
    for i in range(count):
        where = f"region record {i}"
        _need(body, pos, 3, where)
        rid, n = struct.unpack_from("<HB", body, pos)
        pos += 3
        _need(body, pos, n + _REGION_MID.size + 1, where)
        try:
            label = body[pos: pos + n].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptError(f"region {i}: the label is not valid UTF-8") from None
        pos += n
        source, flags, *bb = _REGION_MID.unpack_from(body, pos)
        pos += _REGION_MID.size
        npar = body[pos]
        _need(body, pos + 1, 4 * npar + 1, where)
        params = list(struct.unpack_from(f"<{npar}f", body, pos + 1))
        pos += 1 + 4 * npar
        npr = body[pos]
        _need(body, pos + 1, _PROMPT.size * npr + cnt.size, where)
        prompts = [Prompt(*_PROMPT.unpack_from(body, pos + 1 + _PROMPT.size * k)) for k in range(npr)]
        pos += 1 + _PROMPT.size * npr
        counts = list(cnt.unpack_from(body, pos))
        pos += cnt.size
        out.append(Region(rid, label, source, flags, bb[:3], bb[3:], params, prompts, counts))
    return out, pos


def _parse_toc(body: bytes, pos: int, count: int) -> tuple[list, int]:
    """spec 3.4: ``count`` TOC entries from ``body[pos:]``; the TOC's end."""
    out = []
    head, hs, end = _TOC_HEAD.unpack_from, _TOC_HEAD.size, len(body)
    for i in range(count):
        if pos + hs > end:
            raise CorruptError(f"front is malformed: it ends inside TOC entry {i}")
        layer, region, kind, flags, reserved, offset, length, crc, nd = head(body, pos)
        pos += hs
        if pos + 4 * nd > end:
            raise CorruptError(f"front is malformed: it ends inside TOC entry {i}")
        deps = list(struct.unpack_from(f"<{nd}I", body, pos)) if nd else []
        pos += 4 * nd
        out.append(TocEntry(layer, region, kind, flags, reserved, offset, length, crc, deps))
    return out, pos


# spec 4.2: every value of spec 7 is finite. |q| <= 2^31 and |e_j| <= 8 (5.3.1) give
# |value| <= 2^39 * steps[j]; voxel coordinates are < 2^16.
MAX_STEP = 2.0 ** 88
MAX_POSITION = 2 ** 127


def _finite_grid(origin, voxel) -> bool:
    """spec 4.2: |origin[a]| + 2^16 * voxel_size[a] <= 2^127, in exact arithmetic."""
    return all(abs(Fraction(o)) + (Fraction(v) * 65536) <= MAX_POSITION for o, v in zip(origin, voxel))


def _validate(fm: FrontMatter, max_gaussians: int) -> None:
    """spec 4.2: semantic checks on the front."""
    info = fm.info
    strict_ext = fm.version[1] == 0      # spec 4.2 (1.3): front extension points are ignored when minor > 0
    if strict_ext and any(info.reserved):
        raise CorruptError("reserved scene-info bytes must be zero")
    for name in ("origin", "voxel_size", "steps"):
        vals = getattr(info, name)
        if not all(math.isfinite(v) for v in vals):
            raise CorruptError(f"{name} holds a non-finite value")
    if not all(v > 0 for v in info.voxel_size) or not all(v > 0 for v in info.steps):
        raise CorruptError("voxel sizes and quantization steps must be positive")
    if not all(v <= MAX_STEP for v in info.steps):
        raise CorruptError("a quantization step exceeds 2^88 (its values could overflow binary32)")
    if not _finite_grid(info.origin, info.voxel_size):
        raise CorruptError("origin and voxel sizes put positions beyond 2^127 (they could overflow binary32)")
    total = 0
    for i, r in enumerate(fm.regions):
        if r.region_id != i:
            raise CorruptError(f"region {i} carries id {r.region_id}")
        if strict_ext and (r.flags != 0 or any(p.flags & ~1 for p in r.prompts)):
            raise CorruptError(f"region {i}: reserved flags must be zero")
        if strict_ext and r.source not in S.SOURCE_KINDS:
            raise CorruptError(f"region {i}: unknown source kind {r.source}")
        total += sum(r.counts)
    if total != info.total_gaussians:
        raise CorruptError(f"ROI table counts sum to {total}, header says {info.total_gaussians}")
    if total > max_gaussians:
        raise LimitError(f"file declares {total} Gaussians, above this decoder's limit of {max_gaussians}")
    expected = fm.front_length
    toc = fm.toc
    L, R, absent = info.num_layers, info.num_regions, S.SEG_FLAG_ABSENT
    top_layer: dict = {}
    for i, e in enumerate(toc):
        if not 1 <= e.layer <= L or e.region >= R:
            raise CorruptError(f"segment {i}: layer {e.layer} / region {e.region} out of range")
        if strict_ext and (e.reserved != 0 or e.flags & ~absent):
            raise CorruptError(f"segment {i}: reserved fields must be zero")
        critical = not e.kind & S.KIND_ANCILLARY_BIT
        for d in e.deps:
            if d >= i:
                raise CorruptError(f"segment {i}: depends on later segment {d}")
            de = toc[d]
            if de.region != e.region or de.layer > e.layer:
                raise CorruptError(f"segment {i}: dependency {d} is not in the same region at a layer <= {e.layer}")
        if critical:                     # spec 3.5: a region's critical entries in layer order
            if e.layer < top_layer.get(e.region, 0):
                raise CorruptError(f"segment {i}: layer {e.layer} of region {e.region} follows a higher layer")
            top_layer[e.region] = e.layer
        if e.flags & absent:
            if e.offset != 0:
                raise CorruptError(f"segment {i}: absent segment with a non-zero offset")
            continue
        if e.offset != expected:  # spec 3.5: present segments are contiguous, in TOC order
            raise CorruptError(f"segment {i}: offset {e.offset} out of place (expected {expected})")
        expected += e.length
    if expected > (1 << 63):
        raise CorruptError("segment offsets overflow")


@dataclass(frozen=True)
class Limits:
    """The limits of spec 9.7 a decoder may enforce (LimitError). ``Limits()`` is the reference
    decoder's default; ``Limits.trusted()`` (input you trust) lifts the two bounds tied to the
    file's size, (a) and (c), and keeps the steps per lane and the output bound.

    - ``values_per_byte``: a unit's n * (3 + C) decoded values per byte of its critical segments
      (refcodec files: at most 7.9 on the real and generated scenes measured; 256 allowed);
    - ``steps_per_lane``: rANS steps ceil(n / K) of a stream with fewer than 4096 lanes
      (refcodec writes at most 4096; 16384 allowed);
    - ``step_budget``: rANS steps of one decode, ``steps_base + steps_per_byte * |D|``
      (refcodec files: at most 16,000 steps and 0.5 a byte; 2^17 + 2 a byte allowed);
    - ``max_entries``: TOC entries, and region counts (regions x layers), each (9.7 d; a parsed
      entry costs a few hundred bytes of Python objects: 2^18 bound them to about 100 MB);
    - ``max_gaussians``: total_gaussians (None: 2 GiB of output, spec 4.2).
    """
    values_per_byte: float | None = 256.0
    steps_per_lane: int | None = 1 << 14
    steps_base: int | None = 1 << 17
    steps_per_byte: float = 2.0
    max_gaussians: int | None = None
    max_entries: int | None = 1 << 18

    @staticmethod
    def trusted(max_gaussians: int | None = None) -> "Limits":
        return Limits(values_per_byte=None, steps_base=None, max_gaussians=max_gaussians)

    def step_budget(self, nbytes: int) -> int | None:
        return None if self.steps_base is None else int(self.steps_base + self.steps_per_byte * nbytes)


def check_density(fm: FrontMatter, limits: Limits) -> None:
    """spec 9.7 (a): a unit of n Gaussians whose critical segments hold B bytes decodes to
    n * (3 + C) values; more than ``values_per_byte`` a byte: LimitError."""
    if limits.values_per_byte is None:
        return
    per = 3 + S.num_channels(fm.info.sh_degree)
    toc = fm.toc
    for u in fm.units:
        if u.count:
            b = sum(toc[i].length for i in u.critical)
            if u.count * per > limits.values_per_byte * b:
                raise LimitError(
                    f"unit (layer {u.layer}, region {u.region}) declares {u.count:,} Gaussians in {b:,} bytes, "
                    f"more than {limits.values_per_byte:g} decoded values a byte (spec 9.7; --trusted lifts it)")


def build_front(info: dict, regions: list, toc: list, version: tuple = S.BASE_VERSION) -> bytes:
    """Serialize fixed header + front + CRC. ``toc`` offsets must already be final. spec 3."""
    body = S.Front.build(dict(info=info, regions=regions, toc=toc))
    fl = S.FIXED_HEADER_SIZE + len(body) + 4
    fixed = S.FixedHeader.build(dict(magic=S.MAGIC, version_major=version[0],
                                     version_minor=version[1], flags=0, front_length=fl))
    head = fixed + body
    return head + zlib.crc32(head).to_bytes(4, "little")


def assemble(info: dict, regions: list, toc: list, payloads: list,
             version: tuple = S.BASE_VERSION) -> bytes:
    """Lay out a whole file: front, then present payloads contiguously in TOC order (spec 3.5).

    ``toc`` entries are dicts; their ``offset`` is assigned here (0 for absent ones). ``payloads``
    holds bytes for present segments and None for absent ones. ``version``: (major, minor) of the
    fixed header.
    """
    for e in toc:
        e["offset"] = 0
    front_len = len(build_front(info, regions, toc, version))
    pos = front_len
    for e, p in zip(toc, payloads):
        if p is None:
            e["flags"] |= S.SEG_FLAG_ABSENT
            e["offset"] = 0
        else:
            e["flags"] &= ~S.SEG_FLAG_ABSENT
            e["offset"] = pos
            e["length"] = len(p)
            e["crc32"] = zlib.crc32(p)
            pos += len(p)
    front = build_front(info, regions, toc, version)
    assert len(front) == front_len
    return front + b"".join(p for p in payloads if p is not None)


@dataclass
class Unit:
    """The segments of one (layer, region) pair (spec 3.5)."""
    layer: int
    region: int
    count: int
    geometry: int | None = None
    duplicates: int | None = None
    attributes: int | None = None
    ancillary: tuple = ()

    @property
    def critical(self) -> list:
        return [i for i in (self.geometry, self.duplicates, self.attributes) if i is not None]


def units(fm: FrontMatter) -> list:
    """Group the TOC into units, in file order (spec 3.5), checking each unit's make-up. One
    pass over the TOC: linear in its length."""
    by_key: dict = {}
    anc: dict = {}
    first: dict = {}
    for i, e in enumerate(fm.toc):
        key = (e.layer, e.region)
        u = by_key.get(key)
        if u is None:
            u = by_key[key] = Unit(e.layer, e.region, fm.regions[e.region].counts[e.layer - 1])
            first[key] = (1, i)
        if e.kind & S.KIND_ANCILLARY_BIT:
            anc.setdefault(key, []).append(i)
            continue
        name = S.KIND_NAMES.get(e.kind)
        if name is None:
            raise CorruptError(f"segment {i} has unknown critical kind {e.kind}")
        if getattr(u, name) is not None:
            raise CorruptError(f"unit (layer {e.layer}, region {e.region}) has two {name} segments")
        setattr(u, name, i)
        first[key] = min(first[key], (0, i))     # spec 3.5: file order, by the first critical entry
    for key, lst in anc.items():
        by_key[key].ancillary = tuple(lst)
    for u in by_key.values():
        if u.count == 0 and u.critical:
            raise CorruptError(f"unit (layer {u.layer}, region {u.region}) has segments but no Gaussians")
        if u.count and (u.geometry is None or u.attributes is None):
            raise CorruptError(f"unit (layer {u.layer}, region {u.region}) lacks geometry or attributes")
    for r, reg in enumerate(fm.regions):
        for l, c in enumerate(reg.counts, start=1):
            if c and (l, r) not in by_key:
                raise CorruptError(f"unit (layer {l}, region {r}) declares {c} Gaussians but has no segments")
    return sorted(by_key.values(), key=lambda u: first[u.layer, u.region])


def data_end(fm: FrontMatter) -> int:
    """Where the file's last present segment ends (spec 3.5): a prefix shorter than this lacks
    some of the file's data."""
    end = fm.front_length
    for e in fm.toc:
        if not e.flags & S.SEG_FLAG_ABSENT:
            end = max(end, e.offset + e.length)
    return end


def toc_dicts(fm: FrontMatter) -> list:
    """The TOC as plain dicts, ready for ``assemble``."""
    keys = ("layer", "region", "kind", "flags", "reserved", "offset", "length", "crc32")
    return [dict({k: e[k] for k in keys}, deps=list(e.deps)) for e in fm.toc]


def region_dicts(fm: FrontMatter) -> list:
    keys = ("region_id", "label", "source", "flags", "bbox_min", "bbox_max", "params", "counts")
    return [dict({k: r[k] for k in keys},
                 prompts=[{k: p[k] for k in ("view", "flags", "x", "y", "threshold")} for p in r.prompts])
            for r in fm.regions]


def info_dict(fm: FrontMatter) -> dict:
    keys = ("sh_degree", "num_layers", "num_regions", "num_segments", "total_gaussians", "quality",
            "reserved", "origin", "voxel_size", "steps")
    return {k: fm.info[k] for k in keys}
