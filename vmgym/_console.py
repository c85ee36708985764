"""The CLI's consoles: messages on stderr, results on stdout, and the one way to fail."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from vmgym._optional import missing

err = Console(stderr=True)


def out() -> Console:
    """Console for results: the terminal's width, or 120 columns when piped."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def fail(msg: str) -> NoReturn:
    """Print ``error: msg`` on stderr (never wrapped inside a word or path) and exit with status 2.

    ``msg`` is printed as written: brackets (``[grid]``, ``vmgym[ray]``) are not markup.
    """
    err.print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def emit_results(
    rec: dict[str, Any],
    rows: list[dict[str, Any]],
    out_dir: str | None,
    as_json: bool,
    as_csv: bool,
    write_csv: Callable[[Any, list[dict[str, Any]]], None],
    show: Callable[[], None],
) -> None:
    """What a results command ends with: ``--out`` files, then JSON, CSV or the table ``show`` on stdout.

    ``--out`` gets record.json and results.csv, each written atomically (old or
    new, never half of one).
    """
    if out_dir:
        from vmgym.records import write_atomic, write_record

        buf = io.StringIO(newline="")
        write_csv(buf, rows)
        try:
            path = write_record(out_dir, rec)
            write_atomic(path.parent / "results.csv", buf.getvalue())
        except OSError as e:
            fail(f"{out_dir}: cannot write the results: {e.strerror or e}")
        err.print(f"wrote {path} and results.csv")
    if as_json:
        print(json.dumps(rec, indent=2))
    elif as_csv:
        write_csv(sys.stdout, rows)
    else:
        show()


def check_plot_path(path: Path | None, option: str) -> None:
    """Fail up front if ``option`` names no .png/.svg file or matplotlib (``vmgym[plot]``) is missing."""
    if path is None:
        return
    if path.suffix.lower() not in (".png", ".svg"):
        fail(f"{option} writes .png or .svg files, got {str(path)!r}")
    problem = missing("matplotlib", "plot", option)
    if problem:
        fail(problem)


def progress() -> Progress:
    """A transient progress display on stderr: description, bar, percentage (none while unknown), ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),  # (nothing while the total is unknown)
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


class Phases:
    """One line of a progress display through phases: each phase its own task (its own rate and ETA).

    ``total=None`` is a spinner-like bar of unknown length (rich cannot take a task's
    total back to None, so a phase change starts a new task).
    """

    def __init__(self, prog: Progress, what: str, total: int | None = None):
        self.prog = prog
        self.what = what
        self.task = prog.add_task(what, total=total)

    def show(self, what: str, total: int | None = None, done: int = 0) -> None:
        """Show phase ``what`` at ``done`` of ``total``."""
        if what != self.what:
            self.prog.remove_task(self.task)
            self.what = what
            self.task = self.prog.add_task(what, total=total)
        self.prog.update(self.task, completed=done)
