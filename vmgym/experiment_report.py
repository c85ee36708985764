"""``DIR/report.md``: an experiment folder as markdown, ready for a paper draft or an issue.

The spec (as TOML-like key lists), the versions from ``record.json``, one table per
workload (policies x frames entries: mean misses over seeds and the gap closed
between LRU and OPT) and links to the figures of :mod:`vmgym.experiment_plot`
that exist in the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vmgym.experiment import ExperimentError
from vmgym.experiment_plot import FIGURES, _ordered, summarise
from vmgym.experiment_run import read_results


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "-"
    misses = f"{s['misses']:,.0f}" if s["misses"] == int(s["misses"]) else f"{s['misses']:,.1f}"
    gap = "n/a" if s["gap"] is None else f"{100 * s['gap']:.1f} %"
    return f"{misses} ({gap})"


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    lines = []
    for table, values in spec.items():
        lines.append(f"[{table}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in values.items())
    return lines


def render(out: str | Path) -> str:
    """The report's markdown text."""
    out = Path(out)
    try:
        rec = json.loads((out / "record.json").read_text())
        spec = rec["config"]["spec"]
    except FileNotFoundError:
        raise ExperimentError(f"{out}/record.json: no such file; not an experiment folder") from None
    except (ValueError, KeyError, TypeError):
        raise ExperimentError(f"{out}/record.json: not an experiment record") from None
    rows = read_results(out)
    stats = summarise(rows)
    name = rec["config"].get("name") or spec.get("experiment", {}).get("name", out.name)
    seeds = sorted({r["seed"] for r in rows if r["seed"] is not None})
    lines = [f"# Experiment {name}", ""]
    lines += [
        f"{len(rows)} cells; seeds {', '.join(map(str, seeds)) or '-'} (workloads without a seed "
        f"parameter run once); created {rec.get('created', '?')}. Each cell: misses (accesses that "
        "faulted), mean over seeds, and in brackets the gap closed between LRU (0 %) and OPT (100 %).",
        "",
        "## Spec",
        "",
        "```toml",
        *_spec_lines(spec),
        "```",
        "",
        "## Versions",
        "",
        "| package | version |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rec.get("versions", {}).items()),
        "",
        "## Results",
    ]
    pols, frames = _ordered(rows, "policy"), _ordered(rows, "frames")
    for w in _ordered(rows, "workload"):
        lines += ["", f"### {w}", ""]
        lines.append("| policy | " + " | ".join(f"{f} frames" for f in frames) + " |")
        lines.append("|---|" + "---:|" * len(frames))
        for p in pols:
            lines.append(f"| {p} | " + " | ".join(_cell(stats.get((w, p, f))) for f in frames) + " |")
    figures = [p for stem in FIGURES for p in sorted(out.glob(f"{stem}.*")) if p.suffix in (".png", ".svg")]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{p.stem.replace('_', ' ')}]({p.name})" for p in figures]
    else:
        lines += ["", f"(No figures yet: `vmgym experiment plot {out}` draws them.)"]
    return "\n".join(lines) + "\n"


def write_report(out: str | Path) -> Path:
    """Write ``out/report.md``; return its path."""
    path = Path(out) / "report.md"
    text = render(out)
    try:
        path.write_text(text)
    except OSError as e:
        raise ExperimentError(f"cannot write {path}: {e.strerror or e}") from None
    return path
