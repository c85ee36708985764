"""Compile policy flows ahead of a run, several at a time, and remember which are cached.

A cold ``vmgym compare`` spends most of its time compiling the flows of its
policies (:mod:`vmgym.sim.specialize`: one per policy family, or per policy
outside one) and the kernels they share. ``vmgym compare`` asks
:func:`flows_to_compile` which are not yet in numba's cache and compiles those in
parallel processes first (one per core, with :func:`compile_flows`); the run then
loads them.

Whether a flow is cached is remembered by a marker file in the cache folder
(which :mod:`vmgym._cache` keys by the kernel sources, so an edit starts afresh).
The marker is only a hint for this choice: a flow missing from the cache is
compiled on first use anyway, so a wrong hint costs time, never results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path


def _marker(name: str) -> Path | None:
    import numba

    folder = numba.config.CACHE_DIR
    return Path(folder) / "flows" / f"{name}.ok" if folder else None


def _key(name: str | None) -> str:
    from vmgym.sim.specialize import SHARED, flow_key

    return name if name == SHARED else flow_key(name)


def by_flow(names: Sequence[str | None]) -> dict[str, list[str | None]]:
    """``names`` grouped by the flow that runs them (its name, :func:`vmgym.sim.specialize.flow_key`)."""
    groups: dict[str, list[str | None]] = {}
    for name in names:
        groups.setdefault(_key(name), []).append(name)
    return groups


def _one_per_flow(names: Sequence[str | None]) -> list[str | None]:
    """``names`` with one policy per flow (the first named of each family), in order."""
    return [group[0] for group in by_flow(names).values()]


def job_count(names: Sequence[str | None]) -> int:
    """How many jobs :func:`compile_flows` makes of ``names``: one per flow, and the shared kernels'."""
    from vmgym.sim.specialize import SHARED

    return len(by_flow(names)) + (not is_compiled(SHARED))


def is_compiled(name: str | None) -> bool:
    """True if :func:`compile_flows` has put the flow of policy ``name`` (None: external) in the cache."""
    marker = _marker(_key(name))
    return marker is not None and marker.exists()


def compile_flows(
    names: Sequence[str | None],
    jobs: int,
    on_done: Callable[[str, float], None] | None = None,
) -> dict[str, float]:
    """Compile the flows of ``names`` (None: external), ``jobs`` processes at a time, and mark them.

    One job per flow: policies of one family share it (``on_done`` gets the flow's
    name, :func:`vmgym.sim.specialize.flow_key`, and the seconds).

    Compiling the env and streaming kernels in the same pool as well (so that the
    suite's two workers would not both compile them) made the cold suite slower,
    844 s against 763 s from a clean clone on 2026-12-03: it stays out.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from vmgym.sim.specialize import SHARED, _compile_one

    def done(key: str, secs: float) -> None:
        marker = _marker(key)
        if marker is not None:
            try:
                marker.parent.mkdir(exist_ok=True)
                marker.touch()
            except OSError:
                pass  # a read-only cache folder: the hint is lost, nothing else
        if on_done is not None:
            on_done(key, secs)

    times: dict[str, float] = {}
    names = _one_per_flow(names)
    if not is_compiled(SHARED):  # first: the flows compile meanwhile, without waiting for it
        names = [SHARED, *names]
    jobs_list = [partial(_compile_one, n) for n in names]
    jobs = min(jobs, len(jobs_list))
    if jobs <= 1 or len(jobs_list) <= 1:
        for job in jobs_list:
            key, secs = job()
            times[key] = secs
            done(key, secs)
        return times
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(job) for job in jobs_list]):
            key, secs = fut.result()
            times[key] = secs
            done(key, secs)
    return times


def flows_to_compile(names: Sequence[str]) -> list[str]:
    """The flows of ``names`` worth compiling in parallel before a run: the uncached ones.

    Worth it when two jobs or more are left (:func:`compile_flows` adds the shared kernels'
    job while they are not cached). Empty on one core, or with ``VMGYM_LAZY_COMPILE=1``
    (each flow then compiles on first use, in process).
    """
    missing = [n for n in _one_per_flow(names) if not is_compiled(n)]
    if job_count(missing) < 2 or (os.cpu_count() or 1) < 2 or os.environ.get("VMGYM_LAZY_COMPILE"):
        return []
    return missing


def own_flow_first(name: str) -> bool:
    """True if a command that runs only policy ``name`` should use its own flow, not its family's.

    So it is unless :func:`compile_flows` has put the family's flow in the cache: a first run
    then compiles one policy, not its family (``vmgym run -p arc``: ~27 s cold, ~45 s
    for the adaptive family), and keeps it. The results are the same either way.
    """
    from vmgym.sim.specialize import flow_key

    return flow_key(name) != name and not is_compiled(name)
