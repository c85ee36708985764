"""Behaviour of the machine in small, hand-checked scenarios."""

import numpy as np
import pytest

from vmgym.sim import InvalidAction, MachineConfig, OutOfMemory, SegmentationFault, Simulator
from vmgym.sim import state as S
from workloads import OP_READ, OP_WRITE, Vma, Workload, WorkloadBuilder

PS = 4096
R, W = OP_READ, OP_WRITE


def refs(proc, *pairs):
    """Append (vpn, op) references."""
    vpns, ops = zip(*pairs, strict=True)
    proc.access(np.array(vpns) * PS, np.array(ops))


def step_until_decision(sim):
    assert sim.advance(), "expected a decision point"
    sim.check_invariants()


def cfg(**kw):
    base = {"frames": 2, "swap_slots": 8, "tlb_entries": 0, "quantum": 1000}
    return MachineConfig(**{**base, **kw})


def _shm_pair(name, private_pages, shm_pages):
    """Two processes, each with private pages at vpn 0 and the shm segment "ipc" at vpn 10."""
    wb = WorkloadBuilder(name)
    wb.shm("ipc", shm_pages)
    a = wb.process("a")
    b = wb.process("b")
    for p in (a, b):
        p.map(Vma(0, private_pages, "rw"))
        p.map(Vma(10, shm_pages, "rw", obj="ipc", shared=True))
    return wb, a, b


def test_shared_page_evicted_from_both_processes_and_writes_are_visible():
    wb, a, b = _shm_pair("shm", 4, 1)
    refs(a, (10, W), (2, R), (3, R))  # a writes the shared page
    refs(b, (10, R), (0, W), (1, W))  # b reads it (minor fault), then needs frames
    sim = Simulator(wb.build(), cfg(tlb_entries=4, tlb_ways=2, quantum=1), policy=None)
    step_until_decision(sim)
    ma, mb = sim.mapping(0, 10), sim.mapping(1, 10)
    assert ma.page == mb.page and ma.present and mb.present
    assert mb.version == 1  # b sees a's write
    shared_frame = ma.frame
    sim.evict(shared_frame)
    sim.check_invariants()
    ma, mb = sim.mapping(0, 10), sim.mapping(1, 10)
    assert not ma.present and not mb.present and ma.frame == -1
    assert (sim.state.tlb_tag != ma.pte).all() and (sim.state.tlb_tag != mb.pte).all()
    assert sim.state.sc[S.SC_SWAP_OUTS] == 1  # dirty: written once
    st = sim.stats().processes
    assert st[1].minor_faults >= 1


def _one_proc(pairs, pages=4):
    wb = WorkloadBuilder("one")
    p = wb.process("main")
    p.map(Vma(0, pages, "rw"))
    refs(p, *pairs)
    return wb.build()


def test_dirty_page_written_back_once_and_clean_swap_copy_not_rewritten():
    # 1 frame: every new page evicts the previous one
    w = _one_proc([(0, W), (1, R), (0, R), (1, R), (0, R), (1, R), (0, W), (1, R)])
    s = Simulator(w, cfg(frames=1), "lru").run()
    # page 0 dirty -> written (1); swapped in clean twice -> dropped twice; rewritten after the 2nd write (2)
    assert s.swap_outs == 2
    assert s.swap_ins == 3
    assert s.clean_drops >= 4  # page 1 is a clean zero page every time, page 0 clean twice


def test_zero_page_never_written_needs_no_io():
    s = Simulator(_one_proc([(0, R), (1, R), (0, R), (1, R)]), cfg(frames=1), "fifo").run()
    assert s.swap_outs == 0 and s.swap_ins == 0 and s.io_reads == 0
    assert s.zero_fills == 4 and s.minor_faults == 4


