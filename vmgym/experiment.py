"""Experiment specs: a grid of workloads x policies x frames x seeds, parsed and checked.

A spec is a TOML file (``vmgym experiment run SPEC.toml --out DIR``)::

    [experiment]
    name = "fig3"
    seeds = [0, 1, 2]            # applied to workloads that take a seed
    [grid]
    workload = ["zipf", "loop:n_pages=60", "trace-sqlite", "runs/app.lackey"]
    policy = ["lru", "clock", "arc", "opt", "agent:default"]
    frames = [64, 128, "5%"]     # counts, or percentages of the workload's footprint
    [machine]                    # MachineConfig keys applied to every cell
    tlb_entries = 0

:func:`plan` turns a spec into its cells (one result row each, in grid order)
and its jobs (the distinct simulations, the LRU and OPT anchors of
``lru_to_opt`` included, each run once per workload, frames and seed). Running
them is :mod:`vmgym.experiment_run`. Every error is an :class:`ExperimentError`
with a one-line message, raised before any simulation runs.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmgym import policies
from vmgym.compare import AGENT_PREFIX, check_agents
from vmgym.sim import ConfigError, MachineConfig
from workloads import RefStream, Workload, registry, resolve, resolve_stream
from workloads.model import WorkloadError
from workloads.spec import footprint

_TABLES = {
    "experiment": {"name": str, "seeds": list, "description": str},
    "grid": {"workload": list, "policy": list, "frames": list},
    "machine": None,  # any MachineConfig field
}
_REQUIRED = {"grid": ("workload", "policy", "frames")}
_GRID_OWNED = ("frames", "page_size")  # machine keys a spec may not set: the grid or the workload does
_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
ANCHORS = ("lru", "opt")  # the policies lru_to_opt is measured between


class ExperimentError(ValueError):
    """A bad spec or experiment folder; the message is one line."""


@dataclass(frozen=True)
class Spec:
    """A checked experiment spec. ``data`` is the spec as a plain dict (what ``record.json`` keeps)."""

    name: str
    seeds: tuple[int, ...]
    workloads: tuple[str, ...]
    policies: tuple[str, ...]
    frames: tuple[int | str, ...]
    machine: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One simulation: a workload (with its seed applied), a policy and a frame count.

    ``frames`` is the spec's entry (``64`` or ``"5%"``), ``n_frames`` the frame count
    it gives; ``seed`` is None for a workload that takes no seed (a trace).
    """

    workload: str
    policy: str
    frames: int | str
    seed: int | None
    n_frames: int

    @property
    def key(self) -> str:
        """Identity of the simulation (the canonical policy name; an alias runs once)."""
        return json.dumps([self.workload, canonical(self.policy), self.frames, self.seed])

    def group(self) -> tuple[str, int | str, int | None]:
        """The (workload, frames, seed) group whose LRU and OPT runs anchor ``lru_to_opt``."""
        return (self.workload, self.frames, self.seed)


def canonical(policy: str) -> str:
    """A policy's canonical name (``agent:`` entries as written)."""
    return policy if policy.startswith(AGENT_PREFIX) else policies.get_class(policy).name


# == parsing =================================================================================


def load_spec(path: str | Path) -> Spec:
    """Read and check the spec file at ``path``."""
    from workloads.spec import read_toml

    try:
        data = read_toml(Path(path))
    except WorkloadError as e:
        raise ExperimentError(str(e)) from None
    return parse_spec(data, str(path))


def _type_name(t: type) -> str:
    return {str: "a string", list: "an array", int: "an integer"}.get(t, t.__name__)


def _check_tables(where: str, data: dict[str, Any]) -> None:
    """Known tables and keys only, each value of its type."""
    for table, value in data.items():
        if table not in _TABLES:
            raise ExperimentError(f"{where}: unknown table [{table}]; allowed: {', '.join(_TABLES)}")
        if not isinstance(value, dict):
            raise ExperimentError(f"{where}: {table} must be a table ([{table}])")
        allowed = _TABLES[table]
        for key, v in value.items():
            if allowed is None:
                continue
            if key not in allowed:
                raise ExperimentError(
                    f"{where}: unknown key {key!r} in [{table}]; allowed: {', '.join(allowed)}"
                )
            if not isinstance(v, allowed[key]):
                raise ExperimentError(
                    f"{where}: [{table}] {key} must be {_type_name(allowed[key])}, got {v!r}"
                )


def parse_spec(data: dict[str, Any], where: str = "spec") -> Spec:
    """Check the tables, keys and value types of a spec dict; return the :class:`Spec`."""
    _check_tables(where, data)
    for table, keys in _REQUIRED.items():
        for key in keys:
            if key not in data.get(table, {}):
                raise ExperimentError(f"{where}: [{table}] needs {key} = [...]")
    exp, grid, machine = data.get("experiment", {}), data["grid"], dict(data.get("machine", {}))
    seeds = exp.get("seeds", [0])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ExperimentError(f"{where}: [experiment] seeds must be integers >= 0, got {seeds!r}")
    workloads = _strings(where, "workload", grid["workload"])
    names = _strings(where, "policy", grid["policy"])
    for name in names:
        if not name.startswith(AGENT_PREFIX):
            try:
                policies.get_class(name)
            except policies.PolicyError as e:
                raise ExperimentError(f"{where}: [grid] policy: {e}") from None
    frames = [_frames_entry(where, f) for f in grid["frames"]]
    if not frames:
        raise ExperimentError(f"{where}: [grid] frames is empty")
    _check_machine(where, machine)
    return Spec(
        name=exp.get("name", Path(where).stem),
        seeds=tuple(dict.fromkeys(seeds)),
        workloads=tuple(dict.fromkeys(workloads)),
        policies=tuple(dict.fromkeys(names)),
        frames=tuple(dict.fromkeys(frames)),
        machine=machine,
        description=exp.get("description", ""),
        data=json.loads(json.dumps(data)),
    )


