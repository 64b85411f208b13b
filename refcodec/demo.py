"""``refcodec demo``: generate a scene, encode it, decode prefixes and ROI subsets, print a table."""
from __future__ import annotations

import time
from pathlib import Path


def run_demo(n: int = 100_000, sh_degree: int = 1, out: str | None = None) -> str:
    from refcodec.format.decode import decode, extract, resolve_levels
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.info import describe
    from refcodec.io.synthetic import make_scene
    from refcodec.roi import RegionSpec

    scene = make_scene(n, sh_degree=sh_degree, seed=1, duplicates=0.01, objects=1)
    obj = RegionSpec("object", "property", [1.0], property_name="object_id")
    t0 = time.perf_counter()
    data = encode_scene(scene, EncodeOptions(regions=[obj]))
    t_enc = time.perf_counter() - t0
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        from refcodec.io.ply import write_ply
        from refcodec.io.atomic import write_atomic, write_bytes_atomic
        write_atomic(Path(out) / "demo.ply", lambda p: write_ply(p, scene))
        write_bytes_atomic(Path(out) / "demo.lgs", data)
    d = describe(data)
    rows = []

    def case(name, blob, levels=None):
        t = time.perf_counter()
        res = decode(blob, levels)
        rows.append((name, len(blob), res.scene.n, time.perf_counter() - t))
        return res

    full = case("full file", data)
    for frac in (0.05, 0.10, 0.25, 0.50):
        case(f"first {frac:.0%} of the bytes", data[: int(len(data) * frac)])
    for lv in d["levels"][:3]:
        case(f"level {lv['level']} prefix", data[: lv["bytes"]])
    fm = full.front
    sel = resolve_levels(fm, 2, {"object": fm.info.num_layers})
    case("object full, background level 2", data, sel)
    ext = extract(data, resolve_levels(fm, 0, {"object": fm.info.num_layers}))
    case("extract: object alone (file)", ext)
    case("removal: all but the object", data, resolve_levels(fm, None, {"object": 0}))

    w = max(len(r[0]) for r in rows)
    lines = [f"LGS demo: {n:,} generated Gaussians, SH degree {sh_degree}, 1 object region; "
             f"encoded in {t_enc:.2f} s to {len(data):,} bytes "
             f"({8 * len(data) / max(1, n):.1f} bits/Gaussian)", "",
             f"{'case':<{w}}  {'bytes':>11}  {'Gaussians':>10}  {'decode s':>8}",
             f"{'-' * w}  {'-' * 11}  {'-' * 10}  {'-' * 8}"]
    lines += [f"{a:<{w}}  {b:>11,}  {c:>10,}  {t:>8.3f}" for a, b, c, t in rows]
    return "\n".join(lines)
