"""The compiled simulator flow: one place for hit / fault / evict / write-back.

:func:`run` walks the global trace from ``sc[SC_POS]``. Each reference is
attempted by :func:`_access`; an attempt either completes (statistics counted
once, at completion) or reports that a fault needs a frame while none is free,
*before* changing anything that a retry would repeat. The loop then asks the
compiled policy for a victim, evicts it and retries; with the external policy it
returns :data:`~vmgym.sim.state.ST_NEED_VICTIM` so that the caller chooses, calls
:func:`evict` and runs again. Fast-forwarding through hits and free-frame faults
therefore never leaves compiled code.

Conventions (documented in the README too):

- A hit is an access with no page fault of any kind. Minor faults: first touch
  (zero fill), mapping a page that is already resident (page cache, swap cache or
  shared with another process) and copy-on-write. Major faults: swap-in and file read.
- Every access sets the accessed bit of its PTE; a write sets the dirty bit,
  marks the page dirty and increments its version.
- One I/O queue: a demand read waits for everything queued before it; write-back
  is asynchronous but a frame is reusable only when its write-back completes.

Compilation choices (measured in ``benchmarks/bench_sim.py``): every kernel is
compiled with ``_nrt=False``. The state arrays are owned by the Python
:class:`~vmgym.sim.state.SimState` for the whole run, so reference counting them
buys nothing, and it cost an atomic instruction per array per inlined call: most
of the time of a fault. The helpers on the per-reference and per-fault paths are
``inline="always"``. Rare paths (events, copy-on-write, OOM) stay calls. The
loop works on the state by reference (:mod:`vmgym.sim.stateref`): reading a
field loads one array descriptor and a call passes one pointer, where the
NamedTuple by value cost a copy of every descriptor per call and most of the
compile time. Functions only compiled code calls are built without a CPython
wrapper (``no_cpython_wrapper``): unboxing 67 arrays cost ~1 s of compile each.
"""

from __future__ import annotations

from numba import njit, types

from vmgym.policies import hooks
from vmgym.prefetch import kernel as prefetch
from vmgym.sim import inline_copy
from vmgym.sim import state as S
from vmgym.sim.farcall import call_loop, far
from vmgym.sim.frames import evictable, needs_new_slot
from vmgym.sim.hints import nonneg, warm
from vmgym.sim.stateref import ref

inline_copy.install()  # before any flow compiles: numba's inliner copies callee IR faster

# ---------------------------------------------------------------- TLB


@njit(cache=True, inline="always", _nrt=False)
def _tlb_base(st, p):
    return (st.pte_vpn[p] & (st.cfg[S.CF_TLB_SETS] - 1)) * st.cfg[S.CF_TLB_WAYS]


@njit(cache=True, inline="always", _nrt=False)
def _tlb_lookup(st, p):
    """True on a TLB hit for PTE ``p`` (refreshes the entry's LRU stamp)."""
    base = _tlb_base(st, p)
    for w in range(st.cfg[S.CF_TLB_WAYS]):
        if st.tlb_tag[base + w] == p:
            st.sc[S.SC_TLB_TICK] += 1
            st.tlb_stamp[base + w] = st.sc[S.SC_TLB_TICK]
            return True
    return False


@njit(cache=True, inline="always", _nrt=False)
def _tlb_fill(st, p):
    """Cache PTE ``p`` after a walk, replacing an invalid or the LRU way of its set."""
    base = _tlb_base(st, p)
    best = base
    best_stamp = st.tlb_stamp[base]
    for w in range(st.cfg[S.CF_TLB_WAYS]):
        k = base + w
        if st.tlb_tag[k] < 0:
            best = k
            break
        if st.tlb_stamp[k] < best_stamp:
            best = k
            best_stamp = st.tlb_stamp[k]
    st.sc[S.SC_TLB_TICK] += 1
    st.tlb_tag[best] = p
    st.tlb_stamp[best] = st.sc[S.SC_TLB_TICK]


@njit(cache=True, inline="always", _nrt=False)
def _tlb_shootdown(st, p):
    """Invalidate the TLB entry of PTE ``p``, if any."""
    if st.cfg[S.CF_TLB_SETS] == 0:
        return
    base = _tlb_base(st, p)
    for w in range(st.cfg[S.CF_TLB_WAYS]):
        if st.tlb_tag[base + w] == p:
            st.tlb_tag[base + w] = -1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _tlb_flush_pid(st, pid):
    for k in range(st.tlb_tag.shape[0]):
        p = st.tlb_tag[k]
        if p >= 0 and st.pte_pid[p] == pid:
            st.tlb_tag[k] = -1


# ---------------------------------------------------------------- accounting


@njit(cache=True, inline="always", _nrt=False)
def _rss_add(st, pid, d):
    pid = nonneg(pid)
    st.proc_stats[S.ST_RSS, pid] += d
    if st.proc_stats[S.ST_RSS, pid] > st.proc_stats[S.ST_PEAK_RSS, pid]:
        st.proc_stats[S.ST_PEAK_RSS, pid] = st.proc_stats[S.ST_RSS, pid]


