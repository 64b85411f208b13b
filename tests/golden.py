"""Golden SHA-256 digests of encoded files (tests/test_format.py::golden_files).

Change only together with the spec version when the bitstream changes on purpose."""
DIGESTS = {'sh0-2000': 'eb008798f9689b909b5d73da2a2f04ddfa620b8bcf6a9e0b2aa61dc05feaf3f2', 'sh3-700': 'e8119c0e57940fb694ad80bfa237aa5aa71da0a054d55535a2452eaada2a9bea'}
