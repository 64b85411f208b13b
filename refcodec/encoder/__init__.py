"""The encoder: every choice the format leaves open (spec appendix A), and the pipeline that
makes a file from a scene. Nothing in ``refcodec.format`` imports from here.

| module | what it chooses |
| --- | --- |
| `pipeline.py` | layers x regions -> units -> segments -> file; rate control (A.1, A.3) |
| `quantization.py` | the quality model: steps, position bits, layer tilt (A.3) |
| `axes.py` | canonical axis order of each Gaussian (A.5) |
| `geometry.py` | geometry method per unit: Morton gaps or octree (A.4) |
| `attributes.py` | predictions, residual contexts, SH-rest references (A.2, A.4) |
| `layering/` | which layer each Gaussian goes to; render-based pruning (A.1, A.6) |
| `adjust.py` | the prefix adjustments of a 4.1 file, fitted on renders (A.10) |
"""
from refcodec.encoder.pipeline import STREAM, TOOLS, EncodeOptions, encode_scene, encode_scene_with_order

__all__ = ["STREAM", "TOOLS", "EncodeOptions", "encode_scene", "encode_scene_with_order"]