def _strings(where: str, key: str, values: list[Any]) -> list[str]:
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ExperimentError(f"{where}: [grid] {key} must be a non-empty array of strings, got {values!r}")
    return [v.strip() for v in values]


def _frames_entry(where: str, value: Any) -> int | str:
    """A frame count >= 1, or a percentage of the footprint ("5%", in (0, 100])."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ExperimentError(f"{where}: [grid] frames must be >= 1, got {value}")
        return value
    if isinstance(value, str):
        m = _FRACTION.match(value)
        if m and 0 < float(m.group(1)) <= 100:
            return f"{float(m.group(1)):g}%"
    raise ExperimentError(
        f"{where}: [grid] frames entries are frame counts (64) or percentages of the footprint "
        f'in (0, 100] ("5%"), got {value!r}'
    )


def _check_machine(where: str, machine: dict[str, Any]) -> None:
    for key in _GRID_OWNED:
        if key in machine:
            raise ExperimentError(
                f"{where}: [machine] {key} is not allowed here (frames come from [grid], the page size "
                f"from the workload)"
            )
    try:
        MachineConfig.from_dict({**machine, "frames": 1})
    except (ConfigError, TypeError, ValueError) as e:
        raise ExperimentError(f"{where}: [machine]: {e}") from None


# == cells ===================================================================================


def _has_overrides(text: str) -> bool:
    head, sep, tail = text.rpartition(":")
    return bool(sep) and "=" in tail and not Path(text).expanduser().is_file()


def takes_seed(text: str) -> bool:
    """Whether workload ``text`` has a ``seed`` parameter (a generator, or a one-source spec of one)."""
    if _has_overrides(text) and "seed" in registry.parse_name("x:" + text.rpartition(":")[2])[1]:
        raise ExperimentError(
            f"workload {text!r} sets seed=; the [experiment] seeds apply to it: remove seed= from it"
        )
    base = text.rpartition(":")[0] if _has_overrides(text) else text
    if base in registry.WORKLOADS:
        return "seed" in inspect.signature(registry.WORKLOADS[base].generator).parameters
    from workloads import spec as wspec
    from workloads import suites

    suite, sep, label = base.partition("/")
    try:
        if sep and suite in suites.names():
            found = suites.entry(suite, label)
        elif base.lower().endswith(".toml") and Path(base).expanduser().is_file():
            found = wspec.load_spec(Path(base).expanduser())
        else:
            return False
    except WorkloadError as e:
        raise ExperimentError(str(e)) from None
    return not found.combined and bool(found.seeds())


def seeded(text: str, seed: int | None) -> str:
    """The workload string with ``seed`` applied as an override (``zipf:pages=300,seed=2``)."""
    if seed is None:
        return text
    return f"{text},seed={seed}" if _has_overrides(text) else f"{text}:seed={seed}"


def frame_count(entry: int | str, pages: int) -> int:
    """Frames for a spec entry: the count itself, or the percentage of ``pages`` (rounded, >= 1)."""
    if isinstance(entry, int):
        return entry
    return max(1, round(float(entry[:-1]) * pages / 100))


def _load(text: str) -> Workload | RefStream:
    try:
        return resolve_stream(text, long=True) or resolve(text)
    except WorkloadError as e:
        raise ExperimentError(str(e)) from None


def plan(spec: Spec) -> tuple[list[Cell], list[Cell]]:
    """The spec's cells in grid order, and the distinct jobs to run (cells plus LRU/OPT anchors).

    Every workload is resolved here (per seed when a frames entry is a
    percentage; streamed generators and large traces as streams, their footprint
    counted in one read), so a missing trace or bad override fails before anything runs;
    ``agent:`` entries are loaded to check them.
    """
    problem = check_agents(spec.policies)
    if problem:
        raise ExperimentError(problem)
    seeds_of: dict[str, list[int | None]] = {}
    pages: dict[tuple[str, int | None], int] = {}
    fractions = any(isinstance(f, str) for f in spec.frames)
    for w in spec.workloads:
        seeds_of[w] = list(spec.seeds) if takes_seed(w) else [None]
        for k, s in enumerate(seeds_of[w]):
            if k == 0 or fractions:
                wl = _load(seeded(w, s))
                if fractions:
                    pages[(w, s)] = wl.pages() if isinstance(wl, RefStream) else footprint(wl)
                if fractions and pages[(w, s)] == 0:
                    raise ExperimentError(
                        f"workload {w!r} references no page: a frames percentage needs some"
                    )
    cells = [
        Cell(w, p, f, s, frame_count(f, pages.get((w, s), 0)))
        for w in spec.workloads
        for p in spec.policies
        for f in spec.frames
        for s in seeds_of[w]
    ]
    jobs: dict[str, Cell] = {}
    for c in cells:
        for p in (c.policy, *ANCHORS):
            job = Cell(c.workload, p, c.frames, c.seed, c.n_frames)
            jobs.setdefault(job.key, job)
    return cells, list(jobs.values())