@njit(cache=True, inline="always", _nrt=False)
def _io(st, latency, write):
    """Queue one device operation; return its completion time."""
    start = st.sc[S.SC_IO_FREE]
    if st.sc[S.SC_TIME] > start:
        start = st.sc[S.SC_TIME]
    done = start + latency
    st.sc[S.SC_IO_FREE] = done
    st.sc[S.SC_IO_BUSY] += latency
    if write:
        st.sc[S.SC_IO_WRITES] += 1
    else:
        st.sc[S.SC_IO_READS] += 1
    return done


@njit(cache=True, inline="always", _nrt=False)
def _wait_until(st, t):
    if t > st.sc[S.SC_TIME]:
        st.sc[S.SC_IO_STALL] += t - st.sc[S.SC_TIME]
        st.sc[S.SC_TIME] = t


# ---------------------------------------------------------------- pages, frames, slots


@njit(cache=True, inline="always", _nrt=False)
def _alloc_frame(st):
    st.sc[S.SC_FREE_TOP] -= 1
    return nonneg(st.free_stack[nonneg(st.sc[S.SC_FREE_TOP])])


@njit(cache=True, inline="always", _nrt=False)
def _charge(st, f, pid):
    """Charge frame ``f`` to process ``pid`` (local allocation counts frames per process)."""
    st.frame_owner[f] = pid
    st.proc_frames[pid] += 1


@njit(cache=True, inline="always", _nrt=False)
def _over_quota(st, pid):
    """True if ``pid`` holds its whole quota under local allocation (and no waiver is in force)."""
    return (
        st.cfg[S.CF_ALLOC] != S.ALLOC_GLOBAL
        and st.sc[S.SC_QUOTA_WAIVED] == 0
        and st.proc_frames[pid] >= st.proc_quota[pid]
    )


@njit(cache=True, inline="always", _nrt=False)
def _release_frame(st, f, evicted):
    hooks.on_remove(st, f, evicted)
    st.proc_frames[nonneg(st.frame_owner[f])] -= 1
    st.frame_owner[f] = -1
    if st.frame_pf[f]:
        st.frame_pf[f] = 0
        st.sc[S.SC_PF_WASTED] += 1
    st.frame_page[f] = -1
    st.free_stack[nonneg(st.sc[S.SC_FREE_TOP])] = f
    st.sc[S.SC_FREE_TOP] += 1


@njit(cache=True, inline="always", _nrt=False)
def _fill(st, f, g, i):
    """Frame ``f`` now holds page ``g``, loaded at trace position ``i``: a fresh per-frame history."""
    st.page_frame[g] = f
    st.frame_page[f] = g
    st.frame_in[f] = i
    st.frame_last[f] = i
    st.frame_count[f] = 0
    st.frame_gap[f] = -1


@njit(cache=True, inline="always", _nrt=False)
def _free_slot(st, s):
    st.slot_page[s] = -1
    st.slot_free[st.sc[S.SC_SLOT_TOP]] = s
    st.sc[S.SC_SLOT_TOP] += 1
    st.sc[S.SC_SWAP_USED] -= 1


@njit(cache=True, inline="always", _nrt=False)
def _alloc_slot(st, g):
    st.sc[S.SC_SLOT_TOP] -= 1
    s = st.slot_free[st.sc[S.SC_SLOT_TOP]]
    st.slot_page[s] = g
    st.page_slot[g] = s
    st.sc[S.SC_SWAP_USED] += 1
    if st.sc[S.SC_SWAP_USED] > st.sc[S.SC_PEAK_SWAP]:
        st.sc[S.SC_PEAK_SWAP] = st.sc[S.SC_SWAP_USED]
    return s


@njit(cache=True, inline="always", _nrt=False)
def _alloc_anon_page(st, pid, vpn):
    st.sc[S.SC_ANON_TOP] -= 1
    g = nonneg(st.anon_free[nonneg(st.sc[S.SC_ANON_TOP])])
    st.page_frame[g] = -1
    st.page_slot[g] = -1
    st.page_ver[g] = 0
    st.page_dirty[g] = 0
    st.page_rmap[g] = -1
    st.page_mapcount[g] = 0
    st.page_pins[g] = 0
    st.page_owner[g] = pid
    st.page_vpn[g] = vpn
    return g


@njit(cache=True, inline="always", _nrt=False)
def _note(st, kind, arg):
    """Queue a hook call for :func:`_deliver_notes` (rare paths are shared by all policies)."""
    st.notes[st.sc[S.SC_NOTES]] = (arg << 3) | kind
    st.sc[S.SC_NOTES] += 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _deliver_notes(st):
    """Make the hook calls the rare paths queued, in order; called right after each rare path returns.

    A frame whose page was freed stays allocated (``frame_page`` intact) until its
    NOTE_REMOVE is delivered, so ``on_remove`` sees the page as its contract says.
    """
    for j in range(st.sc[S.SC_NOTES]):
        kind = st.notes[j] & 7
        arg = st.notes[j] >> 3
        if kind == S.NOTE_REMOVE:
            _release_frame(st, arg, False)
        elif kind == S.NOTE_PAGE_FREE:
            hooks.on_page_free(st, arg)
        elif kind == S.NOTE_META:
            hooks.on_meta(st, arg)
        else:
            hooks.on_insert(st, arg, st.frame_page[arg], st.sc[S.SC_POS])
    st.sc[S.SC_NOTES] = 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _free_anon_page(st, g):
    f = st.page_frame[g]
    if f >= 0:
        _note(st, S.NOTE_REMOVE, f)
        st.page_frame[g] = -1
    if st.page_slot[g] >= 0:
        _free_slot(st, st.page_slot[g])
        st.page_slot[g] = -1
    st.page_owner[g] = -1
    _note(st, S.NOTE_PAGE_FREE, g)
    st.anon_free[st.sc[S.SC_ANON_TOP]] = g
    st.sc[S.SC_ANON_TOP] += 1


