"""The normative side of LGS: everything a decoder port needs, and nothing else (no torch, no
rendering, no encoder choices; numpy and construct only). Files in spec order:

| spec | module | what |
| --- | --- | --- |
| 3 | `schema.py` | the byte layout, declared once with ``construct``: header, ROI table, TOC, payloads |
| 3.2 | `channels.py` | the attribute channels in coding order: the one channel table |
| 4 | `front.py` | reading and validating the front; units; writing a front (encoder, extract) |
| 5.1 | `morton.py`, `geometry.py` | voxel Morton codes; Morton gaps and occupancy octree |
| 5.2 | `duplicates.py` | Gaussians per voxel (DEFLATE) |
| 5.3 | `attributes.py` | predictions, the stream layout, SH-rest references |
| 6 | `hybrid_uint.py`, `rans.py`, `bitpack.py`, `intstream.py` | tokens, rANS, raw bits, coded integer streams |
| 7 | `dequantize.py` | binary32 dequantization |
| 8 | `decode.py`, `scene.py` | decoding a prefix or a selection; extraction; the output scene |
| 8.6, 8.7 | `adjust.py`, `correct.py` | prefix adjustments (4.1) and corrections (4.2; predicted, 4.3) |
| 9 | `errors.py` | the error classes |

``rans_reference.py`` is a plain per-symbol rANS beside the vectorized one, for tests.
"""
