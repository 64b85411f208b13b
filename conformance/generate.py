"""Regenerate the conformance cases (python conformance/generate.py). Deterministic.

Each case is a folder under conformance/cases/ with ``input.lgs`` and ``case.json``:
``description``, ``sections`` (the spec sections it exercises), ``levels`` (one per region, or
null for all), ``strict``, ``sh_degree`` and the expected result: either ``gaussians`` +
``sha256`` of the canonical dump + ``dropped_units`` (conformance/README.md), or ``error``.
Every case that is built to hit one rule also states its intended outcome, and generation fails
when the reference decoder disagrees. The section map in README.md is rewritten too.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conformance import craft as K  # noqa: E402
from conformance.run import reference_decode  # noqa: E402
from refcodec.format import schema as S  # noqa: E402
from refcodec.format.front import assemble, info_dict, read_front, region_dicts, toc_dicts  # noqa: E402
from refcodec.format.decode import extract  # noqa: E402
from refcodec.format.intstream import encode_uints  # noqa: E402
from refcodec.encoder import EncodeOptions, encode_scene  # noqa: E402
from refcodec.io.synthetic import make_scene, object_boxes, with_rest_palette  # noqa: E402
from refcodec.roi import RegionSpec  # noqa: E402

SPEC = HERE.parent / "spec" / "lgs-4.0.md"


class Case(NamedTuple):
    blob: bytes
    levels: list | None
    strict: bool
    description: str
    sections: tuple
    intent: dict | None = None  # {"error": Name} or {"dropped": [[l, r], ...]}: checked at generation


def _box(i, n):
    lo, hi = object_boxes(n)[i]
    return RegionSpec(f"object{i + 1}", "box", [*map(float, lo), *map(float, hi)])


def _with_ancillary(data: bytes, damaged: bool = False, deps=None) -> bytes:
    """Insert an unknown ancillary segment (kind 0xC1) after the first unit: a 4.0 decoder skips
    it. ``damaged``: its CRC does not match; ``deps``: its dependencies (default the geometry)."""
    fm = read_front(data)
    toc = toc_dicts(fm)
    payloads = [data[e["offset"] : e["offset"] + e["length"]] for e in toc]
    at = fm.units[0].attributes + 1
    toc.insert(
        at,
        dict(
            layer=1,
            region=0,
            kind=0xC1,
            flags=0,
            reserved=0,
            offset=0,
            length=0,
            crc32=0,
            deps=[fm.units[0].geometry] if deps is None else deps,
        ),
    )
    payloads.insert(at, b"future extension data")
    for e in toc[at + 1 :]:
        e["deps"] = [d + 1 if d >= at else d for d in e["deps"]]
    info = info_dict(fm)
    info["num_segments"] += 1
    out = assemble(info, region_dicts(fm), toc, payloads)
    if damaged:
        fm2 = read_front(out)
        b = bytearray(out)
        b[fm2.toc[at].offset] ^= 0x01
        out = bytes(b)
    return out


def _as_version(data: bytes, major: int, minor: int = 0) -> bytes:
    return K.relabel(data, major, minor)


def _heteroscedastic(n: int, seed: int):
    """A scene whose attribute deviations share one random size per Gaussian: the residual
    contexts of spec 5.3.5 pay on it."""
    s = make_scene(n, sh_degree=1, seed=seed)
    rng = np.random.default_rng(seed)
    k = np.exp(rng.normal(0.0, 1.2, s.n)).astype(np.float32)
    for name in ("scales", "sh_dc", "sh_rest"):
        a = getattr(s, name)
        setattr(s, name, (a.mean(axis=0) + (a - a.mean(axis=0)) * k[:, None]).astype(np.float32))
    s.opacity = (s.opacity * k).astype(np.float32)
    return s


# ------------------------------------------------------------------------------------------
# The tiny crafted file the malformed cases start from: SH degree 1 (C = 20), 2 layers, the
# background and one box region. Unit (2, 1) has 4 Gaussians on 3 voxels (a duplicates
# segment); the faults are put into it (so they drop only that unit) or into the front.
C1 = S.num_channels(1)
T21 = dict(geo=6, dup=7, attr=8)  # TOC indices of unit (2, 1)'s segments
M21 = 6  # Gaussians of region 1's lower layers (spec 5.3.6)


def _codes(rng, n, hi=1 << 24):
    return np.unique(rng.integers(0, hi, 4 * n + 8).astype(np.uint64))[:n]


def tiny(
    sh: int = 1, geo=None, dup=None, attr=None, version=(4, 0), mult21=(2, 1, 1), regions=None, method21: int = 0
) -> bytes:
    """The base file; ``geo``/``dup``/``attr`` replace unit (2, 1)'s payloads (bytes, or a
    function of the valid payload)."""
    rng = np.random.default_rng(5)
    C = S.num_channels(sh)
    n21 = int(sum(mult21))
    regs = regions or [
        K.region(0, "background", [12, 8]),
        K.region(1, "obj", [6, n21], source=1, params=[0, 0, 0, 1, 1, 1]),
    ]
    b = K.Builder(
        sh,
        2,
        regs,
        steps=[0.05, *[0.02] * 3, *[1 / 128] * 4, *[1 / 64] * (C - 8)],
        origin=(-1, -1, -1),
        voxel=(0.001, 0.002, 0.003),
    )
    for layer, r, n in ((1, 0, 12), (1, 1, 6), (2, 0, 8)):
        b.add_unit(
            layer, r, _codes(rng, n), K.attributes_payload(n, C, K.plain_channels(C), K.random_values(rng, n, C))
        )
    codes = _codes(rng, len(mult21))
    b.add_unit(
        2,
        1,
        codes,
        K.attributes_payload(n21, C, K.plain_channels(C), K.random_values(rng, n21, C)),
        mult=np.array(mult21),
        method=method21,
    )
    for key, f in (("geo", geo), ("dup", dup), ("attr", attr)):
        if f is not None:
            i = [
                j
                for j, e in enumerate(b.toc)
                if e["layer"] == 2 and e["region"] == 1 and e["kind"] == {"geo": 1, "dup": 2, "attr": 3}[key]
            ][0]
            b.payloads[i] = f(b.payloads[i]) if callable(f) else f
    return b.build(version)


def attr21(
    flags=0,
    channels=None,
    values=None,
    modes=None,
    grid_shift=0,
    grid_levels=0,
    num_contexts=None,
    n=4,
    C=C1,
    lanes_log2=None,
):
    rng = np.random.default_rng(9)
    channels = channels or K.plain_channels(C)
    if values is None:
        rows_rest = int(np.sum(np.asarray(modes) == 1)) if flags & 1 else n
        values = [rng.integers(0, 20, rows_rest if j >= 11 else n).astype(np.uint64) for j in range(C)]
    return K.attributes_payload(
        n, C, channels, values, flags, grid_shift, grid_levels, modes, lanes_log2=lanes_log2, num_contexts=num_contexts
    )


def with_channel(j, **kw):
    ch = K.plain_channels(C1)
    ch[j] = dict(ch[j], **kw)
    return ch


def stream_of(payload: bytes, kind: str) -> bytes:
    return (S.AttributesPayload if kind == "attr" else S.GeometryPayload).parse(payload).stream


def with_stream(payload: bytes, kind: str, stream: bytes) -> bytes:
    st = S.AttributesPayload if kind == "attr" else S.GeometryPayload
    p = st.parse(payload)
    p.stream = stream
    return st.build(p)


def stream_fault(fn):
    """An attribute payload transform that rewrites its IntStream with ``fn(stream_bytes, fields)``."""

    def f(payload):
        s = stream_of(payload, "attr")
        return with_stream(payload, "attr", fn(s, K.intstream_fields(s)))

    return f


def _rebuild(fn):
    def g(s, f):
        p = f["parsed"]
        fn(p)
        return S.IntStream.build(p)

    return g


def _set(s: bytes, at: int, new: bytes) -> bytes:
    return s[:at] + new + s[at + len(new) :]


def _nonminimal(s, f):
    at = f["tables"][0]
    nsym = s[at]
    assert nsym > 0
    p = at + 1  # first varint of table 0
    end = p
    while s[end] & 0x80:
        end += 1
    v = bytearray(s[p : end + 1])
    v[-1] |= 0x80
    return s[:p] + bytes(v) + b"\x00" + s[end + 1 :]


def _octree(D, vals, ctx, V, method=1):
    stream = encode_uints(np.array(vals, np.uint64), np.array(ctx, np.uint8), 54)
    return S.GeometryPayload.build(dict(num_voxels=V, method=method, depth=D, stream=stream))


def _gaps(vals, V):
    stream = encode_uints(np.array(vals, np.uint64), np.zeros(len(vals), np.uint8), 1)
    return S.GeometryPayload.build(dict(num_voxels=V, method=0, depth=0, stream=stream))


def _pairs(*pairs) -> bytes:
    return K.deflate(b"".join(struct.pack("<II", v, e) for v, e in pairs))


def front_edit(data: bytes, fn) -> bytes:
    """Rebuild ``data`` after ``fn(info, regions, toc, payloads)`` edits its parsed front."""
    info, regions, toc, payloads = K.parts(data)
    fn(info, regions, toc, payloads)
    return K.reassemble(info, regions, toc, payloads, read_front(data).version)


def raw_edit(data: bytes, fn) -> bytes:
    """Like front_edit, but offsets, lengths and CRCs are written as ``fn`` leaves them."""
    info, regions, toc, payloads = K.parts(data)
    fn(info, regions, toc, payloads)
    return K.raw_front(info, regions, toc, payloads)


def malformed_cases() -> dict:
    base = tiny()
    fm = read_front(base)
    info_at = 16
    reg_at = [K.region_at(base, i) for i in range(2)]
    toc_at = [K.segment_fields_at(base, i) for i in range(len(fm.toc))]
    E = lambda name: {"error": name}  # noqa: E731
    D21 = {"dropped": [[2, 1]]}
    c = {}

    def err(name, blob, error, desc, sections, strict=False, levels=None):
        c[name] = Case(blob, levels, strict, desc, tuple(sections), E(error))

    def drop(name, blob, desc, sections, dropped=D21, strict=False):
        c[name] = Case(blob, None, strict, desc, tuple(sections), {"dropped": dropped["dropped"]} if dropped else None)

    c["tiny-base"] = Case(
        base,
        None,
        False,
        "the crafted base of the malformed cases: SH 1, 2 layers, 2 regions, duplicates in unit (2, 1)",
        ("3", "3.5", "5.1.1", "5.2", "5.3", "6.4", "7.1", "7.2"),
        {"dropped": []},
    )
    # --- spec 4.1 / 9.1-9.3: header
    err(
        "err-empty-file",
        b"",
        "Truncated",
        "zero bytes: the magic check passes vacuously, then Truncated",
        ("4.1", "9.1"),
    )
    err(
        "err-header-10-bytes",
        base[:10],
        "Truncated",
        "a file that ends inside the 16-byte header",
        ("3.1", "4.1", "9.1"),
    )
    err("err-magic-prefix", b"\x89LGX", "BadMagic", "4 bytes that are not a prefix of the magic", ("4.1", "9.2"))
    err(
        "err-front-crc",
        K.patch(base, 40, b"\x01", crc=False),
        "Checksum",
        "a byte of the front changed, CRC not updated",
        ("3.1", "4.1", "9.4"),
    )
    err(
        "err-header-flags-minor0",
        K.patch(base, 10, b"\x01\x00"),
        "Corrupt",
        "header flags non-zero in a 4.0 file",
        ("1.3", "3.1", "4.1", "9.5"),
    )
    err(
        "err-front-length-19",
        K.patch(base, 12, struct.pack("<I", 19), crc=False),
        "Corrupt",
        "front_length below 20",
        ("3.1", "4.1", "9.5"),
    )
    err(
        "err-front-length-over-limit",
        K.patch(base, 12, struct.pack("<I", (1 << 28) + 1), crc=False),
        "Limit",
        "front_length above 2^28 (checked before the data is known to be that long)",
        ("3.1", "4.1", "9.6"),
    )
    # --- 4.1 step 5 / 9.6: counts the front cannot hold
    err(
        "err-num-segments-huge",
        K.patch(base, info_at + 4, struct.pack("<I", 0xFFFFFFFF)),
        "Limit",
        "num_segments 2^32-1 in a small front: rejected before any allocation",
        ("4.1", "9.6"),
    )
    err(
        "err-num-regions-huge",
        K.patch(base, info_at + 2, struct.pack("<H", 0xFFFF)),
        "Limit",
        "num_regions 65535 in a small front",
        ("4.1", "9.6"),
    )
    big = front_edit(
        base, lambda i, r, t, p: (r[0].update(counts=[40_000_000, 8]), i.update(total_gaussians=40_000_000 + 8 + 6 + 4))
    )
    err(
        "err-total-gaussians-limit",
        big,
        "Limit",
        "40M Gaussians declared at SH degree 1, above the reference limit (2 GiB of output)",
        ("4.2", "9.6"),
    )
    # --- 4.1 steps 5-6, 3.2: scene info parse
    err("err-sh-degree-4", K.patch(base, info_at, b"\x04"), "Corrupt", "sh_degree 4", ("3.2", "4.1", "9.5"))
    err("err-num-layers-0", K.patch(base, info_at + 1, b"\x00"), "Corrupt", "num_layers 0", ("3.2", "4.1", "9.5"))
    err("err-num-regions-0", K.patch(base, info_at + 2, b"\x00\x00"), "Corrupt", "num_regions 0", ("3.2", "4.1", "9.5"))
    err(
        "err-reserved-info-minor0",
        K.patch(base, info_at + 13, b"\x01"),
        "Corrupt",
        "scene-info reserved byte non-zero in a 4.0 file",
        ("1.3", "3.2", "4.2", "9.5"),
    )
    for name, field, k, val in (
        ("origin-nan", 16, 0, float("nan")),
        ("voxel-zero", 28, 1, 0.0),
        ("voxel-inf", 28, 2, float("inf")),
        ("step-negative", 40, 3, -0.5),
        ("step-zero", 40, 12, 0.0),
        ("step-nan", 40, 0, float("nan")),
    ):
        err(
            f"err-{name}",
            K.patch(base, info_at + field + 4 * k, struct.pack("<f", val)),
            "Corrupt",
            f"scene info: {name.replace('-', ' ')}",
            ("3.2", "4.2", "9.5"),
        )
    err(
        "err-front-trailing-byte",
        _front_trailing(base),
        "Corrupt",
        "one byte after the TOC, inside front_length",
        ("3.1", "4.1", "9.5"),
    )
    # --- 3.3: ROI table
    err(
        "err-region-id",
        K.patch(base, reg_at[1], b"\x05\x00"),
        "Corrupt",
        "region record 1 carries id 5",
        ("3.3", "4.2", "9.5"),
    )
    lbl = reg_at[0] + 3  # region_id u16, label_length u8, label
    err(
        "err-label-utf8",
        K.patch(base, lbl, b"\xff"),
        "Corrupt",
        "a label that is not UTF-8 (0xFF)",
        ("3.3", "4.1", "9.5"),
    )
    err(
        "err-label-overlong-utf8",
        K.patch(base, lbl, b"\xc0\xa2"),
        "Corrupt",
        "a label with an overlong UTF-8 sequence (C0 A2)",
        ("3.3", "4.1", "9.5"),
    )
    src1 = reg_at[1] + 3 + len("obj")
    err(
        "err-source-9-minor0",
        K.patch(base, src1, b"\x09"),
        "Corrupt",
        "ROI source 9 in a 4.0 file",
        ("1.3", "3.3", "4.2", "9.5"),
    )
    err(
        "err-region-flags-minor0",
        K.patch(base, src1 + 1, b"\x01"),
        "Corrupt",
        "region flags non-zero in a 4.0 file",
        ("1.3", "3.3", "4.2", "9.5"),
    )
    prompts = front_edit(
        base, lambda i, r, t, p: r[1].update(source=5, prompts=[dict(view=3, flags=2, x=1.0, y=2.0, threshold=0.5)])
    )
    err(
        "err-prompt-flags-minor0",
        prompts,
        "Corrupt",
        "a click prompt with reserved flag bit 1 set in a 4.0 file",
        ("1.3", "3.3", "4.2", "9.5"),
    )
    err(
        "err-counts-sum",
        front_edit(base, lambda i, r, t, p: i.update(total_gaussians=31)),
        "Corrupt",
        "the region counts sum to 30, total_gaussians says 31",
        ("3.3", "4.2", "9.5"),
    )

    # --- 3.4 / 3.5 / 4.2: TOC
    def toc_field(i, off, new):
        return K.patch(base, toc_at[i] + off, new)

    err("err-toc-layer-0", toc_field(0, 0, b"\x00"), "Corrupt", "a TOC entry with layer 0", ("3.4", "4.2", "9.5"))
    err(
        "err-toc-layer-above-L",
        toc_field(0, 0, b"\x03"),
        "Corrupt",
        "a TOC entry with layer 3 > L = 2",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-toc-region-out",
        toc_field(0, 1, b"\x02\x00"),
        "Corrupt",
        "a TOC entry for region 2 of 2",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-toc-reserved-minor0",
        toc_field(0, 5, b"\x01"),
        "Corrupt",
        "TOC reserved byte non-zero in a 4.0 file",
        ("1.3", "3.4", "4.2", "9.5"),
    )
    err(
        "err-toc-flags-minor0",
        toc_field(0, 4, b"\x02"),
        "Corrupt",
        "TOC flags bit 1 set in a 4.0 file",
        ("1.3", "3.4", "4.2", "9.5"),
    )
    err("err-unknown-critical-kind", toc_field(0, 3, b"\x04"), "Corrupt", "critical kind 4", ("3.4", "4.2", "9.5"))
    err(
        "err-dep-later",
        front_edit(base, lambda i, r, t, p: t[0].update(deps=[1])),
        "Corrupt",
        "entry 0 depends on entry 1",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-dep-self",
        front_edit(base, lambda i, r, t, p: t[1].update(deps=[1])),
        "Corrupt",
        "entry 1 depends on itself",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-dep-other-region",
        front_edit(base, lambda i, r, t, p: t[6].update(deps=[0])),
        "Corrupt",
        "a region-1 entry depends on a region-0 entry",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-layer-order",
        _swap_units(base),
        "Corrupt",
        "region 0's layer-2 unit stands before its layer-1 unit in the TOC (3.5 layer order)",
        ("3.4", "3.5", "4.2", "8.3", "9.5"),
    )
    err(
        "err-dep-higher-layer",
        _dep_higher(base),
        "Corrupt",
        "a layer-1 entry depends on an earlier layer-2 entry of its region (ancillary, so the layer order holds)",
        ("3.4", "4.2", "9.5"),
    )
    err(
        "err-absent-with-offset",
        raw_edit(base, lambda i, r, t, p: (t[-1].update(flags=1), p.__setitem__(-1, None))),
        "Corrupt",
        "an absent entry whose offset is not 0",
        ("3.4", "3.5", "4.2", "9.5"),
    )
    err(
        "err-segment-gap",
        raw_edit(base, lambda i, r, t, p: [e.update(offset=e["offset"] + 1) for e in t[3:]]),
        "Corrupt",
        "a byte between two segments",
        ("3.5", "4.2", "9.5"),
    )
    err(
        "err-segment-overlap",
        raw_edit(base, lambda i, r, t, p: t[3].update(offset=t[3]["offset"] - 2)),
        "Corrupt",
        "a segment starting 2 bytes inside the previous one",
        ("3.5", "4.2", "9.5"),
    )
    err(
        "err-segment-out-of-range",
        raw_edit(base, lambda i, r, t, p: t[3].update(offset=1 << 40)),
        "Corrupt",
        "a segment offset of 2^40 in a small file",
        ("3.5", "4.2", "9.5"),
    )
    err(
        "err-unit-zero-count-with-segment",
        front_edit(base, lambda i, r, t, p: (r[1].update(counts=[6, 0]), i.update(total_gaussians=26))),
        "Corrupt",
        "a unit with counts 0 that has critical segments",
        ("3.5", "4.2", "9.5"),
    )

    def drop_attr(i, r, t, p):
        del t[8], p[8]

    err(
        "err-unit-missing-attributes",
        front_edit(base, drop_attr),
        "Corrupt",
        "a unit without an attributes segment",
        ("3.5", "4.2", "9.5"),
    )

    def two_geo(i, r, t, p):
        t.insert(1, dict(t[0], deps=[]))
        p.insert(1, p[0])
        for e in t[2:]:
            e["deps"] = [d + 1 if d >= 1 else d for d in e["deps"]]

    err(
        "err-unit-two-geometry",
        front_edit(base, two_geo),
        "Corrupt",
        "a unit with two geometry segments",
        ("3.5", "4.2", "9.5"),
    )

    def no_seg(i, r, t, p):
        r[1]["counts"] = [6, 4]
        del t[6:], p[6:]

    err(
        "err-unit-declared-no-segments",
        front_edit(base, no_seg),
        "Corrupt",
        "counts[1] of region 1 is 4 but the unit has no segments",
        ("3.5", "4.2", "9.5"),
    )
    err(
        "err-deps-beyond-front",
        toc_field(len(fm.toc) - 1, 22, b"\xff"),
        "Corrupt",
        "the last TOC entry declares 255 dependencies the front does not hold (read past the CRC: 4.1 step 6)",
        ("3.4", "4.1", "9.5"),
    )
    c["huge-length-last-segment"] = Case(
        raw_edit(base, lambda i, r, t, p: t[-1].update(length=0xFFFFFFFF)),
        None,
        False,
        "the last segment claims 2^32-1 bytes: incomplete, its unit is not present (not dropped, nothing allocated)",
        ("3.5", "8.2", "8.3", "8.4"),
        {"dropped": []},
    )

    # --- 5.1: geometry of unit (2, 1), V = 3, n = 4 (dropped, 8.3)
    for name, payload, desc in (
        ("method-3", S.GeometryPayload.build(dict(num_voxels=3, method=3, depth=0, stream=b"")), "geometry method 3"),
        ("method0-depth-nonzero", _gaps_depth(), "method 0 with depth 2"),
        ("voxels-0", _gaps([], 0), "num_voxels 0"),
        ("voxels-above-n", _gaps([1, 1, 1, 1, 1], 5), "num_voxels 5 > n = 4"),
        ("morton-48-bits", _gaps([1, 1 << 47, 1 << 47], 3), "Morton codes reaching 2^48"),
        ("octree-depth-17", _octree(17, [], [], 3), "octree depth 17"),
        ("octree-depth0-v3", _octree(0, [], [], 3), "depth-0 octree with V = 3"),
        ("octree-empty-node", _octree(1, [0, 0], [0, 19], 3), "a child mask of 0"),
        (
            "octree-too-many-nodes",
            _octree(1, [15, 15], [0, 18], 3),
            "8 children for V = 3 (checked before creating them)",
        ),
        ("octree-count-mismatch", _octree(1, [3, 0], [0, 18], 3), "the octree ends with 2 voxels, V = 3"),
        ("octree-half-above-15", _octree(1, [16, 0], [0, 19], 3), "a mask half of 16"),
        ("geometry-trailing-byte", lambda p: p + b"\x00", "a byte after the geometry stream"),
    ):
        drop(
            f"bad-geometry-{name}",
            tiny(geo=payload),
            desc + " (unit (2, 1) dropped as corrupt)",
            ("5.1", "5.1.1" if "octree" not in name else "5.1.2", "6.4", "8.3", "9.5"),
        )
    # --- 5.2: duplicates of unit (2, 1)
    for name, payload, desc in (
        ("not-deflate", b"\xff\xff\xff\xff", "bytes that are not DEFLATE"),
        ("bomb", K.deflate(b"\0" * 1_000_000), "1 MB of zeros in 1 KB of DEFLATE: inflating stops at 8 (n - V) bytes"),
        ("empty", K.deflate(b""), "no pairs (P = 0)"),
        ("extra-zero", _pairs((0, 0)), "an extra of 0"),
        ("voxel-out-of-range", _pairs((3, 1)), "voxel index 3 = V"),
        ("sum-mismatch", _pairs((0, 2)), "multiplicities summing to 5, n = 4"),
        ("trailing-after-end", lambda p: p + b"\x00", "a byte after the end of the DEFLATE stream"),
        ("stored-block-short", b"\x01\x08\x00\xf7\xff" + b"\x00" * 4, "a stored block cut short"),
    ):
        drop(f"bad-duplicates-{name}", tiny(dup=payload), desc + " (unit (2, 1) dropped)", ("5.2", "8.3", "9.5"))
    drop(
        "bad-duplicates-not-increasing",
        tiny(dup=_pairs((1, 1), (0, 1)), mult21=(2, 2, 1)),
        "voxel indices out of order (n = 5, V = 3) (unit (2, 1) dropped)",
        ("5.2", "8.3", "9.5"),
    )
    drop("bad-duplicates-missing", _no_dup(), "V = 3 < n = 4 and no duplicates segment", ("5.2", "8.3", "9.5"))
    # --- 5.3: attributes of unit (2, 1), n = 4, C = 20
    big_u = [np.zeros(4, np.uint64) for _ in range(C1)]
    big_u[0][0] = 1 << 33
    dsum = [np.zeros(4, np.uint64) for _ in range(C1)]
    dsum[0][:] = (1 << 33) - 1  # t = -2^32 four times: |d| reaches 2^34
    over = [np.zeros(4, np.uint64) for _ in range(C1)]
    over[0][0] = 2  # t = 1 on a base of 2^31 - 1
    for name, payload, desc, secs in (
        ("num-channels", lambda p: b"\x13" + p[1:], "num_channels 19 for C = 20", ("5.3.1",)),
        ("reserved-flag", lambda p: p[:1] + b"\x08" + p[2:], "attributes flags bit 3", ("5.3.1", "1.3")),
        ("refs-without-modes", attr21(flags=4), "flags bit 2 without bit 0", ("5.3.1",)),
        ("grid-levels-9", attr21(grid_levels=9), "G = 9", ("5.3.1",)),
        ("grid-too-deep", attr21(grid_shift=15, grid_levels=2), "g + 2(G - 1) = 17", ("5.3.1", "5.3.3")),
        ("shift-9", attr21(channels=with_channel(3, shift=9)), "a step exponent of 9", ("5.3.1", "7.2")),
        ("mode-bit-3", attr21(channels=with_channel(2, mode=8)), "ChannelCoding mode bit 3", ("5.3.1",)),
        ("norm-channel-5", attr21(channels=with_channel(5, mode=4, base=100)), "the norm bit on channel 5", ("5.3.1",)),
        (
            "norm-with-grid",
            attr21(channels=with_channel(4, mode=5, base=100)),
            "the norm bit with the grid bit",
            ("5.3.1",),
        ),
        ("norm-base-0", attr21(channels=with_channel(4, mode=4, base=0)), "norm S = 0", ("5.3.1",)),
        (
            "norm-base-too-big",
            attr21(channels=with_channel(4, mode=4, base=(1 << 15) + 1)),
            "norm S = 2^15 + 1",
            ("5.3.1",),
        ),
        (
            "ref-not-earlier",
            attr21(channels=with_channel(2, ref=3, coef=64)),
            "channel 2 refers to channel 3",
            ("5.3.1",),
        ),
        ("ref-self", attr21(channels=with_channel(2, ref=2, coef=64)), "channel 2 refers to itself", ("5.3.1",)),
        (
            "ref-cross-group",
            attr21(channels=with_channel(11, ref=8, coef=64)),
            "an SH-rest channel refers to DC",
            ("5.3.1",),
        ),
        (
            "ref-norm-channel",
            attr21(
                channels=[
                    dict(c, mode=4, base=100) if j == 4 else (dict(c, ref=4, coef=64) if j == 5 else c)
                    for j, c in enumerate(K.plain_channels(C1))
                ]
            ),
            "channel 5 refers to channel 4, which has the norm bit",
            ("5.3.1",),
        ),
        (
            "thresholds-4",
            attr21(flags=2, channels=with_channel(1, thresholds=[1, 2, 3, 4])),
            "4 thresholds",
            ("5.3.1", "5.3.5"),
        ),
        (
            "thresholds-channel-0",
            attr21(flags=2, channels=with_channel(0, thresholds=[2])),
            "a threshold on channel 0",
            ("5.3.1", "5.3.5"),
        ),
        (
            "thresholds-not-increasing",
            attr21(flags=2, channels=with_channel(1, thresholds=[3, 3])),
            "thresholds 3, 3",
            ("5.3.1", "5.3.5"),
        ),
        (
            "thresholds-zero",
            attr21(flags=2, channels=with_channel(1, thresholds=[0, 4])),
            "a threshold of 0",
            ("5.3.1", "5.3.5"),
        ),
        ("num-contexts", attr21(num_contexts=C1 + 2), "num_contexts F_C + 2", ("5.3.5", "6.4")),
        ("value-2-33", attr21(values=big_u), "a stream value of 2^33", ("5.3.2",)),
        (
            "delta-overflow",
            attr21(channels=with_channel(0, mode=2), values=dsum),
            "a delta sum beyond 2^33",
            ("5.3.2",),
        ),
        ("q-overflow", attr21(channels=with_channel(0, base=(1 << 31) - 1), values=over), "q = 2^31", ("5.3.2",)),
        (
            "copy-out-of-range",
            attr21(flags=5, modes=[1, 2 + M21 + 4, 1, 1]),
            "rest mode copying candidate M + n",
            ("5.3.6",),
        ),
        (
            "copy-later",
            attr21(flags=5, modes=[2 + M21 + 1, 1, 1, 1]),
            "Gaussian 0 copies Gaussian 1 of its unit",
            ("5.3.6",),
        ),
        ("copy-masked", attr21(flags=5, modes=[0, 2 + M21, 1, 1]), "a copy of a Gaussian whose mode is 0", ("5.3.6",)),
        ("copy-without-bit-2", attr21(flags=1, modes=[1, 2, 1, 1]), "rest mode 2 without flags bit 2", ("5.3.6",)),
        ("attributes-trailing-byte", lambda p: p + b"\x00", "a byte after the attributes stream", ("5.3.1", "6.4")),
    ):
        drop(f"bad-attributes-{name}", tiny(attr=payload), desc + " (unit (2, 1) dropped)", secs + ("8.3", "9.5"))
    drop(
        "v3-gate-rest-references",
        tiny(attr=attr21(flags=5, modes=[1, 2, 1, 1]), version=(3, 0)),
        "a 3.0 file whose unit uses 4.0's SH-rest references: the unit is corrupt (version gate)",
        ("10", "5.3.6", "8.3"),
    )
    # --- 6.2-6.5: the attribute IntStream of unit (2, 1); one nonzero value 16 (3 extra bits, 5 padding bits)
    vals = [np.zeros(4, np.uint64) for _ in range(C1)]
    vals[0][0] = 16
    low = attr21(values=vals)

    def sf(fn):
        return lambda p: stream_fault(fn)(low)

    def more_tables(p):
        p.num_contexts += 1
        p.tables.append(dict(nsym=0, freqs=[]))

    for name, fn, desc, secs in (
        ("nsym-137", lambda s, f: _set(s, f["tables"][0], b"\x89"), "a table of 137 symbols", ("6.3.2",)),
        ("varint-non-shortest", _nonminimal, "a frequency varint with a redundant 0x80 0x00 tail", ("1.3", "6.3.2")),
        (
            "freq-sum",
            _rebuild(lambda p: p.tables[0].freqs.__setitem__(0, p.tables[0].freqs[0] + 1)),
            "frequencies summing to 4097",
            ("6.3.2",),
        ),
        (
            "used-context-empty-table",
            _rebuild(lambda p: p.tables.__setitem__(1, dict(nsym=0, freqs=[]))),
            "a used context with nsym = 0",
            ("6.3.2",),
        ),
        ("lanes-13", lambda s, f: _set(s, f["lanes_log2"], b"\x0d"), "lanes_log2 13", ("6.4",)),
        ("words-exhausted", lambda s, f: _set_words(s, f, -1), "one rANS word missing", ("6.3.4",)),
        ("words-left-over", lambda s, f: _set_words(s, f, +1), "one rANS word too many", ("6.3.4",)),
        (
            "final-state",
            lambda s, f: _set(s, f["states"] + 4 * 127, struct.pack("<I", 0x10001)),
            "128 lanes for 80 values: an unused lane's state is not 2^16",
            ("6.3.3", "6.3.4"),
        ),
        (
            "raw-len",
            _rebuild(lambda p: (setattr(p, "raw_len", p.raw_len + 1), setattr(p, "raw", p.raw + b"\0"))),
            "raw_len one byte too long",
            ("6.4", "6.5"),
        ),
        (
            "padding-bit",
            _rebuild(lambda p: setattr(p, "raw", bytes([p.raw[0] | 0x80]) + p.raw[1:])),
            "a padding bit of 1",
            ("6.5",),
        ),
        (
            "num-words-huge",
            lambda s, f: _set(s, f["num_words"], b"\xff\xff\xff\xff"),
            "num_words 2^32-1 in a short stream (nothing allocated)",
            ("6.4",),
        ),
        (
            "raw-len-huge",
            lambda s, f: _set(s, f["raw_len"], b"\xff\xff\xff\xff"),
            "raw_len 2^32-1 in a short stream",
            ("6.4",),
        ),
        ("contexts-extra-table", _rebuild(more_tables), "one table more than the structure expects", ("6.4",)),
        ("truncated", lambda s, f: s[:-3], "the stream cut 3 bytes short", ("6.4", "6.7")),
        ("contexts-255", lambda s, f: b"\xff" + s[1:], "num_contexts 255: more tables than the stream holds", ("6.4",)),
    ):
        src = stream_fault(fn) if name.startswith("words") else sf(fn)  # those need rANS words
        if name == "final-state":
            src = lambda p, fn=fn: stream_fault(fn)(attr21(lanes_log2=7))  # noqa: E731
        drop(f"bad-stream-{name}", tiny(attr=src), desc + " (unit (2, 1) dropped)", secs + ("6.7", "8.3", "9.5"))
    c["stream-one-value-16"] = Case(
        tiny(attr=low),
        None,
        False,
        "the valid stream the bad-stream cases start from: one value 16 (token 16, 3 extra bits)",
        ("6.2", "6.3.2", "6.3.4", "6.4", "6.5"),
        {"dropped": []},
    )
    return c


def _set_words(s, f, delta):
    p = f["parsed"]
    nw = p.num_words + delta
    words = p.words[: 2 * nw] if delta < 0 else p.words + b"\x00\x80"
    out = s[: f["num_words"]] + struct.pack("<I", nw) + s[f["states"] : f["words"]] + words + s[f["raw_len"] :]
    return out


def _gaps_depth():
    stream = encode_uints(np.array([1, 1, 1], np.uint64), np.zeros(3, np.uint8), 1)
    return S.GeometryPayload.build(dict(num_voxels=3, method=0, depth=2, stream=stream))


def _no_dup() -> bytes:
    info, regions, toc, payloads = K.parts(tiny())
    dup = [i for i, e in enumerate(toc) if e["layer"] == 2 and e["region"] == 1 and e["kind"] == 2][0]
    del toc[dup], payloads[dup]
    for e in toc[dup:]:
        e["deps"] = [d - 1 if d > dup else d for d in e["deps"] if d != dup]
    return K.reassemble(info, regions, toc, payloads)


def _front_trailing(data: bytes) -> bytes:
    fm = read_front(data)
    fl = fm.front_length
    body = bytearray(data[: fl - 4]) + b"\x00"
    body[12:16] = struct.pack("<I", fl + 1)
    out = bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little")
    # payloads follow as before; their offsets are now off by one too, but 4.1 step 6 comes first
    return out + data[fl:]


def _swap_units(data: bytes) -> bytes:
    """Region 0's units (1, 0) and (2, 0) in the wrong TOC order (dependencies kept legal)."""
    info, regions, toc, payloads = K.parts(data)
    # entries 0-1: (1,0) geometry, attributes; 4-5: (2,0); move (2,0) to the front without deps
    moved = [dict(toc[4], deps=[]), dict(toc[5], deps=[0])]
    rest = [toc[i] for i in (0, 1, 2, 3, 6, 7, 8)]
    old = [4, 5, 0, 1, 2, 3, 6, 7, 8]
    new_index = {o: n for n, o in enumerate(old)}
    for e in rest:
        e["deps"] = [new_index[d] for d in e["deps"]]
    toc2 = moved + rest
    for n, e in enumerate(toc2):
        e["deps"] = [d for d in e["deps"] if d < n]
    return K.reassemble(info, regions, toc2, [payloads[o] for o in old])


