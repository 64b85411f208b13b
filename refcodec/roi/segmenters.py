"""Mask sources for click extraction (encoder side), behind one interface::

    mask = segmenter.segment(view, points, labels)   # (H, W) bool, or None: this view does not vote

``view`` is a :class:`refcodec.roi.click.View` (rgb, alpha, depth, camera, index, name),
``points`` (k, 2) pixel coordinates (x, y) in its image, ``labels`` (k,) 1 for positive and 0 for
negative prompts.

- :class:`GrabCutSegmenter` (``grabcut``, no weights): a region grow on the rendered depth and
  colour from the positive prompts (OpenCV ``floodFill`` on log depth and CIELAB colour, stopped
  by steps in either and by uncovered pixels) seeds OpenCV's GrabCut (``cv2.grabCut``, colour
  models), whose result is cut to the connected part holding the positive prompts.
- :class:`SamSegmenter` (``sam:CHECKPOINT``): Segment Anything (``segment-anything`` package)
  with the user's checkpoint; CUDA when available, else CPU.
- :class:`MaskFolder` (``masks:DIR``): the user's own masks, one PNG per view, named by the view
  index (``7.png``, ``007.png``) or the camera name (``IMG_0042.png``); white (> 127) is the object.

:func:`make_segmenter` parses the ``--segmenter`` option.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - the roi extra installs it
        raise ImportError("the model-free segmenter needs OpenCV: pip install 'refcodec[roi]' "
                          "(opencv-python-headless)") from e
    return cv2


def _seed_pixels(points: np.ndarray, shape) -> np.ndarray:
    h, w = shape
    p = np.floor(np.asarray(points, np.float64).reshape(-1, 2)).astype(np.int64)
    p[:, 0] = np.clip(p[:, 0], 0, w - 1)
    p[:, 1] = np.clip(p[:, 1], 0, h - 1)
    return p


class GrabCutSegmenter:
    """Model-free: depth region grow seeding OpenCV GrabCut.

    ``depth_step``: largest step of log depth between neighbouring pixels inside one surface
    (0.03, i.e. 3%); ``lightness_step``, ``colour_step``: largest steps of CIELAB lightness (6)
    and chroma (a, b; 8); ``depth_range``:
    the grow stays within this log-depth distance of the seed (0.5); ``iterations``: GrabCut
    iterations (3; 0 keeps the grown region). Uncovered pixels (alpha < 0.5) are background.
    """

    name = "grabcut"

    def __init__(self, depth_step: float = 0.03, lightness_step: float = 6.0, colour_step: float = 8.0,
                 depth_range: float = 0.5, iterations: int = 3, seed_radius: int = 2):
        self.depth_step, self.depth_range = float(depth_step), float(depth_range)
        self.lightness_step, self.colour_step = float(lightness_step), float(colour_step)
        self.iterations, self.seed_radius = int(iterations), int(seed_radius)

    def grow(self, view, seed) -> np.ndarray:
        """Pixels reached from ``seed`` (x, y) through covered pixels whose log depth changes by
        at most ``depth_step``, CIELAB lightness by ``lightness_step`` and chroma (a, b) by
        ``colour_step`` from a neighbour (colour median-filtered over 5x5 first), with the log
        depth within ``depth_range`` of the seed's."""
        cv2 = _cv2()
        covered = view.alpha >= 0.5
        h, w = covered.shape
        x, y = int(seed[0]), int(seed[1])
        if not covered[y, x]:
            return np.zeros((h, w), bool)
        logd = np.log(np.maximum(view.depth, 1e-12)).astype(np.float32)
        d0 = float(logd[y, x])
        ok = covered & (np.abs(logd - d0) <= self.depth_range)
        lab = cv2.cvtColor(np.ascontiguousarray(view.rgb, np.float32), cv2.COLOR_RGB2Lab)
        lab = cv2.medianBlur(lab, 5)          # fine texture (eyes, print) smoothed, edges kept
        barrier = np.where(ok, logd, np.float32(1e6))
        reached = ok.copy()
        # floodFill compares up to 3 channels: log depth and lightness with a, then with b; a
        # pixel must be reached both ways (then the seed's connected part of that is kept)
        for chroma in (lab[..., 1], lab[..., 2]):
            img = np.dstack([barrier, lab[..., 0], chroma]).astype(np.float32)
            ff = np.zeros((h + 2, w + 2), np.uint8)
            tol = (self.depth_step, self.lightness_step, self.colour_step)
            cv2.floodFill(img, ff, (x, y), (0, 0, 0), loDiff=tol, upDiff=tol,
                          flags=4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
            reached &= ff[1:-1, 1:-1].astype(bool)
        return _component_of(reached, np.array([[x, y]]))

    def segment(self, view, points, labels) -> np.ndarray | None:
        cv2 = _cv2()
        h, w = view.alpha.shape
        p = _seed_pixels(points, (h, w))
        labels = np.asarray(labels).reshape(-1)
        pos, neg = p[labels == 1], p[labels == 0]
        grown = np.zeros((h, w), bool)
        for q in pos:
            grown |= self.grow(view, q)
        neg_grown = np.zeros((h, w), bool)
        for q in neg:
            neg_grown |= self.grow(view, q)
        grown &= ~neg_grown
        mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        mask[grown] = cv2.GC_PR_FGD
        mask[neg_grown] = cv2.GC_BGD
        mask[view.alpha < 0.5] = cv2.GC_BGD
        r = self.seed_radius
        seeds_fg = np.zeros((h, w), np.uint8)
        for q in pos:
            cv2.circle(seeds_fg, (int(q[0]), int(q[1])), r, 1, -1)
        seeds_bg = np.zeros((h, w), np.uint8)
        for q in neg:
            cv2.circle(seeds_bg, (int(q[0]), int(q[1])), r, 1, -1)
        mask[seeds_fg.astype(bool) & grown] = cv2.GC_FGD
        mask[seeds_bg.astype(bool)] = cv2.GC_BGD
        fg_any = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
        bg_any = np.isin(mask, (cv2.GC_BGD, cv2.GC_PR_BGD))
        if self.iterations > 0 and fg_any.sum() >= 16 and bg_any.sum() >= 16:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(np.ascontiguousarray(view.rgb8()[..., ::-1]), mask, None, bgd, fgd, self.iterations,
                        cv2.GC_INIT_WITH_MASK)
            out = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
        else:
            out = grown
        return _component_of(out, pos)


def _component_of(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected parts (8-neighbourhood) of ``mask`` that hold a seed pixel."""
    cv2 = _cv2()
    if not mask.any() or len(seeds) == 0:
        return np.zeros_like(mask, dtype=bool)
    _, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    ids = {int(lab[y, x]) for x, y in seeds if mask[y, x]}
    ids.discard(0)
    return np.isin(lab, sorted(ids)) if ids else np.zeros_like(mask, dtype=bool)


class MaskFolder:
    """User masks: ``DIR/<view index>.png`` (also zero-padded, e.g. ``007.png``) or
    ``DIR/<camera name>.png``; resized (nearest) to the view's working size. A view without a
    file does not vote."""

    name = "masks"

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"--segmenter masks:{folder}: not a folder")

    def path_for(self, view) -> Path | None:
        stems = [str(view.index), f"{view.index:03d}", f"{view.index:04d}", f"{view.index:05d}"]
        if view.name:
            stems += [view.name, Path(view.name).stem]
        for s in stems:
            p = self.folder / f"{s}.png"
            if p.is_file():
                return p
        return None

    def segment(self, view, points, labels) -> np.ndarray | None:
        p = self.path_for(view)
        if p is None:
            return None
        cv2 = _cv2()
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{p}: not a readable PNG")
        if img.ndim == 3:
            img = img[..., 3] if img.shape[2] == 4 and img[..., 3].min() < 255 else img[..., :3].max(axis=2)
        h, w = view.alpha.shape
        if img.shape != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
        return img > 127


def import_sam():
    """``segment_anything``'s ``SamPredictor`` and ``sam_model_registry``.

    segment-anything imports torchvision (``resize``/``to_pil_image`` for the input image, NMS
    for its automatic mask generator). Where torchvision is missing or cannot load (PyPI has
    only CUDA builds of torchvision for Linux, which fail beside a CPU-only torch, as on this
    project's machines), the two image functions SamPredictor uses are supplied from Pillow
    (the same operations torchvision applies to a PIL image: bilinear resize with antialiasing)
    and the automatic mask generator is left unusable."""
    try:
        from segment_anything import SamPredictor, sam_model_registry
        return SamPredictor, sam_model_registry
    except ImportError as e:
        if "segment_anything" in str(e) and "torchvision" not in str(e):
            raise ImportError("the SAM segmenter needs segment-anything: pip install 'refcodec[roi]'") from e
    except (RuntimeError, OSError):
        pass
    import sys
    import types

    from PIL import Image

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")
                 or m == "segment_anything" or m.startswith("segment_anything.")]:
        del sys.modules[name]

    def resize(img, size):
        w, h = img.size
        if isinstance(size, int):   # torchvision: the shorter side becomes ``size``
            size = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
        return img.resize((size[1], size[0]), Image.BILINEAR)

    def unavailable(*_a, **_k):
        raise RuntimeError("torchvision is not available: SAM's automatic mask generator cannot run")

    tv = types.ModuleType("torchvision")
    tv.__path__ = []
    mods = {"torchvision": tv}
    for sub in ("transforms", "transforms.functional", "ops", "ops.boxes"):
        m = types.ModuleType("torchvision." + sub)
        m.__path__ = []
        mods["torchvision." + sub] = m
    mods["torchvision.transforms.functional"].resize = resize
    mods["torchvision.transforms.functional"].to_pil_image = lambda a: Image.fromarray(np.asarray(a))
    mods["torchvision.ops.boxes"].batched_nms = unavailable
    mods["torchvision.ops.boxes"].box_area = unavailable
    sys.modules.update(mods)
    from segment_anything import SamPredictor, sam_model_registry
    return SamPredictor, sam_model_registry


class SamSegmenter:
    """Segment Anything with point prompts. ``model``: a ``segment_anything.Sam`` (e.g. a tiny one
    for tests) or None with ``checkpoint`` (a path) and ``model_type`` (vit_h, vit_l, vit_b; by
    default guessed from the file name, else vit_h). ``device``: None picks CUDA when available,
    else CPU. Of SAM's three masks the one with the best predicted IoU is kept."""

    name = "sam"

    def __init__(self, checkpoint=None, model_type: str | None = None, model=None, device=None):
        import torch

        SamPredictor, sam_model_registry = import_sam()
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if model is None:
            if checkpoint is None:
                raise ValueError("SAM needs a checkpoint path: --segmenter sam:PATH.pth")
            if not Path(checkpoint).is_file():
                raise ValueError(f"SAM checkpoint {checkpoint} not found (download one of the official "
                                 "segment-anything checkpoints and pass its path)")
            if model_type is None:
                stem = Path(checkpoint).name.lower()
                model_type = next((t for t in ("vit_h", "vit_l", "vit_b") if t in stem), "vit_h")
            if model_type not in sam_model_registry:
                raise ValueError(f"unknown SAM model type {model_type!r} ({', '.join(sam_model_registry)})")
            model = sam_model_registry[model_type](checkpoint=str(checkpoint))
        self.device = device
        model.to(device=device)
        model.eval()
        self.predictor = SamPredictor(model)

    def segment(self, view, points, labels) -> np.ndarray | None:
        import torch

        with torch.no_grad():
            self.predictor.set_image(view.rgb8(), image_format="RGB")
            masks, scores, _ = self.predictor.predict(point_coords=np.asarray(points, np.float32),
                                                      point_labels=np.asarray(labels, np.int64),
                                                      multimask_output=True)
        return np.asarray(masks[int(np.argmax(scores))], bool)


def make_segmenter(text: str | None):
    """``grabcut`` (default) | ``sam:CHECKPOINT[:vit_h|vit_l|vit_b]`` | ``masks:DIR``."""
    text = text or "grabcut"
    kind, _, arg = text.partition(":")
    if kind == "grabcut" and not arg:
        return GrabCutSegmenter()
    if kind == "sam":
        ckpt, model_type = arg, None
        head, sep, tail = arg.rpartition(":")
        if sep and tail in ("vit_h", "vit_l", "vit_b"):
            ckpt, model_type = head, tail
        return SamSegmenter(ckpt or None, model_type)
    if kind == "masks" and arg:
        return MaskFolder(arg)
    raise ValueError(f"--segmenter {text!r}: expected grabcut, sam:CHECKPOINT or masks:DIR")
