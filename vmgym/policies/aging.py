"""Aging: NFU with the counters shifted right at each tick, the R bit entering at the top.

Source: Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.7 (Fig. 3-17):
each page has a ``bits``-wide shift register; at every clock tick it is shifted
right one bit and the page's R bit is put into the leftmost bit, then R is
cleared. On a page fault the page with the smallest register is evicted.

The clock is NFU's (:mod:`vmgym.policies.nfu`): a tick right after the access
whose global trace position reaches the next multiple of ``period``.

Victim search: NFU's order list (:mod:`vmgym.policies.nfu`), O(1) per fault. At a
tick the list is re-sorted in O(frames) by merging four runs that each keep their
order under the shift: R clear or set, crossed with the parity of the old register
(the registers ``2v`` and ``2v + 1`` both become ``v``).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.policies.nfu import check_period, init_order, list_insert, list_resort, tick_due
from vmgym.policies.nfu import on_remove as on_remove  # NFU's order list
from vmgym.policies.nfu import victim as victim  # the same rule: smallest value, ties to the oldest load
from vmgym.sim.frames import test_and_clear_referenced

KERNEL_ID = 14
# pol_f 0: shift register, 1-3: NFU's order list and scratch
# pol_g 0: next tick position, 1: period, 2-4: NFU's order list, 5: bits


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _tick(st):
    reg = st.pol_f[0]
    grp = st.pol_f[3]
    top = 1 << (st.pol_g[5] - 1)
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0:
            v = reg[f]
            c = v & 1
            v >>= 1
            if test_and_clear_referenced(st, f):
                v |= top
                c += 2
            reg[f] = v
            grp[f] = c
    list_resort(st.pol_f, st.pol_g, st.frame_in)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Access ``i`` completed: tick if due."""
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f`` (register 0, R bit set by the faulting access); tick if due."""
    st.pol_f[0, f] = 0
    list_insert(st.pol_f, st.pol_g, st.frame_in, f)
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@register
class Aging(Policy):
    """Aging (Tanenbaum & Bos, MOS 4e 3.4.7): R bits shifted into per-page registers; evict the smallest."""

    name = "aging"
    aliases = ()
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = "Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.7"
    conventions = (
        "The R bit is the MMU accessed bit (every PTE mapping the page). A new page starts with register 0 "
        "and keeps the R bit its faulting access set, so it enters the top bit at the next tick. A clock "
        "tick (shift every resident register right, R into bit `bits`-1, clear R) happens right after the "
        "access whose global trace position reaches the next multiple of `period` (one tick at most per "
        "access). The victim has the smallest register; ties go to the page loaded earliest, then to the "
        "lowest frame index."
    )
    frame_rows = 4
    global_rows = 6
    params = {"period": 1000, "bits": 8}

    def validate(self):
        """``period`` must be an int >= 1, ``bits`` an int in [1, 62]."""
        check_period(self.name, self.values["period"])
        bits = self.values["bits"]
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 62:
            raise PolicyError(f"policy 'aging': bits must be an integer in [1, 62], got {bits!r}")

    def init_state(self, pol_f, pol_p, pol_g):
        """Registers 0, the order list empty, first tick at position ``period``."""
        init_order(pol_f, pol_g, self.values["period"])
        pol_g[5] = self.values["bits"]
