"""Compiled prefetchers: what to read ahead after a major fault.

The simulator flow calls :func:`on_major` after every major fault (the page is
loaded and mapped) and :func:`on_use` when a prefetched page is referenced for
the first time. Both only *queue* pages in ``st.pf_queue``; the flow loads the
queue before the next reference (:func:`vmgym.sim.kernel._pf_load`), reclaiming
frames through the replacement policy like any other allocation. The prefetcher
is chosen at run time by ``cfg[CF_PREFETCH]``: the code is compiled once for all
policies and runs only on faults, so it costs nothing on hits.

Locations. A *static* page (file or shared-memory object) is addressed by its
object page (``g + k`` within the object); an anonymous page by its virtual page
in the faulting VMA (the PTE with ``vpn + k``). Pages the trace never touches
have no anonymous page id and are never read (they hold nothing on swap); file
pages exist for the whole object, so readahead can read (and waste) pages that
are never used. ``loc`` encodes both kinds in one integer: ``2 * g`` for a
static page, ``2 * vpn + 1`` for an anonymous one, so a sequential next page is
``loc + 2``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vmgym.sim import state as S


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def loadable(st, g):
    """True if page ``g`` is not resident and has a copy to read (a file page, or a page on swap)."""
    if g < 0 or st.page_frame[g] >= 0:
        return False
    return st.page_kind[g] == S.KIND_FILE or st.page_slot[g] >= 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _push(st, g, marker, count_only):
    """Queue page ``g`` if loadable (``marker`` makes it the readahead marker); return 1 if loadable.

    With ``count_only`` nothing is queued: the callers then count what an action would read.
    """
    if not loadable(st, g):
        return 0
    n = st.sc[S.SC_PF_LEN]
    if not count_only and n < st.pf_queue.shape[0]:
        st.pf_queue[n] = (g << 1) | marker
        st.sc[S.SC_PF_LEN] = n + 1
        st.sc[S.SC_PF_WAIT] = 1
    return 1


@njit(cache=True, _nrt=False)
def push_pages(st, pages):
    """Queue the page ids ``pages`` (those not loadable are skipped)."""
    for g in pages:
        _push(st, g, 0, False)


@njit(cache=True, _nrt=False)
def loc_of(st, g, p):
    """The location of page ``g`` reached through PTE ``p`` (see the module docstring)."""
    if g < st.cfg[S.CF_N_STATIC]:
        return 2 * g
    return 2 * st.pte_vpn[p] + 1


@njit(cache=True, _nrt=False)
def push_offsets(st, g, p, first, count, step, marker_first, count_only=False):
    """Queue the pages at offsets ``first + j * step`` (j < count) from page ``g`` (reached by PTE ``p``).

    Static pages stay within their object; anonymous pages within the VMA of ``p``.
    Returns how many of them are loadable (``count_only``: count without queueing).
    """
    found = 0
    if g < st.cfg[S.CF_N_STATIC]:
        k = np.searchsorted(st.obj_base, g, side="right") - 1
        lo = st.obj_base[k]
        hi = st.obj_base[k + 1]
        for j in range(count):
            t = g + first + j * step
            if lo <= t < hi:
                found += _push(st, t, 1 if marker_first and j == 0 else 0, count_only)
        return found
    v = st.pte_vma[p]
    lo = st.vma_pte_lo[v]
    hi = st.vma_pte_hi[v]
    vpn = st.pte_vpn[p]
    for j in range(count):
        want = vpn + first + j * step
        q = lo + np.searchsorted(st.pte_vpn[lo:hi], want)
        if q < hi and st.pte_vpn[q] == want:
            found += _push(st, st.pte_page[q], 1 if marker_first and j == 0 else 0, count_only)
    return found


@njit(cache=True, _nrt=False)
def next_window(size, maximum):
    """Linux ``get_next_ra_size``: x4 while small, x2 up to half the maximum, then the maximum."""
    if size < maximum // 16:
        return min(4 * size, maximum)
    if size <= maximum // 2:
        return min(2 * size, maximum)
    return maximum


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _readahead_sync(st, g, p, pid):
    pf = st.pf_proc
    loc = loc_of(st, g, p)
    initial = st.cfg[S.CF_PF_A]
    maximum = st.cfg[S.CF_PF_B]
    sequential = pf[pid, S.PFP_LAST] >= 0 and (loc == pf[pid, S.PFP_NEXT] or loc == pf[pid, S.PFP_LAST] + 2)
    pf[pid, S.PFP_MISS] += 1
    if not sequential and pf[pid, S.PFP_MISS] > S.MMAP_LOTSAMISS:
        pf[pid, S.PFP_LAST] = loc  # random faults that readahead does not help: stop reading around them
        return
    size = next_window(pf[pid, S.PFP_SIZE], maximum) if sequential else initial
    # window [loc, loc + size): the faulting page plus size - 1 pages; the marker is the first
    # prefetched page, so the next sequential reference starts the next window asynchronously
    push_offsets(st, g, p, 1, size - 1, 1, True)
    pf[pid, S.PFP_NEXT] = loc + 2 * size
    pf[pid, S.PFP_SIZE] = size
    pf[pid, S.PFP_LAST] = loc


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _readahead_async(st, g, p, pid):
    pf = st.pf_proc
    loc = loc_of(st, g, p)
    off = pf[pid, S.PFP_NEXT] - loc
    if off <= 0 or off & 1:
        return  # the window belongs to another mapping kind or was overtaken: wait for a fault
    size = next_window(pf[pid, S.PFP_SIZE], st.cfg[S.CF_PF_B])
    push_offsets(st, g, p, off >> 1, size, 1, True)
    pf[pid, S.PFP_NEXT] += 2 * size
    pf[pid, S.PFP_SIZE] = size
    pf[pid, S.PFP_LAST] = loc


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def swapin_window(st, s, maximum):
    """Linux ``swapin_nr_pages``: the swap readahead window for a swap-in at slot ``s``.

    ``hits`` = readahead pages used since the previous swap-in: the window is
    ``hits + 2`` rounded up to a power of two (at least 4); with no hits, 1 page
    unless ``s`` is next to the previous such slot (then 2); never more than
    ``maximum`` nor less than half the previous window.
    """
    hits = st.sc[S.SC_SWAP_RA_HITS]
    st.sc[S.SC_SWAP_RA_HITS] = 0
    prev = st.sc[S.SC_SWAP_RA_PREV]
    pages = hits + 2
    if pages == 2:
        if s != prev + 1 and s != prev - 1:
            pages = 1
    else:
        r = 4
        while r < pages:
            r <<= 1
        pages = r
    pages = max(min(pages, maximum), st.sc[S.SC_SWAP_RA_WIN] // 2)
    if hits == 0:
        st.sc[S.SC_SWAP_RA_PREV] = s
    st.sc[S.SC_SWAP_RA_WIN] = pages
    return pages


@njit(cache=True, _nrt=False)
def swap_cluster(st, g, n, count_only=False):
    """Queue the in-use slots of the aligned block of ``n`` slots around ``g``'s slot; return how many."""
    s = st.page_slot[g]
    if st.page_kind[g] == S.KIND_FILE or s < 0:
        return 0
    found = 0
    base = s - s % n
    for t in range(base, min(base + n, st.slot_page.shape[0])):
        if t != s and st.slot_page[t] >= 0:
            found += _push(st, st.slot_page[t], 0, count_only)
    return found


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _stride(st, g, p, pid):
    pf = st.pf_proc
    loc = loc_of(st, g, p)
    d = loc - pf[pid, S.PFP_LAST]
    if pf[pid, S.PFP_LAST] >= 0 and d != 0 and d & 1 == 0 and d == pf[pid, S.PFP_STRIDE]:
        push_offsets(st, g, p, d >> 1, st.cfg[S.CF_PF_A], d >> 1, False)
    pf[pid, S.PFP_STRIDE] = d if pf[pid, S.PFP_LAST] >= 0 else 0
    pf[pid, S.PFP_LAST] = loc


