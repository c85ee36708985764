"""Tests for workloads.generators and workloads.registry."""

from __future__ import annotations

import numpy as np
import pytest

from workloads import generators as gen
from workloads import registry
from workloads.model import (
    EV_EXIT,
    EV_FORK,
    EV_MLOCK,
    EV_MMAP,
    EV_MUNLOCK,
    EV_MUNMAP,
    OP_EXEC,
    OP_READ,
    OP_WRITE,
    Vma,
    Workload,
    WorkloadBuilder,
    WorkloadError,
)

PS = 4096
_NEED = {OP_READ: "r", OP_WRITE: "w", OP_EXEC: "x"}


# -- a stream walker: every reference inside a VMA that allows it -----------------------------


class AddressSpace:
    """The VMAs of one process as sorted arrays (cheap to update for thousands of mmaps)."""

    def __init__(self, name: str, objects: dict) -> None:
        self.name, self.objects = name, objects
        self.vmas: list[Vma] = []  # sorted by start_vpn
        self.starts = np.zeros(0, np.int64)
        self.ends = np.zeros(0, np.int64)
        self.allowed = np.zeros((0, 3), bool)  # allowed[k, op]: VMA k permits op

    def copy(self) -> AddressSpace:
        other = AddressSpace(self.name, self.objects)
        other.vmas, other.starts, other.ends, other.allowed = (
            list(self.vmas),
            self.starts,
            self.ends,
            self.allowed,
        )
        return other

    def map(self, vma: Vma) -> None:
        k = int(np.searchsorted(self.starts, vma.start_vpn))
        assert k == 0 or self.ends[k - 1] <= vma.start_vpn, f"{self.name}: {vma} overlaps {self.vmas[k - 1]}"
        assert k == len(self.vmas) or vma.end_vpn <= self.starts[k], f"{self.name}: {vma} overlaps"
        if vma.obj is not None:
            assert vma.obj in self.objects, f"{self.name}: unknown object {vma.obj}"
            assert vma.offset + vma.pages <= self.objects[vma.obj].pages
        self.vmas.insert(k, vma)
        self.starts = np.insert(self.starts, k, vma.start_vpn)
        self.ends = np.insert(self.ends, k, vma.end_vpn)
        self.allowed = np.insert(self.allowed, k, [_NEED[op] in vma.perms for op in range(3)], axis=0)

    def munmap(self, start_vpn: int) -> None:
        k = int(np.searchsorted(self.starts, start_vpn))
        assert k < len(self.vmas) and self.starts[k] == start_vpn, (
            f"{self.name}: munmap of unmapped {start_vpn}"
        )
        del self.vmas[k]
        self.starts, self.ends = np.delete(self.starts, k), np.delete(self.ends, k)
        self.allowed = np.delete(self.allowed, k, axis=0)

    def check(self, ops: np.ndarray, args: np.ndarray, page_size: int) -> None:
        """Every reference falls in a VMA whose perms allow the op."""
        if ops.size == 0:
            return
        assert ops.min() >= OP_READ and ops.max() <= OP_EXEC, self.name
        assert self.vmas, f"{self.name}: references with no VMA mapped"
        vpn = args // page_size
        k = np.maximum(np.searchsorted(self.starts, vpn, side="right") - 1, 0)
        ok = (vpn >= self.starts[k]) & (vpn < self.ends[k]) & self.allowed[k, ops]
        bad = np.flatnonzero(~ok)
        assert bad.size == 0, f"{self.name}: {bad.size} bad refs, first op {ops[bad[0]]} addr {args[bad[0]]}"


