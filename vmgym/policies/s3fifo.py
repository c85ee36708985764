"""S3-FIFO: three static FIFO queues.

Source: Yang, Zhang, Qiu, Yue & Vinayak, "FIFO queues are all you need for cache
eviction", SOSP 2023, Algorithm 1. A small FIFO S (10% of the cache) filters new
pages, a main FIFO M holds the rest, a ghost FIFO G remembers the ids of pages
evicted from S. Every resident page has a 2-bit frequency: 0 at insertion, +1 per
hit, capped at 3. Insertion goes to M if the page is in G, else to S. EVICT takes
from S while |S| >= 10% of the cache, else from M. evictS: the tail of S moves to
M if its frequency exceeds 1, else it is evicted and its id enters G; repeat until
one is evicted. evictM: the tail of M is reinserted at the head with its frequency
decremented while that frequency is positive; the first with 0 is evicted.

Algorithm 1 can free two slots on one miss (evictS promotes a page into a full M
and calls evictM, then goes on until it also evicts from S). A fault here frees
exactly one frame, so, as in the authors' libCacheSim implementation used for the
paper's results, a promotion may leave M one page over its share and the next
eviction trims it: with a full cache, M over its share means |S| below S's share,
so EVICT's own test takes the next victim from M.

Beside the authors' code (libCacheSim 0.3.5, checked on the same page streams):
its ``S3FIFOv0`` (the implementation behind the paper's results) inserts every new
page into S while the cache first fills, as Algorithm 1 and this module do; its
``S3FIFO`` (the default since 2024) sends new pages to M once S is full before the
first eviction. On a cyclic loop of 1,200 pages over 1,000 frames (600k references)
that alone gives 277,460 misses there against 177,140 here and in ``S3FIFOv0``.
Both look G up before evicting for the new page, where Algorithm 1's INSERT (and
this module) evicts first: a page whose id is G's oldest is pushed out of G by
that eviction and enters S here, M there. On the registry's Zipf(0.9) trace (1M
references, 1,000 frames) this gives 365,501 misses here, 365,535 in ``S3FIFOv0``
(365,382 in ``S3FIFO``); phases (500 frames) and scan-hot (1,200) agree exactly
with ``S3FIFOv0`` (3,614 and 45,076; ``S3FIFO``: 3,697 and 45,020). libCacheSim
also rounds S's size and G's capacity down (``int(0.1 * c)``, ``int(0.9 * c)``);
the same as here when ``small_ratio * frames`` is an integer.
"""

from __future__ import annotations

import math

from numba import njit

from vmgym.policies._adaptive import ratio_count
from vmgym.policies._structs import (
    dll_init,
    dll_move_front,
    dll_push_front,
    dll_remove,
    leave_tagged,
    push_ghost,
)
from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable

