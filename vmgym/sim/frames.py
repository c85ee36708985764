"""Compiled helpers over frames that both the simulator flow and the policies use.

Policies see the MMU the way an OS does: "was this frame referenced?" means "is
the accessed bit set in any PTE that maps its page" (the reverse map), and
clearing it clears all of them, as Linux's ``folio_referenced`` does.
"""

from __future__ import annotations

from numba import njit

from vmgym.sim import state as S
from vmgym.sim.hints import nonneg


@njit(cache=True, inline="always", _nrt=False)
def needs_new_slot(st, f):
    """True if evicting frame ``f`` must allocate a swap slot (no valid backing copy)."""
    g = nonneg(st.frame_page[f])  # f holds a page
    if st.page_kind[g] == S.KIND_FILE or st.page_slot[g] >= 0:
        return False
    return st.page_dirty[g] != 0 or st.frame_ver[f] != 0


@njit(cache=True, inline="always", _nrt=False)
def evictable(st, f):
    """True if frame ``f`` holds a page that may be evicted now.

    Not evictable: a free frame, a pinned page (mlock), the source page of the
    copy-on-write fault in progress, an anonymous page without a valid swap
    copy while the swap device is full, and under local allocation a frame
    outside the current restriction (``SC_LOCAL``).
    """
    g = st.frame_page[f]
    if g < 0 or (st.cfg[S.CF_MLOCK] and st.page_pins[g] > 0) or f == st.sc[S.SC_PROTECT]:
        return False
    if st.sc[S.SC_SLOT_TOP] == 0 and needs_new_slot(st, f):
        return False
    local = st.sc[S.SC_LOCAL]
    if local != -1:  # local allocation: the faulting process's frames, or those of over-quota processes
        o = st.frame_owner[f]
        if local >= 0:
            return o == local
        if local == S.LOCAL_CHOSEN:  # a caller's subset (Simulator.policy_choice)
            return st.frame_allow[f] != 0
        return st.proc_frames[o] > st.proc_quota[o]
    return True


@njit(cache=True, inline="always", _nrt=False)
def referenced(st, f):
    """True if any PTE mapping the page in frame ``f`` has its accessed bit set."""
    p = st.page_rmap[st.frame_page[f]]
    while p >= 0:
        if st.pte_flags[p] & S.PTE_ACCESSED:
            return True
        p = st.pte_rmap_next[p]
    return False


@njit(cache=True, inline="always", _nrt=False)
def test_and_clear_referenced(st, f):
    """Clear the accessed bit in every PTE mapping frame ``f``'s page; return whether any was set."""
    p = st.page_rmap[st.frame_page[f]]
    was = False
    while p >= 0:
        fl = st.pte_flags[p]
        if fl & S.PTE_ACCESSED:
            was = True
            st.pte_flags[p] = fl & ~S.PTE_ACCESSED
        p = st.pte_rmap_next[p]
    return was


@njit(cache=True, inline="always", _nrt=False)
def page_dirty(st, f):
    """True if the page in frame ``f`` has been written since it was last cleaned."""
    return st.page_dirty[st.frame_page[f]] != 0
