"""CLOCK-Pro: LIRS's hot/cold classification on a clock with three hands.

Source: Jiang, Chen & Zhang, "CLOCK-Pro: An Effective Improvement of the CLOCK
Replacement", USENIX ATC 2005, section 3.

All resident pages and the non-resident cold pages in their *test period* sit
on one circular list (the clock). A page is hot or cold; hot pages are always
resident; a cold page is in its test period from the time it is (re)placed at
the list head until a hand terminates it. The *head* is just behind HAND_hot,
so a page placed there is the last one every hand reaches (the paper calls
HAND_hot's page the tail and the page after it the head). Each resident page
has a reference bit, set on a hit (the policy's own bit: the simulator reports
every hit) and cleared when it is placed at the head. ``m`` is the number of
frames; the target number of resident cold pages ``m_c`` adapts, hot pages are
kept at ``m - m_c`` at most.

- **HAND_cold** (a fault needs a frame): at a resident cold page with the bit
  clear, that page is the victim: it stays on the clock as a non-resident cold
  page if it is in its test period, else it leaves the clock. With the bit set
  the bit is cleared and the page moves to the head: if it was in its test
  period it becomes hot (``m_c += 1``) and HAND_hot runs; otherwise it stays cold
  and starts a new test period. The hand passes other pages.
- **HAND_hot** (runs while there are more than ``m - m_c`` hot pages): a hot page
  with the bit set has it cleared and is passed; the first with the bit clear
  becomes cold (resident, not in test). Every cold page the hand passes has its
  test period terminated (``m_c -= 1``) and leaves the clock if non-resident.
  After the demotion the hand goes on to the next hot page ("finally the hand
  stops at a hot page").
- **HAND_test** (runs while there are more than ``m`` non-resident cold pages):
  terminates the test period of the next cold page in test (``m_c -= 1``),
  removing it if non-resident.
- A **faulted page** already on the clock (a non-resident cold page in test)
  becomes hot at the head (``m_c += 1``) and HAND_hot runs; otherwise it becomes a
  cold page in test at the head (hot while there are fewer than ``m - m_c`` hot
  pages: warm-up).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable

KERNEL_ID = 32

# pol_p rows (per page id): 0/1 prev/next on the clock (circular; hands move along next), 2 flags.
R_PREV, R_NEXT, R_FL = 0, 1, 2
F_IN, F_HOT, F_RES, F_TEST, F_REF = 1, 2, 4, 8, 16
# pol_g: 0/1/2 HAND_hot/HAND_cold/HAND_test (page ids; all -1 iff the clock is empty), 3 pages on the
#   clock, 4 hot pages, 5 resident cold pages, 6 non-resident cold pages, 7 m_c, 8/9 its bounds, 10 m,
#   11 bound on non-resident cold pages
G_HOT, G_COLD, G_TEST, G_N, G_NHOT, G_NCOLD, G_NNR, G_MC, G_MCLO, G_MCHI, G_M, G_NRMAX = range(12)


@njit(cache=True, _nrt=False)
def _insert_before(pp, pg, h, x):
    """Link page ``x`` just behind position ``h`` (an empty clock: all hands on ``x``)."""
    if h < 0:
        pp[R_PREV, x] = x
        pp[R_NEXT, x] = x
        pg[G_HOT] = x
        pg[G_COLD] = x
        pg[G_TEST] = x
    else:
        p = pp[R_PREV, h]
        pp[R_NEXT, p] = x
        pp[R_PREV, x] = p
        pp[R_NEXT, x] = h
        pp[R_PREV, h] = x
    pg[G_N] += 1


@njit(cache=True, _nrt=False)
def _unlink(pp, pg, x):
    """Take page ``x`` off the clock; a hand on it moves to the next page."""
    nx = pp[R_NEXT, x]
    if nx == x:
        pg[G_HOT] = -1
        pg[G_COLD] = -1
        pg[G_TEST] = -1
    else:
        for k in range(3):
            if pg[k] == x:
                pg[k] = nx
        p = pp[R_PREV, x]
        pp[R_NEXT, p] = nx
        pp[R_PREV, nx] = p
    pp[R_PREV, x] = -1
    pp[R_NEXT, x] = -1
    pg[G_N] -= 1


@njit(cache=True, _nrt=False)
def _to_head(pp, pg, x):
    """Move page ``x`` to the list head: just behind HAND_hot."""
    _unlink(pp, pg, x)
    _insert_before(pp, pg, pg[G_HOT], x)


@njit(cache=True, _nrt=False)
def _terminate(pp, pg, x):
    """End cold page ``x``'s test period without a re-access: ``m_c -= 1``; a non-resident page leaves."""
    fl = pp[R_FL, x] & ~F_TEST
    if pg[G_MC] > pg[G_MCLO]:
        pg[G_MC] -= 1
    if fl & F_RES:
        pp[R_FL, x] = fl
    else:
        _unlink(pp, pg, x)
        pg[G_NNR] -= 1
        pp[R_FL, x] = 0


