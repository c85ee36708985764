"""Running an experiment's jobs locally (a process pool) or on Ray, with resume, into ``results.csv``.

The output folder holds:

- ``record.json``: the spec, versions (:func:`vmgym.records.versions`) and seeds,
  written before the first job; a folder whose record holds another spec is refused.
- ``cells.jsonl``: one JSON line per finished job, appended with a single
  ``write`` + ``flush`` + ``fsync``. A rerun skips the jobs found there; a torn
  last line (a kill mid-write) is cut off and its job runs again.
- ``results.csv`` (and ``results.parquet`` when pyarrow is importable): one row per
  cell in grid order, rebuilt from ``cells.jsonl`` at the end, so an interrupted
  and resumed run gives the same file as an uninterrupted one (``elapsed_s``, the
  wall time of each simulation, aside).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from vmgym.compare import AGENT_PREFIX, gap_closed
from vmgym.experiment import ANCHORS, Cell, ExperimentError, Spec, canonical, plan, seeded
from vmgym.records import record, write_record

CELLS = "cells.jsonl"
RESULTS = "results.csv"
STATS = ("accesses", "misses", "minor_faults", "major_faults", "hit_ratio", "time_ns")
COLUMNS = (
    "workload",
    "policy",
    "frames",
    "seed",
    "n_frames",
    *STATS,
    "lru_misses",
    "opt_misses",
    "lru_to_opt",
    "elapsed_s",
)


# == one job (runs in a worker) ==============================================================


@lru_cache(maxsize=4)
def _workload(text: str, stream: bool):
    """The workload of a cell; with ``stream``, a stream where it streams (long generators, large traces)."""
    from workloads import resolve, resolve_stream

    return (resolve_stream(text, long=True) if stream else None) or resolve(text)


def run_job(job: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    """Simulate one job (a :class:`Cell` as a dict) on ``machine``; its result line for ``cells.jsonl``.

    Top-level and dict-in, dict-out, so that process pools and Ray can ship it.
    """
    from vmgym.sim import MachineConfig, Simulator

    cell = Cell(**job)
    start = time.perf_counter()
    try:
        agent = cell.policy.startswith(AGENT_PREFIX)  # (agents run in the env, on a whole workload)
        wl = _workload(seeded(cell.workload, cell.seed), not agent)
        cfg = MachineConfig.for_workload(wl, **{**machine, "frames": cell.n_frames})
        if agent:
            from agents import load
            from agents.evaluate import run_agent

            stats = run_agent(load(cell.policy[len(AGENT_PREFIX) :]), wl, cfg, seed=cell.seed or 0)
        else:
            stats = Simulator(wl, cfg, cell.policy).run()
    except Exception as e:  # one line naming the cell, whatever failed
        where = f"{cell.policy} on {cell.workload}, frames {cell.frames}" + (
            "" if cell.seed is None else f", seed {cell.seed}"
        )
        raise ExperimentError(f"{where}: {type(e).__name__}: {e}") from None
    out = {"key": cell.key, **job}
    out.update({k: getattr(stats, k) for k in STATS})
    out["elapsed_s"] = round(time.perf_counter() - start, 6)
    return out


# == the cells file ==========================================================================


def read_cells(path: Path) -> dict[str, dict[str, Any]]:
    """Finished jobs by key; a torn or unreadable last line is cut off the file (its job reruns)."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    done: dict[str, dict[str, Any]] = {}
    good = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            row = json.loads(line)
        except ValueError:
            break
        done[row["key"]] = row
        good += len(line)
    if good < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
    return done


