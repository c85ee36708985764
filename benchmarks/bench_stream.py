"""End to end: the whole ``vmgym run`` command beside a whole libCacheSim process, and peak memory.

What the user sees, process start to printed result (import, read, load, simulate, report),
timed from outside with ``/usr/bin/time`` (wall seconds and peak RSS of each run):

- vmgym: ``python -m vmgym.cli run -w trace.npy -p P -f 1000`` with ``--tlb-entries 0`` (*lean*)
  or the default machine (*full*: 64-entry TLB, swap, costs);
- libCacheSim (PyPI ``libcachesim``): a Python process that opens the same references as an
  oracleGeneral file, runs ``cache.process_trace(reader)`` and prints the miss ratio.

The trace is the README's Zipf(0.9) over 10k pages (``bench_sim.zipf_pages``, seed 42) at two
lengths; the *marginal* rate is ``(long - short) / (t_long - t_short)`` over the best (minimum)
times of ``--repeat`` runs, so process start and imports cancel out. The minimum, as ``timeit``
advises: on a shared machine interference only ever adds time, and the difference of two medians
doubles its noise (``--stat median`` for medians). The two sides run in rounds (vmgym then libCacheSim, each
length), so machine drift hits both. ``--scale N`` also runs ``vmgym run -w zipf:length=N -p lru``
(streamed from the generator) and prints its time and peak RSS.

    .venv/bin/python benchmarks/bench_stream.py [--short 1000000] [--long 6000000] [--repeat 3]
        [--policies lru,clock,arc,opt] [--stat min] [--scale 100000000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_libcachesim import LCS_POLICIES, write_oracle_general  # noqa: E402
from bench_sim import zipf_pages  # noqa: E402

LCS_SCRIPT = """
import sys, libcachesim as lcs
sys.path.insert(0, {bench!r})
from bench_libcachesim import LCS_POLICIES
reader = lcs.TraceReader(sys.argv[1], lcs.TraceType.ORACLE_GENERAL_TRACE)
print(LCS_POLICIES[sys.argv[2]](int(sys.argv[3]), 16).process_trace(reader)[0])
"""


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one run of ``cmd`` under ``/usr/bin/time``."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "@@ %e %M", *cmd], capture_output=True, text=True, check=False
    )
    line = next(x for x in out.stderr.splitlines() if x.startswith("@@ "))
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    _, wall, rss = line.split()
    return float(wall), int(rss) / 1024, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=1_000_000)
    ap.add_argument("--long", type=int, default=6_000_000)
    ap.add_argument("--frames", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", default="lru,clock,arc,opt")
    ap.add_argument("--stat", choices=("min", "median"), default="min", help="estimator over the repeats")
    ap.add_argument("--scale", type=int, default=0, help="also run zipf:length=N, streamed (0: no)")
    args = ap.parse_args()
    py = sys.executable
    bench_dir = str(Path(__file__).resolve().parent)
    lcs_script = LCS_SCRIPT.format(bench=bench_dir)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for n in (args.short, args.long):
            pages = zipf_pages(10_000, n, 0.9, 42)
            np.save(f"{tmp}/zipf{n}.npy", pages)
            write_oracle_general(pages, f"{tmp}/zipf{n}.oracleGeneral")
            files[n] = (f"{tmp}/zipf{n}.npy", f"{tmp}/zipf{n}.oracleGeneral")
        stat = min if args.stat == "min" else statistics.median
        print(
            f"marginal M refs/s = ({args.long:,} - {args.short:,}) refs / difference of the {args.stat} "
            f"wall times of {args.repeat} runs"
        )
        print(
            "| policy | vmgym lean | vmgym full | libCacheSim | lean / lcs | full / lcs | peak RSS lean MB |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for policy in args.policies.split(","):
            t: dict[tuple[str, int], list[float]] = {}
            rss: list[float] = []

            def run_cmd(n: int, p: str = policy) -> list[str]:
                return [py, "-m", "vmgym.cli", "run", "-w", files[n][0], "-p", p, "-f", str(args.frames)]

            cmds = {
                "lean": lambda n: [*run_cmd(n), "--tlb-entries", "0"],
                "full": run_cmd,
                "lcs": lambda n, p=policy: [py, "-c", lcs_script, files[n][1], p, str(args.frames)],
            }
            for side in cmds:  # warm-up: compile caches, page cache
                timed(cmds[side](args.short))
            for _ in range(args.repeat):
                for side, make in cmds.items():
                    for n in (args.short, args.long):
                        wall, peak, _ = timed(make(n))
                        t.setdefault((side, n), []).append(wall)
                        if side == "lean" and n == args.long:
                            rss.append(peak)
            rate = {}
            for side in cmds:
                dt = stat(t[(side, args.long)]) - stat(t[(side, args.short)])
                rate[side] = (args.long - args.short) / dt / 1e6 if dt > 0 else float("inf")
            print(
                f"| {policy} | {rate['lean']:.1f} | {rate['full']:.1f} | {rate['lcs']:.1f} | "
                f"{rate['lean'] / rate['lcs']:.2f}x | {rate['full'] / rate['lcs']:.2f}x | {max(rss):.0f} |"
            )
        if args.scale:
            wall, peak, _ = timed(
                [py, "-m", "vmgym.cli", "run", "-w", f"zipf:length={args.scale}", "-p", "lru"]
            )
            print(
                f"\nzipf:length={args.scale:,} -p lru (streamed, full machine): {wall:.1f} s, "
                f"peak RSS {peak:.0f} MB, {args.scale / wall / 1e6:.1f} M refs/s end to end"
            )


if __name__ == "__main__":
    assert set(LCS_POLICIES) >= {"lru", "clock", "arc", "opt"}
    main()
