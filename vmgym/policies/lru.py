"""LRU replacement: evict the page whose last reference is oldest.

Source: Mattson, Gecsei, Slutz & Traiger, "Evaluation techniques for storage
hierarchies", IBM Systems Journal 9(2), 1970 (LRU as a stack algorithm);
Silberschatz et al., *Operating System Concepts*, 10th ed., section 10.4.4.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import dll_init, dll_move_front, dll_push_front, dll_remove
from vmgym.policies.base import Policy, register
from vmgym.sim.frames import evictable

KERNEL_ID = 2
# pol_f rows 0/1: prev/next of the recency list; pol_g 0/1: head (MRU), tail (LRU)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(pol_f, pol_g, f):
    """Frame ``f`` was referenced: most recently used."""
    dll_move_front(pol_f, pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f):
    """A page entered frame ``f``: most recently used."""
    dll_push_front(st.pol_f, st.pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f):
    """Frame ``f`` was emptied."""
    dll_remove(st.pol_f, st.pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The least recently used evictable frame, or -1."""
    f = st.pol_g[1]
    while f >= 0:
        if evictable(st, f):
            return f
        f = st.pol_f[0, f]
    return -1


@register
class LRU(Policy):
    """Least recently used (Mattson et al. 1970): exact recency order, updated on every reference."""

    name = "lru"
    aliases = ("least-recently-used",)
    kernel_id = KERNEL_ID
    source = "Mattson et al., IBM Systems Journal 1970; Silberschatz et al., OS Concepts 10e, 10.4.4"
    conventions = "Every reference (read, write, fetch, from any process) moves the page to the MRU end."
    frame_rows = 2
    global_rows = 2

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty recency list."""
        dll_init(pol_f, pol_g, 0, 0)
