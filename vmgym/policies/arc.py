"""ARC: Adaptive Replacement Cache.

Source: Megiddo & Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache",
USENIX FAST 2003, Fig. 4. Four LRU lists: T1 (resident, seen once recently), T2
(resident, seen at least twice), their ghosts B1 and B2 (page ids only), and a
real-valued target ``p`` for the size of T1, learned from ghost hits. The cache
size c is the number of frames.

How Fig. 4 maps onto the simulator's hooks (the simulator, not the policy,
decides that a reference faults, and it asks for a victim before it reports the
insertion):

- ``on_hit`` is Case I.
- ``victim`` runs the part of Cases II-IV that precedes the fetch: the adaptation
  of ``p`` (Cases II/III), the choice of Case IV(A) when T1 holds the whole
  cache, and REPLACE(x, p). It needs the faulting page x, read from the trace
  (:func:`vmgym.policies._adaptive.faulting_page`).
- ``on_remove`` (evicted) moves the victim to the MRU end of B1 or B2, as
  REPLACE does.
- ``on_insert`` is the rest: x leaves B1/B2 for the MRU end of T2 (adapting ``p``
  first if no victim was needed), or Case IV's directory bookkeeping (delete the
  LRU page of B1 if |L1| = c, else of B2 if the directory holds 2c pages) and x
  enters T1. REPLACE never changes |L1| or the directory size, so evaluating
  these conditions after it gives what Fig. 4 gives before it; in Case IV(A) with
  |T1| = c the evicted LRU page of T1 is the only page of B1 and is deleted here,
  which is Fig. 4's "delete the LRU page of T1 and remove it from the cache".
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._adaptive import faulting_page, forget_pending, get_real, set_real
from vmgym.policies._structs import (
    dll_init,
    dll_move_front,
    dll_push_front,
    dll_remove,
    leave_tagged,
    push_ghost,
)
from vmgym.policies.base import Policy, register
from vmgym.sim.frames import evictable

KERNEL_ID = 20
# pol_f rows 0/1: prev/next in T1 or T2 (a frame is on one list); row 2: its list (IN_T1/IN_T2, 0: none)
# pol_p rows 0/1: prev/next in B1 or B2 (page ids); row 2: IN_B1/IN_B2 (0: neither), | ADAPTED
# pol_g: 0/1 T1 head (MRU)/tail (LRU), 2/3 T2, 4/5 B1, 6/7 B2, 8-11 |T1| |T2| |B1| |B2|,
#        12 p (float64 bit pattern), 13 page whose ghost hit already adapted p (-1: none)
T1, T2, B1, B2 = 0, 2, 4, 6
N_T1, N_T2, N_B1, N_B2 = 8, 9, 10, 11
P = 12
PENDING = 13
IN_T1, IN_T2 = 1, 2
IN_B1, IN_B2 = 1, 2
ADAPTED = 4


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Case I: the page in frame ``f`` moves to the MRU end of T2."""
    if pol_f[2, f] == IN_T1:
        dll_remove(pol_f, pol_g, 0, T1, f)
        pol_g[N_T1] -= 1
        dll_push_front(pol_f, pol_g, 0, T2, f)
        pol_g[N_T2] += 1
        pol_f[2, f] = IN_T2
    else:
        dll_move_front(pol_f, pol_g, 0, T2, f)


@njit(cache=True, inline="always", _nrt=False)
def _adapted(st, ghost):
    """The target p after a hit in B1 (``ghost == IN_B1``) or B2, x still on its list."""
    c = st.frame_page.shape[0]
    p = get_real(st.pol_g, P)
    n1 = st.pol_g[N_B1]
    n2 = st.pol_g[N_B2]
    if ghost == IN_B1:
        d = 1.0 if n1 >= n2 else n2 / n1
        return min(p + d, c)
    d = 1.0 if n2 >= n1 else n1 / n2
    return max(p - d, 0.0)


@njit(cache=True, inline="always", _nrt=False)
def _lru_evictable(st, first, second):
    """The least recently used evictable frame of list ``first`` (T1 or T2), else of ``second``, or -1."""
    h = first
    for _ in range(2):
        f = st.pol_g[h + 1]
        while f >= 0:
            if evictable(st, f):
                return f
            f = st.pol_f[0, f]
        h = second
    return -1


