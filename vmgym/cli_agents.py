"""``vmgym train``, ``vmgym evaluate`` and ``vmgym agents``: learned agents from the command line.

The package :mod:`agents` (and torch with it) is imported inside the commands,
so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vmgym._console import emit_results, err, fail, out

AgentOpt = Annotated[
    str,
    typer.Option(
        "--agent", "-a", help="A shipped model (default) or a model file (model.npz; SB3 model.zip)."
    ),
]


def train_cmd(
    config: Annotated[
        Path, typer.Argument(help="Training config (TOML); see agents/pretrained/default.toml.")
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder [default: runs/<config name>].")
    ] = None,
) -> None:
    """Train an agent from a config into a run folder; rerun the same command to resume after a kill.

    The folder gets the model, config.json, record.json (versions, validation
    results), checkpoints/ and tb/ (``tensorboard --logdir`` on the folder).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from agents import AgentError
    from agents.train import load_config, train

    target = out_dir or Path("runs") / config.stem
    try:
        cfg = load_config(config)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err,
        ) as bar:  # fmt: skip
            task = bar.add_task(f"training {cfg.algorithm}", total=None)
            model = train(
                cfg, target, log=lambda msg: bar.console.print(msg, highlight=False),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    except AgentError as e:
        fail(str(e))
    except KeyboardInterrupt:
        err.print(f"interrupted: rerun the same command to resume from the last checkpoint in {target}")
        raise typer.Exit(130) from None
    out().print(f"model: {model}")


def evaluate_cmd(
    agent: AgentOpt = "default",
    suite: Annotated[str, typer.Option("--suite", "-s", help="A bundled suite or a suite .toml.")] = "test",
    baselines: Annotated[
        str, typer.Option("--baselines", "-b", help="Classic policies beside the agent, comma-separated.")
    ] = "lru,clock,arc,lirs,s3fifo,opt",
    seed: Annotated[int, typer.Option(help="Seed of the env (random candidate samples).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Also write record.json and results.csv here.")
    ] = None,
) -> None:
    """Evaluate an agent on a suite beside classic policies and the candidate ceiling (LRU->OPT gap)."""
    from agents import AgentError, load
    from agents.evaluate import evaluate, summary
    from agents.imitation import suite_entries
    from vmgym.compare import parse_policies
    from vmgym.policies import PolicyError
    from vmgym.records import record
    from vmgym.sim import SimulationError

    try:
        model = load(agent)
        names = [n for n in parse_policies(baselines) if not n.startswith("agent:")]
        entries = suite_entries(suite)
    except (AgentError, PolicyError) as e:
        fail(str(e))
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if model.env_id != "vmgym/PageReplacement-v0":
        _evaluate_prefetcher(model, agent, suite, entries, seed, as_json, as_csv, out_dir)
        return
    total = len(entries) * (1 + len(names))
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=err, transient=True
        ) as bar:
            task = bar.add_task(f"{model.label} on {suite}", total=total)
            rows = evaluate(
                [model], entries, baselines=names, seed=seed, on_done=lambda label, name: bar.advance(task)
            )
    except (AgentError, SimulationError) as e:
        fail(str(e))
    rec = record(
        "evaluate",
        {"agent": agent, "suite": suite, "baselines": names, "seed": seed, "model": model.describe()},
        {"rows": rows, "summary": summary(rows)},
    )
    title = f"{model.label} on suite {suite}: % of the LRU->OPT gap closed (misses)"
    emit_results(rec, rows, out_dir, as_json, as_csv, _csv, lambda: _table(rows, title))


def _evaluate_prefetcher(model, agent: str, suite: str, entries, seed: int, as_json, as_csv, out_dir) -> None:
    """A Prefetch-v0 / MemoryManager-v0 agent beside no prefetching, readahead and stride."""
    from agents.evaluate import PREFETCH_BASELINES, evaluate_prefetch, prefetch_summary
    from vmgym.records import record

    rows = evaluate_prefetch([model], entries, seed=seed)
    rec = record(
        "evaluate",
        {"agent": agent, "suite": suite, "prefetchers": list(PREFETCH_BASELINES), "seed": seed},
        {"rows": rows, "summary": prefetch_summary(rows)},
    )
    emit_results(rec, rows, out_dir, as_json, as_csv, _csv, lambda: _prefetch_table(model.label, suite, rows))


def _grid(rows, title: str, cell) -> tuple[Table, list[str]]:
    """A table of ``rows``: one line per workload, one column per policy, ``cell(row)`` in each."""
    names = list(dict.fromkeys(r["policy"] for r in rows))
    table = Table(title=title)
    table.add_column("workload")
    for n in names:
        table.add_column(n, justify="right")
    for label in dict.fromkeys(r["workload"] for r in rows):
        by_policy = {x["policy"]: x for x in rows if x["workload"] == label}
        table.add_row(label, *(cell(by_policy[n]) for n in names))
    return table, names


def _prefetch_table(label: str, suite: str, rows) -> None:
    from agents.evaluate import prefetch_summary

    title = f"{label} on suite {suite}: simulated time / no prefetching (major faults)"
    table, names = _grid(rows, title, lambda r: f"{r['time_vs_none']:.3f} ({r['major_faults']:,})")
    s = prefetch_summary(rows)
    table.add_row("mean", *(f"{s[n]['mean']:.3f}" for n in names))
    out().print(table)


def agents_cmd() -> None:
    """List the agent kinds that can be trained and the shipped models."""
    import agents

    table = Table(title="agent kinds (the algorithm key of a vmgym train config)")
    table.add_column("name")
    table.add_column("aliases")
    table.add_column("source")
    for name in agents.names():
        cls = agents.get_class(name)
        table.add_row(name, ", ".join(cls.aliases), cls.source)
    out().print(table)
    out().print("shipped models (--agent NAME, -p agent:NAME): " + ", ".join(agents.pretrained()))


def _csv(fh, rows) -> None:
    writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["workload"])
    writer.writeheader()
    writer.writerows(rows)


def _table(rows, title: str) -> None:
    from agents.evaluate import summary

    def cell(r) -> str:
        gap = "n/a" if r["lru_to_opt"] is None else f"{100 * r['lru_to_opt']:.1f} %"
        return f"{gap} ({r['misses']:,})"

    table, policies = _grid(rows, title, cell)
    s = summary(rows)
    table.add_row("mean", *(f"{100 * s[p]['mean']:.1f} %" if p in s else "n/a" for p in policies))
    table.add_row("worst", *(f"{100 * s[p]['min']:.1f} %" if p in s else "n/a" for p in policies))
    out().print(table)


def register(app: typer.Typer) -> None:
    """Add the agent commands to the ``vmgym`` app."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("agents")(agents_cmd)
