"""Figures of an experiment folder: miss-ratio curves and gap-closed bars (matplotlib, Agg).

:func:`plot_all` reads ``DIR/results.csv`` and writes ``DIR/miss_ratio.<fmt>`` (one
panel per workload, one line per policy: the mean miss ratio over seeds against
the frame count, with a min-max band) and ``DIR/gap_closed.<fmt>`` (one panel per
workload: each policy's place between LRU (0 %) and OPT (100 %) at every frames
entry, mean over seeds, bars side by side).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from vmgym._optional import pyplot
from vmgym.experiment import ANCHORS, ExperimentError
from vmgym.experiment_run import read_results

FIGURES = ("miss_ratio", "gap_closed")


def _ordered(rows: list[dict[str, Any]], key: str) -> list[Any]:
    return list(dict.fromkeys(r[key] for r in rows))


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str, Any], dict[str, float | None]]:
    """Per (workload, policy, frames entry): frames (mean), miss ratio mean/min/max, gap closed mean."""
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["workload"], r["policy"], r["frames"])].append(r)
    out = {}
    for key, rs in groups.items():
        ratios = [r["misses"] / r["accesses"] if r["accesses"] else 0.0 for r in rs]
        gaps = [r["lru_to_opt"] for r in rs if r["lru_to_opt"] is not None]
        out[key] = {
            "n_frames": sum(r["n_frames"] for r in rs) / len(rs),
            "misses": sum(r["misses"] for r in rs) / len(rs),
            "mean": sum(ratios) / len(ratios),
            "min": min(ratios),
            "max": max(ratios),
            "gap": sum(gaps) / len(gaps) if gaps else None,
            "seeds": len(rs),
        }
    return out


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def plot_all(out: str | Path, fmt: str = "png") -> list[Path]:
    """Write the two figures into ``out``; return their paths."""
    plt = pyplot("plotting an experiment")

    out = Path(out)
    rows = read_results(out)
    if not rows:
        raise ExperimentError(f"{out}/results.csv has no rows")
    stats = summarise(rows)
    workloads, pols, frames = (_ordered(rows, k) for k in ("workload", "policy", "frames"))
    paths = [out / f"{name}.{fmt}" for name in FIGURES]
    nrows, ncols = _grid(len(workloads))
    size = (4.6 * ncols, 3.6 * nrows + 0.6)

    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax, w in zip(axes.flat, workloads, strict=False):
        for p in pols:
            pts = [stats[(w, p, f)] for f in frames if (w, p, f) in stats]
            pts.sort(key=lambda s: s["n_frames"])
            x = [s["n_frames"] for s in pts]
            (line,) = ax.plot(x, [s["mean"] for s in pts], marker="o", ms=3, label=p)
            if any(s["seeds"] > 1 for s in pts):
                lo, hi = [s["min"] for s in pts], [s["max"] for s in pts]
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_title(w, fontsize=10)
        ax.set_xlabel("memory size (frames)")
        ax.set_ylabel("miss ratio")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    _finish(fig, axes, len(workloads), "Miss-ratio curves (mean over seeds, min-max band)", paths[0])

    shown = [p for p in pols if p not in ANCHORS]
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    width = 0.8 / max(1, len(shown))
    for ax, w in zip(axes.flat, workloads, strict=False):
        for k, p in enumerate(shown):
            vals = [stats.get((w, p, f), {}).get("gap") for f in frames]
            xs = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(frames))]
            ax.bar(xs, [100 * v if v is not None else 0 for v in vals], width, label=p)
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(100, color="gray", lw=0.8, ls="--")
        ax.set_xticks(range(len(frames)), [str(f) for f in frames])
        ax.set_title(w, fontsize=10)
        ax.set_xlabel("frames")
        ax.set_ylabel("gap closed, LRU → OPT (%)")
        ax.grid(alpha=0.3, axis="y")
    title = "Gap closed between LRU (0 %) and OPT (100 %), mean over seeds"
    _finish(fig, axes, len(workloads), title, paths[1])
    return paths


def _finish(fig, axes, used: int, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.9, 0.95))
    try:
        fig.savefig(path)
    except OSError as e:
        raise ExperimentError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
