"""LIRS: Low Inter-reference Recency Set replacement.

Source: Jiang & Zhang, "LIRS: An Efficient Low Inter-reference Recency Set
Replacement Policy to Improve Buffer Cache Performance", SIGMETRICS 2002,
section 3.

Memory (``m`` frames) is split into ``Llirs`` frames for LIR pages and
``Lhirs = m - Llirs`` for resident HIR pages, ``Lhirs = max(1, round(hir_ratio * m))``
(the paper uses 1 %). Two lists, both over page ids:

- stack ``S`` (recency order, top = most recent): the LIR pages and the HIR
  pages (resident or not) referenced more recently than the LIR page with the
  largest recency. *Stack pruning* removes HIR pages from the bottom until the
  bottom is an LIR page, which is the invariant after every step;
- queue ``Q``: the resident HIR pages, evicted from the front.

A reference to page ``X``:

1. LIR (a hit): move ``X`` to the top of ``S``; prune if it was the bottom.
2. resident HIR (a hit): move ``X`` to the top of ``S``. If ``X`` was in ``S``
   it becomes LIR and leaves ``Q``, and the bottom LIR page of ``S`` becomes a
   resident HIR page at the end of ``Q``, followed by pruning; if it was not in
   ``S`` it stays HIR and moves to the end of ``Q``.
3. a miss: the front of ``Q`` is evicted (``victim``); it stays in ``S`` as a
   *non-resident* HIR page if it was there. ``X`` is loaded and pushed on ``S``;
   if it was a non-resident HIR page in ``S`` it becomes LIR (and the bottom LIR
   page is demoted as in 2), otherwise it is a resident HIR page at the end of
   ``Q``. Until ``Llirs`` pages are LIR, every loaded page becomes LIR (warm-up).

The paper keeps every non-resident HIR page in ``S``; here their number is
bounded (``nonresident_ratio * m``, default ``m``) by
forgetting the one deepest in ``S``.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import (
    dll_init,
    dll_move_front,
    dll_push_front,
    dll_remove,
    heap_remove,
    heap_set,
)
from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable

KERNEL_ID = 31

# pol_p rows (per page id):
#   0/1 prev/next in S (head = top = most recent), 2/3 prev/next in Q (head = end, tail = front),
#   4 status (NONE, LIR, HIR resident, HIR non-resident), 5 in S (0/1), 6 stamp of the last push on S,
#   7/8/9 max-heap of the non-resident HIR pages (_structs' indexed heap: row 7 the page and row 9 its key
#   = -stamp at each heap position, row 8 a page's position; the top is the deepest in S).
R_S, R_Q, R_ST, R_INS, R_STAMP, R_HEAP, R_HPOS, R_HKEY = 0, 2, 4, 5, 6, 7, 8, 9
NONE, LIR, HIR, NRHIR = 0, 1, 2, 3
# pol_g: 0/1 S head/tail, 2/3 Q head/tail, 4 Llirs, 5 number of LIR pages, 6 number of non-resident
#   HIR pages (heap size), 7 their bound (-1: none), 8 stamp counter, 9 skip_repeats, 10 last page referenced
G_S, G_Q, G_LLIRS, G_NLIR, G_NNR, G_NRMAX, G_TICK, G_SKIP, G_LAST = 0, 2, 4, 5, 6, 7, 8, 9, 10


@njit(cache=True, inline="always", _nrt=False)
def _push_s(pp, pg, g):
    """Put page ``g`` on top of S (moving it if already there)."""
    if pp[R_INS, g]:
        dll_move_front(pp, pg, R_S, G_S, g)
    else:
        dll_push_front(pp, pg, R_S, G_S, g)
        pp[R_INS, g] = 1
    pg[G_TICK] += 1
    pp[R_STAMP, g] = pg[G_TICK]


@njit(cache=True, inline="always", _nrt=False)
def _leave_s(pp, pg, g):
    dll_remove(pp, pg, R_S, G_S, g)
    pp[R_INS, g] = 0


@njit(cache=True, inline="always", _nrt=False)
def _forget_nr(pp, pg, g):
    """Drop the non-resident HIR page ``g`` from S and the heap: no history left."""
    heap_remove(pp[R_HEAP], pp[R_HKEY], pp[R_HPOS], pg, G_NNR, g)
    _leave_s(pp, pg, g)
    pp[R_ST, g] = NONE


@njit(cache=True, _nrt=False)
def _prune_from(pp, pg, t):
    """Remove HIR pages from the bottom of S, starting at ``t``, until an LIR page is there."""
    while t >= 0 and pp[R_ST, t] != LIR:
        if pp[R_ST, t] == NRHIR:
            _forget_nr(pp, pg, t)
        else:
            _leave_s(pp, pg, t)  # a resident HIR page stays in Q
        t = pg[G_S + 1]


@njit(cache=True, inline="always", _nrt=False)
def _prune(pp, pg):
    """Stack pruning: remove HIR pages from the bottom of S until an LIR page is there.

    Usually there is nothing to do; the loop is out of line (one compiled copy).
    """
    t = pg[G_S + 1]
    if t >= 0 and pp[R_ST, t] != LIR:
        _prune_from(pp, pg, t)


@njit(cache=True, inline="always", _nrt=False)
def _balance(pp, pg):
    """While there are more than Llirs LIR pages, the bottom LIR page of S becomes resident HIR (end of Q)."""
    while pg[G_NLIR] > pg[G_LLIRS]:
        b = pg[G_S + 1]  # an LIR page (S is pruned)
        pp[R_ST, b] = HIR
        pg[G_NLIR] -= 1
        _leave_s(pp, pg, b)
        dll_push_front(pp, pg, R_Q, G_Q, b)
        _prune(pp, pg)


@njit(cache=True, inline="always", _nrt=False)
def _trim(pp, pg, limit):
    """Forget the non-resident HIR pages deepest in S while there are more than ``limit``."""
    if pg[G_NRMAX] < 0:
        return
    while pg[G_NNR] > limit:
        _forget_nr(pp, pg, pp[R_HEAP, 0])
    _prune(pp, pg)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Cases 1 and 2: a reference to resident page ``g``."""
    pp = st.pol_p
    pg = st.pol_g
    if pg[G_SKIP]:
        if pg[G_LAST] == g:
            return
        pg[G_LAST] = g
    s = pp[R_ST, g]
    if s == LIR:
        bottom = pg[G_S + 1] == g
        _push_s(pp, pg, g)
        if bottom:
            _prune(pp, pg)
    elif s == HIR:
        if pp[R_INS, g]:
            _push_s(pp, pg, g)
            pp[R_ST, g] = LIR
            pg[G_NLIR] += 1
            dll_remove(pp, pg, R_Q, G_Q, g)
            _balance(pp, pg)
        else:
            _push_s(pp, pg, g)
            dll_move_front(pp, pg, R_Q, G_Q, g)
            _prune(pp, pg)  # only does something when there is no LIR page at all


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Case 3, after the eviction: page ``g`` was loaded."""
    pp = st.pol_p
    pg = st.pol_g
    pg[G_LAST] = g
    s = pp[R_ST, g]
    if s == NRHIR:
        heap_remove(pp[R_HEAP], pp[R_HKEY], pp[R_HPOS], pg, G_NNR, g)
        _push_s(pp, pg, g)
        pp[R_ST, g] = LIR
        pg[G_NLIR] += 1
        _balance(pp, pg)
    elif pg[G_NLIR] < pg[G_LLIRS]:
        _push_s(pp, pg, g)
        pp[R_ST, g] = LIR
        pg[G_NLIR] += 1
    else:
        _push_s(pp, pg, g)
        pp[R_ST, g] = HIR
        dll_push_front(pp, pg, R_Q, G_Q, g)
    _prune(pp, pg)  # only does something when there is no LIR page at all (Llirs = 0)
    _trim(pp, pg, pg[G_NRMAX])


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` is emptied: its page leaves Q (or the LIR set).

    An evicted page that is in S stays there as a non-resident HIR page; a
    freed page is forgotten.
    """
    pp = st.pol_p
    pg = st.pol_g
    g = st.frame_page[f]
    s = pp[R_ST, g]
    if s == HIR:
        dll_remove(pp, pg, R_Q, G_Q, g)
    elif s == LIR:
        pg[G_NLIR] -= 1
    else:
        return
    if evicted and pp[R_INS, g]:
        pp[R_ST, g] = NRHIR
        heap_set(pp[R_HEAP], pp[R_HKEY], pp[R_HPOS], pg, G_NNR, g, -pp[R_STAMP, g])
        # the bound is enforced once the faulting page is in (on_insert); one extra meanwhile
        _trim(pp, pg, pg[G_NRMAX] + 1)
    else:
        if pp[R_INS, g]:
            _leave_s(pp, pg, g)
        pp[R_ST, g] = NONE
    _prune(pp, pg)


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: forget its non-resident history."""
    pp = st.pol_p
    pg = st.pol_g
    if pg[G_LAST] == g:
        pg[G_LAST] = -1
    if pp[R_ST, g] == NRHIR:
        _forget_nr(pp, pg, g)
        _prune(pp, pg)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The front of Q, skipping unevictable pages; if none, the evictable LIR page deepest in S."""
    pp = st.pol_p
    g = st.pol_g[G_Q + 1]
    while g >= 0:
        f = st.page_frame[g]
        if evictable(st, f):
            return f
        g = pp[R_Q, g]
    g = st.pol_g[G_S + 1]
    while g >= 0:
        if pp[R_ST, g] == LIR:
            f = st.page_frame[g]
            if evictable(st, f):
                return f
        g = pp[R_S, g]
    return -1


