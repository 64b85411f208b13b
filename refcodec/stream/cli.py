"""The command-line side of streaming: ``decode`` and ``info`` of URLs (and of local files read by
ranges), ``decode --progressive`` and ``decode --view``. Called from ``refcodec.cli``."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from refcodec.cli import _parse_roi_levels, warn_problems, write_report
from refcodec.stream.remote import DEFAULT_MAX_REQUESTS, RemoteLGS
from refcodec.stream.source import is_url


def add_decode_args(d: argparse.ArgumentParser) -> None:
    g = d.add_argument_group("streaming (INPUT may be an http(s)://, file:// or fsspec URL)")
    g.add_argument("--progressive", action="store_true",
                   help="OUTPUT is a folder: write level_1.ply, level_2.ply, ... as each level arrives")
    g.add_argument("--view", default=None, metavar="CAMERAS.json[:K] | X,Y,Z",
                   help="choose a level per region (tile) for this camera (K-th of a 3DGS cameras.json "
                        "or a COLMAP folder) or camera position, under --max-bytes (then a byte budget, "
                        "not a prefix; default: the whole file)")
    g.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                   help="at most this many range requests per fetch (ranges further apart are merged)")
    g.add_argument("--whole-file", action="store_true",
                   help="if the server ignores Range requests, download the whole file (with a warning) "
                        "instead of failing")


def wants_stream(a) -> bool:
    return bool(getattr(a, "progressive", False) or getattr(a, "view", None) or is_url(a.input))


def _limits(a):
    from refcodec.cli import _limits as cli_limits       # spec 9.7; --trusted lifts them
    return cli_limits(a)


def _remote(a, max_bytes) -> RemoteLGS:
    if a.max_requests < 1:
        raise ValueError("--max-requests must be >= 1")
    return RemoteLGS(a.input, max_bytes=max_bytes, max_gaussians=a.max_gaussians,
                     max_requests=a.max_requests, fallback="download" if a.whole_file else "error",
                     limits=_limits(a))


def _write(a, res, path) -> None:
    import numpy as np

    from refcodec.format.decode import canonical_dump
    from refcodec.io.ply import write_ply

    from refcodec.io.atomic import write_atomic, write_bytes_atomic

    if a.raw:
        write_bytes_atomic(path, canonical_dump(res.scene))
        return
    extra = None
    if a.with_labels:
        extra = {"lgs_layer": res.layer.astype(np.uint8), "lgs_region": res.region.astype(np.uint16)}
    write_atomic(path, lambda p: write_ply(str(p), res.scene, extra=extra))


def decode_streamed(a) -> int:
    """``refcodec decode`` for a URL, or with --progressive / --view."""
    from refcodec.format.decode import decode, resolve_levels
    from refcodec.format.errors import printable

    t0 = time.perf_counter()
    priority = getattr(a, "priority", None)
    if a.view and priority:
        raise ValueError("give --view or --priority, not both")
    if priority and a.max_bytes is None:
        raise ValueError("--priority needs --max-bytes N (the byte budget)")
    if not a.progressive:
        from refcodec.cli import _check_output
        _check_output(a)
    budgeted = bool(a.view or priority)                     # --max-bytes is then a budget
    budget = a.max_bytes if budgeted else None
    limits = _limits(a)
    remote = _remote(a, None if budgeted else a.max_bytes)
    with remote:
        front = remote.open()
        levels = resolve_levels(front, a.level, _parse_roi_levels(a.roi))
        if priority:                                         # the named regions' layers first
            from refcodec.format.decode import budget_levels
            levels = budget_levels(front, budget, priority, caps=levels)
        if a.view:
            from refcodec.stream.select import layer1_samples, parse_view, select_levels, selected_bytes
            view = parse_view(a.view)
            budget = remote.file_size if budget is None else budget
            first = [min(1, k) for k in levels]
            samples = None
            if selected_bytes(front, first) <= budget:      # layer 1 is selected anyway: where each
                remote.fetch(first)                         # region's Gaussians lie weighs it
                samples = layer1_samples(decode(remote.data, first, max_gaussians=a.max_gaussians,
                                                front=front, limits=limits))
            levels = select_levels(front, view, budget, levels, samples=samples)
        if budgeted and not a.quiet:
            shown = ", ".join(f"{printable(r.label)}={k}" for r, k in zip(front.regions, levels) if sum(r.counts))
            print(f"levels for the {'view' if a.view else 'priority'}: {shown}")
        if a.progressive:
            return _progressive(a, remote, levels, t0)
        remote.fetch(levels)
        res = decode(remote.data, levels, strict=a.strict, max_gaussians=a.max_gaussians, front=front,
                     limits=limits)
        if not res.complete and getattr(a, "require_complete", False):   # --max-bytes cut the file
            from refcodec.format.errors import TruncatedError
            raise TruncatedError(f"--max-bytes {a.max_bytes:,} ends before the file's last segment: a prefix "
                                 "(--require-complete)")
        _write(a, res, a.output)
        warn_problems(res)
        if a.report:
            write_report(a.report, res, input=a.input, bytes=remote.stats().bytes_fetched,
                         file_bytes=remote.file_size, requests=remote.stats().requests, levels=levels)
        if not a.quiet:
            print(f"{res.scene.n:,} of {front.info.total_gaussians:,} Gaussians; {remote.stats().line()}; "
                  f"{time.perf_counter() - t0:.2f} s")
    return 0


def _progressive(a, remote: RemoteLGS, levels: list, t0: float) -> int:
    """Fetch and write level 1, 2, ... (each level k keeps min(k, levels[r]) of region r)."""
    from tqdm import tqdm

    from refcodec.format.decode import decode

    out = Path(a.output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--progressive writes a folder of levels; {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    top = max(levels) if levels else 0
    total = remote.bytes_needed(levels)
    suffix = ".raw" if a.raw else ".ply"
    with tqdm(total=total, unit="B", unit_scale=True, desc="fetching", leave=False,
              disable=True if a.quiet else None) as bar:
        for k in range(1, top + 1):
            lk = [min(k, v) for v in levels]
            remote.fetch(lk, progress=bar.update)
            res = decode(remote.data, lk, strict=a.strict, max_gaussians=a.max_gaussians, front=remote.front,
                         limits=remote.limits)
            path = out / f"level_{k}{suffix}"
            _write(a, res, path)
            warn_problems(res)
            if not a.quiet:
                bar.write(f"level {k}: {res.scene.n:,} Gaussians, {remote.stats().line()} -> {path} "
                          f"({time.perf_counter() - t0:.2f} s)")
    return 0


def info_streamed(a) -> int:
    """``refcodec info URL``: the front alone is fetched."""
    from refcodec.info import describe, format_text

    with RemoteLGS(a.input) as remote:
        remote.open()
        d = describe(remote.data)
        st = remote.stats()
        d.update(fetched_bytes=st.bytes_fetched, requests=st.requests)
    if a.json:
        print(json.dumps(d, indent=2))
    else:
        print(format_text(d))
        print(st.line())
    return 0
