"""The decode path stays small enough to port: no torch, render, layering or roi (DEVELOPERS.md)."""
import subprocess
import sys

FORBIDDEN = ("torch", "refcodec.render", "refcodec.layering", "refcodec.roi", "refcodec.encoder")


def test_decode_path_imports():
    code = (
        "import sys\n"
        "import refcodec.decoder, refcodec.container, refcodec.coding.attributes, refcodec.io.ply, refcodec.info\n"
        "from refcodec.cli import main\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_decode_cli_does_not_import_encoder_side(tmp_path):
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.io.synthetic import make_scene
    p = tmp_path / "a.lgs"
    p.write_bytes(encode_scene(make_scene(200), EncodeOptions(progress=False)))
    code = (
        "import sys\n"
        "from refcodec.cli import main\n"
        f"assert main(['decode', {str(p)!r}, {str(tmp_path / 'o.ply')!r}, '--quiet']) == 0\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
