"""Clock (second chance) replacement.

Source: Corbató, "A paging experiment with the Multics system", MIT Project MAC
MAC-M-384, 1968; Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.5.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable, test_and_clear_referenced

KERNEL_ID = 3
# pol_g 0: hand (a frame index); 1: whether a new page keeps its reference bit


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f``: by default it starts with its reference bit clear."""
    if st.pol_g[1] == 0:
        test_and_clear_referenced(st, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Sweep from the hand: clear set reference bits; evict the first frame found clear."""
    n = st.frame_page.shape[0]
    hand = st.pol_g[0]
    for _ in range(2 * n + 1):
        f = hand
        hand = hand + 1
        if hand == n:
            hand = 0
        if not evictable(st, f):
            continue
        if test_and_clear_referenced(st, f):
            continue
        st.pol_g[0] = hand
        return f
    st.pol_g[0] = hand
    return -1


@register
class Clock(Policy):
    """Clock / second chance (Corbató 1968): a hand sweeps frames, sparing referenced ones once."""

    name = "clock"
    aliases = ("second-chance", "fifo-reinsertion")
    kernel_id = KERNEL_ID
    flow_family = "classic"
    source = "Corbató, MIT MAC-M-384, 1968; Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.5"
    conventions = (
        "The frames form the clock in frame order; the hand starts at frame 0 and stops one past the victim. "
        "The reference bit is the MMU accessed bit of every PTE mapping the page. A new page enters with its "
        "reference bit clear (insert_referenced=False), as in libCacheSim; set insert_referenced=True for "
        "the hardware behaviour, where the faulting access sets it. Free frames fill in index order with the "
        "hand still at 0, so the frame clock is exactly FIFO-reinsertion (libCacheSim's Clock): a page "
        "loaded into the victim's frame sits just behind the hand, where the queue form appends it; a hit "
        "sets the bit and never moves the hand."
    )
    global_rows = 2
    params = {"insert_referenced": False}

    def validate(self):
        """``insert_referenced`` must be a bool."""
        if not isinstance(self.values["insert_referenced"], bool):
            raise PolicyError("policy 'clock': insert_referenced must be true or false")

    def init_state(self, pol_f, pol_p, pol_g):
        """Hand at frame 0."""
        pol_g[0] = 0
        pol_g[1] = 1 if self.values["insert_referenced"] else 0
