"""Properties every registered policy must have (runs over the whole registry)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmgym import policies
from vmgym.sim import MachineConfig, OutOfMemory, Simulator
from workloads import OP_READ, OP_WRITE, Vma, Workload, WorkloadBuilder

NAMES = policies.names()
LEAN = {"tlb_entries": 0}


@pytest.mark.parametrize("name", NAMES)
def test_documented(name):
    cls = policies.get_class(name)
    assert cls.__doc__ and cls.source and cls.conventions, f"{name}: docstring, source and conventions"
    assert cls.kernel_id > 0
    ids = [policies.get_class(n).kernel_id for n in NAMES]
    assert len(set(ids)) == len(ids), "kernel ids must be unique"


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pages=st.lists(st.integers(0, 15), max_size=200),
    frames=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_opt_is_never_beaten_and_counts_add_up(name, pages, frames, seed):
    rng = np.random.default_rng(seed)
    w = Workload.from_pages(pages, rng.random(len(pages)) < 0.3)
    cfg = MachineConfig(frames=frames, **LEAN)
    s = Simulator(w, cfg, name).run()
    opt = Simulator(w, cfg, "opt").run()
    assert s.accesses == len(pages) and s.hits + s.misses == s.accesses
    assert opt.misses <= s.misses
    assert s.misses >= len(set(pages))


def _mp_workload(seed):
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("mp")
    wb.shm("ipc", 6)
    for k in range(3):
        p = wb.process(f"p{k}")
        p.map(Vma(0, 12, "rw"))
        p.map(Vma(20, 6, "rw", obj="ipc", shared=True))
        vpn = np.where(rng.random(150) < 0.3, 20 + rng.integers(0, 6, 150), rng.integers(0, 12, 150))
        p.access(vpn * 4096, np.where(rng.random(150) < 0.4, OP_WRITE, OP_READ))
        if k == 0:
            child = p.fork()
            child.access(rng.integers(0, 12, 50) * 4096, OP_WRITE)
    return wb.build()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_invariants_hold_in_a_multiprocess_run(name, seed):
    sim = Simulator(_mp_workload(seed), MachineConfig(frames=7, swap_slots=64, quantum=7), name)
    try:
        while not sim.done:
            sim.advance(stop=sim.position + 11)
            sim.check_invariants()
    except OutOfMemory:
        sim.check_invariants()
    assert sim.stats().accesses > 0


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_is_named(name):
    with pytest.raises(policies.PolicyError, match="no_such_param"):
        policies.make(name, no_such_param=1)
