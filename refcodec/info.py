"""Summaries of an LGS file: header, ROI table, bytes per layer/region/kind (``refcodec info``)."""
from __future__ import annotations

from refcodec.format.errors import printable
from refcodec.format.front import Limits, read_front
from refcodec.format.adjust import payload_values
from refcodec.stream.select import level_bytes
from refcodec.format.schema import (
    ANCILLARY_NAMES, GATE_PREFIX_ADJUSTMENT, KIND_ADJUSTMENT, KIND_NAMES, QUALITY_NAMES, SEG_FLAG_ABSENT, SOURCE_KINDS,
)


def describe(data: bytes) -> dict:
    """A JSON-ready description of ``data`` (a whole file or a prefix)."""
    fm = read_front(data, limits=Limits.trusted())   # the front only: nothing is decoded
    info = fm.info
    by_layer, by_region, by_kind = {}, {}, {}
    segments = []
    for i, e in enumerate(fm.toc):
        absent = bool(e.flags & SEG_FLAG_ABSENT)
        kind = KIND_NAMES.get(e.kind) or ANCILLARY_NAMES.get(e.kind, f"ancillary-{e.kind}")
        present = not absent and e.offset + e.length <= len(data)
        segments.append(dict(index=i, layer=e.layer, region=e.region, kind=kind, offset=e.offset,
                             length=e.length, present=present, absent=absent, deps=list(e.deps)))
        if present:
            by_layer[e.layer] = by_layer.get(e.layer, 0) + e.length
            label = fm.regions[e.region].label
            by_region[label] = by_region.get(label, 0) + e.length
            by_kind[kind] = by_kind.get(kind, 0) + e.length
    # what this file holds of each unit: present (every critical segment inside the data),
    # absent (marked absent: e.g. dropped by an extraction, spec 8.5) or beyond the end (a prefix)
    present_counts = [[0] * info.num_layers for _ in fm.regions]
    absent_counts = [[0] * info.num_layers for _ in fm.regions]
    cut_counts = [[0] * info.num_layers for _ in fm.regions]
    for u in fm.units:
        if not u.count:
            continue
        ents = [fm.toc[i] for i in u.critical]
        if any(e.flags & SEG_FLAG_ABSENT for e in ents):
            absent_counts[u.region][u.layer - 1] += u.count
        elif any(e.offset + e.length > len(data) for e in ents):
            cut_counts[u.region][u.layer - 1] += u.count
        else:
            present_counts[u.region][u.layer - 1] += u.count
    cum, acc = [], fm.front_length
    fetch = level_bytes(fm)
    for layer in range(1, info.num_layers + 1):
        acc += by_layer.get(layer, 0)
        cum.append(dict(level=layer, bytes=acc, fetch=fetch[layer - 1],
                        gaussians=sum(sum(r.counts[:layer]) for r in fm.regions),
                        present_gaussians=sum(sum(c[:layer]) for c in present_counts)))
    # spec 8.6: the prefix adjustments (read from the data when present; None when invalid)
    adjustments = []
    if tuple(fm.version) >= GATE_PREFIX_ADJUSTMENT:
        for e in fm.toc:
            if e.kind == KIND_ADJUSTMENT and not e.flags & SEG_FLAG_ABSENT and e.offset + e.length <= len(data):
                vals = payload_values(bytes(data[e.offset: e.offset + e.length]))
                adjustments.append(dict(layer=e.layer, region=e.region, scale_floor=None if vals is None
                                        else float(vals[0]), opacity_offset=None if vals is None else float(vals[1])))
    return dict(
        version=f"{fm.version[0]}.{fm.version[1]}",
        file_bytes=len(data),
        front_bytes=fm.front_length,
        sh_degree=info.sh_degree,
        layers=info.num_layers,
        total_gaussians=info.total_gaussians,
        present_gaussians=sum(map(sum, present_counts)),
        absent_gaussians=sum(map(sum, absent_counts)),
        beyond_end_gaussians=sum(map(sum, cut_counts)),
        quality=QUALITY_NAMES.get(info.quality, str(info.quality)),
        origin=list(info.origin), voxel_size=list(info.voxel_size), steps=list(info.steps),
        regions=[dict(id=r.region_id, label=r.label, source=SOURCE_KINDS.get(r.source, f"source-{r.source}"),
                      bbox=[list(r.bbox_min), list(r.bbox_max)], params=list(r.params),
                      prompts=[dict(view=p.view, negative=bool(p.flags & 1), x=p.x, y=p.y, threshold=p.threshold)
                               for p in r.prompts],
                      counts=list(r.counts), present=present_counts[i], absent=absent_counts[i],
                      beyond_end=cut_counts[i]) for i, r in enumerate(fm.regions)],
        bytes_per_layer=by_layer, bytes_per_region=by_region, bytes_per_kind=by_kind,
        levels=cum, segments=segments, adjustments=adjustments,
    )


