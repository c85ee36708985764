"""Fault timeline of one run: faults per window and the resident set over time (``vmgym run --timeline``).

The simulator runs in windows (``sim.advance(stop=...)``); between windows the
statistics (:meth:`~vmgym.sim.Simulator.stats`) give the faults so far and the
free-frame count gives the resident set. The compiled loop is the same as in
``sim.run()``, so the final statistics are identical.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmgym._optional import pyplot
from vmgym.sim import RunStats, SimulationError, Simulator
from vmgym.sim import state as S


def run_windows(
    sim: Simulator, windows: int = 200, progress: Callable[[int, int], None] | None = None
) -> tuple[RunStats, dict[str, list[int]]]:
    """Run ``sim`` to the end in ``windows`` equal windows of trace entries.

    Returns the final statistics and, per window, its end position, minor and major
    faults within it, and the resident frames at its end.
    """
    total = sim.length
    step = max(1, -(-total // max(1, windows)))
    series: dict[str, list[int]] = {"position": [], "minor_faults": [], "major_faults": [], "resident": []}
    minor = major = 0
    while not sim.done:
        stop = min(total, sim.position + step)
        if sim.advance(stop):
            raise SimulationError("--timeline needs a compiled policy (this run waits for a decision)")
        s = sim.stats()
        series["position"].append(sim.position)
        series["minor_faults"].append(s.minor_faults - minor)
        series["major_faults"].append(s.major_faults - major)
        series["resident"].append(sim.config.frames - int(sim.state.sc[S.SC_FREE_TOP]))
        minor, major = s.minor_faults, s.major_faults
        if progress is not None:
            progress(sim.position, total)
        if sim.position >= total:
            break
    return sim.stats(), series


def plot_timeline(series: dict[str, Any], path: str | Path, title: str, frames: int) -> None:
    """Two panels sharing the x axis (trace position): faults per window; resident frames."""
    plt = pyplot("a timeline plot")

    x = series["position"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    top.plot(x, series["major_faults"], label="major faults", lw=1.2)
    top.plot(x, series["minor_faults"], label="minor faults", lw=1.2)
    top.set_ylabel("faults per window")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend()
    bottom.plot(x, series["resident"], color="tab:green", label="resident frames")
    bottom.axhline(frames, color="gray", ls="--", lw=0.8, label=f"RAM ({frames} frames)")
    bottom.set_ylabel("resident set (frames)")
    bottom.set_xlabel("trace position (references and events)")
    bottom.set_ylim(0, frames * 1.08)
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
