"""Captioned contact sheets of rendered images.

    from refcodec.render.pictures import contact_sheet
    sheet = contact_sheet([img0, img1], ["original", "decoded"])   # uint8 (H, W, 3)
    save_png("sheet.png", sheet)

Captions are drawn with a built-in 5x7 bitmap font (printable ASCII), so nothing beyond numpy
is needed; :func:`draw_text` and :func:`text_size` are public for other pictures.  This module
works on images only; the per-level sheets of an LGS file (which decode it) are in
:mod:`refcodec.evaluation.levels`, above the renderer.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "contact_sheet", "draw_text", "text_size", "as_uint8_rgb",
    "GLYPH_W", "GLYPH_H",
]

GLYPH_W, GLYPH_H = 5, 7   # glyph cell; characters advance GLYPH_W + 1 pixels (times scale)

# Classic 5x7 font, printable ASCII 0x20..0x7E: 5 column bytes per character, bit 0 = top row.
_FONT_COLUMNS = bytes.fromhex(
    "0000000000" "00005f0000" "0007000700" "147f147f14" "242a7f2a12" "2313086462" "3649552250"
    "0005030000" "001c224100" "0041221c00" "082a1c2a08" "08083e0808" "0050300000" "0808080808"
    "0060600000" "2010080402" "3e5149453e" "00427f4000" "4261514946" "2141454b31" "1814127f10"
    "2745454539" "3c4a494930" "0171090503" "3649494936" "064949291e" "0036360000" "0056360000"
    "0008142241" "1414141414" "4122140800" "0201510906" "324979413e" "7e1111117e" "7f49494936"
    "3e41414122" "7f4141221c" "7f49494941" "7f09090101" "3e41415132" "7f0808087f" "00417f4100"
    "2040413f01" "7f08142241" "7f40404040" "7f0204027f" "7f0408107f" "3e4141413e" "7f09090906"
    "3e4151215e" "7f09192946" "4649494931" "01017f0101" "3f4040403f" "1f2040201f" "7f2018207f"
    "6314081463" "0304780403" "6151494543" "00007f4141" "0204081020" "41417f0000" "0402010204"
    "4040404040" "0001020400" "2054545478" "7f48444438" "3844444420" "384444487f" "3854545418"
    "087e090102" "081454543c" "7f08040478" "00447d4000" "2040443d00" "007f102844" "00417f4000"
    "7c04180478" "7c08040478" "3844444438" "7c14141408" "081414187c" "7c08040408" "4854545420"
    "043f444020" "3c4040207c" "1c2040201c" "3c4030403c" "4428102844" "0c5050503c" "4464544c44"
    "0008364100" "00007f0000" "0041360800" "1008081008"
)


def _glyph_table() -> np.ndarray:
    cols = np.frombuffer(_FONT_COLUMNS, dtype=np.uint8).reshape(-1, GLYPH_W)      # (95, 5)
    bits = (cols[:, None, :] >> np.arange(GLYPH_H, dtype=np.uint8)[None, :, None]) & 1
    return bits.astype(bool)                                                        # (95, 7, 5)


_GLYPHS = _glyph_table()


def _glyph(ch: str) -> np.ndarray:
    c = ord(ch)
    if not 0x20 <= c <= 0x7E:
        c = ord("?")
    return _GLYPHS[c - 0x20]


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of one line of ``text`` drawn by :func:`draw_text`."""
    n = len(text)
    return (max(0, n * (GLYPH_W + 1) - 1) * scale, GLYPH_H * scale)


def draw_text(img: np.ndarray, text: str, x: int, y: int, color=(255, 255, 255), scale: int = 1) -> np.ndarray:
    """Draw one line of ``text`` into the uint8 (H, W, 3) ``img`` in place, top-left corner at
    (x, y); pixels falling outside the image are clipped.  Returns ``img``."""
    if not text:
        return img
    mask = np.concatenate(
        [np.pad(_glyph(ch), ((0, 0), (0, 1))) for ch in text], axis=1)[:, :-1]       # (7, 6n - 1)
    if scale > 1:
        mask = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
    h, w = mask.shape
    H, W = img.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return img
    sub = mask[y0 - y:y1 - y, x0 - x:x1 - x]
    region = img[y0:y1, x0:x1]
    region[sub] = np.asarray(color, dtype=np.uint8)[: region.shape[-1]]
    return img


def _wrap(text: str, max_chars: int) -> list:
    """Split ``text`` into lines of at most ``max_chars`` characters, at spaces where possible."""
    max_chars = max(1, max_chars)
    lines = []
    for para in str(text).split("\n"):
        line = ""
        for word in para.split(" "):
            while len(word) > max_chars:           # a word longer than a line: hard split
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:max_chars])
                word = word[max_chars:]
            cand = word if not line else line + " " + word
            if len(cand) <= max_chars:
                line = cand
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def as_uint8_rgb(img) -> np.ndarray:
    """An image as uint8 (H, W, 3): torch or numpy, float in [0, 1] (clipped) or uint8,
    grey (H, W) / (H, W, 1), RGB, or RGBA (alpha dropped)."""
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(np.round(np.asarray(a, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"not an image: shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def contact_sheet(images, labels=None, cols: int | None = None, scale: int = 1, gap: int = 2,
                  pad: int = 2, background=(32, 32, 32), caption_bg=(0, 0, 0),
                  text_color=(255, 255, 255)) -> np.ndarray:
    """Tile ``images`` into one uint8 (H, W, 3) picture, row by row, ``cols`` per row (default
    ``ceil(sqrt(n))``), each tile with a caption strip below it holding its label.

    ``images``: float [0, 1] or uint8 images (numpy or torch; grey, RGB or RGBA), possibly of
    different sizes (each sits top-left in a cell of the largest size).  ``labels``: one string
    per image (or None: no caption strip); long labels wrap at spaces, and every strip is as
    tall as the longest caption needs.  ``scale`` enlarges the font, ``gap`` is the space
    between cells, ``pad`` the margin around text.
    """
    tiles = [as_uint8_rgb(im) for im in images]
    n = len(tiles)
    if n == 0:
        raise ValueError("contact_sheet needs at least one image")
    if labels is not None:
        labels = ["" if s is None else str(s) for s in labels]
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} images")
    cols = max(1, min(n, int(cols) if cols else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    adv = (GLYPH_W + 1) * scale
    line_h = (GLYPH_H + 2) * scale
    wrapped = None
    strip = 0
    if labels is not None:
        max_chars = max(1, (tw - 2 * pad + scale) // adv)
        wrapped = [_wrap(s, max_chars) if s else [] for s in labels]
        nlines = max((len(w) for w in wrapped), default=0)
        strip = nlines * line_h + 2 * pad if nlines else 0
    ch = th + strip
    H = rows * ch + (rows + 1) * gap
    W = cols * tw + (cols + 1) * gap
    sheet = np.empty((H, W, 3), dtype=np.uint8)
    sheet[:] = np.asarray(background, dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y = gap + r * (ch + gap)
        x = gap + c * (tw + gap)
        sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
        if strip:
            sheet[y + th:y + ch, x:x + tw] = np.asarray(caption_bg, dtype=np.uint8)
            for j, line in enumerate(wrapped[i]):
                draw_text(sheet[:, : x + tw], line, x + pad, y + th + pad + j * line_h + scale,
                          text_color, scale)
    return sheet