def format_text(d: dict) -> str:
    """Plain text for a terminal; every string from the file (labels) is escaped (printable)."""
    held = d["total_gaussians"] - d["present_gaussians"]
    lines = [
        f"LGS {d['version']}  {d['file_bytes']:,} bytes (front {d['front_bytes']:,})  "
        f"{d['total_gaussians']:,} Gaussians  SH degree {d['sh_degree']}  {d['layers']} layers  "
        f"quality {printable(d['quality'])}",
    ]
    if held:
        lines.append(f"present: {d['present_gaussians']:,} of {d['total_gaussians']:,} Gaussians "
                     f"({d['absent_gaussians']:,} in absent segments, e.g. dropped by an extraction; "
                     f"{d['beyond_end_gaussians']:,} beyond the end of the data)")
    lines += ["", "regions:"]
    for r in d["regions"]:
        lines.append(f"  {r['id']:>3} {printable(r['label'], 60):<20} {r['source']:<9} {sum(r['counts']):>10,} "
                     f"Gaussians  per layer {r['counts']}")
        if r["present"] != r["counts"]:
            lines.append(f"      present {sum(r['present']):,}  per layer {r['present']}")
        if r["params"] and r["source"] != "rest":
            lines.append(f"      params {', '.join(f'{v:g}' for v in r['params'])}")
        for p in r["prompts"]:   # click regions (spec 3.3): view, pixel, negative, vote threshold
            lines.append(f"      {'negative' if p['negative'] else 'click'} view {p['view']} pixel "
                         f"({p['x']:g}, {p['y']:g}) threshold {p['threshold']:.3g}")
    # with prefix corrections (spec 8.7) a prefix holds every lower level's, while a client that
    # fetches ranges takes only its level's: both counts
    fetched = d.get("bytes_per_kind", {}).get("correction")
    lines += ["", "level  cumulative bytes  cumulative Gaussians" + ("  present" if held else "")
              + ("  fetched for the level" if fetched else "")]
    for c in d["levels"]:
        lines.append(f"  {c['level']:>3}  {c['bytes']:>16,}  {c['gaussians']:>20,}"
                     + (f"  {c['present_gaussians']:>7,}" if held else "")
                     + (f"  {c['fetch']:>22,}" if fetched else ""))
    if d.get("adjustments"):
        lines += ["", "prefix adjustments (spec 8.6): level, region: log-scale floor, opacity offset"]
        for a in d["adjustments"]:
            v = "invalid" if a["scale_floor"] is None else f"{a['scale_floor']:.3f}, {a['opacity_offset']:+.3f}"
            lines.append(f"  {a['layer']:>3}  {a['region']:>3}: {v}")
    lines += ["", "bytes per kind: " + ", ".join(f"{k} {v:,}" for k, v in d["bytes_per_kind"].items()),
              "bytes per region: " + ", ".join(f"{printable(k, 60)} {v:,}" for k, v in d["bytes_per_region"].items())]
    missing = sum(1 for s in d["segments"] if not s["present"])
    if missing:
        lines.append(f"{missing} of {len(d['segments'])} segments absent or beyond the end of the data")
    return "\n".join(lines)