# ---------------------------------------------------------------- reverse map


@njit(cache=True, inline="always", _nrt=False)
def _link(st, p, g):
    """Make PTE ``p`` (not present) refer to page ``g``."""
    st.pte_page[p] = g
    st.pte_rmap_next[p] = st.page_rmap[g]
    st.page_rmap[g] = p
    st.page_mapcount[g] += 1
    fl = st.pte_flags[p]
    if fl & S.PTE_LOCKED:
        st.page_pins[g] += 1
    if fl & S.PTE_FILEPRIV and fl & S.PTE_WRITABLE and st.page_kind[g] != S.KIND_ANON:
        st.pte_flags[p] = fl | S.PTE_COW


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _unlink(st, p):
    """Detach PTE ``p`` from its page (unmapping it if present); free an anonymous page left unmapped."""
    g = st.pte_page[p]
    if g < 0:
        return
    fl = st.pte_flags[p]
    if fl & S.PTE_PRESENT:
        _tlb_shootdown(st, p)
        _rss_add(st, st.pte_pid[p], -1)
    if fl & S.PTE_LOCKED:
        st.page_pins[g] -= 1
    q = st.page_rmap[g]
    if q == p:
        st.page_rmap[g] = st.pte_rmap_next[p]
    else:
        while st.pte_rmap_next[q] != p:
            q = st.pte_rmap_next[q]
        st.pte_rmap_next[q] = st.pte_rmap_next[p]
    st.pte_rmap_next[p] = -1
    st.page_mapcount[g] -= 1
    st.pte_page[p] = -1
    st.pte_flags[p] = fl & (S.PTE_STATIC_BITS | S.PTE_LOCKED)
    if st.page_kind[g] == S.KIND_ANON and st.page_mapcount[g] == 0:
        _free_anon_page(st, g)
    elif st.page_frame[g] >= 0:
        _note(st, S.NOTE_META, st.page_frame[g])


@njit(cache=True, inline="always", _nrt=False)
def _map_present(st, p, pid):
    """Make PTE ``p`` of process ``pid`` present (accessed: the faulting access is about to happen)."""
    st.pte_flags[p] |= S.PTE_PRESENT | S.PTE_ACCESSED
    _rss_add(st, pid, 1)


# ---------------------------------------------------------------- eviction


@njit(cache=True, inline="always", _nrt=False)
def evict(st, f):
    """Evict the page in frame ``f``: unmap it everywhere, write it back if needed, free the frame.

    The caller guarantees ``evictable(st, f)``.
    """
    g = nonneg(st.frame_page[f])
    p = st.page_rmap[g]
    while p >= 0:
        fl = st.pte_flags[p]
        if fl & S.PTE_PRESENT:
            st.pte_flags[p] = fl & ~(S.PTE_PRESENT | S.PTE_ACCESSED | S.PTE_DIRTY)
            _tlb_shootdown(st, p)
            _rss_add(st, st.pte_pid[p], -1)
        p = st.pte_rmap_next[p]
    ver = st.frame_ver[f]
    if st.page_kind[g] == S.KIND_FILE:
        if st.page_dirty[g]:
            st.frame_ready[f] = _io(st, st.cost[S.C_FILE_W], True)
            st.page_filever[g] = ver
            st.sc[S.SC_FILE_WRITEBACKS] += 1
        else:
            st.sc[S.SC_CLEAN_DROPS] += 1
    elif st.page_dirty[g] or needs_new_slot(st, f):
        s = st.page_slot[g]
        if s < 0:
            s = _alloc_slot(st, g)
        st.frame_ready[f] = _io(st, st.cost[S.C_SWAP_W], True)
        st.slot_ver[s] = ver
        st.sc[S.SC_SWAP_OUTS] += 1
    else:
        st.sc[S.SC_CLEAN_DROPS] += 1
    st.page_dirty[g] = 0
    st.page_frame[g] = -1
    _release_frame(st, f, True)
    st.sc[S.SC_EVICTIONS] += 1


# ---------------------------------------------------------------- faults

F_FAULTED = 4  # distinct from S_NEED_FRAME (1): a fault that maps a resident page is not a need for a frame
F_LOADED = 8


@njit(cache=True, inline="always", _nrt=False)
def _backing(st, g):
    """Where a non-resident page ``g`` is read from: (device location, full read latency, version).

    The location is ``2 * g`` for a file page and ``2 * slot + 1`` for a page on
    swap, so that the next page on the device is ``location + 2``.
    """
    if st.page_kind[g] == S.KIND_FILE:
        return 2 * g, st.cost[S.C_FILE_R], st.page_filever[g]
    s = st.page_slot[g]
    return 2 * s + 1, st.cost[S.C_SWAP_R], st.slot_ver[s]


