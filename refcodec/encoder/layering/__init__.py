"""Encoder-side layering: which quality layer each Gaussian belongs to."""
from refcodec.encoder.layering.importance import SCORERS, opacity_area, opacity_volume
from refcodec.encoder.layering.layers import assign_layers
from refcodec.encoder.layering.schedule import cumulative_counts, default_first_layer, layer_sizes

__all__ = ["SCORERS", "assign_layers", "cumulative_counts", "default_first_layer", "layer_sizes",
           "opacity_area", "opacity_volume"]