@njit(cache=True, inline="always", _nrt=False)
def _replace_from(st, in_b2, p):
    """REPLACE(x, p)'s list: T1 if |T1| exceeds p (or equals it and x is in B2), else T2.

    Returns (first, second): unevictable frames are skipped (next LRU candidate of
    the same list), falling back to the other list.
    """
    n1 = st.pol_g[N_T1]
    if n1 > 0 and (n1 > p or (in_b2 and n1 == p)):
        return T1, T2
    return T2, T1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Adapt p on a ghost hit of the faulting page, then REPLACE (or Case IV(A)'s LRU of T1).

    The common case, a page in no ghost list, returns first: its list choice needs
    no adaptation (measured ~7 % faster per reference than one shared path).
    """
    x = faulting_page(st)
    forget_pending(st, x, PENDING, ADAPTED)
    p = get_real(st.pol_g, P)
    n1 = st.pol_g[N_T1]
    c = st.frame_page.shape[0]
    tag = st.pol_p[2, x] if x >= 0 else 0
    ghost = tag & 3
    if ghost == 0:
        first = T1 if n1 > 0 and (n1 > p or n1 >= c) else T2  # REPLACE, or Case IV(A) when |T1| = c
        return _lru_evictable(st, first, T2 - first)
    commit = tag & ADAPTED == 0
    if commit:
        p = _adapted(st, ghost)
    first, second = _replace_from(st, ghost == IN_B2, p)
    f = _lru_evictable(st, first, second)
    if commit and f >= 0:
        set_real(st.pol_g, P, p)
        st.pol_p[2, x] = tag | ADAPTED
        st.pol_g[PENDING] = x
    return f


@njit(cache=True, inline="always", _nrt=False)
def drop_lru_ghost(st, h, n):
    """Delete the LRU page of ghost list ``h`` (B1 or B2; size slot ``n``), if any; return it (-1: none).

    Shared with CAR (same list layout).
    """
    g = st.pol_g[h + 1]
    if g >= 0:
        dll_remove(st.pol_p, st.pol_g, 0, h, g)
        st.pol_g[n] -= 1
        st.pol_p[2, g] = 0
    return g


@njit(cache=True, inline="always", _nrt=False)
def ghost_to_drop(st):
    """The ghost list that loses its LRU page before a page in no list enters T1, or -1.

    B1 if |T1| + |B1| = c, else B2 if the directory holds 2c pages: ARC's Case IV
    (Fig. 4) and CAR's directory replacement (shared with CAR).
    """
    c = st.frame_page.shape[0]
    if st.pol_g[N_T1] + st.pol_g[N_B1] >= c:
        return B1
    if st.pol_g[N_T1] + st.pol_g[N_T2] + st.pol_g[N_B1] + st.pol_g[N_B2] >= 2 * c:
        return B2
    return -1


@njit(cache=True, inline="always", _nrt=False)
def _drop_lru_ghost(st, h, n):
    """:func:`drop_lru_ghost`, forgetting a pending adaptation of that page."""
    g = drop_lru_ghost(st, h, n)
    if g >= 0 and st.pol_g[PENDING] == g:
        st.pol_g[PENDING] = -1


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves T1/T2; an evicted page becomes the MRU page of B1/B2."""
    lst = leave_tagged(st, f, IN_T1, T1, N_T1, IN_T2, T2, N_T2)
    if lst == IN_T1 and evicted:
        push_ghost(st, st.frame_page[f], B1, N_B1, IN_B1)
    elif lst == IN_T2 and evicted:
        push_ghost(st, st.frame_page[f], B2, N_B2, IN_B2)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` was fetched into frame ``f``: to T2 from a ghost list, else Case IV and T1."""
    forget_pending(st, g, PENDING, ADAPTED)
    if st.pol_g[PENDING] == g:
        st.pol_g[PENDING] = -1
    tag = st.pol_p[2, g]
    if tag & 3 == 0:
        st.pol_p[2, g] = 0
        h = ghost_to_drop(st)
        if h == B1:  # a call site per list: one site with the list as a variable measured 2-4 % slower
            _drop_lru_ghost(st, B1, N_B1)
        elif h == B2:
            _drop_lru_ghost(st, B2, N_B2)
        dll_push_front(st.pol_f, st.pol_g, 0, T1, f)
        st.pol_g[N_T1] += 1
        st.pol_f[2, f] = IN_T1
        return
    ghost = tag & 3
    if tag & ADAPTED == 0:  # no victim was needed: adapt now
        set_real(st.pol_g, P, _adapted(st, ghost))
    if ghost == IN_B1:
        dll_remove(st.pol_p, st.pol_g, 0, B1, g)
        st.pol_g[N_B1] -= 1
    else:
        dll_remove(st.pol_p, st.pol_g, 0, B2, g)
        st.pol_g[N_B2] -= 1
    st.pol_p[2, g] = 0
    dll_push_front(st.pol_f, st.pol_g, 0, T2, f)
    st.pol_g[N_T2] += 1
    st.pol_f[2, f] = IN_T2


@njit(cache=True, inline="always", _nrt=False)
def forget_ghost(st, g):
    """Drop page ``g`` from B1/B2 if it is there (shared with CAR)."""
    ghost = st.pol_p[2, g] & 3
    if ghost == IN_B1:
        dll_remove(st.pol_p, st.pol_g, 0, B1, g)
        st.pol_g[N_B1] -= 1
    elif ghost == IN_B2:
        dll_remove(st.pol_p, st.pol_g, 0, B2, g)
        st.pol_g[N_B2] -= 1
    st.pol_p[2, g] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: drop it from B1/B2."""
    forget_ghost(st, g)
    if st.pol_g[PENDING] == g:
        st.pol_g[PENDING] = -1


def init_lists(pol_f, pol_p, pol_g):
    """Empty T1/T2 (frames) and B1/B2 (pages), zero sizes and p = 0 (shared with CAR)."""
    for h in (T1, T2):
        dll_init(pol_f, pol_g, 0, h)
    for h in (B1, B2):
        dll_init(pol_p, pol_g, 0, h)
    pol_f[2, :] = 0
    pol_p[2, :] = 0
    pol_g[N_T1 : N_B2 + 1] = 0
    pol_g[P] = 0  # the bit pattern of 0.0


@register
class ARC(Policy):
    """Adaptive Replacement Cache (Megiddo & Modha, FAST 2003): recency and frequency lists with ghosts."""

    name = "arc"
    aliases = ("adaptive-replacement-cache",)
    kernel_id = KERNEL_ID
    flow_family = "adaptive"
    source = "Megiddo & Modha, ARC: A Self-Tuning, Low Overhead Replacement Cache, USENIX FAST 2003, Fig. 4"
    conventions = (
        "Cache size c = number of frames; T1/T2 are lists of frames, B1/B2 lists of page ids (a page keeps "
        "its id while swapped out; a page that stops existing, e.g. at exit or munmap, leaves B1/B2). The "
        "target p is real-valued as in Fig. 4: delta = |B2|/|B1| is not rounded (float64, stored exactly). "
        "A hit is any reference to a resident page (read, write, fetch, any process, including a minor fault "
        "that only maps it) and is Case I. victim() adapts p and runs REPLACE(x, p) for the faulting page x, "
        "read from the trace position the simulator sets before it asks (a copy-on-write copy or a "
        "never-touched page counts as a page in no list); the Case IV ghost deletions are done at insertion, "
        "which gives the same lists as Fig. 4 (REPLACE changes neither |L1| nor the directory size). When "
        "a frame is free (after an exit or munmap) nothing is replaced, but a ghost hit still adapts p and "
        "goes to T2. Unevictable frames (pinned, copy-on-write source, swap full) are skipped: REPLACE takes "
        "the least recently used evictable frame of the list it chose, else of the other list. A frame freed "
        "without eviction (exit, munmap) leaves T1/T2 without a ghost."
    )
    frame_rows = 3
    page_rows = 3
    global_rows = 14

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty lists, p = 0."""
        init_lists(pol_f, pol_p, pol_g)
        pol_g[PENDING] = -1
