"""The real traces bundled in ``workloads/data`` (see its README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workloads.model import Workload
from workloads.traces.api import load_trace
from workloads.traces.errors import TraceError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def bundled() -> dict[str, Path]:
    """Name -> path of the real traces bundled in ``workloads/data`` (see its README)."""
    if not DATA_DIR.is_dir():
        return {}
    return {p.name[: -len(".npz")]: p for p in sorted(DATA_DIR.glob("*.npz"))}


def load_bundled(name: str, **kwargs: Any) -> Workload:
    """Load the bundled trace ``name`` (keyword arguments go to :func:`load_trace`)."""
    traces = bundled()
    if name not in traces:
        raise TraceError(f"unknown bundled trace {name!r}; choose one of: {', '.join(traces) or '(none)'}")
    return load_trace(traces[name], "npz", **kwargs)
