"""WSClock: a clock hand over the frames that takes an old (outside the working set), clean page.

Sources: Carr & Hennessy, "WSCLOCK - a simple and effective algorithm for
virtual memory management", SOSP 1981; Tanenbaum & Bos, *Modern Operating
Systems*, 4th ed., 3.4.9. Every frame has a time of last use, the R bit and the
M bit. At a fault the hand examines the frame it points at:

- R = 1: clear R, set the time of last use to the current virtual time, advance;
- R = 0 and age (current time - time of last use) > tau, clean: claim it;
- R = 0 and age > tau, dirty: schedule its write-back, advance (an old clean
  page may lie further on);
- otherwise (in the working set) advance.

If the hand comes all the way round: when a write was scheduled, the first
page cleaned is taken; when none was, every page is in the working set and any
clean page is claimed, else the page at the hand (written back).

The simulator writes a dirty page back when it is evicted, not in the
background, so a scheduled write is modelled by a mark: the page counts as
clean ("its write has completed") from then on while it is not written again
(its frame version is unchanged), and the simulator does the actual write-back
if and when it is evicted. A revolution without an old clean page takes the
first page whose write it scheduled (that write completes first); if no page is
old, the clean page with the greatest age ("any clean page": the one nearest to
leaving the working set; ties: the first met), else the first evictable page
from the hand's start. The hand stops one past the victim.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, register
from vmgym.policies.ws import check_window
from vmgym.sim import state as S
from vmgym.sim.frames import evictable, test_and_clear_referenced

KERNEL_ID = 40
# pol_f 0: time of last use (the position of the load, or of the sweep that last found R set);
#   1: frame version when its write was scheduled (-1: none; the page counts as clean while it matches)
# pol_g 0: hand (a frame index), 1: tau
HAND, TAU = 0, 1


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f`` at position ``i``: its time of last use (R is set by the access)."""
    st.pol_f[0, f] = i
    st.pol_f[1, f] = -1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """One revolution of the hand; an old clean page ends it, else the fallbacks of the module docstring."""
    n = st.frame_page.shape[0]
    lu = st.pol_f[0]
    sched = st.pol_f[1]
    now = st.sc[S.SC_POS]
    tau = st.pol_g[TAU]
    hand = st.pol_g[HAND]
    first_sched = -1
    oldest_clean = -1
    first_any = -1
    for _ in range(n):
        f = hand
        hand += 1
        if hand == n:
            hand = 0
        if not evictable(st, f):
            continue
        if first_any < 0:
            first_any = f
        clean = st.page_dirty[st.frame_page[f]] == 0 or sched[f] == st.frame_ver[f]
        if test_and_clear_referenced(st, f):
            lu[f] = now
        elif now - lu[f] > tau:
            if clean:
                st.pol_g[HAND] = hand
                return f
            sched[f] = st.frame_ver[f]  # schedule its write-back
            if first_sched < 0:
                first_sched = f
            continue
        if clean and (oldest_clean < 0 or lu[f] < lu[oldest_clean]):
            oldest_clean = f
    v = first_sched
    if v < 0:
        v = oldest_clean
    if v < 0:
        v = first_any
    if v >= 0:
        st.pol_g[HAND] = v + 1 if v + 1 < n else 0
    return v


@register
class WSClock(Policy):
    """WSClock (Carr & Hennessy, SOSP 1981; MOS 4e 3.4.9): Clock that takes old clean pages first."""

    name = "wsclock"
    reads_dirty_bit = True
    aliases = ("ws-clock",)
    kernel_id = KERNEL_ID
    flow_family = "working-set"
    source = "Carr & Hennessy, SOSP 1981; Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.9"
    conventions = (
        "The frames form the clock in index order; the hand starts at frame 0 and stops one past the "
        "victim. Virtual time is the global trace position (one process: its references); a page is old "
        "(outside the working set) when now - time_of_last_use > tau. The time of last use is the "
        "policy's own: the load position, refreshed to the current time when the hand finds R set (R is "
        "the MMU accessed bit of every PTE mapping the page; a new page keeps the bit its faulting "
        "access set). M is the page's dirty state. The simulator writes back at eviction, so scheduling "
        "the write of an old dirty page marks it, and it counts as clean while it is not written again "
        "(the write-back itself is done, and costed, when it is evicted). A revolution that finds no old "
        "clean page takes the first page whose write it scheduled; if no page is old, the clean page "
        "with the smallest time of last use (ties: the first met); else the first evictable page from "
        "the hand's start. No limit on scheduled writes. Unevictable frames are passed over untouched. "
        "When the working set exceeds memory every fault sweeps the whole clock."
    )
    frame_rows = 2
    global_rows = 2
    params = {"tau": 100}

    def validate(self):
        """``tau`` must be an int in 1..2**62."""
        check_window(self.name, "tau", self.values["tau"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Hand at frame 0."""
        pol_f[0] = 0
        pol_f[1] = -1
        pol_g[HAND] = 0
        pol_g[TAU] = self.values["tau"]
