"""The LGS decoder: any byte prefix, any (layer, region) selection (spec 8).

Imports only numpy, the container and the coding modules: no torch, render, layering or roi.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from refcodec.format import adjust, attributes, correct, duplicates, geometry, morton
from refcodec.format import schema as S
from refcodec.format.channels import group_slices, num_channels
from refcodec.format.dequantize import dequantize_attributes, dequantize_positions, unit_steps
from refcodec.format.front import (
    FrontMatter, Limits, assemble, data_end, info_dict, read_front, region_dicts, toc_dicts,
)
from refcodec.format.errors import ChecksumError, CorruptError, LGSError, printable
from refcodec.format.rans import work_limits
from refcodec.format.scene import Scene



@dataclass
class UnitReport:
    layer: int
    region: int
    count: int
    status: str  # decoded | not selected | absent | incomplete | checksum | corrupt | dependency
    detail: str = ""
    steps: np.ndarray | None = None   # the unit's float32 steps (spec 7.2) once decoded


@dataclass
class DecodeResult:
    scene: Scene
    layer: np.ndarray     # (N,) uint8, the layer of each decoded Gaussian
    region: np.ndarray    # (N,) uint16, its region
    front: FrontMatter
    units: list = field(default_factory=list)  # UnitReport, file order
    complete: bool = True  # the data reach the end of the file's last present segment
    adjusted: dict = field(default_factory=dict)  # region -> the level whose adjustment applied (spec 8.6)
    corrected: dict = field(default_factory=dict)  # region -> the level whose correction applied (spec 8.7)

    @property
    def problems(self) -> list:
        """The *dropped* units of spec 8.3 (outcome checksum, corrupt or dependency), which a decoder
        must report; absent and incomplete units are not present, not dropped."""
        return [u for u in self.units if u.status in ("checksum", "corrupt", "dependency")]


def resolve_levels(front: FrontMatter, level: int | None = None, roi_levels: dict | None = None) -> list:
    """Per-region maximum layer (spec 8.1). ``roi_levels`` maps region labels (or indices) to
    levels; other regions get ``level`` (None: all layers). Level 0 excludes a region."""
    nl, nr = front.info.num_layers, front.info.num_regions
    base = nl if level is None else level
    levels = [base] * nr
    labels = {r.label: i for i, r in enumerate(front.regions)}
    for key, k in (roi_levels or {}).items():
        if isinstance(key, str) and key in labels:
            i = labels[key]
        elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            i = int(key)
            if not 0 <= i < nr:
                raise ValueError(f"region index {i} out of range (0..{nr - 1})")
        else:
            raise ValueError(f"no region labelled {printable(repr(key))} "
                             f"(regions: {printable(', '.join(labels))})")
        levels[i] = k
    for k in levels:
        if k < 0:
            raise ValueError("levels must be >= 0")
    return [min(k, nl) for k in levels]


def adjustment_segments(front: FrontMatter, unit) -> list:
    """TOC indices of the unit's present adjustment segments (spec 8.6): a client that selects the
    unit's level fetches them with it."""
    return [i for i in unit.ancillary
            if front.toc[i].kind == S.KIND_ADJUSTMENT and not front.toc[i].flags & S.SEG_FLAG_ABSENT]


def correction_segments(front: FrontMatter, unit) -> list:
    """TOC indices of the unit's present correction segments (spec 8.7): a client that selects the
    unit's level as a region's top level fetches them with it (only that level's are used)."""
    kinds = correct.kinds(front.version)
    return [i for i in unit.ancillary
            if front.toc[i].kind in kinds and not front.toc[i].flags & S.SEG_FLAG_ABSENT]


def unit_bytes(front: FrontMatter) -> dict:
    """Bytes of each (layer, region) unit's present critical and adjustment segments; None for a
    unit with an absent critical segment (it cannot be decoded from this file)."""
    out = {}
    for u in front.units:
        extra = sum(front.toc[i].length for i in adjustment_segments(front, u))
        if u.count:
            ents = [front.toc[i] for i in u.critical]
            out[u.layer, u.region] = None if any(e.flags & 1 for e in ents) else sum(e.length for e in ents) + extra
        elif extra:
            out[u.layer, u.region] = extra
    return out


