"""Working Set replacement: take a page outside the working set; if there is none, the LRU page.

Sources: Denning, "The working set model for program behavior", CACM 11(5),
1968: the working set W(t, tau) is the set of pages referenced in the window of
the last ``tau`` references before time ``t``; a page outside it is not needed
and may be taken. Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.8,
make a replacement algorithm of it for a fixed memory: at a fault, look for a
page whose age (current virtual time minus its time of last use) exceeds
``tau`` and take the first one found; if every page is in the working set, take
the one with the greatest age.

Here the time of last use is exact (``st.frame_last``, kept by the simulator),
so "greatest age" is the LRU page. Ages are measured in virtual time = global
trace positions; the faulting reference at position ``t`` sees a window of
positions ``t - tau .. t - 1``, so a page is outside the working set iff its
last access was before ``t - tau``.

Taking the *oldest* page outside the working set would be plain LRU (the LRU
page is outside the working set whenever any page is), so the search for one
goes round the frames like a clock hand, from one past the previous such
victim, and takes the first page found outside the working set: any page
outside W is equally unneeded by the model. The recency list (LRU's) is kept
only to know in O(1) whether such a page exists and which page is LRU.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies import lru
from vmgym.policies._structs import dll_init
from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim import state as S
from vmgym.sim.frames import evictable

KERNEL_ID = 41
# pol_f rows 0/1: prev/next of the recency list (LRU's layout); pol_g 0/1: head (MRU), tail (LRU),
# 2: hand (a frame index), 3: tau
HAND, TAU = 2, 3
on_hit = lru.on_hit
on_insert = lru.on_insert
on_remove = lru.on_remove
MAX_WINDOW = 1 << 62


@njit(cache=True, inline="always", _nrt=False)
def first_before(st, hand_slot, bound):
    """From the hand in ``pol_g[hand_slot]``, the first evictable frame last accessed before ``bound``.

    The hand stops one past it. The caller knows there is one (-1 otherwise,
    after one revolution, hand unchanged).
    """
    n = st.frame_page.shape[0]
    last = st.frame_last
    h = st.pol_g[hand_slot]
    for _ in range(n):
        f = h
        h += 1
        if h == n:
            h = 0
        if last[f] < bound and evictable(st, f):
            st.pol_g[hand_slot] = h
            return f
    return -1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The first evictable frame from the hand outside the working set, else the LRU evictable frame."""
    f = lru.victim(st)  # the evictable frame nearest the LRU end
    if f < 0:
        return -1
    bound = st.sc[S.SC_POS] - st.pol_g[TAU]
    if st.frame_last[f] < bound:
        return first_before(st, HAND, bound)
    return f


def check_window(policy: str, name: str, value) -> None:
    """Raise PolicyError unless ``value`` is an int in 1..2**62 (a window in references)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW:
        raise PolicyError(
            f"policy {policy!r}: {name} must be an integer in 1..2**62 (references), got {value!r}"
        )


@register
class WorkingSet(Policy):
    """Working Set (Denning, CACM 1968; MOS 4e 3.4.8): evict a page outside the tau-reference window."""

    name = "ws"
    aliases = ("working-set",)
    kernel_id = KERNEL_ID
    flow_family = "working-set"
    source = "Denning, CACM 1968; Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.8"
    conventions = (
        "Virtual time is the global trace position (one process: its references). At a fault at position t "
        "a page is in the working set iff its last access (any read, write or fetch; exact, from the "
        "simulator) was at a position >= t - tau. The victim is the first evictable frame outside the "
        "working set found by a hand that goes round the frames in index order, starting one past the "
        "previous such victim (frame 0 at first); if every evictable page is in the working set, the "
        "least recently used one (the greatest age), without moving the hand. Memory is fixed: pages "
        "outside the working set stay resident until taken, so a reference to one is a hit. Choosing "
        "the oldest page outside the working set instead would make this policy LRU."
    )
    frame_rows = 2
    global_rows = 4
    params = {"tau": 1000}

    def validate(self):
        """``tau`` must be an int in 1..2**62."""
        check_window(self.name, "tau", self.values["tau"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty recency list, hand at frame 0."""
        dll_init(pol_f, pol_g, 0, 0)
        pol_g[HAND] = 0
        pol_g[TAU] = self.values["tau"]
