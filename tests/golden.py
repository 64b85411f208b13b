"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose."""
DIGESTS = {'sh0-2000': '28f295ae0de97b4b4affad86e42ad0bae7513a9e954447bc12394d346417da5e', 'sh3-700': '1c25fe9d0047651900ec340132602d861a2d2585c6afb287ba0262a15fff9253'}
