"""FIFO replacement: evict the page that has been in memory longest.

Source: Belady, "A study of replacement algorithms for a virtual-storage
computer", IBM Systems Journal 5(2), 1966; Silberschatz, Galvin & Gagne,
*Operating System Concepts*, 10th ed., section 10.4.2.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import dll_init, dll_push_front, dll_remove, oldest_evictable
from vmgym.policies.base import Policy, register

KERNEL_ID = 1
# pol_f rows 0/1: prev/next of the insertion-order list; pol_g 0/1: head (newest), tail (oldest)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f``: newest in the queue."""
    dll_push_front(st.pol_f, st.pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` was emptied (evicted or freed)."""
    dll_remove(st.pol_f, st.pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The oldest evictable frame, or -1."""
    return oldest_evictable(st, 0)


@register
class FIFO(Policy):
    """First in, first out (Belady 1966): the page loaded longest ago is evicted."""

    name = "fifo"
    aliases = ("first-in-first-out",)
    kernel_id = KERNEL_ID
    flow_family = "classic"
    source = "Belady, IBM Systems Journal 1966; Silberschatz et al., OS Concepts 10e, 10.4.2"
    conventions = "Hits do not change the order. Unevictable frames (pinned) are skipped, oldest first."
    frame_rows = 2
    global_rows = 2

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty queue."""
        dll_init(pol_f, pol_g, 0, 0)
