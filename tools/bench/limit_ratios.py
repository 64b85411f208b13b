"""The ratios that spec 9.7's work limits bound, measured on LGS files (issue 14).

    python tools/bench/limit_ratios.py FILE.lgs ... [--md out.md] [--json out.json]

For each file, decoded whole under ``Limits.trusted()`` with the per-lane limit lifted too (so
nothing is refused): its bytes, Gaussians, the largest decoded values per byte of a unit's
critical segments (9.7 a: n * (3 + C) / bytes), the largest steps per lane of a stream with
fewer than 4096 lanes (9.7 b: ceil(n / K)), the rANS steps of the whole decode as 9.7 (c)
counts them (ceil((k0 + m) / K) per batch) and per byte, and the decode time. Encode the files
first, e.g. ``refcodec encode ../shared/data/plant.ply /tmp/plant-high.lgs --quality high``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(path: str) -> dict:
    from refcodec.format import rans
    from refcodec.format.decode import decode
    from refcodec.format.front import Limits, read_front

    data = Path(path).read_bytes()
    fm = read_front(data, limits=Limits.trusted())
    per = 3 + len(fm.info.steps)
    density = max((u.count * per / max(1, sum(fm.toc[i].length for i in u.critical))
                   for u in fm.units if u.count), default=0.0)
    streams, steps = [], [0]
    read, finish = rans.Decoder.read_slots, rans.Decoder.finish

    def counting_read(self, contexts, n=None):
        m = int(n) if n is not None else len(contexts)
        if m:
            steps[0] += -(-(self.i % self.K + m) // self.K)
        return read(self, contexts, n)

    def counting_finish(self):
        streams.append((self.i, self.K))
        return finish(self)

    rans.Decoder.read_slots, rans.Decoder.finish = counting_read, counting_finish
    try:
        t = time.perf_counter()
        res = decode(data, front=fm, limits=Limits(values_per_byte=None, steps_per_lane=None, steps_base=None))
        secs = time.perf_counter() - t
    finally:
        rans.Decoder.read_slots, rans.Decoder.finish = read, finish
    lane_steps = max((-(-i // K) for i, K in streams if K < 4096), default=0)
    return dict(file=Path(path).name, bytes=len(data), gaussians=int(res.scene.n), streams=len(streams),
                values_per_byte=round(density, 2), steps_per_lane=lane_steps, steps=steps[0],
                steps_per_byte=round(steps[0] / len(data), 4), decode_s=round(secs, 3))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = [measure(f) for f in a.files]
    keys = ["file", "bytes", "gaussians", "values_per_byte", "steps_per_lane", "steps", "steps_per_byte", "decode_s"]
    head = ("| file | bytes | Gaussians | max values/byte of a unit (9.7 a: 256) | max steps/lane, K < 4096 "
            "(9.7 b: 16384) | steps (9.7 c) | steps/byte (9.7 c: 2^17 + 2/byte) | decode s |")
    lines = [head, "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys) + " |" for r in rows]
    worst = {k: max(r[k] for r in rows) for k in ("values_per_byte", "steps_per_lane", "steps", "steps_per_byte")}
    lines.append("")
    lines.append("Largest: " + ", ".join(f"{k} {v}" for k, v in worst.items()))
    md = "\n".join(lines) + "\n"
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        from stamp import write_json
        write_json(a.json, dict(rows=rows, largest=worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
