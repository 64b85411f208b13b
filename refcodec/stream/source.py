"""Byte sources: a file's bytes read by ranges, over HTTP(S), from a local file, or through fsspec.

Every source counts what it fetched (``bytes_fetched``, ``requests``) and bounds what it reads:
a response never yields more than the range asked for, a request has a timeout, and a server
that ignores ``Range`` (HTTP 200 instead of 206) is detected before its body is used. Network
code lives here and nowhere in ``refcodec.format``: the decoder reads a :class:`SparseBytes`.
"""
from __future__ import annotations

import bisect
import os
import re
import sys
from urllib.parse import unquote, urlparse

import numpy as np

from refcodec.format.errors import LGSError


class StreamError(LGSError):
    """A source could not deliver the bytes asked for (HTTP error, short read, no Range support)."""


class MissingRangeError(StreamError):
    """The decoder asked for bytes that were never fetched (a planning error, never silent)."""


DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_DOWNLOAD = 1 << 32        # a whole-file fallback reads at most 4 GiB
CHUNK = 1 << 20


def is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", str(text)))


class Source:
    """A file read by byte ranges. ``size`` is the file's length (None until known)."""

    name = ""

    def __init__(self) -> None:
        self.size: int | None = None
        self.bytes_fetched = 0
        self.requests = 0

    def read(self, start: int, stop: int) -> bytes:
        """Bytes [start, stop) of the file (fewer only where the file ends first)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FileSource(Source):
    """A local file (a path or a ``file://`` URL)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.name = path
        try:
            self.f = open(path, "rb")
        except OSError as e:
            raise StreamError(f"cannot open {path}: {e.strerror or e}") from None
        self.size = os.fstat(self.f.fileno()).st_size

    def read(self, start: int, stop: int) -> bytes:
        self.requests += 1
        self.f.seek(start)
        data = self.f.read(max(0, min(stop, self.size) - start))
        self.bytes_fetched += len(data)
        return data

    def close(self) -> None:
        self.f.close()


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class HttpSource(Source):
    """An http(s):// URL read with single-range GET requests (``requests``).

    A server that answers a range request with 200 (the whole file) is handled by ``fallback``:
    ``"error"`` raises StreamError at once (the body is not read); ``"download"`` warns on stderr
    and reads the whole file once (at most ``max_download`` bytes), serving every later range
    from it.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S, fallback: str = "error",
                 max_download: int = DEFAULT_MAX_DOWNLOAD, warn=None) -> None:
        super().__init__()
        try:
            import requests
        except ImportError:
            raise StreamError("reading URLs needs the 'requests' package (pip install 'refcodec[stream]')") from None
        if fallback not in ("error", "download"):
            raise ValueError("fallback must be 'error' or 'download'")
        self._requests = requests
        self.name = url
        self.url, self.timeout, self.fallback, self.max_download = url, timeout, fallback, max_download
        self.session = requests.Session()
        self.whole: bytes | None = None          # set when the server ignored Range
        self.warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))

    def read(self, start: int, stop: int) -> bytes:
        if self.size is not None:
            stop = min(stop, self.size)
        if stop <= start:
            return b""
        if self.whole is not None:
            return self.whole[start:stop]
        self.requests += 1
        try:
            r = self.session.get(self.url, headers={"Range": f"bytes={start}-{stop - 1}",
                                                    "Accept-Encoding": "identity"},
                                 stream=True, timeout=self.timeout)
        except self._requests.RequestException as e:
            raise StreamError(f"{self.url}: {type(e).__name__}: {_first_line(e)}") from None
        with r:
            if r.status_code == 200:
                return self._whole_file(r)[start:stop]
            if r.status_code == 416:
                raise StreamError(f"{self.url}: range {start}-{stop - 1} not satisfiable (HTTP 416)")
            if r.status_code != 206:
                raise StreamError(f"{self.url}: HTTP {r.status_code} {r.reason or ''}".rstrip())
            m = _CONTENT_RANGE.match(r.headers.get("Content-Range", ""))
            if not m:
                raise StreamError(f"{self.url}: HTTP 206 without a usable Content-Range header")
            first, last, total = int(m.group(1)), int(m.group(2)), m.group(3)
            if total != "*":
                self.size = int(total)
            want_last = stop - 1 if self.size is None else min(stop, self.size) - 1
            if first != start or last != want_last:
                raise StreamError(f"{self.url}: asked for bytes {start}-{stop - 1}, "
                                  f"server sent {first}-{last}")
            data = _read_body(r, last - first + 1, self.url)
        self.bytes_fetched += len(data)
        return data

    def _whole_file(self, r) -> bytes:
        length = r.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None
        if self.fallback == "error":
            raise StreamError(f"{self.url}: the server ignores Range requests (HTTP 200 instead of 206); "
                              f"use --whole-file to download all {'' if size is None else f'{size:,} '}bytes")
        if size is not None and size > self.max_download:
            raise StreamError(f"{self.url}: the server ignores Range requests and the file "
                              f"({size:,} bytes) exceeds the download limit of {self.max_download:,}")
        self.warn(f"{self.url}: the server ignores Range requests (HTTP 200); downloading the whole "
                  f"file{'' if size is None else f' ({size:,} bytes)'}")
        data = _read_body(r, size if size is not None else self.max_download, self.url,
                          exact=size is not None)
        self.whole, self.size = data, len(data)
        self.bytes_fetched += len(data)
        return data

    def close(self) -> None:
        self.session.close()


def _read_body(r, n: int, url: str, exact: bool = True) -> bytes:
    """At most ``n`` bytes of a streamed response body; with ``exact`` exactly n, and no more."""
    parts, got = [], 0
    for chunk in r.iter_content(CHUNK):
        got += len(chunk)
        if got > n:
            if exact:
                raise StreamError(f"{url}: the server sent more than the {n:,} bytes asked for")
            raise StreamError(f"{url}: the response exceeds the download limit of {n:,} bytes")
        parts.append(chunk)
    if exact and got != n:
        raise StreamError(f"{url}: the response ended after {got:,} of {n:,} bytes")
    return b"".join(parts)


class FsspecSource(Source):
    """Any other URL scheme fsspec knows (s3://, gs://, memory://, ...), read with ``cat_file``."""

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import fsspec
        except ImportError:
            raise StreamError(f"{url}: this URL scheme needs the 'fsspec' package") from None
        self.name = url
        try:
            self.fs, self.path = fsspec.core.url_to_fs(url)
            self.size = int(self.fs.size(self.path))
        except (ValueError, ImportError, OSError) as e:
            raise StreamError(f"{url}: {_first_line(e)}") from None

    def read(self, start: int, stop: int) -> bytes:
        stop = min(stop, self.size)
        if stop <= start:
            return b""
        self.requests += 1
        data = self.fs.cat_file(self.path, start=start, end=stop)
        if len(data) != stop - start:
            raise StreamError(f"{self.name}: short read ({len(data)} of {stop - start} bytes)")
        self.bytes_fetched += len(data)
        return data


def open_source(where: str, fallback: str = "error", timeout: float = DEFAULT_TIMEOUT_S) -> Source:
    """A source for a path, file://, http(s):// or another fsspec URL."""
    if not is_url(where):
        return FileSource(where)
    scheme = urlparse(where).scheme.lower()
    if scheme == "file":
        return FileSource(unquote(urlparse(where).path))
    if scheme in ("http", "https"):
        return HttpSource(where, timeout=timeout, fallback=fallback)
    return FsspecSource(where)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


class SparseBytes:
    """The bytes of a file of ``size`` bytes of which only some ranges are held: ``len()`` is the
    size, slices return ``bytes``. A slice touching a range not held raises MissingRangeError.
    This is the byte-range reader the decoder takes (``refcodec.format.decode.decode``)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.starts: list = []
        self.chunks: list = []

    def __len__(self) -> int:
        return self.size

    @property
    def held(self) -> int:
        return sum(len(c) for c in self.chunks)

    def add(self, start: int, data: bytes) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.chunks.insert(i, bytes(data))

    def has(self, start: int, stop: int) -> bool:
        try:
            self[start:stop]
        except MissingRangeError:
            return False
        return True

    def __getitem__(self, key) -> bytes:
        if not isinstance(key, slice):
            raise TypeError("SparseBytes supports slices only")
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise TypeError("SparseBytes supports contiguous slices only")
        if stop <= start:
            return b""
        parts, pos = [], start
        i = max(0, bisect.bisect_right(self.starts, start) - 1)
        while pos < stop and i < len(self.starts):
            s, c = self.starts[i], self.chunks[i]
            if s <= pos < s + len(c):
                take = c[pos - s: min(stop, s + len(c)) - s]
                parts.append(take)
                pos += len(take)
            elif s > pos:
                break
            i += 1
        if pos < stop:
            raise MissingRangeError(f"bytes {pos}-{stop - 1} were not fetched")
        return parts[0] if len(parts) == 1 else b"".join(parts)


def coalesce(ranges, max_requests: int, gap: int = 0) -> list:
    """Merge [start, stop) ranges: overlapping or adjacent ones (and those at most ``gap`` bytes
    apart) always, then the closest pairs until at most ``max_requests`` remain (the bytes in
    between are fetched too). Vectorized; returns sorted (start, stop) tuples."""
    if not len(ranges):
        return []
    if max_requests < 1:
        raise ValueError("max_requests must be >= 1")
    r = np.asarray(sorted(ranges), dtype=np.int64).reshape(-1, 2)
    r = r[r[:, 1] > r[:, 0]]
    if not len(r):
        return []
    ends = np.maximum.accumulate(r[:, 1])
    gaps = r[1:, 0] - ends[:-1]                       # <= 0: overlapping or adjacent
    join = gaps <= gap
    n_groups = int((~join).sum()) + 1
    if n_groups > max_requests:                       # also close the smallest remaining gaps
        open_idx = np.flatnonzero(~join)
        order = open_idx[np.argsort(gaps[open_idx], kind="stable")]
        join[order[: n_groups - max_requests]] = True
    heads = np.r_[0, np.flatnonzero(~join) + 1]
    tails = np.r_[heads[1:] - 1, len(r) - 1]
    return [(int(r[h, 0]), int(ends[t])) for h, t in zip(heads, tails)]
