"""Captioned contact sheets of rendered images (refcodec.render.pictures)."""
import numpy as np
import pytest

from refcodec.render.pictures import GLYPH_H, as_uint8_rgb, contact_sheet, draw_text, text_size


def test_draw_text_and_clipping():
    img = np.zeros((12, 40, 3), np.uint8)
    draw_text(img, "Ab 9:", 1, 2, (255, 0, 0))
    assert img[..., 0].any() and not img[..., 1].any()
    assert text_size("Ab 9:") == (29, GLYPH_H)
    assert text_size("xy", scale=2) == (22, 14)
    draw_text(img, "clipped off the edge \x01", 30, 8)      # partly outside, odd character: no error
    draw_text(img, "gone", 100, 100)
    before = img.copy()
    draw_text(img, "", 0, 0)
    assert np.array_equal(img, before)


def test_as_uint8_rgb_forms():
    assert as_uint8_rgb(np.ones((4, 5))).shape == (4, 5, 3)
    rgba = as_uint8_rgb(np.full((4, 5, 4), 2.0))
    assert rgba.dtype == np.uint8 and rgba.shape == (4, 5, 3) and rgba.max() == 255
    with pytest.raises(ValueError):
        as_uint8_rgb(np.zeros((4, 5, 2)))


def test_contact_sheet_shape_and_captions():
    rng = np.random.default_rng(0)
    imgs = [rng.random((32, 40, 3)) for _ in range(5)]
    sheet = contact_sheet(imgs, [f"tile {i}" for i in range(5)], cols=3, gap=2, pad=2)
    strip = (GLYPH_H + 2) + 2 * 2                                   # one caption line
    assert sheet.dtype == np.uint8
    assert sheet.shape == (2 * (32 + strip) + 3 * 2, 3 * 40 + 4 * 2, 3)
    # the tile sits top-left in its cell, the caption strip is black with white text
    assert np.array_equal(sheet[2:34, 2:42], as_uint8_rgb(imgs[0]))
    cap = sheet[34:34 + strip, 2:42]
    assert (cap == 255).any() and (cap == 0).any()

    no_labels = contact_sheet(imgs)                                  # default cols = ceil(sqrt(5)) = 3
    assert no_labels.shape == (2 * 32 + 3 * 2, 3 * 40 + 4 * 2, 3)
    long = contact_sheet(imgs[:2], ["a fairly long caption that has to wrap", "x"], cols=2)
    assert long.shape[0] > 32 + strip + 4                            # wrapped to several lines
    mixed = contact_sheet([np.zeros((10, 20)), np.ones((30, 8, 3), np.uint8)], ["a", "b"], cols=1)
    assert mixed.shape[1] == 20 + 4
    with pytest.raises(ValueError):
        contact_sheet(imgs, ["only one"])
    with pytest.raises(ValueError):
        contact_sheet([])
