"""Encoder-side layering: which quality layer each Gaussian belongs to."""
from refcodec.layering.importance import SCORERS, opacity_area, opacity_volume
from refcodec.layering.layers import assign_layers
from refcodec.layering.schedule import cumulative_counts, default_first_layer, layer_sizes

__all__ = ["SCORERS", "assign_layers", "cumulative_counts", "default_first_layer", "layer_sizes",
           "opacity_area", "opacity_volume"]
