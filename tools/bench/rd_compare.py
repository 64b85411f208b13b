"""Side-by-side table of several ``rd_bench.py --target-fractions`` runs (one per encoder setting).

    python tools/bench/rd_compare.py default=a.json prune=b.json "rd auto=c.json" [--md out.md]

For every scene and peer, one row per run: LGS rate-controlled to the fraction of the peer's bytes,
its bytes (ratio to the peer's), and each score as LGS minus the peer in dB (orbit full-frame,
orbit foreground, unseen full-frame, unseen foreground; the unseen ones when the run had
``--unseen``), then the peer's own scores. Reads the JSON the bench wrote; computes nothing new.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rd_eval import fmt, num  # noqa: E402

KEYS = (("psnr", "PSNR"), ("fg_psnr", "fg"), ("unseen_psnr", "unseen"), ("unseen_fg_psnr", "unseen fg"))


def _diff(a, b) -> str:
    a, b = num(a), num(b)
    return "-" if a is None or b is None else f"{a - b:+.2f}"


def table(runs: list) -> str:
    """``runs``: [(label, bench JSON document)] -> Markdown."""
    rows = {}
    for label, doc in runs:
        for sc in doc["scenes"]:
            peers = {p["codec"]: p for p in sc["peers"]}
            for c in sc["comparisons"]:
                m = c.get("lgs_at_fraction")
                if m:
                    rows.setdefault((sc["scene"], c["peer"], m["fraction"]), []).append((label, m, peers[c["peer"]]))
    L = ["| scene | peer (bytes) | fraction | setting | LGS bytes (ratio) | "
         + " | ".join(f"{n} dB vs peer" for _, n in KEYS) + " | meets all four |",
         "| --- | --- | ---: | --- | ---: | " + " | ".join("---:" for _ in KEYS) + " | --- |"]
    for (scene, peer, frac), items in rows.items():
        p = items[0][2]
        L.append(f"| {scene} | {peer} ({p['bytes']:,}) | {frac:.2f} | peer's own scores | - | "
                 + " | ".join(fmt(p.get(k)) for k, _ in KEYS) + " | - |")
        for label, m, pr in items:
            ok = all(num(m.get(k)) is not None and num(pr.get(k)) is not None and m[k] >= pr[k] for k, _ in KEYS)
            L.append(f"| {scene} | {peer} | {frac:.2f} | {label} | {m['bytes']:,} ({m['bytes'] / pr['bytes']:.3f}) | "
                     + " | ".join(_diff(m.get(k), pr.get(k)) for k, _ in KEYS) + f" | {'yes' if ok else 'no'} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="LABEL=JSON")
    ap.add_argument("--md", default=None)
    a = ap.parse_args(argv)
    runs = []
    for item in a.runs:
        label, sep, path = item.rpartition("=")
        if not sep:
            ap.error(f"expected LABEL=JSON, got {item!r}")
        runs.append((label, json.loads(Path(path).read_text())))
    md = table(runs)
    print(md, end="")
    if a.md:
        Path(a.md).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
