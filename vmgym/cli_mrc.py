"""``vmgym mrc``: miss-ratio curves of LRU and OPT in one pass (:mod:`vmgym.mrc`).

Registered in :mod:`vmgym.cli` as ``app.command("mrc")(mrc_cmd)``::

    vmgym mrc -w trace-sort                        # LRU and OPT, a table at a handful of sizes
    vmgym mrc -w zipf --sizes 100,500,1000 --json  # a record with these sizes
    vmgym mrc -w zipf --max-frames 2000 --csv      # every size 1..2000
    vmgym mrc -w zipf -p lru --sample 0.01 --check # SHARDS, with its error against the exact curve
    vmgym mrc -w loop --plot loop.png              # one line per policy

Errors are one clean line on stderr and exit status 2.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from vmgym._console import Phases, check_plot_path, err, fail, out, progress
from vmgym._optional import pyplot
from vmgym.mrc import POLICIES, Curve, MrcError, curves
from vmgym.records import record
from workloads import resolve, resolve_stream
from workloads.model import WorkloadError

_TABLE_SIZES = 8  # sizes in the default table


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fail(f"--sizes must be comma-separated frame counts, got {text!r}")
    if not sizes or min(sizes) < 1:
        fail(f"--sizes must be frame counts >= 1, got {text!r}")
    return sorted(set(sizes))


def _table_sizes(max_frames: int) -> list[int]:
    """A handful of sizes spread over 1..max_frames (geometric, always ending at max_frames)."""
    grid = np.unique(np.geomspace(1, max_frames, _TABLE_SIZES).round().astype(int))
    return [int(c) for c in grid]


def _label(c: Curve) -> str:
    return c.policy if c.method == "exact" else f"{c.policy} (SHARDS {c.sample_rate:g})"


def mrc_cmd(
    workload: Annotated[
        str,
        typer.Option(
            "--workload",
            "-w",
            help="A one-process workload: a name with optional overrides (zipf:alpha=0.8), a suite entry, "
            "a .toml spec or a trace file.",
        ),
    ] = "default",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help=f"Comma-separated: {', '.join(POLICIES)}.")
    ] = "lru,opt",
    sizes: Annotated[
        str | None, typer.Option("--sizes", help="Frame counts to report, comma-separated (10,20,50).")
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option(
            "--max-frames", help="Largest memory of the curve (default: the footprint, the distinct pages)."
        ),
    ] = None,
    sample: Annotated[
        float | None,
        typer.Option("--sample", help="Estimate LRU by SHARDS spatial sampling at this rate (0 < R <= 1)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="With --sample: also compute exact LRU and report the error.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the SHARDS page hash.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON record (every size).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (every size).")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the curves into this .png or .svg file.")
    ] = None,
) -> None:
    """Miss-ratio curves (misses at every memory size) of LRU and OPT in one pass over the references.

    A miss is an access that faulted, as in `vmgym run` with --tlb-entries 0 and no prefetcher.
    Exact for LRU (Mattson stack distances) and OPT (Mattson's priority stack); --sample: SHARDS.
    """
    names = [p.strip().lower() for p in policy.split(",") if p.strip()]
    for p in names:
        if p not in POLICIES:
            fail(f"no one-pass curve for policy {p!r}; choose from: {', '.join(POLICIES)}")
    if not names:
        fail("--policy is empty; choose from: " + ", ".join(POLICIES))
    if sizes is not None and max_frames is not None:
        fail("give --sizes or --max-frames, not both")
    if sample is not None and not 0.0 < sample <= 1.0:
        fail(f"--sample must be a rate in (0, 1], got {sample}")
    if sample is not None and "lru" not in names:
        fail("--sample estimates LRU's curve: include lru in --policy")
    if check and sample is None:
        fail("--check compares a sampled curve with the exact one: give --sample too")
    check_plot_path(plot, "--plot")
    chosen = _parse_sizes(sizes) if sizes is not None else None
    try:
        with err.status(f"reading {workload}", spinner="dots"):  # (a large trace's scan takes a while)
            wl = resolve_stream(workload, long=True) or resolve(workload)  # large inputs stream
        top = max(chosen) if chosen else max_frames
        with progress() as prog:
            bar = Phases(prog, f"{getattr(wl, 'name', workload)}: preparing")
            result, totals = curves(
                wl,
                names,
                max_frames=top,
                sample=sample,
                check=check,
                seed=seed,
                progress=lambda what, done, total: bar.show(what, total, done),
            )
    except (MrcError, WorkloadError) as e:
        fail(str(e))
    m = len(result[0].misses) - 1
    every = chosen or list(range(1, m + 1))
    config = {
        "workload": workload,
        "policies": names,
        "max_frames": m,
        "sample": sample,
        "seed": seed,
        "machine": {"tlb_entries": 0, "prefetch": "none"},
    }
    if plot is not None:
        _plot(result, wl.name, totals, plot)
        err.print(f"wrote {plot}", highlight=False)
    if as_json:
        results = {
            **totals,
            "curves": [
                {
                    "policy": c.policy,
                    "method": c.method,
                    "sample_rate": c.sample_rate,
                    "error_vs_exact": c.error,
                    "points": c.at(every),
                }
                for c in result
            ],
        }
        print(json.dumps(record("mrc", config, results), indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["policy", "method", "frames", "misses", "miss_ratio"])
        for c in result:
            for row in c.at(every):
                writer.writerow(
                    [c.policy, c.method, row["frames"], row["misses"], f"{row['miss_ratio']:.6f}"]
                )
    else:
        _print_table(result, wl.name, totals, chosen or _table_sizes(m))


def _print_table(result: list[Curve], name: str, totals: dict[str, int], frames: list[int]) -> None:
    table = Table(
        title=f"{name}: miss ratio",
        caption=f"{totals['references']:,} references, {totals['distinct_pages']:,} distinct pages",
    )
    table.add_column("frames", justify="right")
    for c in result:
        table.add_column(_label(c), justify="right")
    rows = [c.at(frames) for c in result]
    for k, f in enumerate(frames):
        table.add_row(f"{f:,}", *(f"{r[k]['miss_ratio']:.4f}" for r in rows))
    out().print(table)
    for c in result:
        if c.error is not None:
            err.print(
                f"{_label(c)} vs exact LRU: mean absolute error {c.error['mae']:.4f}, "
                f"max {c.error['max']:.4f} (miss ratio, sizes 1..{len(c.misses) - 1})",
                highlight=False,
                soft_wrap=True,
            )


def _plot(result: list[Curve], name: str, totals: dict[str, int], path: Path) -> None:
    plt = pyplot("plotting miss-ratio curves")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in result:
        x = np.arange(1, len(c.misses))
        ax.plot(x, c.miss_ratio[1:], label=_label(c))
    ax.set_xlabel("memory size (frames)")
    ax.set_ylabel("miss ratio")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Miss-ratio curves: {name} ({totals['references']:,} references)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}")
    finally:
        plt.close(fig)
