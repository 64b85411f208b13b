"""Run the LGS conformance cases against the reference decoder or any other decoder.

    python conformance/run.py                      # the reference decoder (refcodec), in-process
    python conformance/run.py --decoder 'mydec {input} {output} {levels} {strict} {dropped}'

A third-party decoder is a command template (conformance/README.md, "Decoder interface"):
{input} is the .lgs path, {output} the path where it writes the canonical dump, {levels} the
comma-separated level per region or "all", {strict} "strict" or "lenient", {dropped} the path
where it writes the units it dropped (spec 8.3), one "LAYER REGION" line each. It exits 0 on
success; on a spec 9 error it exits 1 and prints "LGS-ERROR: <Name>" on stderr (Truncated,
BadMagic, UnsupportedVersion, Checksum, Corrupt, Limit). Any other exit, a signal, a timeout or
a traceback is a crash and fails the case.

Checked per case: the error class (error cases), or the Gaussian count (the dump's length),
the SHA-256 of the canonical dump and the dropped units (decode cases). Prints one table row a
case and closes with "N passed, N failed".
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
ERROR_NAMES = ("Truncated", "BadMagic", "UnsupportedVersion", "Checksum", "Corrupt", "Limit")  # spec 9.1-9.6
ERROR_EXIT = 1
TIMEOUT_S = 60


def error_name(cls_name: str) -> str:
    """'CorruptError' -> 'Corrupt': the name a decoder prints after LGS-ERROR:."""
    return cls_name[:-5] if cls_name.endswith("Error") else cls_name


def reference_decode(blob: bytes, levels, strict: bool) -> dict:
    """The reference decoder, in-process: the expected result of a case."""
    from refcodec.format.decode import canonical_dump, decode
    from refcodec.format.errors import LGSError

    try:
        res = decode(blob, levels, strict=strict)
    except LGSError as e:
        return {"error": error_name(type(e).__name__)}
    dump = canonical_dump(res.scene)
    return {
        "gaussians": res.scene.n,
        "sha256": hashlib.sha256(dump).hexdigest(),
        "dropped_units": sorted([u.layer, u.region] for u in res.problems),
    }


def _channels(meta: dict) -> int:
    return 3 + 11 + 3 * ((meta.get("sh_degree", 0) + 1) ** 2 - 1)


def parse_dropped(text: str) -> list | str:
    """The {dropped} side file: 'LAYER REGION' per line (blank lines ignored). A malformed file
    gives a message instead of a list."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return f"dropped-units file line {n} is not 'LAYER REGION': {line[:40]!r}"
        out.append([int(parts[0]), int(parts[1])])
    return sorted(out)


def run_external(template: str, case_dir: Path, meta: dict, timeout: float = TIMEOUT_S) -> dict:
    """Run a third-party decoder on one case; returns what it produced, or {"crash": why}."""
    with tempfile.TemporaryDirectory() as tmp:
        out, dropped = Path(tmp) / "out.f32", Path(tmp) / "dropped.txt"
        levels = "all" if meta["levels"] is None else ",".join(map(str, meta["levels"]))
        cmd = template.format(
            input=shlex.quote(str(case_dir / "input.lgs")),
            output=shlex.quote(str(out)),
            levels=levels,
            strict="strict" if meta["strict"] else "lenient",
            dropped=shlex.quote(str(dropped)),
        )
        try:
            p = subprocess.run(cmd, shell=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"crash": f"timeout after {timeout:.0f} s"}
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode < 0 or p.returncode > 128:
            return {"crash": f"killed by signal {abs(p.returncode) % 128}"}
        if "Traceback (most recent call last)" in err:
            return {"crash": "traceback on stderr"}
        if p.returncode == ERROR_EXIT:
            names = [ln.split(":", 1)[1].strip() for ln in err.splitlines() if ln.startswith("LGS-ERROR:")]
            if len(names) != 1 or names[0] not in ERROR_NAMES:
                return {"crash": f"exit {ERROR_EXIT} without one 'LGS-ERROR: <Name>' line on stderr"}
            return {"error": names[0]}
        if p.returncode != 0:
            return {"crash": f"exit status {p.returncode}"}
        dump = out.read_bytes() if out.exists() else b""
        row = 4 * _channels(meta)
        got = {
            "gaussians": len(dump) // row if len(dump) % row == 0 else f"{len(dump)} bytes",
            "sha256": hashlib.sha256(dump).hexdigest(),
            "dropped_units": parse_dropped(dropped.read_text()) if dropped.exists() else [],
        }
        return got


def check(meta: dict, got: dict) -> tuple[bool, str]:
    """(passed, why) for one case's expectation ``meta`` against a decoder's result ``got``."""
    if "crash" in got:
        return False, "crash: " + got["crash"]
    if "error" in meta:
        want = error_name(meta["error"])
        if "error" not in got:
            return False, f"decoded {got['gaussians']} Gaussians, expected LGS-ERROR: {want}"
        return (got["error"] == want), ("" if got["error"] == want else f"LGS-ERROR: {got['error']}, expected {want}")
    if "error" in got:
        return False, f"LGS-ERROR: {got['error']}, expected {meta['gaussians']} Gaussians"
    if got["gaussians"] != meta["gaussians"]:
        return False, f"{got['gaussians']} Gaussians, expected {meta['gaussians']}"
    if got["sha256"] != meta["sha256"]:
        return False, "digest differs"
    if isinstance(got["dropped_units"], str):
        return False, got["dropped_units"]
    if got["dropped_units"] != meta["dropped_units"]:
        return False, f"dropped {got['dropped_units']}, expected {meta['dropped_units']}"
    return True, ""


def expectation(meta: dict) -> str:
    if "error" in meta:
        return "LGS-ERROR: " + error_name(meta["error"])
    d = meta["dropped_units"]
    return f"{meta['gaussians']} G" + (f", dropped {len(d)}" if d else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decoder", default=None, help="command template of a third-party decoder")
    ap.add_argument("--cases", default=str(HERE / "cases"))
    ap.add_argument("--only", default=None, help="run the cases whose name contains this string")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per case before it counts as a hang")
    a = ap.parse_args(argv)
    failed = passed = 0
    dirs = [d for d in sorted(Path(a.cases).iterdir()) if (d / "case.json").exists()]
    if a.only:
        dirs = [d for d in dirs if a.only in d.name]
    width = max([len(d.name) for d in dirs] + [4])
    print(f"{'case':<{width}}  {'expected':<26} {'result':<6} detail")
    for d in dirs:
        meta = json.loads((d / "case.json").read_text())
        if a.decoder:
            got = run_external(a.decoder, d, meta, a.timeout)
        else:
            got = reference_decode((d / "input.lgs").read_bytes(), meta["levels"], meta["strict"])
        ok, why = check(meta, got)
        passed += ok
        failed += not ok
        print(f"{d.name:<{width}}  {expectation(meta):<26} {'PASS' if ok else 'FAIL':<6} {why}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
