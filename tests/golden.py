"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose, or when the
encoder's informative choices (spec annex A) change, as the preset group balance of A.3 did.
3.0: residual contexts (spec 5.3.5). 4.0: SH-rest references (spec 5.3.6), canonical axes (A.5),
the position balance and SH rest without the layer tilt (A.3). Still 4.0: rANS lanes aiming
at 1,024 steps instead of 512 (A.4, encoder only). 4.1: the default encoder is unchanged (the
4.1 choices of A.10 come with --stream; these files are written without the adjustments, whose
values come from float renders)."""
DIGESTS = {
    'sh0-2000': 'f134e9fd5bec32b55473fd92f8250240e973f34a4df4e212ce95ee4c02691289',
    'sh3-700': 'e7019d57caca9283c8cc098c92ab232eda762dadcda171106b24da25c6534177',
}
