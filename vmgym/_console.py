"""The CLI's consoles: messages on stderr, results on stdout, and the one way to fail."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

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
