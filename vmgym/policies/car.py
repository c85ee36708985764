"""CAR: Clock with Adaptive Replacement.

Source: Bansal & Modha, "CAR: Clock with Adaptive Replacement", USENIX FAST 2004,
Fig. 2. Two clocks of resident pages, T1 (seen once recently) and T2 (seen at
least twice), each page with a reference bit; two LRU ghost lists B1/B2 of page
ids; a real-valued target ``p`` for |T1|. The cache size c is the number of frames.

Mapping onto the simulator's hooks: ``on_hit`` sets the reference bit (lines 1-2);
``victim`` is ``replace()`` (lines 22-39), run when a fault finds no free frame,
which is when Fig. 2 finds |T1| + |T2| = c; ``on_remove`` (evicted) makes the
demoted page the MRU page of B1/B2; ``on_insert`` is the directory replacement
(lines 6-10) and the insertion with adaptation (lines 12-20), which Fig. 2 also
runs after ``replace()``.

Each clock is a queue of frames: the paper's *head* (where the hand points) is the
oldest end of our list and its *tail* the newest, so "make it the tail page" is
a move to the newest end and the hand advancing past a page is the same move.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._adaptive import get_real, set_real
from vmgym.policies._structs import dll_move_front, dll_push_front, dll_remove
from vmgym.policies.arc import (
    B1,
    B2,
    IN_B1,
    IN_T1,
    IN_T2,
    N_B1,
    N_B2,
    N_T1,
    N_T2,
    T1,
    T2,
    P,
    drop_lru_ghost,
    forget_ghost,
    ghost_to_drop,
    init_lists,
)
from vmgym.policies.arc import on_remove as _arc_on_remove
from vmgym.policies.base import Policy, register
from vmgym.sim.frames import evictable

KERNEL_ID = 21
# pol_f rows 0/1: prev/next in clock T1 or T2 (newest = list head); row 2: its clock (IN_T1/IN_T2);
#       row 3: the page's reference bit (set by on_hit, the policy's own bit, not the MMU's)
# pol_p rows 0/1: prev/next in B1 or B2 (page ids, MRU = list head); row 2: IN_B1/IN_B2 (0: neither)
# pol_g: 0/1 T1 newest/oldest, 2/3 T2, 4/5 B1 MRU/LRU, 6/7 B2, 8-11 |T1| |T2| |B1| |B2|,
#        12 p (float64 bit pattern)
# (the list and size slots are ARC's: the constants below come from vmgym.policies.arc)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Cache hit: set the page's reference bit."""
    pol_f[3, f] = 1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """``replace()``: sweep T1 if |T1| >= max(1, p), else T2, until a page with a clear bit.

    A referenced page of T1 gets its bit cleared and moves to the tail of T2; of
    T2, to the tail of T2. An unevictable page is passed by the hand (moved to
    the tail of its own clock, bit unchanged); when every page of the chosen clock
    has been passed that way, the other clock is swept; -1 if neither has one.
    """
    p = get_real(st.pol_g, P)
    lim = max(1.0, p)
    run1 = 0  # consecutive unevictable pages passed in T1 (all of T1 when it reaches |T1|)
    run2 = 0
    while True:
        done1 = run1 >= st.pol_g[N_T1]
        done2 = run2 >= st.pol_g[N_T2]
        if done1 and done2:
            return -1
        use1 = st.pol_g[N_T1] >= lim
        if use1 and done1:
            use1 = False
        elif not use1 and done2:
            use1 = True
        if use1:
            f = st.pol_g[T1 + 1]
            if not evictable(st, f):
                dll_move_front(st.pol_f, st.pol_g, 0, T1, f)
                run1 += 1
                continue
            run1 = 0
            if st.pol_f[3, f] == 0:
                return f
            st.pol_f[3, f] = 0
            dll_remove(st.pol_f, st.pol_g, 0, T1, f)
            st.pol_g[N_T1] -= 1
            dll_push_front(st.pol_f, st.pol_g, 0, T2, f)
            st.pol_g[N_T2] += 1
            st.pol_f[2, f] = IN_T2
        else:
            f = st.pol_g[T2 + 1]
            if not evictable(st, f):
                dll_move_front(st.pol_f, st.pol_g, 0, T2, f)
                run2 += 1
                continue
            run2 = 0
            if st.pol_f[3, f] == 0:
                return f
            st.pol_f[3, f] = 0
            dll_move_front(st.pol_f, st.pol_g, 0, T2, f)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves its clock (bit cleared); an evicted page becomes the MRU of B1/B2, as in ARC."""
    st.pol_f[3, f] = 0
    _arc_on_remove(st, f, evicted)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Cache miss of page ``g`` (now in frame ``f``): directory replacement, then insertion."""
    c = st.frame_page.shape[0]
    ghost = st.pol_p[2, g]
    if ghost == 0:
        h = ghost_to_drop(st)
        if h >= 0:
            drop_lru_ghost(st, h, N_B1 if h == B1 else N_B2)
        dll_push_front(st.pol_f, st.pol_g, 0, T1, f)
        st.pol_g[N_T1] += 1
        st.pol_f[2, f] = IN_T1
    else:
        p = get_real(st.pol_g, P)
        n1 = st.pol_g[N_B1]
        n2 = st.pol_g[N_B2]
        if ghost == IN_B1:
            p = min(p + max(1.0, n2 / n1), c)
            dll_remove(st.pol_p, st.pol_g, 0, B1, g)
            st.pol_g[N_B1] -= 1
        else:
            p = max(p - max(1.0, n1 / n2), 0.0)
            dll_remove(st.pol_p, st.pol_g, 0, B2, g)
            st.pol_g[N_B2] -= 1
        set_real(st.pol_g, P, p)
        st.pol_p[2, g] = 0
        dll_push_front(st.pol_f, st.pol_g, 0, T2, f)
        st.pol_g[N_T2] += 1
        st.pol_f[2, f] = IN_T2
    st.pol_f[3, f] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: drop it from B1/B2."""
    forget_ghost(st, g)


@register
class CAR(Policy):
    """Clock with Adaptive Replacement (Bansal & Modha, FAST 2004): ARC's adaptation on two clocks."""

    name = "car"
    aliases = ("clock-adaptive-replacement",)
    kernel_id = KERNEL_ID
    flow_family = "adaptive"
    source = "Bansal & Modha, CAR: Clock with Adaptive Replacement, USENIX FAST 2004, Fig. 2"
    conventions = (
        "Cache size c = number of frames; T1/T2 are clocks of frames, B1/B2 LRU lists of page ids (a page "
        "that stops existing, e.g. at exit or munmap, leaves B1/B2). The reference bit is the policy's own, "
        "set on every hit (any reference to a resident page, including a minor fault that only maps it) and "
        "cleared when the page enters a clock or is passed by replace(); it is not the MMU accessed bit, "
        "which the faulting access itself sets. The target p is real-valued as in Fig. 2 (|B2|/|B1| not "
        "rounded; float64 stored exactly). replace() runs when a fault finds no free frame; the directory "
        "replacement (lines 6-10) runs at insertion, after replace(), as in Fig. 2; when a free frame exists "
        "(after an exit or munmap) nothing is replaced, and lines 6-10 then only act if the directory "
        "has reached their bounds. Unevictable frames (pinned, copy-on-write source, swap full) are passed "
        "by the hand like a locked page (moved to the tail of their own clock, bit unchanged); if all of "
        "the chosen clock is unevictable the other clock is swept. A frame freed without eviction leaves "
        "its clock without a ghost."
    )
    frame_rows = 4
    page_rows = 3
    global_rows = 13

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty clocks and ghost lists, p = 0, reference bits clear."""
        init_lists(pol_f, pol_p, pol_g)
        pol_f[3, :] = 0