@njit(cache=True, _nrt=False)
def markov_learn(tab, prev, g):
    """Make ``g`` the most recent successor of ``prev`` in the Markov table ``tab`` (rows: successors)."""
    if prev < 0 or prev == g:
        return
    j = 0
    while j < tab.shape[0] - 1 and tab[j, prev] != g:
        j += 1
    while j > 0:
        tab[j, prev] = tab[j - 1, prev]
        j -= 1
    tab[0, prev] = g


@njit(cache=True, _nrt=False)
def markov_push(st, tab, g, count_only=False):
    """Queue the remembered successors of page ``g``; return how many are loadable."""
    found = 0
    for j in range(tab.shape[0]):
        if tab[j, g] >= 0:
            found += _push(st, tab[j, g], 0, count_only)
    return found


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _markov(st, g, pid):
    markov_learn(st.pf_table, st.pf_proc[pid, S.PFP_LAST], g)
    st.pf_proc[pid, S.PFP_LAST] = g
    markov_push(st, st.pf_table, g)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def on_major(st, g, p, pid):
    """A major fault of process ``pid`` loaded page ``g`` through PTE ``p``: queue what to read ahead."""
    kind = st.cfg[S.CF_PREFETCH]
    if kind == S.PF_READAHEAD:
        _readahead_sync(st, g, p, pid)
    elif kind == S.PF_SWAP_CLUSTER:
        n = st.cfg[S.CF_PF_A]
        if st.cfg[S.CF_PF_B] and st.page_kind[g] != S.KIND_FILE and st.page_slot[g] >= 0:
            n = swapin_window(st, st.page_slot[g], n)  # adaptive (Linux >= 3.11)
        if n > 1:
            swap_cluster(st, g, n)
    elif kind == S.PF_STRIDE:
        _stride(st, g, p, pid)
    elif kind == S.PF_MARKOV:
        _markov(st, g, pid)
    elif kind == S.PF_EXTERNAL:
        st.sc[S.SC_PF_ASK] = 1
        st.sc[S.SC_PF_FAULT_PTE] = p
        st.sc[S.SC_PF_WAIT] = 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def on_use(st, f, g, p, pid):
    """The prefetched page ``g`` in frame ``f`` is referenced for the first time (through PTE ``p``).

    That reference is a minor fault the OS sees: readahead starts its next window
    if the page is the marker; stride and Markov train and predict on it as on a
    major fault (otherwise a stream they predicted well would vanish from the
    fault stream they learn from).
    """
    marker = st.frame_pf[f] == 2
    st.frame_pf[f] = 0
    st.sc[S.SC_PF_USED] += 1
    kind = st.cfg[S.CF_PREFETCH]
    if kind == S.PF_READAHEAD:
        if st.pf_proc[pid, S.PFP_MISS] > 0:
            st.pf_proc[pid, S.PFP_MISS] -= 1
        if marker:
            _readahead_async(st, g, p, pid)
    elif kind == S.PF_SWAP_CLUSTER:
        st.sc[S.SC_SWAP_RA_HITS] += 1
    elif kind == S.PF_STRIDE:
        _stride(st, g, p, pid)
    elif kind == S.PF_MARKOV:
        _markov(st, g, pid)
