"""A streamed run equals the whole-trace run bit for bit: every policy, every prefetcher, any chunk."""

import subprocess
import sys

import numpy as np
import pytest

from vmgym import policies, prefetch
from vmgym.sim import MachineConfig, SegmentationFault, Simulator
from vmgym.streaming import feed as feed_module
from workloads import Vma, WorkloadBuilder, generators, streamgen
from workloads import spool as spool_module
from workloads.model import EV_EXIT, EV_FORK, EV_MMAP, EV_MUNMAP, OP_EXEC, OP_READ, OP_WRITE, WorkloadError
from workloads.stream import from_workload

CHUNKS = [1, 7, 1 << 20]
ZIPF = {"n_pages": 120, "length": 1_500, "alpha": 0.8, "write_ratio": 0.3, "seed": 11}
FULL = MachineConfig(frames=40, swap_slots=200, tlb_entries=16, tlb_ways=4)
LEAN = MachineConfig(frames=40, tlb_entries=0)


def _pair(policy, config, chunk, prefetcher=None, **kw):
    whole = Simulator(generators.zipf(**ZIPF), config, policy, prefetch=prefetcher, **kw)
    streamed = Simulator(streamgen.zipf(**ZIPF), config, policy, prefetch=prefetcher, chunk=chunk, **kw)
    return whole, streamed


def _same(whole, streamed):
    a, b = whole.run(), streamed.run()
    assert a.to_dict() == b.to_dict()
    assert streamed.position == whole.position == whole.length == streamed.length
    streamed.check_invariants()
    return a


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("policy", policies.names())
def test_every_policy(policy, chunk):
    stats = _same(*_pair(policy, FULL, chunk))
    assert stats.accesses == ZIPF["length"] and stats.misses > 0


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("prefetcher", [n for n in prefetch.names() if n not in ("none", "external")])
def test_every_prefetcher(prefetcher, chunk):
    _same(*_pair("lru", FULL, chunk, prefetcher))


