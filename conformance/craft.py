"""Hand-built LGS streams for the conformance cases (conformance/generate.py): features the
reference encoder does not produce on its own, and malformed files. Everything is written with
the structs of ``refcodec.format.schema`` and the writers of ``refcodec.format`` (``encode_uints``,
``front.build_front``/``assemble``), never with the decoder.

A crafted attributes payload is given its *stream values* directly (the residuals u of spec
5.3.2, the rest modes of 5.3.6); the contexts are computed here from those values as spec 5.3.5
says, and what the values reconstruct to is whatever spec 5.3 makes of them: the expected output
is the reference decoder's, pinned by each case's digest.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from refcodec.encoder.geometry import encode as encode_geometry
from refcodec.format import schema as S
from refcodec.format.front import assemble, build_front, info_dict, read_front, region_dicts, toc_dicts
from refcodec.format.geometry import LowerOccupancy
from refcodec.format.intstream import encode_uints
from refcodec.format.morton import encode as morton_encode

NO_REF = 255


def bitlen(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.uint64)
    out = np.zeros(u.shape, np.int64)
    v = u.copy()
    while v.any():
        out += v > 0
        v >>= np.uint64(1)
    return out


def channel(base=0, shift=0, mode=0, ref=NO_REF, coef=0, thresholds=None) -> dict:
    return dict(base=base, shift=shift, mode=mode, ref=ref, coef=coef, thresholds=thresholds)


def attributes_payload(
    n: int,
    C: int,
    channels: list,
    values: list,
    flags: int = 0,
    grid_shift: int = 0,
    grid_levels: int = 0,
    modes=None,
    lanes_log2: int | None = None,
    num_contexts: int | None = None,
) -> bytes:
    """spec 5.3: ``channels`` C ChannelCoding dicts, ``values[j]`` the stream values u of channel
    j (one per row), ``modes`` the n SH-rest modes (flags bit 0). Contexts per spec 5.3.5."""
    ths = [list(c["thresholds"] or []) for c in channels]
    first, F = [], 0
    for t in ths:
        first.append(F)
        F += len(t) + 1
    vals, ctxs = [], []
    activity = np.zeros(n, np.int64)
    if flags & 1:
        modes = np.asarray(modes, np.uint64)
        vals.append(modes)
        ctxs.append(np.full(n, F, np.int64))
        rest_rows = np.flatnonzero(modes == 1)
    for j in range(C):
        rows = rest_rows if (flags & 1 and j >= 11) else np.arange(n)
        u = np.asarray(values[j], np.uint64).reshape(-1)
        assert u.size == rows.size, (j, u.size, rows.size)
        t = np.asarray(ths[j], np.int64)
        b = (t[None, :] <= activity[rows][:, None]).sum(axis=1) if t.size else np.zeros(rows.size, np.int64)
        vals.append(u)
        ctxs.append(first[j] + b)
        activity[rows] += bitlen(u)
    stream = encode_uints(
        np.concatenate(vals) if vals else np.zeros(0, np.uint64),
        np.concatenate(ctxs) if ctxs else np.zeros(0, np.int64),
        F + 1 if num_contexts is None else num_contexts,
        lanes_log2,
    )
    chans = [dict(c, thresholds=(c["thresholds"] or []) if flags & 2 else None) for c in channels]
    return S.AttributesPayload.build(
        dict(num_channels=C, flags=flags, grid_shift=grid_shift, grid_levels=grid_levels, channels=chans, stream=stream)
    )


def plain_channels(C: int, shift: int = 0, thresholds=None) -> list:
    return [channel(shift=shift, thresholds=thresholds if j else None) for j in range(C)]


def random_values(rng, rows: int, C: int, hi: int = 40) -> list:
    return [rng.integers(0, hi, rows).astype(np.uint64) for _ in range(C)]


def duplicates_payload(mult: np.ndarray) -> bytes | None:
    mult = np.asarray(mult)
    pairs = [(v, int(m) - 1) for v, m in enumerate(mult) if m > 1]
    if not pairs:
        return None
    raw = b"".join(struct.pack("<II", v, e) for v, e in pairs)
    return deflate(raw)


def deflate(raw: bytes, level: int = 9) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


def codes_of(xyz) -> np.ndarray:
    xyz = np.asarray(xyz, np.uint16).reshape(-1, 3)
    return np.unique(morton_encode(xyz).astype(np.uint64))


def region(
    i: int, label: str, counts: list, source: int = 0, params=(), prompts=(), bbox=((0, 0, 0), (1, 1, 1))
) -> dict:
    return dict(
        region_id=i,
        label=label,
        source=source,
        flags=0,
        bbox_min=list(map(float, bbox[0])),
        bbox_max=list(map(float, bbox[1])),
        params=[float(p) for p in params],
        prompts=list(prompts),
        counts=list(counts),
    )


def toc_entry(layer: int, region: int, kind: int, deps=()) -> dict:
    return dict(
        layer=layer, region=region, kind=kind, flags=0, reserved=0, offset=0, length=0, crc32=0, deps=list(deps)
    )


class Builder:
    """A file unit by unit: ``add_unit`` codes geometry (any method), duplicates and a given
    attributes payload, with the encoder's dependencies (spec 3.5)."""

    def __init__(
        self,
        sh_degree: int,
        num_layers: int,
        regions: list,
        steps=None,
        origin=(0, 0, 0),
        voxel=(0.01, 0.01, 0.01),
        quality: int = 255,
    ):
        C = S.num_channels(sh_degree)
        self.C = C
        self.info = dict(
            sh_degree=sh_degree,
            num_layers=num_layers,
            num_regions=len(regions),
            num_segments=0,
            total_gaussians=sum(sum(r["counts"]) for r in regions),
            quality=quality,
            reserved=b"\0\0\0",
            origin=list(map(float, origin)),
            voxel_size=list(map(float, voxel)),
            steps=list(map(float, steps if steps is not None else [1 / 64] * C)),
        )
        self.regions = regions
        self.toc, self.payloads = [], []
        self.lower: dict = {}  # region -> list of voxel code arrays
        self.prev: dict = {}  # region -> TOC indices of its previous unit

    def add(self, layer: int, region: int, kind: int, payload: bytes | None, deps=()) -> int:
        self.toc.append(toc_entry(layer, region, kind, deps))
        self.payloads.append(payload)
        return len(self.toc) - 1

    def add_unit(self, layer: int, region: int, codes, attributes: bytes, mult=None, method: int = 0) -> list:
        codes = np.asarray(codes, np.uint64)
        low = LowerOccupancy(list(self.lower.get(region, [])))
        geo = encode_geometry(codes, low, methods=(method,))
        prev = self.prev.get(region, [])
        g = self.add(layer, region, S.KIND_GEOMETRY, geo, deps=prev[:1])
        idx = [g]
        dup = duplicates_payload(mult) if mult is not None else None
        if dup is not None:
            idx.append(self.add(layer, region, S.KIND_DUPLICATES, dup, deps=[g]))
        idx.append(self.add(layer, region, S.KIND_ATTRIBUTES, attributes, deps=list(idx) + list(prev)))
        self.lower.setdefault(region, []).append(codes)
        self.prev[region] = idx
        return idx

    def build(self, version=(4, 0)) -> bytes:
        info = dict(self.info, num_segments=len(self.toc))
        data = assemble(info, self.regions, [dict(e) for e in self.toc], list(self.payloads))
        return relabel(data, *version) if version != (4, 0) else data


