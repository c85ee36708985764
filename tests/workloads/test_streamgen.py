"""Streamed generators give the whole generators' references, whatever the block size."""

import numpy as np
import pytest

from vmgym.sim import MachineConfig, Simulator
from workloads import generators, registry, resolve_stream, streamgen
from workloads.model import Vma, Workload, WorkloadBuilder, WorkloadError
from workloads.spec import footprint
from workloads.stream import ProcessRefStream, ProcessStreams, from_workload

CASES = [
    ("zipf", {"n_pages": 500, "length": 10_001, "alpha": 0.9, "write_ratio": 0.3, "seed": 4}),
    ("zipf", {"n_pages": 1, "length": 100, "write_ratio": 0.5}),
    ("zipf", {"n_pages": 50, "length": 999, "alpha": 1.3, "write_ratio": 1.0, "seed": 9}),
    ("uniform", {"n_pages": 300, "length": 9_999, "write_ratio": 0.3, "seed": 2}),
    ("phases", {"n_phases": 3, "ws_pages": 50, "length": 5_000, "shift": 20, "write_ratio": 0.2, "seed": 1}),
    ("loop", {"n_pages": 30, "length": 1_000, "write_ratio": 0.3, "seed": 5}),
    ("sequential", {"n_pages": 30, "length": 1_000}),
    ("strided", {"n_pages": 30, "length": 1_000, "stride": 7, "write_ratio": 0.6}),
    ("stack_heap", {"steps": 50, "refs_per_step": 100, "chunk_pages": 4, "max_chunks": 5, "seed": 8}),
    ("stack_heap", {"steps": 300, "refs_per_step": 50, "max_chunks": 6, "write_ratio": 0.3}),
    ("stack_heap", {"steps": 20, "refs_per_step": 10, "max_chunks": 1, "write_ratio": 1.0}),  # no events
]


def _concat(stream, size):
    parts = list(stream.blocks(size))
    assert all(o.size <= size for o, _ in parts)
    return np.concatenate([o for o, _ in parts]), np.concatenate([a for _, a in parts])


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_blocks_equal_whole(name, params, size):
    whole = getattr(generators, name)(**params)
    stream = getattr(streamgen, name)(**params)
    ops, addrs = _concat(stream, size)
    proc = whole.processes[0]
    assert np.array_equal(ops, proc.ops) and np.array_equal(addrs, proc.args)
    assert stream.vmas == proc.vmas and stream.length == proc.ops.size
    assert stream.description == whole.description
    assert (stream.events or []) == proc.events  # stack_heap's mmap/munmap payloads


def test_a_streamed_stack_heap_runs_as_the_whole_one():
    """Its events ride in the blocks: `vmgym run` streams it (vmgym.streaming.events), the same run."""
    spec = "stack-heap:steps=60,refs_per_step=200,max_chunks=6,write_ratio=0.3"
    stream, whole = resolve_stream(spec), registry.get(spec)
    assert stream.events and stream.pages() == footprint(whole)
    cfg = MachineConfig.for_workload(whole, frames=40)
    for policy in ("lru", "opt"):
        a = Simulator(whole, cfg, policy).run()
        b = Simulator(stream, cfg, policy, chunk=333).run()
        assert a.to_dict() == b.to_dict()


def test_the_references_of_the_vectorised_generators():
    """The streamed draws equal the whole-array code the generators had (and the README's numbers)."""
    rng = np.random.default_rng(42)
    pages = rng.permutation(10_000)[generators.zipf_ranks(rng, 10_000, 0.9, 30_000)]
    writes = rng.random(30_000) < 0.3
    proc = generators.zipf(10_000, 30_000, 0.9, write_ratio=0.3, seed=42).processes[0]
    assert np.array_equal(proc.args, pages * 4096) and np.array_equal(proc.ops == 1, writes)
    rng = np.random.default_rng(5)
    pages = rng.integers(0, 700, size=20_001, dtype=np.int64)
    writes = rng.random(20_001) < 0.4
    proc = generators.uniform(700, 20_001, write_ratio=0.4, seed=5).processes[0]
    assert np.array_equal(proc.args, pages * 4096) and np.array_equal(proc.ops == 1, writes)