def check_workload(w: Workload) -> None:
    """Walk every stream applying mmap/munmap/fork; every reference must be legal."""
    objects = {o.name: o for o in w.objects}
    assert len(objects) == len(w.objects)
    at_fork: dict[int, AddressSpace] = {}
    for idx, p in enumerate(w.processes):
        assert p.ops.dtype == np.int8 and p.args.dtype == np.int64 and p.ops.shape == p.args.shape
        if p.parent is None:
            space = AddressSpace(p.name, objects)
            for v in p.vmas:
                space.map(v)
        else:
            assert p.parent < idx and not p.vmas, p.name
            assert idx in at_fork, f"{p.name}: never forked"
            space = at_fork[idx]
            space.name = p.name
        events = np.flatnonzero(p.ops >= EV_MMAP)
        assert np.array_equal(p.args[events], np.arange(events.size)), "event payload indices"
        prev = 0
        for pos in [*events.tolist(), p.ops.size]:
            space.check(p.ops[prev:pos], p.args[prev:pos], w.page_size)
            if pos == p.ops.size:
                break
            code, payload = int(p.ops[pos]), p.events[int(p.args[pos])]
            if code == EV_MMAP:
                space.map(payload)
            elif code == EV_MUNMAP:
                space.munmap(payload)
            elif code == EV_FORK:
                assert w.processes[payload].parent == idx
                at_fork[payload] = space.copy()
            elif code in (EV_MLOCK, EV_MUNLOCK):
                assert payload in space.starts
            else:
                assert code == EV_EXIT
            prev = pos + 1


