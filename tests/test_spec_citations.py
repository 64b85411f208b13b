"""Every ``spec X.Y`` citation in the code names a section that exists in the spec."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "lgs-4.0.md"
CITATION = re.compile(r"\bspec (A\.\d+|\d+(?:\.\d+)*)\b")


def spec_sections() -> set:
    """Numbered headings (## 3, ### 3.1, #### 5.1.2), the rows of numbered tables (| 9.1 |) and
    the appendix's paragraphs (A.3 Quality.)."""
    out = set()
    for line in SPEC.read_text().splitlines():
        m = (re.match(r"#{2,6} (\d+(?:\.\d+)*) ", line) or re.match(r"\| (\d+(?:\.\d+)+) \|", line)
             or re.match(r"(A\.\d+) ", line))
        if m:
            out.add(m.group(1))
    return out


def test_every_spec_citation_names_a_section():
    sections = spec_sections()
    assert {"3.3", "5.3.6", "9.6", "A.6"} <= sections
    bad = []
    for path in sorted(p for d in ("refcodec", "conformance", "tools", "tests") for p in (ROOT / d).rglob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            bad += [f"{path.relative_to(ROOT)}:{no}: spec {c}" for c in CITATION.findall(line) if c not in sections]
    assert not bad, "citations of sections the spec does not have:\n" + "\n".join(bad)
