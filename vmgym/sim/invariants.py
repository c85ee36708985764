"""Whole-state consistency checks: no page lost, every frame and slot owned once, rmap exact.

Used by the tests and the soak after every step. Every check is vectorised NumPy
(the reverse maps are walked one list position per round, over all pages at once),
so a check costs tens of microseconds on a small machine; not meant for the hot loop.
"""

from __future__ import annotations

import numpy as np

from vmgym.sim import state as S


class InvariantError(AssertionError):
    """The simulator state is inconsistent; the message says which invariant broke."""


def _fail(msg: str) -> None:
    raise InvariantError(msg)


def _exactly_once(ids: np.ndarray, expected: np.ndarray) -> bool:
    """True if ``ids`` holds every index where ``expected`` is True exactly once, and nothing else."""
    n = expected.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        return False
    return bool((np.bincount(ids, minlength=n) == expected).all())


def _check_frames(st: S.SimState) -> None:
    used = np.flatnonzero(st.frame_page >= 0)
    g = st.frame_page[used]
    if g.size and np.bincount(g).max() > 1:
        _fail("a page is resident in two frames")
    bad = st.page_frame[g] != used
    if bad.any():
        f = int(used[np.argmax(bad)])
        _fail(
            f"frame {f} holds page {int(st.frame_page[f])} "
            f"whose page_frame is {int(st.page_frame[st.frame_page[f]])}"
        )
    res = int((st.page_frame >= 0).sum())
    if res != len(used):
        _fail(f"{res} pages claim a frame but {len(used)} frames are in use")
    if not _exactly_once(st.free_stack[: int(st.sc[S.SC_FREE_TOP])], st.frame_page < 0):
        _fail("the free-frame stack does not hold exactly the free frames")


def _check_slots(st: S.SimState) -> None:
    used = np.flatnonzero(st.slot_page >= 0)
    owners = st.slot_page[used]
    if owners.size and np.bincount(owners).max() > 1:
        _fail("a page owns two swap slots")
    if (st.page_slot[owners] != used).any():
        _fail("slot_page and page_slot disagree")
    if int((st.page_slot >= 0).sum()) != len(used):
        _fail("a page points to a swap slot it does not own")
    if not _exactly_once(st.slot_free[: int(st.sc[S.SC_SLOT_TOP])], st.slot_page < 0):
        _fail("the free-slot stack does not hold exactly the free slots")
    if int(st.sc[S.SC_SWAP_USED]) != len(used):
        _fail(f"swap_used is {int(st.sc[S.SC_SWAP_USED])} but {len(used)} slots are in use")


def _check_rmap(st: S.SimState) -> None:
    """Walk every reverse map at once, one list position per round (vectorised over pages)."""
    n_pages, n_ptes = st.page_frame.shape[0], st.pte_page.shape[0]
    seen = np.zeros(n_ptes, dtype=np.int64)
    count = np.zeros(n_pages, dtype=np.int64)
    pins = np.zeros(n_pages, dtype=np.int64)
    page = np.flatnonzero(st.page_rmap >= 0)
    p = st.page_rmap[page]
    while p.size:
        if p.max() >= n_ptes:
            _fail(f"a reverse map links to PTE {int(p.max())}, beyond the {n_ptes} PTEs")
        wrong = st.pte_page[p] != page
        seen += np.bincount(p, minlength=n_ptes)
        if wrong.any() or seen.max() > 1:
            i = int(np.argmax(wrong)) if wrong.any() else int(np.argmax(seen[p] > 1))
            q, g = int(p[i]), int(page[i])
            _fail(f"PTE {q} is on the reverse map of page {g} but maps page {int(st.pte_page[q])}")
        flags = st.pte_flags[p]
        lost = ((flags & S.PTE_PRESENT) != 0) & (st.page_frame[page] < 0)
        if lost.any():
            i = int(np.argmax(lost))
            _fail(f"PTE {int(p[i])} is present but its page {int(page[i])} is not resident")
        count += np.bincount(page, minlength=n_pages)
        pins += np.bincount(page[(flags & S.PTE_LOCKED) != 0], minlength=n_pages)
        p = st.pte_rmap_next[p]
        page = page[p >= 0]
        p = p[p >= 0]
    bad = count != st.page_mapcount
    if bad.any():
        g = int(np.argmax(bad))
        _fail(f"page {g} has mapcount {int(st.page_mapcount[g])} but {int(count[g])} PTEs on its reverse map")
    bad = pins != st.page_pins
    if bad.any():
        g = int(np.argmax(bad))
        _fail(f"page {g} has {int(st.page_pins[g])} pins but {int(pins[g])} locked PTEs")
    mapped = st.pte_page >= 0
    if (mapped & (seen == 0)).any():
        p = int(np.argmax(mapped & (seen == 0)))
        _fail(f"PTE {p} maps page {int(st.pte_page[p])} but is missing from its reverse map")
    if ((st.pte_flags & S.PTE_PRESENT != 0) & ~mapped).any():
        _fail("a PTE is present but maps no page")