@pytest.mark.parametrize("chunk", [1, 7])
def test_oracle_and_next_use(chunk):
    whole, streamed = _pair("clock", LEAN, chunk, oracle=True)
    for _ in range(3):
        whole.advance(whole.position + 500)
        streamed.advance(streamed.position + 500)
        assert [whole.next_use(f) for f in range(40)] == [streamed.next_use(f) for f in range(40)]
    _same(whole, streamed)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_caller_decides_across_chunks(chunk):
    whole, streamed = _pair(None, LEAN, chunk)
    for sim in (whole, streamed):
        while sim.advance():
            sim.evict(sim.candidates()[len(sim.candidates()) // 2])
    assert whole.stats().to_dict() == streamed.stats().to_dict()


def test_spilled_columns_equal_in_memory(monkeypatch):
    monkeypatch.setattr(feed_module, "SPILL_ABOVE", 0)  # OPT's columns go to a temporary file
    monkeypatch.setattr(feed_module, "ORACLE_MEMORY_SHARE", 0)
    _same(*_pair("opt", LEAN, 7))


def test_opt_loading_reports_both_phases_to_the_end():
    """``loading(what, done, total)`` hears the second read, then the backward pass, each up to the total."""
    heard = []
    sim = Simulator(streamgen.zipf(**ZIPF), LEAN, "opt", chunk=97, loading=lambda *a: heard.append(a))
    phases = list(dict.fromkeys(what for what, _, _ in heard))
    assert phases == ["reading the trace again for next uses", "next uses, from the end"]
    for what in phases:
        done = [d for w, d, t in heard if w == what]
        assert done == sorted(done) and done[-1] == sim.length and len(done) > 10
        assert {t for w, _, t in heard if w == what} == {sim.length}
    lru = []
    Simulator(streamgen.zipf(**ZIPF), LEAN, "lru", chunk=97, loading=lambda *a: lru.append(a))
    assert lru == []  # no oracle: nothing to prepare
    _same(Simulator(generators.zipf(**ZIPF), LEAN, "opt"), sim)


def test_the_oracle_columns_spill_past_a_share_of_the_available_memory(monkeypatch):
    """In memory up to a quarter of the available memory (at least SPILL_ABOVE), else a file."""
    monkeypatch.setattr(feed_module, "_available_bytes", lambda: 4 << 30)
    assert not feed_module._spills(1 << 30) and feed_module._spills((1 << 30) + 1)
    monkeypatch.setattr(feed_module, "_available_bytes", lambda: None)  # unknown: SPILL_ABOVE
    assert not feed_module._spills(feed_module.SPILL_ABOVE) and feed_module._spills(
        feed_module.SPILL_ABOVE + 1
    )


def _odd_workload(segfault_at: int):
    """Reads, writes, a forbidden exec and (at ``segfault_at``) an address outside every VMA."""
    wb = WorkloadBuilder("odd")
    p = wb.process("main")
    p.map(Vma(10, 50, "rw"))
    p.map(Vma(100, 20, "rwx"))
    rng = np.random.default_rng(1)
    pages = np.where(rng.random(800) < 0.5, rng.integers(10, 60, 800), rng.integers(100, 120, 800))
    ops = rng.choice([OP_READ, OP_WRITE, OP_EXEC], 800)
    pages[segfault_at] = 70
    p.access(pages * 4096, ops)
    return wb.build()


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_segfaults_and_vmas(chunk):
    w = _odd_workload(700)
    a = Simulator(w, LEAN, "arc").run()
    b = Simulator(from_workload(w), LEAN, "arc", chunk=chunk).run()
    assert a.to_dict() == b.to_dict() and a.segfaults >= 1
    cfg = MachineConfig(frames=40, tlb_entries=0, segfault="error")
    with pytest.raises(SegmentationFault) as whole_err:
        Simulator(w, cfg, "lru").run()
    with pytest.raises(SegmentationFault) as streamed_err:
        Simulator(from_workload(w), cfg, "lru", chunk=chunk).run()
    assert str(whole_err.value) == str(streamed_err.value)


def test_sparse_address_space(monkeypatch):
    from vmgym.streaming import translate

    monkeypatch.setattr(translate, "DENSE_SPAN", 0)  # binary search instead of the page table
    w = _odd_workload(10)
    assert (
        Simulator(w, LEAN, "opt").run().to_dict()
        == Simulator(from_workload(w), LEAN, "opt", chunk=7).run().to_dict()
    )


def test_refusals(monkeypatch):
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        Simulator(streamgen.zipf(**ZIPF), LEAN, "lru", chunk=0)
    with pytest.raises(ValueError, match="streamed workload"):
        Simulator(generators.zipf(**ZIPF), LEAN, "lru", chunk=5)
    monkeypatch.setattr(feed_module, "_available_bytes", lambda: 1000)
    with pytest.raises(WorkloadError, match=r"references 120 distinct pages: .* GiB available"):
        Simulator(streamgen.zipf(**ZIPF), LEAN, "lru")


# VmHWM, not getrusage: ru_maxrss survives execve, so a child would report the test process's peak
_RSS = """
import sys
from vmgym import MachineConfig, Simulator
from workloads import streamgen
w = streamgen.zipf(10_000, int(sys.argv[1]), write_ratio=0.3)
st = Simulator(w, MachineConfig(frames=1000, tlb_entries=0), "lru").run()
assert st.accesses == int(sys.argv[1])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_peak_rss_is_bounded_by_the_chunk_not_the_trace():
    """16M references (the whole path would hold 144 MB of trace alone) peak as 4M (two chunks) do."""
    peaks = []
    for n in (4_000_000, 16_000_000):
        out = subprocess.run([sys.executable, "-c", _RSS, str(n)], capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[-1]) / 1024)
    assert peaks[1] < 400, peaks
    assert peaks[1] - peaks[0] < 50, peaks  # the trace grew 4x; memory only by allocator slack (1e8: 334 MB)


def _processes(quantum_safe_seed: int = 3):
    """Three processes: late starts (one after the others' ends), shm shared by two, a segfault, a file."""
    rng = np.random.default_rng(quantum_safe_seed)
    wb = WorkloadBuilder("three")
    wb.shm("seg", 16)
    wb.file("data", 24)
    plan = [("a", 0, 700), ("b", 90, 500), ("c", 2_000, 400)]
    for k, (name, start, n) in enumerate(plan):
        p = wb.process(name, start)
        base = 100 * (k + 1)
        p.map(Vma(base, 30, "rw"))
        p.map(Vma(base + 50, 16, "rw", obj="seg", shared=True))
        p.map(Vma(base + 70, 24, "r", obj="data"))
        pages = base + np.concatenate([[0, 50, 70]] * 1)  # each VMA at least once
        pages = np.concatenate([pages, base + rng.choice(np.r_[0:30, 50:66, 70:94], n)])
        ops = np.where(pages >= base + 70, OP_READ, rng.choice([OP_READ, OP_WRITE], pages.size))
        if name == "b":
            pages[400] = base + 40  # unmapped: b dies there
        p.access(pages * 4096, ops)
    return wb.build()


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("policy", policies.names())
def test_several_processes_every_policy(policy, chunk):
    """Processes scheduled by quantum from a stream of several: the whole loader's run, bit for bit."""
    w = _processes()
    cfg = MachineConfig(frames=40, swap_slots=200, tlb_entries=16, tlb_ways=4, quantum=37)
    a = Simulator(w, cfg, policy).run()
    streamed = Simulator(from_workload(w), cfg, policy, chunk=chunk)
    assert streamed.run().to_dict() == a.to_dict()
    assert a.segfaults == 1 and a.processes[2].name == "c" and a.processes[2].accesses > 0
    streamed.check_invariants()


@pytest.mark.parametrize("spill", [False, True])
def test_several_processes_with_the_oracle_and_an_oom_kill(monkeypatch, spill):
    """OPT's next uses over the scheduled trace, and an OOM kill, from the spool in memory or a file."""

    if spill:
        monkeypatch.setattr(feed_module, "SPILL_ABOVE", 0)
        monkeypatch.setattr(feed_module, "ORACLE_MEMORY_SHARE", 0)
        monkeypatch.setattr(spool_module, "SPILL_ABOVE", 0)
    w = _processes()
    cfg = MachineConfig(frames=24, swap_slots=40, tlb_entries=0, quantum=53)
    for policy in ("opt", "lru"):
        whole = Simulator(w, cfg, policy, oracle=True)
        streamed = Simulator(from_workload(w), cfg, policy, oracle=True, chunk=7)
        for _ in range(4):
            whole.advance(whole.position + 300)
            streamed.advance(streamed.position + 300)
            assert [whole.next_use(f) for f in range(24)] == [streamed.next_use(f) for f in range(24)]
        assert streamed.run().to_dict() == whole.run().to_dict()
        assert whole.stats().oom_kills >= 1


def _reference_schedule(streams, children, starts, parents, quantum):
    """The scheduler as first written: cumulative reference counts over whole streams (obviously right)."""
    from collections import deque

    n = len(streams)
    cum = [np.concatenate([[0], np.cumsum(ops < EV_MMAP)]) for ops in streams]
    cursor = [0] * n
    pending = sorted((starts[i], i) for i in range(n) if parents[i] is None)
    queue, out, tick = deque(), [], 0
    while queue or pending:
        while pending and pending[0][0] <= tick:
            queue.append(pending.pop(0)[1])
        if not queue:
            tick = pending[0][0]
            continue
        pid = queue.popleft()
        lo, c = cursor[pid], cum[pid]
        hi = min(max(int(np.searchsorted(c, c[lo] + quantum, side="left")), lo + 1), len(streams[pid]))
        out.append((pid, lo, hi))
        tick += int(c[hi] - c[lo])
        cursor[pid] = hi
        for j in np.flatnonzero(streams[pid][lo:hi] == EV_FORK):
            queue.append(int(children[pid][lo + j]))
        while pending and pending[0][0] <= tick:
            queue.append(pending.pop(0)[1])
        if hi < len(streams[pid]):
            queue.append(pid)
    return out


def test_the_schedule_from_event_positions_is_the_whole_streams():
    """``schedule`` needs only where the events and forks are: the same slices as over whole streams."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from vmgym.sim.schedule import Timeline, merged, schedule

    @settings(max_examples=400, deadline=None)
    @given(st.data(), st.integers(1, 6), st.integers(1, 12))
    def check(data, k, quantum):
        parents = [None] + [data.draw(st.sampled_from([None, *range(p)])) for p in range(1, k)]
        starts = [data.draw(st.integers(0, 60)) if parents[p] is None else 0 for p in range(k)]
        streams, children = [], []
        for p in range(k):
            body = data.draw(st.lists(st.sampled_from([0, 0, 0, 1, EV_MMAP, EV_MUNMAP]), max_size=40))
            kids = [c for c in range(k) if parents[c] == p]
            for _ in kids:  # each child forked at a drawn place
                body.insert(data.draw(st.integers(0, len(body))), EV_FORK)
            ops = np.array([*body, EV_EXIT], np.int8)
            child = np.zeros(ops.size, np.int64)
            child[ops == EV_FORK] = kids
            streams.append(ops)
            children.append(child)
        want = _reference_schedule(streams, children, starts, parents, quantum)
        lines = [Timeline.of_ops(o, c) for o, c in zip(streams, children, strict=True)]
        got = list(schedule(lines, starts, parents, quantum))
        assert got == want
        joined = list(merged(iter(got)))  # the same entries in the same order, fewer slices
        assert [(p, i) for p, lo, hi in joined for i in range(lo, hi)] == [
            (p, i) for p, lo, hi in want for i in range(lo, hi)
        ]
        if all(p is None for p in parents) and all(np.all(ops[:-1] < EV_MMAP) for ops in streams):
            plain = [Timeline.of_references(ops.size - 1) for ops in streams]
            assert list(schedule(plain, starts, parents, quantum)) == want

    check()


def test_several_processes_are_read_as_far_as_the_schedule_needs():
    """The run's read fills the spool lazily: at the start only the first blocks have been read."""
    w = _processes()
    stream = from_workload(w)
    read = []
    blocks = stream.proc_blocks

    def counted(size):
        for block in blocks(size):
            read.append(block[0].size)
            yield block

    stream.proc_blocks = counted
    cfg = MachineConfig(frames=40, tlb_entries=0, quantum=37)
    sim = Simulator(stream, cfg, "lru", chunk=50)
    first_read = len(read)  # the pass that numbers the pages (no scan here), then the run's first blocks
    total = sum(np.asarray(p.ops).size for p in w.processes)
    assert first_read * 50 < 2 * total - 1_000
    assert sim.run().to_dict() == Simulator(w, cfg, "lru").run().to_dict()
    assert sum(read) == 2 * total


def test_a_stream_of_several_processes_that_contradicts_itself_is_refused():
    stream = from_workload(_processes())
    blocks = stream.proc_blocks
    stream.proc_blocks = lambda size: ((procs + 2, ops, addrs) for procs, ops, addrs in blocks(size))
    with pytest.raises(WorkloadError, match=r"process index 3 is not in 0\.\.2"):
        Simulator(stream, LEAN, "lru")
    stream.proc_starts = [0, 5]
    with pytest.raises(WorkloadError, match="one name, VMA list and start per process, got 3, 3 and 2"):
        Simulator(stream, LEAN, "lru")
