"""Run the LGS conformance cases against the reference decoder or any other decoder.

    python conformance/run.py                      # the reference decoder (refcodec)
    python conformance/run.py --decoder 'mydec {input} {output} {levels} {strict}'

A third-party decoder is a command template: {input} is the .lgs path, {output} the path where it
must write the canonical dump (README.md), {levels} the comma-separated level per region or
"all", {strict} "strict" or "lenient". It must exit 0 on success and non-zero on an error case.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def reference_decode(blob: bytes, levels, strict: bool) -> dict:
    from refcodec.format.decode import canonical_dump, decode
    from refcodec.format.errors import LGSError
    try:
        res = decode(blob, levels, strict=strict)
    except LGSError as e:
        return {"error": type(e).__name__}
    dump = canonical_dump(res.scene)
    return {"gaussians": res.scene.n, "sha256": hashlib.sha256(dump).hexdigest(),
            "dropped_units": sorted([u.layer, u.region] for u in res.problems)}


def run_external(template: str, case_dir: Path, meta: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.f32"
        levels = "all" if meta["levels"] is None else ",".join(map(str, meta["levels"]))
        cmd = template.format(input=shlex.quote(str(case_dir / "input.lgs")), output=shlex.quote(str(out)),
                              levels=levels, strict="strict" if meta["strict"] else "lenient")
        p = subprocess.run(cmd, shell=True, capture_output=True, timeout=120)
        if p.returncode != 0:
            return {"error": "nonzero exit"}
        dump = out.read_bytes() if out.exists() else b""
        return {"sha256": hashlib.sha256(dump).hexdigest()}


def check(meta: dict, got: dict, external: bool) -> bool:
    if "error" in meta:
        return "error" in got and (external or got["error"] == meta["error"])
    if "error" in got or got["sha256"] != meta["sha256"]:
        return False
    return external or (got["gaussians"] == meta["gaussians"] and got["dropped_units"] == meta["dropped_units"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decoder", default=None, help="command template of a third-party decoder")
    ap.add_argument("--cases", default=str(HERE / "cases"))
    a = ap.parse_args(argv)
    failed = passed = 0
    for d in sorted(Path(a.cases).iterdir()):
        meta = json.loads((d / "case.json").read_text())
        if a.decoder:
            got = run_external(a.decoder, d, meta)
        else:
            got = reference_decode((d / "input.lgs").read_bytes(), meta["levels"], meta["strict"])
        ok = check(meta, got, bool(a.decoder))
        passed += ok
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {d.name:<28} {meta['description']}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
