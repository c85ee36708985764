"""SIEVE replacement: a FIFO queue, a visited bit and a hand that moves from the tail toward the head.

Source: Zhang, Yang, Yue, Vigfusson & Rashmi, "SIEVE is Simpler than LRU: an
Efficient Turn-Key Eviction Algorithm for Web Caches", NSDI 2024, Algorithm 1:

- hit: ``x.visited <- 1`` (the queue is not reordered);
- miss with a full cache: ``o <- hand`` (the tail if the hand is null); while
  ``o.visited``: clear it and move ``o`` to ``o.prev`` (toward the head),
  wrapping to the tail past the head; then ``hand <- o.prev`` and ``o`` is
  evicted;
- the new object is inserted at the head with ``visited <- 0``.

Unlike Clock, objects that survive stay in place, so new objects are kept apart
from old popular ones. The visited bit is the policy's own (set in ``on_hit``),
not the MMU accessed bit.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import dll_init, dll_push_front, dll_remove
from vmgym.policies.base import Policy, register
from vmgym.sim.frames import evictable

KERNEL_ID = 16
# pol_f 0/1: prev (toward the head, newer) / next (toward the tail, older) of the insertion queue,
#   2: visited bit. pol_g 0/1: head (newest), tail (oldest); 2: hand (-1: null, i.e. the tail).


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f``: at the head, not visited."""
    dll_push_front(st.pol_f, st.pol_g, 0, 0, f)
    st.pol_f[2, f] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Frame ``f`` was referenced: visited."""
    pol_f[2, f] = 1


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` was emptied; a hand pointing at it moves to its predecessor (toward the head)."""
    if st.pol_g[2] == f:
        st.pol_g[2] = st.pol_f[0, f]
    dll_remove(st.pol_f, st.pol_g, 0, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Algorithm 1's sweep from the hand: clear visited bits, stop at the first unvisited frame.

    Unevictable frames are passed over untouched (their bit is kept). Returns -1
    if no frame is evictable.
    """
    pf = st.pol_f
    tail = st.pol_g[1]
    o = st.pol_g[2]
    if o < 0:
        o = tail
    for _ in range(2 * st.frame_page.shape[0] + 1):
        if o < 0:
            return -1
        if evictable(st, o):
            if pf[2, o] == 0:
                st.pol_g[2] = pf[0, o]
                return o
            pf[2, o] = 0
        o = pf[0, o]
        if o < 0:
            o = tail
    return -1


@register
class Sieve(Policy):
    """SIEVE (Zhang et al., NSDI 2024): FIFO order, visited bit, hand sweeping from tail to head."""

    name = "sieve"
    aliases = ()
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = "Zhang, Yang, Yue, Vigfusson & Rashmi, SIEVE is Simpler than LRU, NSDI 2024 (Algorithm 1)"
    conventions = (
        "The visited bit is the policy's own, set by every access after the load (hits and minor faults "
        "that only map the page); a new page is inserted at the head unvisited. The hand starts null (the "
        "tail), stops at the victim's predecessor toward the head (null past the head, i.e. the tail). "
        "Unevictable frames are passed over with their bit untouched. A frame freed under the hand "
        "(exit, munmap) moves the hand to its predecessor."
    )
    frame_rows = 3
    global_rows = 3

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty queue, null hand."""
        dll_init(pol_f, pol_g, 0, 0)
        pol_f[2, :] = 0
        pol_g[2] = -1