def append_cell(path: Path, row: dict[str, Any]) -> None:
    """Append one finished job as one line: a single write, then flush and fsync."""
    line = (json.dumps(row, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


# == the folder ==============================================================================


def prepare(spec: Spec, out: Path) -> None:
    """Create ``out`` with ``record.json``, or check that the one there holds this same spec."""
    rec_path = out / "record.json"
    if rec_path.exists():
        try:
            old = json.loads(rec_path.read_text())["config"]["spec"]
        except (ValueError, KeyError, TypeError):
            raise ExperimentError(f"{rec_path}: not an experiment record; use another --out folder") from None
        if old != spec.data:
            raise ExperimentError(
                f"{out} holds results of a different spec; use another --out folder (or delete it)"
            )
        return
    if out.exists() and (out / CELLS).exists():
        raise ExperimentError(f"{out} has {CELLS} but no record.json; use another --out folder")
    config = {"spec": spec.data, "seeds": list(spec.seeds), "name": spec.name}
    write_record(out, record("experiment run", config, None))


def versions_changed(out: Path) -> list[str]:
    """``"numpy 2.4.6 -> 2.5.0"`` for each version in ``out/record.json`` that differs from this one's."""
    from vmgym.records import versions

    try:
        old = json.loads((out / "record.json").read_text()).get("versions", {})
    except (OSError, ValueError):
        return []
    now = versions()
    return [f"{k} {old[k]} -> {now.get(k)}" for k in sorted(old) if old[k] != now.get(k)]


# == running =================================================================================


def setup(spec: Spec, out: str | Path) -> tuple[list[Cell], list[Cell]]:
    """Plan the cells and jobs (every check of the spec) and prepare the folder; nothing runs yet."""
    cells, all_jobs = plan(spec)
    prepare(spec, Path(out))
    return cells, all_jobs


def run(
    spec: Spec,
    out: str | Path,
    *,
    jobs: int = 1,
    backend: str = "local",
    address: str | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    planned: tuple[list[Cell], list[Cell]] | None = None,
) -> list[dict[str, Any]]:
    """Run every job of ``spec`` not yet in ``out/cells.jsonl``; write and return the result rows.

    ``on_start(done, total)`` is called once the plan is known, ``on_done(result)``
    after each job. ``backend`` is ``"local"`` (``jobs`` processes; 1 runs in this
    process) or ``"ray"`` (Ray tasks, on the cluster at ``address`` or a local one).
    ``planned`` is what :func:`setup` returned, when the caller called it first.
    """
    out = Path(out)
    cells, all_jobs = planned if planned is not None else setup(spec, out)
    path = out / CELLS
    done = read_cells(path)
    todo = [j for j in all_jobs if j.key not in done]
    if on_start is not None:
        on_start(len(all_jobs) - len(todo), len(all_jobs))
    runner = {"local": _run_local, "ray": _run_ray}[backend]
    for result in runner([_as_dict(j) for j in todo], spec.machine, jobs, address):
        append_cell(path, result)
        done[result["key"]] = result
        if on_done is not None:
            on_done(result)
    rows = build_rows(cells, done)
    write_results(out, rows)
    return rows


def _as_dict(cell: Cell) -> dict[str, Any]:
    return {
        "workload": cell.workload,
        "policy": cell.policy,
        "frames": cell.frames,
        "seed": cell.seed,
        "n_frames": cell.n_frames,
    }


def _run_local(
    todo: list[dict[str, Any]], machine: dict[str, Any], jobs: int, address: str | None
) -> Iterable[dict[str, Any]]:
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            yield run_job(job, machine)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"))
    pending = {pool.submit(run_job, job, machine) for job in todo}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()
    except BaseException:  # Ctrl-C, a failed job, or the caller stopped: drop what has not started
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _run_ray(
    todo: list[dict[str, Any]], machine: dict[str, Any], jobs: int, address: str | None
) -> Iterable[dict[str, Any]]:
    import ray

    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, jobs), include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1)(run_job)
    machine_ref = ray.put(machine)
    pending = [task.remote(job, machine_ref) for job in todo]
    try:
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    raise (e.cause if isinstance(e.cause, ExperimentError) else e) from None
                yield result
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


# == results =================================================================================


def build_rows(cells: list[Cell], done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell (grid order), with the LRU and OPT misses of its group and ``lru_to_opt``."""
    anchors: dict[tuple[Any, ...], dict[str, int]] = {}
    rows = []
    for c in cells:
        group = c.group()
        if group not in anchors:
            anchors[group] = {
                p: done[Cell(c.workload, p, c.frames, c.seed, c.n_frames).key]["misses"] for p in ANCHORS
            }
        res = done[c.key]
        lru, opt = anchors[group]["lru"], anchors[group]["opt"]
        row = {k: res[k] for k in STATS}
        row.update(
            workload=c.workload,
            policy=c.policy if c.policy.startswith(AGENT_PREFIX) else canonical(c.policy),
            frames=c.frames,
            seed=c.seed,
            n_frames=c.n_frames,
            lru_misses=lru,
            opt_misses=opt,
            lru_to_opt=gap_closed(res["misses"], lru, opt),
            elapsed_s=res["elapsed_s"],
        )
        rows.append({k: row[k] for k in COLUMNS})
    return rows


def write_results(out: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """Write ``results.csv`` (and ``results.parquet`` with pyarrow) atomically; return the paths."""
    tmp = out / (RESULTS + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    os.replace(tmp, out / RESULTS)
    paths = [out / RESULTS]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return paths
    table = pa.Table.from_pylist([{**r, "frames": str(r["frames"])} for r in rows])
    pq.write_table(table, out / "results.parquet.tmp")
    os.replace(out / "results.parquet.tmp", out / "results.parquet")
    return [*paths, out / "results.parquet"]


def read_results(out: str | Path) -> list[dict[str, Any]]:
    """The rows of ``out/results.csv`` with numbers parsed (empty ``seed``/``lru_to_opt``: None)."""
    path = Path(out) / RESULTS
    if not path.exists():
        raise ExperimentError(f"{path}: no such file; run `vmgym experiment run SPEC --out {out}` first")
    ints = {"seed", "n_frames", "accesses", "misses", "minor_faults", "major_faults", "time_ns"}
    ints |= {"lru_misses", "opt_misses"}
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = dict(r)
            for k in ints:
                row[k] = int(r[k]) if r[k] != "" else None
            for k in ("hit_ratio", "lru_to_opt", "elapsed_s"):
                row[k] = float(r[k]) if r[k] != "" else None
            row["frames"] = r["frames"] if r["frames"].endswith("%") else int(r["frames"])
            rows.append(row)
    return rows
