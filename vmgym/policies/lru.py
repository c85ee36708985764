"""LRU replacement: evict the page whose last reference is oldest.

Source: Mattson, Gecsei, Slutz & Traiger, "Evaluation techniques for storage
hierarchies", IBM Systems Journal 9(2), 1970 (LRU as a stack algorithm);
Silberschatz et al., *Operating System Concepts*, 10th ed., section 10.4.4.

LRU is FIFO's queue plus one rule: a hit moves the page to the newest end. The
insertion, removal and victim hooks are FIFO's (same state layout).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies import fifo
from vmgym.policies._structs import dll_init, dll_move_front
from vmgym.policies.base import Policy, register

KERNEL_ID = 2
# pol_f rows 0/1: prev/next of the recency list; pol_g 0/1: head (MRU), tail (LRU)
on_insert = fifo.on_insert
on_remove = fifo.on_remove
victim = fifo.victim


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Frame ``f`` was referenced: most recently used."""
    dll_move_front(pol_f, pol_g, 0, 0, f)


@register
class LRU(Policy):
    """Least recently used (Mattson et al. 1970): exact recency order, updated on every reference."""

    name = "lru"
    aliases = ("least-recently-used",)
    kernel_id = KERNEL_ID
    flow_family = "classic"
    source = "Mattson et al., IBM Systems Journal 1970; Silberschatz et al., OS Concepts 10e, 10.4.4"
    conventions = "Every reference (read, write, fetch, from any process) moves the page to the MRU end."
    frame_rows = 2
    global_rows = 2

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty recency list."""
        dll_init(pol_f, pol_g, 0, 0)
