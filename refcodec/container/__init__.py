"""The LGS container: schema (declared once), front reader/writer, unit grouping."""
from refcodec.container.front import (
    FrontMatter, Unit, assemble, build_front, info_dict, read_front, region_dicts, toc_dicts, units,
)

__all__ = ["FrontMatter", "Unit", "assemble", "build_front", "info_dict", "read_front",
           "region_dicts", "toc_dicts", "units"]
