"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose."""
DIGESTS = {'sh0-2000': '2dbc1b039673b933a68298a70424f4a0f54460870bae2a57c4947ad6228df249', 'sh3-700': '1f0b175e74a0aaf7460b10123280a4022c5b86c8e042dd8bdb7fe8bd599a5213'}
