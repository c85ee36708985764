"""Coverage-guided fuzzing of the binary trace readers (oracleGeneral, npy, npz), not in the suite.

    pip install atheris
    python fuzz/fuzz_binary_readers.py -max_total_time=60        # libFuzzer options pass through

The first input byte picks the format; the rest is the file. Every input must give a
workload or a one-line :class:`~workloads.model.WorkloadError` naming the file; any other
exception is a finding (libFuzzer stops and writes the input to ``crash-*``). A seed corpus
of valid files of each format is written to ``fuzz/corpus/`` on the first run. At the end
the script prints the executions and how many inputs were workloads and how many errors.
"""

from __future__ import annotations

import atexit
import io
import sys
import tempfile
from pathlib import Path

import atheris
import numpy as np
import numpy.lib.format as npformat

from workloads import Workload, traces
from workloads.model import WorkloadError

# Coverage feedback from the readers' Python code and NumPy's header parser. The compiled
# (numba) kernels are left alone: numba cannot compile instrumented bytecode.
_PY_READERS = (
    "load_trace", "_load_numpy", "_from_npy", "_from_npz", "_npz_addresses", "_npz_array",
    "_npz_int64", "_parse_oracle", "_finish", "_ids_to_pages", "_build", "_make_process",
)  # fmt: skip
for _name in _PY_READERS:
    setattr(traces, _name, atheris.instrument_func(getattr(traces, _name)))
for _name in ("read_magic", "_read_array_header", "_filter_header", "read_array"):
    if hasattr(npformat, _name):
        setattr(npformat, _name, atheris.instrument_func(getattr(npformat, _name)))

FORMATS = ("oracleGeneral", "npy", "npz")
SUFFIX = {"oracleGeneral": ".oracleGeneral", "npy": ".npy", "npz": ".npz"}
TMP = Path(tempfile.mkdtemp(prefix="vmgym-fuzz-"))
COUNTS = {"runs": 0, "workloads": 0, "errors": 0}


def seed_corpus(folder: Path) -> None:
    """Valid files of each format (first byte: the format index)."""
    folder.mkdir(parents=True, exist_ok=True)
    wl = Workload.from_pages([7, 0, 1, 2, 0, 3, 0, 4, 100, 5000, 3], [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    for i, fmt in enumerate(FORMATS):
        raw = traces.write_trace(wl, TMP / f"seed{SUFFIX[fmt]}", fmt).read_bytes()
        (folder / f"seed-{fmt}").write_bytes(bytes([i]) + raw)
    buf = io.BytesIO()
    np.savez(buf, pages=np.arange(5), ops=np.array([0, 1, 0, 2, 0], np.int8), page_size=np.int64(4096))
    (folder / "seed-npz-plain").write_bytes(b"\x02" + buf.getvalue())


def test_one_input(data: bytes) -> None:
    """One input: the format byte, then the file."""
    if not data:
        return
    fmt = FORMATS[data[0] % len(FORMATS)]
    path = TMP / f"t{SUFFIX[fmt]}"
    path.write_bytes(data[1:])
    COUNTS["runs"] += 1
    try:
        wl = traces.load_trace(path, fmt)
    except WorkloadError as e:
        msg = str(e)
        if "\n" in msg or str(path) not in msg:
            raise AssertionError(f"not a one-line error naming the file: {msg!r}") from None
        COUNTS["errors"] += 1
        return
    assert wl.references > 0
    COUNTS["workloads"] += 1


def report() -> None:
    """Print the counts (at exit)."""
    print(
        f"fuzz_binary_readers: {COUNTS['runs']} executions, {COUNTS['workloads']} workloads, "
        f"{COUNTS['errors']} one-line errors",
        file=sys.stderr,
    )


def main() -> None:
    """Seed the corpus and fuzz (libFuzzer options from the command line)."""
    corpus = Path(__file__).resolve().parent / "corpus"
    seed_corpus(corpus)
    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):
        args.append(str(corpus))
    if not any(a.startswith("-artifact_prefix=") for a in args[1:]):
        args.insert(1, f"-artifact_prefix={tempfile.gettempdir()}/vmgym-fuzz-")
    atexit.register(report)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
