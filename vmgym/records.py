"""Run records: what a result needs so that anyone can reproduce it bit for bit."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
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


def write_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` by ``text`` atomically: readers (and crashes) see the old file or the new.

    The text goes to a temporary file in the same folder, is flushed to disk (fsync), and
    is renamed over ``path`` (``os.replace``); the folder is fsynced too so the rename lasts.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def write_record(out_dir: str | Path, rec: dict[str, Any], name: str = "record.json") -> Path:
    """Write ``rec`` as JSON into ``out_dir`` (created if needed), atomically; return the path."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return write_atomic(path / name, json.dumps(rec, indent=2, sort_keys=True) + "\n")
