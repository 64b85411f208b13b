"""Pictures of the rate-distortion bench: the RD plot (matplotlib) and per-scene contact sheets.

``plot_rd(results, "rd.png")``: per scene a row of two panels, PSNR over bytes (log scale): the
LGS presets with the cumulative levels of the curve preset, and a zoom on the presets, the
rate-controlled LGS points and the peers.  ``write_pictures(results, folder)``: view 0 of the
original and of every decoded variant, captioned (``refcodec.render.pictures.contact_sheet``).
"""
from __future__ import annotations

from pathlib import Path

from rd_eval import fmt, num

PEER_STYLE = {"SOG": ("tab:red", "s"), "SPZ": ("tab:green", "^")}


def _series(r: dict, levels: bool) -> list:
    """[(label, colour, marker, linestyle or None, [(bytes, psnr, tag)], tagged)] of one panel."""
    out = [("LGS presets", "tab:blue", "o", "-", [(x["bytes"], x["psnr"], x["setting"]) for x in r["lgs"]], True)]
    if levels and r["curve"]["levels"]:
        out.append((f"LGS {r['curve']['preset']} levels", "tab:orange", "D", "--",
                    [(x["bytes"], x["psnr"], f"L{x['level']}") for x in r["curve"]["levels"]], False))
    matched = [(c["lgs_matched"]["bytes"], c["lgs_matched"]["psnr"], f"LGS@{c['peer']}")
               for c in r.get("comparisons", []) if c.get("lgs_matched")]
    if matched:
        out.append(("LGS at peer's size", "tab:purple", "D", None, matched, True))
    for p in r["peers"]:
        if p.get("status") == "ok":
            col, mk = PEER_STYLE.get(p["codec"], ("tab:purple", "s"))
            out.append((p["codec"], col, mk, None, [(p["bytes"], p["psnr"], p["codec"])], True))
    return [(lab, col, mk, ls, sorted((b, q, t) for b, q, t in pts if num(q) is not None and b > 0), tagged)
            for lab, col, mk, ls, pts, tagged in out]


def _panel(ax, r: dict, levels: bool) -> None:
    from matplotlib.ticker import EngFormatter, LogLocator

    series = _series(r, levels)
    ax.set_title(f"{r['scene']}: {r['gaussians']:,} Gaussians" + ("" if levels else ", zoom"), fontsize=10)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit="B", sep=""))
    ax.xaxis.set_minor_formatter(EngFormatter(unit="B", sep=""))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    xs = [b for s in series for b, _, _ in s[4]]
    wide = bool(xs) and max(xs) / min(xs) > 10.0        # labelled minor ticks: 2, 5 over decades
    ax.xaxis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0) if wide else tuple(range(2, 10))))
    ax.set_xlabel("bytes (log scale)")
    ax.set_ylabel("PSNR dB")
    ax.grid(True, which="both", color="0.9")
    plotted = False
    for label, col, mk, ls, pts, tagged in series:
        if not pts:
            continue
        plotted = True
        xs, ys = [b for b, _, _ in pts], [q for _, q, _ in pts]
        ax.plot(xs, ys, color=col, marker=mk, linestyle=ls or "none", markersize=5, label=label)
        for i, (b, q, tag) in enumerate(pts):
            if tagged or i in (0, len(pts) - 1):
                ax.annotate(tag, (b, q), textcoords="offset points", xytext=(5, -9), fontsize=7, color=col)
    notes = [f"{p['codec']}: {p['status']}" for p in r["peers"] if p.get("status") != "ok"]
    if notes:
        ax.text(0.02, 0.98, "\n".join(n[:70] for n in notes), transform=ax.transAxes, va="top", fontsize=7,
                color="0.45")
    if plotted:
        ax.legend(loc="lower right", fontsize=7)
    else:
        ax.text(0.5, 0.5, "no finite PSNR to plot", transform=ax.transAxes, ha="center")


def plot_rd(results: list, path) -> Path:
    """Write the rate-distortion plot of ``results`` (``rd_sweep.bench_scene`` dicts) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(max(1, len(results)), 2, figsize=(11, 4 * max(1, len(results))), squeeze=False)
    for row, r in zip(axes, results):
        _panel(row[0], r, levels=True)
        _panel(row[1], r, levels=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def write_pictures(results: list, folder) -> list:
    """Per scene, view 0 of the original and of every decoded variant as a captioned sheet."""
    from refcodec.render import save_png
    from refcodec.render.pictures import contact_sheet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        imgs = r.get("_images") or {}
        rows = {f"LGS {x['setting']}": x for x in r["lgs"]}
        rows.update({x["codec"]: x for x in r["peers"] if x.get("status") == "ok"})
        labels = []
        for k in imgs:
            x = rows.get(k)
            labels.append(k if x is None else f"{k}: {x['bytes']:,} B, {fmt(x['psnr'])} dB")
        if imgs:
            p = folder / f"{Path(r['scene']).stem}_variants.png"
            save_png(p, contact_sheet(list(imgs.values()), labels, cols=min(4, len(imgs))))
            written.append(p)
    return written
