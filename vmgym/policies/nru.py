"""NRU (Not Recently Used): evict from the lowest nonempty (R, M) class, at random within it.

Source: Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.2. Pages fall
into four classes: 0 not referenced, not modified; 1 not referenced, modified;
2 referenced, not modified; 3 referenced, modified (class = 2R + M). R bits are
cleared periodically (on each clock interrupt); M bits are not. NRU "removes a
page at random from the lowest-numbered nonempty class".

The clock is NFU's (:mod:`vmgym.policies.nfu`): a tick (clear every R bit)
right after the access whose global trace position reaches the next multiple of
``period``. The random choice uses Random's splitmix64 (:mod:`randompolicy`).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, register
from vmgym.policies.nfu import check_period, tick_due
from vmgym.policies.randompolicy import below, check_seed, seed_state
from vmgym.sim.frames import evictable, referenced, test_and_clear_referenced

KERNEL_ID = 15
# pol_f 0: scratch (the class of each frame during a victim search)
# pol_g 0: next tick position, 1: period, 2: splitmix64 state


@njit(cache=True, _nrt=False)
def _tick(st):
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0:
            test_and_clear_referenced(st, f)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Access ``i`` completed (a load, or a hit through :func:`on_hit`): tick if due."""
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """A hit ticks like a load."""
    on_insert(st, f, g, i)


@njit(cache=True, inline="always", _nrt=False)
def _class(st, f):
    """2R + M of frame ``f``; M is ``frames.page_dirty`` read in place (that helper is not inlined)."""
    c = 0
    if referenced(st, f):
        c = 2
    if st.page_dirty[st.frame_page[f]] != 0:
        c += 1
    return c


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """A random evictable frame of the lowest nonempty class, or -1.

    One pass computes the classes (into ``pol_f`` row 0; 4: not evictable) and
    counts them; one draw picks the victim among the lowest class, in frame order.
    """
    n = st.frame_page.shape[0]
    cls = st.pol_f[0]
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for f in range(n):
        if evictable(st, f):
            c = _class(st, f)
            if c == 0:
                c0 += 1
            elif c == 1:
                c1 += 1
            elif c == 2:
                c2 += 1
            else:
                c3 += 1
            cls[f] = c
        else:
            cls[f] = 4
    if c0:
        low, m = 0, c0
    elif c1:
        low, m = 1, c1
    elif c2:
        low, m = 2, c2
    elif c3:
        low, m = 3, c3
    else:
        return -1
    r = below(st.pol_g, 2, m)
    for f in range(n):
        if cls[f] == low:
            if r == 0:
                return f
            r -= 1
    return -1


@register
class NRU(Policy):
    """Not Recently Used (Tanenbaum & Bos, MOS 4e 3.4.2): a random page of the lowest (R, M) class."""

    name = "nru"
    reads_dirty_bit = True
    aliases = ("not-recently-used",)
    kernel_id = KERNEL_ID
    source = "Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.2"
    conventions = (
        "R is the MMU accessed bit (every PTE mapping the page; a new page keeps the bit its faulting "
        "access set), M is the page's dirty state (written since last cleaned). Class = 2R + M. A clock "
        "tick clears every R bit right after the access whose global trace position reaches the next "
        "multiple of `period` (one tick at most per access); M is never cleared by the policy. The victim "
        "is drawn uniformly (splitmix64 seeded with `seed`, one draw per eviction: output mod class size) "
        "among the evictable frames of the lowest nonempty class, in frame order."
    )
    frame_rows = 1
    global_rows = 3
    params = {"period": 1000, "seed": 0}

    def validate(self):
        """``period`` must be an int >= 1, ``seed`` an int in [0, 2**64)."""
        check_period(self.name, self.values["period"])
        check_seed(self.name, self.values["seed"])

    def init_state(self, pol_f, pol_p, pol_g):
        """First tick at position ``period``; seed the generator."""
        pol_f[:] = 4
        pol_g[0] = self.values["period"]
        pol_g[1] = self.values["period"]
        pol_g[2] = seed_state(int(self.values["seed"]))
