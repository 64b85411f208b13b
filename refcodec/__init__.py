"""refcodec: reference encoder and decoder for LGS (Layered Gaussian Splats).

The decode path (``refcodec.container``, ``refcodec.coding``, ``refcodec.io``,
``refcodec.decoder``) depends on numpy, construct and plyfile only.
"""
from refcodec.scene import Scene

__version__ = "4.0.0"
__all__ = ["Scene", "__version__"]