def correction_bytes(front: FrontMatter) -> dict:
    """Bytes of each (layer, region)'s present correction segments (spec 8.7): what a client adds
    when that layer is the region's selected level (and drops when it selects a finer one)."""
    out = {}
    for u in front.units:
        b = sum(front.toc[i].length for i in correction_segments(front, u))
        if b:
            out[u.layer, u.region] = b
    return out


def budget_levels(front: FrontMatter, max_bytes: int, priority: list, caps: list | None = None) -> list:
    """A selection (spec 8.1) whose bytes fit ``max_bytes``: the front plus the critical segments
    of the selected units and the corrections of each region's level (spec 8.7), as a client
    fetches them. The named ``priority`` regions (labels or indices) get their layers
    first, layer by layer in the order given, then the other regions the same way with what is
    left; a region stops at the first layer that does not fit (or is absent). ``caps``: the
    highest level of each region (default L)."""
    nl, nr = front.info.num_layers, front.info.num_regions
    caps = [nl] * nr if caps is None else [min(int(c), nl) for c in caps]
    labels = {r.label: i for i, r in enumerate(front.regions)}
    first = []
    for key in priority:
        i = labels.get(key) if isinstance(key, str) and key in labels else (
            int(key) if isinstance(key, int) or str(key).isdigit() else None)
        if i is None or not 0 <= i < nr:
            raise ValueError(f"--priority {key}: no such region (regions: {', '.join(labels)})")
        if i not in first:
            first.append(i)
    left = int(max_bytes) - front.front_length
    if left < 0:
        raise ValueError(f"a budget of {max_bytes:,} bytes does not hold the front ({front.front_length:,} bytes)")
    sizes, corr = unit_bytes(front), correction_bytes(front)
    levels = [0] * nr
    for group in (first, [i for i in range(nr) if i not in first]):
        open_ = list(group)
        for layer in range(1, nl + 1):
            for r in list(open_):
                cost = sizes.get((layer, r), 0)
                if cost is not None:      # the level's correction replaces the one below's
                    cost += corr.get((layer, r), 0) - corr.get((layer - 1, r), 0)
                if layer > caps[r] or cost is None or cost > left:
                    open_.remove(r)
                    continue
                left -= cost
                levels[r] = layer
    return levels


class _SegmentCheck:
    """Availability of segments in ``data`` (spec 8.2), computed lazily and memoized. Iterative
    (an explicit stack, not recursion): a chain of any length costs O(entries + dependencies)."""

    def __init__(self, data: bytes, front: FrontMatter, strict: bool):
        self.data, self.front, self.strict = data, front, strict
        self.memo: dict = {}
        self.passed: set = set()

    def status(self, i: int) -> str:
        memo, passed = self.memo, self.passed
        stack = [i]
        while stack:
            j = stack[-1]
            if j in memo:
                stack.pop()
                continue
            if j not in passed:                  # rules 1-3 of spec 8.2, once per entry
                own = self._own(j)
                if own != "ok":
                    memo[j] = own
                    stack.pop()
                    continue
                passed.add(j)
            deps = self._deps(j)
            pending = [d for d in deps if d not in memo]
            if pending:                          # rule 4 needs the dependencies first (d < j)
                stack.extend(pending)
                continue
            memo[j] = "dependency" if any(memo[d] != "ok" for d in deps) else "ok"
            stack.pop()
        return memo[i]

    def _deps(self, j: int) -> list:
        """spec 8.2 rule 4: the dependencies that count; a critical entry's ancillary ones do not (3.4)."""
        toc = self.front.toc
        if toc[j].kind & 0x80:
            return list(toc[j].deps)
        return [d for d in toc[j].deps if not toc[d].kind & 0x80]

    def _own(self, j: int) -> str:
        e = self.front.toc[j]
        if e.flags & 1:
            return "absent"
        if e.offset + e.length > len(self.data):
            return "incomplete"
        if zlib.crc32(self.payload(j)) != e.crc32:
            return "checksum"            # strict mode raises per unit outcome (spec 8.3), not here
        return "ok"

    def payload(self, i: int) -> bytes:
        e = self.front.toc[i]
        return self.data[e.offset: e.offset + e.length]


