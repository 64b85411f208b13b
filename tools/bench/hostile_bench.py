"""Hostile-input bench: every file of a hostile folder through the CLI, outcome, time and peak memory.

    python tools/bench/hostile_bench.py [--dir ../shared/hostile] [--timeout 60] [--as-limit-gb 4] \
        [--label after] [--out tools/bench/results] [--root REPO]

For every ``.lgs`` file it runs ``refcodec decode FILE OUT.ply`` and ``refcodec info FILE``; for
every ``.ply`` (hostile scenes for the encoder) ``refcodec encode FILE OUT.lgs`` and then
``refcodec decode OUT.lgs OUT.ply``, and reports whether the decoded positions are all finite
and how many distinct x values the bulk of the scene kept. Each command runs in a subprocess of
its own (``python -m refcodec.cli`` with ``PYTHONPATH=--root``, so an older checkout can be
measured: ``git worktree add /tmp/base COMMIT`` then ``--root /tmp/base``), under an
address-space limit (``RLIMIT_AS``, default 4 GB) and a wall-clock timeout (default 60 s; the
child is killed and the outcome is "timeout"). Peak memory is that child's own
``ru_maxrss`` (``os.wait4``), in MiB shown as MB. Outputs are written to a temporary folder and
deleted after each file.

Writes ``hostile-<date>[-label].md`` and ``.json`` into ``--out``; the Markdown table is also
printed. Exit status 1 when any command took at least 5 s, 500 MB, printed more than one
stderr line, or printed a traceback (the issue's "done when").
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT_S, LIMIT_MB = 5.0, 500.0


def run(cmd: list, root: Path, timeout: float, as_bytes: int) -> dict:
    """Run ``python -m refcodec.cli *cmd``; return rc, seconds, peak MiB, stdout/stderr."""
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONWARNINGS="")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))

    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "refcodec.cli", *cmd], stdout=so, stderr=se,
                             env=env, preexec_fn=limit, cwd=str(root), start_new_session=True)
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        secs = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        out, err = so.read().decode("utf-8", "replace"), se.read().decode("utf-8", "replace")
    return dict(cmd=cmd[0], rc=p.returncode, timeout=timed_out, seconds=round(secs, 2),
                peak_mb=round(ru.ru_maxrss / 1024, 1), stdout=out[-2000:], stderr=err[-4000:])


def outcome(r: dict) -> str:
    if r["timeout"]:
        return "timeout"
    err = r["stderr"].strip()
    if "Traceback" in err:
        last = err.splitlines()[-1]
        return f"traceback: {last[:90]}"
    lines = err.splitlines()
    first = lines[0] if lines else ""
    more = f" (+{len(lines) - 1} more stderr lines)" if len(lines) > 1 else ""
    raw = any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in r["stdout"] + r["stderr"])
    more += "; raw control characters printed" if raw else ""
    if r["rc"] == 0:
        return ("ok" + (f"; {first[:100]}" if first else "") + more)
    return f"exit {r['rc']}: {first[:110]}{more}"


def check_ply(path: Path, root: Path) -> str:
    """Finite positions? distinct x among the bulk (decoded with the checkout's own PLY reader)."""
    code = ("import sys, numpy as np\nfrom refcodec.io.ply import read_ply\n"
            "s = read_ply(sys.argv[1])\np = s.positions\n"
            "fin = bool(np.isfinite(p).all())\n"
            "x = p[:, 0][np.abs(p[:, 0]) < 1e6]\n"
            "print(f'finite={fin} n={len(p)} distinct_bulk_x={len(np.unique(x))}')\n")
    env = dict(os.environ, PYTHONPATH=str(root))
    try:
        r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                           env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return "check timed out"
    return (r.stdout.strip() or r.stderr.strip().splitlines()[-1])[:100]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(REPO.parent / "shared" / "hostile"))
    ap.add_argument("--root", default=str(REPO), help="checkout whose refcodec is run")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--as-limit-gb", type=float, default=4.0)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default=str(REPO / "tools" / "bench" / "results"))
    ap.add_argument("--only", default="", help="comma-separated file names (default: all)")
    a = ap.parse_args(argv)
    root = Path(a.root).resolve()
    as_bytes = int(a.as_limit_gb * 1024 ** 3)
    files = sorted(p for p in Path(a.dir).iterdir() if p.suffix in (".lgs", ".ply"))
    if a.only:
        files = [p for p in files if p.name in a.only.split(",")]
    rows = []
    for f in files:
        with tempfile.TemporaryDirectory() as td:
            td = Path(td)
            if f.suffix == ".lgs":
                steps = [["decode", str(f), str(td / "out.ply")], ["info", str(f)]]
            else:
                steps = [["encode", str(f), str(td / "out.lgs"), "--quiet"],
                         ["decode", str(td / "out.lgs"), str(td / "out.ply"), "--quiet"]]
            for cmd in steps:
                r = run(cmd, root, a.timeout, as_bytes)
                r["file"], r["outcome"] = f.name, outcome(r)
                if f.suffix == ".ply" and cmd[0] == "decode" and r["rc"] == 0:
                    r["outcome"] += "; " + check_ply(td / "out.ply", root)
                rows.append(r)
                print(f"{f.name:<24} {cmd[0]:<7} {r['seconds']:>7.2f} s {r['peak_mb']:>8.1f} MB  {r['outcome']}",
                      file=sys.stderr, flush=True)
    date = dt.date.today().isoformat()
    stem = f"hostile-{date}" + (f"-{a.label}" if a.label else "")
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "refcodec"],
                           capture_output=True, text=True).stdout.strip()
    head = (f"# Hostile inputs ({a.label or 'run'}, {date})\n\n"
            f"refcodec at `{root.name}` commit {commit}{' + uncommitted changes' if dirty else ''}; "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"timeout {a.timeout:g} s, address-space limit {a.as_limit_gb:g} GB; peak RSS of the "
            f"command's process (ru_maxrss).\n\n")
    table = ["| file | command | outcome | time s | peak MB |", "| --- | --- | --- | ---: | ---: |"]
    for r in rows:
        t = "timeout" if r["timeout"] else f"{r['seconds']:.2f}"
        o = "".join(c if c.isprintable() else repr(c)[1:-1] for c in r["outcome"]).replace("|", "\\|")
        table.append(f"| {r['file']} | {r['cmd']} | {o} | {t} | {r['peak_mb']:.0f} |")
    bad = [r for r in rows if r["timeout"] or r["seconds"] >= LIMIT_S or r["peak_mb"] >= LIMIT_MB
           or "Traceback" in r["stderr"] or len(r["stderr"].strip().splitlines()) > 1
           or "raw control" in r["outcome"]]
    foot = (f"\n{len(rows) - len(bad)} of {len(rows)} commands within {LIMIT_S:g} s and {LIMIT_MB:g} MB "
            f"with at most one stderr line, no traceback and no raw control characters.\n")
    md = head + "\n".join(table) + "\n" + foot
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(md)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stamp import write_json      # the results stamp (of this harness's checkout)
    write_json(out / f"{stem}.json", dict(
        label=a.label, measured_root=str(root), measured_commit=commit, measured_dirty=bool(dirty),
        timeout_s=a.timeout, as_limit_gb=a.as_limit_gb, machine=platform.machine(), cpus=os.cpu_count(),
        rows=rows), indent=1)
    print(md)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
