"""refcodec: reference encoder and decoder for LGS (Layered Gaussian Splats).

``refcodec.format`` is the normative decode path (numpy and construct only); ``refcodec.encoder``
holds the encoder's choices; ``refcodec.io`` reads and writes scene files.
"""
from refcodec.format.scene import Scene

__version__ = "4.3.0"
__all__ = ["Scene", "__version__"]
