"""Reading and writing the front of an LGS file: fixed header, scene info, ROI table, table of
contents and the front CRC (spec 3, spec 4). Uses the structs of ``schema`` only.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

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
    if fixed.flags != 0:
        raise CorruptError(f"reserved header flags are {fixed.flags:#06x}, must be zero")
    if fixed.front_length < S.FIXED_HEADER_SIZE + 4:
        raise CorruptError(f"front length {fixed.front_length} is too small")
    if fixed.front_length > MAX_FRONT_LENGTH:
        raise LimitError(f"front length {fixed.front_length} exceeds the limit of {MAX_FRONT_LENGTH} bytes")
    if n < fixed.front_length:
        raise TruncatedError(
            f"file ends inside the header/table of contents ({n} of {fixed.front_length} bytes)")
    return fixed


def read_front(data: bytes, max_gaussians: int | None = None) -> FrontMatter:
    """Parse and validate the front of ``data`` (a whole file or any prefix of it). spec 4.1."""
    fixed = _check_fixed(data)
    fl = fixed.front_length
    stored_crc = int.from_bytes(data[fl - 4: fl], "little")
    if zlib.crc32(data[: fl - 4]) != stored_crc:
        raise ChecksumError("header/table of contents checksum mismatch")
    body = data[S.FIXED_HEADER_SIZE: fl - 4]
    # spec 4.1 step 5: counts that cannot fit in the front are rejected before parsing arrays.
    try:
        info = S.SceneInfo.parse(body)
    except ConstructError as e:
        raise CorruptError(f"scene info is malformed: {_short(e)}") from None
    if info.num_segments * S.MIN_TOC_ENTRY_SIZE + info.num_regions * S.MIN_REGION_SIZE > len(body):
        raise LimitError(
            f"{info.num_segments} segments and {info.num_regions} regions cannot fit in a "
            f"{fl}-byte front")
    try:
        front = S.Front.parse(body)  # Terminated: the content must end exactly at the CRC
    except (ConstructError, UnicodeDecodeError) as e:
        raise CorruptError(f"front is malformed: {_short(e)}") from None
    fm = FrontMatter((fixed.version_major, fixed.version_minor), front.info, list(front.regions),
                     list(front.toc), fl)
    if max_gaussians is None:
        max_gaussians = default_max_gaussians(info.sh_degree)
    _validate(fm, max_gaussians)
    fm.units = units(fm)
    return fm


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def _validate(fm: FrontMatter, max_gaussians: int) -> None:
    """spec 4.2: semantic checks on the front."""
    info = fm.info
    if any(info.reserved):
        raise CorruptError("reserved scene-info bytes must be zero")
    for name in ("origin", "voxel_size", "steps"):
        vals = getattr(info, name)
        if not all(math.isfinite(v) for v in vals):
            raise CorruptError(f"{name} holds a non-finite value")
    if not all(v > 0 for v in info.voxel_size) or not all(v > 0 for v in info.steps):
        raise CorruptError("voxel sizes and quantization steps must be positive")
    total = 0
    for i, r in enumerate(fm.regions):
        if r.region_id != i:
            raise CorruptError(f"region {i} carries id {r.region_id}")
        if r.flags != 0 or any(p.flags & ~1 for p in r.prompts):
            raise CorruptError(f"region {i}: reserved flags must be zero")
        if r.source not in S.SOURCE_KINDS:
            raise CorruptError(f"region {i}: unknown source kind {r.source}")
        total += sum(r.counts)
    if total != info.total_gaussians:
        raise CorruptError(f"ROI table counts sum to {total}, header says {info.total_gaussians}")
    if total > max_gaussians:
        raise LimitError(f"file declares {total} Gaussians, above this decoder's limit of {max_gaussians}")
    expected = fm.front_length
    for i, e in enumerate(fm.toc):
        where = f"segment {i}"
        if not 1 <= e.layer <= info.num_layers or e.region >= info.num_regions:
            raise CorruptError(f"{where}: layer {e.layer} / region {e.region} out of range")
        if e.reserved != 0 or e.flags & ~S.SEG_FLAG_ABSENT:
            raise CorruptError(f"{where}: reserved fields must be zero")
        for d in e.deps:
            if d >= i:
                raise CorruptError(f"{where}: depends on later segment {d}")
            de = fm.toc[d]
            if de.region != e.region or de.layer > e.layer:
                raise CorruptError(f"{where}: dependency {d} is not in the same region at a layer <= {e.layer}")
        if e.flags & S.SEG_FLAG_ABSENT:
            if e.offset != 0:
                raise CorruptError(f"{where}: absent segment with a non-zero offset")
            continue
        if e.offset != expected:  # spec 3.5: present segments are contiguous, in TOC order
            raise CorruptError(f"{where}: offset {e.offset} out of place (expected {expected})")
        expected += e.length
    if expected > (1 << 63):
        raise CorruptError("segment offsets overflow")


def build_front(info: dict, regions: list, toc: list) -> bytes:
    """Serialize fixed header + front + CRC. ``toc`` offsets must already be final. spec 3."""
    body = S.Front.build(dict(info=info, regions=regions, toc=toc))
    fl = S.FIXED_HEADER_SIZE + len(body) + 4
    fixed = S.FixedHeader.build(dict(magic=S.MAGIC, version_major=S.VERSION_MAJOR,
                                     version_minor=S.VERSION_MINOR, flags=0, front_length=fl))
    head = fixed + body
    return head + zlib.crc32(head).to_bytes(4, "little")


def assemble(info: dict, regions: list, toc: list, payloads: list) -> bytes:
    """Lay out a whole file: front, then present payloads contiguously in TOC order (spec 3.5).

    ``toc`` entries are dicts; their ``offset`` is assigned here (0 for absent ones). ``payloads``
    holds bytes for present segments and None for absent ones.
    """
    for e in toc:
        e["offset"] = 0
    front_len = len(build_front(info, regions, toc))
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
    front = build_front(info, regions, toc)
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
    """Group the TOC into units, in file order (spec 3.5), checking each unit's make-up."""
    by_key: dict = {}
    for i, e in enumerate(fm.toc):
        key = (e.layer, e.region)
        u = by_key.get(key)
        if u is None:
            u = by_key[key] = Unit(e.layer, e.region, fm.regions[e.region].counts[e.layer - 1])
        if e.kind & S.KIND_ANCILLARY_BIT:
            u.ancillary += (i,)
            continue
        name = S.KIND_NAMES.get(e.kind)
        if name is None:
            raise CorruptError(f"segment {i} has unknown critical kind {e.kind}")
        if getattr(u, name) is not None:
            raise CorruptError(f"unit (layer {e.layer}, region {e.region}) has two {name} segments")
        setattr(u, name, i)
    for u in by_key.values():
        if u.count == 0 and u.critical:
            raise CorruptError(f"unit (layer {u.layer}, region {u.region}) has segments but no Gaussians")
        if u.count and (u.geometry is None or u.attributes is None):
            raise CorruptError(f"unit (layer {u.layer}, region {u.region}) lacks geometry or attributes")
    for r, reg in enumerate(fm.regions):
        for l, c in enumerate(reg.counts, start=1):
            if c and (l, r) not in by_key:
                raise CorruptError(f"unit (layer {l}, region {r}) declares {c} Gaussians but has no segments")
    return sorted(by_key.values(), key=lambda u: min(u.critical + list(u.ancillary)))


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
