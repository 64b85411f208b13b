"""The reference CLI behind the runner's third-party template (a worked example):

    python conformance/run.py --decoder 'python conformance/refcodec_adapter.py {input} {output} {levels} {strict}'
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv) -> int:
    from refcodec.cli import main as cli
    src, out, levels, strict = argv
    args = ["decode", src, out, "--raw", "--quiet"]
    if levels != "all":
        for r, k in enumerate(levels.split(",")):
            args += ["--roi", f"{r}={k}"]
    if strict == "strict":
        args.append("--strict")
    return cli(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