def _dep_higher(data: bytes) -> bytes:
    """An ancillary entry of (2, 0) first, then (1, 0)'s geometry depending on it: a dependency on a
    higher layer (3.4) while the critical entries keep their layer order (3.5)."""
    info, regions, toc, payloads = K.parts(data)
    toc = [dict(layer=2, region=0, kind=0x81, flags=0, reserved=0, offset=0, length=0, crc32=0, deps=[])] + toc
    payloads = [b"x"] + payloads
    for e in toc[1:]:
        e["deps"] = [d + 1 for d in e["deps"]]
    toc[1]["deps"] = [0]
    return K.reassemble(info, regions, toc, payloads)


# ------------------------------------------------------------------------------------------
# Features the encoder does not produce on its own (spec 5.1.2, 5.3.3, 5.3.5, 5.3.6, 7.2)
def feature_cases() -> dict:
    c = {}
    rng = np.random.default_rng(31)
    # geometry: octree methods 1 and 2 over 3 layers (contexts from the lower layers), a depth-0 octree
    regs = [K.region(0, "background", [40, 30, 20]), K.region(1, "point", [3, 0, 0], source=2, params=[0, 0, 0, 0.1])]
    b = K.Builder(
        0, 3, regs, steps=[0.05, 0.02, 0.02, 0.02, 1 / 128, 1 / 128, 1 / 128, 1 / 128, 1 / 64, 1 / 64, 1 / 64]
    )
    pts = rng.integers(0, 40, (90, 3))
    for layer, (lo, hi), method in ((1, (0, 40), 2), (2, (40, 70), 2), (3, (70, 90), 1)):
        codes = K.codes_of(pts[lo:hi])
        n = hi - lo
        mult = None
        if codes.size < n:
            mult = np.ones(codes.size, np.int64)
            mult[: n - codes.size] += 1
        b.add_unit(
            layer,
            0,
            codes,
            K.attributes_payload(n, 11, K.plain_channels(11), K.random_values(rng, n, 11)),
            mult=mult,
            method=method,
        )
    b.add_unit(
        1,
        1,
        np.zeros(1, np.uint64),
        K.attributes_payload(3, 11, K.plain_channels(11), K.random_values(rng, 3, 11)),
        mult=np.array([3]),
        method=1,
    )
    c["geometry-octree-methods"] = Case(
        b.build(),
        None,
        False,
        "octree method 2 at layers 1-2 (layer 2 with lower-layer contexts L(c, s)), "
        "method 1 at layer 3, and a depth-0 octree (V = 1, code 0) holding 3 duplicates",
        ("5.1", "5.1.2", "5.2", "5.4", "6.4"),
        {"dropped": []},
    )
    # attributes: SH-rest mask (mode 0) without references, thresholds (exactly 2) and G = 0 with the grid bit
    C = S.num_channels(1)
    n1, n2 = 24, 16
    regs = [K.region(0, "background", [n1, n2])]
    b = K.Builder(1, 2, regs)
    modes1 = (rng.random(n1) < 0.7).astype(np.uint64)
    vals = [rng.integers(0, 60, int(modes1.sum()) if j >= 11 else n1).astype(np.uint64) for j in range(C)]
    ch = [K.channel(shift=0, thresholds=None if j == 0 else ([2, 9] if j % 2 else [5])) for j in range(C)]
    b.add_unit(1, 0, _codes(rng, n1), K.attributes_payload(n1, C, ch, vals, flags=1 | 2, modes=modes1))
    modes2 = (rng.random(n2) < 0.5).astype(np.uint64)
    vals = [rng.integers(0, 60, int(modes2.sum()) if j >= 11 else n2).astype(np.uint64) for j in range(C)]
    ch = [K.channel(mode=1, shift=0, base=7, thresholds=None if j == 0 else [3, 30]) for j in range(C)]
    b.add_unit(2, 0, _codes(rng, n2), K.attributes_payload(n2, C, ch, vals, flags=1 | 2, modes=modes2, grid_levels=0))
    c["attributes-rest-mask-thresholds"] = Case(
        b.build(),
        None,
        False,
        "SH-rest modes 0/1 without references (the mask), residual thresholds (1 and exactly 2 per channel) with the "
        "rest rows' activities, and the grid bit with G = 0 (found(i) false: the base field)",
        ("5.3.1", "5.3.2", "5.3.3", "5.3.4", "5.3.5", "5.3.6"),
        {"dropped": []},
    )
    # grid prediction with exponent changes: left shift, right (arithmetic) shift of negatives, 32-bit clamp;
    # the norm prediction, delta, refs with a negative coefficient; copies across an exponent change
    C = S.num_channels(2)
    n1, n2, n3 = 20, 12, 10
    regs = [K.region(0, "background", [n1, n2, n3])]
    b = K.Builder(2, 3, regs)
    pts = rng.integers(0, 16, (n1 + n2 + n3, 3))
    codes = [K.codes_of(pts[:n1])[:n1], None, None]
    codes1 = K.codes_of(pts[:n1])
    n1 = codes1.size
    b.regions[0]["counts"][0] = n1
    ch1 = [
        K.channel(
            base=(1 << 30) if j == 1 else (-(1 << 20) + 3 if j == 2 else 5 * j),
            shift=8 if j == 1 else (-4 if j == 2 else 2),
        )
        for j in range(C)
    ]
    ch1[4] = K.channel(base=200, mode=4, shift=0)
    vals1 = [rng.integers(0, 50, n1).astype(np.uint64) for _ in range(C)]
    vals1[1][:] = 0  # q = 2^30 at exponent 8
    b.add_unit(1, 0, codes1, K.attributes_payload(n1, C, ch1, vals1, flags=0))
    codes2 = K.codes_of(pts[n1 : n1 + n2])
    n2 = codes2.size
    b.regions[0]["counts"][1] = n2
    ch2 = [K.channel(mode=1, shift=-8 if j == 1 else (3 if j == 2 else 0), base=1) for j in range(C)]
    ch2[3] = K.channel(mode=1 | 2, shift=0, ref=1, coef=-40)
    ch2[4] = K.channel(base=(1 << 15), mode=4, shift=1)
    modes2 = np.array([1 if i < 3 else 2 + (i % n1) for i in range(n2)], np.uint64)  # copies of layer 1, left shift
    modes2[5] = 2 + n1 + 1  # a copy of this unit's Gaussian 1
    vals2 = [rng.integers(0, 40, 3 if j >= 11 else n2).astype(np.uint64) for j in range(C)]
    vals2[1][:] = 0  # q = the clamped mean 2^31 - 1 exactly
    for j in range(11, C):
        ch2[j] = K.channel(shift=-2, mode=0)  # layer 1 rest at +2: copies shift left by 4
    b.add_unit(
        2, 0, codes2, K.attributes_payload(n2, C, ch2, vals2, flags=1 | 4, modes=modes2, grid_shift=0, grid_levels=3)
    )
    codes3 = K.codes_of(pts[n1 + n2 :])
    n3 = codes3.size
    b.regions[0]["counts"][2] = n3
    ch3 = [K.channel(mode=1, shift=5, base=-3) for j in range(C)]
    for j in range(11, C):
        ch3[j] = K.channel(shift=6)  # copies of layers 1-2 shift right (arithmetic)
    modes3 = np.array([2 + (i * 3) % (n1 + n2) for i in range(n3)], np.uint64)
    modes3[0] = 1
    vals3 = [rng.integers(0, 40, 1 if j >= 11 else n3).astype(np.uint64) for j in range(C)]
    vals3[1][:] = 0
    b.add_unit(
        3, 0, codes3, K.attributes_payload(n3, C, ch3, vals3, flags=1 | 4, modes=modes3, grid_shift=1, grid_levels=2)
    )
    b.info["total_gaussians"] = n1 + n2 + n3
    c["attributes-grid-shifts-copies"] = Case(
        b.build(),
        None,
        False,
        "lower-layer grid means across exponent changes (left shift, arithmetic right shift of negatives, 32-bit "
        "clamping of 2^30 << 16), the norm prediction (S = 2^15), delta with a ref of coefficient -40, and SH-rest "
        "copies of lower-layer and same-unit candidates across exponent changes",
        ("5.3.1", "5.3.2", "5.3.3", "5.3.6", "7.2"),
        {"dropped": []},
    )
    # the maximum layer count: 255 layers of one Gaussian each
    L = 255
    b = K.Builder(0, L, [K.region(0, "background", [1] * L)])
    for layer in range(1, L + 1):
        b.add_unit(
            layer,
            0,
            np.array([layer * 7], np.uint64),
            K.attributes_payload(
                1,
                11,
                [K.channel(mode=1 if layer > 1 else 0, base=layer) for _ in range(11)],
                [np.array([layer % 5], np.uint64)] * 11,
                grid_levels=1,
            ),
        )
    c["layers-255"] = Case(
        b.build(),
        None,
        False,
        "L = 255 (the most num_layers allows), one Gaussian a layer, each predicted from the lower layers' grid",
        ("3.2", "3.3", "5.3.3", "8.1", "8.3"),
        {"dropped": []},
    )
    c["layers-255-level-100"] = Case(
        c["layers-255"].blob, [100], False, "the same at level 100", ("8.1",), {"dropped": []}
    )
    return c


