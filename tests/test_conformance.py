"""The committed conformance cases pass with the reference decoder, in-process and through the
third-party command-line interface, and are exactly what the generator produces today."""
import json
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance import run  # noqa: E402
from conformance.generate import cases  # noqa: E402

CASES = sorted((ROOT / "conformance" / "cases").iterdir())


def test_reference_decoder_passes_all(capsys):
    assert run.main([]) == 0
    out = capsys.readouterr().out
    assert f"{len(CASES)} passed, 0 failed" in out


def test_external_interface_with_adapter(capsys):
    adapter = ROOT / "conformance" / "refcodec_adapter.py"
    assert run.main(["--decoder", f"{sys.executable} {adapter} {{input}} {{output}} {{levels}} {{strict}}"]) == 0


def test_cases_are_current():
    generated = cases()
    assert sorted(generated) == [c.name for c in CASES]
    for name, (blob, levels, strict, desc) in generated.items():
        d = ROOT / "conformance" / "cases" / name
        assert (d / "input.lgs").read_bytes() == blob, name
        meta = json.loads((d / "case.json").read_text())
        assert meta["levels"] == levels and meta["strict"] == strict
