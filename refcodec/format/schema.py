"""The LGS 4.0 byte layout, declared once with ``construct`` (spec 3-5).

Encoder and decoder both import these structs; there is no second hand-written reader or
writer. All integers are little-endian. Section numbers refer to spec/lgs-4.0.md.
"""
from construct import (
    Array, Bytes, Check, If, Float32l, GreedyBytes, Int8sl, Int8ul, Int16sl, Int16ul, Int32sl, Int32ul, Int64ul,
    PascalString, PrefixedArray, Struct, Terminated, VarInt, this,
)

from refcodec.format.channels import num_channels

# ---------------------------------------------------------------------------------------------
# spec 6.3: one probability table of the rANS coder. ``nsym`` frequencies, each a LEB128 VarInt.
RansTable = Struct(
    "nsym" / Int8ul,
    Check(this.nsym <= 136),
    "freqs" / Array(this.nsym, VarInt),
)

# spec 6.4: a coded integer stream: rANS-coded tokens (one table per context) plus the raw
# extra bits of the hybrid-uint tokens (spec 6.2).
IntStream = Struct(
    "num_contexts" / Int8ul,
    "tables" / Array(this.num_contexts, RansTable),
    "lanes_log2" / Int8ul,
    Check(this.lanes_log2 <= 12),
    "num_words" / Int32ul,
    "states" / Bytes(4 * (1 << this.lanes_log2)),
    "words" / Bytes(2 * this.num_words),
    "raw_len" / Int32ul,
    "raw" / Bytes(this.raw_len),
)

# ---------------------------------------------------------------------------------------------
# spec 3.1: the fixed header, 16 bytes, that starts every LGS file.
MAGIC = b"\x89LGS\r\n\x1a\n"
VERSION_MAJOR = 4            # the newest version the reference encoder writes: 4.3, 4.2 or 4.1 when a
VERSION_MINOR = 3            # file uses a tool of that minor (spec 8.7.1, 8.7, 8.6), else 4.0 (BASE_VERSION), spec 10
BASE_VERSION = (4, 0)        # the version of a file that uses no tool of a later minor
READABLE_MAJORS = (2, 3, 4)  # spec 10: every version the spec still lists
# spec 10: named version gates, the first version whose files may use each tool
GATE_RESIDUAL_CONTEXTS = (3, 0)   # spec 5.3.5: attributes flags bit 1, ChannelCoding thresholds
GATE_REST_REFERENCES = (4, 0)     # spec 5.3.6: attributes flags bit 2, rest modes >= 2
GATE_PREFIX_ADJUSTMENT = (4, 1)   # spec 8.6: ancillary adjustment segments change a coarse region
GATE_PREFIX_CORRECTIONS = (4, 2)  # spec 8.7: ancillary correction segments change a coarse region's values
GATE_CORRECTION_PREDICTION = (4, 3)  # spec 8.7.1: corrections whose scales and SH DC are coded as differences

FixedHeader = Struct(
    "magic" / Bytes(8),
    "version_major" / Int8ul,
    "version_minor" / Int8ul,
    "flags" / Int16ul,          # reserved, zero
    "front_length" / Int32ul,   # bytes from the start of the file to the end of the front CRC
)
FIXED_HEADER_SIZE = 16

# spec 3.2 (informative): the quality field's values.
QUALITY_NAMES = {0: "max", 1: "high", 2: "medium", 3: "low", 4: "preview", 255: "custom"}

SceneInfo = Struct(
    "sh_degree" / Int8ul,
    Check(this.sh_degree <= 3),
    "num_layers" / Int8ul,
    Check(this.num_layers >= 1),
    "num_regions" / Int16ul,
    Check(this.num_regions >= 1),
    "num_segments" / Int32ul,
    "total_gaussians" / Int32ul,
    "quality" / Int8ul,               # informative: the encoder preset id (QUALITY_NAMES)
    "reserved" / Bytes(3),            # zero
    "origin" / Array(3, Float32l),
    "voxel_size" / Array(3, Float32l),
    "steps" / Array(lambda ctx: num_channels(ctx.sh_degree), Float32l),   # spec 3.2 channel order
)

# spec 3.3: one region of the ROI table.
SOURCE_KINDS = {0: "rest", 1: "box", 2: "sphere", 3: "property", 4: "indices", 5: "click"}

Prompt = Struct(                      # spec 3.3: click-prompt metadata (view, pixel, threshold)
    "view" / Int16ul,
    "flags" / Int16ul,                # bit 0: negative click; other bits zero
    "x" / Float32l,
    "y" / Float32l,
    "threshold" / Float32l,
)

Region = Struct(
    "region_id" / Int16ul,
    "label" / PascalString(Int8ul, "utf8"),
    "source" / Int8ul,
    "flags" / Int8ul,                 # reserved, zero
    "bbox_min" / Array(3, Float32l),
    "bbox_max" / Array(3, Float32l),
    "params" / PrefixedArray(Int8ul, Float32l),
    "prompts" / PrefixedArray(Int8ul, Prompt),
    "counts" / Array(this._.info.num_layers, Int32ul),
)

