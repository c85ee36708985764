"""LRU-K replacement: evict the page whose K-th most recent reference is oldest.

Source: O'Neil, O'Neil & Weikum, "The LRU-K page replacement algorithm for
database disk buffering", SIGMOD 1993. The backward K-distance of a page is the
time since its K-th most recent reference (infinite with fewer than K
references); the victim has the largest. Pages with an infinite distance are
evicted first, least recently used (by their last reference) first, the
subsidiary policy the paper suggests.

Choices the paper leaves open (it is a database buffer algorithm):

- Correlated Reference Period: 0. Every reference is a new, uncorrelated one:
  HIST is shifted on every access (hit or fault), and every resident page is a
  candidate.
- Retained Information Period: unbounded. The history of a page survives its
  eviction for as long as the page exists (page ids are dense, so it lives in
  ``pol_p``); it is forgotten when the page is freed (process exit, munmap).

K = 1 is exactly LRU.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies._structs import heap_remove, heap_set, largest_key_evictable
from vmgym.policies.base import Policy, PolicyError, register

KERNEL_ID = 11
# pol_p rows 0..K-1: HIST(g, 1..K), the trace positions of the page's K most recent references,
#   most recent first (-1: none).
# pol_f 0: heap (frames), 1: a frame's position in the heap, 2: the key at each heap position = eviction
#   priority (largest evicted first).
# pol_g 0: heap size, 1: K.
_INF_BASE = 1 << 61  # key of a page with fewer than K references: _INF_BASE - HIST(g, 1)


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Reference ``i`` touched page ``g`` (resident in frame ``f``): shift its history, update its key."""
    hist = st.pol_p
    k = st.pol_g[1]
    for r in range(k - 1, 0, -1):
        hist[r, g] = hist[r - 1, g]
    hist[0, g] = i
    kth = hist[k - 1, g]
    key = -kth if kth >= 0 else _INF_BASE - i
    heap_set(st.pol_f[0], st.pol_f[2], st.pol_f[1], st.pol_g, 0, f, key)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """A hit updates the history like a load."""
    on_insert(st, f, g, i)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` was emptied; its page's history stays."""
    heap_remove(st.pol_f[0], st.pol_f[2], st.pol_f[1], st.pol_g, 0, f)


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: forget its history."""
    for r in range(st.pol_g[1]):
        st.pol_p[r, g] = -1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The evictable frame with the largest backward K-distance (heap top, else a scan)."""
    return largest_key_evictable(st)


@register
class LRUK(Policy):
    """LRU-K (O'Neil, O'Neil & Weikum, SIGMOD 1993): evict the oldest K-th most recent reference."""

    name = "lru-k"
    aliases = ("lru2", "lruk")
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = (
        "O'Neil, O'Neil & Weikum, The LRU-K page replacement algorithm for database disk buffering, "
        "SIGMOD 1993"
    )
    conventions = (
        "Time is the global trace position; every access (hit, minor or major fault) is a reference. "
        "Correlated Reference Period = 0 (no references are treated as correlated). Retained Information "
        "Period = unbounded: the history of an evicted page is kept until the page is freed (exit, munmap). "
        "Pages with fewer than K references (infinite backward K-distance) are evicted first, least "
        "recently referenced first; otherwise the page whose K-th most recent reference is oldest. "
        "Unevictable frames are skipped (next best by the same order). K=1 is LRU."
    )
    frame_rows = 3
    page_rows_hold_positions = True
    global_rows = 2
    params = {"k": 2}

    def validate(self):
        """``k`` must be an int >= 1; the page history has ``k`` rows."""
        k = self.values["k"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 64:
            raise PolicyError(f"policy 'lru-k': k must be an integer in [1, 64], got {k!r}")
        self.page_rows = k

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty heap, no history."""
        pol_f[:] = -1
        pol_p[:] = -1
        pol_g[0] = 0
        pol_g[1] = self.values["k"]
