"""Scale bench: encode / decode time and peak memory on large generated (and real) scenes.

    python tools/bench/scale_bench.py [scenes...] [--sizes 150000,1000000] [--sh 3] \
        [--quality high] [--repeat N] [--seed 1] [--md out.md] [--json out.json] [--quiet]

Checks the scale targets of the issue on this machine:

* a ~150,000-Gaussian scene: encode <= 3 s, full decode <= 0.5 s, layer-1 decode <= 0.1 s;
* a generated 1,000,000-Gaussian SH3 scene: encode <= 20 s, full decode <= 3 s, and peak
  memory (RSS) of the encode and of the decode process under 2 GB (checked as < 2000 MiB,
  stricter than either reading of "GB").

The 150k targets apply to every scene within 0.8x-1.25x of 150,000 Gaussians, the 1M targets to
SH3 scenes within 0.8x-1.25x of 1,000,000; other scenes are measured but not checked.

Scenes: ``refcodec.io.synthetic.make_scene(n, sh_degree=--sh, seed=--seed)`` for each n of
``--sizes`` (``--sizes ''`` for none), plus real scene files given as arguments (read with
``refcodec.io.load.load_scene``, never copied).

Every step runs in a fresh Python subprocess of its own, so its peak memory is its own:
``generate`` (make_scene, written as .npz into a temporary directory), ``encode``
(``refcodec.encoder.encode_scene(scene, EncodeOptions(quality=--quality, progress=False))``,
the bytes written to a file), ``decode`` (``refcodec.format.decode.decode(data)``) and ``layer-1``
(``decode(data, levels=[1] * num_regions)``: only layer 1 of every region). Times are wall
seconds of the call alone (``time.perf_counter``; generating or reading the inputs, imports and
process start are excluded), best of ``--repeat`` runs (default: 1 for scenes of >= 1,000,000
Gaussians, 3 for smaller ones). Peak memory is the subprocess's
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (MiB, shown as MB) and its increase over the
baseline taken after the imports and reading the inputs (shown as ``+N``). The parent process
stays small (it imports no numpy or refcodec), so its own size never shows in a child's peak.

Output: a Markdown table on stdout (and ``--md``), and with ``--json`` all numbers (the
``stamp`` of ``stamp.py``, settings, environment, one entry per scene with every step).
Progress lines go to stderr (``--quiet`` silences them). Exit status 1 when a step failed, or
with ``--check`` when a target was missed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WORKER_FLAG = "--_worker"
BIG = 1_000_000           # scenes at least this large are timed once by default
MEMORY_LIMIT_MB = 2000.0  # "under 2 GB", in MiB (ru_maxrss / 1024)

# name, nominal Gaussians, required SH degree (None: any), limits
TARGETS = [
    dict(name="150k", gaussians=150_000, sh_degree=None,
         limits=dict(encode_s=3.0, decode_s=0.5, layer1_decode_s=0.1)),
    dict(name="1M SH3", gaussians=1_000_000, sh_degree=3,
         limits=dict(encode_s=20.0, decode_s=3.0, encode_peak_mb=MEMORY_LIMIT_MB,
                     decode_peak_mb=MEMORY_LIMIT_MB)),
]
TARGET_TOLERANCE = (0.8, 1.25)  # a target applies to scenes of nominal x this range of Gaussians


class _Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Worker side: one step in a fresh process
# ------------------------------------------------------------------------------------------------
def _peak_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0


SCENE_FIELDS = ("positions", "opacity", "scales", "rotations", "sh_dc", "sh_rest")


def _save_npz(path: str, scene) -> None:
    import numpy as np

    arrays = {k: getattr(scene, k) for k in SCENE_FIELDS}
    arrays.update({f"extra_{k}": v for k, v in scene.extra.items()})
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load_input_scene(path: str):
    if path.endswith(".npz"):
        import numpy as np

        from refcodec.format.scene import Scene

        with np.load(path) as z:
            fields = {k: z[k] for k in SCENE_FIELDS}
            extra = {k[len("extra_"):]: z[k] for k in z.files if k.startswith("extra_")}
        return Scene(**fields, extra=extra)
    from refcodec.io.load import load_scene

    return load_scene(path)


def _best_of(repeat: int, fn):
    """(best seconds, last result) over ``repeat`` calls; the previous result is dropped before
    each call so that two results never coexist in memory."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        out = None
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_step(step: str, args: dict) -> dict:
    """Run one step in this process; returns its measurements."""
    if step == "generate":
        from refcodec.io.synthetic import make_scene

        t = time.perf_counter()
        scene = make_scene(args["n"], sh_degree=args["sh"], seed=args["seed"])
        gen_s = time.perf_counter() - t
        _save_npz(args["out"], scene)
        return dict(seconds=gen_s, gaussians=scene.n, sh_degree=scene.sh_degree, peak_mb=_peak_mb())

    if step == "encode":
        from refcodec.encoder import EncodeOptions, encode_scene

        scene = _load_input_scene(args["scene"])
        base = _peak_mb()
        opts = EncodeOptions(quality=args["quality"], progress=False)
        best, data = _best_of(args["repeat"], lambda: encode_scene(scene, opts))
        peak = _peak_mb()
        Path(args["out"]).write_bytes(data)
        return dict(seconds=best, bytes=len(data), gaussians=scene.n, sh_degree=scene.sh_degree,
                    baseline_mb=base, peak_mb=peak, peak_increase_mb=peak - base)

    if step in ("decode", "layer1"):
        from refcodec.format.front import read_front
        from refcodec.format.decode import decode

        data = Path(args["data"]).read_bytes()
        front = read_front(data)
        levels = None if step == "decode" else [1] * front.info.num_regions
        base = _peak_mb()
        best, res = _best_of(args["repeat"], lambda: decode(data, levels))
        peak = _peak_mb()
        return dict(seconds=best, gaussians=res.scene.n, num_regions=front.info.num_regions,
                    num_layers=front.info.num_layers, problems=len(res.problems),
                    baseline_mb=base, peak_mb=peak, peak_increase_mb=peak - base)

    raise ValueError(f"unknown step {step!r}")


