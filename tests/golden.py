"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose, or when the
encoder's informative choices (spec annex A) change, as the preset group balance of A.3 did."""
DIGESTS = {'sh0-2000': 'b41427a5d4f5888524240d52844a2a66816011aa475ef011c3ebef9d4218ceda', 'sh3-700': '050f88e4ed51789a14ef1d668e09bb7bbfad8e42510fce7cfe00c6b41bd544f7'}
