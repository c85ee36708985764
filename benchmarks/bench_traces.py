"""Time the trace readers: a synthetic valgrind lackey log of a few million lines, and more.

Run: .venv/bin/python benchmarks/bench_traces.py [--lines N] [--repeat N] [--keep DIR]

The lackey log imitates real valgrind output: instruction fetches walking through a
code region (``I  0400d7d4,3``) mixed with loads, stores and modifies (`` L``/`` S``/
`` M``) on a stack and a Zipf-popular heap, plus the ``==pid==`` banner. Prints the
best-of-``--repeat`` wall time, lines/s, references/s (an ``M`` line is two references,
an access straddling a page boundary one per page; the issue's target is 2M references/s)
and MB/s for reading it (``collapse=True``, the default, and ``collapse=False``), then
the same references written to the other formats and read back. A warm-up read first
loads (or compiles) the numba kernels.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from workloads import traces
from workloads.generators import zipf_ranks


def best_of(repeat: int, fn):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def synthetic_lackey(path: Path, lines: int, seed: int = 1) -> None:
    """Write a lackey-like log of ``lines`` trace lines."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=lines, p=[0.55, 0.25, 0.12, 0.08])  # I, L, S, M
    pc = 0x0400_0000 + (np.cumsum(rng.integers(1, 8, size=lines)) % (1 << 20))
    heap = 0x0500_0000 + zipf_ranks(rng, 50_000, 0.9, lines) * 64
    stack = 0x1F_FF00_0000 - rng.integers(0, 1 << 14, size=lines)
    data = np.where(rng.random(lines) < 0.5, heap, stack)
    addr = np.where(kind == 0, pc, data)
    size = np.where(kind == 0, rng.integers(1, 8, size=lines), rng.choice([1, 2, 4, 8], size=lines))
    prefix = np.array(["I  ", " L ", " S ", " M "])[kind]
    with open(path, "w") as fh:
        fh.write("==4242== Lackey, an example Valgrind tool\n==4242== Command: ./synthetic\n==4242== \n")
        step = 1 << 20
        for lo in range(0, lines, step):
            hi = min(lo + step, lines)
            body = np.char.add(
                np.char.add(prefix[lo:hi], np.char.mod("%08x", addr[lo:hi])),
                np.char.add(",", size[lo:hi].astype(str)),
            )
            fh.write("\n".join(body.tolist()))
            fh.write("\n")
        fh.write("==4242== \n==4242== Exit code:       0\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the files here instead of a temp dir")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        src = root / "synthetic.lackey"
        t = time.perf_counter()
        synthetic_lackey(src, args.lines)
        mb = src.stat().st_size / 1e6
        print(f"generated {src.name}: {args.lines:,} lines, {mb:.0f} MB in {time.perf_counter() - t:.1f} s")
        traces.load_trace(src, max_refs=1000)  # warm-up: compile or load the kernels

        parsed = traces.load_trace(src, collapse=False).references  # references in the log
        for collapse in (True, False):
            secs, w = best_of(args.repeat, lambda c=collapse: traces.load_trace(src, collapse=c))
            rate = parsed / secs
            print(
                f"lackey read (collapse={collapse!s:5}): {secs:6.3f} s  "
                f"{args.lines / secs / 1e6:6.1f} M lines/s  {rate / 1e6:6.1f} M refs/s  "
                f"{mb / secs:6.0f} MB/s  -> {w.references:,} references  "
                f"[target >= 2 M refs/s: {'ok' if rate >= 2e6 else 'MISSED'}]"
            )

        w = traces.load_trace(src, collapse=False)
        for name in ("t.txt", "t.din", "t.csv", "t.lcs.txt", "t.oracleGeneral.zst", "t.npz", "t.txt.zst"):
            dst = root / name
            fmt = "lcs-txt" if name == "t.lcs.txt" else None
            traces.write_trace(w, dst, fmt)  # warm-up (compiles the writer once)
            wsecs, _ = best_of(1, lambda d=dst, f=fmt: traces.write_trace(w, d, f))
            traces.load_trace(dst, fmt, max_refs=10)
            secs, back = best_of(args.repeat, lambda d=dst, f=fmt: traces.load_trace(d, f, collapse=False))
            print(
                f"{name:22} write {wsecs:6.3f} s, read {secs:6.3f} s  "
                f"{back.references / secs / 1e6:6.1f} M refs/s  {dst.stat().st_size / 1e6:7.1f} MB"
            )

        traces.info(traces.load_trace(src, max_refs=1000))
        secs, _ = best_of(1, lambda: traces.info(w))
        print(f"info (exact stack distances) on {w.references:,} references: {secs:.2f} s")


if __name__ == "__main__":
    main()
