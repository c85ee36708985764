"""One-pass miss-ratio curves (vmgym.mrc) against per-size simulation, and ``vmgym mrc``."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vmgym import MachineConfig, simulate
from vmgym.cli import app
from vmgym.mrc import (
    MrcError,
    curves,
    lru_misses,
    opt_misses,
    page_ids,
    shards_lru_misses,
)
from workloads import Workload, resolve
from workloads.model import Vma, WorkloadBuilder

runner = CliRunner()

# Silberschatz, Galvin & Gagne, Operating System Concepts 10e, 10.4: 3 frames give
# OPT 9 faults, LRU 12 (Belady's MIN is the optimum of section 10.4.3)
TEXTBOOK = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]

WORKLOADS = [
    "zipf:pages=150,length=4000",
    "loop:pages=60,length=2000",
    "sequential:pages=120,length=500,write_ratio=0.3",
    "scan-hot:hot_pages=40,scan_pages=80,length=5000,scan_every=1000",
    "file-scan:file_pages=70,passes=2,random_ratio=0.2",  # file pages, through a read-only private mmap
    "trace-sort:max_refs=20000",
]


def _simulated(workload: Workload, policy: str, frames: int) -> int:
    cfg = MachineConfig(page_size=workload.page_size, frames=frames, tlb_entries=0)
    return simulate(workload, policy, cfg).misses


def test_textbook_example():
    w = Workload.from_pages(TEXTBOOK)
    ids, m = page_ids(w)
    assert m == 6
    assert lru_misses(ids, m).tolist() == [20, 20, 17, 12, 8, 7, 6]
    assert opt_misses(ids, m).tolist() == [20, 20, 13, 9, 8, 7, 6]
    assert _simulated(w, "opt", 3) == 9 and _simulated(w, "lru", 3) == 12


@pytest.mark.parametrize("name", WORKLOADS)
def test_curves_equal_simulation_at_every_size(name):
    w = resolve(name)
    result, totals = curves(w, ["lru", "opt"])
    m = totals["distinct_pages"]
    assert totals["references"] == w.references
    lru, opt = (c.misses for c in result)
    assert len(lru) == len(opt) == m + 1 and lru[0] == opt[0] == w.references
    assert lru[m] == opt[m] == m  # only cold misses once everything fits
    assert np.all(opt <= lru)
    for c in range(1, m + 2):
        assert lru[min(c, m)] == _simulated(w, "lru", c), (name, "lru", c)
        assert opt[min(c, m)] == _simulated(w, "opt", c), (name, "opt", c)


def _lru_brute(ids, max_frames):
    stack, misses = [], np.zeros(max_frames + 1, np.int64)
    for x in ids:
        d = stack.index(x) if x in stack else len(stack) + max_frames + 1
        misses[: min(d, max_frames) + 1] += 1  # misses at every c <= d
        if x in stack:
            stack.remove(x)
        stack.insert(0, x)
    return misses


def test_lru_kernel_against_a_plain_stack_with_renumbering():
    # 30 pages, 3000 references: the time renumbering runs dozens of times
    rng = np.random.default_rng(1)
    ids = rng.zipf(1.3, 3000) % 30
    ids = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    m = int(ids.max()) + 1
    assert lru_misses(ids, m).tolist() == _lru_brute(ids.tolist(), m).tolist()
    assert lru_misses(ids, m, 7).tolist() == _lru_brute(ids.tolist(), 7).tolist()


def test_truncated_opt_stack_gives_the_same_prefix():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 80, 4000)
    full = opt_misses(ids, 80)
    for cap in (1, 5, 33):
        assert opt_misses(ids, 80, cap).tolist() == full[: cap + 1].tolist()
    assert opt_misses(ids, 80, 120).tolist()[80:] == [80] * 41  # beyond the footprint: cold only
    assert lru_misses(ids, 80, 120).tolist()[80:] == [80] * 41


def test_shared_and_private_pages_of_one_process():
    # shm and a shared file page are object pages (the PTE maps one for the whole run)
    rng = np.random.default_rng(3)
    wb = WorkloadBuilder("mixed")
    wb.shm("seg", 20)
    wb.file("data", 30)
    p = wb.process("p")
    p.map(Vma(0, 40, "rw"))
    p.map(Vma(100, 20, "rw", obj="seg", shared=True))
    p.map(Vma(200, 30, "rw", obj="data", shared=True))
    pages = rng.choice(np.r_[0:40, 100:120, 200:230], 3000)
    p.access_pages(pages, writes=rng.random(3000) < 0.3)
    w = wb.build()
    result, totals = curves(w)
    assert totals["distinct_pages"] == 90
    for c in range(1, 92):
        assert result[0].misses[min(c, 90)] == _simulated(w, "lru", c), c
        assert result[1].misses[min(c, 90)] == _simulated(w, "opt", c), c


def test_shards_rate_one_is_exact_and_sampling_is_close():
    # many pages: with a few thousand, whether the hottest Zipf pages are sampled moves the
    # whole curve (mean errors 0.02-0.07 at R=0.1 over seeds); 30k pages give 0.003-0.009
    w = resolve("zipf:pages=30000,length=300000")
    ids, m = page_ids(w)
    exact = lru_misses(ids, m)
    assert np.array_equal(shards_lru_misses(ids, m, 1.0), exact)
    result, _ = curves(w, ["lru"], sample=0.1, check=True)
    exact_curve, est = result
    assert exact_curve.method == "exact" and est.method == "shards"
    assert np.array_equal(exact_curve.misses, exact)
    assert est.error["mae"] < 0.015
    with pytest.raises(MrcError, match="sample rate"):
        shards_lru_misses(ids, m, 0.0)


def _builder_workload(build) -> Workload:
    wb = WorkloadBuilder("custom")
    build(wb)
    return wb.build()


def test_refused_workloads_say_why():
    for name, what in [
        ("multiprocess:length_per_proc=1000", "3 processes"),
        ("fork-server:length_per_proc=1000", "processes"),
        ("stack-heap", "munmap/mlock/munlock"),
    ]:
        with pytest.raises(MrcError, match=what):
            page_ids(resolve(name))

    def segv(wb):
        p = wb.process("p")
        p.map(Vma(0, 4))
        p.access_pages([0, 1, 9])

    def cow(wb):
        wb.file("f", 4)
        p = wb.process("p")
        p.map(Vma(0, 4, "rw", obj="f", shared=False))
        p.access_pages([0, 1], writes=[0, 1])

    def alias(wb):
        wb.file("f", 4)
        p = wb.process("p")
        p.map(Vma(0, 4, "r", obj="f", shared=True))
        p.map(Vma(10, 4, "r", obj="f", shared=True))
        p.access_pages([0, 10])

    for build, what in [(segv, "segfaults"), (cow, "private file mapping"), (alias, "two addresses")]:
        with pytest.raises(MrcError, match=what):
            page_ids(_builder_workload(build))


SMALL = "zipf:pages=200,length=3000"


def test_cli_table_json_csv_plot(tmp_path):
    res = runner.invoke(app, ["mrc", "-w", SMALL, "--sizes", "10,50,100"])
    assert res.exit_code == 0, res.output
    assert "lru" in res.stdout and "opt" in res.stdout and "50" in res.stdout
    res = runner.invoke(app, ["mrc", "-w", SMALL, "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["command"] == "mrc" and rec["results"]["references"] == 3000
    m = rec["results"]["distinct_pages"]
    lru, opt = rec["results"]["curves"]
    assert [p["frames"] for p in lru["points"]] == list(range(1, m + 1))
    ids, n_ids = page_ids(resolve(SMALL))
    assert [p["misses"] for p in opt["points"]] == opt_misses(ids, n_ids)[1:].tolist()
    res = runner.invoke(app, ["mrc", "-w", SMALL, "-p", "lru", "--max-frames", "20", "--csv"])
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "policy,method,frames,misses,miss_ratio" and len(lines) == 21
    res = runner.invoke(app, ["mrc", "-w", SMALL, "-p", "lru", "--sample", "0.5", "--check", "--json"])
    curves_ = json.loads(res.stdout)["results"]["curves"]
    assert [c["method"] for c in curves_] == ["exact", "shards"] and curves_[1]["error_vs_exact"]["mae"] < 0.1
    plot = tmp_path / "mrc.svg"
    res = runner.invoke(app, ["mrc", "-w", SMALL, "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    assert plot.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "lru,fifo"], "no one-pass curve for policy 'fifo'"),
        (["--sizes", "10", "--max-frames", "20"], "not both"),
        (["--sample", "2"], "--sample must be a rate"),
        (["--sizes", "ten"], "--sizes must be"),
        (["-w", "multiprocess"], "need one process"),
        (["-p", "opt", "--sample", "0.1"], "include lru"),
    ],
)
def test_cli_bad_options_are_one_line_errors(args, message):
    res = runner.invoke(app, ["mrc", "-w", SMALL, *args])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1


def _same_curves(a, b):
    assert [(c.policy, c.method, c.references) for c in a] == [(c.policy, c.method, c.references) for c in b]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.misses, y.misses), x.policy


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
@pytest.mark.parametrize(
    "name",
    [
        "zipf:pages=150,length=4000",
        "file-scan:file_pages=70,passes=2,random_ratio=0.2",
        "trace-sort:max_refs=4000",
    ],
)
def test_streamed_curves_equal_the_whole_ones(name, chunk):
    """LRU, OPT and SHARDS (checked) over a stream, chunk by chunk: the whole workload's curves exactly."""
    from workloads.stream import from_workload

    whole = resolve(name)
    stream = from_workload(whole)
    for kw in ({}, {"max_frames": 20}, {"sample": 0.3, "check": True, "seed": 4}):
        policies = ("lru",) if "sample" in kw else ("lru", "opt")
        got, totals = curves(stream, policies, chunk=chunk, **kw)
        want, want_totals = curves(whole, policies, **kw)
        _same_curves(got, want)
        assert totals == want_totals


