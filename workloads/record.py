"""Record a real program's memory references with valgrind's lackey tool.

:func:`record` runs ``valgrind --tool=lackey --trace-mem=yes --log-fd=N CMD ARGS`` and
parses lackey's output *while the program runs*, through a pipe, with the compiled
lackey parser of :mod:`workloads.traces`: the raw log (tens of bytes per memory access,
gigabytes for a second of real work) is never stored. References are kept at page
granularity: each address is rounded down to its page and consecutive duplicate
(page, op) references are collapsed (a write after a read of the same page is kept).
Lackey traces every instruction fetch (exec), load (read), store (write) and modify
(read then write) of the program's threads, from the dynamic loader's first
instruction on; it does not follow child processes or ``exec`` (so a shell-script
wrapper such as a pyenv shim traces the shell, not the program it runs: pass the real
executable). The result is one process named after the program.

The trace is written as vmgym's compact ``.npz`` (see :mod:`workloads.traces`): page
numbers stored as successive differences plus int8 ops, deflate-compressed (about 0.1
to 0.25 bytes per reference on real programs), with a ``meta`` record of how it was made
(command, date, valgrind version, page size, references before and after collapsing,
the skipped and kept window). Read it back with :func:`workloads.traces.load_trace`.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import shutil
import subprocess
import warnings
from pathlib import Path

from workloads import traces as _tr
from workloads.model import DEFAULT_PAGE_SIZE, Workload

__all__ = ["record", "valgrind_version"]


def _valgrind(valgrind: str) -> str:
    exe = shutil.which(valgrind)
    if exe is None:
        raise _tr.TraceError(
            f"valgrind not found ({valgrind!r} is not on PATH); install it, e.g. `apt-get install valgrind`"
        )
    return exe


def valgrind_version(valgrind: str = "valgrind") -> str:
    """The ``valgrind --version`` string, e.g. ``valgrind-3.19.0``."""
    exe = _valgrind(valgrind)
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or out.stderr.strip()


def _check_command(cmd: list[str]) -> None:
    program = shutil.which(cmd[0])
    if program is None:
        raise _tr.TraceError(f"command not found: {cmd[0]!r}")
    with open(program, "rb") as fh:
        if fh.read(2) == b"#!":
            warnings.warn(
                f"{program} is a script: valgrind traces its interpreter, not the programs it runs "
                f"(a pyenv shim, say); pass the real executable to trace that",
                stacklevel=3,
            )


def record(
    cmd: list[str],
    out: str | Path | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    *,
    max_refs: int | None = None,
    skip_refs: int = 0,
    collapse: bool = True,
    quiet: bool = False,
    valgrind: str = "valgrind",
    block_size: int = 4 << 20,
) -> Workload:
    """Run ``cmd`` under valgrind lackey and return its page-level reference trace.

    ``out`` (if given) receives the trace as ``.npz``. ``skip_refs`` drops the first
    that many (collapsed) references, e.g. a program's start-up; ``max_refs`` then stops
    the program once that many references are recorded (the trace is marked truncated);
    ``quiet`` discards the program's own stdout/stderr (else they pass through).
    Raises :class:`~workloads.traces.TraceError` if valgrind or the command is missing,
    if the command fails (non-zero exit status), or if it makes no memory reference.
    """
    if not cmd:
        raise _tr.TraceError("no command to record; usage: record(['sort', 'file.txt'], out=...)")
    page_size = _tr._check_page_size(page_size)
    if isinstance(skip_refs, bool) or not isinstance(skip_refs, int) or skip_refs < 0:
        raise _tr.TraceError(f"skip_refs must be an integer >= 0, got {skip_refs!r}")
    if max_refs is not None and (isinstance(max_refs, bool) or not isinstance(max_refs, int) or max_refs < 1):
        raise _tr.TraceError(f"max_refs must be an integer >= 1 or None, got {max_refs!r}")
    exe = _valgrind(valgrind)
    _check_command(cmd)
    version = valgrind_version(valgrind)
    shift = page_size.bit_length() - 1
    coll = _tr._Collector(shift, collapse, max_refs, True, skip_refs)
    label = f"valgrind log of {shlex.join(cmd)}"
    started = _dt.datetime.now(_dt.UTC)
    read_fd, write_fd = os.pipe()
    sink = subprocess.DEVNULL if quiet else None
    try:
        proc = subprocess.Popen(
            [exe, "--tool=lackey", "--trace-mem=yes", f"--log-fd={write_fd}", *cmd],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    except OSError as e:
        os.close(read_fd)
        os.close(write_fd)
        raise _tr.TraceError(f"cannot start valgrind: {e}") from None
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as stream:
            nbytes = _tr._parse_text(stream, "lackey", label, shift, coll, block_size)
    except _tr.TraceError as e:
        proc.kill()
        proc.wait()
        raise _tr.TraceError(f"valgrind failed or printed something unexpected: {e}") from None
    finally:
        if proc.poll() is None and coll.full:
            proc.kill()
    status = proc.wait()
    truncated = coll.full
    if status != 0 and not truncated:
        raise _tr.TraceError(
            f"command {shlex.join(cmd)!r} exited with status {status} under valgrind; no trace written"
        )
    workload = _tr._finish(coll, "lackey", label, nbytes, page_size, collapse, None, Path(cmd[0]).name)
    for p in workload.processes:
        p.args = (p.args >> shift) << shift
    how = f"valgrind --tool=lackey --trace-mem=yes {shlex.join(cmd)}"
    window = f" after skipping {skip_refs:,}" if skip_refs else ""
    workload.description = (
        f"{how}: {workload.references:,} page references{window}"
        f"{' (cut at max_refs)' if truncated else ''}, page size {page_size}"
    )
    if out is not None:
        meta = {
            "how": how,
            "command": list(cmd),
            "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valgrind": version,
            "page_size": page_size,
            "collapse": collapse,
            "references": workload.references,
            "references_before_collapsing": coll.seen,
            "skip_refs": skip_refs,
            "max_refs": max_refs,
            "truncated": truncated,
            "exit_status": status,
            "machine": f"{platform.system()} {platform.machine()}",
        }
        _tr.write_trace(workload, Path(out), "npz", meta=meta)
    return workload