@njit(cache=True, _nrt=False)
def _grow_cold(pg):
    """A cold page was re-accessed in its test period: ``m_c += 1``."""
    if pg[G_MC] < pg[G_MCHI]:
        pg[G_MC] += 1


@njit(cache=True, _nrt=False)
def _hand_hot_once(pp, pg):
    """Run HAND_hot until it has demoted one hot page and reached the next hot page; True if it demoted."""
    demoted = False
    for _ in range(2 * pg[G_N] + 2):
        x = pg[G_HOT]
        if x < 0:
            break
        fl = pp[R_FL, x]
        nx = pp[R_NEXT, x]
        if fl & F_HOT:
            if demoted:
                return True
            if fl & F_REF:
                pp[R_FL, x] = fl & ~F_REF
            else:
                pp[R_FL, x] = fl & ~F_HOT
                pg[G_NHOT] -= 1
                pg[G_NCOLD] += 1
                demoted = True
        elif fl & F_TEST:
            _terminate(pp, pg, x)
        if pg[G_N] == 0:
            break
        pg[G_HOT] = nx
        if demoted and pg[G_NHOT] == 0:
            break
    return demoted


@njit(cache=True, _nrt=False)
def _run_hand_hot(pp, pg):
    """Demote hot pages while there are more than ``m - m_c``."""
    while pg[G_NHOT] > pg[G_M] - pg[G_MC]:
        if not _hand_hot_once(pp, pg):
            break


