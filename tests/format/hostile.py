"""Small generated versions of the hostile files of ../shared/hostile/ (issue 14): each starts
from a valid file and rewrites its front with ``front.assemble`` (so the front CRC and every
segment CRC are valid), as an attacker would.
"""
from __future__ import annotations

import functools
import struct
import zlib

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format import schema as S
from refcodec.format.front import info_dict, read_front, region_dicts, toc_dicts
from refcodec.io.synthetic import make_scene


@functools.lru_cache(maxsize=None)
def valid(n: int = 60, layers: int = 2, sh_degree: int = 0) -> bytes:
    """A small valid file (one region)."""
    return encode_scene(make_scene(n, sh_degree=sh_degree, seed=3),
                        EncodeOptions(adjust=False, layers=layers, overcomplete=2 * layers, progress=False))


def parts(data: bytes):
    """(info, regions, toc, payloads) of ``data`` as plain dicts and bytes, for ``assemble``."""
    fm = read_front(data)
    payloads = [None if e.flags & 1 else data[e.offset: e.offset + e.length] for e in fm.toc]
    return info_dict(fm), region_dicts(fm), toc_dicts(fm), payloads


def rebuild(info, regions, toc, payloads) -> bytes:
    """``front.assemble`` with the TOC packed by ``struct`` (fast for 10^5 entries): present
    payloads laid out contiguously (spec 3.5), the front CRC and segment CRCs recomputed."""
    info["num_segments"], info["num_regions"] = len(toc), len(regions)
    head = S.SceneInfo.build(info) + b"".join(S.Region.build(r, info=info) for r in regions)
    sizes = sum(23 + 4 * len(e["deps"]) for e in toc)
    fl = S.FIXED_HEADER_SIZE + len(head) + sizes + 4
    pos, entries = fl, []
    for e, p in zip(toc, payloads):
        if p is None:
            e["flags"] |= S.SEG_FLAG_ABSENT
            e["offset"] = 0
        else:
            e["flags"] &= ~S.SEG_FLAG_ABSENT
            e["offset"], e["length"], e["crc32"] = pos, len(p), zlib.crc32(p)
            pos += len(p)
        entries.append(struct.pack(f"<BHBBBQIIB{len(e['deps'])}I", e["layer"], e["region"], e["kind"], e["flags"],
                                   e["reserved"], e["offset"], e["length"], e["crc32"], len(e["deps"]), *e["deps"]))
    fixed = S.FixedHeader.build(dict(magic=S.MAGIC, version_major=S.VERSION_MAJOR, version_minor=0, flags=0,
                                     front_length=fl))
    front = fixed + head + b"".join(entries)
    return front + zlib.crc32(front).to_bytes(4, "little") + b"".join(p for p in payloads if p is not None)


def ancillary_chain(n: int, data: bytes | None = None) -> bytes:
    """``depchain_1500.lgs``: n ancillary segments of layer 1, each depending on the previous
    (spec-valid: 3.4 allows any chain of earlier entries of the same region and lower layer)."""
    info, regions, toc, payloads = parts(data or valid())
    for k in range(n):
        deps = [len(toc) - 1] if k else []
        toc.append(dict(layer=1, region=0, kind=0x80, flags=0, reserved=0, offset=0, length=1, crc32=0, deps=deps))
        payloads.append(b"a")
    return rebuild(info, regions, toc, payloads)


def many_entries(n: int, data: bytes | None = None) -> bytes:
    """``front_200k_entries.lgs``: n independent ancillary TOC entries (of 1 byte each)."""
    info, regions, toc, payloads = parts(data or valid())
    toc += [dict(layer=1, region=0, kind=0x81, flags=0, reserved=0, offset=0, length=1, crc32=0, deps=[])
            for _ in range(n)]
    payloads += [b"b"] * n
    return rebuild(info, regions, toc, payloads)


def with_label(label: str, data: bytes | None = None) -> bytes:
    """``label_ansi.lgs``, ``label_newline.lgs``: region 0 labelled ``label``."""
    info, regions, toc, payloads = parts(data or valid())
    regions[0]["label"] = label
    return rebuild(info, regions, toc, payloads)


def with_info(data: bytes | None = None, **fields) -> bytes:
    """``steps_huge.lgs``, ``voxel_huge.lgs``: scene-info fields replaced (e.g. steps, voxel_size)."""
    info, regions, toc, payloads = parts(data or valid())
    info.update(fields)
    return rebuild(info, regions, toc, payloads)


def with_count(count: int, data: bytes | None = None) -> bytes:
    """``ident_38M_sh0.lgs`` at the front: layer 1 of region 0 declares ``count`` Gaussians."""
    info, regions, toc, payloads = parts(data or valid())
    regions[0]["counts"][0] += count - regions[0]["counts"][0]
    info["total_gaussians"] = sum(sum(r["counts"]) for r in regions)
    return rebuild(info, regions, toc, payloads)