def semantics_cases(f0: bytes, f3: bytes) -> dict:
    """The spec questions of issue 17 settled (1.3/10, 3.4/8.2, 3.5/8.3, 8.3 outcomes, 8.3 strict)."""
    c = {}
    base = tiny()
    fm = read_front(base)

    # forward compatibility (1.3, 10): the front extension points used in a 4.1 file are ignored ...
    def ext(i, r, t, p):
        i["reserved"] = b"\x01\x02\x03"
        r[1].update(source=9, flags=0x40, prompts=[dict(view=1, flags=0x8001, x=3.0, y=4.0, threshold=0.25)])
        for e in t:
            e["reserved"] = 7

    ext41 = K.patch(front_edit(K.relabel(base, 4, 1), ext), 10, b"\x34\x12")
    tocf = K.segment_fields_at(ext41, 0)
    ext41 = K.patch(ext41, tocf + 4, b"\x40")
    c["v4.1-front-extension-points"] = Case(
        ext41,
        None,
        False,
        "version 4.1: non-zero header flags, scene-info reserved bytes, region flags, "
        "prompt flag bits, TOC reserved bytes and flag bits, and ROI source 9 are ignored",
        ("1.3", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "10"),
        {"dropped": []},
    )
    c["err-v4.0-front-extension-points"] = Case(
        K.relabel(ext41, 4, 0),
        None,
        False,
        "the same fields in a 4.0 file: Corrupt",
        ("1.3", "4.2", "10", "9.5"),
        {"error": "Corrupt"},
    )
    c["v4.1-payload-reserved-bit"] = Case(
        tiny(attr=lambda p: p[:1] + b"\x08" + p[2:], version=(4, 1)),
        None,
        False,
        "version 4.1 with attributes flags bit 3 (a later tool): the unit is dropped as corrupt, never misread",
        ("1.3", "5.3.1", "8.3", "10"),
        {"dropped": [[2, 1]]},
    )
    c["v4.7-plain"] = Case(
        K.relabel(base, 4, 7),
        None,
        False,
        "version 4.7 using no new tool decodes as 4.0",
        ("3.1", "10"),
        {"dropped": []},
    )

    # ancillary segments (2, 3.4, 8.2, 8.3): a critical segment depending on a damaged ancillary one
    def anc_dep(data, damaged):
        out = _with_ancillary(data, damaged=damaged)
        fm2 = read_front(out)
        at = fm2.units[0].attributes + 1
        u = next(u for u in fm2.units if u.layer == 2 and u.region == 0)
        return (
            front_edit(out, lambda i, r, t, p: t[u.attributes]["deps"].append(at))
            if not damaged
            else _damage(front_edit(_with_ancillary(data), lambda i, r, t, p: t[u.attributes]["deps"].append(at)), at)
        )

    c["ancillary-dependency-damaged"] = Case(
        anc_dep(f0, True),
        None,
        False,
        "an ancillary segment with dependencies, damaged, that a critical segment "
        "lists as a dependency: not counted, nothing dropped (3.4, 8.2 rule 4)",
        ("2", "3.4", "8.2", "8.3", "10"),
        {"dropped": []},
    )
    c["ancillary-dependency-damaged-strict"] = Case(
        c["ancillary-dependency-damaged"].blob,
        None,
        True,
        "the same in strict mode: ancillary segments are not checked",
        ("3.4", "8.3", "9.4"),
        {"dropped": []},
    )

    # 8.3 outcomes: a unit whose lower layer is absent is dropped (dependency); a unit with a bad CRC and an
    # incomplete segment is not present
    def absent_lower(i, r, t, p):
        for k, e in enumerate(t):
            if e["layer"] == 1 and e["region"] == 1:
                p[k] = None

    c["outcome-lower-absent"] = Case(
        front_edit(base, absent_lower),
        None,
        False,
        "unit (1, 1) absent, unit (2, 1) present: (2, 1) is dropped with outcome dependency, "
        "(1, 1) is not present and not reported",
        ("8.2", "8.3", "8.4"),
        {"dropped": [[2, 1]]},
    )
    c["outcome-lower-absent-strict"] = Case(
        c["outcome-lower-absent"].blob,
        None,
        True,
        "the same in strict mode: a dependency outcome stays a reported drop",
        ("8.3", "9.4"),
        {"dropped": [[2, 1]]},
    )
    last = fm.toc[-1]
    cut = bytearray(base)
    g = fm.toc[T21["geo"]]
    cut[g.offset] ^= 0x20
    c["outcome-checksum-and-incomplete"] = Case(
        bytes(cut[: last.offset + last.length - 1]),
        None,
        True,
        "a prefix that cuts unit (2, 1)'s attributes while its geometry fails its "
        "CRC: outcome incomplete (not present) comes first, even in strict mode",
        ("8.2", "8.3", "8.4", "9.4"),
        {"dropped": []},
    )
    # strict mode and selections (9.4 vs 8.3)
    fm0 = read_front(f0)
    top = max(u.layer for u in fm0.units)
    u = next(u for u in fm0.units if u.layer == top and u.region == 0)
    dmg = bytearray(f0)
    dmg[fm0.toc[u.attributes].offset + 3] ^= 0x04
    c["strict-damage-unselected"] = Case(
        bytes(dmg),
        [top - 1, fm0.info.num_layers],
        True,
        "strict mode with a selection: a damaged segment of an unselected unit is not checked",
        ("8.1", "8.3", "9.4"),
        {"dropped": []},
    )
    c["strict-damage-selected"] = Case(
        bytes(dmg), None, True, "the same selecting everything: Checksum", ("8.3", "9.4"), {"error": "Checksum"}
    )
    c["corrupt-strict"] = Case(
        tiny(attr=attr21(channels=with_channel(2, ref=3, coef=64))),
        None,
        True,
        "a corrupt unit in strict mode: Corrupt",
        ("8.3", "9.5"),
        {"error": "Corrupt"},
    )
    # prefixes with a level selection
    fm3 = read_front(f3)
    c["sh3-prefix-60pct-levels"] = Case(
        f3[: len(f3) * 3 // 5],
        [3, 8, 0],
        False,
        "the first 60% of sh3-full with background at level 3, region 1 at 8, region 2 dropped",
        ("1.2", "8.1", "8.4"),
        {"dropped": []},
    )
    del fm3
    c.update(adjustment_cases(f0))
    c.update(correction_cases(f0))
    c.update(predicted_correction_cases(f0))
    return c


def adjustment_cases(f0: bytes) -> dict:
    """spec 8.6 (4.1): prefix adjustments, written into sh0-full with a fixed table (A.10 fits
    them on renders; here the values are chosen so that floors and offsets visibly apply)."""
    from refcodec.encoder.adjust import add_adjustments
    from refcodec.format.adjust import build_payload
    from refcodec.info import describe

    table = {(l, r): (-1.5 - 0.5 * l, 3.0 - 0.75 * l) for l in (1, 2, 3) for r in (0, 1)}
    adj = add_adjustments(f0, table)
    fm = read_front(adj)
    levels = describe(adj)["levels"]
    which = {(e.layer, e.region): i for i, e in enumerate(fm.toc) if e.kind == S.KIND_ADJUSTMENT}
    geo3 = next(e for e in fm.toc if (e.layer, e.kind) == (3, S.KIND_GEOMETRY))
    damaged = bytearray(adj)
    damaged[fm.toc[which[2, 0]].offset] ^= 0x01
    sec = ("8.6", "10")
    c = {
        "v4.1-adjustment-full": Case(adj, None, False, "a 4.1 file with adjustments, decoded in full: none applies",
                                     sec, {"dropped": []}),
        "v4.1-adjustment-prefix": Case(adj[: levels[1]["bytes"]], None, False,
                                       "the level-2 prefix: both regions coarse at level 2", ("8.4",) + sec,
                                       {"dropped": []}),
        "v4.1-adjustment-mid-unit": Case(adj[: geo3.offset + geo3.length // 2], None, False,
                                         "a prefix cut inside layer 3: level 2's adjustments apply",
                                         ("8.4",) + sec, {"dropped": []}),
        "v4.1-adjustment-selection": Case(adj, [1, 4], False,
                                          "background at level 1 (adjusted), the object in full (not adjusted)",
                                          ("8.1",) + sec, {"dropped": []}),
        "v4.1-adjustment-selection-drop": Case(adj, [0, 3], False,
                                               "background dropped, the object coarse at level 3",
                                               ("8.1",) + sec, {"dropped": []}),
        "v4.0-adjustment-skipped": Case(K.relabel(adj, 4, 0), [2, 2], False,
                                        "kind 129 in a 4.0 file is an unknown ancillary kind: skipped",
                                        ("3.4",) + sec, {"dropped": []}),
        "v4.1-adjustment-damaged": Case(bytes(damaged), [2, 2], False,
                                        "the adjustment of (2, 0) fails its checksum: region 0 is not "
                                        "adjusted and nothing is dropped", ("8.2",) + sec, {"dropped": []}),
        "v4.1-adjustment-invalid": Case(
            K.with_payload(K.with_payload(adj, which[2, 0], build_payload(float("nan"), 1.0)),
                           which[2, 1], build_payload(-3.0, 1.0)[:7]),
            [2, 2], True, "invalid payloads (a NaN floor; 7 bytes) are ignored, even in strict mode",
            sec, {"dropped": []}),
    }
    # each case hits the rule it names: the regions adjusted, at the level
    from refcodec.format.decode import decode as _decode
    want = {"v4.1-adjustment-full": {}, "v4.1-adjustment-prefix": {0: 2, 1: 2},
            "v4.1-adjustment-mid-unit": {0: 2, 1: 2}, "v4.1-adjustment-selection": {0: 1},
            "v4.1-adjustment-selection-drop": {1: 3}, "v4.0-adjustment-skipped": {},
            "v4.1-adjustment-damaged": {1: 2}, "v4.1-adjustment-invalid": {}}
    for name, case in c.items():
        res = _decode(case.blob, case.levels, strict=case.strict)
        assert res.adjusted == want[name], (name, res.adjusted)
        raw = _decode(case.blob, case.levels, strict=case.strict, adjust=False).scene
        assert np.array_equal(raw.opacity, res.scene.opacity) == (not res.adjusted), name
        if name == "v4.1-adjustment-prefix":                                             # floors bite
            assert not np.array_equal(raw.scales, res.scene.scales), name
    return c


def correction_cases(f0: bytes) -> dict:
    """spec 8.7 (4.2): prefix corrections, written into sh0-full with fixed pseudo-random values
    (A.8 fits them by distillation; here they are chosen so that every corrected value changes)."""
    from refcodec.encoder.adjust import add_adjustments, add_ancillary
    from refcodec.format.correct import build_payload
    from refcodec.info import describe

    fm0 = read_front(f0)
    rng = np.random.default_rng(87)
    chans = [0, 1, 2, 3, 8, 9, 10]

    def n_at(level, region):
        return int(sum(fm0.regions[region].counts[:level]))

    def payload(level, region, shift=2, chans=chans, count=None, big=False):
        n = n_at(level, region) if count is None else count
        t = rng.integers(-3, 4, size=(len(chans), n))
        t[:, 0] = 1 if not big else 1 << 30                  # the first Gaussian always moves
        return build_payload(chans, shift, t)

    table = {(l, r): [(S.KIND_CORRECTION, payload(l, r))] for l in (1, 2, 3) for r in (0, 1)}
    cor = add_ancillary(f0, table, S.GATE_PREFIX_CORRECTIONS)
    fm = read_front(cor)
    levels = describe(cor)["levels"]
    which = {(e.layer, e.region): i for i, e in enumerate(fm.toc) if e.kind == S.KIND_CORRECTION}
    damaged = bytearray(cor)
    damaged[fm.toc[which[2, 0]].offset] ^= 0x01
    bad_channel = S.CorrectionHeader.build(dict(channels=1 << 11, shift=0)) + payload(2, 0)[9:]
    invalid = K.with_payload(K.with_payload(cor, which[2, 0], bad_channel), which[2, 1],
                             payload(2, 1, count=n_at(2, 1) - 1))
    overflow = K.with_payload(K.with_payload(cor, which[2, 0], payload(2, 0, shift=16, big=True)),
                              which[2, 1], bytes([*payload(2, 1)[:8], 17]) + payload(2, 1)[9:])
    # two corrections of (2, 0): the first is invalid, so the second applies
    twice = add_ancillary(f0, {(2, 0): [(S.KIND_CORRECTION, payload(2, 0, count=1)),
                                        (S.KIND_CORRECTION, payload(2, 0, chans=[1, 9]))]},
                          S.GATE_PREFIX_CORRECTIONS)
    both = add_ancillary(add_adjustments(f0, {(2, 0): (-2.0, 1.5), (2, 1): (-2.5, 1.0)}),
                         {k: v for k, v in table.items() if k[0] == 2}, S.GATE_PREFIX_CORRECTIONS)
    sec = ("8.7", "10")
    c = {
        "v4.2-correction-full": Case(cor, None, False, "a 4.2 file with corrections, decoded in full: none applies",
                                     sec, {"dropped": []}),
        "v4.2-correction-prefix": Case(cor[: levels[1]["bytes"]], None, False,
                                       "the level-2 prefix: both regions take level 2's values", ("8.4",) + sec,
                                       {"dropped": []}),
        "v4.2-correction-selection": Case(cor, [1, 4], False,
                                          "background at level 1 (corrected), the object in full (not corrected)",
                                          ("8.1",) + sec, {"dropped": []}),
        "v4.2-correction-selection-drop": Case(cor, [0, 3], False,
                                               "background dropped, the object coarse at level 3",
                                               ("8.1",) + sec, {"dropped": []}),
        "v4.1-correction-skipped": Case(K.relabel(cor, 4, 1), [2, 2], False,
                                        "kind 130 in a 4.1 file is an unknown ancillary kind: skipped",
                                        ("3.4",) + sec, {"dropped": []}),
        "v4.2-correction-damaged": Case(bytes(damaged), [2, 2], False,
                                        "the correction of (2, 0) fails its checksum: region 0 keeps its "
                                        "values and nothing is dropped", ("8.2",) + sec, {"dropped": []}),
        "v4.2-correction-invalid": Case(invalid, [2, 2], True,
                                        "invalid payloads (a channel bit >= C; one value too few) are ignored, "
                                        "even in strict mode", sec, {"dropped": []}),
        "v4.2-correction-overflow": Case(overflow, [2, 2], False,
                                         "q + t 2^16 beyond 32 bits, and a shift of 17: both ignored", sec,
                                         {"dropped": []}),
        "v4.2-correction-first-valid": Case(twice, [2, 4], False,
                                            "two corrections of (2, 0): the first is invalid, the second applies "
                                            "(channels 1 and 9 only)", sec, {"dropped": []}),
        "v4.2-correction-adjusted": Case(both, [2, 2], False,
                                         "a correction and an adjustment of the same level: both apply, the "
                                         "adjustment to the corrected values", ("8.6",) + sec, {"dropped": []}),
    }
    from refcodec.format.decode import decode as _decode
    want = {"v4.2-correction-full": {}, "v4.2-correction-prefix": {0: 2, 1: 2},
            "v4.2-correction-selection": {0: 1}, "v4.2-correction-selection-drop": {1: 3},
            "v4.1-correction-skipped": {}, "v4.2-correction-damaged": {1: 2}, "v4.2-correction-invalid": {},
            "v4.2-correction-overflow": {}, "v4.2-correction-first-valid": {0: 2},
            "v4.2-correction-adjusted": {0: 2, 1: 2}}
    for name, case in c.items():
        res = _decode(case.blob, case.levels, strict=case.strict)
        assert res.corrected == want[name], (name, res.corrected)
        raw = _decode(case.blob, case.levels, strict=case.strict, adjust=False).scene
        for r in want[name]:                       # every corrected channel of the first Gaussian moved
            g = int(np.flatnonzero(res.region == r)[0])
            moved = raw.attribute_matrix()[g] != res.scene.attribute_matrix()[g]
            expect = [1, 9] if name == "v4.2-correction-first-valid" else chans
            assert moved[expect].all(), (name, r)
        if name == "v4.2-correction-adjusted":
            assert res.adjusted == {0: 2, 1: 2}, name
    return c


def predicted_correction_cases(f0: bytes) -> dict:
    """spec 8.7.1 (4.3): kind-131 corrections, whose channels 2, 3, 9 and 10 are coded as
    differences to the channel before when that one is corrected too."""
    from refcodec.encoder.adjust import add_ancillary
    from refcodec.format.correct import build_payload
    from refcodec.info import describe

    fm0 = read_front(f0)
    rng = np.random.default_rng(871)
    ts = {}

    def payload(level, region, chans, shift=1, predicted=True, big=False):
        n = int(sum(fm0.regions[region].counts[:level]))
        t = rng.integers(-3, 4, size=(len(chans), n))
        t[:, 0] = 2                                          # the first Gaussian always moves
        if big:                                              # each coded difference < 2^31, t_2 is not
            return build_payload(chans, shift, np.full((len(chans), n), (1 << 30) + 5, np.int64))
        ts[level, region, tuple(chans)] = t
        return build_payload(chans, shift, t, predicted)

    every = [0, 1, 2, 3, 8, 9, 10]
    gaps = [1, 3, 9, 10]                    # 3 without 2: not predicted; 10 from 9; 9 without 8: not
    table = {(l, r): [(S.KIND_PREDICTED_CORRECTION, payload(l, r, every if r == 0 else gaps))]
             for l in (1, 2, 3) for r in (0, 1)}
    cor = add_ancillary(f0, table, S.GATE_CORRECTION_PREDICTION)
    levels = describe(cor)["levels"]
    overflow = add_ancillary(f0, {(2, 0): [(S.KIND_PREDICTED_CORRECTION, payload(2, 0, [1, 2], shift=0, big=True))],
                                  (2, 1): [(S.KIND_PREDICTED_CORRECTION, payload(2, 1, [1, 3], shift=0, big=True))]},
                             S.GATE_CORRECTION_PREDICTION)
    # (2, 0): a kind-131 correction, then a kind-130 one: the first valid applies
    mixed = add_ancillary(f0, {(2, 0): [(S.KIND_PREDICTED_CORRECTION, payload(2, 0, [8, 9, 10])),
                                        (S.KIND_CORRECTION, payload(2, 0, [1], predicted=False))]},
                          S.GATE_CORRECTION_PREDICTION)
    sec = ("8.7", "8.7.1", "10")
    c = {
        "v4.3-correction-prefix": Case(cor[: levels[1]["bytes"]], None, False,
                                       "the level-2 prefix of a 4.3 file with predicted corrections: "
                                       "scales and SH DC coded as differences (region 1: only channel 10 "
                                       "predicted)", ("8.4",) + sec, {"dropped": []}),
        "v4.3-correction-selection": Case(cor, [1, 3], False,
                                          "background at level 1, the object at level 3: each its own "
                                          "level's predicted correction", ("8.1",) + sec, {"dropped": []}),
        "v4.3-correction-full": Case(cor, None, False, "decoded in full: no correction applies", sec,
                                     {"dropped": []}),
        "v4.2-predicted-skipped": Case(K.relabel(cor, 4, 2), [2, 2], False,
                                       "kind 131 in a 4.2 file is an unknown ancillary kind: skipped",
                                       ("3.4",) + sec, {"dropped": []}),
        "v4.3-correction-overflow": Case(overflow, [2, 2], False,
                                         "region 0: coded differences under 2^31 whose predicted t (channel "
                                         "2 plus channel 1) is not: ignored; region 1: the same values for "
                                         "channels 1 and 3, 3 not predicted as 2 is absent: applies", sec,
                                         {"dropped": []}),
        "v4.3-correction-mixed": Case(mixed, [2, 2], False,
                                      "a kind-131 then a kind-130 correction of (2, 0): the first applies "
                                      "(channels 8-10 only)", sec, {"dropped": []}),
    }
    from refcodec.format.decode import decode as _decode
    want = {"v4.3-correction-prefix": {0: 2, 1: 2}, "v4.3-correction-selection": {0: 1, 1: 3},
            "v4.3-correction-full": {}, "v4.2-predicted-skipped": {}, "v4.3-correction-overflow": {1: 2},
            "v4.3-correction-mixed": {0: 2}}
    for name, case in c.items():
        res = _decode(case.blob, case.levels, strict=case.strict)
        assert res.corrected == want[name], (name, res.corrected)
        raw = _decode(case.blob, case.levels, strict=case.strict, adjust=False)
        for r, level in want[name].items():                   # q' = q + t 2^s with the intended t
            if name == "v4.3-correction-overflow":
                continue
            chans = [8, 9, 10] if name == "v4.3-correction-mixed" else (every if r == 0 else gaps)
            t = ts[level, r, tuple(chans)]
            rows = np.flatnonzero(res.region == r)
            steps = np.concatenate([np.broadcast_to(u.steps, (u.count, len(u.steps))) for u in raw.units
                                    if u.status == "decoded" and u.region == r])
            for k, j in enumerate(chans):
                col = raw.scene.attribute_matrix()[rows, j].astype(np.float64)
                q = np.rint(col / steps[:, j]).astype(np.int64)
                want_v = (q + t[k] * 2).astype(np.float32) * steps[:, j].astype(np.float32)
                assert np.array_equal(res.scene.attribute_matrix()[rows, j], want_v), (name, r, j)
    return c


def _damage(data: bytes, index: int) -> bytes:
    fm = read_front(data)
    b = bytearray(data)
    b[fm.toc[index].offset] ^= 0x01
    return bytes(b)


def _opts(**kw) -> EncodeOptions:
    """The encoder's choices of the 4.0 cases (before the coverage layering and the 4.1 adjustments
    of spec A.1 / A.10), so that these files stay as they were."""
    return EncodeOptions(progress=False, coverage=False, adjust=False, rank=None, **kw)


def encoder_cases() -> tuple[dict, bytes, bytes]:
    s0 = make_scene(3000, sh_degree=0, seed=21, duplicates=0.05, objects=1)
    f0 = encode_scene(s0, _opts(layers=4, overcomplete=8, regions=[_box(0, 1)]))
    s3 = make_scene(1200, sh_degree=3, seed=22, objects=2)
    f3 = encode_scene(
        s3, _opts(layers=8, overcomplete=16, quality="medium", regions=[_box(0, 2), _box(1, 2)])
    )
    s1 = make_scene(2000, sh_degree=1, seed=23, duplicates=0.3, objects=1)
    f1 = encode_scene(s1, _opts(layers=2, overcomplete=4, quality="max"))
    fc = encode_scene(
        _heteroscedastic(4000, 25), _opts(layers=2, overcomplete=4, quality="max")
    )
    fr = encode_scene(
        with_rest_palette(make_scene(3000, sh_degree=2, seed=26, objects=1), 300, 26),
        _opts(layers=4, overcomplete=8, quality="medium", regions=[_box(0, 1)]),
    )
    fm0 = read_front(f0)
    mid = fm0.toc[len(fm0.toc) // 2]
    damaged = bytearray(f0)
    damaged[mid.offset + mid.length // 2] ^= 0x10
    v5 = bytearray(f0)
    v5[8] = 5
    v1 = bytearray(f0)
    v1[8] = 1
    old = _heteroscedastic(3000, 27)
    f2 = encode_scene(
        old,
        _opts(
            layers=2,
            overcomplete=4,
            quality="max",
            disable=frozenset({"residual_contexts", "rest_refs"}),
        ),
    )
    f3v = encode_scene(
        old, _opts(layers=2, overcomplete=4, quality="max", disable=frozenset({"rest_refs"}))
    )
    # every ROI source (A.2, 3.3) and a non-ASCII label, through the encoder
    sr = make_scene(900, sh_degree=0, seed=28, objects=2)
    sr.extra = dict(getattr(sr, "extra", None) or {}, object_id=(np.arange(sr.n) % 7 == 3).astype(np.float32))
    lo, hi = object_boxes(2)[0]
    regions = [
        RegionSpec("chaise-été ☂", "box", [*map(float, lo), *map(float, hi)]),
        RegionSpec("ball", "sphere", [*map(float, object_boxes(2)[1][0]), 0.3]),
        RegionSpec("tagged", "property", [1.0], property_name="object_id"),
        RegionSpec("picked", "indices", indices=np.arange(0, sr.n, 11)),
        RegionSpec(
            "clicked",
            "click",
            indices=np.arange(5, sr.n, 13),
            prompts=[
                dict(view=2, flags=0, x=120.5, y=64.25, threshold=0.5),
                dict(view=7, flags=1, x=10.0, y=300.0, threshold=0.5),
            ],
        ),
    ]
    froi = encode_scene(sr, _opts(layers=2, overcomplete=4, regions=regions))
    # dozens of regions: a 6 x 6 grid of boxes over the scene
    sm = make_scene(1500, sh_degree=0, seed=29, objects=1)
    pmin, pmax = sm.positions.min(axis=0), sm.positions.max(axis=0)
    edges = [np.linspace(pmin[a], pmax[a], 7) for a in range(2)]
    boxes = [
        RegionSpec(
            f"cell{x}{y}",
            "box",
            [
                float(edges[0][x]),
                float(edges[1][y]),
                float(pmin[2]) - 1,
                float(edges[0][x + 1]),
                float(edges[1][y + 1]),
                float(pmax[2]) + 1,
            ],
        )
        for x in range(6)
        for y in range(6)
    ]
    fmany = encode_scene(sm, _opts(layers=2, overcomplete=4, regions=boxes))
    many_levels = [2 if i % 3 == 0 else (1 if i % 3 == 1 else 0) for i in range(37)]
    c = {
        "sh0-full": Case(
            f0,
            None,
            False,
            "SH degree 0, 4 layers, background + 1 box region, 5% duplicates",
            (
                "2",
                "3",
                "3.1",
                "3.2",
                "3.3",
                "3.4",
                "3.5",
                "4",
                "4.1",
                "4.2",
                "5",
                "5.1",
                "5.1.1",
                "5.2",
                "5.3",
                "5.4",
                "6",
                "6.1",
                "6.2",
                "6.3",
                "6.3.1",
                "6.3.2",
                "6.3.3",
                "6.3.4",
                "6.4",
                "6.5",
                "7",
                "7.1",
                "7.2",
                "7.3",
                "8",
                "8.1",
                "8.2",
                "8.3",
            ),
        ),
        "sh3-full": Case(
            f3, None, False, "SH degree 3, 8 layers, 3 regions, quality medium", ("3.2", "5.3.3", "5.3.4", "7.2", "7.3")
        ),
        "sh1-duplicates": Case(f1, None, False, "SH degree 1, 30% of Gaussians share a voxel", ("5.2", "5.4")),
        "sh1-residual-contexts": Case(
            fc, None, False, "SH degree 1, 2 layers, residual contexts (spec 5.3.5) in use", ("5.3.5",)
        ),
        "sh2-rest-references": Case(
            fr,
            None,
            False,
            "SH degree 2, SH rest from a 300-vector palette: rest references "
            "(spec 5.3.6) within units and to lower layers",
            ("5.3.6",),
        ),
        "sh0-prefix-40pct": Case(
            f0[: len(f0) * 2 // 5], None, False, "the first 40% of sh0-full's bytes", ("1.2", "8.2", "8.4")
        ),
        "sh0-prefix-front-only": Case(
            f0[: fm0.front_length], None, False, "only the front: no Gaussians", ("1.2", "4.1", "8.4")
        ),
        "sh1-prefix-half": Case(f1[: len(f1) // 2], None, False, "the first half of sh1-duplicates", ("1.2", "8.4")),
        "sh2-prefix-half": Case(
            fr[: len(fr) // 2], None, False, "the first half of sh2-rest-references", ("1.2", "8.4")
        ),
        "sh3-prefix-30pct": Case(f3[: len(f3) * 3 // 10], None, False, "the first 30% of sh3-full", ("1.2", "8.4")),
        "sh3-object-full-bg-level2": Case(
            f3, [2, 8, 0], False, "region 1 at level 8, background at 2, region 2 dropped", ("8.1",)
        ),
        "sh3-extracted-object": Case(
            extract(f3, [0, 8, 0]),
            None,
            False,
            "extract of region 1 alone: absent segments",
            ("8.2", "8.3", "8.4", "8.5"),
        ),
        "sh0-damaged-segment": Case(
            bytes(damaged),
            None,
            False,
            "a flipped bit in one segment: its unit and the region's higher layers are dropped",
            ("8.2", "8.3", "8.4"),
        ),
        "sh0-damaged-segment-strict": Case(
            bytes(damaged), None, True, "the same in strict mode: checksum error", ("8.3", "9.4")
        ),
        "sh0-ancillary-segment": Case(
            _with_ancillary(f0), None, False, "an unknown ancillary segment is skipped", ("2", "3.4", "8.3", "10")
        ),
        "err-truncated-front": Case(
            f0[: fm0.front_length - 1], None, False, "cut inside the table of contents", ("4.1", "9.1")
        ),
        "err-bad-magic": Case(b"GIF89a" + f0[6:], None, False, "not an LGS file", ("3.1", "4.1", "9.2")),
        "err-version-5": Case(
            bytes(v5), None, False, "major version 5 (a 4.x decoder rejects it)", ("4.1", "9.3", "10")
        ),
        "err-version-1": Case(
            bytes(v1), None, False, "major version 1 (the unreleased draft; not listed in spec 10)", ("9.3", "10")
        ),
        "v2-full": Case(
            _as_version(f2, 2),
            None,
            False,
            "a 2.0 file: no residual contexts, no SH-rest references (spec 10)",
            ("10",),
        ),
        "v3-full": Case(
            _as_version(f3v, 3), None, False, "a 3.0 file: residual contexts, no SH-rest references (spec 10)", ("10",)
        ),
        "v2-gate-residual-contexts": Case(
            _as_version(f3v, 2),
            None,
            False,
            "a file labelled 2.0 whose attributes use 3.0's residual contexts: those units "
            "are corrupt and dropped (spec 10 version gates, 8.3)",
            ("10", "8.3"),
        ),
        "roi-sources": Case(
            froi,
            None,
            False,
            "every ROI source through the encoder (box with a non-ASCII label, sphere, "
            "property, indices, click prompts with two prompt records)",
            ("3.3", "8.1"),
        ),
        "roi-sources-select": Case(
            froi, [0, 2, 1, 0, 2, 1], False, "the same with a selection per region", ("3.3", "8.1")
        ),
        "regions-36": Case(
            fmany,
            many_levels,
            False,
            "37 regions (a 6 x 6 grid of boxes and the background) at levels 2, 1 and 0 in turn",
            ("3.3", "8.1"),
        ),
        "sh3-prefix-levels-extract": Case(
            extract(f3[: len(f3) * 7 // 10], [8, 4, 8]),
            None,
            False,
            "extraction from a 70% prefix with a level selection",
            ("8.4", "8.5"),
        ),
    }
    return c, f0, f3


def cases() -> dict:
    c, f0, f3 = encoder_cases()
    c.update(feature_cases())
    c.update(semantics_cases(f0, f3))
    c.update(malformed_cases())
    c.update(hostile_cases())
    return dict(sorted(c.items()))


def hostile_cases() -> dict:
    """The files of ../shared/hostile (issue 17 item 0), rebuilt here; see hostile_cases_pinned()."""
    try:
        from conformance.hostile import hostile_cases as h
    except ImportError:
        return {}
    return h()


# ------------------------------------------------------------------------------------ README map
# numbered sections that no decoder output depends on (listed in the README map with the reason)
NOT_EXERCISED = {"6.6": "a layout convention kept for ancillary payloads; no 4.0 critical payload uses it"}


def spec_sections(text: str | None = None) -> list:
    """The numbered headings of the spec (## N, ### N.M, #### N.M.K), minus informative ones,
    plus the error rows 9.1-9.6."""
    text = text if text is not None else SPEC.read_text()
    out = []
    for line in text.splitlines():
        m = re.match(r"^#{2,4} (\d+(?:\.\d+)*) (.*)$", line)
        if m and "informative" not in m.group(2).lower() and m.group(1) not in NOT_EXERCISED:
            out.append(m.group(1))
        m = re.match(r"^\| (9\.\d) \|", line)
        if m:
            out.append(m.group(1))
    return out


def covered(sections_of_cases: dict) -> dict:
    """section -> cases exercising it (a case naming N.M covers N.M and its ancestors)."""
    cov: dict = {}
    for name, secs in sections_of_cases.items():
        for s in secs:
            parts = s.split(".")
            for k in range(1, len(parts) + 1):
                cov.setdefault(".".join(parts[:k]), set()).add(name)
    return cov


def section_table(sections_of_cases: dict) -> str:
    cov = covered(sections_of_cases)
    rows = ["| section | cases |", "| --- | --- |"]
    for s in spec_sections():
        names = sorted(cov.get(s, ()))
        shown = ", ".join(f"`{n}`" for n in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        rows.append(f"| {s} | {shown or '**none**'} |")
    for s, why in NOT_EXERCISED.items():
        rows.append(f"| {s} | not exercised: {why} |")
    return "\n".join(rows)


BEGIN, END = "<!-- section map: generated by conformance/generate.py -->", "<!-- end of section map -->"


def write_readme(sections_of_cases: dict) -> None:
    p = HERE / "README.md"
    text = p.read_text()
    table = f"{BEGIN}\n{section_table(sections_of_cases)}\n{END}"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + table + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    p.write_text(text)


def expected(case: Case) -> dict:
    res = reference_decode(case.blob, case.levels, case.strict)
    if case.intent is not None:
        if "error" in case.intent:
            assert res.get("error") == case.intent["error"], (case.description, res)
        else:
            assert "error" not in res and res["dropped_units"] == case.intent["dropped"], (case.description, res)
    return res


def sh_degree_of(blob: bytes) -> int | None:
    try:
        return int(read_front(blob).info.sh_degree)
    except Exception:  # noqa: BLE001 - error cases
        return None


def main() -> int:
    root = HERE / "cases"
    if root.exists():
        shutil.rmtree(root)
    sections = {}
    for name, case in cases().items():
        d = root / name
        d.mkdir(parents=True)
        (d / "input.lgs").write_bytes(case.blob)
        res = expected(case)
        meta = dict(
            description=case.description,
            sections=list(case.sections),
            levels=case.levels,
            strict=case.strict,
            sh_degree=sh_degree_of(case.blob),
            **res,
        )
        (d / "case.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        sections[name] = case.sections
        print(f"{name:<44} {len(case.blob):>8} bytes  {res}")
    write_readme(sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
