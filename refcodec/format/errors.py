"""Every error the decode path raises derives from LGSError (spec 9).

The CLI prints ``str(err)`` on one line and exits non-zero; no traceback.
"""


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on one line: control, format (e.g. bidi overrides) and separator
    characters escaped (``\\x1b``, ``\\n``, ``\\u202e``), cut to ``limit`` characters. For strings
    that come from a file (labels) in messages and ``refcodec info``."""
    out = []
    for c in str(text):
        if c.isprintable():
            out.append(c)
        elif c in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        else:
            o = ord(c)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 3] + "..."


class LGSError(Exception):
    """Base class of all LGS format errors."""


class TruncatedError(LGSError):
    """The front matter (header, ROI table, table of contents) is cut short (spec 9.1)."""


class BadMagicError(LGSError):
    """The file does not start with the LGS magic (spec 9.2)."""


class UnsupportedVersionError(LGSError):
    """The major version is not one this decoder implements (spec 9.3)."""


class ChecksumError(LGSError):
    """A CRC-32 does not match (front matter, or a segment in strict mode) (spec 9.4)."""


class CorruptError(LGSError):
    """A field holds a value the spec forbids: offsets out of range, inconsistent counts,
    bad probability tables, a coded stream that does not end where it must (spec 9.5)."""


class LimitError(LGSError):
    """A declared count is larger than the file can justify or than the decoder's limit (spec 9.6)."""


class SceneFormatError(LGSError):
    """An input scene file (PLY or imported format) is not a 3DGS scene."""