def _stack_heap_reference(
    steps, refs, chunk_pages, max_chunks, stack_pages, grow_prob, stack_fraction, wr, seed
):
    """The whole-array stack_heap the generator had: every draw of the trace at once, in order."""
    rng = np.random.default_rng(seed)
    stack_vpn = max_chunks * chunk_pages + 16
    total = steps * refs
    grow_draw = rng.random(steps) < grow_prob
    to_stack = rng.random(total) < stack_fraction
    depth = np.minimum(rng.geometric(0.5, size=total) - 1, stack_pages - 1)
    heap_u = rng.random(total)
    writes = rng.random(total) < wr
    live = np.empty(steps, np.int64)
    chunks = 1
    for s in range(steps):
        live[s] = chunks
        if chunks < max_chunks and (chunks == 1 or grow_draw[s]):
            chunks += 1
        elif chunks > 1:
            chunks -= 1
    heap_pages = np.repeat(live * chunk_pages, refs)
    pages = np.where(to_stack, stack_vpn + stack_pages - 1 - depth, (heap_u * heap_pages).astype(np.int64))
    wb = WorkloadBuilder("stack-heap")
    proc = wb.process("main")
    proc.map(Vma(0, chunk_pages, "rw"))
    proc.map(Vma(stack_vpn, stack_pages, "rw"))
    for s in range(steps):
        if s and live[s] > live[s - 1]:
            proc.map(Vma(int(live[s - 1]) * chunk_pages, chunk_pages, "rw"))
        elif s and live[s] < live[s - 1]:
            proc.munmap(int(live[s]) * chunk_pages)
        proc.access_pages(pages[s * refs : (s + 1) * refs], writes[s * refs : (s + 1) * refs])
    return wb.build().processes[0]


@pytest.mark.parametrize(
    "args",
    [
        (200, 1000, 16, 32, 32, 0.6, 0.3, 0.0, 0),
        (300, 50, 4, 6, 8, 0.5, 0.9, 1.0, 7),
        (7, 333, 2, 3, 5, 1.0, 0.0, 0.2, 11),
    ],
)
def test_stack_heap_draws_what_the_whole_array_code_drew(args):
    """Block by block (the stack choice, depth, heap position and write from advanced copies): the same."""
    want = _stack_heap_reference(*args)
    *shape, wr, seed = args
    for size in (1, 7, 1 << 20):
        ops, addrs = _concat(streamgen.stack_heap(*shape, write_ratio=wr, seed=seed), size)
        assert np.array_equal(ops, want.ops) and np.array_equal(addrs, want.args)
    got = generators.stack_heap(*shape, write_ratio=wr, seed=seed).processes[0]
    assert got.events == want.events and got.vmas == want.vmas


def test_stream_reads_the_same_twice():
    stream = streamgen.uniform(100, 5_000, write_ratio=0.4, seed=3)
    a = _concat(stream, 333)
    b = _concat(stream, 4096)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_registry_stream_names_and_hints():
    stream = registry.stream("zipf:length=1000,seed=2")
    whole = registry.get("zipf:length=1000,seed=2")
    assert stream.name == whole.name == "zipf" and stream.hints == whole.hints
    assert np.array_equal(_concat(stream, 64)[1], whole.processes[0].args)
    assert resolve_stream("zipf:length=10") is not None
    assert resolve_stream("multiprocess") is None  # several processes: run whole
    with pytest.raises(WorkloadError, match="cannot be streamed"):
        registry.stream("multiprocess")
    with pytest.raises(WorkloadError, match="unknown parameter"):
        registry.stream("zipf:colour=3")


def test_validation_is_the_generators():
    with pytest.raises(WorkloadError, match="zipf: length must be"):
        streamgen.zipf(10, 0)