# ------------------------------------------------------------------------------ file surgery
def fix_front_crc(data: bytes) -> bytes:
    b = bytearray(data)
    fl = int.from_bytes(b[12:16], "little")
    b[fl - 4 : fl] = zlib.crc32(bytes(b[: fl - 4])).to_bytes(4, "little")
    return bytes(b)


def relabel(data: bytes, major: int, minor: int = 0) -> bytes:
    """The same file with another version in its header (front CRC recomputed)."""
    b = bytearray(data)
    b[8], b[9] = major, minor
    return fix_front_crc(bytes(b))


def patch(data: bytes, at: int, new: bytes, crc: bool = True) -> bytes:
    """Overwrite bytes at ``at``; recompute the front CRC when ``crc`` (and the patch is in the front)."""
    b = bytearray(data)
    b[at : at + len(new)] = new
    return fix_front_crc(bytes(b)) if crc else bytes(b)


def parts(data: bytes):
    """(info, regions, toc, payloads) of a valid file, as dicts ready for ``reassemble``."""
    fm = read_front(data)
    toc = toc_dicts(fm)
    payloads = [None if e["flags"] & 1 else data[e["offset"] : e["offset"] + e["length"]] for e in toc]
    return info_dict(fm), region_dicts(fm), toc, payloads


