"""Pictures and figures of an LGS file's cumulative levels: above the renderer, which works on scenes.

    from refcodec.evaluation.levels import level_prefixes, level_sheet
    for lv in level_prefixes(data):                 # decode the byte prefix of each level k
        print(lv["level"], lv["bytes"], lv["gaussians"])
    sheet = level_sheet(data, camera)               # one tile per level k (uint8 (H, W, 3))

Used by ``refcodec render`` and ``tools/bench/rd_sweep.py``.  The decoder never imports it.
"""
from __future__ import annotations

import numpy as np

from refcodec.render.pictures import as_uint8_rgb, contact_sheet

__all__ = ["level_prefixes", "level_caption", "level_sheet"]


def level_prefixes(lgs_bytes: bytes, levels=None) -> list:
    """Decode the byte prefix of each cumulative level of an LGS file.

    Returns one dict per level ``k`` (1..L, or those in ``levels``): ``level``, ``bytes`` (length
    of the prefix, from :func:`refcodec.info.describe`), ``gaussians`` (decoded count),
    ``scene`` (the decoded :class:`refcodec.format.scene.Scene`) and ``decode_s``.
    """
    import time

    from refcodec.format.decode import decode
    from refcodec.info import describe

    data = bytes(lgs_bytes)
    out = []
    for lv in describe(data)["levels"]:
        k = int(lv["level"])
        if levels is not None and k not in levels:
            continue
        nbytes = min(int(lv["bytes"]), len(data))
        t = time.perf_counter()
        scene = decode(data[:nbytes]).scene
        dt = time.perf_counter() - t
        out.append(dict(level=k, bytes=nbytes, gaussians=int(scene.n), scene=scene, decode_s=dt))
    return out


def level_caption(level: int, gaussians: int, nbytes: int) -> str:
    return f"level {level}: {gaussians:,} Gaussians, {nbytes:,} bytes"


def level_sheet(lgs_bytes: bytes, cameras=None, levels=None, background=(0.0, 0.0, 0.0),
                backend: str = "auto", scale: int = 1, return_info: bool = False):
    """One picture of every cumulative level of an LGS file: for each camera a row, for each
    level ``k`` a column showing the decode of the level-``k`` byte prefix, captioned
    ``"level k: N Gaussians, B bytes"``.

    ``cameras``: a :class:`refcodec.render.Camera`, a list of them, or None (one 256x256 orbit
    view of the full decode).  ``levels``: the levels to show (default all).  Returns a uint8
    (H, W, 3) image; with ``return_info`` also the per-level dicts of :func:`level_prefixes`
    (without the scenes).
    """
    import torch

    from refcodec.render import orbit_cameras, render

    prefixes = level_prefixes(lgs_bytes, levels)
    if not prefixes:
        raise ValueError("the LGS data holds no level to show")
    if cameras is None:
        cameras = orbit_cameras(prefixes[-1]["scene"].positions, n_views=1)
    elif not isinstance(cameras, (list, tuple)):
        cameras = [cameras]
    tiles = [[None] * len(prefixes) for _ in cameras]
    with torch.no_grad():
        for j, p in enumerate(prefixes):
            for i, cam in enumerate(cameras):
                if p["gaussians"] == 0:
                    img = np.zeros((cam.height, cam.width, 3), dtype=np.float32)
                    img[:] = np.asarray(background, dtype=np.float32)
                else:
                    img = render(p["scene"], cam, backend=backend, background=background)["rgb"]
                tiles[i][j] = as_uint8_rgb(img)
    labels = [level_caption(p["level"], p["gaussians"], p["bytes"]) for p in prefixes]
    sheet = contact_sheet([t for row in tiles for t in row], labels * len(cameras),
                          cols=len(prefixes), scale=scale)
    if return_info:
        info = [{k: v for k, v in p.items() if k != "scene"} for p in prefixes]
        return sheet, info
    return sheet