def lirs_sizes(frames: int, hir_ratio: float) -> tuple[int, int]:
    """``(Llirs, Lhirs)`` for ``frames`` frames: ``Lhirs = max(1, round(hir_ratio * frames))`` (half up)."""
    lhirs = min(frames, max(1, int(hir_ratio * frames + 0.5)))
    return frames - lhirs, lhirs


def nonresident_bound(frames: int, ratio: float | None) -> int:
    """Maximum number of non-resident HIR pages kept in S (-1: unbounded)."""
    return -1 if ratio is None else int(ratio * frames + 0.5)


def _number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


@register
class LIRS(Policy):
    """LIRS (Jiang & Zhang, SIGMETRICS 2002): LIR pages by inter-reference recency, HIR pages evicted FIFO."""

    name = "lirs"
    aliases = ("low-inter-reference-recency-set",)
    kernel_id = KERNEL_ID
    flow_family = "recency"
    source = "Jiang & Zhang, SIGMETRICS 2002, section 3"
    conventions = (
        "Lhirs = max(1, round(hir_ratio * frames)) with halves rounded up, Llirs = frames - Lhirs "
        "(hir_ratio=0.01, the paper's 1%). Warm-up: a loaded page becomes LIR while fewer than Llirs pages "
        "are LIR, also after frees have shrunk the LIR set; a hit on a resident HIR page not in S leaves it"
        " HIR. A page becoming LIR demotes the bottom LIR page of S only when the LIR set would exceed "
        "Llirs. Non-resident HIR pages in S are bounded by round(nonresident_ratio * frames) (default 1.0: "
        "the number of frames; None: unbounded as in the paper): the one deepest in S is "
        "forgotten first, and the bound is applied after the faulting page has been loaded, so its own "
        "history is never dropped to make room for the page it evicts. Every reference counts, including an"
        " immediate repeat (so a page referenced twice in a row while in S becomes LIR, as in the paper's "
        "example where E is referenced at times 9 and 10); skip_repeats=True ignores a reference to the "
        "page referenced just before, as the authors' lirs.c does, which matters for per-access memory "
        "traces. Unevictable frames (pinned, copy-on-write source, swap full) are skipped in Q; if Q has no"
        " evictable page the evictable LIR page deepest in S is evicted and kept as a non-resident HIR "
        "page. Freed pages (exit, munmap) are forgotten."
    )
    page_rows = 10
    page_rows_hold_positions = True  # stamps (one per reference)
    global_rows = 11
    params = {"hir_ratio": 0.01, "nonresident_ratio": 1.0, "skip_repeats": False}

    def validate(self):
        """``hir_ratio`` in (0, 1]; ``nonresident_ratio`` >= 0 or None; ``skip_repeats`` a bool."""
        r = self.values["hir_ratio"]
        if not _number(r) or not 0 < r <= 1:
            raise PolicyError(f"policy 'lirs': hir_ratio must be a number in (0, 1], got {r!r}")
        nr = self.values["nonresident_ratio"]
        if nr is not None and (not _number(nr) or nr < 0):
            raise PolicyError(f"policy 'lirs': nonresident_ratio must be a number >= 0 or None, got {nr!r}")
        if not isinstance(self.values["skip_repeats"], bool):
            raise PolicyError("policy 'lirs': skip_repeats must be true or false")

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty S and Q; Llirs and the non-resident bound from the number of frames."""
        frames = pol_f.shape[1]
        pol_p[:] = 0
        dll_init(pol_p, pol_g, R_S, G_S)
        dll_init(pol_p, pol_g, R_Q, G_Q)
        pol_p[R_HEAP] = -1
        pol_p[R_HPOS] = -1
        pol_g[G_LLIRS] = lirs_sizes(frames, self.values["hir_ratio"])[0]
        pol_g[G_NLIR] = 0
        pol_g[G_NNR] = 0
        pol_g[G_NRMAX] = nonresident_bound(frames, self.values["nonresident_ratio"])
        pol_g[G_TICK] = 0
        pol_g[G_SKIP] = int(self.values["skip_repeats"])
        pol_g[G_LAST] = -1