def test_segfault_kills_only_the_faulting_process():
    wb = WorkloadBuilder("segv")
    a = wb.process("a")
    b = wb.process("b")
    for p in (a, b):
        p.map(Vma(0, 4, "rw"))
        p.map(Vma(8, 1, "r"))
    refs(a, (0, W), (1, W), (50, R), (2, W))  # 50: no VMA
    refs(b, (0, W), (8, W), (1, W))  # write to read-only
    refs(b, (2, R))
    wb2 = WorkloadBuilder("ok")
    c = wb2.process("c")
    c.map(Vma(0, 4, "rw"))
    refs(c, (0, R))
    sim = Simulator(wb.build(), cfg(frames=8), "lru")
    s = sim.run()
    sim.check_invariants()
    pa, pb = s.processes
    assert pa.state == "killed (segfault)" and pa.accesses == 2 and pa.segfaults == 1
    assert pb.state == "killed (segfault)" and pb.accesses == 1
    assert s.segfaults == 2
    assert (sim.state.frame_page == -1).all()  # both killed: everything freed

    wb3 = WorkloadBuilder("mixed")
    x = wb3.process("x")
    y = wb3.process("y")
    for p in (x, y):
        p.map(Vma(0, 4, "rw"))
    refs(x, (0, W), (99, R), (1, W))
    refs(y, (0, W), (1, W), (2, W))
    s = Simulator(wb3.build(), cfg(frames=8, quantum=1), "lru").run()
    assert s.processes[0].state == "killed (segfault)"
    assert s.processes[1].state == "exited" and s.processes[1].accesses == 3


def test_segfault_as_error_names_the_process():
    w = _one_proc([(0, R), (9, R)])
    with pytest.raises(SegmentationFault, match=r"process 0 \('main'\).*outside every VMA"):
        Simulator(w, cfg(segfault="error"), "lru").run()


def _oom_workload():
    wb = WorkloadBuilder("oom")
    big = wb.process("big")
    small = wb.process("small")
    big.map(Vma(0, 8, "rw"))
    small.map(Vma(0, 8, "rw"))
    refs(big, (0, W), (1, W), (2, W))
    refs(small, (0, W), (0, R), (0, R), (0, R))  # small stays alive while big needs a 4th frame
    refs(big, (3, W))
    return wb.build()


def test_oom_kills_the_largest_process():
    sim = Simulator(_oom_workload(), cfg(frames=3, swap_slots=1, quantum=3), "lru")
    s = sim.run()
    sim.check_invariants()
    assert s.oom_kills == 1
    assert s.processes[0].state == "killed (OOM)"
    assert s.processes[1].state == "exited" and s.processes[1].accesses == 4
    with pytest.raises(OutOfMemory, match="RAM and swap are full"):
        Simulator(_oom_workload(), cfg(frames=3, swap_slots=1, quantum=3, oom="error"), "lru").run()


def test_exit_frees_frames_and_slots():
    wb = WorkloadBuilder("exit")
    a = wb.process("a")
    a.map(Vma(0, 8, "rw"))
    refs(a, *[(v, W) for v in range(6)])
    b = wb.process("b", start=6)
    b.map(Vma(0, 1, "rw"))
    refs(b, (0, R))
    sim = Simulator(wb.build(), cfg(frames=3, swap_slots=8), policy=None)
    while sim.advance():
        sim.evict(sim.candidates()[0])
        sim.check_invariants()
    assert sim.stats().swap_outs == 3
    assert sim.state.sc[S.SC_SWAP_USED] == 0
    assert sim.state.sc[S.SC_FREE_TOP] == 3
    assert (sim.state.slot_page == -1).all()


def test_fork_copy_on_write():
    wb = WorkloadBuilder("cow")
    parent = wb.process("parent")
    parent.map(Vma(0, 4, "rw"))
    refs(parent, (0, W), (1, W))
    child = parent.fork("child")
    refs(child, (0, R), (0, W), (1, R))
    refs(parent, (1, R), (1, R), (1, R), (0, W))
    # schedule (quantum 2): parent w0 w1 | parent fork r1 r1 | child r0 w0 | parent r1 w0 | child r1
    sim = Simulator(wb.build(), cfg(frames=8, quantum=2), policy="lru")
    fork_at = int(np.flatnonzero(sim.state.ref_op == S.E_FORK)[0])
    sim.advance(stop=fork_at + 1)
    sim.check_invariants()
    p0, c0 = sim.mapping(0, 0), sim.mapping(1, 0)
    assert p0.page == c0.page and c0.present  # shared after fork
    assert p0.flags & S.PTE_COW and c0.flags & S.PTE_COW
    child_write = int(np.flatnonzero((sim.state.ref_pid == 1) & (sim.state.ref_op == W))[0])
    sim.advance(stop=child_write + 1)
    sim.check_invariants()
    p0, c0 = sim.mapping(0, 0), sim.mapping(1, 0)
    assert p0.page != c0.page
    assert p0.version == 1 and c0.version == 2
    assert sim.state.page_mapcount[p0.page] == 1
    s = sim.run()
    assert s.cow_faults == 1  # the parent's later write reuses its now-exclusive page
    assert s.processes[1].hits == 2  # inherited present: the first read and page 1 hit


