"""refcodec.io.atomic: outputs appear whole or not at all (issue 14)."""
import os

import pytest

from refcodec.io.atomic import write_atomic, write_bytes_atomic


def test_replaces_whole(tmp_path):
    p = tmp_path / "out.lgs"
    p.write_bytes(b"old")
    write_bytes_atomic(p, b"new content")
    assert p.read_bytes() == b"new content" and os.listdir(tmp_path) == ["out.lgs"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "out.ply"
    p.write_bytes(b"old")

    def half(tmp):
        assert str(tmp).endswith(".ply")             # writers that look at the suffix still work
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(p, half)
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.ply"]
