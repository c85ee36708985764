"""Simulator-side helpers shared by the policy tests (stepping, a busy multi-process workload)."""

import numpy as np

from vmgym import MachineConfig, Simulator
from vmgym.sim import OutOfMemory
from workloads import OP_READ, OP_WRITE, Vma, Workload, WorkloadBuilder


def sim_stepwise(pages, k, policy, writes=None, inspect=None):
    """Hit/miss flag of every reference and the page (vpn) in each frame after the last reference.

    ``inspect(sim, j)``, if given, is called after reference ``j``.
    """
    sim = Simulator(Workload.from_pages(pages, writes=writes), MachineConfig.lean(k), policy)
    hits = []
    resident = [None] * k
    before = sim.stats()
    for stop in range(1, sim.length + 1):
        assert not sim.advance(stop)
        now = sim.stats()
        d_acc, d_hit = now.accesses - before.accesses, now.hits - before.hits
        assert d_acc in (0, 1) and d_hit in (0, d_acc)
        if d_acc:
            hits.append(bool(d_hit))
            if inspect is not None:
                inspect(sim, len(hits) - 1)
            if len(hits) == len(pages):
                fp = sim.state.frame_page
                resident = [int(sim.state.page_vpn[g]) if g >= 0 else None for g in fp]
        before = now
    assert sim.done
    return hits, resident


def busy_workload(seed):
    """Processes with shared memory, fork/COW, mlock, munmap and early exits (page ids get reused)."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("busy")
    wb.shm("ipc", 6)
    for k in range(3):
        p = wb.process(f"p{k}", start=k * 40)
        p.map(Vma(0, 14, "rw"))
        p.map(Vma(20, 6, "rw", obj="ipc", shared=True))
        p.map(Vma(40, 3, "rw"))
        p.mlock(40)
        for rnd in range(3):
            vpn = np.where(rng.random(80) < 0.3, 20 + rng.integers(0, 6, 80), rng.integers(0, 14, 80))
            if rnd == 1:
                vpn[::7] = 40 + rng.integers(0, 3, len(vpn[::7]))
            p.access(vpn * 4096, np.where(rng.random(80) < 0.4, OP_WRITE, OP_READ))
            if k == 0 and rnd == 0:
                child = p.fork()
                child.access(rng.integers(0, 14, 60) * 4096, OP_WRITE)
            if rnd == 1:
                p.munmap(0)
                p.map(Vma(0, 14, "rw"))
        if k == 1:
            p.exit()
    return wb.build()


def run_busy(name, frames, seed, check):
    """Run ``busy_workload(seed)`` under policy ``name`` in steps of 3 trace entries, checking the
    machine invariants and ``check(sim)`` (the policy's own state) after each; OOM may end it."""
    sim = Simulator(busy_workload(seed), MachineConfig(frames=frames, swap_slots=48, quantum=5), name)
    try:
        while not sim.done:
            sim.advance(stop=sim.position + 3)
            sim.check_invariants()
            check(sim)
    except OutOfMemory:
        sim.check_invariants()
        check(sim)
    assert sim.stats().accesses > 0


def locality_trace(rng, k, n_parts):
    """Pages of ``n_parts`` phases (random hot sets, loops around ``k``, scans of new pages)."""
    parts = []
    for _ in range(n_parts):
        kind = rng.integers(3)
        if kind == 0:
            parts.append(rng.integers(0, int(rng.integers(5, 60)), 150))
        elif kind == 1:
            parts.append(np.tile(np.arange(int(rng.integers(k // 2, 2 * k))), 3))
        else:
            parts.append(np.arange(100, 100 + int(rng.integers(20, 200))))
    return np.concatenate(parts).tolist()
