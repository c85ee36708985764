"""``vmgym experiment``: run a grid of simulations from a TOML spec, plot it and write a report.

Registered in :mod:`vmgym.cli` as ``app.add_typer(experiment_app, name="experiment")``::

    vmgym experiment run experiments/readme_tables.toml --out results/tables   # all local cores
    vmgym experiment run SPEC.toml --out DIR --jobs 2                          # rerun: finishes the rest
    vmgym experiment run SPEC.toml --out DIR --backend ray [--address HOST:6379]
    vmgym experiment plot DIR [--format svg]
    vmgym experiment report DIR

Errors are one clean line on stderr and exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vmgym._console import err, fail
from vmgym._optional import MissingExtra
from vmgym.experiment import ExperimentError, load_spec

experiment_app = typer.Typer(
    no_args_is_help=True, help="Grids of workloads x policies x frames x seeds, from a TOML spec."
)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cells"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


@experiment_app.command("run")
def run_cmd(
    spec: Annotated[Path, typer.Argument(help="The experiment spec (.toml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (rerun to resume).")],
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Parallel processes [default: all local cores].")
    ] = 0,
    backend: Annotated[str, typer.Option("--backend", help="local or ray.")] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster address [default: a local one]."),
    ] = None,
) -> None:
    """Run every cell of the spec's grid; write DIR/results.csv (rerun the same command to resume)."""
    from vmgym import experiment_run

    if backend not in ("local", "ray"):
        fail(f"--backend must be local or ray, got {backend!r}")
    if address is not None and backend != "ray":
        fail("--address is for --backend ray")
    if jobs < 0:
        fail(f"--jobs must be >= 1 (0: all cores), got {jobs}")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            fail("--backend ray needs Ray: install vmgym[ray]")
    try:
        parsed = load_spec(spec)
    except ExperimentError as e:
        fail(str(e))
    n = jobs or os.cpu_count() or 1
    try:
        planned = experiment_run.setup(parsed, out)
    except ExperimentError as e:
        fail(str(e))
    changed = experiment_run.versions_changed(out)
    if changed:
        msg = f"versions differ from {out / 'record.json'}: {'; '.join(changed)}; new cells may not match"
        err.print(
            f"[yellow]warning:[/yellow] {escape(msg)}",
            highlight=False,
            soft_wrap=True,
        )
    with _progress() as prog:
        task = prog.add_task(parsed.name, total=None)

        def started(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)
            if done:
                prog.console.print(f"resuming: {done} of {total} cells already done in {out}")

        try:
            rows = experiment_run.run(
                parsed,
                out,
                jobs=n,
                backend=backend,
                address=address,
                on_start=started,
                on_done=lambda r: prog.advance(task),
                planned=planned,
            )
        except ExperimentError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail(f"interrupted; rerun the same command to finish the remaining cells in {out}")
    err.print(f"wrote {out / experiment_run.RESULTS} ({len(rows)} rows)", highlight=False)


@experiment_app.command("plot")
def plot_cmd(
    out: Annotated[Path, typer.Argument(help="An experiment folder (vmgym experiment run --out).")],
    fmt: Annotated[str, typer.Option("--format", help="png or svg.")] = "png",
) -> None:
    """Miss-ratio curves per workload (mean over seeds, min-max band) and gap-closed bars."""
    from vmgym.experiment_plot import plot_all

    if fmt not in ("png", "svg"):
        fail(f"--format must be png or svg, got {fmt!r}")
    try:
        paths = plot_all(out, fmt)
    except (ExperimentError, MissingExtra) as e:
        fail(str(e))
    for p in paths:
        err.print(f"wrote {p}", highlight=False)


@experiment_app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Argument(help="An experiment folder (vmgym experiment run --out).")],
) -> None:
    """Write DIR/report.md: spec, versions, a table per workload, the plots."""
    from vmgym.experiment_report import write_report

    try:
        path = write_report(out)
    except ExperimentError as e:
        fail(str(e))
    err.print(f"wrote {path}", highlight=False)
