"""The crafted files of ../shared/hostile (issue 17 item 0), rebuilt from their descriptions
(not copied) for the conformance suite. Each is a case whose expected result is the reference
decoder's: a decode within the file's bounds, or the spec 9 error it must raise quickly.

| shared file | case | construction |
| --- | --- | --- |
| depchain_1500.lgs | hostile-depchain-1500 | 1,500 chained ancillary segments, the last listed by a critical one |
| front_200k_entries.lgs | hostile-front-200k-entries | 200,000 ancillary TOC entries in one front |
| ident_1M_lanes1.lgs | hostile-ident-1M-lanes1 | 1M identical Gaussians on one voxel, zero-bit symbols, one lane |
| ident_38M_lanes1.lgs | hostile-ident-38M-lanes1 | the same with 38,347,922 Gaussians |
| ident_38M_sh0.lgs | hostile-ident-38M-sh0 | 38,347,922 identical Gaussians, 4,096 lanes (17 KB; shared: 33 KB) |
| label_ansi.lgs, label_newline.lgs | hostile-label-ansi, -newline | labels holding terminal escapes, a newline |
| steps_huge.lgs, voxel_huge.lgs | hostile-steps-huge, hostile-voxel-huge | steps / voxel size near FLT_MAX |

``huge_one.ply`` and ``huge_span.ply`` are encoder inputs (PLY), not LGS streams: no decoder case.
"""

from __future__ import annotations

import struct

import numpy as np

from conformance import craft as K
from refcodec.format import schema as S


def _ident(n: int, lanes_log2: int, sh: int = 0) -> bytes:
    """One unit of n identical Gaussians: one voxel (code 0), a duplicates pair (0, n - 1), and
    attributes whose every value is 0, coded with single-symbol tables (zero bits each): the
    rANS states never change, no words, no raw bits."""
    C = S.num_channels(sh)
    one = dict(nsym=1, freqs=[4096])
    stream = S.IntStream.build(
        dict(
            num_contexts=C + 1,
            tables=[one] * C + [dict(nsym=0, freqs=[])],
            lanes_log2=lanes_log2,
            num_words=0,
            states=struct.pack("<I", 1 << 16) * (1 << lanes_log2),
            words=b"",
            raw_len=0,
            raw=b"",
        )
    )
    attrs = S.AttributesPayload.build(
        dict(
            num_channels=C,
            flags=0,
            grid_shift=0,
            grid_levels=0,
            channels=[dict(base=0, shift=0, mode=0, ref=255, coef=0, thresholds=None)] * C,
            stream=stream,
        )
    )
    b = K.Builder(sh, 1, [K.region(0, "background", [n])])
    g = b.add(1, 0, S.KIND_GEOMETRY, K.encode_geometry(np.zeros(1, np.uint64), None, methods=(0,)))
    d = b.add(1, 0, S.KIND_DUPLICATES, K.deflate(struct.pack("<II", 0, n - 1)), deps=[g])
    b.add(1, 0, S.KIND_ATTRIBUTES, attrs, deps=[g, d])
    return b.build()