@njit(cache=True, inline="always", _nrt=False)
def _fault_in(st, p, pid, i):
    """Make PTE ``p`` present: S_OK (mapped a resident page), S_LOADED (filled a frame) or S_NEED_FRAME."""
    g = st.pte_page[p]
    if g < 0:
        s = st.pte_static[p]
        if s >= 0:
            g = s
        else:
            if st.sc[S.SC_FREE_TOP] == 0 or _over_quota(st, pid):
                return S.S_NEED_FRAME
            g = _alloc_anon_page(st, pid, st.pte_vpn[p])
        _link(st, p, g)
    f = st.page_frame[g]
    if f >= 0:
        st.sc[S.SC_TIME] += st.cost[S.C_MINOR]
        st.proc_stats[S.ST_MINOR, pid] += 1
        if st.frame_pf[f]:  # first use of a prefetched page: wait for its read
            _wait_until(st, st.frame_ready[f])
            st.sc[S.SC_PF_FAULT_PTE] = p
            st.sc[S.SC_PF_FROM] = i + 1
            _far_on_use(st, f, g, p, pid)
        _map_present(st, p, pid)
        hooks.on_meta(st, f)
        return S.S_OK
    if st.sc[S.SC_FREE_TOP] == 0 or _over_quota(st, pid):
        return S.S_NEED_FRAME
    f = _alloc_frame(st)
    _charge(st, f, pid)
    _wait_until(st, st.frame_ready[f])
    major = st.page_kind[g] == S.KIND_FILE or st.page_slot[g] >= 0
    if major:
        loc, latency, ver = _backing(st, g)
        st.sc[S.SC_TIME] += st.cost[S.C_MAJOR]
        _wait_until(st, _io(st, latency, False))
        st.sc[S.SC_IO_LAST] = loc
        st.frame_ver[f] = ver
        st.proc_stats[S.ST_MAJOR, pid] += 1
        st.proc_stats[S.ST_FILE_READ if st.page_kind[g] == S.KIND_FILE else S.ST_SWAP_IN, pid] += 1
    else:
        st.sc[S.SC_TIME] += st.cost[S.C_MINOR] + st.cost[S.C_ZERO]
        st.frame_ver[f] = 0
        st.proc_stats[S.ST_MINOR, pid] += 1
        st.proc_stats[S.ST_ZERO_FILL, pid] += 1
    st.page_dirty[g] = 0
    _fill(st, f, g, i)
    _map_present(st, p, pid)
    hooks.on_insert(st, f, g, i)
    if major and st.cfg[S.CF_PREFETCH] != S.PF_NONE:
        st.sc[S.SC_PF_FAULT_PTE] = p
        st.sc[S.SC_PF_FROM] = i + 1
        _far_on_major(st, g, p, pid)
    return S.S_LOADED


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _cow_break(st, p, pid, i):
    """Write through copy-on-write PTE ``p`` (present): reuse the page if exclusive, else copy it."""
    g = st.pte_page[p]
    if st.page_kind[g] == S.KIND_ANON and st.page_mapcount[g] == 1:
        st.pte_flags[p] &= ~S.PTE_COW
        _tlb_shootdown(st, p)  # the PTE's permissions changed: drop its stale entry (flush_tlb_page)
        return S.S_OK
    src = st.page_frame[g]
    if st.sc[S.SC_FREE_TOP] == 0 or _over_quota(st, pid):
        st.sc[S.SC_PROTECT] = src
        return S.S_NEED_FRAME
    f = _alloc_frame(st)
    _charge(st, f, pid)
    _wait_until(st, st.frame_ready[f])
    locked = st.pte_flags[p] & S.PTE_LOCKED
    _unlink(st, p)  # g keeps at least one other mapper, or is a page-cache page
    n = _alloc_anon_page(st, pid, st.pte_vpn[p])
    st.pte_flags[p] = (st.pte_flags[p] & ~S.PTE_COW) | locked
    _link(st, p, n)
    st.page_ver[n] = st.page_ver[g]
    st.frame_ver[f] = st.frame_ver[src]
    st.page_dirty[n] = 1  # a private copy has no backing store yet
    _fill(st, f, n, i)
    _map_present(st, p, pid)
    st.sc[S.SC_TIME] += st.cost[S.C_MINOR] + st.cost[S.C_COW]
    st.proc_stats[S.ST_MINOR, pid] += 1
    st.proc_stats[S.ST_COW, pid] += 1
    _note(st, S.NOTE_INSERT, f)
    return S.S_OK


@njit(cache=True, inline="always", _nrt=False)
def _fault(st, i, p, op, pid):
    """Resolve the fault of reference ``i`` (PTE ``p`` not present, or a write to a COW PTE).

    Returns S_NEED_FRAME (a retry will redo only what is left), or a bit set of
    F_FAULTED (the access faulted) and F_LOADED (a frame was filled; the policy
    was told through ``on_insert``).
    """
    fl = st.pte_flags[p]
    out = 0
    if fl & S.PTE_PRESENT == 0:
        r = _fault_in(st, p, pid, i)
        if r == S.S_NEED_FRAME:
            return r
        out = F_FAULTED | (F_LOADED if r == S.S_LOADED else 0)
        fl = st.pte_flags[p]
    if op == S.R_WRITE and fl & S.PTE_COW:
        g0 = st.pte_page[p]
        was_shared = st.page_kind[g0] != S.KIND_ANON or st.page_mapcount[g0] > 1
        r = _far_cow_break(st, p, pid, i)
        if r != S.S_OK:
            return r
        if was_shared:
            out = F_FAULTED | F_LOADED
        elif out == 0:
            st.sc[S.SC_TIME] += st.cost[S.C_MINOR]  # write-protect fault that just re-enables writing
            st.proc_stats[S.ST_MINOR, pid] += 1
            out = F_FAULTED
    return out


