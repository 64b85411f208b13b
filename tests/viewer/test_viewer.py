"""``refcodec view`` in a real headless Chromium (Debian's chromium, driven by playwright) on a
file served over HTTP by a real server on loopback: the scene shows at level 1, refines level
by level, and the panel's controls change a region's level and hide a region."""
from __future__ import annotations

import io
import os
import shutil
import time

import numpy as np
import pytest

from refcodec.encoder import EncodeOptions, encode_scene
from refcodec.format.scene import Scene
from refcodec.roi.tiles import tile_regions
from refcodec.viewer import SH_C0, StreamViewer
from tests.stream.conftest import LoopbackServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LAYERS = 4
W, H = 1100, 720


def blobs(n=4000, seed=0) -> Scene:
    """Opaque, saturated blobs in a cube: easy to see in a screenshot."""
    rng = np.random.default_rng(seed)
    rgb = rng.choice([0.05, 0.95], size=(n, 3))
    return Scene(positions=rng.uniform(-1, 1, (n, 3)), opacity=np.full(n, 4.0),
                 scales=np.full((n, 3), np.log(0.08)), rotations=np.tile([1.0, 0, 0, 0], (n, 1)),
                 sh_dc=(rgb - 0.5) / SH_C0, sh_rest=np.zeros((n, 0)))


def ink(png: bytes) -> int:
    """Pixels of the 3D view (left of the panel) that differ from the background colour."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int32)
    packed = (img[..., 0] << 16) | (img[..., 1] << 8) | img[..., 2]
    vals, counts = np.unique(packed, return_counts=True)
    bg = vals[np.argmax(counts)]                                # the most common colour
    bg = np.array([(bg >> 16) & 255, (bg >> 8) & 255, bg & 255])
    view = img[140:H - 20, 40:W - 420]
    return int((np.abs(view - bg).max(axis=2) > 40).sum())


def wait_for(cond, timeout=45.0, step=0.2):
    t = time.time()
    while time.time() - t < timeout:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    scene = blobs()
    data = encode_scene(scene, EncodeOptions(adjust=False,
                                             layers=LAYERS, overcomplete=8, regions=tile_regions(scene, 2),
                                             progress=False))
    (root / "blobs.lgs").write_bytes(data)
    srv = LoopbackServer(root).start()
    v = StreamViewer(srv.url("blobs.lgs"), port=0, verbose=False, step_delay=3600.0).start()
    yield v
    v.stop()
    srv.stop()


def test_viewer_in_headless_chromium(viewer, tmp_path):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (.ci/run installs it)"
    v = viewer
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": W, "height": H})
        page.goto(v.url)
        wait_for(lambda: v.shown_level >= 1)
        # level 1 on screen (the next level waits for advance())
        shot = wait_for(lambda: (lambda s: s if ink(s) > 500 else None)(page.screenshot()))
        at_level = v.shown_level
        (tmp_path / "level1.png").write_bytes(shot)
        if os.environ.get("LGS_SCREENSHOTS"):
            os.makedirs(os.environ["LGS_SCREENSHOTS"], exist_ok=True)
            shutil.copy(tmp_path / "level1.png", os.path.join(os.environ["LGS_SCREENSHOTS"], "viewer-level1.png"))
        assert at_level == 1
        # refines level by level, each with more Gaussians and more bytes
        for k in range(2, LAYERS + 1):
            v.advance()
            wait_for(lambda k=k: v.shown_level == k)
        levels = [h[0] for h in v.history]
        assert levels[:LAYERS] == list(range(1, LAYERS + 1))
        assert all(a[1] < b[1] and a[2] < b[2] for a, b in zip(v.history[:LAYERS - 1], v.history[1:LAYERS]))
        full = wait_for(lambda: (lambda s: s if ink(s) > 0 else None)(page.screenshot()))
        time.sleep(1.0)
        full_ink = ink(page.screenshot())
        # the panel: tile_0's level to 0 (its number box), then tile_1 hidden (its checkbox)
        tile0 = v.labels.index("tile_0")
        tile1 = v.labels.index("tile_1")
        n = len(v.history)
        box = page.locator("input:visible.mantine-NumberInput-input").nth(0)
        box.fill("0")
        box.press("Enter")
        wait_for(lambda: v.target[tile0] == 0 and len(v.history) > n)
        assert v.history[-1][1] == v.counts[tile1] and v.counts[tile0] == 0
        half = wait_for(lambda: (lambda k: k if k < 0.8 * full_ink else None)(ink(page.screenshot())))
        assert half > 0
        page.locator("input:visible[type=checkbox]").nth(1).click()
        wait_for(lambda: not v.visible[tile1])
        wait_for(lambda: ink(page.screenshot()) < 0.05 * full_ink)
        browser.close()
    assert full is not None
