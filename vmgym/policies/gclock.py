"""GCLOCK (generalized Clock): Clock with an n-bit reference counter per frame.

Sources: Smith, "Sequentiality and prefetching in database systems", ACM TODS
3(3), 1978 (the generalized clock); Nicola, Dan & Dias, "Analysis of the
generalized clock buffer replacement scheme for database transaction
processing", SIGMETRICS 1992 (GCLOCK):

- every frame has a counter; a hit increments it, saturating at ``2**bits - 1``;
- a page enters with counter ``insert_count`` (0 by default);
- to find a victim the hand sweeps the frames: a non-zero counter is
  decremented and the hand moves on; the first frame found at zero is evicted
  and the hand stops one past it.

With ``bits=1`` and ``insert_count=0`` this is Clock (``clock.py``) with the
policy's own reference bit.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable

KERNEL_ID = 30
# pol_f 0: counter. pol_g 0: hand (a frame index); 1: maximum count (2**bits - 1); 2: count of a new page


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f``: its counter starts at ``insert_count``."""
    st.pol_f[0, f] = st.pol_g[2]


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Frame ``f`` was referenced: count it, up to the maximum."""
    if pol_f[0, f] < pol_g[1]:
        pol_f[0, f] += 1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Sweep from the hand decrementing non-zero counters; evict the first frame found at zero.

    Unevictable frames are passed over with their counter untouched. Within
    ``(max + 1) * n + 1`` steps every evictable counter reaches zero; -1 (after
    one revolution) means no frame is evictable.
    """
    n = st.frame_page.shape[0]
    hand = st.pol_g[0]
    seen = False
    for step in range((st.pol_g[1] + 1) * n + 1):
        if step == n and not seen:
            break
        f = hand
        hand = hand + 1
        if hand == n:
            hand = 0
        if not evictable(st, f):
            continue
        seen = True
        c = st.pol_f[0, f]
        if c > 0:
            st.pol_f[0, f] = c - 1
            continue
        st.pol_g[0] = hand
        return f
    st.pol_g[0] = hand
    return -1


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


@register
class GClock(Policy):
    """GCLOCK (Smith 1978; Nicola, Dan & Dias 1992): Clock with a saturating per-frame reference counter."""

    name = "gclock"
    aliases = ("clock-n", "generalized-clock")
    kernel_id = KERNEL_ID
    flow_family = "recency"
    source = "Smith, ACM TODS 1978; Nicola, Dan & Dias, SIGMETRICS 1992"
    conventions = (
        "The frames form the clock in frame order; the hand starts at frame 0 and stops one past the victim "
        "(as clock.py). The counter is the policy's own, incremented on every reference the simulator "
        "reports as a hit (including minor faults that only map a resident page); the faulting reference "
        "itself is not counted: a new page starts at insert_count (default 0). bits=2 gives counters 0..3. "
        "Unevictable frames (pinned, the copy-on-write source, swap full) are passed over without "
        "decrementing their counter, like a locked buffer."
    )
    frame_rows = 1
    global_rows = 3
    params = {"bits": 2, "insert_count": 0}

    def validate(self):
        """``bits`` in 1..16; ``insert_count`` in 0..2**bits-1."""
        bits = self.values["bits"]
        if not _is_int(bits) or not 1 <= bits <= 16:
            raise PolicyError(f"policy 'gclock': bits must be an integer in 1..16, got {bits!r}")
        ic = self.values["insert_count"]
        if not _is_int(ic) or not 0 <= ic <= (1 << bits) - 1:
            raise PolicyError(
                f"policy 'gclock': insert_count must be an integer in 0..{(1 << bits) - 1}, got {ic!r}"
            )

    def init_state(self, pol_f, pol_p, pol_g):
        """Hand at frame 0, all counters zero."""
        pol_f[:] = 0
        pol_g[0] = 0
        pol_g[1] = (1 << self.values["bits"]) - 1
        pol_g[2] = self.values["insert_count"]
