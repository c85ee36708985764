"""A trace of several pids, end to end: ``vmgym run`` streamed against the same file loaded whole.

A plain trace (``pid op address`` lines) of ``--refs`` references from ``--procs`` processes
(``bench_sim.multi_process``: Zipf(0.9) over 10k pages split among them, seed 42) written
interleaved by tick. Both sides run the whole command under ``/usr/bin/time`` (wall seconds,
peak RSS): *streamed* is ``vmgym run`` as a user types it (a file of 64 MiB or more streams,
``workloads.spec.STREAM_TRACES_FROM``), *whole* the same command with that threshold raised
so the file is loaded whole. The two must print the same statistics (checked).

    .venv/bin/python benchmarks/bench_processes.py [--refs 10000000] [--procs 4] [--repeat 3]
        [--policies lru,opt]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sim import multi_process, zipf_pages  # noqa: E402
from bench_stream import timed  # noqa: E402

WHOLE = """
import sys
import workloads.spec
from vmgym.cli import app
workloads.spec.STREAM_TRACES_FROM = 1 << 62
app(sys.argv[1:])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=10_000_000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", default="lru,opt")
    args = ap.parse_args()
    from workloads.traces import write_trace

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "procs.txt"
        wl = multi_process(zipf_pages(10_000, args.refs, 0.9, 42), args.procs, 10_000, 0.3, 42)
        write_trace(wl, path, "plain")
        del wl
        size = path.stat().st_size / 2**20
        print(f"{size:.0f} MiB plain trace, {args.refs:,} references, {args.procs} pids")
        for policy in args.policies.split(","):
            run = ["run", "-w", str(path), "-p", policy, "-f", "1000", "--tlb-entries", "0", "--json"]
            cmds = {
                "streamed": [sys.executable, "-m", "vmgym.cli", *run],
                "whole": [sys.executable, "-c", WHOLE, *run],
            }
            times: dict[str, list[float]] = {k: [] for k in cmds}
            peaks: dict[str, list[float]] = {k: [] for k in cmds}
            outputs: dict[str, dict] = {}
            for _ in range(args.repeat):
                for side, cmd in cmds.items():
                    wall, rss, out = timed(cmd)
                    times[side].append(wall)
                    peaks[side].append(rss)
                    outputs[side] = json.loads(out)["results"]  # (not the run's time stamp)
            if outputs["streamed"] != outputs["whole"]:
                raise SystemExit(f"{policy}: streamed and whole runs differ")
            for side in cmds:
                print(
                    f"{policy:5s} {side:8s} median {statistics.median(times[side]):6.2f} s  "
                    f"peak RSS {max(peaks[side]):6.0f} MB"
                )


if __name__ == "__main__":
    main()
