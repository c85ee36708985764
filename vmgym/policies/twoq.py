"""2Q, the full version.

Source: Johnson & Shasha, "2Q: A Low Overhead High Performance Buffer Management
Replacement Algorithm", VLDB 1994, section 2 ("Full 2Q"). Resident pages are on
A1in (FIFO, first-time pages) or Am (LRU, pages re-referenced after leaving
A1in); A1out is a FIFO of the ids of pages paged out of A1in. On access to X:
in Am, move it to the head of Am; in A1in, nothing (correlated reference); in
A1out, reclaimfor(X) and X goes to the head of Am; else reclaimfor(X) and X goes
to the head of A1in. reclaimfor: use a free slot if any; else if |A1in| > Kin
page out the tail of A1in, add its id to the head of A1out and drop the tail of
A1out if |A1out| > Kout; else page out the tail of Am (not remembered).

``victim`` is reclaimfor without a free slot; ``on_remove`` records the A1out
entry; ``on_insert`` puts X on Am or A1in. Whether X was on A1out is decided when
its fault starts, as in the paper: ``victim`` marks the faulting page (read from
the trace, see :func:`vmgym.policies._adaptive.faulting_page`), so X still goes
to Am when reclaimfor's own trimming of A1out removed it.
"""

from __future__ import annotations

import math

from numba import njit

from vmgym.policies._adaptive import faulting_page, forget_pending, ratio_count
from vmgym.policies._structs import (
    dll_init,
    dll_move_front,
    dll_push_front,
    dll_remove,
    leave_tagged,
    oldest_evictable,
    push_ghost,
)
from vmgym.policies.base import Policy, PolicyError, register

