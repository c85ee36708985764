"""Linux-style two-list replacement: an active and an inactive list, reclaimed from the inactive tail.

Sources: Gorman, *Understanding the Linux Virtual Memory Manager*, Prentice
Hall 2004, ch. 10 (10.6 "Refilling inactive_list", 10.7 reclaiming from the
page cache); mm/vmscan.c (2.4 ``refill_inactive``/``shrink_cache``, 2.6
``shrink_active_list``/``shrink_page_list``). Pages are on one of two LRU
lists, new pages on the inactive one:

- refill (demotion): while the active list is more than ``active_ratio`` times
  the inactive list (2.4 keeps "the active list 2/3 of the size of the cache",
  ratio 2), the page at the active tail is examined: referenced, it is given
  another round at the active head (its bit cleared); otherwise it moves to
  the inactive head;
- shrink (reclaim): the page at the inactive tail is examined: referenced
  since it was last examined, it is promoted to the active head (bit cleared);
  otherwise it is the victim.

"Referenced" is the MMU accessed bit of every PTE mapping the page
(``page_referenced``), tested and cleared by the scans.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import dll_init, dll_move_front, dll_push_front, dll_remove, oldest_evictable
from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import test_and_clear_referenced

KERNEL_ID = 43
# pol_f rows 0/1: prev/next in the frame's list (head = newest); row 2: INACTIVE / ACTIVE (0: none)
# pol_g 0/1: inactive head/tail, 2/3: active head/tail, 4: |inactive|, 5: |active|, 6: active_ratio,
#       7: whether a new page keeps its accessed bit
INACT, ACT = 0, 2
N_INACT, N_ACT, RATIO, INSERT_REF = 4, 5, 6, 7
INACTIVE, ACTIVE = 1, 2
MAX_RATIO = 1000


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A new page goes to the inactive head; by default its accessed bit is cleared (use-once)."""
    dll_push_front(st.pol_f, st.pol_g, 0, INACT, f)
    st.pol_f[2, f] = INACTIVE
    st.pol_g[N_INACT] += 1
    if st.pol_g[INSERT_REF] == 0:
        test_and_clear_referenced(st, f)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves its list."""
    q = st.pol_f[2, f]
    if q == INACTIVE:
        dll_remove(st.pol_f, st.pol_g, 0, INACT, f)
        st.pol_g[N_INACT] -= 1
    elif q == ACTIVE:
        dll_remove(st.pol_f, st.pol_g, 0, ACT, f)
        st.pol_g[N_ACT] -= 1
    st.pol_f[2, f] = 0


@njit(cache=True, _nrt=False)
def _to_list(pf, pg, f, src, dst, n_src, n_dst, tag):
    """Move frame ``f`` from list ``src`` to the head of list ``dst``."""
    dll_remove(pf, pg, 0, src, f)
    dll_push_front(pf, pg, 0, dst, f)
    pg[n_src] -= 1
    pg[n_dst] += 1
    pf[2, f] = tag


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Refill the inactive list, then reclaim from its tail; referenced pages are promoted, not taken.

    Every step clears an accessed bit, demotes a page or returns, so the loop
    ends; the bound only guards the fallback (the evictable frame nearest the
    inactive tail, then the active tail) for lists holding unevictable pages.
    """
    pf = st.pol_f
    pg = st.pol_g
    n = st.frame_page.shape[0]
    for _ in range(4 * n + 8):
        while pg[N_ACT] > pg[RATIO] * pg[N_INACT]:
            a = pg[ACT + 1]
            if test_and_clear_referenced(st, a):
                dll_move_front(pf, pg, 0, ACT, a)
            else:
                _to_list(pf, pg, a, ACT, INACT, N_ACT, N_INACT, INACTIVE)
        f = oldest_evictable(st, INACT)
        if f < 0:
            break
        if test_and_clear_referenced(st, f):
            _to_list(pf, pg, f, INACT, ACT, N_INACT, N_ACT, ACTIVE)
            continue
        return f
    f = oldest_evictable(st, INACT)
    if f < 0:
        f = oldest_evictable(st, ACT)
    return f


@register
class LinuxTwoList(Policy):
    """Linux active/inactive lists (Gorman 2004, ch. 10; mm/vmscan.c): second chance at the inactive tail."""

    name = "linux-2q"
    aliases = ("active-inactive",)
    kernel_id = KERNEL_ID
    flow_family = "working-set"
    source = "Gorman, Understanding the Linux Virtual Memory Manager, 2004, ch. 10; Linux mm/vmscan.c"
    conventions = (
        "One pair of lists for all pages (no anon/file split, no zones). A new page enters the head of the "
        "inactive list with its accessed bit cleared, so it must be referenced again while inactive to "
        "be promoted (the faulting access plays mark_page_accessed's first touch; insert_referenced=True "
        "keeps the bit, as for mapped pages in 2.6+). Referenced = the MMU accessed bit of every PTE "
        "mapping the page, tested and cleared by the scans. Work happens only when a victim is needed: "
        "first the active tail is demoted (referenced: back to the active head, bit cleared) while "
        "|active| > active_ratio * |inactive| (default 2: active at most 2/3 of the pages, as 2.4's "
        "refill_inactive); then the inactive tail is examined: referenced, it moves to the active head "
        "(bit cleared) and the refill runs again; otherwise it is the victim. Unevictable frames are "
        "passed over in place; if the inactive list holds none evictable, the evictable frame nearest "
        "the active tail is taken."
    )
    frame_rows = 3
    global_rows = 8
    params = {"active_ratio": 2, "insert_referenced": False}

    def validate(self):
        """``active_ratio`` must be an int in 1..1000, ``insert_referenced`` a bool."""
        r = self.values["active_ratio"]
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= MAX_RATIO:
            raise PolicyError(
                f"policy 'linux-2q': active_ratio must be an integer in 1..{MAX_RATIO}, got {r!r}"
            )
        if not isinstance(self.values["insert_referenced"], bool):
            raise PolicyError("policy 'linux-2q': insert_referenced must be true or false")

    def init_state(self, pol_f, pol_p, pol_g):
        """Both lists empty."""
        dll_init(pol_f, pol_g, 0, INACT)
        dll_init(pol_f, pol_g, 0, ACT)
        pol_f[2, :] = 0
        pol_g[N_INACT] = 0
        pol_g[N_ACT] = 0
        pol_g[RATIO] = self.values["active_ratio"]
        pol_g[INSERT_REF] = 1 if self.values["insert_referenced"] else 0
