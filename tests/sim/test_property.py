"""Hypothesis: random multi-process workloads under random eviction choices keep every invariant."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmgym.sim import MachineConfig, OutOfMemory, Simulator
from workloads import OP_READ, OP_WRITE, Vma, WorkloadBuilder

PS = 4096

# VMA layout shared by all generated processes (vpn ranges)
PRIV = Vma(0, 6, "rw")
RO = Vma(10, 3, "r", obj="lib", offset=0, shared=False)
SHM = Vma(20, 4, "rw", obj="ipc", shared=True)
FILE_SHARED = Vma(30, 4, "rw", obj="data", shared=True)
FILE_PRIV = Vma(40, 4, "rw", obj="data", offset=2, shared=False)
EXTRA = Vma(60, 3, "rw")
VMAS = [PRIV, RO, SHM, FILE_SHARED, FILE_PRIV]
TARGETS = list(VMAS)


@st.composite
def _refs(draw, max_len=25):
    n = draw(st.integers(0, max_len))
    out = []
    for _ in range(n):
        vma = draw(st.sampled_from(TARGETS + [None]))
        if vma is None:  # an address no VMA covers (segfault) -- rare
            if draw(st.integers(0, 19)) > 0:
                continue
            vpn = 99
        else:
            vpn = vma.start_vpn + draw(st.integers(0, vma.pages - 1))
        op = draw(st.sampled_from([OP_READ, OP_WRITE]))
        if vma is RO and op == OP_WRITE and draw(st.integers(0, 19)) > 0:
            op = OP_READ  # a write to the read-only mapping is a segfault: keep it rare
        out.append((vpn, op))
    return out


def _emit(proc, refs):
    if refs:
        vpns, ops = zip(*refs, strict=True)
        proc.access(np.array(vpns) * PS, np.array(ops))


@st.composite
def workloads(draw):
    wb = WorkloadBuilder("random", page_size=PS)
    wb.shm("ipc", 4)
    wb.file("lib", 3)
    wb.file("data", 8)
    for k in range(draw(st.integers(1, 3))):
        proc = wb.process(f"p{k}", start=draw(st.integers(0, 10)))
        for v in VMAS:
            proc.map(v)
        _emit(proc, draw(_refs()))
        for _ in range(draw(st.integers(0, 3))):
            event = draw(st.sampled_from(["mlock", "munlock", "extra", "fork", "refs"]))
            if event == "mlock":
                proc.mlock(draw(st.sampled_from([PRIV.start_vpn, SHM.start_vpn])))
            elif event == "munlock":
                proc.munlock(PRIV.start_vpn)
            elif event == "extra":
                proc.map(EXTRA)
                _emit(proc, [(EXTRA.start_vpn + i % 3, OP_WRITE) for i in range(draw(st.integers(0, 4)))])
                proc.munmap(EXTRA.start_vpn)
            elif event == "fork":
                child = proc.fork()
                _emit(child, [r for r in draw(_refs()) if not 60 <= r[0] < 63])
            _emit(proc, [r for r in draw(_refs(8)) if not 60 <= r[0] < 63])
    return wb.build()


@st.composite
def machines(draw):
    tlb = draw(st.sampled_from([0, 4, 8]))
    return MachineConfig(
        frames=draw(st.integers(2, 8)),
        swap_slots=draw(st.integers(0, 12)),
        tlb_entries=tlb,
        tlb_ways=2 if tlb else 4,
        tlb_asid=draw(st.booleans()),
        quantum=draw(st.integers(1, 6)),
        allocation=draw(st.sampled_from(["global", "global", "equal", "proportional", "working-set"])),
        ws_window=draw(st.integers(1, 20)),
    )


PREFETCHERS = [
    None,
    "readahead:initial=2,maximum=4",
    "swap-cluster:page_cluster=1",
    "stride:degree=2",
    "markov",
    "external",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), machines(), st.sampled_from(PREFETCHERS), st.randoms(use_true_random=False))
def test_random_choices_keep_invariants(workload, config, pf, rnd):
    """Random victims and (with the external prefetcher) random prefetches, random run lengths."""
    sim = Simulator(workload, config, policy=None, prefetch=pf)
    sim.check_invariants()
    n_pages = sim.state.page_frame.shape[0]
    try:
        while True:
            stop = sim.position + rnd.randint(1, 5)
            decision = sim.advance(stop=stop)
            sim.check_invariants()
            if decision and sim.pending == "victim":
                sim.evict(rnd.choice(list(sim.candidates())))
                sim.check_invariants()
            elif decision:
                assert sim.pending == "prefetch"
                if rnd.random() < 0.5:
                    sim.prefetch_pages([rnd.randrange(n_pages) for _ in range(rnd.randint(0, 4))])
                else:
                    sim.prefetch_offsets(rnd.randint(-2, 2), rnd.randint(0, 4), rnd.choice([1, 2, -1]))
                sim.check_invariants()
            elif sim.done:
                break
    except OutOfMemory:
        sim.check_invariants()
        return
    stats = sim.stats()
    assert stats.accesses == stats.hits + stats.misses
    assert all(p.state != "running" for p in stats.processes)
    # everything private was freed at exit; only shared-object pages may stay resident
    st_ = sim.state
    assert (st_.proc_stats[14] == 0).all()  # RSS
    anon_live = (st_.page_kind == 0) & (st_.page_owner >= 0)
    assert not anon_live.any()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workloads(),
    machines(),
    st.sampled_from(["fifo", "lru", "clock", "opt"]),
    st.sampled_from(PREFETCHERS[:-1]),
)
def test_compiled_policies_keep_invariants(workload, config, policy, pf):
    sim = Simulator(workload, config, policy, prefetch=pf)
    try:
        while not sim.done:
            sim.advance(stop=sim.position + 3)
            sim.check_invariants()
    except OutOfMemory:
        sim.check_invariants()
