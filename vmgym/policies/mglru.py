"""Multi-generational LRU in the spirit of Linux MGLRU: generations aged by accessed-bit walks.

Sources: Zhao, "Multi-Gen LRU" (Linux 6.1, 2022): Documentation/mm/multigen_lru.rst
and Documentation/admin-guide/mm/multigen_lru.rst; mm/vmscan.c (``lru_gen_*``).
Pages belong to generations numbered by sequence numbers ``min_seq`` (oldest)
.. ``max_seq`` (youngest), at most ``gens`` (MAX_NR_GENS) of them:

- a page loaded by a fault joins the youngest generation (``lru_gen_add_folio``:
  freshly faulted pages are "hot");
- aging creates a new youngest generation (``max_seq + 1``) and walks the
  resident pages: a page whose accessed bit is set has it cleared and moves to
  the new generation; the others keep their generation;
- eviction takes the page at the tail of the oldest generation; if it was
  accessed it is promoted to the youngest generation (bit cleared) instead; an
  empty oldest generation is retired (``min_seq + 1``), but the two youngest
  generations (MIN_NR_GENS) are never evicted from.

When to age is the policy's main knob in Linux (``should_run_aging``); here the
aging runs when a victim is needed and fewer than ``gens`` generations exist,
as recent kernels do with MAX_NR_GENS = 4 (age when only MIN_NR_GENS + 1 = 3
are left), so the default keeps 3 to 4 generations.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import dll_push_front, dll_remove
from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable, test_and_clear_referenced

KERNEL_ID = 44
MAX_GENS = 16
MIN_NR_GENS = 2
# pol_f rows 0/1: prev/next in the frame's generation list (head = newest); row 2: its generation (seq)
# pol_g 0: min_seq, 1: max_seq, 2: gens (the maximum number of generations),
#       3 + 2k / 4 + 2k: head/tail of the list of generation slot k = seq % gens (k < MAX_GENS),
#       3 + 2 * MAX_GENS + k: number of pages in slot k
MIN_SEQ, MAX_SEQ, GENS = 0, 1, 2
HEADS = 3
COUNTS = HEADS + 2 * MAX_GENS


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page loaded by a fault joins the youngest generation (with the accessed bit the fault set)."""
    pg = st.pol_g
    seq = pg[MAX_SEQ]
    k = seq % pg[GENS]
    dll_push_front(st.pol_f, pg, 0, HEADS + 2 * k, f)
    st.pol_f[2, f] = seq
    pg[COUNTS + k] += 1


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves its generation."""
    pg = st.pol_g
    k = st.pol_f[2, f] % pg[GENS]
    dll_remove(st.pol_f, pg, 0, HEADS + 2 * k, f)
    pg[COUNTS + k] -= 1
    st.pol_f[2, f] = -1


@njit(cache=True, _nrt=False)
def _move(pf, pg, f, seq):
    """Move frame ``f`` to the head of generation ``seq``."""
    gens = pg[GENS]
    k = pf[2, f] % gens
    dll_remove(pf, pg, 0, HEADS + 2 * k, f)
    pg[COUNTS + k] -= 1
    k = seq % gens
    dll_push_front(pf, pg, 0, HEADS + 2 * k, f)
    pg[COUNTS + k] += 1
    pf[2, f] = seq


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _age(st):
    """A new youngest generation: resident pages found accessed (frame order) move to it, bit cleared."""
    pf = st.pol_f
    pg = st.pol_g
    new = pg[MAX_SEQ] + 1
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0 and test_and_clear_referenced(st, f):
            _move(pf, pg, f, new)
    pg[MAX_SEQ] = new


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """Retire empty old generations, age while fewer than ``gens`` exist, evict from the oldest's tail.

    Every step retires a generation, ages, promotes a page (clearing its bit)
    or returns; the bound only guards the fallback for an oldest generation
    holding only unevictable pages: the evictable frame nearest the tail of
    the oldest generation that has one.
    """
    pf = st.pol_f
    pg = st.pol_g
    gens = pg[GENS]
    for _ in range(4 * st.frame_page.shape[0] + 4 * gens + 16):
        while pg[MAX_SEQ] - pg[MIN_SEQ] + 1 > MIN_NR_GENS and pg[COUNTS + pg[MIN_SEQ] % gens] == 0:
            pg[MIN_SEQ] += 1
        if pg[MAX_SEQ] - pg[MIN_SEQ] + 1 < gens:
            _age(st)
            continue
        f = pg[HEADS + 2 * (pg[MIN_SEQ] % gens) + 1]
        while f >= 0 and not evictable(st, f):
            f = pf[0, f]
        if f < 0:
            break
        if test_and_clear_referenced(st, f):
            _move(pf, pg, f, pg[MAX_SEQ])
            continue
        return f
    for seq in range(pg[MIN_SEQ], pg[MAX_SEQ] + 1):
        f = pg[HEADS + 2 * (seq % gens) + 1]
        while f >= 0:
            if evictable(st, f):
                return f
            f = pf[0, f]
    return -1


@register
class MGLRU(Policy):
    """Multi-gen LRU (Zhao, Linux 6.1, 2022): accessed-bit aging into generations, evict the oldest."""

    name = "mglru"
    aliases = ("multi-gen-lru", "lru-gen")
    kernel_id = KERNEL_ID
    flow_family = "working-set"
    source = "Zhao, Multi-Gen LRU, Linux 6.1 (2022): Documentation/mm/multigen_lru.rst; mm/vmscan.c"
    conventions = (
        "One set of generations for all pages (no anon/file types, tiers, refault feedback, Bloom "
        "filters or look-around). It starts with `gens` empty generations (min_seq 0, max_seq gens-1). "
        "A page loaded by a fault joins the head of the youngest generation and keeps the accessed bit "
        "its faulting access set. Accessed = the MMU accessed bit of every PTE mapping the page. Work "
        "happens only when a victim is needed: empty oldest generations are retired while more than "
        "MIN_NR_GENS = 2 remain; while fewer than `gens` exist, aging creates a new youngest generation "
        "and walks the resident frames in index order, moving each accessed page (bit cleared) to its "
        "head; then the page at the tail of the oldest generation is taken unless accessed, in which case "
        "it moves (bit cleared) to the head of the youngest generation and the steps repeat. Unevictable "
        "frames are passed over in place."
    )
    frame_rows = 3
    global_rows = COUNTS + MAX_GENS
    params = {"gens": 4}

    def validate(self):
        """``gens`` must be an int in 3..16."""
        n = self.values["gens"]
        if isinstance(n, bool) or not isinstance(n, int) or not MIN_NR_GENS + 1 <= n <= MAX_GENS:
            raise PolicyError(
                f"policy 'mglru': gens must be an integer in {MIN_NR_GENS + 1}..{MAX_GENS}, got {n!r}"
            )

    def init_state(self, pol_f, pol_p, pol_g):
        """``gens`` empty generations."""
        pol_f[:] = -1
        pol_g[:] = -1
        gens = self.values["gens"]
        pol_g[MIN_SEQ] = 0
        pol_g[MAX_SEQ] = gens - 1
        pol_g[GENS] = gens
        pol_g[COUNTS : COUNTS + MAX_GENS] = 0
