"""NFU (Not Frequently Used): a software counter per frame, incremented by its R bit at each clock tick.

Source: Tanenbaum & Bos, *Modern Operating Systems*, 4th ed., 3.4.7. At every
clock interrupt the OS adds each page's R bit to its counter and clears the R
bit; on a page fault the page with the lowest counter is evicted.

The clock is the trace: a tick happens right after the access (hit or load)
whose global trace position ``i`` reaches the next multiple of ``period``
(so with a single process, after every ``period``-th trace entry). If several
multiples passed since the previous access (events in between), there is still
one tick. The tick covers every resident frame, the one just accessed included.
The helpers :func:`tick_due` and :func:`check_period` are shared with Aging and
NRU; the order list (:func:`list_insert`, :func:`list_resort`, :func:`on_remove`,
:func:`victim`) with Aging.

Victim search: the resident frames sit on one list in eviction order (counter,
then load position, then frame index), so the victim is the first evictable frame
on it. Counters change only at ticks: between two ticks a load enters with
counter 0 and the latest load position, right after the frames with counter 0
(O(1)), and a removal unlinks its frame (O(1)). A tick, already O(frames),
re-sorts the list in O(frames): the frames whose counter grew and those whose
did not each keep their relative order, so one merge of the two runs suffices.
A fault costs O(1) plus the unevictable frames skipped at the front (pinned
pages; under local allocation, the frames outside the restriction).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable, test_and_clear_referenced

KERNEL_ID = 13
# pol_f 0: counter, 1: prev / 2: next on the order list, 3: the tick's group of the frame (scratch)
# pol_g 0: next tick position, 1: period, 2: head (the victim end) / 3: tail of the order list,
#   4: last frame with counter 0 on the list (-1: none)


@njit(cache=True, inline="always", _nrt=False)
def tick_due(pol_g, r, i):
    """True if access ``i`` reached the next tick ``pol_g[r]`` (advanced by the period ``pol_g[r + 1]``)."""
    if i < pol_g[r]:
        return False
    period = pol_g[r + 1]
    pol_g[r] = (i // period + 1) * period
    return True


@njit(cache=True, _nrt=False)
def _before(key, frame_in, a, b):
    """True if frame ``a`` goes before ``b``: smaller key, then loaded earlier, then lower index."""
    if key[a] != key[b]:
        return key[a] < key[b]
    if frame_in[a] != frame_in[b]:
        return frame_in[a] < frame_in[b]
    return a < b


@njit(cache=True, _nrt=False)
def _merge(nxt, key, frame_in, a, b):
    """Merge the sorted ``nxt``-linked runs headed by ``a`` and ``b`` (-1: empty); return the head."""
    if a < 0:
        return b
    if b < 0:
        return a
    if _before(key, frame_in, a, b):
        head = a
        a = nxt[a]
    else:
        head = b
        b = nxt[b]
    t = head
    while a >= 0 and b >= 0:
        if _before(key, frame_in, a, b):
            nxt[t] = a
            t = a
            a = nxt[a]
        else:
            nxt[t] = b
            t = b
            b = nxt[b]
    nxt[t] = a if a >= 0 else b
    return head


@njit(cache=True, _nrt=False)
def list_insert(pol_f, pol_g, frame_in, f):
    """Put frame ``f`` (key 0, loaded last) on the order list after the other frames with key 0.

    Frames loaded at the same position (a prefetch batch, a copy-on-write copy)
    are ordered by index: those with a higher index stay behind ``f``.
    """
    prv = pol_f[1]
    nxt = pol_f[2]
    last = pol_g[4]
    z = last
    at = frame_in[f]
    while z >= 0 and frame_in[z] == at and z > f:
        z = prv[z]
    n = nxt[z] if z >= 0 else pol_g[2]
    prv[f] = z
    nxt[f] = n
    if z >= 0:
        nxt[z] = f
    else:
        pol_g[2] = f
    if n >= 0:
        prv[n] = f
    else:
        pol_g[3] = f
    if z == last:
        pol_g[4] = f


@njit(cache=True, _nrt=False)
def list_resort(pol_f, pol_g, frame_in):
    """Restore the list order after a tick changed the keys (``pol_f`` row 0).

    Row 3 gives each listed frame a group 0-3 such that the list, read in its
    old order, is still sorted by the new keys within each group: the groups are
    split off in one pass and merged back.
    """
    key = pol_f[0]
    prv = pol_f[1]
    nxt = pol_f[2]
    grp = pol_f[3]
    h0 = h1 = h2 = h3 = -1
    t0 = t1 = t2 = t3 = -1
    f = pol_g[2]
    while f >= 0:
        n = nxt[f]
        c = grp[f]
        if c == 0:
            if t0 >= 0:
                nxt[t0] = f
            else:
                h0 = f
            t0 = f
        elif c == 1:
            if t1 >= 0:
                nxt[t1] = f
            else:
                h1 = f
            t1 = f
        elif c == 2:
            if t2 >= 0:
                nxt[t2] = f
            else:
                h2 = f
            t2 = f
        else:
            if t3 >= 0:
                nxt[t3] = f
            else:
                h3 = f
            t3 = f
        f = n
    for t in (t0, t1, t2, t3):
        if t >= 0:
            nxt[t] = -1
    f = _merge(nxt, key, frame_in, _merge(nxt, key, frame_in, h0, h1), _merge(nxt, key, frame_in, h2, h3))
    pol_g[2] = f
    p = -1
    z = -1
    while f >= 0:
        prv[f] = p
        if key[f] == 0:
            z = f
        p = f
        f = nxt[f]
    pol_g[3] = p
    pol_g[4] = z


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _tick(st):
    cnt = st.pol_f[0]
    grp = st.pol_f[3]
    for f in range(st.frame_page.shape[0]):
        if st.frame_page[f] >= 0:
            if test_and_clear_referenced(st, f):
                cnt[f] += 1
                grp[f] = 1
            else:
                grp[f] = 0
    list_resort(st.pol_f, st.pol_g, st.frame_in)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Access ``i`` completed: tick if due."""
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f`` (counter 0, R bit set by the faulting access); tick if due."""
    st.pol_f[0, f] = 0
    list_insert(st.pol_f, st.pol_g, st.frame_in, f)
    if tick_due(st.pol_g, 0, i):
        _tick(st)


@njit(cache=True, _nrt=False)
def list_remove(pol_f, pol_g, f):
    """Unlink frame ``f`` from the order list."""
    prv = pol_f[1]
    nxt = pol_f[2]
    p = prv[f]
    n = nxt[f]
    if p >= 0:
        nxt[p] = n
    else:
        pol_g[2] = n
    if n >= 0:
        prv[n] = p
    else:
        pol_g[3] = p
    if pol_g[4] == f:
        pol_g[4] = p


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves the order list."""
    list_remove(st.pol_f, st.pol_g, f)


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The evictable frame with the smallest counter (ties: loaded earliest, then lowest index), or -1.

    The first evictable frame on the order list.
    """
    nxt = st.pol_f[2]
    f = st.pol_g[2]
    while f >= 0:
        if evictable(st, f):
            return f
        f = nxt[f]
    return -1


def check_period(policy: str, period) -> None:
    """Raise PolicyError unless ``period`` is an int >= 1."""
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise PolicyError(f"policy {policy!r}: period must be an integer >= 1, got {period!r}")


def init_order(pol_f, pol_g, period: int) -> None:
    """Counters 0, the order list empty, first tick at position ``period`` (NFU and Aging)."""
    pol_f[:] = 0
    pol_f[1:3] = -1
    pol_g[0] = period
    pol_g[1] = period
    pol_g[2:5] = -1


@register
class NFU(Policy):
    """Not Frequently Used (Tanenbaum & Bos, MOS 4e 3.4.7): evict the smallest R-bit counter."""

    name = "nfu"
    aliases = ("not-frequently-used",)
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = "Tanenbaum & Bos, Modern Operating Systems 4e, 3.4.7"
    conventions = (
        "The R bit is the MMU accessed bit (every PTE mapping the page); a new page keeps the bit its "
        "faulting access set and starts with counter 0. A clock tick (add R to each resident frame's "
        "counter, clear R) happens right after the access whose global trace position reaches the next "
        "multiple of `period` (one tick at most per access). The victim has the smallest counter; ties "
        "go to the page loaded earliest, then to the lowest frame index. Counters are not aged "
        "(that is `aging`)."
    )
    frame_rows = 4
    global_rows = 5
    params = {"period": 1000}

    def validate(self):
        """``period`` must be an int >= 1."""
        check_period(self.name, self.values["period"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Counters 0, the order list empty, first tick at position ``period``."""
        init_order(pol_f, pol_g, self.values["period"])
