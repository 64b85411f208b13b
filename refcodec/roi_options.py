"""The command-line options of click regions and region-adaptive quality (``encode``, ``segment``).

Kept outside ``refcodec.roi``: ``refcodec.cli`` builds one parser for every command, and the
decode path must not import the encoder side. The work is in ``refcodec.roi.cli``.
"""
from __future__ import annotations

import argparse


def add_click_args(p: argparse.ArgumentParser, cameras: bool = False) -> None:
    """Options shared by ``encode`` and ``segment`` (``cameras``: also add --cameras)."""
    p.add_argument("--segmenter", default="grabcut", metavar="grabcut|sam:CKPT|masks:DIR",
                   help="masks for click regions: grabcut (model-free: depth/colour region grow + OpenCV "
                        "GrabCut), sam:CHECKPOINT.pth[:vit_h|vit_l|vit_b] (Segment Anything with your "
                        "checkpoint; CUDA if available), masks:DIR (your PNG per view, named by view index)")
    p.add_argument("--tau", type=float, default=None,
                   help="click regions: a Gaussian is in the object when more than this fraction of the "
                        "voting views' masks hold its centre (RecastGS Eq. 7; default 0.7)")
    p.add_argument("--epsilon", type=float, default=None,
                   help="click regions: lift radius in pixels, L1 (RecastGS Eq. 5; default 6)")
    p.add_argument("--view-size", type=int, default=384,
                   help="click regions without --cameras: size of the generated orbit views (24: two rings "
                        "of 12; see refcodec segment --views-only)")
    if cameras:
        p.add_argument("--cameras", default=None, metavar="PATH",
                       help="the views clicks refer to: a 3DGS cameras.json or a COLMAP text model folder "
                            "(default: generated orbit views)")


def add_encode_args(e: argparse.ArgumentParser) -> None:
    add_click_args(e)
    e.add_argument("--roi-quality", action="append", default=[], metavar="NAME=LEVEL",
                   help="quality of one region (a --quality preset or level; background names region 0): "
                        "finer steps for an object, coarser for the background (spec A.3); repeatable")


def add_segment_parser(sub) -> None:
    s = sub.add_parser("segment", help="find an object's Gaussians from clicks and write them (.npy) with "
                                       "pictures to check, or write the views to click on")
    s.add_argument("input", help="the scene (.ply, .splat, .spz, compressed .ply)")
    s.add_argument("out", help="folder for NAME.npy (Gaussian indices), NAME.png and the views (created)")
    s.add_argument("--roi", action="append", default=[], metavar="NAME=click:VIEW:X,Y[;VIEW:X,Y...]",
                   help="an object by clicks (-VIEW:X,Y or neg:VIEW:X,Y: a negative click); repeatable; "
                        "without it only the numbered views are written")
    add_click_args(s, cameras=True)
    s.add_argument("--views-only", action="store_true", help="only write the numbered views")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
