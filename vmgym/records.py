"""Run records: what a result needs so that anyone can reproduce it bit for bit."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("vmgym", "numpy", "numba", "gymnasium", "stable-baselines3", "sb3-contrib", "torch")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that can change a result."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def record(command: str, config: dict[str, Any], results: Any) -> dict[str, Any]:
    """A JSON-serialisable record of one command: its config, results and versions."""
    return {
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "versions": versions(),
        "results": results,
    }


def write_record(out_dir: str | Path, rec: dict[str, Any], name: str = "record.json") -> Path:
    """Write ``rec`` as JSON into ``out_dir`` (created if needed); return the path."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    target = path / name
    target.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    return target
