"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose, or when the
encoder's informative choices (spec annex A) change, as the preset group balance of A.3 did.
3.0: residual contexts (spec 5.3.5). 4.0: SH-rest references (spec 5.3.6), canonical axes (A.5),
the position balance and SH rest without the layer tilt (A.3)."""
DIGESTS = {'sh0-2000': 'a4138c0ecb11d0323b89bcf5f5979b8b4576e2dc4ebc10f72b6537ec9a759bb6', 'sh3-700': '2ee440e6c871f49da05ead9800791b1f312e71fcf59a60f65c8e9a2ae4dbe42d'}
