"""An LGS file read by byte ranges (spec 3.5: the table of contents at the front locates every
(layer, region) unit): the fixed header, then the front, then only the segments of the
selected units, in a bounded number of coalesced range requests. Decoding goes through the
normative decoder (``refcodec.format.decode``) on a :class:`SparseBytes`, so checksums,
dependencies and prefixes behave exactly as for a local file.
"""
from __future__ import annotations

from dataclasses import dataclass

from refcodec.format import schema as S
from refcodec.format.decode import DecodeResult, decode
from refcodec.format.errors import BadMagicError, TruncatedError
from refcodec.format.front import FrontMatter, read_front
from refcodec.stream.source import SparseBytes, Source, StreamError, coalesce, open_source

DEFAULT_MAX_REQUESTS = 32   # range requests per fetch (ranges beyond are merged across gaps)


@dataclass
class FetchStats:
    requests: int
    bytes_fetched: int
    file_size: int

    def line(self) -> str:
        pct = 100.0 * self.bytes_fetched / self.file_size if self.file_size else 0.0
        return (f"fetched {self.bytes_fetched:,} of {self.file_size:,} bytes ({pct:.1f}%) "
                f"in {self.requests} request{'s' if self.requests != 1 else ''}")


class RemoteLGS:
    """``RemoteLGS(source_or_url).open()`` reads header and front; ``fetch(levels)`` the bytes of
    the selected units; ``decode(levels)`` both and decodes. ``max_bytes`` makes the file look
    like its first N bytes (a partial download), as ``--max-bytes`` does for a local file."""

    def __init__(self, source, max_bytes: int | None = None, max_gaussians: int | None = None,
                 max_requests: int = DEFAULT_MAX_REQUESTS, fallback: str = "error", limits=None) -> None:
        self.source: Source = open_source(source, fallback=fallback) if isinstance(source, str) else source
        self.max_bytes, self.max_gaussians, self.max_requests = max_bytes, max_gaussians, max_requests
        self.limits = limits                                  # spec 9.7 (None: the decoder's defaults)
        self.front: FrontMatter | None = None
        self.data: SparseBytes | None = None

    # -- the front -----------------------------------------------------------------------------
    def open(self) -> FrontMatter:
        if self.front is not None:
            return self.front
        src = self.source
        head = src.read(0, S.FIXED_HEADER_SIZE)
        if head[:8] != S.MAGIC[: len(head[:8])]:
            raise BadMagicError(f"{src.name}: not an LGS file (bad magic)")
        if len(head) < S.FIXED_HEADER_SIZE:
            raise TruncatedError(f"{src.name}: file ends inside the fixed header ({len(head)} bytes)")
        size = src.size if src.size is not None else len(head)
        if self.max_bytes is not None:
            size = min(size, max(0, self.max_bytes))
        fixed = S.FixedHeader.parse(head)
        fl = fixed.front_length
        data = SparseBytes(max(size, len(head)) if self.max_bytes is None else size)
        data.add(0, head[: len(data)])
        if S.FIXED_HEADER_SIZE + 4 <= fl <= len(data):
            # read_front validates the length bound (spec 3.1) before this read is large
            from refcodec.format.front import MAX_FRONT_LENGTH
            if fl <= MAX_FRONT_LENGTH:
                data.add(S.FIXED_HEADER_SIZE, src.read(S.FIXED_HEADER_SIZE, fl))
        self.data = data
        self.front = read_front(data, self.max_gaussians, self.limits)   # raises for a bad or cut front
        return self.front

    @property
    def file_size(self) -> int:
        return self.source.size if self.source.size is not None else len(self.data)

    def stats(self) -> FetchStats:
        return FetchStats(self.source.requests, self.source.bytes_fetched, self.file_size)

    # -- units -----------------------------------------------------------------------------
    def segments_for(self, levels: list) -> list:
        """TOC indices of the critical and adjustment segments (spec 8.6) of the selected units, the
        correction segments (8.7) of each region's selected level, and their dependencies
        (iteratively), present in the file and inside the (max_bytes) data."""
        from refcodec.format.decode import adjustment_segments, correction_segments

        fm = self.open()
        want = set()
        for u in fm.units:
            if u.layer <= levels[u.region]:
                want.update(u.critical if u.count else ())
                want.update(adjustment_segments(fm, u))
            if u.layer == levels[u.region]:
                want.update(correction_segments(fm, u))
        stack = list(want)
        while stack:
            for d in fm.toc[stack.pop()].deps:
                if d not in want:
                    want.add(d)
                    stack.append(d)
        n = len(self.data)
        return sorted(i for i in want
                      if not fm.toc[i].flags & S.SEG_FLAG_ABSENT and fm.segment_end(i) <= n)

    def missing_ranges(self, levels: list) -> list:
        fm = self.open()
        out = []
        for i in self.segments_for(levels):
            e = fm.toc[i]
            if e.length and not self.data.has(e.offset, e.offset + e.length):
                out.append((e.offset, e.offset + e.length))
        return out

    def bytes_needed(self, levels: list) -> int:
        """Bytes still to fetch for ``levels`` (before coalescing)."""
        return sum(b - a for a, b in self.missing_ranges(levels))

    def fetch(self, levels: list, progress=None) -> int:
        """Fetch the selected units' missing segments; returns the bytes fetched by this call.
        ``progress(n)`` is called with each range's byte count."""
        before = self.source.bytes_fetched
        for a, b in coalesce(self.missing_ranges(levels), self.max_requests):
            chunk = self.source.read(a, b)
            if len(chunk) != b - a:
                raise StreamError(f"{self.source.name}: got {len(chunk):,} of {b - a:,} bytes at offset {a:,}")
            self.data.add(a, chunk)
            if progress is not None:
                progress(b - a)
        return self.source.bytes_fetched - before

    def decode(self, levels: list | None = None, strict: bool = False) -> DecodeResult:
        fm = self.open()
        if levels is None:
            levels = [fm.info.num_layers] * fm.info.num_regions
        self.fetch(levels)
        return decode(self.data, levels, strict=strict, max_gaussians=self.max_gaussians, front=fm,
                      limits=self.limits)

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
