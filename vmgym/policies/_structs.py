"""Compiled data structures for policy state: intrusive doubly linked lists and an indexed heap.

Lists live in two rows of a 2-D int64 array (``prev`` at row ``r``, ``next`` at row
``r + 1``) and two entries of a 1-D array (``head`` at ``h``, ``tail`` at ``h + 1``),
so one implementation serves lists of frames (``pol_f``) and of pages (``pol_p``,
e.g. ARC's ghost lists). ``-1`` is the null link. The head is the most recently
inserted end.
"""

from __future__ import annotations

from numba import njit

from vmgym.sim.frames import evictable
from vmgym.sim.hints import nonneg


@njit(cache=True, _nrt=False)
def dll_init(rows, heads, r, h):
    """Empty list: every link null."""
    rows[r, :] = -1
    rows[r + 1, :] = -1
    heads[h] = -1
    heads[h + 1] = -1


@njit(cache=True, _nrt=False)
def dll_push_front(rows, heads, r, h, x):
    """Insert ``x`` at the head."""
    x = nonneg(x)  # a list member's id
    head = heads[h]
    rows[r, x] = -1
    rows[r + 1, x] = head
    if head >= 0:
        rows[r, head] = x
    else:
        heads[h + 1] = x
    heads[h] = x


@njit(cache=True, _nrt=False)
def dll_remove(rows, heads, r, h, x):
    """Unlink ``x`` (which must be on the list)."""
    x = nonneg(x)  # a list member's id
    prv = rows[r, x]
    nxt = rows[r + 1, x]
    if prv >= 0:
        rows[r + 1, prv] = nxt
    else:
        heads[h] = nxt
    if nxt >= 0:
        rows[r, nxt] = prv
    else:
        heads[h + 1] = prv
    rows[r, x] = -1
    rows[r + 1, x] = -1


@njit(cache=True, _nrt=False)
def dll_move_front(rows, heads, r, h, x):
    """Move ``x`` (on the list) to the head."""
    x = nonneg(x)  # a list member's id
    if heads[h] != x:
        dll_remove(rows, heads, r, h, x)
        dll_push_front(rows, heads, r, h, x)


@njit(cache=True, inline="always", _nrt=False)
def leave_tagged(st, f, tag_a, head_a, count_a, tag_b, head_b, count_b):
    """Unlink frame ``f`` from the frame list its tag ``st.pol_f[2, f]`` names and clear the tag.

    Two lists share ``st.pol_f`` rows 0/1: list ``tag_a`` has head/tail at
    ``st.pol_g[head_a]`` and its length at ``st.pol_g[count_a]`` (-1: not counted),
    likewise ``tag_b``. Returns the tag the frame had (0: on neither list, nothing done).
    Shared by ARC (T1/T2), 2Q (A1in/Am) and S3-FIFO (S/M).
    """
    tag = st.pol_f[2, f]
    if tag == tag_a:
        head, count = head_a, count_a
    elif tag == tag_b:
        head, count = head_b, count_b
    else:
        return 0
    dll_remove(st.pol_f, st.pol_g, 0, head, f)
    if count >= 0:
        st.pol_g[count] -= 1
    st.pol_f[2, f] = 0
    return tag


@njit(cache=True, inline="always", _nrt=False)
def push_ghost(st, g, head, count, tag):
    """Page ``g`` (just evicted) becomes the newest of ghost list ``head`` (``st.pol_p`` rows 0/1), tagged.

    The list's length is ``st.pol_g[count]``; ``st.pol_p[2, g]`` is set to ``tag``.
    Shared by ARC (B1/B2), 2Q (A1out) and S3-FIFO (G).
    """
    dll_push_front(st.pol_p, st.pol_g, 0, head, g)
    st.pol_g[count] += 1
    st.pol_p[2, g] = tag


# Indexed binary max-heap over frames: heap[k] = frame, pos[f] = index or -1, key[f].


@njit(cache=True, inline="always", _nrt=False)
def oldest_evictable(st, h):
    """The evictable frame nearest the tail (oldest end) of frame list ``h``, or -1.

    The list is ``st.pol_f`` rows 0/1 with head/tail in ``st.pol_g[h]``/``[h + 1]``
    (FIFO's victim; 2Q's and the Linux lists' scans).
    """
    f = st.pol_g[h + 1]
    while f >= 0:
        if evictable(st, f):
            return f
        f = st.pol_f[0, f]
    return -1


# Indexed binary max-heaps of item ids (frames or pages). ``heap[k]`` is the item at
# position k and ``key[k]`` its key: keys live with the heap order, so a sift reads
# only the two heap rows (dense near the top), never a cold per-item record;
# ``pos[item]`` is the item's position (-1: not in the heap). ``size[idx]`` is the
# number of items.


@njit(cache=True, inline="always", _nrt=False)
def _place(heap, key, pos, k, item, value):
    heap[k] = item
    key[k] = value
    pos[item] = k


@njit(cache=True, _nrt=False)
def _sift_up(heap, key, pos, k, item, value):
    """Move the hole at ``k`` up to where ``item`` with ``value`` belongs, and put it there."""
    while k > 0:
        parent = (k - 1) >> 1
        if key[parent] >= value:
            break
        _place(heap, key, pos, k, heap[parent], key[parent])
        k = parent
    _place(heap, key, pos, k, item, value)


@njit(cache=True, _nrt=False)
def _sift_down(heap, key, pos, k, n, item, value):
    """Move the hole at ``k`` down (heap of ``n``) to where ``item`` with ``value`` belongs; put it there."""
    while True:
        best = 2 * k + 1
        if best >= n:
            break
        if best + 1 < n and key[best + 1] > key[best]:
            best += 1
        if value >= key[best]:
            break
        _place(heap, key, pos, k, heap[best], key[best])
        k = best
    _place(heap, key, pos, k, item, value)


@njit(cache=True, inline="always", _nrt=False)
def heap_set(heap, key, pos, size, idx, item, value):
    """Insert ``item`` with ``value``, or change its key."""
    k = pos[item]
    if k < 0:
        n = size[idx]
        size[idx] = n + 1
        _sift_up(heap, key, pos, n, item, value)
    elif value > key[k]:
        _sift_up(heap, key, pos, k, item, value)
    elif value < key[k]:
        _sift_down(heap, key, pos, k, size[idx], item, value)


@njit(cache=True, inline="always", _nrt=False)
def heap_remove(heap, key, pos, size, idx, item):
    """Remove ``item`` if present."""
    k = pos[item]
    if k < 0:
        return
    n = size[idx] - 1
    size[idx] = n
    pos[item] = -1
    if k == n:
        return
    last = heap[n]
    value = key[n]
    if k > 0 and value > key[(k - 1) >> 1]:
        _sift_up(heap, key, pos, k, last, value)
    else:
        _sift_down(heap, key, pos, k, n, last, value)


@njit(cache=True, inline="always", _nrt=False)
def largest_key_evictable(st):
    """The evictable frame with the largest key in the frame heap ``st.pol_f`` rows 0-2 (size ``pol_g[0]``).

    The heap top if it is evictable, else a scan of all frames (ties: the
    lowest frame), or -1. OPT's and LRU-K's victim.
    """
    if st.pol_g[0] > 0:
        f = st.pol_f[0, 0]
        if evictable(st, f):
            return f
    best = -1
    best_key = 0
    for f in range(st.frame_page.shape[0]):
        k = st.pol_f[1, f]
        if k >= 0 and evictable(st, f) and (best < 0 or st.pol_f[2, k] > best_key):
            best = f
            best_key = st.pol_f[2, k]
    return best