def _fork_server_reference(workers, pages, length, alpha, write_ratio, seed):
    """fork_server as the whole-array code built it (the streamed generator must draw the same)."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("fork-server")
    server = wb.process("server")
    server.map(Vma(0, pages, "rw"))
    server.access_pages(np.arange(pages, dtype=np.int64), np.ones(pages, dtype=bool))
    perm = rng.permutation(pages)
    children = [server.fork(f"worker{i}") for i in range(workers)]
    weights = np.arange(1, pages + 1, dtype=np.float64) ** -float(alpha)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    for proc in [*children, server]:
        ranks = np.searchsorted(cdf, rng.random(length), side="right")
        proc.access_pages(perm[ranks], rng.random(length) < write_ratio)
    return wb.build()


@pytest.mark.parametrize(
    "args", [(4, 1024, 5000, 0.9, 0.0, 0), (2, 50, 333, 1.2, 0.4, 5), (1, 1, 10, 0.9, 1.0, 3)]
)
def test_fork_server_draws_what_the_whole_array_code_drew(args):
    """Each process block by block (from copies of the generator advanced to its draws): the same."""
    want = _fork_server_reference(*args)
    workers, pages, length, alpha, wr, seed = args
    kwargs = {"write_ratio": wr, "seed": seed}
    for size in (1, 7, 1 << 20):
        tree = streamgen.fork_server(workers, pages, length, alpha, **kwargs)
        assert tree.parents == [None] + [0] * workers and tree.length == sum(s.length for s in tree.streams)
        for stream, proc in zip(tree.streams, want.processes, strict=True):
            ops, addrs = _concat(stream, size)
            assert np.array_equal(ops, proc.ops) and np.array_equal(addrs, proc.args)
            assert (stream.events or []) == proc.events and stream.vmas == proc.vmas
            assert stream.process_name == proc.name
    whole = generators.fork_server(workers, pages, length, alpha, **kwargs)
    for got, proc in zip(whole.processes, want.processes, strict=True):
        assert (got.name, got.vmas, got.events, got.start, got.parent) == (
            proc.name,
            proc.vmas,
            proc.events,
            proc.start,
            proc.parent,
        )
        assert np.array_equal(got.ops, proc.ops) and np.array_equal(got.args, proc.args)


def test_a_streamed_fork_server_runs_as_the_whole_one():
    """The workers inherit the server's heap copy-on-write; streamed, the same run."""
    spec = "fork-server:workers=3,pages=200,length_per_proc=3000,write_ratio=0.3"
    stream, whole = resolve_stream(spec), registry.get(spec)
    assert isinstance(stream, ProcessStreams) and stream.pages() == footprint(whole)
    cfg = MachineConfig.for_workload(whole, frames=120)
    for policy in ("lru", "opt"):
        a = Simulator(whole, cfg, policy).run()
        b = Simulator(stream, cfg, policy, chunk=333).run()
        assert a.to_dict() == b.to_dict() and a.cow_faults > 0


def test_from_workload_streams_every_workload():
    """Forks and events of several processes stream; what the loader refuses is refused as it is read."""
    assert from_workload(registry.get("stack-heap")).events  # one process's events
    assert isinstance(from_workload(registry.get("fork-server")), ProcessStreams)
    w = registry.get("multiprocess")
    w.processes[1].parent = 0  # a child its parent never forks: the loader's error
    stream = from_workload(w)
    with pytest.raises(WorkloadError, match="parent 0 never forks it"):
        Simulator(stream, MachineConfig.for_workload(w), "lru")
    with pytest.raises(WorkloadError, match="has no processes"):
        from_workload(Workload("empty", []))


@pytest.mark.parametrize("name", ["multiprocess", "mmap-readers"])
def test_from_workload_streams_several_processes(name):
    """Several processes (shared file and shm mappings too) stream and run as the whole workload."""
    w = registry.get(name)
    stream = from_workload(w)
    assert isinstance(stream, ProcessRefStream) and stream.pages() == footprint(w)
    cfg = MachineConfig.for_workload(w)
    assert (
        Simulator(stream, cfg, "clock", chunk=999).run().to_dict()
        == Simulator(w, cfg, "clock").run().to_dict()
    )
