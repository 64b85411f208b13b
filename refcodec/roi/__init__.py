"""Encoder-side regions of interest (the decoder never imports this package).

| module | what |
| --- | --- |
| `regions.py` | ``--roi`` specs (box, sphere, indices, property, click) and the region of each Gaussian |
| `click.py` | objects by clicking: views, Eq. 5 lift, visible-only prompts, Eq. 6-7 voting (spec A.2) |
| `segmenters.py` | mask sources behind one interface: model-free GrabCut, SAM, user mask folders |
| `tiles.py` | spatial tiles of the background (spec A.7) |
| `cli.py` | ``encode``'s click regions and the ``segment`` command (options: ``refcodec.roi_options``) |
"""
from refcodec.roi.regions import RegionSpec, assign_regions, parse_roi, property_regions

__all__ = ["RegionSpec", "assign_regions", "parse_roi", "property_regions"]