def reassemble(info, regions, toc, payloads, version=(4, 0)) -> bytes:
    info = dict(info, num_segments=len(toc))
    data = assemble(info, regions, [dict(e) for e in toc], list(payloads))
    return relabel(data, *version) if version != (4, 0) else data


def raw_front(info, regions, toc, payloads, version=(4, 0), tail: bytes = b"") -> bytes:
    """A file whose TOC offsets, lengths and CRCs are written as given (no layout), payloads
    concatenated after the front, then ``tail``; for out-of-place and overlapping segments."""
    front = build_front(dict(info, num_segments=len(toc)), regions, toc)
    data = front + b"".join(p for p in payloads if p is not None) + tail
    return relabel(data, *version) if version != (4, 0) else data


def with_payload(data: bytes, index: int, payload: bytes) -> bytes:
    """Replace segment ``index``'s payload (CRC and layout recomputed: the new payload passes its
    checksum, so the unit's parsers see it)."""
    info, regions, toc, payloads = parts(data)
    payloads[index] = payload
    return reassemble(info, regions, toc, payloads, read_front(data).version)


def _region_size(r, L: int) -> int:
    return 2 + 1 + len(r.label.encode("utf-8")) + 1 + 1 + 24 + 1 + 4 * len(r.params) + 1 + 16 * len(r.prompts) + 4 * L


def _info_size(fm) -> int:
    return 40 + 4 * S.num_channels(fm.info.sh_degree)


def segment_fields_at(data: bytes, index: int) -> int:
    """Byte offset, in the file, of TOC entry ``index`` (its ``layer`` field)."""
    fm = read_front(data)
    pos = 16 + _info_size(fm) + sum(_region_size(r, fm.info.num_layers) for r in fm.regions)
    for e in fm.toc[:index]:
        pos += 23 + 4 * len(e.deps)
    return pos


def region_at(data: bytes, index: int) -> int:
    """Byte offset, in the file, of region record ``index``."""
    fm = read_front(data)
    return 16 + _info_size(fm) + sum(_region_size(r, fm.info.num_layers) for r in fm.regions[:index])


def intstream_fields(stream: bytes) -> dict:
    """Byte offsets of an IntStream's fields (spec 6.4)."""
    p = S.IntStream.parse(stream)
    pos = 1
    tables = []
    for t in p.tables:
        tables.append(pos)
        pos += len(S.RansTable.build(t))
    lanes = pos
    nw = pos + 1
    states = nw + 4
    words = states + 4 * (1 << p.lanes_log2)
    raw_len = words + 2 * p.num_words
    return dict(
        tables=tables,
        lanes_log2=lanes,
        num_words=nw,
        states=states,
        words=words,
        raw_len=raw_len,
        raw=raw_len + 4,
        end=raw_len + 4 + p.raw_len,
        parsed=p,
    )