KERNEL_ID = 22
# pol_f rows 0/1: prev/next in A1in or Am (frames; head = newest / MRU); row 2: IN_A1IN/IN_AM (0: none)
# pol_p rows 0/1: prev/next in A1out (page ids; head = newest); row 2: IN_A1OUT | FAULTING bits
# pol_g: 0/1 A1in head/tail, 2/3 Am, 4/5 A1out, 6 |A1in|, 7 |A1out|, 8 Kin, 9 Kout,
#        10 page marked FAULTING (-1: none)
A1IN, AM, A1OUT = 0, 2, 4
N_A1IN, N_A1OUT = 6, 7
KIN, KOUT = 8, 9
PENDING = 10
IN_A1IN, IN_AM = 1, 2
IN_A1OUT = 1
FAULTING = 2  # the page was on A1out when its (not yet completed) fault started


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """A hit in Am moves the page to the head of Am; a hit in A1in changes nothing."""
    if pol_f[2, f] == IN_AM:
        dll_move_front(pol_f, pol_g, 0, AM, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """reclaimfor(X) without a free slot: the tail of A1in if |A1in| > Kin, else the tail of Am."""
    x = faulting_page(st)
    forget_pending(st, x, PENDING, FAULTING)
    if x >= 0 and st.pol_p[2, x] & IN_A1OUT:
        st.pol_p[2, x] |= FAULTING
        st.pol_g[PENDING] = x
    if st.pol_g[N_A1IN] > st.pol_g[KIN]:
        f = oldest_evictable(st, A1IN)
        if f < 0:
            f = oldest_evictable(st, AM)
        return f
    f = oldest_evictable(st, AM)
    if f < 0:
        f = oldest_evictable(st, A1IN)
    return f


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves its queue; a page paged out of A1in is remembered on A1out."""
    q = leave_tagged(st, f, IN_A1IN, A1IN, N_A1IN, IN_AM, AM, -1)
    if evicted and q == IN_A1IN:
        push_ghost(st, st.frame_page[f], A1OUT, N_A1OUT, IN_A1OUT)
        if st.pol_g[N_A1OUT] > st.pol_g[KOUT]:
            z = st.pol_g[A1OUT + 1]
            dll_remove(st.pol_p, st.pol_g, 0, A1OUT, z)
            st.pol_g[N_A1OUT] -= 1
            st.pol_p[2, z] &= ~IN_A1OUT


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` (now in frame ``f``): to the head of Am if it was on A1out, else of A1in."""
    forget_pending(st, g, PENDING, FAULTING)
    if st.pol_g[PENDING] == g:
        st.pol_g[PENDING] = -1
    tag = st.pol_p[2, g]
    if tag & IN_A1OUT:
        dll_remove(st.pol_p, st.pol_g, 0, A1OUT, g)
        st.pol_g[N_A1OUT] -= 1
    st.pol_p[2, g] = 0
    if tag != 0:
        dll_push_front(st.pol_f, st.pol_g, 0, AM, f)
        st.pol_f[2, f] = IN_AM
    else:
        dll_push_front(st.pol_f, st.pol_g, 0, A1IN, f)
        st.pol_g[N_A1IN] += 1
        st.pol_f[2, f] = IN_A1IN


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: drop it from A1out."""
    if st.pol_p[2, g] & IN_A1OUT:
        dll_remove(st.pol_p, st.pol_g, 0, A1OUT, g)
        st.pol_g[N_A1OUT] -= 1
    st.pol_p[2, g] = 0
    if st.pol_g[PENDING] == g:
        st.pol_g[PENDING] = -1


@register
class TwoQ(Policy):
    """Full 2Q (Johnson & Shasha, VLDB 1994): FIFO A1in, ghost FIFO A1out, LRU Am."""

    name = "2q"
    aliases = ("two-queue", "twoq")
    kernel_id = KERNEL_ID
    flow_family = "adaptive"
    source = (
        "Johnson & Shasha, 2Q: A Low Overhead High Performance Buffer Management Replacement Algorithm, "
        "VLDB 1994 (Full 2Q)"
    )
    conventions = (
        "Page slots = frames. Kin = floor(kin * frames) and Kout = floor(kout * frames) (the paper's 25% and "
        "50% by default; ratios taken as exact fractions), so reclaimfor pages out of A1in while "
        "|A1in| > kin * frames. A1in and Am are queues of frames, A1out a FIFO of page ids (a page that "
        "stops existing, e.g. at exit or munmap, leaves it). A hit is any reference to a resident page, "
        "including a minor fault that only maps it. Whether the faulting page was on A1out is decided when "
        "its fault starts (read from the trace position), before reclaimfor, so it goes to Am even if "
        "reclaimfor's trimming of A1out removed it; its id then leaves A1out (the pseudo-code does not say "
        "so, but the page is resident again). Unevictable frames (pinned, copy-on-write source, swap full) "
        "are skipped, taking the next page from the tail of the same queue, else of the other queue; a page "
        "paged out of A1in (even by that fallback) is remembered on A1out, one paged out of Am is not. A "
        "frame freed without eviction (exit, munmap) leaves its queue without an A1out entry."
    )
    frame_rows = 3
    page_rows = 3
    global_rows = 11
    params = {"kin": 0.25, "kout": 0.5}

    def validate(self):
        """``kin`` in [0, 1], ``kout`` >= 0."""
        for key, hi in (("kin", 1.0), ("kout", None)):
            v = self.values[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise PolicyError(f"policy '2q': {key} must be a finite number, got {v!r}")
            if v < 0 or (hi is not None and v > hi):
                bound = f"in [0, {hi}]" if hi is not None else ">= 0"
                raise PolicyError(f"policy '2q': {key} must be {bound}, got {v!r}")

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty queues; Kin and Kout from the number of frames."""
        frames = pol_f.shape[1]
        dll_init(pol_f, pol_g, 0, A1IN)
        dll_init(pol_f, pol_g, 0, AM)
        dll_init(pol_p, pol_g, 0, A1OUT)
        pol_f[2, :] = 0
        pol_p[2, :] = 0
        pol_g[N_A1IN] = 0
        pol_g[N_A1OUT] = 0
        pol_g[KIN] = ratio_count(self.values["kin"], frames)
        pol_g[KOUT] = ratio_count(self.values["kout"], frames)
        pol_g[PENDING] = -1