KERNEL_ID = 23
# pol_f rows 0/1: prev/next in S or M (frames; head = newest); row 2: IN_S/IN_M (0: none); row 3: freq
# pol_p rows 0/1: prev/next in G (page ids; head = newest); row 2: 1 if in G
# pol_g: 0/1 S head/tail, 2/3 M, 4/5 G, 6 |S|, 7 |M|, 8 |G|, 9 S share (ceil(small_ratio * frames)),
#        10 G capacity (frames - S share), 11 move-to-main threshold
S_, M_, G_ = 0, 2, 4
N_S, N_M, N_G = 6, 7, 8
S_SHARE, G_CAP, THRESHOLD = 9, 10, 11
IN_S, IN_M = 1, 2
FREQ_MAX = 3


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Cache hit: frequency + 1, capped at 3."""
    if pol_f[3, f] < FREQ_MAX:
        pol_f[3, f] += 1


@njit(cache=True, inline="always", _nrt=False)
def _evict_s(st):
    """evictS: promote tail pages with freq >= threshold to M; the first other evictable one is the victim.

    An unevictable page that is not promoted stays where it is and the scan goes on
    to the next older one; -1 if S runs out.
    """
    f = st.pol_g[S_ + 1]
    while f >= 0:
        nxt = st.pol_f[0, f]
        if st.pol_f[3, f] >= st.pol_g[THRESHOLD]:
            dll_remove(st.pol_f, st.pol_g, 0, S_, f)
            st.pol_g[N_S] -= 1
            dll_push_front(st.pol_f, st.pol_g, 0, M_, f)
            st.pol_g[N_M] += 1
            st.pol_f[2, f] = IN_M
            st.pol_f[3, f] = 0
        elif evictable(st, f):
            return f
        f = nxt
    return -1


@njit(cache=True, inline="always", _nrt=False)
def _evict_m(st):
    """evictM: FIFO-reinsertion with the 2-bit counter; the first evictable tail page with freq 0.

    Unevictable pages are passed (moved to the head, counter unchanged); -1 once a
    whole round of M has been passed that way.
    """
    run = 0
    while run < st.pol_g[N_M]:
        f = st.pol_g[M_ + 1]
        if not evictable(st, f):
            dll_move_front(st.pol_f, st.pol_g, 0, M_, f)
            run += 1
            continue
        run = 0
        if st.pol_f[3, f] > 0:
            st.pol_f[3, f] -= 1
            dll_move_front(st.pol_f, st.pol_g, 0, M_, f)
            continue
        return f
    return -1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """EVICT: from S while |S| >= its share, else from M; the other queue if that one has no victim."""
    if st.pol_g[N_S] >= st.pol_g[S_SHARE]:
        f = _evict_s(st)
        if f < 0:
            f = _evict_m(st)
        return f
    f = _evict_m(st)
    if f < 0:
        f = _evict_s(st)
    return f


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` leaves S or M; a page evicted from S enters G (dropping G's oldest when full)."""
    q = leave_tagged(st, f, IN_S, S_, N_S, IN_M, M_, N_M)
    if q == 0:
        return
    st.pol_f[3, f] = 0
    if evicted and q == IN_S:
        push_ghost(st, st.frame_page[f], G_, N_G, 1)
        if st.pol_g[N_G] > st.pol_g[G_CAP]:
            z = st.pol_g[G_ + 1]
            dll_remove(st.pol_p, st.pol_g, 0, G_, z)
            st.pol_g[N_G] -= 1
            st.pol_p[2, z] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` (now in frame ``f``), freq 0: to the head of M if its id is in G (leaving G), else S."""
    if st.pol_p[2, g]:
        dll_remove(st.pol_p, st.pol_g, 0, G_, g)
        st.pol_g[N_G] -= 1
        st.pol_p[2, g] = 0
        dll_push_front(st.pol_f, st.pol_g, 0, M_, f)
        st.pol_g[N_M] += 1
        st.pol_f[2, f] = IN_M
    else:
        dll_push_front(st.pol_f, st.pol_g, 0, S_, f)
        st.pol_g[N_S] += 1
        st.pol_f[2, f] = IN_S
    st.pol_f[3, f] = 0


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` no longer exists: drop it from G."""
    if st.pol_p[2, g]:
        dll_remove(st.pol_p, st.pol_g, 0, G_, g)
        st.pol_g[N_G] -= 1
        st.pol_p[2, g] = 0


@register
class S3FIFO(Policy):
    """S3-FIFO (Yang et al., SOSP 2023): a small FIFO filter, a main FIFO with reinsertion, a ghost FIFO."""

    name = "s3fifo"
    aliases = ("s3-fifo",)
    kernel_id = KERNEL_ID
    flow_family = "adaptive"
    source = (
        "Yang, Zhang, Qiu, Yue & Vinayak, FIFO queues are all you need for cache eviction, SOSP 2023, "
        "Algorithm 1"
    )
    conventions = (
        "Cache size = frames. S's share is small_ratio * frames (exact fraction): EVICT takes from S while "
        "|S| >= that share. G holds as many ids as M's share, frames - ceil(small_ratio * frames); a page "
        "that stops existing (exit, munmap) leaves G. A page moves from S to M when its frequency is >= "
        "move_to_main_threshold (2 = Algorithm 1's 'freq > 1' and the authors' libCacheSim default; some "
        "descriptions use 1), and its frequency is cleared by the move (as in the authors' implementation). "
        "A page re-fetched while its id is in G goes to M with frequency 0 and leaves G; whether it is in G "
        "is decided after the eviction that made room for it, as in Algorithm 1 (libCacheSim decides it "
        "before). Until the first eviction every new page not in G enters S, even past S's share, as in "
        "Algorithm 1 and libCacheSim's S3FIFOv0 (its newer S3FIFO sends them to M once S is full: see the "
        "module docstring for the counts). One eviction per fault: "
        "Algorithm 1's evictM inside evictS (M full after a promotion) is deferred to the next eviction, "
        "as in libCacheSim (see the module docstring). A hit is any reference to a resident page, including "
        "a minor fault that only maps it. Unevictable frames (pinned, copy-on-write source, swap full): in "
        "S they stay in place while the scan continues (still promoted if frequent enough); in M they are "
        "passed like a clock passes a locked page (moved to the head, counter unchanged); if the chosen "
        "queue has no victim the other is tried. A frame freed without eviction leaves its queue and is not "
        "remembered in G."
    )
    frame_rows = 4
    page_rows = 3
    global_rows = 12
    params = {"small_ratio": 0.1, "move_to_main_threshold": 2}

    def validate(self):
        """``small_ratio`` in [0, 1]; ``move_to_main_threshold`` an int in 1..3."""
        r = self.values["small_ratio"]
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or not 0 <= r <= 1:
            raise PolicyError(f"policy 's3fifo': small_ratio must be a number in [0, 1], got {r!r}")
        t = self.values["move_to_main_threshold"]
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= FREQ_MAX:
            raise PolicyError(f"policy 's3fifo': move_to_main_threshold must be 1, 2 or 3, got {t!r}")

    def init_state(self, pol_f, pol_p, pol_g):
        """Empty queues; S's share and G's capacity from the number of frames."""
        frames = pol_f.shape[1]
        dll_init(pol_f, pol_g, 0, S_)
        dll_init(pol_f, pol_g, 0, M_)
        dll_init(pol_p, pol_g, 0, G_)
        pol_f[2:, :] = 0
        pol_p[2, :] = 0
        pol_g[N_S : N_G + 1] = 0
        share = ratio_count(self.values["small_ratio"], frames, ceil=True)
        pol_g[S_SHARE] = share
        pol_g[G_CAP] = frames - share
        pol_g[THRESHOLD] = self.values["move_to_main_threshold"]