# spec 3.4: one entry of the table of contents.
KIND_GEOMETRY = 1
KIND_DUPLICATES = 2
KIND_ATTRIBUTES = 3
KIND_NAMES = {KIND_GEOMETRY: "geometry", KIND_DUPLICATES: "duplicates", KIND_ATTRIBUTES: "attributes"}
KIND_ANCILLARY_BIT = 0x80
KIND_ADJUSTMENT = 0x81            # spec 8.6 (4.1): ancillary, the prefix adjustment of one (layer, region)
KIND_CORRECTION = 0x82            # spec 8.7 (4.2): ancillary, the per-Gaussian correction of one (layer, region)
KIND_PREDICTED_CORRECTION = 0x83  # spec 8.7.1 (4.3): the same, channels predicted within their group
ANCILLARY_NAMES = {KIND_ADJUSTMENT: "adjustment", KIND_CORRECTION: "correction",
                   KIND_PREDICTED_CORRECTION: "correction"}
# spec 8.7.1: channel j of a predicted correction adds the t of channel j - 1 when that is corrected
PREDICTED_CHANNELS = (2, 3, 9, 10)   # scales 1-2, SH DC G and B
SEG_FLAG_ABSENT = 0x01

TocEntry = Struct(
    "layer" / Int8ul,
    "region" / Int16ul,
    "kind" / Int8ul,
    "flags" / Int8ul,
    "reserved" / Int8ul,              # zero
    "offset" / Int64ul,
    "length" / Int32ul,
    "crc32" / Int32ul,
    "deps" / PrefixedArray(Int8ul, Int32ul),
)
MIN_TOC_ENTRY_SIZE = 23
MIN_REGION_SIZE = 2 + 1 + 1 + 1 + 24 + 1 + 1

# spec 3: everything after the fixed header up to the CRC is the "front"; the CRC-32 covers the
# fixed header and the front.
Front = Struct(
    "info" / SceneInfo,
    "regions" / Array(this.info.num_regions, Region),
    "toc" / Array(this.info.num_segments, TocEntry),
    Terminated,
)

# ---------------------------------------------------------------------------------------------
# spec 5: segment payloads.
GeometryPayload = Struct(             # spec 5.1
    "num_voxels" / Int32ul,
    "method" / Int8ul,                # 0: Morton gaps; 1: octree, level contexts; 2: octree, full contexts
    "depth" / Int8ul,                 # octree depth D <= 16 (every coordinate < 2^D); 0 for method 0
    "stream" / GreedyBytes,           # IntStream (spec 6.4): gaps (1 context) or mask halves (54)
)

ChannelCoding = Struct(               # spec 5.3.1: how one channel of a unit is predicted and coded
    "base" / Int32sl,                 # centre (modes 0, grid fallback) or the norm S (mode bit 2)
    "shift" / Int8sl,                 # unit step = steps[j] * 2^shift, -8 <= shift <= 8
    "mode" / Int8ul,                  # bit 0 grid base, bit 1 delta, bit 2 unit norm (spec 5.3.2)
    "ref" / Int8ul,                   # channel whose deviation is added (255: none)
    "coef" / Int16sl,                 # its weight, in 64ths
    # residual context thresholds (spec 5.3.5), present when the payload's flag bit 1 is set
    "thresholds" / If(this._.flags & 2, PrefixedArray(Int8ul, Int16ul)),
)

AttributesPayload = Struct(           # spec 5.3.1
    "num_channels" / Int8ul,
    "flags" / Int8ul,                 # bit 0: SH-rest row mask present; bit 1: context thresholds
    "grid_shift" / Int8ul,            # finest lower-layer grid cell: 2^grid_shift voxels a side
    "grid_levels" / Int8ul,           # number of grid levels, cells 4x larger a side each
    "channels" / Array(this.num_channels, ChannelCoding),
    "stream" / GreedyBytes,           # IntStream (spec 6.4), contexts of spec 5.3.5
)

AdjustmentPayload = Struct(          # spec 8.6: 8 bytes, nothing after
    "scale_floor" / Float32l,         # log-scale floor of a coarse region's two larger axes
    "opacity_offset" / Float32l,      # added to its opacity logits
    Terminated,
)
ADJUSTMENT_SIZE = 8
ADJUSTMENT_MAX = 65536.0              # spec 8.6: larger magnitudes make the payload invalid

CorrectionHeader = Struct(           # spec 8.7: the payload's first 9 bytes; the IntStream follows
    "channels" / Int64ul,             # bit j: channel j is corrected
    "shift" / Int8ul,                 # corrections in units of 2^shift unit steps
)
CORRECTION_HEADER_SIZE = 9
CORRECTION_MAX_SHIFT = 16

DuplicatePair = Struct("voxel" / Int32ul, "extra" / Int32ul)   # spec 5.2, inside DEFLATE
