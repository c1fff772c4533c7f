"""`python -m bench --plot out.png`: the run's cases on a roofline, and graphc next to
numpy and the peers.

Left: every case in fused and naive mode as a point (arithmetic intensity = flops /
bytes moved, as ``f.explain`` counts them from the compiled program; achieved GFLOP/s =
those flops / the median time) under the machine's roofline: min(FMA peak, bandwidth x
intensity), both measured in this process (graphc/machine.py). Fusion moves a case to
the right (fewer bytes for the same flops) and up. Right: each case's speed relative to
numpy (numpy ms / framework ms, log scale) for graphc and every peer that ran.

Needs matplotlib (``pip install 'graphc[plot]'``); the runner checks before running.
"""
from __future__ import annotations


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


MISSING = "--plot needs matplotlib, which is not installed: pip install 'graphc[plot]' (or pip install matplotlib)"


def totals(case):
    """(fused, naive) {"bytes", "flops"} of a case's programs (compiles if needed)."""
    import graphc as gc
    from graphc.explain import program_totals

    out = []
    for fuse in (True, False):
        f = gc.compile(case.fn, fuse=fuse)
        t = program_totals(f, *case.args)
        if case.flops and (not t["flops_complete"] or t["flops"] < case.flops):
            t["flops"] = case.flops  # loops (scan): the case's own count
        out.append(t)
    return out


def plot(rows, cases, path, machine: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by_name = {c.name: c for c in cases}
    bw, peak = machine["bandwidth_gbs"], machine["fma_peak_gflops"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=90)

    points = []
    for r in rows:
        case = by_name.get(r["case"])
        if case is None or r["case"].startswith("call_overhead"):
            continue
        fused, naive = totals(case)
        for t, ms, kind in ((fused, r["fused_ms"], "fused"), (naive, r["naive_ms"], "naive")):
            if t["flops"] and t["bytes"] and ms:
                points.append((r["case"], kind, t["flops"] / t["bytes"], t["flops"] / (ms * 1e-3) / 1e9))
    if points:
        lo = min(p[2] for p in points) / 2
        hi = max(max(p[2] for p in points) * 2, 2 * peak / bw)
    else:
        lo, hi = 0.01, 100.0
    ai = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(ai, np.minimum(peak, bw * ai), "k-", lw=2, label=f"roofline: {bw:.0f} GB/s, {peak:.0f} GFLOP/s")
    colors = plt.cm.tab10.colors
    names = sorted({p[0] for p in points})
    for k, name in enumerate(names):
        c = colors[k % len(colors)]
        f = [p for p in points if p[0] == name and p[1] == "fused"]
        n = [p for p in points if p[0] == name and p[1] == "naive"]
        if f and n:
            ax.annotate("", xy=(f[0][2], f[0][3]), xytext=(n[0][2], n[0][3]),
                        arrowprops={"arrowstyle": "->", "color": c, "alpha": 0.5})
        for pts, marker, face in ((f, "o", c), (n, "o", "none")):
            if pts:
                ax.scatter([pts[0][2]], [pts[0][3]], marker=marker, facecolors=face, edgecolors=c, s=50,
                           label=name if pts is f else None, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte moved)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("cases on the roofline (filled: fused, hollow: naive)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)

    frameworks = ["graphc"] + sorted({fw for r in rows for fw, e in r.get("peers", {}).items() if "ms" in e})
    shown = [r for r in rows if r.get("numpy_ms")]
    width = 0.8 / max(1, len(frameworks))
    x = np.arange(len(shown))
    for k, fw in enumerate(frameworks):
        speed = []
        for r in shown:
            ms = r["fused_ms"] if fw == "graphc" else r.get("peers", {}).get(fw, {}).get("ms")
            speed.append(r["numpy_ms"] / ms if ms else np.nan)
        bx.bar(x + (k - (len(frameworks) - 1) / 2) * width, speed, width, label=fw)
    bx.axhline(1.0, color="k", lw=1)
    bx.set_yscale("log")
    bx.set_xticks(x)
    bx.set_xticklabels([r["case"] for r in shown], rotation=35, ha="right", fontsize=7)
    bx.set_ylabel("speed vs numpy (numpy ms / ms; > 1 is faster)")
    bx.set_title("graphc (fused) vs numpy and peers")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
