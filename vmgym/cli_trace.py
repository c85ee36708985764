"""``vmgym trace``: record a real program, summarise a trace, convert between formats.

Registered in :mod:`vmgym.cli` as ``app.add_typer(trace_app, name="trace")``::

    vmgym trace record --out sort.npz -- sort /tmp/words.txt
    vmgym trace info sort.npz [--json]
    vmgym trace info sqlite                       # a bundled trace, by name
    vmgym trace convert run.lackey run.oracleGeneral.zst
    vmgym trace convert run.npz run.txt --to plain

Errors are one clean line on stderr and exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmgym._console import err, fail, out
from workloads import traces
from workloads.model import WorkloadError, byte_size

trace_app = typer.Typer(
    no_args_is_help=True,
    help="Record, summarise and convert memory-reference traces (lackey, din, csv, oracleGeneral, …).",
)

PageSizeOpt = Annotated[
    int | None, typer.Option("--page-size", help="Page size in bytes [default: 4096, or the npz trace's].")
]
MaxRefsOpt = Annotated[int | None, typer.Option("--max-refs", help="Stop after this many references.")]
CollapseOpt = Annotated[
    bool,
    typer.Option(
        "--collapse/--no-collapse", help="Drop consecutive duplicate (process, page, op) references."
    ),
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help=f"Source format: {', '.join(traces.FORMATS)} [default: detect].")
]


def _source(path: str) -> Path:
    """A file path, or the name of a bundled trace (``sort``, or its workload name ``trace-sort``)."""
    p = Path(path)
    if not p.exists():
        bundled = traces.bundled()
        name = path.removeprefix("trace-")
        if name in bundled:
            return bundled[name]
    return p


@trace_app.command("record")
def record_cmd(
    command: Annotated[list[str], typer.Argument(help="The command to trace, after `--`.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output .npz [default: <program>.npz].")
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", help="Page size in bytes.")] = 4096,
    max_refs: MaxRefsOpt = None,
    skip_refs: Annotated[
        int, typer.Option("--skip-refs", help="Drop the first N references (program start-up).")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Discard the program's own stdout and stderr.")
    ] = False,
) -> None:
    """Record CMD ARGS with valgrind lackey at page granularity: vmgym trace record [-o F] -- CMD ARGS."""
    from workloads.record import record

    target = out or Path(f"{Path(command[0]).name}.npz")
    try:
        workload = record(command, target, page_size, max_refs=max_refs, skip_refs=skip_refs, quiet=quiet)
    except (WorkloadError, OSError) as e:
        fail(str(e))
    err.print(f"wrote {target}: {workload.description}", highlight=False)


@trace_app.command("info")
def info_cmd(
    trace: Annotated[str, typer.Argument(help="A trace file (or the name of a bundled trace).")],
    fmt: FromOpt = None,
    page_size: PageSizeOpt = None,
    collapse: CollapseOpt = True,
    max_refs: MaxRefsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """References, distinct pages, footprint, read/write/exec mix and LRU reuse distances."""
    try:
        with err.status(f"reading {trace}", spinner="dots"):  # (a large trace's passes take a while)
            summary = traces.info(_source(trace), fmt, page_size, collapse=collapse, max_refs=max_refs)
    except (WorkloadError, OSError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_info(summary)


def _print_info(s: dict) -> None:
    table = Table(title=f"{s['trace']} ({s['format']}, page size {s['page_size']})")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    n = s["references"]
    rows = [
        ("references", f"{n:,}"),
        ("processes", str(s["processes"])),
        ("distinct pages", f"{s['distinct_pages']:,}"),
        ("footprint", byte_size(s["footprint_bytes"])),
        ("reads", f"{s['reads']:,} ({100 * s['read_fraction']:.1f} %)"),
        ("writes", f"{s['writes']:,} ({100 * s['write_fraction']:.1f} %)"),
        ("execs", f"{s['execs']:,} ({100 * s['exec_fraction']:.1f} %)"),
    ]
    r = s["reuse"]
    how = "exact" if r["exact"] else f"sampled at {r['sample_rate']:.3g} (SHARDS)"
    rows.append(("cold (first-touch) fraction", f"{r['cold_fraction']:.4f}"))
    for key in ("median", "p90", "mean"):
        value = r[key]
        rows.append((f"reuse distance {key} ({how})", "n/a" if value is None else f"{value:,.1f}"))
    for frames, ratio in r["lru_miss_ratio"].items():
        rows.append((f"LRU miss ratio, {int(frames):,} frames", f"{ratio:.4f}"))
    for key, value in rows:
        table.add_row(key, value)
    out().print(table)


@trace_app.command("convert")
def convert_cmd(
    src: Annotated[str, typer.Argument(help="Input trace (or the name of a bundled trace).")],
    dst: Annotated[Path, typer.Argument(help="Output file; the format follows its name unless --to.")],
    to: Annotated[
        str | None, typer.Option("--to", help=f"Output format: {', '.join(traces.FORMATS)}.")
    ] = None,
    fmt: FromOpt = None,
    page_size: PageSizeOpt = None,
    collapse: CollapseOpt = True,
    max_refs: MaxRefsOpt = None,
) -> None:
    """Convert a trace between formats (.lackey .din .txt .csv .oracleGeneral[.zst] .npz .npy)."""
    try:
        with err.status(f"converting {src} to {dst}", spinner="dots"):
            path = traces.convert(
                _source(src), dst, to, src_fmt=fmt, page_size=page_size, collapse=collapse, max_refs=max_refs
            )
    except (WorkloadError, OSError) as e:
        fail(str(e))
    err.print(f"wrote {path} ({path.stat().st_size:,} bytes)", highlight=False)
