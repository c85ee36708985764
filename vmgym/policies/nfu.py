"""NFU (Not Frequently Used): a software counter per frame, incremented by its R bit at each clock tick.

Source: Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.7. At every
clock interrupt the OS adds each page's R bit to its counter and clears the R
bit; on a page fault the page with the lowest counter is evicted.

The clock is the trace: a tick happens right after the access (hit or load)
whose global trace position ``i`` reaches the next multiple of ``period``
(so with a single process, after every ``period``-th trace entry). If several
multiples passed since the previous access (events in between), there is still
one tick. The tick covers every resident frame, the one just accessed included.
The helpers :func:`tick_due` and :func:`older` are shared with Aging and NRU.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable, test_and_clear_referenced

KERNEL_ID = 13
# pol_f 0: counter; pol_g 0: next tick position, 1: period


@njit(cache=True, inline="always", _nrt=False)
def tick_due(pol_g, r, i):
    """True if access ``i`` reached the next tick ``pol_g[r]`` (advanced by the period ``pol_g[r + 1]``)."""
    if i < pol_g[r]:
        return False
    period = pol_g[r + 1]
    pol_g[r] = (i // period + 1) * period
    return True


@njit(cache=True, inline="always", _nrt=False)
def older(st, f, best):
    """Tie-break between frames with equal keys: ``f`` goes first if loaded earlier (then: lower index)."""
    a = st.frame_in[f]
    b = st.frame_in[best]
    return a < b or (a == b and f < best)


@njit(cache=True, _nrt=False)
def _tick(st):
    cnt = st.pol_f[0]
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0 and test_and_clear_referenced(st, f):
            cnt[f] += 1


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Access ``i`` completed: tick if due."""
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f`` (counter 0, R bit set by the faulting access); tick if due."""
    st.pol_f[0, f] = 0
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The evictable frame with the smallest counter (ties: loaded earliest, then lowest index), or -1."""
    cnt = st.pol_f[0]
    best = -1
    for f in range(st.frame_page.shape[0]):
        if best >= 0 and not (cnt[f] < cnt[best] or (cnt[f] == cnt[best] and older(st, f, best))):
            continue
        if evictable(st, f):  # tested only for a better candidate (free frames are not evictable)
            best = f
    return best


def check_period(policy: str, period) -> None:
    """Raise PolicyError unless ``period`` is an int >= 1."""
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise PolicyError(f"policy {policy!r}: period must be an integer >= 1, got {period!r}")


@register
class NFU(Policy):
    """Not Frequently Used (Tanenbaum & Bos, MOS 4e 3.4.7): evict the smallest R-bit counter."""

    name = "nfu"
    aliases = ("not-frequently-used",)
    kernel_id = KERNEL_ID
    source = "Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.7"
    conventions = (
        "The R bit is the MMU accessed bit (every PTE mapping the page); a new page keeps the bit its "
        "faulting access set and starts with counter 0. A clock tick (add R to each resident frame's "
        "counter, clear R) happens right after the access whose global trace position reaches the next "
        "multiple of `period` (one tick at most per access). The victim has the smallest counter; ties "
        "go to the page loaded earliest, then to the lowest frame index. Counters are not aged "
        "(that is `aging`)."
    )
    frame_rows = 1
    global_rows = 2
    params = {"period": 1000}

    def validate(self):
        """``period`` must be an int >= 1."""
        check_period(self.name, self.values["period"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Counters 0, first tick at position ``period``."""
        pol_f[:] = 0
        pol_g[0] = self.values["period"]
        pol_g[1] = self.values["period"]
