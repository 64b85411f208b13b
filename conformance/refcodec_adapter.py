"""A worked example of the runner's decoder interface (conformance/README.md), wrapping refcodec:

    python conformance/run.py --decoder \
        'python conformance/refcodec_adapter.py {input} {output} {levels} {strict} {dropped}'

It writes the canonical dump to OUTPUT and the dropped units (spec 8.3) to DROPPED, one
"LAYER REGION" line each, and exits 0; on a spec 9 error it prints "LGS-ERROR: <Name>" on
stderr and exits 1. A port in another language does the same with its own decoder.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv) -> int:
    from refcodec.format.decode import canonical_dump, decode
    from refcodec.format.errors import LGSError
    src, out, levels, strict = argv[:4]
    dropped = argv[4] if len(argv) > 4 else None
    sel = None if levels == "all" else [int(k) for k in levels.split(",")]
    try:
        res = decode(Path(src).read_bytes(), sel, strict=strict == "strict")
    except LGSError as e:
        name = type(e).__name__
        print(f"LGS-ERROR: {name[:-5] if name.endswith('Error') else name}", file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    Path(out).write_bytes(canonical_dump(res.scene))
    if dropped:
        Path(dropped).write_text("".join(f"{u.layer} {u.region}\n" for u in res.problems))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
