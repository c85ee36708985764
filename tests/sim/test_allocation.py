"""Local frame allocation (equal, proportional, working-set): hand-checked runs, restrictions, errors."""

import numpy as np
import pytest

from vmgym.sim import ConfigError, MachineConfig, Simulator
from workloads import Vma, WorkloadBuilder


def loop_and_scan(n=4000):
    """Process 0 loops over 10 pages; process 1 scans 1000 pages. Both read only."""
    wb = WorkloadBuilder("loop-and-scan", 4096)
    a = wb.process("loop")
    a.map(Vma(0, 10, "rw"))
    a.access_pages(np.arange(n) % 10, np.zeros(n, bool))
    b = wb.process("scan")
    b.map(Vma(0, 1000, "rw"))
    b.access_pages(np.arange(n) % 1000, np.zeros(n, bool))
    return wb.build()


def faults(allocation, policy="lru", **kw):
    cfg = MachineConfig(frames=40, tlb_entries=0, quantum=50, allocation=allocation, **kw)
    sim = Simulator(loop_and_scan(), cfg, policy)
    stats = sim.run()
    sim.check_invariants()
    procs = stats.processes
    return [p.minor_faults + p.major_faults for p in procs], [p.frame_quota for p in procs]


def test_global_lru_lets_the_scan_flush_the_loop():
    # each 50-reference quantum of the scan brings 50 new pages into 40 frames: the loop's 10 are gone
    (loop, scan), _ = faults("global")
    assert scan == 4000 and loop == 10 * 80  # it refaults its 10 pages in each of its 80 quanta


def test_equal_allocation_isolates_the_loop():
    (loop, scan), quotas = faults("equal")
    assert quotas == [20, 20]
    assert loop == 10 and scan == 4000  # 10 compulsory faults; the scan replaces only its own pages


def test_proportional_allocation_follows_virtual_size():
    (loop, scan), quotas = faults("proportional")
    assert quotas == [max(1, 40 * 10 // 1010), 40 * 1000 // 1010] == [1, 39]
    # alone (before the scan starts at position 50) the loop may use all RAM: 10 faults, 40 hits;
    # afterwards it has 1 frame for a 10-page loop and faults on every reference
    assert loop == 4000 - 40


def test_working_set_allocation_gives_the_loop_its_working_set():
    (loop, _), quotas = faults("working-set", ws_window=200)
    # W(200): the loop's 10 pages, the scan's 100; 110 > 40 frames: max-min fair, the loop fits whole
    assert quotas == [10, 30]
    assert loop < 20  # compulsory misses plus a few while the first window fills


def test_every_policy_runs_under_local_allocation():
    from vmgym import policies

    for name in policies.names():
        (loop, _), _ = faults("equal", policy=name)
        assert loop <= 10 * 80, name


def test_agent_candidates_are_the_faulting_process_frames():
    cfg = MachineConfig(frames=40, tlb_entries=0, quantum=50, allocation="equal")
    sim = Simulator(loop_and_scan(), cfg, policy=None)
    decisions = 0
    while sim.advance():
        pid = int(sim.state.ref_pid[sim.position])
        owners = set(sim.state.frame_owner[sim.candidates()].tolist())
        assert owners == {pid}
        sim.evict(int(sim.candidates()[0]))
        decisions += 1
    sim.check_invariants()
    assert decisions > 0


def test_bad_allocation_names_the_choices():
    allowed = "global, equal, proportional, working-set"
    with pytest.raises(ConfigError, match=f"allocation must be one of {allowed}"):
        MachineConfig(allocation="local")
    with pytest.raises(ConfigError, match="ws_window must be >= 1"):
        MachineConfig(ws_window=0)