@njit(cache=True, inline="always", _nrt=False)
def _pf_drop(st):
    """Empty the prefetch queue (loaded, or no frame can be reclaimed for the rest)."""
    st.sc[S.SC_PF_HEAD] = 0
    st.sc[S.SC_PF_LEN] = 0
    st.sc[S.SC_PF_WAIT] = st.sc[S.SC_PF_ASK]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _pf_load(st, i):
    """Load the queued prefetches (before reference ``i``) while frames are free.

    Returns True if a page is left that needs a frame (the flow reclaims one and
    calls again); the queue is emptied otherwise. A prefetched read is queued on the
    device without the CPU waiting for it; the first reference to the page waits
    for its completion (``frame_ready``). The policy hears of each page through
    ``on_insert`` (queued as a note) like a demand load at position ``i``.
    """
    q = st.pf_queue
    while st.sc[S.SC_PF_HEAD] < st.sc[S.SC_PF_LEN]:
        e = q[st.sc[S.SC_PF_HEAD]]
        g = e >> 1
        if not prefetch.loadable(st, g):
            st.sc[S.SC_PF_HEAD] += 1
            continue
        owner = st.pte_pid[st.sc[S.SC_PF_FAULT_PTE]]  # the process whose fault asked for it
        if st.sc[S.SC_FREE_TOP] == 0 or _over_quota(st, owner):
            return True
        f = _alloc_frame(st)
        _charge(st, f, owner)
        loc, full, ver = _backing(st, g)
        st.frame_ver[f] = ver
        lat = st.cost[S.C_IO_BATCH] if loc == st.sc[S.SC_IO_LAST] + 2 else full
        st.sc[S.SC_IO_LAST] = loc
        st.frame_ready[f] = _io(st, lat, False)
        st.page_dirty[g] = 0
        _fill(st, f, g, i)
        st.frame_pf[f] = 1 + (e & 1)
        st.sc[S.SC_PF_ISSUED] += 1
        _note(st, S.NOTE_INSERT, f)
        st.sc[S.SC_PF_HEAD] += 1
    _pf_drop(st)
    return False


# ---------------------------------------------------------------- processes and events


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _release_process(st, pid, new_state):
    """Exit or kill ``pid``: unmap all its PTEs, freeing its private pages, frames and slots."""
    for p in range(st.proc_pte_lo[pid], st.proc_pte_hi[pid]):
        _unlink(st, p)
        st.pte_flags[p] &= S.PTE_STATIC_BITS
    st.proc_state[pid] = new_state
    st.sc[S.SC_ALLOC_NEXT] = 0  # the running set changed: recompute the quotas at the next fault


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _fork(st, child):
    parent_pid = -1
    for j in range(st.fork_lo[child], st.fork_hi[child]):
        pp = st.fork_parent_pte[j]
        cp = st.fork_child_pte[j]
        parent_pid = st.pte_pid[pp]
        g = st.pte_page[pp]
        if g < 0:
            continue
        _link(st, cp, g)
        fl = st.pte_flags[cp]
        if st.pte_flags[pp] & S.PTE_PRESENT:
            fl |= S.PTE_PRESENT
            _rss_add(st, child, 1)
        if fl & S.PTE_WRITABLE and fl & S.PTE_SHARED == 0:
            fl |= S.PTE_COW
            st.pte_flags[pp] |= S.PTE_COW
        st.pte_flags[cp] = fl
        if st.page_frame[g] >= 0:
            _note(st, S.NOTE_META, st.page_frame[g])
    if parent_pid >= 0 and st.cfg[S.CF_TLB_SETS] > 0:
        _tlb_flush_pid(st, parent_pid)  # the parent's writable entries became copy-on-write
    st.proc_state[child] = S.P_RUN
    st.sc[S.SC_ALLOC_NEXT] = 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _vma_lock(st, v, lock):
    for p in range(st.vma_pte_lo[v], st.vma_pte_hi[v]):
        fl = st.pte_flags[p]
        if lock and fl & S.PTE_LOCKED == 0:
            st.pte_flags[p] = fl | S.PTE_LOCKED
            if st.pte_page[p] >= 0:
                st.page_pins[st.pte_page[p]] += 1
        elif not lock and fl & S.PTE_LOCKED:
            st.pte_flags[p] = fl & ~S.PTE_LOCKED
            if st.pte_page[p] >= 0:
                st.page_pins[st.pte_page[p]] -= 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _event(st, op, arg, pid):
    if op == S.E_START:
        st.proc_state[pid] = S.P_RUN
        st.sc[S.SC_ALLOC_NEXT] = 0
        return
    if st.proc_state[pid] != S.P_RUN:
        return
    if op == S.E_EXIT:
        _release_process(st, pid, S.P_EXITED)
    elif op == S.E_MUNMAP:
        for p in range(st.vma_pte_lo[arg], st.vma_pte_hi[arg]):
            _unlink(st, p)
            st.pte_flags[p] &= S.PTE_STATIC_BITS
    elif op == S.E_MLOCK:
        _vma_lock(st, arg, True)
    elif op == S.E_MUNLOCK:
        _vma_lock(st, arg, False)
    elif op == S.E_FORK:
        _fork(st, arg)


