"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose, or when the
encoder's informative choices (spec annex A) change, as the preset group balance of A.3 did.
3.0: residual contexts (spec 5.3.5)."""
DIGESTS = {'sh0-2000': 'f9eb56ae65f481a92696b1a66630faecfb66f7474d42a9315d7e88d2f6efc8c8', 'sh3-700': '986def7820cd2efdbf14bc7319ecdce34f8961e4125bdf0b0f9fada4caef6218'}
