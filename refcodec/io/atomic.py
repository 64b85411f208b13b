"""Atomic output files: ``write_atomic(path, write)`` writes through ``write(tmp_path)`` into a
temporary file beside ``path`` (same folder, same suffix, so writers that look at the suffix
still work), then renames it into place with ``os.replace``. A write that fails or is
interrupted leaves no partial file and removes its temporary file (issue 14)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "write_bytes_atomic"]


def write_atomic(path, write) -> None:
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix or ".tmp", dir=str(out.parent))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path, data: bytes) -> None:
    write_atomic(path, lambda p: Path(p).write_bytes(data))