@njit(cache=True, _nrt=False)
def _run_hand_test(pp, pg, limit):
    """Terminate test periods at HAND_test while more than ``limit`` cold pages are non-resident."""
    for _ in range(2 * pg[G_N] + 2):
        if pg[G_NNR] <= limit:
            return
        x = pg[G_TEST]
        nx = pp[R_NEXT, x]
        if pp[R_FL, x] & F_TEST:
            _terminate(pp, pg, x)
        pg[G_TEST] = nx


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Page ``g`` was referenced: set its reference bit."""
    st.pol_p[R_FL, g] |= F_REF


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` was loaded after a fault (HAND_cold has already made room)."""
    pp = st.pol_p
    pg = st.pol_g
    if pp[R_FL, g] & F_IN:  # a non-resident cold page re-accessed in its test period
        pg[G_NNR] -= 1
        pg[G_NHOT] += 1
        pp[R_FL, g] = F_IN | F_HOT | F_RES
        _grow_cold(pg)
        _to_head(pp, pg, g)
        _run_hand_hot(pp, pg)
    else:
        if pg[G_NHOT] < pg[G_M] - pg[G_MC]:
            pp[R_FL, g] = F_IN | F_HOT | F_RES
            pg[G_NHOT] += 1
        else:
            pp[R_FL, g] = F_IN | F_RES | F_TEST
            pg[G_NCOLD] += 1
        _insert_before(pp, pg, pg[G_HOT], g)
    _run_hand_test(pp, pg, pg[G_NRMAX])


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` is emptied: an evicted cold page in test stays as a non-resident cold page."""
    pp = st.pol_p
    pg = st.pol_g
    g = st.frame_page[f]
    fl = pp[R_FL, g]
    if fl & F_IN == 0:
        return
    if fl & F_HOT:
        pg[G_NHOT] -= 1
    else:
        pg[G_NCOLD] -= 1
        if evicted and fl & F_TEST:
            pp[R_FL, g] = F_IN | F_TEST
            pg[G_NNR] += 1
            # the bound is enforced once the faulting page is in (on_insert); one extra meanwhile
            _run_hand_test(pp, pg, pg[G_NRMAX] + 1)
            return
    _unlink(pp, pg, g)
    pp[R_FL, g] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: drop it if it is a non-resident cold page."""
    pp = st.pol_p
    if pp[R_FL, g] & F_IN:
        _unlink(pp, st.pol_g, g)
        st.pol_g[G_NNR] -= 1
        pp[R_FL, g] = 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def victim(st):
    """Run HAND_cold until it finds a resident cold page with its bit clear.

    Unevictable resident cold pages are passed untouched. If no evictable cold
    page turns up (only possible with unevictable pages), the first evictable
    resident page from HAND_hot on is taken (a hot one: forced); -1 if none.
    """
    pp = st.pol_p
    pg = st.pol_g
    for _ in range(3 * pg[G_N] + 3):
        x = pg[G_COLD]
        if x < 0:
            break
        fl = pp[R_FL, x]
        if fl & (F_HOT | F_RES) == F_RES:
            f = st.page_frame[x]
            if evictable(st, f):
                if fl & F_REF == 0:
                    pg[G_COLD] = pp[R_NEXT, x]
                    return f
                if fl & F_TEST:
                    pp[R_FL, x] = F_IN | F_HOT | F_RES
                    pg[G_NCOLD] -= 1
                    pg[G_NHOT] += 1
                    _grow_cold(pg)
                    _to_head(pp, pg, x)  # HAND_cold, on x, moves on to its successor
                    _run_hand_hot(pp, pg)
                else:
                    pp[R_FL, x] = F_IN | F_RES | F_TEST
                    _to_head(pp, pg, x)
                continue
        pg[G_COLD] = pp[R_NEXT, x]
    x = pg[G_HOT]
    for _ in range(pg[G_N]):
        if pp[R_FL, x] & F_RES:
            f = st.page_frame[x]
            if evictable(st, f):
                return f
        x = pp[R_NEXT, x]
    return -1


def clockpro_sizes(frames: int, cold_ratio: float, nonresident_ratio: float) -> tuple[int, int, int]:
    """``(m_c lower bound = initial m_c, m_c upper bound, non-resident bound)`` for ``frames`` frames."""
    lo = min(frames, max(1, int(cold_ratio * frames + 0.5)))
    hi = max(lo, frames - lo)
    return lo, hi, int(nonresident_ratio * frames + 0.5)


def _number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


@register
class ClockPro(Policy):
    """CLOCK-Pro (Jiang, Chen & Zhang, USENIX ATC 2005): hot/cold pages, test periods, three clock hands."""

    name = "clock-pro"
    aliases = ("clockpro",)
    kernel_id = KERNEL_ID
    flow_family = "recency"
    source = "Jiang, Chen & Zhang, USENIX ATC 2005, section 3"
    conventions = (
        "Reference bits are the policy's own, set in on_hit by every reference the simulator reports as a "
        "hit (the MMU accessed bit would be the kernel's choice); a loaded page starts with its bit clear. "
        "The list head is just behind HAND_hot; 'moving a page to the head' re-links it there. m_c starts "
        "at its lower bound max(1, round(cold_ratio * frames)) (cold_ratio=0.01, like LIRS's 1%) and adapts"
        " by +-1 within [lower, frames - lower]: +1 when a cold page is re-accessed in its test period "
        "(found by HAND_cold with its bit set, or faulted while non-resident), -1 when a hand terminates a "
        "test period. Warm-up: a new page is hot while there are fewer than frames - m_c hot pages. A "
        "resident cold page found referenced but out of its test period starts a new test period at the "
        "head. HAND_hot runs while there are more than frames - m_c hot pages, demotes in place (the page "
        "is then just behind the hand: at the head) and afterwards moves on to the next hot page, "
        "terminating the test periods it passes. Non-resident cold pages are bounded by "
        "round(nonresident_ratio * frames) (default 1.0: the paper's m); the bound is applied after the "
        "faulting page is loaded, so its own test period is never ended to make room for the page it "
        "evicts. HAND_cold and HAND_test act lazily: they start at their last position and pass pages they "
        "have nothing to do with. Unevictable resident cold pages are passed untouched by HAND_cold; if no "
        "evictable cold page exists the first evictable hot page from HAND_hot on is evicted and forgotten."
        " Freed pages (exit, munmap) leave the clock."
    )
    page_rows = 3
    global_rows = 12
    params = {"cold_ratio": 0.01, "nonresident_ratio": 1.0}

    def validate(self):
        """``cold_ratio`` in (0, 0.5]; ``nonresident_ratio`` >= 0."""
        r = self.values["cold_ratio"]
        if not _number(r) or not 0 < r <= 0.5:
            raise PolicyError(f"policy 'clock-pro': cold_ratio must be a number in (0, 0.5], got {r!r}")
        nr = self.values["nonresident_ratio"]
        if not _number(nr) or nr < 0:
            raise PolicyError(f"policy 'clock-pro': nonresident_ratio must be a number >= 0, got {nr!r}")

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty clock; m_c at its lower bound."""
        frames = pol_f.shape[1]
        lo, hi, nrmax = clockpro_sizes(frames, self.values["cold_ratio"], self.values["nonresident_ratio"])
        pol_p[R_PREV] = -1
        pol_p[R_NEXT] = -1
        pol_p[R_FL] = 0
        pol_g[:] = 0
        pol_g[G_HOT] = pol_g[G_COLD] = pol_g[G_TEST] = -1
        pol_g[G_MC] = lo
        pol_g[G_MCLO] = lo
        pol_g[G_MCHI] = hi
        pol_g[G_M] = frames
        pol_g[G_NRMAX] = nrmax
