"""Page-Fault-Frequency replacement, mapped onto a fixed memory that frees one frame per fault.

Source: Chu & Opderbeck, "The page fault frequency replacement algorithm",
AFIPS FJCC 1972 (also Stallings, *Operating Systems*, 8.2): every resident
page has a use bit; at each page fault the virtual time since the previous
fault is compared with a critical interval ``T``. If it is larger, the fault
rate is low and every page not used since the previous fault is released (the
resident set shrinks); otherwise the resident set grows by the new page. The
use bits are reset at every fault.

The simulator has a fixed memory and asks for exactly one victim per fault, so:

- "not used since the previous fault" is read from the simulator's exact last
  access position (``st.frame_last``): the same as a use bit reset at every
  fault and set by every access, including the faulting one;
- released pages stay in memory (as on a free list that can be reclaimed) until
  a fault needs their frame; a reference to one is a hit and takes it back. A
  page is released iff its last access is before ``mark``, the position of the
  fault preceding the last fault whose interval exceeded ``T``;
- the victim is a released page if there is one; else (the resident set grows)
  a page not used since the previous fault; else the LRU page. Within the first
  two classes the first frame from a clock hand is taken (see :mod:`ws`: taking
  the oldest would make this LRU).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies import lru
from vmgym.policies._structs import dll_init
from vmgym.policies.base import Policy, register
from vmgym.policies.ws import check_window, first_before
from vmgym.sim import state as S

KERNEL_ID = 42
# pol_f rows 0/1: prev/next of the recency list (LRU's layout); pol_g 0/1: head (MRU), tail (LRU),
# 2: hand (a frame index), 3: T, 4: position of the previous fault, 5: of the last fault processed,
# 6: release mark (pages last accessed before it are released)
HAND, T, PREV, CUR, MARK = 2, 3, 4, 5, 6
on_hit = lru.on_hit
on_remove = lru.on_remove


@njit(cache=True, inline="always", _nrt=False)
def _fault(pg, t):
    """PFF's decision at the fault at position ``t`` (once per fault)."""
    cur = pg[CUR]
    if cur == t:
        return
    if t - cur > pg[T]:
        pg[MARK] = cur  # release every page not used since the previous fault
    pg[PREV] = cur
    pg[CUR] = t


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page was loaded by the fault at ``i`` (PFF's decision is made here if no victim was needed)."""
    lru.on_insert(st, f, g, i)
    _fault(st.pol_g, i)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """A released page, else one unused since the previous fault (first from the hand), else the LRU page."""
    pg = st.pol_g
    _fault(pg, st.sc[S.SC_POS])
    f = lru.victim(st)  # the evictable frame nearest the LRU end
    if f < 0:
        return -1
    last = st.frame_last[f]
    if last < pg[MARK]:
        return first_before(st, HAND, pg[MARK])
    if last < pg[PREV]:
        return first_before(st, HAND, pg[PREV])
    return f


@register
class PFF(Policy):
    """Page-Fault-Frequency (Chu & Opderbeck, AFIPS 1972): release pages unused since the last fault."""

    name = "pff"
    aliases = ("page-fault-frequency",)
    kernel_id = KERNEL_ID
    flow_family = "working-set"
    source = "Chu & Opderbeck, AFIPS FJCC 1972; Stallings, Operating Systems, 8.2"
    conventions = (
        "Virtual time is the global trace position; a fault is a reference that loads a page (a minor "
        "fault that maps a resident page is not one). At a fault at position t whose distance from the "
        "previous fault t_prev exceeds T = threshold (t - t_prev > T), every page whose last access is "
        "before t_prev is released; the first fault is measured from position 0. Memory is fixed, so "
        "released pages stay resident until taken, and a reference to one is a hit that reclaims it. The "
        "victim is the first evictable released frame found by a hand going round the frames (index "
        "order, from one past the previous such victim, frame 0 at first); if none, the first frame from "
        "the hand not accessed since the previous fault (the resident set grows); if none, the LRU page "
        "(hand unchanged). Use bits are the exact last-access positions kept by the simulator "
        "(equivalent to bits reset at every fault). Taking the oldest candidate instead would be LRU."
    )
    frame_rows = 2
    global_rows = 7
    params = {"threshold": 100}

    def validate(self):
        """``threshold`` (T) must be an int in 1..2**62."""
        check_window(self.name, "threshold", self.values["threshold"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty recency list, hand at frame 0, no fault yet (time 0), nothing released."""
        dll_init(pol_f, pol_g, 0, 0)
        pol_g[HAND] = 0
        pol_g[T] = self.values["threshold"]
        pol_g[PREV] = 0
        pol_g[CUR] = 0
        pol_g[MARK] = 0
