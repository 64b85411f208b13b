"""Streaming LGS files: byte-range sources (HTTP(S), file://, fsspec), a remote file that fetches
only the selected units' segments, progressive decoding and view-dependent selection.

| module | what |
| --- | --- |
| `source.py` | byte sources with request/byte counts, SparseBytes (the decoder's byte-range reader), coalescing |
| `remote.py` | RemoteLGS: header, front, then the selected units' segments; decode through refcodec.format |
| `select.py` | a level per region (tile) for a view under a byte budget |
| `cli.py` | decode/info of URLs, decode --progressive and --view |

Network code stays here: ``refcodec.format`` only ever sees bytes or a SparseBytes.
"""
from refcodec.stream.remote import FetchStats, RemoteLGS
from refcodec.stream.source import (
    FileSource, HttpSource, MissingRangeError, SparseBytes, StreamError, coalesce, is_url, open_source,
)

__all__ = ["FetchStats", "FileSource", "HttpSource", "MissingRangeError", "RemoteLGS", "SparseBytes",
           "StreamError", "coalesce", "is_url", "open_source"]
