"""The invariant checker itself: a consistent state passes, each kind of corruption is caught.

Every other test that calls ``check_invariants()`` relies on it failing when something is
wrong; here each check is broken on purpose, one at a time, on a state with resident,
swapped, shared, locked and dirty pages.
"""

from __future__ import annotations

import numpy as np
import pytest

from vmgym.sim import MachineConfig, Simulator
from vmgym.sim import state as S
from vmgym.sim.invariants import InvariantError, check_invariants
from workloads import OP_READ, OP_WRITE, Vma, WorkloadBuilder


def _busy_state() -> S.SimState:
    """Two processes sharing a segment, one mlocked region, swap in use, stopped mid-run."""
    rng = np.random.default_rng(3)
    wb = WorkloadBuilder("inv")
    wb.shm("ipc", 8)
    for k in range(2):
        p = wb.process(f"p{k}")
        p.map(Vma(0, 40, "rw"))
        p.map(Vma(50, 8, "rw", obj="ipc", shared=True))
        p.map(Vma(70, 4, "rw"))
        if k == 0:
            p.mlock(70)
        vpn = np.where(rng.random(400) < 0.3, 50 + rng.integers(0, 8, 400), rng.integers(0, 40, 400))
        vpn[::25] = 70 + rng.integers(0, 4, 16)
        p.access(vpn * 4096, np.where(rng.random(400) < 0.5, OP_WRITE, OP_READ))
    sim = Simulator(
        wb.build(), MachineConfig(frames=24, tlb_entries=8, swap_slots=256, quantum=20), policy=None
    )
    for _ in range(60):
        assert sim.advance()
        cands = sim.candidates()
        sim.evict(int(cands[rng.integers(cands.size)]))
    st = sim.state
    assert (st.page_slot >= 0).sum() > 5 and (st.page_mapcount > 1).any() and (st.page_pins > 0).any()
    check_invariants(st)
    return st


def _resident(st: S.SimState, *, dirty: bool | None = None) -> int:
    """A resident page (optionally dirty or clean) with a swap copy when clean."""
    for g in np.flatnonzero(st.page_frame >= 0):
        if dirty is None or bool(st.page_dirty[g]) == dirty:
            return int(g)
    raise AssertionError("no such page")


def _swapped(st: S.SimState) -> int:
    return int(np.flatnonzero((st.page_frame < 0) & (st.page_slot >= 0))[0])


def _break_frame_twice(st):
    used = np.flatnonzero(st.frame_page >= 0)
    st.frame_page[used[1]] = st.frame_page[used[0]]


def _break_free_stack(st):
    st.sc[S.SC_FREE_TOP] += 1


def _break_slot_owner(st):
    g = _swapped(st)
    st.slot_page[st.page_slot[g]] = -1


def _break_swap_used(st):
    st.sc[S.SC_SWAP_USED] += 1


def _break_rmap_link(st):
    g = int(np.flatnonzero(st.page_mapcount > 1)[0])
    head = st.page_rmap[g]
    st.pte_rmap_next[head] = -1  # drop the rest of the list


def _break_rmap_cycle(st):
    g = int(np.flatnonzero(st.page_mapcount > 1)[0])
    head = st.page_rmap[g]
    st.pte_rmap_next[st.pte_rmap_next[head]] = head


def _break_pins(st):
    st.page_pins[int(np.flatnonzero(st.page_pins > 0)[0])] = 0


def _break_present(st):
    g = _swapped(st)
    st.pte_flags[st.page_rmap[g]] |= S.PTE_PRESENT


def _break_rss(st):
    st.proc_stats[S.ST_RSS, 0] += 1


def _break_ram_version(st):
    st.page_ver[_resident(st)] += 1  # a write the frame never saw


def _break_lost_page(st):
    g = _swapped(st)
    st.slot_ver[st.page_slot[g]] -= 1  # the swap copy is older than the page


def _break_clean_unbacked(st):
    g = _resident(st, dirty=True)
    st.page_dirty[g] = 0  # marked clean, but no backing copy holds its version


def _break_tlb(st):
    g = _swapped(st)
    st.tlb_tag[0] = st.page_rmap[g]  # a translation to a non-present PTE


def _break_owner(st):
    st.proc_frames[0] += 1


def _break_prefetch(st):
    st.sc[S.SC_PF_ISSUED] += 1


BREAKS = {
    "a page is resident in two frames": _break_frame_twice,
    "free-frame stack": _break_free_stack,
    "slot_page and page_slot|does not own|swap_used": _break_slot_owner,
    "swap_used is": _break_swap_used,
    "mapcount": _break_rmap_link,
    "reverse map of page": _break_rmap_cycle,
    "pins but": _break_pins,
    "present but its page": _break_present,
    "has RSS": _break_rss,
    "RAM holds version": _break_ram_version,
    "lost: version": _break_lost_page,
    "clean in RAM": _break_clean_unbacked,
    "TLB caches a translation": _break_tlb,
    "is charged": _break_owner,
    "prefetch accounting": _break_prefetch,
}


@pytest.mark.parametrize("message", list(BREAKS))
def test_each_corruption_is_caught(message):
    st = _busy_state()
    BREAKS[message](st)
    with pytest.raises(InvariantError, match=message):
        check_invariants(st)
