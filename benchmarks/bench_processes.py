"""A trace of several pids, end to end: ``vmgym run`` streamed against the same file loaded whole.

A plain trace (``pid op address`` lines) of ``--refs`` references from ``--procs`` processes
(``bench_sim.multi_process``: Zipf(0.9) over 10k pages split among them, seed 42) written
interleaved by tick. Both sides run the whole command under ``/usr/bin/time`` (wall seconds,
peak RSS): *streamed* is ``vmgym run`` as a user types it (a file of 64 MiB or more streams,
``workloads.spec.STREAM_TRACES_FROM``), *whole* the same command with that threshold raised
so the file is loaded whole. The two must print the same statistics (checked).
``--convert csv`` also times ``vmgym trace convert`` of the file (streamed in tick order,
``workloads.tick_order``) against ``write_trace(load_trace(...))``; the two files must be the
same bytes (checked). ``--policies ''`` skips the runs.

    .venv/bin/python benchmarks/bench_processes.py [--refs 10000000] [--procs 4] [--repeat 3]
        [--policies lru,opt] [--convert csv]
"""

from __future__ import annotations

import argparse
import filecmp
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

CLI = [sys.executable, "-m", "vmgym.cli"]
CONVERT_WHOLE = """
import sys
from workloads.traces import load_trace, write_trace
write_trace(load_trace(sys.argv[1]), sys.argv[2])
"""


def _report(what: str, side: str, times: list[float], peaks: list[float]) -> None:
    print(f"{what:11s} {side:8s} median {statistics.median(times):6.2f} s  peak RSS {max(peaks):6.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=10_000_000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", default="lru,opt")
    ap.add_argument("--convert", default="", help="output formats to convert the trace to (e.g. csv)")
    args = ap.parse_args()
    from workloads.traces import write_trace

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "procs.txt"
        wl = multi_process(zipf_pages(10_000, args.refs, 0.9, 42), args.procs, 10_000, 0.3, 42)
        write_trace(wl, path, "plain")
        del wl
        size = path.stat().st_size / 2**20
        print(f"{size:.0f} MiB plain trace, {args.refs:,} references, {args.procs} pids")
        for policy in filter(None, args.policies.split(",")):
            run = ["run", "-w", str(path), "-p", policy, "-f", "1000", "--tlb-entries", "0", "--json"]
            cmds = {
                "streamed": [*CLI, *run],
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
                _report(policy, side, times[side], peaks[side])
        for fmt in filter(None, args.convert.split(",")):
            outs = {side: f"{tmp}/{side}.{fmt}" for side in ("streamed", "whole")}
            cmds = {
                "streamed": [*CLI, "trace", "convert", str(path), outs["streamed"]],
                "whole": [sys.executable, "-c", CONVERT_WHOLE, str(path), outs["whole"]],
            }
            times = {k: [] for k in cmds}
            peaks = {k: [] for k in cmds}
            for _ in range(args.repeat):
                for side, cmd in cmds.items():
                    wall, rss, _out = timed(cmd)
                    times[side].append(wall)
                    peaks[side].append(rss)
            if not filecmp.cmp(outs["streamed"], outs["whole"], shallow=False):
                raise SystemExit(f"convert to {fmt}: streamed and whole files differ")
            for side in cmds:
                _report(f"convert {fmt}", side, times[side], peaks[side])


if __name__ == "__main__":
    main()
