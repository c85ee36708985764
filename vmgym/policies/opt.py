"""OPT / Belady's MIN: evict the page whose next use is furthest in the future.

Source: Belady, "A study of replacement algorithms for a virtual-storage
computer", IBM Systems Journal 5(2), 1966. An oracle: it reads the future of
the trace through a next-use array computed in one backward pass at load time.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import heap_remove, heap_set, largest_key_evictable
from vmgym.policies.base import Policy, register
from vmgym.sim import state as S

KERNEL_ID = 4
# pol_f rows 0: heap (frames), 1: a frame's position in the heap, 2: the key (next use) at each heap
#   position (_structs' indexed heap); pol_g 0: heap size


@njit(cache=True, inline="always", _nrt=False)
def page_next_use(st, g):
    """Trace position of the next reference to page ``g`` through any mapping (INF: never)."""
    n_static = st.cfg[S.CF_N_STATIC]
    best = S.INF
    if g < n_static:
        best = st.key_next[g]
    p = st.page_rmap[g]
    while p >= 0:
        if st.pte_flags[p] & S.PTE_SHARED == 0:
            v = st.key_next[n_static + p]
            if v < best:
                best = v
        p = st.pte_rmap_next[p]
    return best


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Reference ``i`` touched page ``g`` in frame ``f`` (the flow advanced its key): re-key it."""
    heap_set(st.pol_f[0], st.pol_f[2], st.pol_f[1], st.pol_g, 0, f, page_next_use(st, g))


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """A hit is an access like a load: advance the page's next use."""
    on_insert(st, f, g, i)


@njit(cache=True, inline="always", _nrt=False)
def on_meta(st, f):
    """The mappings of frame ``f``'s page changed: recompute its next use."""
    heap_set(st.pol_f[0], st.pol_f[2], st.pol_f[1], st.pol_g, 0, f, page_next_use(st, st.frame_page[f]))


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` was emptied."""
    heap_remove(st.pol_f[0], st.pol_f[2], st.pol_f[1], st.pol_g, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The evictable frame whose next use is furthest (heap top, else a scan)."""
    return largest_key_evictable(st)


@register
class OPT(Policy):
    """Belady's MIN (1966): the optimal offline policy; an oracle that reads the future."""

    name = "opt"
    aliases = ("belady", "min")
    kernel_id = KERNEL_ID
    flow_family = "classic"
    source = "Belady, IBM Systems Journal 1966"
    conventions = (
        "Next use of a page is the earliest next reference through any of its mappings. Ties (several "
        "pages never used again) are broken by the heap order, deterministically. After an OOM kill, next "
        "uses that belonged to the killed process are not recomputed."
    )
    frame_rows = 3
    global_rows = 1
    oracle = True

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty heap."""
        pol_f[:] = -1
        pol_g[0] = 0
