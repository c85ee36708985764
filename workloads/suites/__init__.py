"""Named suites of workloads, one TOML file each in this folder.

A suite file has a ``description`` and an array of ``[[workloads]]`` tables, each a
workload spec (see :mod:`workloads.spec`) whose ``name`` labels it within the suite::

    description = "Textbook reference patterns"

    [[workloads]]
    name = "loop"
    workload = "loop"               # a named workload (hints come with it)

    [[workloads]]
    name = "belady-anomaly"
    pages = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    machine = { frames = 3, tlb_entries = 0 }

Usage::

    from workloads import suites
    suites.names()                          # ['default', 'classic', 'real', ...]
    for label, workload, hints in suites.get("classic"):
        ...
    suites.entry("train", "zipf-a").build() # one entry
    suites.get("my-suite.toml")             # a suite file of your own

The ``train`` and ``test`` suites share no seed and no trace (``tests/workloads/test_suites.py``
checks it), so that an agent trained on one is evaluated on unseen workloads.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from workloads.model import Workload, WorkloadError
from workloads.spec import Spec, parse_spec, read_toml

__all__ = ["SUITES_DIR", "SuiteEntry", "describe", "entry", "get", "names", "specs"]

SUITES_DIR = Path(__file__).resolve().parent
_ORDER = ("default", "classic", "real", "multiprocess", "train", "valid", "test")
_SUITE_KEYS = ("description", "workloads")


class SuiteEntry(NamedTuple):
    """One built workload of a suite, with its machine hints (also in ``workload.hints``)."""

    label: str
    workload: Workload
    hints: dict[str, Any]


def names() -> list[str]:
    """The bundled suites: the standard ones first, then any other ``*.toml`` here, alphabetically."""
    found = {p.stem for p in SUITES_DIR.glob("*.toml")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def _path(name: str | Path) -> Path:
    if isinstance(name, Path) or str(name).endswith(".toml"):
        return Path(name)
    if name not in names():
        raise WorkloadError(f"unknown suite {name!r}; choose one of: {', '.join(names())} (or a .toml file)")
    return SUITES_DIR / f"{name}.toml"


def _load(path: Path) -> tuple[str, tuple[Spec, ...]]:
    """Parse a suite file (cached until the file changes)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0  # read_toml reports it
    return _parse(path, stamp)


@lru_cache(maxsize=32)
def _parse(path: Path, stamp: int) -> tuple[str, tuple[Spec, ...]]:
    data = read_toml(path)
    where = str(path) if path.parent != SUITES_DIR else f"suite {path.stem!r} ({path.name})"
    unknown = [k for k in data if k not in _SUITE_KEYS]
    if unknown:
        raise WorkloadError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(_SUITE_KEYS)}")
    description = data.get("description")
    if not isinstance(description, str) or not description:
        raise WorkloadError(f"{where}: description must be a non-empty string, got {description!r}")
    tables = data.get("workloads")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise WorkloadError(f"{where}: workloads must be a non-empty array of tables ([[workloads]])")
    specs_: list[Spec] = []
    for i, table in enumerate(tables):
        label = table.get("name")
        ewhere = f"{where}: workloads[{i}]"
        if not isinstance(label, str) or not label or "/" in label or ":" in label:
            raise WorkloadError(
                f"{ewhere}: name must be a non-empty string without '/' or ':', got {label!r}"
            )
        spec = parse_spec(table, f"{ewhere} ({label})", path.parent, label)
        if any(s.name == label for s in specs_):
            raise WorkloadError(f"{ewhere}: duplicate name {label!r}")
        specs_.append(spec)
    return description, tuple(specs_)


def specs(name: str | Path) -> list[Spec]:
    """The validated (unbuilt) specs of suite ``name`` (a bundled suite or a ``.toml`` path)."""
    return list(_load(_path(name).resolve())[1])


def describe() -> list[tuple[str, str, list[str]]]:
    """``(name, description, entry labels)`` of every bundled suite."""
    out = []
    for name in names():
        description, entries = _load(_path(name).resolve())
        out.append((name, description, [s.name for s in entries]))
    return out


def entry(suite: str | Path, label: str) -> Spec:
    """The spec labelled ``label`` in ``suite``."""
    found = specs(suite)
    for spec in found:
        if spec.name == label:
            return spec
    raise WorkloadError(
        f"suite {str(suite)!r} has no workload {label!r}; choose one of: {', '.join(s.name for s in found)}"
    )


def get(name: str | Path) -> list[SuiteEntry]:
    """Build every workload of suite ``name``: a list of ``(label, workload, hints)``."""
    out = []
    for spec in specs(name):
        workload = spec.build()
        out.append(SuiteEntry(spec.name, workload, dict(workload.hints)))
    return out
