"""Evaluation of coded files above the renderer: decode an LGS file's prefixes and picture them
(:mod:`refcodec.evaluation.levels`).  ``refcodec.render`` itself works on scenes only."""
