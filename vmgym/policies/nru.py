"""NRU (Not Recently Used): evict from the lowest nonempty (R, M) class, at random within it.

Source: Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.2. Pages fall
into four classes: 0 not referenced, not modified; 1 not referenced, modified;
2 referenced, not modified; 3 referenced, modified (class = 2R + M). R bits are
cleared periodically (on each clock interrupt); M bits are not. NRU "removes a
page at random from the lowest-numbered nonempty class".

The clock is NFU's (:mod:`vmgym.policies.nfu`): a tick (clear every R bit)
right after the access whose global trace position reaches the next multiple of
``period``. The random choice uses Random's splitmix64 (:mod:`randompolicy`).

Victim search: each resident frame's class is kept up to date, with a Fenwick
tree per class over the frame indices, so a fault counts the lowest class and
picks its ``r``-th frame in frame order in O(log frames) (the same choice as a
scan). The hooks see every change of a class: R and M are set by an access
(``on_hit``; the write of a faulting access lands after ``on_insert``, so the
frame loaded last is re-read at the next fault), R is cleared by the tick (which
rebuilds the trees in O(frames), as it touches every frame anyway) or by an
unmap (``on_meta``). Pinned frames are kept out of the trees; pins change
without a hook only at mlock/munlock events, so a fault after one re-reads every
frame. While the swap device is full (whether a frame is evictable then depends
on its swap copy) and under local allocation (only some processes' frames, or
the caller's subset, are candidates: ``SC_LOCAL``), the victim is found by the
O(frames) scan instead.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, register
from vmgym.policies.nfu import check_period, tick_due
from vmgym.policies.randompolicy import below, check_seed, seed_state
from vmgym.sim import state as S
from vmgym.sim.frames import evictable, referenced, test_and_clear_referenced

KERNEL_ID = 15
# pol_f 0: class of the frame (2R + M; PINNED: pinned; ABSENT: not resident or not yet inserted)
#   1-4: Fenwick trees of classes 0-3 over frame indices (node k = 1..n at index k - 1)
# pol_g 0: next tick position, 1: period, 2: splitmix64 state, 3-6: sizes of classes 0-3,
#   7: frame loaded last (-1: none), 8: next trace position of an mlock/munlock at or after the
#   last fault (-1: not looked for yet)
PINNED = 4
ABSENT = 5
LAST = 7
NEXT_LOCK = 8


@njit(cache=True, _nrt=False)
def _fw_add(tree, f, d):
    k = f + 1
    n = tree.shape[0]
    while k <= n:
        tree[k - 1] += d
        k += k & -k


@njit(cache=True, _nrt=False)
def _fw_below(tree, f):
    """Members with an index below ``f``."""
    s = 0
    k = f
    while k > 0:
        s += tree[k - 1]
        k &= k - 1
    return s


@njit(cache=True, _nrt=False)
def _fw_select(tree, r):
    """The member with ``r`` members below it (``r`` < the tree's size)."""
    n = tree.shape[0]
    step = 1
    while step * 2 <= n:
        step *= 2
    pos = 0
    while step > 0:
        k = pos + step
        if k <= n and tree[k - 1] <= r:
            pos = k
            r -= tree[k - 1]
        step >>= 1
    return pos


@njit(cache=True, _nrt=False)
def _fw_build(tree, cls, c):
    """Tree of the frames whose class is ``c``, in O(frames)."""
    n = tree.shape[0]
    for f in range(n):
        tree[f] = 1 if cls[f] == c else 0
    for k in range(1, n + 1):
        p = k + (k & -k)
        if p <= n:
            tree[p - 1] += tree[k - 1]


@njit(cache=True, _nrt=False)
def _move(pol_f, pol_g, f, c):
    """Frame ``f`` changes to class ``c`` (0-3, PINNED or ABSENT)."""
    old = pol_f[0, f]
    if old == c:
        return
    if old < PINNED:
        _fw_add(pol_f[1 + old], f, -1)
        pol_g[3 + old] -= 1
    if c < PINNED:
        _fw_add(pol_f[1 + c], f, 1)
        pol_g[3 + c] += 1
    pol_f[0, f] = c


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _class(st, f):
    """2R + M of frame ``f``; M is ``frames.page_dirty`` read in place (that helper is not inlined)."""
    c = 0
    if referenced(st, f):
        c = 2
    if st.page_dirty[st.frame_page[f]] != 0:
        c += 1
    return c


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _reread(st, f):
    """Bring the class of resident frame ``f`` up to date (PINNED if pinned)."""
    c = PINNED if st.page_pins[st.frame_page[f]] > 0 else _class(st, f)
    _move(st.pol_f, st.pol_g, f, c)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _refresh(st, f):
    """:func:`_reread` if ``f`` >= 0 is on the trees (or pinned)."""
    if f >= 0 and st.pol_f[0, f] != ABSENT:
        _reread(st, f)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _tick(st):
    """Clear every R bit; every class becomes M (or PINNED): rebuild the trees."""
    cls = st.pol_f[0]
    c0 = 0
    c1 = 0
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0:
            test_and_clear_referenced(st, f)
            if cls[f] != ABSENT:
                g = st.frame_page[f]
                if st.page_pins[g] > 0:
                    cls[f] = PINNED
                elif st.page_dirty[g] != 0:
                    cls[f] = 1
                    c1 += 1
                else:
                    cls[f] = 0
                    c0 += 1
    _fw_build(st.pol_f[1], cls, 0)
    _fw_build(st.pol_f[2], cls, 1)
    st.pol_f[3, :] = 0
    st.pol_f[4, :] = 0
    st.pol_g[3] = c0
    st.pol_g[4] = c1
    st.pol_g[5] = 0
    st.pol_g[6] = 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _resync(st, pos):
    """Re-read every frame (pins may have changed) and find the next mlock/munlock from ``pos``."""
    cls = st.pol_f[0]
    for f in range(st.frame_page.shape[0]):
        if cls[f] != ABSENT:
            _reread(st, f)
    ops = st.ref_op
    base = st.sc[S.SC_BASE]
    j = pos - base
    while j < ops.shape[0] and ops[j] != S.E_MLOCK and ops[j] != S.E_MUNLOCK:
        j += 1
    if j < ops.shape[0]:
        st.pol_g[NEXT_LOCK] = base + j
    elif st.cfg[S.CF_MLOCK]:  # a later chunk may hold one: resync at the first victim past this chunk
        st.pol_g[NEXT_LOCK] = base + ops.shape[0] - 1
    else:  # no mlock in the whole trace: pins never change
        st.pol_g[NEXT_LOCK] = S.INF


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _scan_count(st):
    """(lowest class among the evictable frames, its size) by a scan; (-1, 0) if none."""
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for f in range(st.frame_page.shape[0]):
        if evictable(st, f):
            c = _class(st, f)
            if c == 0:
                c0 += 1
            elif c == 1:
                c1 += 1
            elif c == 2:
                c2 += 1
            else:
                c3 += 1
    if c0:
        return 0, c0
    if c1:
        return 1, c1
    if c2:
        return 2, c2
    if c3:
        return 3, c3
    return -1, 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _scan_pick(st, low, r):
    """The evictable frame of class ``low`` with ``r`` of them below it, by a scan."""
    for f in range(st.frame_page.shape[0]):
        if evictable(st, f) and _class(st, f) == low:
            if r == 0:
                return f
            r -= 1
    return -1


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Frame ``f`` joins its class (re-read the previous load: its access has completed); tick if due."""
    pol_g = st.pol_g
    _refresh(st, pol_g[LAST])
    pol_g[LAST] = f
    _reread(st, f)
    if tick_due(pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """R is set (M too if a write): move ``f`` up to class 2 or 3 unless there or pinned; tick if due."""
    c = 3 if st.page_dirty[g] != 0 else 2
    if pol_f[0, f] < c:
        _move(pol_f, pol_g, f, c)
    if tick_due(pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves its class."""
    _move(st.pol_f, st.pol_g, f, ABSENT)


@njit(cache=True, inline="always", _nrt=False)
def on_meta(st, f):
    """A mapping of ``f``'s page came or went (R may have changed with it, pins too): re-read it."""
    _refresh(st, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """A random evictable frame of the lowest nonempty class, or -1.

    One draw ``r`` among the evictable frames of the lowest nonempty class, which
    are counted and ranked in frame order by the class's tree; the frame being
    copied on write is the only unevictable one there, and is skipped. While the
    swap device is full or under local allocation, two scans do the same.
    """
    pol_f = st.pol_f
    pol_g = st.pol_g
    _refresh(st, pol_g[LAST])
    pos = st.sc[S.SC_POS]
    if pos > pol_g[NEXT_LOCK]:
        _resync(st, pos)
    scan = st.sc[S.SC_SLOT_TOP] == 0 or st.sc[S.SC_LOCAL] != -1
    p = st.sc[S.SC_PROTECT]
    pc = pol_f[0, p] if p >= 0 else -1
    if scan:
        low, m = _scan_count(st)
    else:
        low = -1
        m = 0
        for c in range(4):
            m = pol_g[3 + c] - (1 if c == pc else 0)
            if m > 0:
                low = c
                break
    if low < 0:
        return -1
    r = below(pol_g, 2, m)
    if scan:
        return _scan_pick(st, low, r)
    tree = pol_f[1 + low]
    if pc == low and r >= _fw_below(tree, p):
        r += 1
    return _fw_select(tree, r)


@register
class NRU(Policy):
    """Not Recently Used (Tanenbaum & Bos, MOS 4e 3.4.2): a random page of the lowest (R, M) class."""

    name = "nru"
    reads_dirty_bit = True
    aliases = ("not-recently-used",)
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = "Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.2"
    conventions = (
        "R is the MMU accessed bit (every PTE mapping the page; a new page keeps the bit its faulting "
        "access set), M is the page's dirty state (written since last cleaned). Class = 2R + M. A clock "
        "tick clears every R bit right after the access whose global trace position reaches the next "
        "multiple of `period` (one tick at most per access); M is never cleared by the policy. The victim "
        "is drawn uniformly (splitmix64 seeded with `seed`, one draw per eviction: output mod class size) "
        "among the evictable frames of the lowest nonempty class, in frame order."
    )
    frame_rows = 5
    global_rows = 9
    params = {"period": 1000, "seed": 0}

    def validate(self):
        """``period`` must be an int >= 1, ``seed`` an int in [0, 2**64)."""
        check_period(self.name, self.values["period"])
        check_seed(self.name, self.values["seed"])

    def init_state(self, pol_f, pol_p, pol_g):
        """No frame resident (trees empty); first tick at position ``period``; seed the generator."""
        pol_f[0] = ABSENT
        pol_f[1:] = 0
        pol_g[:] = 0
        pol_g[0] = self.values["period"]
        pol_g[1] = self.values["period"]
        pol_g[2] = seed_state(int(self.values["seed"]))
        pol_g[LAST] = -1
        pol_g[NEXT_LOCK] = -1
