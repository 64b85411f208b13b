"""The committed conformance cases pass with the reference decoder, in-process and through the
third-party decoder interface (LGS-ERROR convention, dropped-units side file), are exactly what
the generator produces today, and cover every normative section of the spec."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance import run  # noqa: E402
from conformance.generate import (  # noqa: E402
    BEGIN,
    END,
    cases,
    covered,
    section_table,
    spec_sections,
)

CASES = sorted(d for d in (ROOT / "conformance" / "cases").iterdir() if (d / "case.json").exists())
ERRORS = {
    "9.1": "Truncated",
    "9.2": "BadMagic",
    "9.3": "UnsupportedVersion",
    "9.4": "Checksum",
    "9.5": "Corrupt",
    "9.6": "Limit",
}


def _metas() -> dict:
    return {d.name: json.loads((d / "case.json").read_text()) for d in CASES}


def test_reference_decoder_passes_all(capsys):
    assert run.main([]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == f"{len(CASES)} passed, 0 failed"


def test_external_interface_with_adapter(capsys):
    """The worked example through the command-line interface, on a sample of every kind of case
    (all of them take a process each: the whole set is `python conformance/run.py --decoder ...`)."""
    adapter = ROOT / "conformance" / "refcodec_adapter.py"
    tmpl = f"{sys.executable} {adapter} {{input}} {{output}} {{levels}} {{strict}} {{dropped}}"
    for only in (
        "err-front-crc",
        "sh0-damaged-segment",
        "outcome-lower-absent",
        "bad-stream-freq-sum",
        "err-total-gaussians-limit",
        "sh3-object-full-bg-level2",
    ):
        assert run.main(["--decoder", tmpl, "--only", only]) == 0, only
    assert "0 failed" in capsys.readouterr().out


def test_runner_fails_crashes_and_wrong_answers(tmp_path, capsys):
    """A crash (traceback, signal, other exit status) fails an error case; a wrong error class,
    a wrong digest or wrong dropped units fail too."""
    script = tmp_path / "dec.py"
    for body, case in (
        ("raise SystemExit(3)", "err-bad-magic"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "err-bad-magic"),
        ("raise RuntimeError('boom')", "err-bad-magic"),
        ("import sys; print('LGS-ERROR: Corrupt', file=sys.stderr); sys.exit(1)", "err-bad-magic"),
        ("import sys; sys.exit(1)", "err-bad-magic"),
        ("import sys; open(sys.argv[2], 'wb').write(b''); open(sys.argv[5], 'w').write('')", "sh0-damaged-segment"),
        ("import sys; open(sys.argv[2], 'wb').write(b'')", "tiny-base"),
    ):
        script.write_text(body + "\n")
        tmpl = f"{sys.executable} {script} {{input}} {{output}} {{levels}} {{strict}} {{dropped}}"
        assert run.main(["--decoder", tmpl, "--only", case]) == 1, body
    out = capsys.readouterr().out
    assert "crash: exit status 3" in out and "crash: killed by signal" in out and "crash: traceback" in out


def test_dropped_side_file_format():
    assert run.parse_dropped("2 1\n\n3 0\n") == [[2, 1], [3, 0]]
    assert isinstance(run.parse_dropped("2,1\n"), str)


def test_cases_are_current():
    generated = cases()
    assert sorted(generated) == [c.name for c in CASES]
    metas = _metas()
    for name, case in generated.items():
        d = ROOT / "conformance" / "cases" / name
        assert (d / "input.lgs").read_bytes() == case.blob, name
        meta = metas[name]
        assert meta["levels"] == case.levels and meta["strict"] == case.strict, name
        assert meta["sections"] == list(case.sections), name


def test_every_normative_section_has_a_case():
    cov = covered({n: m["sections"] for n, m in _metas().items()})
    missing = [s for s in spec_sections() if s not in cov]
    assert not missing, f"spec sections without a conformance case: {missing}"
    known = set(spec_sections()) | {"1.2", "1.3"}
    unknown = {s for m in _metas().values() for s in m["sections"] if s not in known}
    assert not unknown, f"cases cite sections the spec does not have: {unknown}"


def test_every_spec9_error_has_a_case():
    errors = {m.get("error") for m in _metas().values()}
    for sec, name in ERRORS.items():
        assert name in errors, f"no error case for spec {sec} ({name})"


def test_readme_section_map_is_current():
    text = (ROOT / "conformance" / "README.md").read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert table == section_table({n: m["sections"] for n, m in _metas().items()})


@pytest.mark.parametrize("name", ["hostile-depchain-1500", "hostile-front-200k-entries", "hostile-ident-38M-lanes1"])
def test_hostile_cases_are_pinned(name):
    assert (ROOT / "conformance" / "cases" / name / "input.lgs").exists()
