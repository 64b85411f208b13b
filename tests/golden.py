"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose, or when the
encoder's informative choices (spec annex A) change, as the preset group balance of A.3 did.
3.0: residual contexts (spec 5.3.5). 4.0: SH-rest references (spec 5.3.6), canonical axes (A.5),
the position balance and SH rest without the layer tilt (A.3). Still 4.0: rANS lanes aiming
at 1,024 steps instead of 512 (A.4, encoder only). 4.1 encoder: the coverage layer order (A.1;
the files are written without the 4.1 adjustments, whose values come from float renders)."""
DIGESTS = {
    'sh0-2000': '0718d7abe7e5eb7a0756682ac44d8e5e150839d5343fc41c647f7bf27682c952',
    'sh3-700': '1166b0b77ff3d4ceb68dbddd0d327b9cdac927e86d26652fd6acfab63ba59faf',
}
