"""Regenerate the conformance cases (python conformance/generate.py). Deterministic.

Each case is a folder under conformance/cases/ with ``input.lgs`` and ``case.json``:
``levels`` (one per region, or null for all), ``strict``, and the expected result: either
``gaussians`` + ``sha256`` of the canonical dump (conformance/README.md) or ``error``.
"""
from __future__ import annotations

import json
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conformance.run import reference_decode  # noqa: E402
from refcodec.format.front import info_dict, read_front, region_dicts, toc_dicts  # noqa: E402
from refcodec.format.decode import extract  # noqa: E402
from refcodec.encoder import EncodeOptions, encode_scene  # noqa: E402
from refcodec.io.synthetic import make_scene, object_boxes, with_rest_palette  # noqa: E402
from refcodec.roi import RegionSpec  # noqa: E402


def _box(i, n):
    lo, hi = object_boxes(n)[i]
    return RegionSpec(f"object{i + 1}", "box", [*map(float, lo), *map(float, hi)])


def _with_ancillary(data: bytes) -> bytes:
    """Insert an unknown ancillary segment (kind 0xC1) after the first unit: a 1.0 decoder skips it."""
    fm = read_front(data)
    toc = toc_dicts(fm)
    payloads = [data[e["offset"]: e["offset"] + e["length"]] for e in toc]
    at = fm.units[0].attributes + 1
    toc.insert(at, dict(layer=1, region=0, kind=0xC1, flags=0, reserved=0, offset=0, length=0,
                        crc32=0, deps=[fm.units[0].geometry]))
    payloads.insert(at, b"future extension data")
    for e in toc[at + 1:]:
        e["deps"] = [d + 1 if d >= at else d for d in e["deps"]]
    info = info_dict(fm)
    info["num_segments"] += 1
    from refcodec.format.front import assemble
    return assemble(info, region_dicts(fm), toc, payloads)


def _as_version(data: bytes, major: int, minor: int = 0) -> bytes:
    """The same file labelled with another version (spec 10: older versions are subsets of 4.0),
    front CRC recomputed."""
    fl = read_front(data).front_length
    out = bytearray(data)
    out[8], out[9] = major, minor
    out[fl - 4: fl] = zlib.crc32(bytes(out[: fl - 4])).to_bytes(4, "little")
    return bytes(out)


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


def cases() -> dict:
    s0 = make_scene(3000, sh_degree=0, seed=21, duplicates=0.05, objects=1)
    f0 = encode_scene(s0, EncodeOptions(layers=4, overcomplete=8, regions=[_box(0, 1)], progress=False))
    s3 = make_scene(1200, sh_degree=3, seed=22, objects=2)
    f3 = encode_scene(s3, EncodeOptions(layers=8, overcomplete=16, quality="medium",
                                        regions=[_box(0, 2), _box(1, 2)], progress=False))
    s1 = make_scene(2000, sh_degree=1, seed=23, duplicates=0.3, objects=1)
    f1 = encode_scene(s1, EncodeOptions(layers=2, overcomplete=4, quality="max", progress=False))
    fc = encode_scene(_heteroscedastic(4000, 25), EncodeOptions(layers=2, overcomplete=4, quality="max",
                                                              progress=False))
    fr = encode_scene(with_rest_palette(make_scene(3000, sh_degree=2, seed=26, objects=1), 300, 26),
                      EncodeOptions(layers=4, overcomplete=8, quality="medium", regions=[_box(0, 1)], progress=False))
    fm0 = read_front(f0)
    mid = fm0.toc[len(fm0.toc) // 2]
    damaged = bytearray(f0)
    damaged[mid.offset + mid.length // 2] ^= 0x10
    v5 = bytearray(f0)
    v5[8] = 5
    v1 = bytearray(f0)
    v1[8] = 1
    # spec 10: a file of every version the spec lists, using the tools its version allows
    old = _heteroscedastic(3000, 27)
    f2 = encode_scene(old, EncodeOptions(layers=2, overcomplete=4, quality="max", progress=False,
                                         disable=frozenset({"residual_contexts", "rest_refs"})))
    f3v = encode_scene(old, EncodeOptions(layers=2, overcomplete=4, quality="max", progress=False,
                                          disable=frozenset({"rest_refs"})))
    c = {
        "sh0-full": (f0, None, False, "SH degree 0, 4 layers, background + 1 box region, 5% duplicates"),
        "sh3-full": (f3, None, False, "SH degree 3, 8 layers, 3 regions, quality medium"),
        "sh1-duplicates": (f1, None, False, "SH degree 1, 30% of Gaussians share a voxel"),
        "sh1-residual-contexts": (fc, None, False, "SH degree 1, 2 layers, residual contexts (spec 5.3.5) in use"),
        "sh2-rest-references": (fr, None, False, "SH degree 2, SH rest from a 300-vector palette: rest references (spec 5.3.6) within units and to lower layers"),
        "sh0-prefix-40pct": (f0[: len(f0) * 2 // 5], None, False, "the first 40% of sh0-full's bytes"),
        "sh0-prefix-front-only": (f0[: fm0.front_length], None, False, "only the front: no Gaussians"),
        "sh3-object-full-bg-level2": (f3, [2, 8, 0], False, "region 1 at level 8, background at 2, region 2 dropped"),
        "sh3-extracted-object": (extract(f3, [0, 8, 0]), None, False, "extract of region 1 alone: absent segments"),
        "sh0-damaged-segment": (bytes(damaged), None, False, "a flipped bit in one segment: its unit and the region's higher layers are dropped"),
        "sh0-damaged-segment-strict": (bytes(damaged), None, True, "the same in strict mode: checksum error"),
        "sh0-ancillary-segment": (_with_ancillary(f0), None, False, "an unknown ancillary segment is skipped"),
        "err-truncated-front": (f0[: fm0.front_length - 1], None, False, "cut inside the table of contents"),
        "err-bad-magic": (b"GIF89a" + f0[6:], None, False, "not an LGS file"),
        "err-version-5": (bytes(v5), None, False, "major version 5 (a 4.x decoder rejects it)"),
        "err-version-1": (bytes(v1), None, False, "major version 1 (the unreleased draft; not listed in spec 10)"),
        "v2-full": (_as_version(f2, 2), None, False, "a 2.0 file: no residual contexts, no SH-rest references (spec 10)"),
        "v3-full": (_as_version(f3v, 3), None, False, "a 3.0 file: residual contexts, no SH-rest references (spec 10)"),
        "v2-gate-residual-contexts": (_as_version(f3v, 2), None, False,
                                      "a file labelled 2.0 whose attributes use 3.0's residual contexts: "
                                      "those units are corrupt and dropped (spec 10 version gates, 8.3)"),
    }
    return c


def main() -> int:
    root = HERE / "cases"
    if root.exists():
        shutil.rmtree(root)
    for name, (blob, levels, strict, desc) in cases().items():
        d = root / name
        d.mkdir(parents=True)
        (d / "input.lgs").write_bytes(blob)
        res = reference_decode(blob, levels, strict)
        meta = dict(description=desc, levels=levels, strict=strict, **res)
        (d / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{name:<28} {len(blob):>8} bytes  {res}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