def test_write_after_fork_by_sole_owner_reuses_the_page():
    wb = WorkloadBuilder("cow2")
    parent = wb.process("parent")
    parent.map(Vma(0, 4, "rw"))
    refs(parent, (0, W))
    child = parent.fork()
    refs(child, (0, W))  # copies: the page is shared
    refs(parent, (0, W))  # now exclusive again: reused, no copy
    s = Simulator(wb.build(), cfg(frames=8, quantum=100), "lru").run()
    assert s.cow_faults == 1


def test_write_protect_fault_drops_the_stale_tlb_entry():
    """Regression: a read cached the COW PTE in the TLB; the write fault must not cache it twice."""
    wb = WorkloadBuilder("cow-tlb")
    parent = wb.process("parent")
    parent.map(Vma(0, 4, "rw"))
    refs(parent, (0, W))
    child = parent.fork()
    refs(child, (0, W))  # the child copies: the parent's page becomes exclusive
    refs(parent, (1, R), (1, R), (0, R), (0, W), (0, R))  # (the child runs) TLB fill, write fault, TLB hit
    sim = Simulator(wb.build(), cfg(frames=8, quantum=2, tlb_entries=16, tlb_ways=4), "lru")
    while not sim.done:
        sim.advance(stop=sim.position + 1)
        sim.check_invariants()
    s = sim.run()
    assert s.cow_faults == 1 and s.processes[0].minor_faults == 3  # w0 zero fill, r1 zero fill, w0 protect
    assert s.processes[0].tlb_hits == 2  # the second r1 and the last r0


def test_private_file_mapping_copies_on_write_and_never_writes_the_file():
    wb = WorkloadBuilder("filepriv")
    wb.file("f", 2)
    p = wb.process("p")
    p.map(Vma(0, 2, "rw", obj="f", shared=False))
    p.map(Vma(4, 2, "rw"))
    refs(p, (0, R), (0, W), (4, W), (5, W), (1, R))
    sim = Simulator(wb.build(), cfg(frames=2), "lru")
    s = sim.run()
    assert s.file_reads == 2 and s.cow_faults == 1 and s.file_writebacks == 0
    assert sim.state.page_filever[0] == 0


def test_shared_file_mapping_writes_back_dirty_pages():
    wb = WorkloadBuilder("fileshared")
    wb.file("f", 2)
    p = wb.process("p")
    p.map(Vma(0, 2, "rw", obj="f", shared=True))
    refs(p, (0, W), (1, R), (0, R), (1, R))
    sim = Simulator(wb.build(), cfg(frames=1), "lru")
    s = sim.run()
    assert s.file_writebacks == 1 and s.file_reads == 4
    assert sim.state.page_filever[0] == 1


def test_pinned_frames_are_never_candidates():
    wb = WorkloadBuilder("mlock")
    p = wb.process("p")
    p.map(Vma(0, 2, "rw"))
    p.map(Vma(10, 8, "rw"))
    p.mlock(0)
    refs(p, (0, W), (1, W), *[(10 + i % 8, R) for i in range(30)], (0, R), (1, R))
    sim = Simulator(wb.build(), cfg(frames=4), policy=None)
    rng = np.random.default_rng(1)
    while sim.advance():
        cands = sim.candidates()
        pinned = {sim.mapping(0, 0).frame, sim.mapping(0, 1).frame}
        assert not pinned & set(cands.tolist())
        with pytest.raises(InvalidAction):
            sim.evict(sim.mapping(0, 0).frame)
        sim.evict(rng.choice(cands))
    s = Simulator(wb.build(), cfg(frames=4), "lru").run()
    assert s.processes[0].major_faults == 0  # the pinned pages never left (others are zero pages)


