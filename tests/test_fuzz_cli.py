"""Property tests of the CLI options that take a value: exit 0, or exit 2 with a one-line error.

The simulations themselves are stubbed out (``Simulator.run`` and ``compare`` fail with a
marker), so every option is parsed and validated, the workload resolved and the machine
built, without compiling a kernel. ``mrc`` runs for real on tiny workloads.
"""

from __future__ import annotations

import traceback
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vmgym import cli
from vmgym.sim import SimulationError

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
runner = CliRunner()
NUMBERS = [
    "0",
    "1",
    "-1",
    "3",
    "50",
    "2.5",
    "1e9",
    "nan",
    "inf",
    "9" * 25,
    "-9223372036854775809",
    "",
    "x",
    "0x10",
]
WORKLOADS = [
    "loop:n_pages=30,length=300",
    "zipf:pages=50,length=300",
    "zipf:length=-1",
    "zipf:length=99999999999999999999",
    "zipf:alpha=nan",
    "zipf:nope=1",
    "zipf:length",
    "train/zipf-a:length=300",
    "train/none",
    "missing.lackey",
    "/",
    "",
    ":",
    "loop:n_pages=1e400",
]
PREFETCH = [
    "none",
    "readahead",
    "readahead:maximum=0",
    "readahead:maximum=9e99",
    "stride:degree=-1",
    "markov:width=x",
    "psychic",
    "",
]
POLICIES = ["lru", "fifo,lru", "all", "bogus", "", ",", "agent:missing.npz", "agent:", "lru,lru"]


def options() -> st.SearchStrategy[list[str]]:
    value = {
        "-w": st.sampled_from(WORKLOADS),
        "-f": st.sampled_from(NUMBERS),
        "--swap-slots": st.sampled_from(NUMBERS),
        "--tlb-entries": st.sampled_from(NUMBERS),
        "--prefetch": st.sampled_from(PREFETCH),
        "-p": st.sampled_from(POLICIES),
    }
    pair = st.sampled_from(sorted(value)).flatmap(lambda k: st.tuples(st.just(k), value[k]))
    return st.lists(pair, max_size=5).map(lambda pairs: [x for p in pairs for x in p])


def check(res) -> None:
    """Exit 0, or exit 2 (typer's usage errors too) with one line of error; never a traceback."""
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(res.exception)))
    assert res.exit_code in (0, 2), (res.exit_code, res.output)
    if res.exit_code == 2:
        errors = [line for line in res.output.splitlines() if "error" in line.lower()]
        assert errors or "Usage" in res.output, res.output
        assert "Traceback" not in res.output, res.output


def _stub_run(self, progress=None):
    raise SimulationError("stub: options accepted")


def _stub_compare(*args, **kwargs):
    raise SimulationError("stub: options accepted")


@FUZZ
@given(command=st.sampled_from(["run", "compare"]), args=options())
def test_run_and_compare_options(command, args):
    with mock.patch.object(cli.Simulator, "run", _stub_run), mock.patch.object(cli, "compare", _stub_compare):
        res = runner.invoke(cli.app, [command, *args])
    check(res)
    if res.exit_code == 2 and "stub" not in res.output:
        assert res.output.count("error:") <= 1, res.output


@settings(FUZZ, max_examples=60)
@given(
    policy=st.sampled_from(["lru", "opt", "lru,opt", "fifo", ""]),
    sizes=st.sampled_from([None, "1,2,3", "0", "-1", "x", "5,,6", "9" * 25, ""]),
    max_frames=st.sampled_from([None, *NUMBERS]),
    sample=st.sampled_from([None, "0.5", "0", "2", "nan", "x"]),
)
def test_mrc_options(policy, sizes, max_frames, sample):
    args = ["mrc", "-w", "loop:n_pages=30,length=300", "-p", policy]
    for opt, val in (("--sizes", sizes), ("--max-frames", max_frames), ("--sample", sample)):
        if val is not None:
            args += [opt, val]
    check(runner.invoke(cli.app, args))


def test_out_option_unwritable(tmp_path):
    """--out onto an existing file is a one-line error, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with mock.patch.object(cli, "compare", lambda *a, **k: []):
        res = runner.invoke(
            cli.app, ["compare", "-w", "loop:n_pages=30,length=300", "--out", str(blocker / "sub")]
        )
    check(res)
    assert res.exit_code == 2 and "cannot write the results" in res.output


def test_out_is_replaced_atomically(tmp_path, monkeypatch):
    """A write killed half-way leaves the old record.json and results.csv whole (and no temp file)."""
    import os

    from vmgym import records

    rows = [{"policy": "lru", "misses": 1}]
    with mock.patch.object(cli, "compare", lambda *a, **k: rows):
        res = runner.invoke(
            cli.app, ["compare", "-w", "loop:n_pages=30,length=300", "--out", str(tmp_path), "--csv"]
        )
    assert res.exit_code == 0, res.output
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(old) == {"record.json", "results.csv"}

    def killed(src, dst):  # the process dies after writing the temporary file, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(records.os, "replace", killed)
    rows[0]["misses"] = 2
    with mock.patch.object(cli, "compare", lambda *a, **k: rows):
        runner.invoke(
            cli.app, ["compare", "-w", "loop:n_pages=30,length=300", "--out", str(tmp_path), "--csv"]
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old
    monkeypatch.undo()
    path = records.write_record(tmp_path, {"x": 1})
    assert path.read_text() == '{\n  "x": 1\n}\n' and sorted(os.listdir(tmp_path)) == [
        "record.json",
        "results.csv",
    ]
