"""Encoder-side regions of interest."""
from refcodec.roi.regions import RegionSpec, assign_regions, parse_roi, property_regions

__all__ = ["RegionSpec", "assign_regions", "parse_roi", "property_regions"]
