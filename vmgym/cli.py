"""The ``vmgym`` command line: run, compare, and list workloads and policies."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmgym import policies
from vmgym._compile import by_flow, compile_flows, flows_to_compile, job_count, own_flow_first
from vmgym._console import Phases, check_plot_path, emit_results, err, fail, out, progress
from vmgym.cli_agents import register as register_agent_commands
from vmgym.cli_experiment import experiment_app
from vmgym.cli_mrc import mrc_cmd
from vmgym.cli_trace import trace_app
from vmgym.compare import AGENT_PREFIX, COLUMNS, check_agents, compare, parse_policies
from vmgym.prefetch import Prefetcher, PrefetchError
from vmgym.prefetch import make as make_prefetcher
from vmgym.prefetch import names as prefetch_names
from vmgym.records import record
from vmgym.sim import ConfigError, MachineConfig, SimulationError, Simulator
from workloads import RefStream, registry, resolve, resolve_stream, suites
from workloads.model import Workload, WorkloadError
from workloads.stream import from_workload

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Page replacement on a virtual-memory simulator."
)
workloads_app = typer.Typer(no_args_is_help=True, help="Named workloads and suites.")
app.add_typer(workloads_app, name="workloads")
app.add_typer(trace_app, name="trace")
app.add_typer(experiment_app, name="experiment")
register_agent_commands(app)
app.command("mrc")(mrc_cmd)


WorkloadOpt = Annotated[
    str,
    typer.Option(
        "--workload",
        "-w",
        help="A named workload with optional overrides (zipf:alpha=0.8; see `vmgym workloads list`), "
        "a suite entry (train/zipf-a), a .toml spec file, or a trace file (run.lackey, x.din:max_refs=1000).",
    ),
]
FramesOpt = Annotated[
    int | None, typer.Option("--frames", "-f", help="RAM frames [default: the workload's hint].")
]
SwapOpt = Annotated[
    int | None, typer.Option("--swap-slots", help="Swap device size [pages; default: hint, else 262144].")
]
PrefetchOpt = Annotated[
    str,
    typer.Option(
        "--prefetch",
        help="Prefetcher: none, readahead, swap-cluster, stride, markov, with optional parameters "
        "(readahead:maximum=64; see `vmgym prefetchers`).",
    ),
]
TlbOpt = Annotated[
    int | None,
    typer.Option(
        "--tlb-entries", help="TLB entries (0 = no TLB, the lean configuration) [default: hint, else 64]."
    ),
]


def _load(
    workload: str,
    frames: int | None,
    swap_slots: int | None,
    tlb_entries: int | None,
    stream: bool = False,
    arrays: bool = True,
    long: bool = False,
) -> tuple[Workload | RefStream, MachineConfig]:
    """Resolve the workload (name, suite entry, spec or trace); options win over its hints.

    With ``stream``, a generated workload or a large one-process trace file that streams
    (:func:`workloads.resolve_stream`) comes back as a stream, run chunk by chunk; any other
    one-process workload without events (a smaller trace file, say) as a stream over its
    arrays (unless not ``arrays``), for the compiled translation of :mod:`vmgym.streaming`
    (same results as the whole-trace loader, several times faster). With ``long``, a
    generated workload streams only from 16M references on.
    """
    try:
        with err.status(f"reading {workload}", spinner="dots"):  # (a large trace's scan takes a while)
            wl = (resolve_stream(workload, long=long) if stream else None) or resolve(workload)
        # one process, no events, starting at tick 0: from_workload's plain stream (compiled translation);
        # with events the whole loader is as fast (the events stream translates in Python, twice)
        plain = isinstance(wl, Workload) and len(wl.processes) == 1 and wl.processes[0].start == 0
        if stream and arrays and plain and not wl.processes[0].has_events:
            wl = from_workload(wl)
        cfg = MachineConfig.for_workload(wl, frames=frames, swap_slots=swap_slots, tlb_entries=tlb_entries)
    except (WorkloadError, ConfigError) as e:
        fail(str(e))
    return wl, cfg


@app.command()
def run(
    workload: WorkloadOpt = "default",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy name (see `vmgym policies`).")
    ] = "lru",
    frames: FramesOpt = None,
    swap_slots: SwapOpt = None,
    tlb_entries: TlbOpt = None,
    prefetcher: PrefetchOpt = "none",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    timeline: Annotated[
        Path | None,
        typer.Option("--timeline", help="Also draw faults per window and the resident set (.png/.svg)."),
    ] = None,
) -> None:
    """Run one policy on one workload and print its statistics."""
    check_plot_path(timeline, "--timeline")
    if policy.strip().lower().startswith(AGENT_PREFIX):
        agent = policy.strip()
        fail(f"{agent!r} is a learned agent: run it with `vmgym compare -p lru,{agent}` or `vmgym evaluate`")
    wl, cfg = _load(workload, frames, swap_slots, tlb_entries, stream=True)
    try:
        with progress() as prog:
            loading = f"loading {wl.name}"  # the address space, OPT's columns (a bar), compiling
            bar = Phases(prog, loading)

            def phase(what: str, done: int, total: int) -> None:
                if done < total:
                    bar.show(f"{policy}: {what}", total, done)
                else:  # back to the spinner while the policy's kernels load
                    bar.show(loading)

            own = own_flow_first(policy)  # a cold family: compile only this policy
            sim = Simulator(wl, cfg, policy, prefetch=prefetcher, own_flow=own, loading=phase)
            bar.show(f"{policy} on {wl.name}", sim.length)
            tick = lambda done, total: bar.show(f"{policy} on {wl.name}", total, done)  # noqa: E731
            if timeline is None:
                stats = sim.run(progress=tick)
            else:
                from vmgym.timeline import run_windows

                stats, series = run_windows(sim, progress=tick)
    except (policies.PolicyError, PrefetchError, SimulationError, WorkloadError) as e:
        fail(str(e))
    if timeline is not None:
        _write_timeline(series, timeline, f"{stats.policy} on {wl.name}, {cfg.frames} frames", cfg.frames)
    if as_json:
        rec = record("run", sim.describe(), stats.to_dict())
        print(json.dumps(rec, indent=2))
        return
    table = Table(title=f"{stats.policy} on {wl.name}, {cfg.frames} frames")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.summary().items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out().print(table)
    if len(stats.processes) > 1:
        pt = Table(title="per process")
        cols = [
            "pid",
            "name",
            "state",
            "accesses",
            "minor_faults",
            "major_faults",
            "cow_faults",
            "segfaults",
            "peak_rss",
        ]
        for c in cols:
            pt.add_column(c, justify="right" if c not in ("name", "state") else "left")
        for p in stats.processes:
            pt.add_row(*(str(getattr(p, c)) for c in cols))
        out().print(pt)


@app.command("compare")
def compare_cmd(
    workload: WorkloadOpt = "default",
    policies_: Annotated[
        str,
        typer.Option(
            "--policies",
            "-p",
            help="Comma-separated policy names, or 'all'; agent:default or agent:PATH runs a learned agent.",
        ),
    ] = "fifo,lru,clock,opt",
    frames: FramesOpt = None,
    swap_slots: SwapOpt = None,
    tlb_entries: TlbOpt = None,
    prefetcher: PrefetchOpt = "none",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    out: Annotated[
        str | None, typer.Option("--out", help="Also write record.json and results.csv here.")
    ] = None,
) -> None:
    """Run several policies on the same workload; place each between LRU (0 %) and OPT (100 %).

    Long generated workloads (16M references or more) and large trace files stream (each
    policy reads the source again; a learned agent runs in the env, which streams it too).
    """
    try:
        names = parse_policies(policies_)
    except policies.PolicyError as e:
        fail(str(e))
    wl, cfg = _load(workload, frames, swap_slots, tlb_entries, stream=True, arrays=False, long=True)
    try:
        pf = make_prefetcher(prefetcher)
    except (policies.PolicyError, PrefetchError) as e:
        fail(str(e))
    _check_agents(names)
    total = len(dict.fromkeys([*names, "lru", "opt"]))
    try:
        with progress() as prog:
            todo = flows_to_compile([n for n in names if not n.startswith(AGENT_PREFIX)] + ["lru", "opt"])
            if todo:  # a cold cache: compile the flows (and the shared kernels) on all cores first
                n_jobs = job_count(todo)
                ctask = prog.add_task(f"compiling {n_jobs} flows (first run only)", total=n_jobs)
                jobs = os.cpu_count() or 1  # compile_flows runs no more processes than it has jobs
                compile_flows(todo, jobs, on_done=lambda name, secs: prog.advance(ctask))
            task = prog.add_task(f"{wl.name}: {total} policies", total=total)
            bar = Phases(prog, "")  # the policy in hand: its run, and OPT's loading phases

            def hear(name: str, what: str, done: int, of: int) -> None:
                bar.show(f"{name}: {what}", of, done)

            rows = compare(
                wl, cfg, names, on_done=lambda name, s: prog.advance(task), prefetcher=pf, on_progress=hear
            )
    except (SimulationError, WorkloadError) as e:
        fail(str(e))
    config = {"workload": workload, "policies": names, "prefetch": pf.describe(), "machine": cfg.to_dict()}
    rec = record("compare", config, rows)
    emit_results(
        rec, rows, out, as_json, as_csv, _write_csv, lambda: _print_compare(rows, wl.name, cfg.frames, pf)
    )


def _write_timeline(series, path: Path, title: str, frames: int) -> None:
    from vmgym.timeline import plot_timeline

    try:
        plot_timeline(series, path, title, frames)
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}")
    err.print(f"wrote {path}", highlight=False)


def _check_agents(names: list[str]) -> None:
    """Load every ``agent:`` entry up front, so a bad model fails before any run."""
    problem = check_agents(names)
    if problem:
        fail(problem)


def _write_csv(fh, rows) -> None:
    writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _print_compare(rows, name: str, frames: int, pf: Prefetcher) -> None:
    with_pf = pf.name != "none"
    title = f"{name}, {frames} frames" + (f", prefetch {pf!r}" if with_pf else "")
    table = Table(title=title)
    headers = {
        "policy": "policy",
        "misses": "misses",
        "minor_faults": "minor",
        "major_faults": "major",
        "hit_ratio": "hit ratio",
        "swap_outs": "swap-outs",
        "file_writebacks": "file wb",
        "time_ns": "sim time",
        "lru_to_opt": "LRU→OPT",
        "prefetch_issued": "prefetched",
        "prefetch_used": "used",
        "prefetch_wasted": "wasted",
    }
    cols = [c for c in COLUMNS if with_pf or not c.startswith("prefetch_")]
    for c in cols:
        table.add_column(headers[c], justify="left" if c == "policy" else "right", no_wrap=True)
    for r in rows:
        gap = r["lru_to_opt"]
        fmt = {
            "hit_ratio": f"{r['hit_ratio']:.4f}",
            "time_ns": f"{r['time_ns'] / 1e9:.3f} s",
            "lru_to_opt": "n/a" if gap is None else f"{100 * gap:.1f} %",
        }
        table.add_row(*(fmt.get(c, str(r[c])) for c in cols))
    out().print(table)


@app.command("ceiling")
def ceiling_cmd(
    workload: WorkloadOpt = "default",
    frames: FramesOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", help="Candidates per decision.")] = 16,
    sources: Annotated[
        str, typer.Option("--candidates", "-c", help="Candidate sources, comma-separated.")
    ] = "lru,random,mix",
    seed: Annotated[int, typer.Option(help="Seed of the random candidate samples.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """How much of the LRU-to-OPT gap an agent could close: Belady's choice among the candidates.

    Large trace files and long generated workloads stream (the env reads them chunk by chunk).
    """
    from vmgym.envs import SOURCES, ceiling

    chosen = [s.strip() for s in sources.split(",") if s.strip()]
    for source in chosen:  # every name checked before any work
        if source not in SOURCES:
            fail(f"unknown candidate source {source!r}; choose from: {', '.join(SOURCES)}")
    wl, cfg = _load(workload, frames, None, None, stream=True, arrays=False, long=True)
    rows = []
    for source in chosen:
        err.print(f"oracle over {k} {source} candidates ...")
        try:
            rows.append(ceiling(wl, cfg.to_dict(), k=k, candidates=source, seed=seed))
        except ValueError as e:  # the env's one-line errors (a workload that fits in RAM, a bad k)
            fail(str(e))
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{wl.name}, {cfg.frames} frames: Belady among K={k} candidates")
    for col in ("candidates", "misses", "LRU", "OPT", "LRU→OPT"):
        table.add_column(col, justify="left" if col == "candidates" else "right")
    for r in rows:
        gap = "n/a" if r["lru_to_opt"] is None else f"{100 * r['lru_to_opt']:.1f} %"
        table.add_row(r["candidates"], str(r["misses"]), str(r["lru_misses"]), str(r["opt_misses"]), gap)
    out().print(table)


@app.command("compile")
def compile_cmd(
    policy_list: Annotated[
        str, typer.Option("--policies", "-p", help="Comma-separated policy names, or 'all'.")
    ] = "all",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel compile processes.")] = 0,
) -> None:
    """Compile the simulator for these policies into numba's cache (once per machine and version).

    A policy family (``vmgym policies``) shares one compiled flow; a cold compile
    takes ~10-35 s per flow on one core, a warm start well under a second.
    """
    try:
        names = [None, *parse_policies(policy_list)]
    except policies.PolicyError as e:
        fail(str(e))
    runs = by_flow(names)
    with progress() as bar:
        task = bar.add_task("compiling", total=job_count(names))

        def done(name: str, secs: float) -> None:
            members = ", ".join(n or "external" for n in runs.get(name, []))
            bar.console.print(f"{name:>12}  {secs:6.1f} s  {members}")
            bar.advance(task)

        compile_flows(names, jobs=jobs or os.cpu_count() or 1, on_done=done)


@app.command("policies")
def policies_cmd() -> None:
    """List the replacement policies with their sources."""
    table = Table()
    table.add_column("name")
    table.add_column("aliases")
    table.add_column("source")
    table.add_column("flow")
    for name in policies.names():
        cls = policies.get_class(name)
        table.add_row(name, ", ".join(cls.aliases), cls.source, cls.flow_family or name)
    out().print(table)


@app.command("prefetchers")
def prefetchers_cmd() -> None:
    """List the prefetchers with their parameters and sources."""
    table = Table()
    for c in ("name", "aliases", "parameters (defaults)", "source"):
        table.add_column(c)
    for name in prefetch_names():
        pf = make_prefetcher(name)
        params = ", ".join(f"{k}={v}" for k, v in pf.values.items()) or "-"
        table.add_row(name, ", ".join(pf.aliases), params, pf.source)
    out().print(table)


@workloads_app.command("list")
def workloads_list() -> None:
    """List the named workloads and the suites."""
    table = Table(title="workloads (-w NAME, NAME:key=value,...)")
    table.add_column("name")
    table.add_column("frames hint", justify="right")
    table.add_column("description")
    for name, desc, frames in registry.describe():
        table.add_row(name, str(frames), desc)
    out().print(table)
    try:
        rows = suites.describe()
    except WorkloadError as e:
        fail(str(e))
    st = Table(title="suites (-w SUITE/ENTRY; workloads/suites/*.toml)")
    st.add_column("suite")
    st.add_column("description")
    st.add_column("entries")
    for name, desc, labels in rows:
        st.add_row(name, desc, ", ".join(labels))
    out().print(st)


def main() -> None:
    """Entry point of the ``vmgym`` script."""
    app()


if __name__ == "__main__":
    main()
