"""The stamp every results JSON of ``tools/bench`` carries: which code, format and peers made it.

    from stamp import stamp, write_json
    write_json("out.json", doc, peers={"splat-transform": "3.7.0", "node": "22.23.5"})

``stamp()`` is ``{"commit": git rev-parse HEAD, "dirty": uncommitted changes to tracked files,
"spec_version": "4.2" (the newest major.minor this refcodec writes, spec 3), "refcodec": its version,
"peers": {tool: version}, "date": UTC ISO 8601}``; ``commit`` and ``dirty`` are None outside a
git checkout.  ``write_json`` puts it first in the document.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["stamp", "write_json", "git_state", "spec_version", "splat_transform_peers"]


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state() -> tuple:
    """(commit, dirty) of the checkout the benchmark runs from; (None, None) outside git."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status))


def spec_version() -> str:
    """The format version this refcodec writes (spec 3: major.minor)."""
    from refcodec.format.schema import VERSION_MAJOR, VERSION_MINOR

    return f"{VERSION_MAJOR}.{VERSION_MINOR}"


def _plain_version(text: str) -> str:
    """'splat-transform v3.7.0 (0f60b17)' -> '3.7.0'; 'v22.23.5' -> '22.23.5'; else as given."""
    m = re.search(r"v?(\d+(?:\.\d+)+)", text or "")
    return m.group(1) if m else (text or "")


def splat_transform_peers(tool) -> dict:
    """Peer versions of a ``peers.SplatTransform`` (None: no peer ran)."""
    if tool is None:
        return {}
    return {"splat-transform": _plain_version(tool.version), "node": _plain_version(tool.node_version)}


def stamp(peers: dict | None = None) -> dict:
    import refcodec

    commit, dirty = git_state()
    return {"commit": commit, "dirty": dirty, "spec_version": spec_version(), "refcodec": refcodec.__version__,
            "peers": dict(peers or {}),
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}


def write_json(path, doc: dict, peers: dict | None = None, indent: int = 2, **dumps) -> dict:
    """Write ``doc`` as JSON to ``path`` with ``stamp`` as its first key (``dumps``: more
    ``json.dumps`` arguments); returns what was written."""
    out = {"stamp": stamp(peers), **{k: v for k, v in doc.items() if k != "stamp"}}
    Path(path).write_text(json.dumps(out, indent=indent, **dumps))
    return out
