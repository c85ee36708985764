"""Processes with events (mmap, munmap, mlock, munlock, fork, exit) streamed: the whole run, bit for bit."""

import numpy as np
import pytest

from vmgym import policies
from vmgym.sim import MachineConfig, Simulator
from workloads import Vma, WorkloadBuilder, resolve
from workloads.model import EV_FORK, WorkloadError
from workloads.stream import ProcessStreams, RefStream, from_workload, streamable

CHUNKS = [1, 7, 1 << 20]
FULL = MachineConfig(frames=24, swap_slots=200, tlb_entries=16, tlb_ways=4)


def _events_workload(exit_early: bool = False, seed: int = 3):
    """Every event kind: mmap (anonymous and a shared file), mlock/munlock, munmap and a re-mmap
    at the same address (a new VMA instance), a protection fault, and an early exit if asked."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("events")
    wb.file("data", 30)
    p = wb.process("main")
    p.map(Vma(0, 40, "rw"))
    p.map(Vma(100, 10, "r"))
    p.access_pages(rng.integers(0, 40, 300), rng.random(300) < 0.3)
    p.map(Vma(200, 30, "rw"))
    p.access_pages(rng.integers(200, 230, 200), rng.random(200) < 0.5)
    p.mlock(200)
    p.access_pages(np.concatenate([rng.integers(0, 40, 150), rng.integers(200, 230, 150)]))
    p.munlock(200)
    p.map(Vma(300, 30, "r", obj="data", shared=True))
    p.access_pages(rng.integers(300, 330, 200))
    p.munmap(200)
    p.access_pages(rng.integers(0, 40, 100), rng.random(100) < 0.3)
    p.map(Vma(200, 20, "rw"))  # the same address again: new PTEs
    p.access_pages(rng.integers(200, 220, 200), rng.random(200) < 0.5)
    p.access_pages(rng.integers(100, 110, 50))
    if exit_early:
        p.exit()
        p.access_pages(rng.integers(0, 40, 100))  # never runs
    p.access_pages([105], [True])  # a write to a read-only VMA: a protection fault
    return wb.build()


def _same(whole_wl, config, policy, chunk):
    whole = Simulator(whole_wl, config, policy)
    streamed = Simulator(from_workload(whole_wl), config, policy, chunk=chunk)
    a, b = whole.run(), streamed.run()
    assert a.to_dict() == b.to_dict()
    assert streamed.position == whole.position and streamed.length == whole.length
    streamed.check_invariants()
    return a


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("policy", policies.names())
def test_every_policy(policy, chunk):
    stats = _same(_events_workload(), FULL, policy, chunk)
    assert stats.misses > 0


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", ["stack-heap:steps=40,refs_per_step=100", "leak:pages_per_step=8,steps=60"])
@pytest.mark.parametrize("policy", ["lru", "clock", "arc", "opt"])
def test_generated_workloads_with_events(name, policy, chunk):
    w = resolve(name)
    assert streamable(w) is None and from_workload(w).events is not None
    _same(w, MachineConfig.for_workload(w, frames=30), policy, chunk)


@pytest.mark.parametrize("chunk", [1, 7])
def test_an_early_exit_ends_the_stream(chunk):
    w = _events_workload(exit_early=True)
    _same(w, FULL, "lru", chunk)
    stream = from_workload(w)
    assert stream.pages() == len(np.unique(np.concatenate([p.args[p.ops < 8] >> 12 for p in w.processes])))
    again = stream.workload()
    assert np.array_equal(again.processes[0].ops, w.processes[0].ops)
    assert again.processes[0].events == w.processes[0].events


def _tree_workload(seed: int = 5):
    """Forks (a grandchild too), events in several processes, a late second root, early exits.

    The server writes its heap and a shared file, pins a VMA, forks a worker, unmaps a VMA
    the worker keeps, forks a second worker, and exits early; the first worker writes
    inherited pages (copy-on-write), maps its own, forks a grandchild and unmaps; the
    second root starts at tick 700 with its own mmap/mlock/munlock/munmap.
    """
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("tree")
    wb.file("data", 30)
    server = wb.process("server")
    server.map(Vma(0, 40, "rw"))
    server.map(Vma(100, 30, "rw", obj="data", shared=True))
    server.map(Vma(200, 20, "rw"))
    server.access_pages(rng.integers(0, 40, 300), rng.random(300) < 0.6)
    server.access_pages(rng.integers(100, 130, 100), rng.random(100) < 0.3)
    server.access_pages(rng.integers(200, 220, 100), rng.random(100) < 0.5)
    server.mlock(200)
    worker = server.fork("worker")
    server.munmap(200)  # the worker keeps its copy
    server.access_pages(rng.integers(0, 40, 200), rng.random(200) < 0.4)
    late = server.fork("late-worker")
    server.access_pages(rng.integers(0, 40, 100))
    server.exit()
    server.access_pages(rng.integers(0, 40, 50))  # never runs
    worker.access_pages(rng.integers(0, 40, 300), rng.random(300) < 0.5)  # copy-on-write
    worker.access_pages(rng.integers(200, 220, 100), rng.random(100) < 0.5)
    worker.map(Vma(300, 25, "rw"))
    worker.access_pages(rng.integers(300, 325, 200), rng.random(200) < 0.5)
    grandchild = worker.fork("grandchild")
    worker.munmap(300)
    worker.access_pages(rng.integers(100, 130, 150), rng.random(150) < 0.3)
    grandchild.access_pages(rng.integers(300, 325, 200), rng.random(200) < 0.5)
    grandchild.access_pages([1000], [False])  # unmapped: a segfault kills it
    grandchild.access_pages(rng.integers(0, 40, 50))  # never runs
    late.access_pages(rng.integers(0, 40, 250), rng.random(250) < 0.5)
    other = wb.process("other", start=700)
    other.map(Vma(0, 30, "rw"))
    other.access_pages(rng.integers(0, 30, 200), rng.random(200) < 0.5)
    other.map(Vma(50, 10, "rw"))
    other.mlock(50)
    other.access_pages(rng.integers(50, 60, 100), rng.random(100) < 0.5)
    other.munlock(50)
    other.munmap(50)
    other.access_pages(rng.integers(0, 30, 100))
    return wb.build()


TREE = MachineConfig(frames=40, swap_slots=400, tlb_entries=16, tlb_ways=4, quantum=37)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("policy", policies.names())
def test_every_policy_on_a_tree_of_processes(policy, chunk):
    w = _tree_workload()
    assert isinstance(from_workload(w), ProcessStreams)
    stats = _same(w, TREE, policy, chunk)
    assert stats.misses > 0 and stats.cow_faults > 0 and stats.segfaults == 1


@pytest.mark.parametrize("chunk", [1, 7])
@pytest.mark.parametrize("policy", ["lru", "clock", "arc", "opt"])
def test_generated_forks(policy, chunk):
    w = resolve("fork-server:workers=3,pages=60,length_per_proc=400,write_ratio=0.3")
    _same(w, MachineConfig.for_workload(w, frames=50), policy, chunk)


def test_a_late_single_process_and_bad_forks():
    """A lone process that starts late streams; a fork of a process that is not a child is refused."""
    w = _events_workload()
    w.processes[0].start = 250
    assert isinstance(from_workload(w), ProcessStreams)
    _same(w, FULL, "lru", 7)
    proc = w.processes[0]
    ops = proc.ops.copy()
    args = proc.args.copy()
    ops[5], args[5] = EV_FORK, 1  # forks "process 200" (payload 1: mlock's vpn): refused as it is read
    stream = RefStream(
        "forky",
        list(proc.vmas),
        lambda size: iter([(ops, args)]),
        ops.size,
        list(w.objects),
        events=list(proc.events),
    )
    with pytest.raises(WorkloadError, match="fork event names process 200, whose parent is not 0"):
        Simulator(stream, FULL, "lru")
    args[5] = 0  # payload 0 is a Vma
    with pytest.raises(WorkloadError, match="fork event 0 payload must be a process index, got Vma"):
        Simulator(stream, FULL, "lru")


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_source_that_changes_between_its_reads_is_refused(delta):
    """Fewer or more entries the second time: a one-line error, never a different run."""
    w = _events_workload()
    proc = w.processes[0]
    reads = []

    def blocks(size):
        reads.append(size)
        ops, args = proc.ops, proc.args
        if len(reads) > 1:  # the run's read
            ops = ops[:-1] if delta < 0 else np.append(ops, np.int8(0))
            args = args[:-1] if delta < 0 else np.append(args, np.int64(0))
        for lo in range(0, ops.size, size):
            yield ops[lo : lo + size], args[lo : lo + size]

    stream = RefStream("changing", list(proc.vmas), blocks, None, list(w.objects), events=list(proc.events))
    roomy = MachineConfig(frames=200, swap_slots=200, tlb_entries=0)  # no OOM kill: the run reads it all
    with pytest.raises(WorkloadError, match="did the source change"):
        Simulator(stream, roomy, "lru", chunk=64).run()


def test_other_consumers_of_an_events_stream(tmp_path):
    """mrc: mmaps stream (the same curves), munmap/mlock is refused as whole; convert: references only."""
    from vmgym.mrc import MrcError, curves
    from workloads.traces import write_trace
    from workloads.traces.streaming import write_stream

    leak = resolve("leak:pages_per_step=8,steps=60")
    for got, want in zip(curves(from_workload(leak), chunk=7)[0], curves(leak)[0], strict=True):
        assert np.array_equal(got.misses, want.misses)
    with pytest.raises(MrcError, match="munmap/mlock/munlock events"):
        curves(from_workload(_events_workload()))
    w = _events_workload(exit_early=True)
    want = write_trace(w, tmp_path / "whole.txt").read_bytes()
    assert write_stream(from_workload(w), tmp_path / "streamed.txt", "plain", 50).read_bytes() == want


@pytest.mark.parametrize("quantum", [1, 4, 1000])
def test_odd_shapes_of_a_tree(quantum):
    """A child with no entries, one with events only, one forked last; a root with no references, one
    starting after everything else has ended: streamed as whole, whatever the chunk and quantum."""
    wb = WorkloadBuilder("edge")
    p = wb.process("p")
    p.map(Vma(0, 10, "rw"))
    p.access_pages(np.arange(10), np.ones(10, bool))
    p.fork("empty")
    events_only = p.fork("events-only")
    events_only.map(Vma(50, 5, "rw"))
    events_only.munmap(50)
    events_only.exit()
    p.fork("last").access_pages([1, 2, 3], [True, False, True])
    wb.process("q", start=3)
    r = wb.process("r", start=10**6)
    r.map(Vma(0, 4, "rw"))
    r.access_pages([0, 1, 2, 3, 0])
    w = wb.build()
    cfg = MachineConfig(frames=6, swap_slots=40, tlb_entries=16, tlb_ways=4, quantum=quantum)
    for policy in ("lru", "opt"):
        for chunk in (1, 3, 1 << 20):
            _same(w, cfg, policy, chunk)