def _small(label: str = "background", steps=None, voxel=(0.01, 0.01, 0.01), n: int = 60) -> bytes:
    rng = np.random.default_rng(17)
    b = K.Builder(0, 2, [K.region(0, label, [n // 2, n - n // 2])], steps=steps, voxel=voxel)
    for layer, k in ((1, n // 2), (2, n - n // 2)):
        codes = np.unique(rng.integers(0, 1 << 30, 3 * k).astype(np.uint64))[:k]
        b.add_unit(layer, 0, codes, K.attributes_payload(k, 11, K.plain_channels(11), K.random_values(rng, k, 11)))
    return b.build()


def _depchain(chain: int) -> bytes:
    info, regions, toc, payloads = K.parts(_small())
    anc = [
        dict(layer=1, region=0, kind=0x81, flags=0, reserved=0, offset=0, length=0, crc32=0, deps=[i - 1] if i else [])
        for i in range(chain)
    ]
    for e in toc:
        e["deps"] = [d + chain for d in e["deps"]]
    toc[1]["deps"].append(chain - 1)  # layer 1's attributes list the chain's last link
    return K.reassemble(info, regions, anc + toc, [b"a"] * chain + payloads)


def _many_entries(count: int) -> bytes:
    """``count`` ancillary entries (no dependencies, empty payloads) after a small file's TOC;
    the front is written with struct for speed (same layout as schema.TocEntry)."""
    data = _small()
    info, regions, toc, payloads = K.parts(data)
    head = K.build_front(dict(info, num_segments=len(toc)), regions, [dict(e, offset=0) for e in toc])
    # rebuild the front by hand: fixed header | info+regions+toc | extra entries | crc
    fl_old = len(head)
    body_old = head[16 : fl_old - 4]
    extra = struct.pack("<BHBBBQIIB", 1, 0, 0x82, 1, 0, 0, 0, 0, 0)  # absent: offset 0
    fl = fl_old + count * len(extra)
    # offsets of the real segments follow the longer front
    pos = fl
    entries = bytearray()
    for e, p in zip(toc, payloads):
        entries += struct.pack(
            "<BHBBBQIIB", e["layer"], e["region"], e["kind"], 0, 0, pos, len(p), K.zlib.crc32(p), len(e["deps"])
        ) + b"".join(struct.pack("<I", d) for d in e["deps"])
        pos += len(p)
    toc_start = len(body_old) - sum(23 + 4 * len(e["deps"]) for e in toc)
    info_regions = bytearray(body_old[:toc_start])
    info_regions[4:8] = struct.pack("<I", len(toc) + count)  # num_segments
    fixed = bytearray(head[:16])
    fixed[12:16] = struct.pack("<I", fl)
    front = bytes(fixed) + bytes(info_regions) + bytes(entries) + extra * count
    assert len(front) + 4 == fl
    return front + K.zlib.crc32(front).to_bytes(4, "little") + b"".join(payloads)


def hostile_cases() -> dict:
    from conformance.generate import Case

    flt_max = 3.4028234663852886e38
    c = {
        "hostile-depchain-1500": Case(
            _depchain(1500),
            None,
            False,
            "1,500 ancillary segments in a dependency chain, the last listed by a critical "
            "segment (spec-valid; not counted, 8.2): decodes, no recursion limit",
            ("3.4", "8.2", "8.3", "9"),
        ),
        "hostile-front-200k-entries": Case(
            _many_entries(200_000),
            None,
            False,
            "a front of 200,000 (absent) ancillary TOC entries: work linear in the front",
            ("3.4", "4.1", "4.2", "9"),
        ),
        "hostile-ident-1M-lanes1": Case(
            _ident(1_000_000, 0),
            None,
            False,
            "1M identical Gaussians on one voxel in 400 bytes, one rANS lane",
            ("4.2", "6.3.4", "9", "9.6", "9.7"),
        ),
        "hostile-ident-38M-lanes1": Case(
            _ident(38_347_922, 0),
            None,
            False,
            "38,347,922 identical Gaussians in 400 bytes, one rANS lane",
            ("4.2", "9", "9.6", "9.7"),
        ),
        "hostile-ident-38M-sh0": Case(
            _ident(38_347_922, 12),
            None,
            False,
            "38,347,922 identical Gaussians (within the 2 GiB output bound) with 4,096 lanes",
            ("4.2", "9", "9.6", "9.7"),
        ),
        "hostile-label-ansi": Case(
            _small("\x1b[2J\x1b[1;31mPWNED\x1b[0m\x07"),
            None,
            False,
            "a region label holding terminal escape sequences (valid UTF-8: decodes)",
            ("3.3",),
        ),
        "hostile-label-newline": Case(
            _small("line one\nerror: fake"),
            None,
            False,
            "a region label holding a newline (valid UTF-8: decodes)",
            ("3.3",),
        ),
        "hostile-steps-huge": Case(
            _small(steps=[flt_max] * 11), None, False, "every step near FLT_MAX", ("3.2", "4.2", "7.2")
        ),
        "hostile-voxel-huge": Case(
            _small(voxel=(flt_max, flt_max, flt_max)), None, False, "voxel sizes near FLT_MAX", ("3.2", "4.2", "7.1")
        ),
    }
    return c
