"""Format benchmark for real scenes: size, layer-1 size, encode/decode time, prefix decodes.

    python tools/bench/format_bench.py ../shared/data/biker.ply ../shared/data/playbot_lod2.ply \
        [--quality high] [--json out.json]

Prints a Markdown table and optionally writes JSON (``{"stamp": ..., "tool": ..., "quality": ...,
"scenes": [...]}``, the stamp of ``stamp.py``). Scenes are read from the paths given and never
copied.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def bench_scene(path: str, quality: str, repeats: int = 3) -> dict:
    from refcodec.format.decode import decode
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.info import describe
    from refcodec.io.load import load_scene

    scene = load_scene(path)
    t = time.perf_counter()
    data = encode_scene(scene, EncodeOptions(quality=quality, progress=False))
    t_enc = time.perf_counter() - t

    def timed(blob, levels=None):
        best, n = float("inf"), 0
        for _ in range(repeats):
            t = time.perf_counter()
            n = decode(blob, levels).scene.n
            best = min(best, time.perf_counter() - t)
        return best, n

    t_dec, n_full = timed(data)
    d = describe(data)
    l1 = d["levels"][0]["bytes"]
    t_l1, n_l1 = timed(data[:l1])
    cut = len(data) // 10
    t_10, n_10 = timed(data[:cut])
    ply_bytes = Path(path).stat().st_size
    return dict(scene=Path(path).name, gaussians=scene.n, sh_degree=scene.sh_degree, quality=quality,
                input_bytes=ply_bytes, lgs_bytes=len(data), bits_per_gaussian=8 * len(data) / scene.n,
                layer1_bytes=l1, layer1_share=l1 / len(data), layer1_gaussians=n_l1,
                encode_s=t_enc, decode_s=t_dec, layer1_decode_s=t_l1,
                prefix10_bytes=cut, prefix10_gaussians=n_10, prefix10_decode_s=t_10,
                bytes_per_kind=d["bytes_per_kind"], decoded=n_full)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+")
    ap.add_argument("--quality", default="high")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = [bench_scene(p, a.quality) for p in a.scenes]
    print("| scene | Gaussians | PLY bytes | LGS bytes | bits/G | layer 1 bytes (share, Gaussians) | "
          "encode s | decode s | layer-1 decode s | 10% prefix: Gaussians, decode s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['scene']} | {r['gaussians']:,} | {r['input_bytes']:,} | {r['lgs_bytes']:,} | "
              f"{r['bits_per_gaussian']:.1f} | {r['layer1_bytes']:,} ({r['layer1_share']:.1%}, "
              f"{r['layer1_gaussians']:,}) | {r['encode_s']:.2f} | {r['decode_s']:.3f} | "
              f"{r['layer1_decode_s']:.3f} | {r['prefix10_gaussians']:,}, {r['prefix10_decode_s']:.3f} |")
    for r in rows:
        print(f"{r['scene']}: bytes per kind {r['bytes_per_kind']}")
    if a.json:
        from stamp import write_json

        write_json(a.json, dict(tool="tools/bench/format_bench.py", quality=a.quality, scenes=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