def test_all_pinned_means_oom_kill():
    wb = WorkloadBuilder("allpinned")
    p = wb.process("p")
    p.map(Vma(0, 4, "rw"))
    p.mlock(0)
    refs(p, (0, W), (1, W), (2, W))
    s = Simulator(wb.build(), cfg(frames=2), "lru").run()
    assert s.oom_kills == 1 and s.processes[0].state == "killed (OOM)"


def test_nothing_to_free_is_a_clear_error():
    wb, a, b = _shm_pair("stuck", 2, 2)
    refs(a, (10, W), (11, W), (0, W))  # dirty shm fills RAM, no swap: a is OOM-killed
    refs(b, (0, W))  # shm pages outlive a and b holds nothing: no way forward
    with pytest.raises(OutOfMemory, match="no frame can be freed"):
        Simulator(wb.build(), cfg(frames=2, swap_slots=0, quantum=3), "lru").run()


def test_invalid_eviction_changes_nothing():
    sim = Simulator(_one_proc([(0, W), (1, W), (2, W)]), cfg(frames=2), policy=None)
    assert sim.advance()
    before = [a.copy() for a in sim.state]
    for bad in (-1, 2, 99):
        with pytest.raises(InvalidAction, match="out of range"):
            sim.evict(bad)
    after = list(sim.state)
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))
    sim.evict(sim.candidates()[0])
    assert not sim.advance()
    assert sim.done


def test_tlb_asid_keeps_entries_across_switches_flush_does_not():
    wb = WorkloadBuilder("tlb")
    for k in range(2):
        p = wb.process(f"p{k}")
        p.map(Vma(0, 2, "rw"))
        refs(p, *[(i % 2, R) for i in range(40)])
    w = wb.build()
    asid = Simulator(w, cfg(frames=8, tlb_entries=8, tlb_ways=2, quantum=4, tlb_asid=True), "lru").run()
    flush = Simulator(w, cfg(frames=8, tlb_entries=8, tlb_ways=2, quantum=4, tlb_asid=False), "lru").run()
    assert asid.tlb_misses == 4  # one walk per (process, page)
    assert flush.tlb_misses > asid.tlb_misses
    assert asid.context_switches == flush.context_switches == 19
    assert asid.tlb_hits + asid.tlb_misses == asid.accesses


def test_round_robin_quantum_interleaves():
    wb = WorkloadBuilder("rr")
    for k in range(2):
        p = wb.process(f"p{k}")
        p.map(Vma(0, 1, "rw"))
        refs(p, *[(0, R)] * 5)
    sim = Simulator(wb.build(), cfg(quantum=2), "lru")
    refs_only = sim.state.ref_op < S.EVENT_BASE
    assert sim.state.ref_pid[refs_only].tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 0, 1]


def test_munmap_frees_and_later_access_segfaults():
    wb = WorkloadBuilder("munmap")
    p = wb.process("p")
    p.map(Vma(0, 1, "rw"))
    refs(p, (0, R))
    p.map(Vma(10, 4, "rw"))
    refs(p, (10, W), (11, W))
    p.munmap(10)
    refs(p, (0, R), (10, R))
    sim = Simulator(wb.build(), cfg(frames=8), "lru")
    s = sim.run()
    assert s.segfaults == 1 and s.processes[0].accesses == 4


def test_same_seed_same_result_bit_for_bit():
    from workloads import registry

    w = registry.get("multiprocess")
    a = Simulator(w, MachineConfig(frames=300), "clock").run()
    b = Simulator(registry.get("multiprocess"), MachineConfig(frames=300), "clock").run()
    assert a.to_dict() == b.to_dict()


def test_from_pages_textbook_string_through_simulate():
    from vmgym import simulate

    w = Workload.from_pages([7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1])
    assert simulate(w, "lru", frames=3).faults == 12


def test_minor_fault_on_resident_shared_page_evicts_nothing():
    wb = WorkloadBuilder("shm-minor")
    wb.shm("ipc", 4)
    for k in range(2):
        p = wb.process(f"p{k}")
        p.map(Vma(0, 4, "rw", obj="ipc", shared=True))
        refs(p, *[(v, R) for v in range(4)])
    s = Simulator(wb.build(), cfg(frames=8, quantum=4), "lru").run()
    assert s.evictions == 0 and s.minor_faults == 8
