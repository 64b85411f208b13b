"""Stream scale bench: a scene of >= 2M Gaussians (tiled copies of a real one) encoded with spatial
tiles, decoded locally, and decoded by range requests from a real HTTP server on loopback.

    python tools/bench/stream_scale.py /work/shared/data/biker.ply [--copies 14] [--tiles 16] \
        [--md out.md] [--json out.json]

Steps, each in a fresh Python process of its own so that its peak memory (ru_maxrss) is its own:

* ``generate``: ``--copies`` copies of the scene on a square grid (spacing 1.1 x its extent),
  saved as .npz in a temporary folder;
* ``encode``: ``encode_scene`` with ``--tiles`` k-d tiles (quality high), the .lgs written;
* ``decode``: ``refcodec.format.decode.decode`` of the whole file (bytes read from disk);
* ``range level 2``, ``range full``: ``RemoteLGS(url).decode(levels)`` against an aiohttp static
  server (honours Range) in another process, with bytes fetched and requests;
* ``range view 10%``: levels chosen for a camera near one corner under a budget of 10% of the file.

Times are wall seconds of the call (imports and reading inputs excluded); peak MB is
``ru_maxrss`` of the step's process, with its increase over the baseline after imports/inputs.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKER = "--_worker"

SERVER = r"""
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/", sys.argv[1])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


def _rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(step: str, args: dict) -> dict:
    sys.path.insert(0, str(REPO))
    import numpy as np

    if step == "generate":
        from refcodec.format.scene import Scene
        from refcodec.io.load import load_scene
        s = load_scene(args["scene"])
        base = _rss_mb()
        t = time.perf_counter()
        k = args["copies"]
        side = int(np.ceil(np.sqrt(k)))
        ext = s.positions.max(0) - s.positions.min(0)
        offs = np.array([[(i % side) * 1.1 * ext[0], 0.0, (i // side) * 1.1 * ext[2]] for i in range(k)], np.float32)
        pos = (s.positions[None] + offs[:, None]).reshape(-1, 3)
        rep = lambda a: np.tile(a, (k,) + (1,) * (a.ndim - 1))   # noqa: E731
        big = Scene(pos, rep(s.opacity), rep(s.scales), rep(s.rotations), rep(s.sh_dc), rep(s.sh_rest))
        np.savez(args["npz"], positions=big.positions, opacity=big.opacity, scales=big.scales,
                 rotations=big.rotations, sh_dc=big.sh_dc, sh_rest=big.sh_rest)
        return dict(seconds=time.perf_counter() - t, gaussians=big.n, base_mb=base)
    if step == "encode":
        from refcodec.encoder import EncodeOptions, encode_scene
        from refcodec.format.scene import Scene
        from refcodec.roi.tiles import tile_regions
        z = np.load(args["npz"])
        scene = Scene(**{k: z[k] for k in z.files})
        base = _rss_mb()
        t = time.perf_counter()
        data = encode_scene(scene, EncodeOptions(regions=tile_regions(scene, args["tiles"]), progress=False))
        sec = time.perf_counter() - t
        Path(args["lgs"]).write_bytes(data)
        return dict(seconds=sec, bytes=len(data), gaussians=scene.n, base_mb=base)
    if step == "decode":
        from refcodec.format.decode import decode
        data = Path(args["lgs"]).read_bytes()
        base = _rss_mb()
        t = time.perf_counter()
        res = decode(data)
        return dict(seconds=time.perf_counter() - t, gaussians=int(res.scene.n), bytes=len(data), base_mb=base)
    if step.startswith("range"):
        from refcodec.stream import RemoteLGS
        from refcodec.stream.select import View, select_levels
        base = _rss_mb()
        t = time.perf_counter()
        with RemoteLGS(args["url"]) as r:
            fm = r.open()
            R = fm.info.num_regions
            if args["mode"] == "view":
                lo = np.array([x.bbox_min for x in fm.regions if sum(x.counts)]).min(0)
                levels = select_levels(fm, View(lo - 0.05), int(0.1 * r.file_size))
            else:
                levels = [args["level"]] * R
            res = r.decode(levels)
            st = r.stats()
        return dict(seconds=time.perf_counter() - t, gaussians=int(res.scene.n), bytes=st.bytes_fetched,
                    file_bytes=st.file_size, requests=st.requests, base_mb=base)
    raise ValueError(step)


def run_step(step: str, args: dict) -> dict:
    p = subprocess.run([sys.executable, __file__, WORKER, step, json.dumps(args)], capture_output=True,
                       text=True, cwd=REPO)
    if p.returncode != 0:
        raise RuntimeError(f"{step} failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == WORKER:
        out = worker(sys.argv[2], json.loads(sys.argv[3]))
        out["peak_mb"] = _rss_mb()
        print(json.dumps(out))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scene")
    ap.add_argument("--copies", type=int, default=14)
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tools" / "bench"))
    from tiles_bench import stamp
    steps = []
    with tempfile.TemporaryDirectory() as tmp:
        npz, lgs = os.path.join(tmp, "scene.npz"), os.path.join(tmp, "scene.lgs")

        def step(name, kind, args):
            print(f"{name} ...", file=sys.stderr, flush=True)
            r = run_step(kind, args)
            r["step"] = name
            steps.append(r)
            print(f"  {r}", file=sys.stderr, flush=True)
            return r

        step("generate", "generate", dict(scene=a.scene, copies=a.copies, npz=npz))
        step("encode", "encode", dict(npz=npz, lgs=lgs, tiles=a.tiles))
        os.remove(npz)
        step("decode (local, whole file)", "decode", dict(lgs=lgs))
        port = _free_port()
        srv = subprocess.Popen([sys.executable, "-c", SERVER, tmp, str(port)])
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            url = f"http://127.0.0.1:{port}/scene.lgs"
            step("range decode, level 2", "range", dict(url=url, mode="level", level=2))
            step("range decode, whole file", "range", dict(url=url, mode="level", level=255))
            step("range decode, view at 10% budget", "range", dict(url=url, mode="view"))
        finally:
            srv.terminate()
            srv.wait(10)
    doc = dict(stamp=stamp(), scene=a.scene, copies=a.copies, tiles=a.tiles, cpus=os.cpu_count(), steps=steps)
    dirty = " + local changes" if doc["stamp"]["dirty"] else ""
    md = [f"Stream scale bench (commit {doc['stamp']['commit'][:10]}{dirty}, "
          f"LGS {doc['stamp']['spec_version']}, {doc['stamp']['date']}): {a.copies} copies of {Path(a.scene).name}, "
          f"{a.tiles} tiles, quality high, {os.cpu_count()} CPUs; each step in its own process.", "",
          "| step | Gaussians | bytes (fetched) | requests | seconds | peak MB (+ over inputs) |",
          "| --- | --- | --- | --- | --- | --- |"]
    for s in steps:
        md.append(f"| {s['step']} | {s.get('gaussians', 0):,} | {s.get('bytes', 0):,}"
                  f"{' of ' + format(s['file_bytes'], ',') if 'file_bytes' in s else ''} | {s.get('requests', '')} | "
                  f"{s['seconds']:.2f} | {s['peak_mb']:.0f} (+{s['peak_mb'] - s['base_mb']:.0f}) |")
    text = "\n".join(md) + "\n"
    print(text)
    if a.md:
        Path(a.md).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