def _check_processes(st: S.SimState) -> None:
    present = (st.pte_flags & S.PTE_PRESENT) != 0
    rss = (
        np.bincount(st.pte_pid[present], minlength=st.n_procs) if present.any() else np.zeros(st.n_procs, int)
    )
    if (rss != st.proc_stats[S.ST_RSS]).any():
        pid = int(np.argmax(rss != st.proc_stats[S.ST_RSS]))
        _fail(f"process {pid} has RSS {int(st.proc_stats[S.ST_RSS, pid])} but {int(rss[pid])} present PTEs")
    dead = np.isin(st.proc_state, [S.P_EXITED, S.P_SEGV, S.P_OOM])
    for pid in np.flatnonzero(dead):
        lo, hi = st.proc_pte_lo[pid], st.proc_pte_hi[pid]
        if (st.pte_page[lo:hi] >= 0).any():
            _fail(f"process {int(pid)} is dead but still maps pages")
    anon = st.page_kind == S.KIND_ANON
    live_anon = anon & (st.page_owner >= 0)
    if (live_anon & (st.page_mapcount == 0)).any():
        g = int(np.argmax(live_anon & (st.page_mapcount == 0)))
        _fail(f"anonymous page {g} is allocated but no PTE maps it (leaked)")
    free_ids = st.anon_free[: int(st.sc[S.SC_ANON_TOP])]
    if (st.page_owner[free_ids] >= 0).any() or len(np.unique(free_ids)) != len(free_ids):
        _fail("the free anonymous-page list holds a live page")
    if len(free_ids) + int(live_anon.sum()) != int(anon.sum()):
        _fail("anonymous page ids are neither free nor live")


def _check_versions(st: S.SimState) -> None:
    """No data lost: the newest version of every live page is in RAM, swap or its file."""
    live = (st.page_kind != S.KIND_ANON) | (st.page_owner >= 0)
    ver, f, s = st.page_ver, st.page_frame, st.page_slot
    in_slot = (s >= 0) & (st.slot_ver[np.maximum(s, 0)] == ver) if st.slot_ver.size else np.zeros_like(s >= 0)
    backed = np.where(st.page_kind == S.KIND_FILE, st.page_filever == ver, in_slot | ((s < 0) & (ver == 0)))
    res = live & (f >= 0)
    stale = res & (st.frame_ver[np.maximum(f, 0)] != ver)
    if stale.any():
        g = int(np.argmax(stale))
        _fail(f"page {g}: RAM holds version {int(st.frame_ver[f[g]])}, latest is {int(ver[g])}")
    unbacked = res & ~st.page_dirty.astype(bool) & ~backed
    if unbacked.any():
        g = int(np.argmax(unbacked))
        _fail(f"page {g} is clean in RAM but no backing copy holds version {int(ver[g])}")
    lost = live & (f < 0) & ~backed
    if lost.any():
        g = int(np.argmax(lost))
        _fail(f"page {g} lost: version {int(ver[g])} is neither in RAM nor in swap/file")


def _check_tlb(st: S.SimState) -> None:
    valid = st.tlb_tag[st.tlb_tag >= 0]
    if valid.size and ((st.pte_flags[valid] & S.PTE_PRESENT) == 0).any():
        _fail("the TLB caches a translation whose PTE is not present (missed shootdown)")
    if len(np.unique(valid)) != len(valid):
        _fail("the TLB caches one PTE twice")


def _check_allocation(st: S.SimState) -> None:
    used = st.frame_page >= 0
    if (st.frame_owner[~used] != -1).any() or (st.frame_owner[used] < 0).any():
        _fail("a frame's owner disagrees with its use (free frames have none, used frames one)")
    charged = np.bincount(st.frame_owner[used], minlength=st.n_procs)
    if (charged != st.proc_frames).any():
        pid = int(np.argmax(charged != st.proc_frames))
        _fail(f"process {pid} is charged {int(st.proc_frames[pid])} frames but owns {int(charged[pid])}")
    if st.sc[S.SC_LOCAL] != -1 and st.sc[S.SC_POS] >= st.sc[S.SC_BASE] + st.ref_op.shape[0]:
        _fail("a victim restriction outlived the run")


def _check_prefetch(st: S.SimState) -> None:
    marked = np.flatnonzero(st.frame_pf != 0)
    if (st.frame_page[marked] < 0).any():
        _fail("a free frame is marked as holding an unreferenced prefetched page")
    present = np.flatnonzero((st.pte_flags & S.PTE_PRESENT) != 0)
    hit = np.isin(st.pte_page[present], st.frame_page[marked])
    if hit.any():
        p = int(present[np.argmax(hit)])
        f = int(st.page_frame[st.pte_page[p]])
        _fail(f"frame {f} is marked unreferenced-prefetched but PTE {p} maps it")
    sc = st.sc
    if sc[S.SC_PF_ISSUED] != sc[S.SC_PF_USED] + sc[S.SC_PF_WASTED] + len(marked):
        _fail(
            f"prefetch accounting: issued {int(sc[S.SC_PF_ISSUED])} != used {int(sc[S.SC_PF_USED])} + "
            f"wasted {int(sc[S.SC_PF_WASTED])} + resident unreferenced {len(marked)}"
        )
    waiting = sc[S.SC_PF_LEN] > sc[S.SC_PF_HEAD] or sc[S.SC_PF_ASK] != 0
    if bool(sc[S.SC_PF_WAIT]) != waiting:
        _fail("the prefetch wait flag disagrees with the queue and the pending decision")


def check_invariants(st: S.SimState) -> None:
    """Raise :class:`InvariantError` if any machine invariant is broken.

    Checks: frame ownership and the free list; swap-slot ownership and
    accounting; reverse maps, mapcounts, pins and present bits; RSS per process,
    dead processes hold nothing, no leaked anonymous page; page versions (no data
    lost, clean pages have a valid backing copy); no stale TLB entries; no
    hook call left undelivered to the policy; frames charged to processes
    (local allocation) match their owners; prefetch accounting (issued = used
    + wasted + resident unreferenced, which no present PTE maps).
    """
    if st.sc[S.SC_NOTES] != 0:
        _fail(f"{int(st.sc[S.SC_NOTES])} queued hook calls were not delivered to the policy")
    _check_frames(st)
    _check_slots(st)
    _check_rmap(st)
    _check_processes(st)
    _check_versions(st)
    _check_tlb(st)
    _check_allocation(st)
    _check_prefetch(st)
