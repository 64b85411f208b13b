"""Markdown tables of the rate-distortion bench (what ``rd_bench.py`` prints and ``--md`` writes).

``markdown(results, settings)``: the presets and peers, the cumulative levels, LGS against each
peer (interpolated and rate-controlled), the target fractions and each scene's ablation
(``ablation_markdown``).  ``results`` are ``rd_sweep.bench_scene`` dicts.
"""
from __future__ import annotations

from rd_eval import fmt, num, pct
from rd_sweep import ALL_OFF, FULL, PEER_CODECS


def _extra_head(results: list) -> tuple:
    """Extra score columns: foreground PSNR always, the unseen set's when it was scored."""
    unseen = any(r.get("unseen") for r in results)
    keys = ["fg_psnr"] + (["unseen_fg_psnr", "unseen_psnr"] if unseen else [])
    names = {"fg_psnr": "fg-PSNR dB", "unseen_fg_psnr": "unseen fg-PSNR dB", "unseen_psnr": "unseen PSNR dB"}
    return keys, "".join(f" {names[k]} |" for k in keys), " ---: |" * len(keys)


def _extra(row: dict, keys: list) -> str:
    return "".join(f" {fmt(row.get(k))} |" for k in keys)


def markdown(results: list, settings: dict) -> str:
    L = []
    keys, xhead, xrule = _extra_head(results)
    L.append(f"Rate-distortion: {settings['views']} orbit views at {settings['size']}x{settings['size']}, "
             "PSNR/SSIM against the original's renders (mean over views); fg-PSNR: only the pixels the "
             "original covers (its accumulated opacity > 0.5), per view, averaged; bits/G = 8 x bytes / "
             "Gaussians of the original.")
    if "unseen_psnr" in keys:
        r0 = next(r for r in results if r.get("unseen"))
        sizes = ", ".join(f"{u['width']}" for u in r0["unseen"])
        L.append("")
        L.append(f"Unseen views (`--unseen`, rd_eval.unseen_cameras; no encoder step ever renders them): "
                 f"{len(r0['unseen'])} views, sizes {sizes} px: close-ups from 1.2 robust radii at 5 degrees "
                 "elevation, then views from -40 and +72 degrees. Foreground share of the pixels (orbit / unseen): "
                 + "; ".join(f"{r['scene']} {r.get('fg_fraction', 0):.2f} / {r.get('unseen_fg_fraction', 0):.2f}"
                             for r in results if r.get("unseen")) + ".")
    for r in results:
        pr = r.get("pruning")
        if pr:
            rule = (f"check views {pr['margin']:g} dB above the unpruned file's" if pr.get("margin") is not None
                    else f"check views at {pr['psnr']:g} dB")
            cut = ", ".join(f"{row['setting']} {100 * (1 - row['gaussians'] / max(1, r['gaussians'])):.1f}%"
                            for row in r["lgs"])
            L.append("")
            L.append(f"{r['scene']}: every LGS encode prunes first (spec A.6; {rule}); ranking "
                     f"{pr['ranking_s']:.1f} s once, and each encode time below includes its own count search. "
                     f"Removed: {cut}.")
    L.append("")
    L.append(f"| scene | codec | setting | bytes | bits/G | PSNR dB |{xhead} SSIM | encode s | decode s |")
    L.append(f"| --- | --- | --- | ---: | ---: | ---: |{xrule} ---: | ---: | ---: |")
    for r in results:
        sc = f"{r['scene']} ({r['gaussians']:,} G, SH {r['sh_degree']})"
        for row in r["lgs"]:
            L.append(f"| {sc} | LGS | {row['setting']} | {row['bytes']:,} | {row['bits_per_gaussian']:.2f} | "
                     f"{fmt(row['psnr'])} |{_extra(row, keys)} {row['ssim']:.4f} | {row['encode_s']:.2f} | "
                     f"{row['decode_s']:.2f} |")
        for row in r["peers"]:
            if row.get("status") == "ok":
                extra = "" if row.get("axes", "identity") == "identity" else f" (axes: {row['axes']})"
                L.append(f"| {sc} | {row['codec']} | {row['setting']}{extra} | {row['bytes']:,} | "
                         f"{row['bits_per_gaussian']:.2f} | {fmt(row['psnr'])} |{_extra(row, keys)} "
                         f"{row['ssim']:.4f} | "
                         f"{row['encode_s']:.2f} | {row['decode_s']:.2f} |")
            else:
                enc = f"{row['encode_s']:.0f}" if row.get("encode_s") is not None else "-"
                L.append(f"| {sc} | {row['codec']} | {row['status']} | - | - | - |{' - |' * len(keys)} - | {enc} | - |")
    if any(r["curve"]["levels"] for r in results):
        L.append("")
        L.append("Cumulative levels (byte prefix of level k of the LGS file, preset "
                 f"{results[0]['curve']['preset']}):")
        L.append("")
        L.append("| scene | level | Gaussians | bytes | bits/G | PSNR dB | SSIM | decode s |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            for row in r["curve"]["levels"]:
                L.append(f"| {r['scene']} | {row['level']} | {row['gaussians']:,} | {row['bytes']:,} | "
                         f"{row['bits_per_gaussian']:.2f} | {fmt(row['psnr'])} | {row['ssim']:.4f} | "
                         f"{row['decode_s']:.3f} |")
    comps = [(r["scene"], c) for r in results for c in r["comparisons"]]
    if comps:
        L.append("")
        L.append("LGS against each peer: interpolated on the LGS preset curve (log-linear; '-' where the "
                 "peer lies outside its range), and measured: LGS encoded with rate control "
                 "(`--target-bytes`) to the peer's size:")
        L.append("")
        L.append("| scene | peer | peer bytes | peer PSNR | LGS bytes at peer's PSNR | ratio | "
                 "LGS PSNR at peer's bytes | gain dB | LGS rate-controlled: bytes, PSNR, SSIM | BD-rate |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for sc, c in comps:
            b, bd, m = c["lgs_bytes_at_peer_psnr"], c["bd_rate_percent"], c.get("lgs_matched")
            matched = "-" if not m else f"{m['bytes']:,}, {fmt(m['psnr'])}, {m['ssim']:.4f}"
            L.append(f"| {sc} | {c['peer']} | {c['peer_bytes']:,} | {fmt(c['peer_psnr'])} | "
                     f"{'-' if b is None else f'{b:,.0f}'} | {fmt(c['lgs_bytes_ratio'], 3)} | "
                     f"{fmt(c['lgs_psnr_at_peer_bytes'])} | {fmt(c['lgs_psnr_gain_db'], 2)} | {matched} | "
                     f"{'-' if bd is None else f'{bd:+.1f}%'} |")
    fr = [(sc, c) for sc, c in comps if c.get("lgs_at_fraction")]
    if fr:
        L.append("")
        L.append("LGS encoded with rate control to a fraction of each peer's bytes (`--target-fractions`): "
                 "each score as LGS / peer (dB); it meets the target on a score when LGS's is at least the peer's "
                 "(fg: foreground pixels only):")
        L.append("")
        head = "| scene | peer | peer bytes | fraction | LGS bytes | PSNR | fg-PSNR |"
        rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
        if "unseen_psnr" in keys:
            head += " unseen PSNR | unseen fg-PSNR |"
            rule += " ---: | ---: |"
        L.append(head + " meets (PSNR, fg" + (", unseen, unseen fg" if "unseen_psnr" in keys else "") + ") |")
        L.append(rule + " --- |")
        peer_rows = {(r["scene"], p["codec"]): p for r in results for p in r["peers"]}
        for sc, c in fr:
            m = c["lgs_at_fraction"]
            pr = peer_rows.get((sc, c["peer"]), {})
            cols = ["psnr", "fg_psnr"] + (["unseen_psnr", "unseen_fg_psnr"] if "unseen_psnr" in keys else [])
            vals = "".join(f" {fmt(m.get(k))} / {fmt(pr.get(k))} |" for k in cols)
            meets = ", ".join("yes" if m.get("meets" if k == "psnr" else f"meets_{k}") else "no" for k in cols)
            L.append(f"| {sc} | {c['peer']} | {c['peer_bytes']:,} | {m['fraction']:.2f} | "
                     f"{m['bytes']:,} ({m['bytes'] / c['peer_bytes']:.3f}) |{vals} {meets} |")
    for r in results:
        if r.get("ablation"):
            L.append("")
            L.extend(ablation_markdown(r))
    return "\n".join(L) + "\n"


def ablation_markdown(r: dict) -> list:
    """Lines of the "Ablation" table of one scene result: a row per variant, all tools on first;
    bytes (and PSNR) at the ablation preset, LGS bytes at each peer's PSNR, and their change
    against all tools on (positive: bytes the tool saves)."""
    ab = r["ablation"]
    preset = ab[0]["preset"]
    peers = {p["codec"]: p for p in r["peers"]}
    codecs = list(dict.fromkeys([c.upper() for c in PEER_CODECS] + list(peers)))
    L = [f"Ablation, {r['scene']}: LGS re-encoded with coding tools switched off (same presets, cameras and "
         f"reference renders); bytes at preset {preset}, and LGS bytes at each peer's PSNR (log-linear on the "
         "preset curve; '-' where there is no such peer or it lies outside the curve); change against all "
         "tools on, i.e. what the tools switched off save:", ""]
    head = f"| variant | tools off | bytes at {preset} | PSNR at {preset} | change |"
    rule = "| --- | --- | ---: | ---: | ---: |"
    for c in codecs:
        q = num(peers.get(c, {}).get("psnr")) if peers.get(c, {}).get("status") == "ok" else None
        head += f" bytes at {c} PSNR{'' if q is None else f' ({q:.2f} dB)'} | change |"
        rule += " ---: | ---: |"
    L += [head, rule]
    for e in ab:
        off = e["disabled"]
        label = FULL if e["variant"] == FULL else (f"{ALL_OFF} (all tools off)" if e["variant"] == ALL_OFF
                                                    else f"without {e['variant']}")
        if e.get("status", "ok") != "ok":
            label += " (" + e["status"].replace("|", "/").replace("\n", " ") + ")"
        row = next((x for x in e["rows"] if x["setting"] == preset), None)
        full = e["variant"] == FULL
        b = e["bytes_at_preset"]
        off = "-" if not off else "all" if e["variant"] == ALL_OFF else ", ".join(off)
        line = (f"| {label} | {off} | {'-' if b is None else f'{b:,}'} | "
                f"{fmt(row['psnr']) if row else '-'} | {'-' if full else pct(e['delta_at_preset'])} |")
        for c in codecs:
            v = e["at_peer"].get(c)
            line += f" {'-' if v is None else f'{v:,.0f}'} | {'-' if full else pct(e['delta_vs_full'].get(c))} |"
        L.append(line)
    return L