def _worker_main(argv: list) -> int:
    step, args_json, result_path = argv
    result = run_step(step, json.loads(args_json))
    Path(result_path).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------------------
# Parent side
# ------------------------------------------------------------------------------------------------
def spawn(step: str, args: dict, tmp: Path, timeout: float) -> dict:
    """Run ``step`` in a fresh interpreter; its measurements, or dict(error=...)."""
    result_path = tmp / f"result-{step}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG, step, json.dumps(args), str(result_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {timeout:g} s")
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not result_path.exists():
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return dict(error=f"exit {proc.returncode}: {tail[0][:300]}", stderr_tail=(proc.stderr or "")[-2000:])
    out = json.loads(result_path.read_text())
    result_path.unlink()
    out["process_s"] = wall
    return out


def parse_sizes(text: str) -> list:
    sizes = []
    for part in text.replace("_", "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        mult = 1
        if part[-1] in "km":
            mult, part = (1000 if part[-1] == "k" else 1_000_000), part[:-1]
        sizes.append(int(float(part) * mult))
    if any(n <= 0 for n in sizes):
        raise ValueError("sizes must be positive")
    return sizes


def _short_count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def targets_for(n: int, sh_degree: int) -> list:
    lo, hi = TARGET_TOLERANCE
    return [t for t in TARGETS if lo * t["gaussians"] <= n <= hi * t["gaussians"]
            and (t["sh_degree"] is None or t["sh_degree"] == sh_degree)]


def check_targets(row: dict) -> list:
    """One entry per (target, quantity) that applies to the row: limit, value, ok (None: no value)."""
    checks = []
    for t in targets_for(row["gaussians"], row["sh_degree"]):
        for key, limit in t["limits"].items():
            value = row.get(key)
            checks.append(dict(target=t["name"], quantity=key, limit=limit, value=value,
                               ok=None if value is None else bool(value <= limit if key.endswith("_s")
                                                                  else value < limit)))
    return checks


def bench_scene(spec: dict, quality: str, repeat: int | None, seed: int, tmp: Path, timeout: float,
                log) -> dict:
    """All steps for one scene: spec is dict(kind='generated', n=, sh=) or dict(kind='file', path=)."""
    row = dict(scene=None, source=spec["kind"], quality=quality, errors={})
    if spec["kind"] == "generated":
        n, sh = spec["n"], spec["sh"]
        row.update(scene=f"synthetic {_short_count(n)} SH{sh}", gaussians=n, sh_degree=sh, seed=seed)
        scene_path = tmp / f"synthetic-{n}-sh{sh}.npz"
        log(f"[{row['scene']}] generating (make_scene n={n}, sh_degree={sh}, seed={seed})")
        g = spawn("generate", dict(n=n, sh=sh, seed=seed, out=str(scene_path)), tmp, timeout)
        row["generate"] = g
        if "error" in g:
            row["errors"]["generate"] = g["error"]
            log(f"[{row['scene']}] generate failed: {g['error']}")
            return row
        row["input_bytes"] = scene_path.stat().st_size
    else:
        scene_path = Path(spec["path"]).resolve()
        row.update(scene=scene_path.name, path=str(scene_path), input_bytes=scene_path.stat().st_size,
                   gaussians=None, sh_degree=None)

    reps = repeat
    if reps is None:
        reps = 1 if (row["gaussians"] or 0) >= BIG else 3
    row["repeat"] = reps
    data_path = tmp / f"{Path(str(scene_path)).stem}.lgs"
    log(f"[{row['scene']}] encoding (quality {quality}, best of {reps})")
    e = spawn("encode", dict(scene=str(scene_path), quality=quality, repeat=reps, out=str(data_path)), tmp, timeout)
    row["encode"] = e
    if spec["kind"] == "generated":
        scene_path.unlink(missing_ok=True)
    if "error" in e:
        row["errors"]["encode"] = e["error"]
        log(f"[{row['scene']}] encode failed: {e['error']}")
        return row
    if row["gaussians"] is None:  # a real scene: learned from the encode step
        row["gaussians"], row["sh_degree"] = e["gaussians"], e["sh_degree"]
        if repeat is None and row["gaussians"] >= BIG:
            reps = row["repeat"] = 1
    row["bytes"] = e["bytes"]
    row["bits_per_gaussian"] = 8 * e["bytes"] / row["gaussians"] if row["gaussians"] else None
    row["encode_s"] = e["seconds"]
    row["encode_peak_mb"] = e["peak_mb"]
    row["encode_peak_increase_mb"] = e["peak_increase_mb"]
    log(f"[{row['scene']}] encode {e['seconds']:.3f} s, {e['bytes']:,} bytes, peak {e['peak_mb']:.0f} MB")

    for step, label, key in (("decode", "full decode", "decode"), ("layer1", "layer-1 decode", "layer1_decode")):
        log(f"[{row['scene']}] {label} (best of {reps})")
        d = spawn(step, dict(data=str(data_path), repeat=reps), tmp, timeout)
        row[step] = d
        if "error" in d:
            row["errors"][step] = d["error"]
            log(f"[{row['scene']}] {label} failed: {d['error']}")
            continue
        row[f"{key}_s"] = d["seconds"]
        row[f"{key}_gaussians"] = d["gaussians"]
        row[f"{key}_peak_mb"] = d["peak_mb"]
        row[f"{key}_peak_increase_mb"] = d["peak_increase_mb"]
        log(f"[{row['scene']}] {label} {d['seconds']:.3f} s, {d['gaussians']:,} Gaussians, "
            f"peak {d['peak_mb']:.0f} MB")
    data_path.unlink(missing_ok=True)
    return row


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def _mark(row: dict, key: str) -> str:
    oks = [c["ok"] for c in row.get("checks", []) if c["quantity"] == key and c["ok"] is not None]
    if not oks:
        return ""
    return " ✓" if all(oks) else " ✗"


def _fmt(row: dict, key: str, fmt: str) -> str:
    v = row.get(key)
    if v is None:
        return "failed" if row.get("errors") else "—"
    return format(v, fmt) + _mark(row, key)


def _fmt_peak(row: dict, step: str) -> str:
    v = row.get(f"{step}_peak_mb")
    if v is None:
        return "—"
    return f"{v:.0f} (+{row[f'{step}_peak_increase_mb']:.0f}){_mark(row, f'{step}_peak_mb')}"


def markdown(rows: list, settings: dict) -> str:
    lines = [f"Scale bench: quality {settings['quality']}, {settings['cpus']} CPUs; times are best of "
             "the repeats, peak MB is the step's process (+ increase over the inputs in memory).", "",
             "| scene | Gaussians | SH | bytes | bits/G | encode s | decode s | layer-1 decode s | "
             "peak MB encode / decode |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        g = f"{r['gaussians']:,}" if r.get("gaussians") is not None else "—"
        sh = str(r["sh_degree"]) if r.get("sh_degree") is not None else "—"
        b = f"{r['bytes']:,}" if r.get("bytes") is not None else "—"
        lines.append(f"| {r['scene']} | {g} | {sh} | {b} | {_fmt(r, 'bits_per_gaussian', '.2f')} | "
                     f"{_fmt(r, 'encode_s', '.3f')} | {_fmt(r, 'decode_s', '.3f')} | "
                     f"{_fmt(r, 'layer1_decode_s', '.3f')} | {_fmt_peak(r, 'encode')} / {_fmt_peak(r, 'decode')} |")
    lines.append("")
    checked = [(r, c) for r in rows for c in r.get("checks", [])]
    if checked:
        lines.append("Targets:")
        lines.append("")
        for r, c in checked:
            unit = "s" if c["quantity"].endswith("_s") else "MB"
            op = "<=" if unit == "s" else "<"
            value = "no value" if c["value"] is None else f"{c['value']:.3f} {unit}"
            mark = "✓" if c["ok"] else ("✗" if c["ok"] is False else "?")
            lines.append(f"- {mark} {r['scene']}: {c['quantity']} {value} (target {op} {c['limit']:g} {unit}, "
                         f"{c['target']})")
        lines.append("")
    failed = [(r, step, err) for r in rows for step, err in r.get("errors", {}).items()]
    for r, step, err in failed:
        lines.append(f"- {r['scene']}: {step} failed: {err}")
    if failed:
        lines.append("")
    return "\n".join(lines)


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else None
    except (OSError, subprocess.SubprocessError):
        return None


def _environment() -> dict:
    return dict(python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count(),
                cpu_model=_cpu_model(), git=_git_revision())


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="*", help="real scene files (.ply, .splat, .spz, compressed .ply), "
                                              "benched after the generated ones")
    ap.add_argument("--sizes", default="150000,1000000",
                    help="Gaussians of the generated scenes, comma-separated (150k, 1M work too; "
                         "default 150000,1000000; '' for none)")
    ap.add_argument("--sh", type=int, default=3, choices=(0, 1, 2, 3),
                    help="SH degree of the generated scenes (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="make_scene seed (default 1)")
    ap.add_argument("--quality", default="high", help="encoder quality preset (default high)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs per step, best kept (default 1 for >= 1M Gaussians, else 3)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per step process (default 1800)")
    ap.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    ap.add_argument("--md", default=None, help="also write the Markdown table here")
    ap.add_argument("--json", default=None, help="write all results as JSON here")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = ap.parse_args(argv)
    log = _Log(a.quiet)
    try:
        sizes = parse_sizes(a.sizes)
    except ValueError as e:
        ap.error(f"--sizes: {e}")
    if a.repeat is not None and a.repeat < 1:
        ap.error("--repeat must be >= 1")
    missing = [p for p in a.scenes if not Path(p).is_file()]
    if missing:
        ap.error(f"no such file: {', '.join(missing)}")
    specs = [dict(kind="generated", n=n, sh=a.sh) for n in sizes] + [dict(kind="file", path=p) for p in a.scenes]
    if not specs:
        ap.error("nothing to bench: give --sizes or scene files")

    env = _environment()
    settings = dict(sizes=sizes, sh_degree=a.sh, seed=a.seed, quality=a.quality, repeat=a.repeat,
                    cpus=env["cpus"], memory_limit_mb=MEMORY_LIMIT_MB, target_tolerance=list(TARGET_TOLERANCE),
                    targets=TARGETS)
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scale_bench-") as tmp:
        for spec in specs:
            row = bench_scene(spec, a.quality, a.repeat, a.seed, Path(tmp), a.timeout, log)
            row["checks"] = check_targets(row) if row.get("gaussians") is not None else []
            rows.append(row)
    settings["total_s"] = time.perf_counter() - t_all
    md = markdown(rows, settings)
    print(md, end="")
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        from stamp import write_json

        doc = dict(tool="tools/bench/scale_bench.py", settings=settings, environment=env, scenes=rows)
        write_json(a.json, doc)
    if any(r["errors"] for r in rows):
        return 1
    if a.check and any(c["ok"] is not True for r in rows for c in r["checks"]):
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        sys.exit(_worker_main(sys.argv[2:]))
    sys.exit(main())