@dataclass
class _RegionState:
    """What later layers of a region are predicted from (spec 5.1, 5.3.3): its decoded units."""
    voxels: list = field(default_factory=list)   # distinct voxel codes of each unit
    lower: attributes.Lower = field(default_factory=attributes.Lower.empty)
    broken: bool = False                         # a selected lower unit could not be decoded


def decode_unit_arrays(front: FrontMatter, unit, payload, state: _RegionState | None = None,
                       last: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one unit to (voxel coordinates uint16 (n,3), quantized attributes int32 (n,C),
    the unit's step exponents int8 (C,)), using and extending ``state``, the region's lower
    layers (not extended when ``last``: no later unit of the region will be decoded). spec 8.3."""
    info = front.info
    C = num_channels(info.sh_degree)
    state = state if state is not None else _RegionState()
    low = geometry.LowerOccupancy(list(state.voxels))     # deduplicated only if needed
    codes = geometry.decode(payload(unit.geometry), unit.count, low)
    dup = payload(unit.duplicates) if unit.duplicates is not None else None
    mult = duplicates.decode(dup, len(codes), unit.count)
    per_gaussian = np.repeat(codes, mult)
    q, shifts = attributes.decode(payload(unit.attributes), unit.count, C, per_gaussian, state.lower,
                                  front.version)
    if not last:
        state.voxels.append(codes)
        state.lower = state.lower.add(per_gaussian, q, shifts)
    return morton.decode(per_gaussian), q, shifts


class _Output:
    """The decoded scene's arrays, allocated once for every selected Gaussian and filled unit
    by unit with the values of spec 7.1-7.2 (in place, so a value goes through no larger
    temporaries)."""

    def __init__(self, capacity: int, C: int, origin, voxel):
        self.n = 0
        self.origin, self.voxel = origin, voxel
        self.positions = np.empty((capacity, 3), np.float32)
        self.groups = [(name, s, np.empty((capacity, s.stop - s.start), np.float32)) for name, s in group_slices(C)]
        self.layer = np.empty(capacity, np.uint8)
        self.region = np.empty(capacity, np.uint16)

    def add(self, voxels: np.ndarray, q: np.ndarray, steps: np.ndarray, layer: int, region: int) -> None:
        r = slice(self.n, self.n + len(voxels))
        dequantize_positions(voxels, self.origin, self.voxel, out=self.positions[r])
        for _, s, arr in self.groups:
            dequantize_attributes(q[:, s], steps[s], out=arr[r])
        self.layer[r], self.region[r] = layer, region
        self.n = r.stop

    def result(self) -> tuple[Scene, np.ndarray, np.ndarray]:
        n = self.n
        fields = {name: arr[:n] for name, _, arr in self.groups}
        fields["opacity"] = fields["opacity"].reshape(n)
        return Scene(positions=self.positions[:n], **fields), self.layer[:n], self.region[:n]


def _byte_source(data):
    """``data`` as the decoder reads it: bytes, or any object with ``len()`` whose slices return
    bytes (a byte-range reader such as ``refcodec.stream.SparseBytes``: only the slices the
    decode touches need to be held). bytearray and memoryview are copied to bytes."""
    if isinstance(data, (bytes, bytearray, memoryview)) or not hasattr(data, "__getitem__"):
        return bytes(data)
    return data


def decode(data: bytes, levels: list | None = None, strict: bool = False,
           max_gaussians: int | None = None, front: FrontMatter | None = None,
           limits: Limits | None = None, adjust: bool = True) -> DecodeResult:
    """Decode ``data`` (a whole LGS file or any prefix of one).

    ``levels[r]`` is the highest layer kept for region r (None: everything). Units that are
    selected and whose segments are all present, complete and valid are decoded; the rest are
    reported in ``DecodeResult.units``. Raises only for the conditions of spec 9.
    ``max_gaussians`` (default: 2 GiB of decoded float32 values) bounds total_gaussians.
    ``front``: the front of ``data`` when already read (``read_front``), so it is parsed once.
    ``limits``: the work limits of spec 9.7 (default ``Limits()``; ``Limits.trusted()`` for input
    you trust). ``adjust=False`` leaves out the prefix adjustment of spec 8.6 (the Gaussians as
    stored; not a conforming output for a 4.1 file with a coarse region).
    """
    data = _byte_source(data)
    limits = limits or Limits()
    if front is None:
        front = read_front(data, max_gaussians, limits)
    with work_limits(limits.steps_per_lane, limits.step_budget(len(data))):
        return _decode(data, front, levels, strict, adjust)


def _adjust(result: DecodeResult, check: "_SegmentCheck") -> None:
    """spec 8.6: each coarse region gets the adjustment of its level, when present and valid."""
    front = result.front
    if tuple(front.version) < S.GATE_PREFIX_ADJUSTMENT:
        return
    coarse = _coarse(result)
    if not coarse:
        return
    by_key = {(u.layer, u.region): u for u in front.units}
    R = front.info.num_regions
    floor, offset, on = np.zeros(R, np.float32), np.zeros(R, np.float32), np.zeros(R, bool)
    for r, level in sorted(coarse.items()):
        u = by_key.get((level, r))
        for i in (u.ancillary if u is not None else ()):
            if front.toc[i].kind != S.KIND_ADJUSTMENT or check.status(i) != "ok":
                continue
            vals = adjust.payload_values(check.payload(i))
            if vals is None:
                continue
            floor[r], offset[r], on[r] = vals[0], vals[1], True
            result.adjusted[r] = level
            break
    if on.any():                                   # one pass over the Gaussians, whatever R is
        rows = np.flatnonzero(on[result.region])
        reg = result.region[rows]
        adjust.apply(result.scene.scales, result.scene.opacity, rows, floor[reg], offset[reg])


def _coarse(result: DecodeResult) -> dict:
    """spec 8.6: region -> the level it is coarse at."""
    front = result.front
    decoded = {(u.layer, u.region) for u in result.units if u.status == "decoded"}
    return adjust.coarse_levels(front.info.num_layers, [(u.layer, u.region, u.count) for u in front.units],
                                decoded)


def _correct(result: DecodeResult, check: "_SegmentCheck", pieces: dict) -> None:
    """spec 8.7: each coarse region gets the correction of its level, when present and valid:
    its quantized values plus t 2^s, dequantized again (7.2)."""
    front = result.front
    by_key = {(u.layer, u.region): u for u in front.units}
    C = num_channels(front.info.sh_degree)
    n_all = result.scene.n
    columns = [(getattr(result.scene, name).reshape(n_all, s.stop - s.start), c)   # channel j -> (array, column)
               for name, s in group_slices(C) for c in range(s.stop - s.start)]
    kinds = correct.kinds(front.version)
    for r, level in sorted(_coarse(result).items()):
        parts = pieces.get(r, [])
        n = sum(len(q) for _, q, _ in parts)
        u = by_key.get((level, r))
        for i in (u.ancillary if u is not None else ()):
            if front.toc[i].kind not in kinds or check.status(i) != "ok":
                continue
            got = correct.payload_deltas(check.payload(i), C, n, kinds[front.toc[i].kind])
            if got is None:
                continue
            chans, shift, t = got
            new, at = [], 0
            for start, q, steps in parts:
                v = correct.corrected(q, chans, shift, t[:, at: at + len(q)])
                if v is None:
                    break
                new.append((start, v, steps))
                at += len(q)
            else:
                for start, v, steps in new:            # valid: write the values (spec 7.2)
                    for k, j in enumerate(chans):
                        arr, c = columns[j]
                        arr[start: start + len(v), c] = dequantize_attributes(v[:, k], steps[j])
                result.corrected[r] = level
                break


def _decode(data, front: FrontMatter, levels, strict: bool, adjust: bool = True) -> DecodeResult:
    info = front.info
    if levels is None:
        levels = [info.num_layers] * info.num_regions
    if len(levels) != info.num_regions:
        raise ValueError(f"need one level per region ({info.num_regions})")
    check = _SegmentCheck(data, front, strict)
    reports = []
    states = [_RegionState() for _ in range(info.num_regions)]
    # capacity for the selected units whose critical segments lie inside the data: bounded by
    # total_gaussians (read_front) and, under the default limits, by spec 9.7 (a) and |D|
    end = len(data)
    selected = sum(u.count for u in front.units if u.layer <= levels[u.region]
                   and all(front.toc[i].offset + front.toc[i].length <= end for i in u.critical))
    out = _Output(selected, num_channels(info.sh_degree), info.origin, info.voxel_size)
    # spec 8.7: the quantized values of each region's decoded units, kept only for a file that
    # may correct them
    kinds = correct.kinds(front.version)
    keep_q = adjust and any(e.kind in kinds for e in front.toc)
    pieces: dict = {}                          # region -> (first output row, q, unit steps) per unit
    top = {}                                   # each region's last selected non-empty layer
    for u in front.units:
        if u.count and u.layer <= levels[u.region]:
            top[u.region] = max(top.get(u.region, 0), u.layer)
    for u in front.units:
        if u.count == 0:
            continue
        rep = UnitReport(u.layer, u.region, u.count, "decoded")
        reports.append(rep)
        if u.layer > levels[u.region]:
            rep.status = "not selected"
            continue
        state = states[u.region]
        bad = [check.status(i) for i in u.critical if check.status(i) != "ok"]
        if bad or state.broken:                # spec 8.3: the unit's outcome, first that applies
            rep.status = next((s for s in ("absent", "incomplete", "checksum", "dependency") if s in bad),
                              "dependency")
            if rep.status == "checksum" and strict:
                i = next(i for i in u.critical if check.status(i) == "checksum")
                raise ChecksumError(f"segment {i} (layer {u.layer}, region {u.region}) fails its checksum")
            state.broken = True
            continue
        try:
            voxels, q, shifts = decode_unit_arrays(front, u, check.payload, state, u.layer == top[u.region])
        except CorruptError as e:
            if strict:
                raise
            rep.status, rep.detail = "corrupt", str(e)
            state.broken = True
            continue
        rep.steps = unit_steps(info.steps, shifts)
        if keep_q:
            pieces.setdefault(u.region, []).append((out.n, q, rep.steps))
        out.add(voxels, q, rep.steps, u.layer, u.region)
    scene, layer, region = out.result()
    result = DecodeResult(scene, layer, region, front, reports, complete=len(data) >= data_end(front))
    if adjust:
        if keep_q:
            _correct(result, check, pieces)
        _adjust(result, check)
    return result


def canonical_dump(scene: Scene) -> bytes:
    """The conformance suite's canonical output (conformance/README.md): row-major float32
    little-endian, per Gaussian x y z then the C channels of spec 3.2."""
    return np.concatenate([scene.positions, scene.attribute_matrix()], axis=1).astype("<f4").tobytes()


def extract(data: bytes, levels: list, max_gaussians: int | None = None,
            front: FrontMatter | None = None) -> bytes:
    """A smaller valid LGS file holding only the selected, available units (spec 8.5).

    Header and ROI table are kept as they are; every other segment is marked absent.
    ``front``: the front of ``data`` when already read.
    """
    data = _byte_source(data)
    front = front if front is not None else read_front(data, max_gaussians, Limits.trusted(max_gaussians))
    check = _SegmentCheck(data, front, strict=False)
    keep = set()
    for u in front.units:
        if u.layer <= levels[u.region] and all(check.status(i) == "ok" for i in u.critical):
            keep.update(u.critical)
            keep.update(i for i in u.ancillary if check.status(i) == "ok")
    payloads = [check.payload(i) if i in keep else None for i in range(len(front.toc))]
    return assemble(info_dict(front), region_dicts(front), toc_dicts(front), payloads, tuple(front.version))


__all__ = ["DecodeResult", "UnitReport", "budget_levels", "canonical_dump", "decode", "extract", "resolve_levels",
           "unit_bytes", "LGSError"]