# ---------------------------------------------------------------- local allocation


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _working_sets(st, i, quota):
    """Add to ``quota[pid]`` the distinct pages (PTEs) each process referenced in the last tau references."""
    tau = st.cfg[S.CF_WS_WINDOW]
    base = st.sc[S.SC_BASE]  # a streamed chunk carries the tau entries before it (ChunkFeed.next_chunk)
    lo = max(0, i - tau)
    for j in range(lo - base, i - base):
        p = st.ref_pte[j]
        if st.ref_op[j] < S.EVENT_BASE and p >= 0 and st.pte_mark[p] == 0:
            st.pte_mark[p] = 1
            quota[st.ref_pid[j]] += 1
    for j in range(lo - base, i - base):
        if st.ref_op[j] < S.EVENT_BASE and st.ref_pte[j] >= 0:
            st.pte_mark[st.ref_pte[j]] = 0
    st.sc[S.SC_ALLOC_NEXT] = i + min(tau, max(i, 1))  # more often while the first window fills


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _alloc_update(st, i):
    """Recompute the frame quotas (see ``MachineConfig.allocation``) at the fault of reference ``i``."""
    mode = st.cfg[S.CF_ALLOC]
    frames = st.frame_page.shape[0]
    quota = st.proc_quota
    quota[:] = 0
    running = 0
    size = 0
    for pid in range(quota.shape[0]):
        if st.proc_state[pid] == S.P_RUN:
            running += 1
            size += st.proc_pte_hi[pid] - st.proc_pte_lo[pid]
    st.sc[S.SC_ALLOC_NEXT] = S.INF
    if mode == S.ALLOC_WORKING_SET:
        _working_sets(st, i, quota)
        if quota.sum() > frames:
            _max_min_fair(st, quota, frames, running)
    for pid in range(quota.shape[0]):
        if st.proc_state[pid] != S.P_RUN:
            quota[pid] = 0
        elif mode == S.ALLOC_EQUAL:
            quota[pid] = max(1, frames // running)
        elif mode == S.ALLOC_PROPORTIONAL:  # by virtual size: the pages it ever maps
            quota[pid] = max(1, frames * (st.proc_pte_hi[pid] - st.proc_pte_lo[pid]) // size)
        else:
            quota[pid] = max(1, quota[pid])


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _max_min_fair(st, demand, frames, running):
    """Share ``frames`` max-min fairly: demands below the fair share are met whole (water filling)."""
    left = frames
    open_ = running
    while open_ > 0:
        share = left // open_
        small = -1
        for pid in range(demand.shape[0]):  # the smallest demand not yet settled
            if st.proc_state[pid] != S.P_RUN or demand[pid] < 0:
                continue
            if small < 0 or demand[pid] < demand[small]:
                small = pid
        if demand[small] > share:
            break
        left -= demand[small]
        demand[small] = -demand[small] - 1  # settled (encoded negative)
        open_ -= 1
    share = left // open_ if open_ > 0 else 0
    for pid in range(demand.shape[0]):
        if st.proc_state[pid] == S.P_RUN:
            demand[pid] = -demand[pid] - 1 if demand[pid] < 0 else share


# ---------------------------------------------------------------- OOM


@njit(cache=True, _nrt=False)
def oom_victim(st):
    """The running process with the largest RSS + swapped pages (Linux badness); -1 if none holds memory."""
    best = -1
    best_score = 0
    for pid in range(st.proc_state.shape[0]):
        if st.proc_state[pid] != S.P_RUN:
            continue
        score = st.proc_stats[S.ST_RSS, pid]
        for p in range(st.proc_pte_lo[pid], st.proc_pte_hi[pid]):
            g = st.pte_page[p]
            if g >= 0 and st.page_frame[g] < 0 and st.page_slot[g] >= 0:
                score += 1
        if score > best_score:
            best = pid
            best_score = score
    return best


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def oom_kill(st):
    """Kill the OOM victim; return its pid or -1 (nothing to kill)."""
    pid = oom_victim(st)
    if pid >= 0:
        _release_process(st, pid, S.P_OOM)
        st.proc_stats[S.ST_OOM_KILLED, pid] = 1
        st.sc[S.SC_OOM_KILLS] += 1
    return pid


@njit(cache=True, _nrt=False)
def evictable_mask(st, out):
    """Fill the boolean array ``out`` with which frames may be evicted now."""
    for f in range(st.frame_page.shape[0]):
        out[f] = evictable(st, f)


@njit(cache=True, _nrt=False)
def choose_victim(st):
    """The policy's own victim under the current restriction (``SC_LOCAL``), or -1 (for ``policy_choice``)."""
    return _choose_victim(ref(st))


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _choose_victim(st):
    return hooks.victim(st)  # on the reference, as in the loop: the policy's helpers compile once


@njit(cache=True, _nrt=False)
def any_evictable(st):
    """True if at least one frame may be evicted now."""
    for f in range(st.frame_page.shape[0]):
        if evictable(st, f):
            return True
    return False


# ---------------------------------------------------------------- the loop


# The shared kernels a policy's flow calls on its rare paths: far calls (vmgym.sim.farcall), so that a
# flow compiles without them and they compile once for all flows.
_far_event = far(_event, types.none)
_far_release_process = far(_release_process, types.none)
_far_alloc_update = far(_alloc_update, types.none)
_far_pf_load = far(_pf_load, types.boolean)
_far_any_evictable = far(any_evictable, types.boolean)
_far_oom_kill = far(oom_kill, types.int64)
_far_cow_break = far(_cow_break, types.int64)
_far_on_use = far(prefetch.on_use, types.none)
_far_on_major = far(prefetch.on_major, types.none)


@njit(cache=True, _nrt=False, nogil=True)
def run(st, stop, loop):
    """Run from ``sc[SC_POS]`` until the trace ends, position ``stop``, or a decision/error.

    ``loop`` is the native address of a flow's :func:`_run` (:func:`vmgym.sim.farcall.loop_address`):
    this one entry from Python serves every policy. Releases the GIL: a streamed run
    reads its next chunk in another thread meanwhile.
    """
    return call_loop(loop, ref(st), stop)


WARM_AHEAD = 16  # references: how far ahead the loop hints the PTE entries it will read


@njit(cache=True, inline="always", _nrt=False)
def _warm_ahead(ref_pte, pte_flags, pte_page, page_frame, k, last_k):
    """Hint the cache with the entries later references of the chunk will read (:mod:`~vmgym.sim.hints`).

    The PTE of reference ``k + WARM_AHEAD``, and the frame slot of the page of
    reference ``k + WARM_AHEAD // 2`` (its PTE hinted that many references ago):
    each reference's chain PTE -> page -> frame then finds its first two links loading
    or loaded. An event's argument sits where a PTE id would: only ids in range are read.
    """
    warm_pte = ref_pte[min(k + WARM_AHEAD, last_k)]
    warm(pte_flags, warm_pte)
    warm(pte_page, warm_pte)
    p = ref_pte[min(k + WARM_AHEAD // 2, last_k)]
    if 0 <= p < pte_page.shape[0]:
        warm(page_frame, pte_page[p])


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _run(st, stop):  # noqa: C901 (the hot loop stays in one piece)
    """The loop of :func:`run`, on the state by reference (:mod:`vmgym.sim.stateref`).

    Returns one of the ``ST_*`` status codes; the position is left at the
    reference that needs a victim (or that raised the error). The arrays the
    per-reference path touches are hoisted into locals: read through the state
    object, every store would force the compiler to reload them. Positions are
    global; the trace arrays hold the entries from ``sc[SC_BASE]`` on (one chunk
    of a streamed run), and reaching their end returns ``ST_DONE``.
    """
    base = st.sc[S.SC_BASE]
    n = base + st.ref_op.shape[0]
    external = st.cfg[S.CF_POLICY] == hooks.EXTERNAL
    local = st.cfg[S.CF_ALLOC] != S.ALLOC_GLOBAL
    tlb = st.cfg[S.CF_TLB_SETS] > 0
    ref_op, ref_pid, ref_pte = st.ref_op, st.ref_pid, st.ref_pte
    proc_state, ps, sc = st.proc_state, st.proc_stats, st.sc
    pte_flags, pte_page, page_frame = st.pte_flags, st.pte_page, st.page_frame
    frame_last, frame_count, frame_ver = st.frame_last, st.frame_count, st.frame_ver
    frame_gap = st.frame_gap
    ref_key, ref_next, key_next = st.ref_key, st.ref_next, st.key_next
    oracle = ref_key.shape[0] > 0  # next uses are tracked (OPT, or Simulator(oracle=True))
    page_dirty, page_ver = st.page_dirty, st.page_ver
    c_dram, c_tlb_hit, c_walk = st.cost[S.C_DRAM], st.cost[S.C_TLB_HIT], st.cost[S.C_WALK]
    pol_f, pol_g = st.pol_f, st.pol_g
    end = min(n, stop)
    last_k = ref_op.shape[0] - 1
    i = sc[S.SC_POS]
    while i < end:
        k = nonneg(i - base)
        _warm_ahead(ref_pte, pte_flags, pte_page, page_frame, k, last_k)
        if oracle:
            warm(key_next, ref_key[min(k + WARM_AHEAD, last_k)])
        op = ref_op[k]
        pid = nonneg(ref_pid[k])
        if op >= S.EVENT_BASE:
            sc[S.SC_POS] = i
            _far_event(st, op, ref_pte[k], pid)
            if sc[S.SC_NOTES]:
                _deliver_notes(st)
            i += 1
            continue
        if proc_state[pid] != S.P_RUN:
            i += 1
            continue
        if pid != sc[S.SC_CUR_PID]:
            if sc[S.SC_CUR_PID] >= 0:
                sc[S.SC_CTX] += 1
                sc[S.SC_TIME] += st.cost[S.C_CTX]
                if tlb and st.cfg[S.CF_ASID] == 0:
                    st.tlb_tag[:] = -1
            sc[S.SC_CUR_PID] = pid
        p = ref_pte[k]
        if p < 0:
            ps[S.ST_SEGV, pid] += 1
            sc[S.SC_SEGVS] += 1
            if st.cfg[S.CF_SEGV_ERROR]:
                sc[S.SC_POS] = i
                return S.ST_SEGV_ERROR
            _far_release_process(st, pid, S.P_SEGV)
            if sc[S.SC_NOTES]:
                _deliver_notes(st)
            i += 1
            continue
        if oracle:
            key_next[nonneg(ref_key[k])] = ref_next[k]  # before any hook: the next use after this one
        fl = pte_flags[p]
        flt = 0
        if sc[S.SC_PF_WAIT] or fl & S.PTE_PRESENT == 0 or (op == S.R_WRITE and fl & S.PTE_COW):
            sc[S.SC_POS] = i
            sc[S.SC_PROTECT] = -1
            sc[S.SC_LOCAL] = -1
            need = False
            if local and sc[S.SC_ALLOC_NEXT] <= i:
                _far_alloc_update(st, i)
            # the prefetch decision and the queued reads come before the *next* reference: a retry of
            # the faulting one (after a victim for its copy-on-write copy) must not load them, or they
            # could evict the page it just loaded and trigger the same prefetch again (a livelock)
            prefetching = sc[S.SC_PF_WAIT] != 0 and i >= sc[S.SC_PF_FROM]
            if prefetching:
                if sc[S.SC_PF_ASK]:
                    sc[S.SC_PF_ASK] = 0
                    sc[S.SC_PF_WAIT] = 1 if sc[S.SC_PF_LEN] > sc[S.SC_PF_HEAD] else 0
                    return S.ST_NEED_PREFETCH
                need = _far_pf_load(st, i)
                if sc[S.SC_NOTES]:
                    _deliver_notes(st)
                if not need:
                    sc[S.SC_QUOTA_WAIVED] = 0
                    continue  # now the reference itself
            elif (
                not external and fl & S.PTE_PRESENT == 0 and (sc[S.SC_FREE_TOP] == 0 or _over_quota(st, pid))
            ):
                # the common miss: make room first instead of failing one attempt
                g = pte_page[p]
                if g < 0:
                    g = st.pte_static[p]
                need = g < 0 or page_frame[g] < 0
            if not need:
                t0 = sc[S.SC_TIME]
                flt = _fault(st, i, p, op, pid)
                if sc[S.SC_NOTES]:
                    _deliver_notes(st)
                ps[S.ST_TIME, pid] += sc[S.SC_TIME] - t0
                need = flt == S.S_NEED_FRAME
                if not need:
                    sc[S.SC_QUOTA_WAIVED] = 0
            if need:  # one call site each for victim and evict: they are inlined
                if local and sc[S.SC_QUOTA_WAIVED] == 0:
                    owner = st.pte_pid[sc[S.SC_PF_FAULT_PTE]] if prefetching else pid
                    # at its quota: one of its own pages; under it: a page of an over-quota process
                    at_quota = st.proc_frames[owner] >= st.proc_quota[owner]
                    sc[S.SC_LOCAL] = owner if at_quota else S.LOCAL_OVER_QUOTA
                if external:
                    if _far_any_evictable(st):
                        return S.ST_NEED_VICTIM
                    f = -1
                else:
                    f = hooks.victim(st)
                if f >= 0:
                    evict(st, f)
                    sc[S.SC_DECISIONS] += 1
                    continue
                if sc[S.SC_LOCAL] != -1:  # nothing within the quota rules: take a free frame, else any
                    sc[S.SC_LOCAL] = -1
                    sc[S.SC_QUOTA_WAIVED] = 1
                    continue
                if prefetching:  # never kill or fail for a prefetch: drop it
                    _pf_drop(st)
                    continue
                if st.cfg[S.CF_OOM_ERROR]:
                    return S.ST_OOM_ERROR
                killed = _far_oom_kill(st)
                if sc[S.SC_NOTES]:
                    _deliver_notes(st)
                if killed < 0:
                    return S.ST_DEADLOCK
                continue
            fl = pte_flags[p]
        # the access itself
        cost = c_dram
        if tlb:
            if flt == 0 and _tlb_lookup(st, p):
                cost += c_tlb_hit
                ps[S.ST_TLB_HITS, pid] += 1
            else:
                cost += c_walk
                ps[S.ST_TLB_MISSES, pid] += 1
                _tlb_fill(st, p)
        sc[S.SC_TIME] += cost
        ps[S.ST_TIME, pid] += cost
        g = nonneg(pte_page[p])
        f = nonneg(page_frame[g])
        if op == S.R_WRITE:
            fl |= S.PTE_DIRTY
            page_dirty[g] = 1
            page_ver[g] += 1
            frame_ver[f] += 1
            ps[S.ST_WRITES, pid] += 1
        elif op == S.R_READ:
            ps[S.ST_READS, pid] += 1
        else:
            ps[S.ST_EXECS, pid] += 1
        if flt & F_LOADED == 0:
            fl |= S.PTE_ACCESSED
            frame_gap[f] = i - frame_last[f]
        pte_flags[p] = fl
        frame_last[f] = i
        frame_count[f] += 1
        if flt == 0:
            ps[S.ST_HITS, pid] += 1
        if flt & F_LOADED == 0:
            hooks.on_hit(st, pol_f, pol_g, f, g, i)
        i += 1
    sc[S.SC_POS] = i
    return S.ST_DONE if i >= n else S.ST_STOPPED
