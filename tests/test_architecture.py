"""The decode path stays small enough to port (DEVELOPERS.md): ``refcodec.format`` imports
nothing from the encoder side, torch, rendering or regions."""
import ast
import pathlib
import subprocess
import sys

import refcodec

FORBIDDEN = ("torch", "refcodec.render", "refcodec.encoder", "refcodec.roi", "refcodec.io", "refcodec.metrics")
PACKAGE = pathlib.Path(refcodec.__file__).parent


def test_format_package_imports_only_itself():
    """Statically: every import in refcodec/format/ names the standard library, numpy, construct
    or refcodec.format itself."""
    allowed_third_party = {"numpy", "construct"}
    for path in sorted((PACKAGE / "format").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "refcodec":
                    assert name.startswith("refcodec.format"), f"{path.name} imports {name}"
                else:
                    assert top in allowed_third_party or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_decode_path_imports():
    code = (
        "import sys\n"
        "import refcodec.format.decode, refcodec.format.front, refcodec.format.attributes\n"
        "import refcodec.io.ply, refcodec.info\n"
        "from refcodec.cli import main\n"
        f"bad = [m for m in {FORBIDDEN[:4]!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_decode_cli_does_not_import_encoder_side(tmp_path):
    from refcodec.encoder import EncodeOptions, encode_scene
    from refcodec.io.synthetic import make_scene
    p = tmp_path / "a.lgs"
    p.write_bytes(encode_scene(make_scene(200), EncodeOptions(adjust=False, progress=False)))
    code = (
        "import sys\n"
        "from refcodec.cli import main\n"
        f"assert main(['decode', {str(p)!r}, {str(tmp_path / 'o.ply')!r}, '--quiet']) == 0\n"
        f"bad = [m for m in {FORBIDDEN[:4]!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