def refs(w: Workload, proc: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ops, addrs) of the memory references of one process, events dropped."""
    p = w.processes[proc]
    keep = p.ops < EV_MMAP
    return p.ops[keep], p.args[keep]


def pages(w: Workload, proc: int = 0) -> np.ndarray:
    return refs(w, proc)[1] // w.page_size


def _bad_workloads() -> list[Workload]:
    out = []
    wb = WorkloadBuilder("outside")
    wb.process("a").access_pages([0])  # nothing mapped
    out.append(wb.build())
    wb = WorkloadBuilder("perm")
    wb.file("f", 4)
    a = wb.process("a")
    a.map(Vma(10, 4, "r", obj="f"))
    a.access_pages([10, 11], writes=[0, 1])  # write to a read-only mapping
    out.append(wb.build())
    wb = WorkloadBuilder("late-map")
    a = wb.process("a")
    a.map(Vma(0, 4))
    a.access_pages([0])
    child = a.fork("c")
    a.map(Vma(8, 4))  # after the fork: the child must not see it
    child.access_pages([8])
    out.append(wb.build())
    wb = WorkloadBuilder("unmapped")
    a = wb.process("a")
    a.map(Vma(0, 4))
    a.access_pages([0])
    a.munmap(0)
    a.access_pages([1])
    out.append(wb.build())
    wb = WorkloadBuilder("overlap")
    a = wb.process("a")
    a.map(Vma(0, 4))
    a.map(Vma(3, 4))
    out.append(wb.build())
    return out


@pytest.mark.parametrize("w", _bad_workloads(), ids=lambda w: w.name)
def test_checker_catches(w: Workload) -> None:
    with pytest.raises(AssertionError):
        check_workload(w)


# -- every generator, small --------------------------------------------------------------------

SMALL = {
    "sequential": lambda **kw: gen.sequential(50, 1000, **kw),
    "loop": lambda **kw: gen.loop(50, 1000, **kw),
    "uniform": lambda **kw: gen.uniform(50, 1000, **kw),
    "zipf": lambda **kw: gen.zipf(50, 1000, 0.9, **kw),
    "strided": lambda **kw: gen.strided(50, 1000, 7, **kw),
    "matrix-row": lambda **kw: gen.matrix(20, 700, "row", **kw),
    "matrix-col": lambda **kw: gen.matrix(20, 700, "col", **kw),
    "matrix-blocked": lambda **kw: gen.matrix(37, 530, "blocked", block=16, **kw),
    "phases": lambda **kw: gen.phases(4, 20, 1000, 10, **kw),
    "scan-hot": lambda **kw: gen.scan_hot(30, 40, 1000, 0.9, 100, **kw),
    "multiprocess": lambda **kw: gen.multiprocess_shm(3, 40, 20, 1000, 0.9, 0.3, **kw),
    "fork-server": lambda **kw: gen.fork_server(3, 40, 1000, **kw),
    "mmap-readers": lambda **kw: gen.mmap_readers(3, 40, 1000, **kw),
    "stack-heap": lambda **kw: gen.stack_heap(50, 100, 4, 5, 8, **kw),
}
RANDOM = [
    "uniform",
    "zipf",
    "phases",
    "scan-hot",
    "multiprocess",
    "fork-server",
    "mmap-readers",
    "stack-heap",
]


def _arrays(w: Workload) -> list[np.ndarray]:
    return [a for p in w.processes for a in (p.ops, p.args)]


def _same(a: Workload, b: Workload) -> bool:
    xs, ys = _arrays(a), _arrays(b)
    return len(xs) == len(ys) and all(np.array_equal(x, y) for x, y in zip(xs, ys, strict=True))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_valid_and_deterministic(name: str) -> None:
    make = SMALL[name]
    w = make(write_ratio=0.3, seed=1)
    check_workload(w)
    assert w.references > 0 and w.description
    assert _same(w, make(write_ratio=0.3, seed=1))
    # write draws are seeded too, so even the deterministic page streams differ in ops
    assert not _same(w, make(write_ratio=0.3, seed=2))


@pytest.mark.parametrize("name", RANDOM)
def test_seed_changes_pages(name: str) -> None:
    a, b = SMALL[name](seed=1), SMALL[name](seed=2)
    assert not np.array_equal(a.processes[-1].args, b.processes[-1].args)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_page_stream_independent_of_write_ratio(name: str) -> None:
    if name == "mmap-readers":  # writes are redirected to the buffer
        return
    a, b = SMALL[name](write_ratio=0.0, seed=5), SMALL[name](write_ratio=0.7, seed=5)
    for p, q in zip(a.processes, b.processes, strict=True):
        assert np.array_equal(p.args[p.ops < EV_MMAP], q.args[q.ops < EV_MMAP])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_write_ratio_zero_means_reads(name: str) -> None:
    w = SMALL[name](seed=3)
    for i, p in enumerate(w.processes):
        ops, _ = refs(w, i)
        if name == "fork-server" and i == 0:
            ops = ops[40:]  # the server initialises its heap with writes
        assert np.all(ops == OP_READ), p.name


# -- statistics each generator claims ----------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_write_ratio_honoured(ratio: float) -> None:
    ops, _ = refs(gen.zipf(500, 200_000, write_ratio=ratio, seed=4))
    assert abs(np.mean(ops == OP_WRITE) - ratio) < 0.01


def test_write_ratio_multiprocess() -> None:
    w = gen.multiprocess_shm(write_ratio=0.25, seed=2)
    for i in range(3):
        assert abs(np.mean(refs(w, i)[0] == OP_WRITE) - 0.25) < 0.01


@pytest.mark.parametrize("alpha", [0.6, 0.9, 1.2])
def test_zipf_rank_frequency_slope(alpha: float) -> None:
    counts = np.bincount(pages(gen.zipf(1000, 1_000_000, alpha, seed=7)), minlength=1000)
    freq = np.sort(counts)[::-1]
    freq = freq[freq > 0]
    ranks = np.arange(1, freq.size + 1)
    slope = np.polyfit(np.log(ranks), np.log(freq), 1)[0]
    assert abs(slope + alpha) < 0.1, slope


def test_zipf_alpha_zero_is_uniform_and_hot_pages_scattered() -> None:
    counts = np.bincount(pages(gen.zipf(100, 200_000, 0.0, seed=1)), minlength=100)
    assert counts.min() > 1600 and counts.max() < 2400
    hot = np.argsort(np.bincount(pages(gen.zipf(1000, 100_000, 1.0, seed=1))))[::-1][:10]
    assert not np.array_equal(np.sort(hot), np.arange(10))


def test_inverse_cdf_matches_searchsorted() -> None:
    for n, weights in [(1, None), (7, None), (1000, None), (300_000, None), (50, "zeros")]:
        w = np.arange(1, n + 1, dtype=float) ** -1.1
        if weights == "zeros":
            w[::3] = 0.0
        cdf = np.cumsum(w) / w.sum()
        expect = np.searchsorted(cdf, np.random.default_rng(9).random(100_000), side="right")
        got = gen._inverse_cdf(np.random.default_rng(9), w, 100_000)
        assert np.array_equal(got, expect)
    steep = gen.zipf_ranks(np.random.default_rng(0), 100_000, 3.0, 100_000)  # wide guide buckets
    cdf = np.cumsum(np.arange(1, 100_001, dtype=float) ** -3.0)
    cdf /= cdf[-1]
    assert np.array_equal(steep, np.searchsorted(cdf, np.random.default_rng(0).random(100_000), "right"))


def test_sequential_and_loop() -> None:
    for make in (gen.sequential, gen.loop):
        w = make(7, 30)
        assert np.array_equal(pages(w), np.arange(30) % 7)
        assert np.array_equal(refs(w)[1] % PS, np.zeros(30))
        assert w.processes[0].vmas == [Vma(0, 7, "rw")]
    p = pages(gen.loop(1100, 110_000))
    assert p.size == 110_000 and np.array_equal(p[:1100], np.arange(1100))
    assert np.array_equal(p.reshape(100, 1100), np.tile(np.arange(1100), (100, 1)))


def test_strided() -> None:
    p = pages(gen.strided(100, 1000, 7))
    assert np.all(np.diff(p) % 100 == 7) and p[0] == 0 and p.max() < 100
    assert len(np.unique(pages(gen.strided(100, 1000, 10)))) == 10  # gcd 10: 10 pages


def test_uniform_range() -> None:
    counts = np.bincount(pages(gen.uniform(20, 100_000, seed=3)), minlength=20)
    assert counts.size == 20 and counts.min() > 4500 and counts.max() < 5500


def test_matrix_orders() -> None:
    rows, cols, es = 6, 5, 8
    row = refs(gen.matrix(rows, cols, "row", elem_size=es))[1]
    col = refs(gen.matrix(rows, cols, "col", elem_size=es))[1]
    assert np.array_equal(row, np.arange(rows * cols) * es)
    expect = [(i * cols + j) * es for j in range(cols) for i in range(rows)]
    assert np.array_equal(col, expect)
    blk = refs(gen.matrix(rows, cols, "blocked", block=4, elem_size=es))[1]
    expect = [
        (i * cols + j) * es
        for bi in range(0, rows, 4)
        for bj in range(0, cols, 4)
        for i in range(bi, min(bi + 4, rows))
        for j in range(bj, min(bj + 4, cols))
    ]
    assert np.array_equal(blk, expect)
    two = gen.matrix(rows, cols, "col", passes=2, elem_size=es)
    assert np.array_equal(refs(two)[1], np.tile(col, 2))
    big = gen.matrix(512, 512, "col")
    assert big.processes[0].vmas == [Vma(0, 512, "rw")]
    assert np.array_equal(pages(big)[:512], np.arange(512))  # one row per page: every ref a new page


def test_phases() -> None:
    p = pages(gen.phases(4, 100, 40_000, 50, seed=2))
    for k, chunk in enumerate(p.reshape(4, 10_000)):
        assert chunk.min() == 50 * k and chunk.max() == 50 * k + 99
    w = gen.phases(3, 10, 10, 0)
    assert w.processes[0].vmas == [Vma(0, 10, "rw")]


def test_scan_hot() -> None:
    w = gen.scan_hot(100, 300, 5_000, 0.9, 1000, seed=3)
    p = pages(w)
    period = 1300
    for c in range(4):
        hot = p[c * period : c * period + 1000]
        assert hot.max() < 100
        scan = p[c * period + 1000 : (c + 1) * period]
        assert np.array_equal(scan, (100 + c * 300 + np.arange(300))[: scan.size])
    # the last partial cycle: 5000 - 3*1300 = 1100 -> 1000 hot + 100 scan refs of scan 3
    assert w.processes[0].vmas == [Vma(0, 100 + 4 * 300, "rw")]
    fresh = p[p >= 100]
    assert len(np.unique(fresh)) == fresh.size  # every scanned page is touched once


def test_multiprocess_shm() -> None:
    w = gen.multiprocess_shm(4, 100, 30, 20_000, 0.9, 0.25, write_ratio=0.2, seed=1)
    check_workload(w)
    assert [o.name for o in w.objects] == ["shm0"] and w.objects[0].kind == "shm"
    assert len(w.processes) == 4 and all(p.parent is None for p in w.processes)
    starts = set()
    for i, p in enumerate(w.processes):
        assert len(p.vmas) == 2
        priv, shm = p.vmas
        assert priv.obj is None and shm.obj == "shm0" and shm.shared and shm.pages == 30
        starts.add(shm.start_vpn)
        pg = pages(w, i)
        frac = np.mean(pg >= shm.start_vpn)
        assert abs(frac - 0.25) < 0.02
    assert len(starts) == 4


def test_fork_server() -> None:
    w = gen.fork_server(3, 64, 5_000, write_ratio=0.2, seed=1)
    check_workload(w)
    server, *workers = w.processes
    assert server.parent is None and len(workers) == 3
    assert all(p.parent == 0 and not p.vmas for p in workers)
    assert np.count_nonzero(server.ops == EV_FORK) == 3
    first_fork = int(np.flatnonzero(server.ops == EV_FORK)[0])
    assert np.array_equal(server.ops[:first_fork], np.full(64, OP_WRITE, np.int8))  # heap initialised
    assert all(p.references == 5_000 for p in workers) and server.references == 64 + 5_000
    for i in range(1, 4):
        assert abs(np.mean(refs(w, i)[0] == OP_WRITE) - 0.2) < 0.03


def test_mmap_readers() -> None:
    w = gen.mmap_readers(3, 200, 10_000, buffer_pages=8, write_ratio=0.1, seed=2)
    check_workload(w)
    assert [(o.name, o.kind, o.pages) for o in w.objects] == [("file0", "file", 200)]
    for i, p in enumerate(w.processes):
        buf, f = p.vmas
        assert f.obj == "file0" and f.perms == "r" and not f.shared and f.pages == 200
        ops, addrs = refs(w, i)
        vpn = addrs // PS
        assert np.all(vpn[ops == OP_READ] >= f.start_vpn) and np.all(vpn[ops == OP_WRITE] < buf.end_vpn)


def test_leak() -> None:
    w = gen.leak(8, 50)
    check_workload(w)
    p = w.processes[0]
    assert p.vmas == [Vma(0, 8, "rw")]
    assert np.count_nonzero(p.ops == EV_MMAP) == 49 and np.count_nonzero(p.ops == EV_MUNMAP) == 0
    ops, addrs = refs(w)
    assert np.all(ops == OP_WRITE) and np.array_equal(addrs // PS, np.arange(400))


def test_stack_heap() -> None:
    w = gen.stack_heap(300, 50, 4, 6, 8, grow_prob=0.5, seed=3)
    check_workload(w)
    p = w.processes[0]
    n_map, n_unmap = np.count_nonzero(p.ops == EV_MMAP), np.count_nonzero(p.ops == EV_MUNMAP)
    assert n_map > 10 and n_unmap > 10 and n_map + n_unmap == 299
    assert max(np.cumsum([1 if op == EV_MMAP else -1 for op in p.ops[p.ops >= EV_MMAP]])) == 5
    fixed = gen.stack_heap(20, 10, 4, 1, 8, seed=0)  # max_chunks=1: no resize events
    check_workload(fixed)
    assert np.count_nonzero(fixed.processes[0].ops >= EV_MMAP) == 0


# -- parameter validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: gen.zipf(-1, 10), "n_pages"),
        (lambda: gen.zipf(10, 0), "length"),
        (lambda: gen.zipf(10, 10, -0.5), "alpha"),
        (lambda: gen.zipf(10, 10, write_ratio=1.5), "write_ratio"),
        (lambda: gen.uniform(10, 10, write_ratio=-0.1), "write_ratio"),
        (lambda: gen.uniform(10, 10, seed=-1), "seed"),
        (lambda: gen.sequential(10.5, 10), "n_pages"),
        (lambda: gen.loop(10, 10, page_size=1000), "page_size"),
        (lambda: gen.strided(10, 10, 0), "stride"),
        (lambda: gen.matrix(4, 4, "diagonal"), "order"),
        (lambda: gen.matrix(4, 4, "blocked", block=0), "block"),
        (lambda: gen.matrix(4, 4, elem_size=0), "elem_size"),
        (lambda: gen.phases(20, 5, 10, 1), "n_phases"),
        (lambda: gen.phases(2, 5, 10, -1), "shift"),
        (lambda: gen.scan_hot(10, 10, 100, scan_every=0), "scan_every"),
        (lambda: gen.multiprocess_shm(shared_fraction=2.0), "shared_fraction"),
        (lambda: gen.multiprocess_shm(n_procs=0), "n_procs"),
        (lambda: gen.fork_server(workers=True), "workers"),
        (lambda: gen.mmap_readers(file_pages=0), "file_pages"),
        (lambda: gen.leak(0, 10), "pages_per_step"),
        (lambda: gen.stack_heap(grow_prob=-1), "grow_prob"),
    ],
)
def test_bad_params(call, param: str) -> None:
    with pytest.raises(WorkloadError, match=param) as err:
        call()
    assert ">=" in str(err.value) or "in [" in str(err.value) or "one of" in str(err.value)


# -- registry ----------------------------------------------------------------------------------

REQUIRED = [
    "default",
    "zipf",
    "loop",
    "sequential",
    "scan-hot",
    "phases",
    "multiprocess",
    "fork-server",
    "mmap-readers",
    "matrix-col",
]


def test_registry_names_and_describe() -> None:
    assert set(REQUIRED) <= set(registry.names())
    rows = registry.describe()
    assert [r[0] for r in rows] == registry.names()
    for name, desc, frames in rows:
        assert desc and "\n" not in desc and isinstance(frames, int) and frames > 0, name


@pytest.mark.parametrize("name", registry.names())
def test_registry_builds(name: str) -> None:
    w = registry.get(name)
    check_workload(w)
    limit = 6_000_000 if name.startswith("trace-") else 1_100_000  # real traces: 2.8M-5.7M references
    assert w.name == name and w.references <= limit
    assert w.hints == {"frames": registry.spec(name).suggested_frames}


def test_registry_default_and_zipf() -> None:
    spec = registry.WORKLOADS["default"]
    assert spec.suggested_frames == 500
    w = registry.get("default")
    ops, _ = refs(w)
    assert ops.size == 100_000 and w.processes[0].vmas == [Vma(0, 5000, "rw")]
    assert abs(np.mean(ops == OP_WRITE) - 0.3) < 0.01
    assert registry.WORKLOADS["zipf"].suggested_frames == 1000
    assert registry.get("zipf").references == 1_000_000
    assert registry.WORKLOADS["loop"].suggested_frames == 1000
    assert registry.get("loop").references == 110_000
    assert len(registry.get("multiprocess").processes) == 3
    assert _same(spec.factory(), w)


def test_registry_unknown_name_lists_names() -> None:
    with pytest.raises(WorkloadError, match="unknown workload 'nope'") as err:
        registry.get("nope")
    for name in registry.names():
        assert name in str(err.value)


def test_registry_overrides() -> None:
    w = registry.get("zipf:alpha=0.8,pages=2000,length=50000")
    assert w.references == 50_000 and w.processes[0].vmas == [Vma(0, 2000, "rw")]
    assert "alpha=0.8" in w.description
    a, b = registry.get("default", seed=1), registry.get("default:seed=1")
    assert _same(a, b) and not _same(a, registry.get("default"))
    assert registry.get("matrix-col:order=row").references == registry.get("matrix-row").references
    with pytest.raises(WorkloadError, match="unknown parameter 'bogus'"):
        registry.get("zipf:bogus=1")
    with pytest.raises(WorkloadError, match="key=value"):
        registry.get("zipf:alpha")
    with pytest.raises(WorkloadError, match="alpha"):
        registry.get("zipf:alpha=-1")


def test_parse_name() -> None:
    assert registry.parse_name("x:a=1,b=2.5,c=true,d=row, e=1_000") == (
        "x",
        {"a": 1, "b": 2.5, "c": True, "d": "row", "e": 1000},
    )
    assert registry.parse_name("plain") == ("plain", {})
