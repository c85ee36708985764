"""Generated workloads end to end: ``vmgym run`` streamed from the generator against loaded whole.

Each ``--workloads`` spec (a registered generator with a streamed version: ``stack-heap``
with its mmap/munmap events, ``fork-server`` with its forked workers, ``zipf``, ...) runs as
a user types it, ``python -m vmgym.cli run -w SPEC -p P -f F --json``, which streams it
(``workloads.streamgen``, ``vmgym.streaming``), and as the same command with streaming
turned off (the workload built whole and loaded by ``vmgym.sim.loader``), each under
``/usr/bin/time`` (wall seconds, peak RSS). The two must print the same results
(checked). Runs alternate between the two sides, ``--repeat`` rounds; the table gives
the median and the range.

    .venv/bin/python benchmarks/bench_generated.py [--workloads SPEC;SPEC] [--policies lru,opt]
        [--frames 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stream import timed  # noqa: E402

WHOLE = """
import sys
import vmgym.cli
vmgym.cli.resolve_stream = lambda *args, **kwargs: None  # the workload is built and loaded whole
vmgym.cli.app(sys.argv[1:])
"""

DEFAULT = "stack-heap:steps=20000,refs_per_step=1000;fork-server:length_per_proc=4000000"


def _results(stdout: str) -> list:
    return json.loads(stdout)["results"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=DEFAULT, help="workload specs separated by ';'")
    ap.add_argument("--policies", default="lru")
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sides = {
        "streamed": [sys.executable, "-m", "vmgym.cli"],
        "whole": [sys.executable, "-c", WHOLE],
    }
    print("| workload | policy | streamed s | streamed MB | whole s | whole MB |")
    print("|---|---|---|---|---|---|")
    for spec in args.workloads.split(";"):
        for policy in args.policies.split(","):
            times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            outputs: dict[str, list] = {}
            for _ in range(args.repeat):
                for side, cmd in sides.items():
                    wall, rss, out = timed(
                        [*cmd, "run", "-w", spec, "-p", policy, "-f", str(args.frames), "--json"]
                    )
                    times[side].append((wall, rss))
                    outputs[side] = _results(out)
            if outputs["streamed"] != outputs["whole"]:
                raise SystemExit(f"{spec} {policy}: the streamed and the whole run differ")
            cells = []
            for side in sides:
                walls = [w for w, _ in times[side]]
                cells.append(f"{statistics.median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f})")
                cells.append(f"{max(r for _, r in times[side]):,.0f}")
            print(f"| {spec} | {policy} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
