"""The attribute channels of a Gaussian, in coding order (spec 3.2): the one table of them.

Every module that needs to know which channel is opacity, a scale, a rotation component, a DC
colour or an SH-rest coefficient imports it from here (decoder, encoder, scene, quantization).
"""
from __future__ import annotations

# (Scene field, first channel, width); the SH-rest group's width depends on the SH degree.
SH_REST_WIDTH = (0, 9, 24, 45)          # 3 * ((degree + 1)^2 - 1), degrees 0..3
GROUPS = (
    ("opacity", 0, 1),
    ("scales", 1, 3),
    ("rotations", 4, 4),                # w, x, y, z
    ("sh_dc", 8, 3),                    # R, G, B
)
BASE_CHANNELS = 11                      # channels before the SH rest
OPACITY = 0
SCALES = slice(1, 4)
ROT_W = 4                               # rotation w; x, y, z follow
ROT_XYZ = slice(5, 8)
ROT_Z = 7
DC = slice(8, BASE_CHANNELS)


def num_channels(sh_degree: int) -> int:
    """C = 11 + the SH-rest width of the degree (spec 3.2)."""
    return BASE_CHANNELS + SH_REST_WIDTH[sh_degree]


def sh_degree_of_width(width: int) -> int:
    """The SH degree whose rest width is ``width``; ValueError for any other width."""
    if width not in SH_REST_WIDTH:
        raise ValueError(f"sh_rest has {width} columns; expected one of {', '.join(map(str, SH_REST_WIDTH))}")
    return SH_REST_WIDTH.index(width)


def group_slices(C: int) -> list:
    """(Scene field, slice of the C channels) of every group, SH rest last (possibly empty)."""
    return [(name, slice(a, a + w)) for name, a, w in GROUPS] + [("sh_rest", slice(BASE_CHANNELS, C))]


def colour_refs(C: int) -> dict:
    """Channel -> the channel of the same coefficient one colour earlier (G <- R, B <- G), for the
    DC and every SH-rest coefficient (rest is channel-major: all of R, then of G, then of B)."""
    refs = {DC.start + 1: DC.start, DC.start + 2: DC.start + 1}
    K = (C - BASE_CHANNELS) // 3
    for k in range(K):
        refs[BASE_CHANNELS + K + k] = BASE_CHANNELS + k
        refs[BASE_CHANNELS + 2 * K + k] = BASE_CHANNELS + K + k
    return refs