def test_streamed_opt_spills_its_columns_to_files(monkeypatch):
    from workloads import spool
    from workloads.stream import from_workload

    whole = resolve("zipf:pages=150,length=4000")
    want = curves(whole, ("opt",))[0]
    monkeypatch.setattr(spool, "SPILL_ABOVE", 0)
    opened = []
    real = spool.anonymous_file
    monkeypatch.setattr(spool, "anonymous_file", lambda prefix: opened.append(prefix) or real(prefix))
    _same_curves(curves(from_workload(whole), ("opt",), chunk=333)[0], want)
    assert opened == ["vmgym-column-", "vmgym-column-"]


def test_refused_streams_say_why():
    from workloads.stream import from_workload

    with pytest.raises(MrcError, match="3 processes"):
        curves(from_workload(resolve("multiprocess:length_per_proc=1000")))

    def segv(wb):
        p = wb.process("p")
        p.map(Vma(0, 4))
        p.access_pages([0, 1, 2, 1, 9])

    def cow(wb):
        wb.file("f", 4)
        p = wb.process("p")
        p.map(Vma(0, 4, "rw", obj="f", shared=False))
        p.access_pages([0, 1], writes=[0, 1])

    for build, what in [(segv, "reference 4 segfaults"), (cow, "private file mapping")]:
        with pytest.raises(MrcError, match=what):
            curves(from_workload(_builder_workload(build)), chunk=2)


def test_cli_streams_a_large_trace(tmp_path, monkeypatch):
    """`vmgym mrc` on a trace file past STREAM_TRACES_FROM reads it as a stream: the same JSON."""
    import workloads.spec as spec_module
    from workloads.traces import write_trace

    path = write_trace(resolve(SMALL), tmp_path / "small.npy")
    args = ["mrc", "-w", str(path), "--json", "--max-frames", "60"]
    whole = json.loads(runner.invoke(app, args).stdout)["results"]
    monkeypatch.setattr(spec_module, "STREAM_TRACES_FROM", 0)
    streamed = []
    real = __import__("vmgym.mrc", fromlist=["stream_ids"]).stream_ids
    monkeypatch.setattr("vmgym.mrc.stream_ids", lambda *a, **k: streamed.append(1) or real(*a, **k))
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"] == whole and streamed


def test_curves_report_each_pass_to_its_end_and_give_the_same_curves():
    from workloads.stream import from_workload

    whole = resolve("zipf:pages=150,length=4000,seed=5")
    heard = []
    got, totals = curves(from_workload(whole), ("lru", "opt"), chunk=333, progress=lambda *a: heard.append(a))
    _same_curves(got, curves(whole, ("lru", "opt"))[0])
    n = totals["references"]
    phases = list(dict.fromkeys(w for w, _, _ in heard))
    assert phases == [
        "lru: stack distances",
        "opt: reading the references",
        "opt: next uses",
        "opt: stack distances",
    ]
    for what in phases:
        done = [d for w, d, t in heard if w == what]
        assert done == sorted(done) and done[-1] == n
        assert {t for w, _, t in heard if w == what} == {n}
    assert len([w for w, _, _ in heard if w == "lru: stack distances"]) == -(-n // 333)  # a report per chunk
    heard.clear()
    curves(
        from_workload(whole), ("lru",), sample=0.5, check=True, chunk=333, progress=lambda *a: heard.append(a)
    )
    assert list(dict.fromkeys(w for w, _, _ in heard)) == ["lru: SHARDS at 0.5", "lru: stack distances"]
