"""WSClock, Working Set, PFF, Linux active/inactive lists and MGLRU against tiny pure-Python references.

Setting (as in ``test_reference.py``): one process, private anonymous pages
(``Workload.from_pages``), no TLB. The trace has START at position 0, so
reference ``j`` is at global trace position (virtual time) ``t = j + 1``;
frames start empty and free frames are used lowest index first, so a page
evicted from frame ``f`` is replaced in frame ``f``. The references follow the
rules and conventions the policies document (``conventions``):

- R bit: set by every access, including the faulting one (Linux-2Q clears it at
  load unless ``insert_referenced``); cleared only by the policy's scans.
- M bit (WSClock): any write since the page was loaded (write-back at eviction).
- Last access time (WS, PFF): the position of the latest access.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import locality_trace, run_busy, sim_stepwise

from vmgym import MachineConfig, Simulator, policies, simulate
from vmgym.policies import linux2q, mglru
from workloads import Workload

# --------------------------------------------------------------------------- references


def drive(pages, k, writes, ref):
    """Run reference ``ref`` over ``pages``: (hit flag per reference, page in each frame at the end)."""
    writes = writes or [False] * len(pages)
    frames = [None] * k
    hits = []
    for j, (p, w) in enumerate(zip(pages, writes, strict=True)):
        t = j + 1
        if p in frames:
            hits.append(True)
            ref.hit(frames.index(p), t, w)
            continue
        hits.append(False)
        ref.fault(t)
        f = frames.index(None) if None in frames else ref.victim(frames, t)
        frames[f] = p
        ref.load(f, t, w)
    return hits, frames


def from_hand(ref, k, candidates):
    """The first of ``candidates`` from ``ref.hand`` in index order (wrapping); the hand moves past it."""
    for s in range(k):
        f = (ref.hand + s) % k
        if f in candidates:
            ref.hand = (f + 1) % k
            return f
    raise AssertionError("no candidate")


class RefWSClock:
    """MOS 3.4.9 WSClock; a scheduled write makes the page clean until it is written again."""

    def __init__(self, k, tau):
        self.tau = tau
        self.R, self.M, self.lu, self.cleaned = [0] * k, [0] * k, [0] * k, [0] * k
        self.hand = 0

    def fault(self, t):
        pass

    def hit(self, f, t, w):
        self.R[f] = 1
        if w:
            self.M[f], self.cleaned[f] = 1, 0

    def load(self, f, t, w):
        self.R[f], self.M[f], self.lu[f], self.cleaned[f] = 1, int(w), t, 0

    def victim(self, frames, t):
        k = len(frames)
        sched = clean = first = None
        for s in range(k):
            f = (self.hand + s) % k
            first = f if first is None else first
            is_clean = not self.M[f] or self.cleaned[f]
            if self.R[f]:
                self.R[f] = 0
                self.lu[f] = t
            elif t - self.lu[f] > self.tau:  # old
                if is_clean:
                    self.hand = (f + 1) % k
                    return f
                self.cleaned[f] = 1  # schedule the write: clean from now on
                sched = f if sched is None else sched
                continue
            if is_clean and (clean is None or self.lu[f] < self.lu[clean]):
                clean = f
        v = next(x for x in (sched, clean, first) if x is not None)
        self.hand = (v + 1) % k
        return v


class RefWS:
    """Working set = pages accessed at positions >= t - tau; first outside it from the hand, else LRU."""

    def __init__(self, k, tau):
        self.tau = tau
        self.last = [0] * k
        self.hand = 0

    def fault(self, t):
        pass

    def hit(self, f, t, w):
        self.last[f] = t

    load = hit

    def victim(self, frames, t):
        out = {f for f in range(len(frames)) if self.last[f] < t - self.tau}
        if not out:
            return min(range(len(frames)), key=self.last.__getitem__)
        return from_hand(self, len(frames), out)


class RefPFF:
    """At a fault more than T after the previous one, release pages unused since the previous fault."""

    def __init__(self, k, T):
        self.T = T
        self.last = [0] * k
        self.hand = 0
        self.prev = self.cur = self.mark = 0

    def fault(self, t):
        if t - self.cur > self.T:
            self.mark = self.cur
        self.prev, self.cur = self.cur, t

    def hit(self, f, t, w):
        self.last[f] = t

    load = hit

    def victim(self, frames, t):
        k = len(frames)
        for bound in (self.mark, self.prev):  # released, then unused since the previous fault
            cand = {f for f in range(k) if self.last[f] < bound}
            if cand:
                return from_hand(self, k, cand)
        return min(range(k), key=self.last.__getitem__)


class RefLinux2Q:
    """Active and inactive lists as Python lists of frames (index 0: head, the newest)."""

    def __init__(self, k, active_ratio=2, insert_referenced=False):
        self.ratio, self.keep = active_ratio, insert_referenced
        self.R = [0] * k
        self.active, self.inactive = [], []

    def fault(self, t):
        pass

    def hit(self, f, t, w):
        self.R[f] = 1

    def load(self, f, t, w):
        self.inactive.insert(0, f)
        self.R[f] = int(self.keep)

    def victim(self, frames, t):
        act, ina = self.active, self.inactive
        while True:
            while len(act) > self.ratio * len(ina):  # refill the inactive list from the active tail
                a = act.pop()
                if self.R[a]:
                    self.R[a] = 0
                    act.insert(0, a)
                else:
                    ina.insert(0, a)
            f = ina.pop()
            if self.R[f]:  # referenced while inactive: promoted
                self.R[f] = 0
                act.insert(0, f)
                continue
            return f


class RefMGLRU:
    """Generations as lists of frames (index 0: head), keyed by sequence number."""

    def __init__(self, k, gens=4):
        self.n = gens
        self.R = [0] * k
        self.gen = {s: [] for s in range(gens)}
        self.lo, self.hi = 0, gens - 1
        self.seq = [None] * k

    def fault(self, t):
        pass

    def hit(self, f, t, w):
        self.R[f] = 1

    def put(self, f, s):
        if self.seq[f] is not None:
            self.gen[self.seq[f]].remove(f)
        self.gen.setdefault(s, []).insert(0, f)
        self.seq[f] = s

    def load(self, f, t, w):
        self.seq[f] = None
        self.put(f, self.hi)
        self.R[f] = 1

    def victim(self, frames, t):
        while True:
            while self.hi - self.lo + 1 > 2 and not self.gen[self.lo]:
                self.lo += 1
            if self.hi - self.lo + 1 < self.n:  # aging
                self.hi += 1
                self.gen[self.hi] = []
                for f in range(len(frames)):
                    if self.R[f]:
                        self.R[f] = 0
                        self.put(f, self.hi)
                continue
            f = self.gen[self.lo][-1]
            if self.R[f]:
                self.R[f] = 0
                self.put(f, self.hi)
                continue
            self.gen[self.lo].pop()
            self.seq[f] = None
            return f


REFS = {"wsclock": RefWSClock, "ws": RefWS, "pff": RefPFF, "linux-2q": RefLinux2Q, "mglru": RefMGLRU}
NAMES = sorted(REFS)


def reference(name, k, **params):
    v = {**policies.get_class(name).params, **params}
    if name in ("wsclock", "ws"):
        return REFS[name](k, v["tau"])
    if name == "pff":
        return RefPFF(k, v["threshold"])
    return REFS[name](k, **v)


def ref_run(name, pages, k, writes=None, **params):
    return drive(list(pages), k, writes, reference(name, k, **params))


# --------------------------------------------------------------------------- simulator side


def sim_faults(pages, k, policy, writes=None):
    stats = simulate(Workload.from_pages(pages, writes=writes), policy, config=MachineConfig.lean(k))
    assert stats.accesses == len(pages) and stats.hits + stats.misses == stats.accesses
    return stats.misses


@st.composite
def traces(draw, max_size=300):
    n = draw(st.sampled_from([4, 8, 12, 20]))
    pages = draw(st.lists(st.integers(0, n), max_size=max_size))
    writes = draw(st.lists(st.booleans(), min_size=len(pages), max_size=len(pages)))
    return pages, writes


WINDOWS = st.sampled_from([1, 2, 3, 5, 8, 20, 1000])
PARAMS = {
    "wsclock": st.fixed_dictionaries({"tau": WINDOWS}),
    "ws": st.fixed_dictionaries({"tau": WINDOWS}),
    "pff": st.fixed_dictionaries({"threshold": WINDOWS}),
    "linux-2q": st.fixed_dictionaries(
        {"active_ratio": st.sampled_from([1, 2, 3]), "insert_referenced": st.booleans()}
    ),
    "mglru": st.fixed_dictionaries({"gens": st.sampled_from([3, 4, 5, 8])}),
}

# --------------------------------------------------------------------------- 1. against the references


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), k=st.integers(1, 8))
def test_hit_sequence_and_frames_match_reference(name, data, k):
    pages, writes = data.draw(traces())
    params = data.draw(PARAMS[name])
    expected = ref_run(name, pages, k, writes, **params)
    assert sim_stepwise(pages, k, policies.make(name, **params), writes) == expected


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(tw=traces(max_size=600), k=st.integers(1, 24))
def test_default_miss_count_matches_reference(name, tw, k):
    pages, writes = tw
    ref_hits, _ = ref_run(name, pages, k, writes)
    assert sim_faults(pages, k, name, writes) == ref_hits.count(False)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(10, 40))
def test_larger_memories_with_locality(name, seed, k):
    # phases of hot sets, loops and scans, so that windows, lists and generations fill up
    rng = np.random.default_rng(seed)
    pages = locality_trace(rng, k, 6)
    writes = (rng.random(len(pages)) < 0.3).tolist()
    params = {"wsclock": {"tau": 50}, "ws": {"tau": 50}, "pff": {"threshold": 4}}.get(name, {})
    ref_hits, _ = ref_run(name, pages, k, writes, **params)
    assert sim_faults(pages, k, policies.make(name, **params), writes) == ref_hits.count(False)


# --------------------------------------------------------------------------- 2. limiting cases


@settings(max_examples=40, deadline=None)
@given(tw=traces(), k=st.integers(1, 8))
def test_ws_with_a_window_longer_than_the_trace_is_lru(tw, k):
    pages, _ = tw
    ws = policies.make("ws", tau=len(pages) + 1)
    assert sim_stepwise(pages, k, ws) == sim_stepwise(pages, k, "lru")


# --------------------------------------------------------------------------- 3. worked examples


def test_wsclock_by_hand():
    # 3 frames, tau = 2; page 1 is written when loaded (dirty). Times are positions 1..7.
    # t4 (page 4): R is set everywhere -> cleared, times of last use = 4; nothing is old, so the clean
    #   page with the smallest time of last use, the first met on a tie, is taken: frame 1 (page 2;
    #   frame 0 is dirty). Hand -> 2.
    # t5 (5): frame 2 (page 3) age 1 <= 2, clean, last use 4; frame 0 age 1, dirty; frame 1 (page 4)
    #   R set -> cleared, last use 5. No old page: page 3 goes. Hand -> 0.
    # t6 (6): frame 0 (page 1) age 2, in the working set, dirty; frame 1 (page 4) age 1, clean, last use
    #   5; frame 2 (page 5) R set -> last use 6. Page 4 goes. Hand -> 2.
    # t7 (7): frame 2 (page 5) age 1, clean; frame 0 (page 1) age 3 > 2 and dirty: its write is
    #   scheduled; frame 1 (page 6) R set. No old clean page: the scheduled page beats the clean
    #   working-set page.
    pages = [1, 2, 3, 4, 5, 6, 7]
    writes = [True] + [False] * 6
    expected = ([False] * 7, [7, 6, 5])
    wsc = policies.make("wsclock", tau=2)
    assert ref_run("wsclock", pages, 3, writes, tau=2) == expected
    assert sim_stepwise(pages, 3, wsc, writes) == expected
    # Clock (new pages enter with R clear) takes the dirty page 1 at t4
    assert sim_stepwise(pages[:4], 3, "clock", writes[:4])[1] == [4, 2, 3]


def test_wsclock_claims_a_page_once_its_scheduled_write_is_done():
    # 3 frames, tau = 1; page 1 (frame 1) is dirty. t4 (page 4): all R cleared (last use 4), nothing
    # old: the first clean page, 2 (frame 0), goes; hand -> 1. t5, t6 hit 4.
    # t7 (page 5): frame 1 (page 1) is old and dirty -> write scheduled, move on; frame 2 (page 3) is
    #   old and clean -> claimed. Hand -> 0.
    # t8 (page 6): frame 0 (page 4) R set -> kept; frame 1 (page 1) is old and its write is done:
    #   clean now -> claimed (the simulator writes it back as it evicts it).
    pages = [2, 1, 3, 4, 4, 4, 5, 6]
    writes = [False, True] + [False] * 6
    expected = ([False, False, False, False, True, True, False, False], [4, 6, 5])
    assert ref_run("wsclock", pages, 3, writes, tau=1) == expected
    assert sim_stepwise(pages, 3, policies.make("wsclock", tau=1), writes) == expected
    wl = Workload.from_pages(pages, writes=writes)
    stats = simulate(wl, policies.make("wsclock", tau=1), config=MachineConfig.lean(3))
    assert stats.swap_outs == 1


def test_ws_by_hand():
    # 3 frames, tau = 2. t1-t3 load 1, 2, 3 (frames 0-2); t4 hits 3, t5 hits 1.
    # t6 (page 4): working set = pages accessed at t >= 4: {3, 1}; page 2 is outside -> frame 1.
    #   Hand -> 2. t7 (page 5): window t >= 5: {1, 4}; page 3 (t4) is outside -> frame 2, hand -> 0.
    # t8 (page 2): window t >= 6: {4, 5}; page 1 (t5) is outside -> frame 0.
    # t9 (page 3): window t >= 7: {5, 2}; page 4 (t6) is outside -> frame 1 (LRU too).
    # t10 (page 1): window t >= 8: {2, 3}; page 5 (frame 2) -> frame 2. Then t11 hits 2.
    pages = [1, 2, 3, 3, 1, 4, 5, 2, 3, 1, 2]
    hits = [False, False, False, True, True, False, False, False, False, False, True]
    expected = (hits, [2, 3, 1])
    assert ref_run("ws", pages, 3, tau=2) == expected
    assert sim_stepwise(pages, 3, policies.make("ws", tau=2)) == expected


def test_ws_takes_the_first_page_outside_the_window_not_the_oldest():
    # 3 frames, tau = 1. t1 loads 5 (frame 0), t2 loads 4 (frame 1), t3 hits 4, t4 hits 5, t5 loads 3.
    # t6 (page 2): the window is t >= 5: {3}; 5 (t4) and 4 (t3) are outside. The hand is at frame 0
    #   (no victim yet), so 5 goes, although 4 is older. t7: 4 is still resident: a hit.
    pages = [5, 4, 4, 5, 3, 2, 4]
    expected = ([False, False, True, True, False, False, True], [2, 4, 3])
    assert ref_run("ws", pages, 3, tau=1) == expected
    assert sim_stepwise(pages, 3, policies.make("ws", tau=1)) == expected
    assert sim_stepwise(pages, 3, "lru")[0][-1] is False  # LRU took 4 at t6


def test_pff_releases_after_a_quiet_interval():
    # 3 frames, threshold T = 2. Faults at t1, t2, t3 (intervals 1). t4-t6 hit page 1.
    # t7 (page 4): 7 - 3 = 4 > 2 -> release the pages not used since the previous fault (t3):
    #   page 2 (last t2). Page 2 (frame 1) goes. t8 (page 5): interval 1, nothing released is left;
    #   pages unused since the previous fault (t7): 1 (t6) and 3 (t3); the hand (2) finds page 3.
    # t9 (page 2): interval 1; unused since t8: 1 (t6), 4 (t7); hand at 0 -> page 1.
    # t10 (page 1): unused since t9: 4 (t7), 5 (t8); hand at 1 -> page 4 (frame 1).
    pages = [1, 2, 3, 1, 1, 1, 4, 5, 2, 1]
    expected = ([False, False, False, True, True, True, False, False, False, False], [2, 1, 5])
    assert ref_run("pff", pages, 3, threshold=2) == expected
    assert sim_stepwise(pages, 3, policies.make("pff", threshold=2)) == expected


def test_pff_prefers_released_pages_to_recently_unused_ones():
    # 4 frames, T = 2. Faults t1-t4; t5, t6 hit 1 and 2. t7 (page 5): 7 - 4 = 3 > 2 -> release pages
    # unused since t4: page 3 (t3). Page 3 (frame 2) goes; hand -> 3. t8 (page 6): no release;
    # released pages: none left. Unused since t7: 4 (t4), 1 (t5), 2 (t6); the hand (3) -> page 4.
    # Then t9-t11 hit 1, 2, 5 (t11) and t12 (page 3): 12 - 8 = 4 > 2 -> release pages unused since t8:
    # none (1 t9, 2 t10, 5 t11, 6 t8 are all >= t8). Unused since the previous fault t8: none either
    # -> the LRU page, 6 (t8, frame 3).
    pages = [1, 2, 3, 4, 1, 2, 5, 6, 1, 2, 5, 3]
    hits, frames = ref_run("pff", pages, 4, threshold=2)
    assert hits == [False] * 4 + [True, True, False, False, True, True, True, False]
    assert frames == [1, 2, 5, 3]
    assert sim_stepwise(pages, 4, policies.make("pff", threshold=2)) == (hits, frames)


def test_pff_takes_the_first_unused_page_from_the_hand_not_the_oldest():
    # 3 frames, T = 2. t1 loads 1 (frame 0), t2 loads 4 (frame 1), t3 hits 1, t4 loads 3 (interval 2:
    # no release). t5 (page 5): interval 1, nothing released; unused since the previous fault (t4):
    # 1 (t3) and 4 (t2); the hand (frame 0) takes 1, where LRU takes 4. t6: 1 faults again.
    pages = [1, 4, 1, 3, 5, 1]
    expected = ([False, False, True, False, False, False], [5, 1, 3])
    assert ref_run("pff", pages, 3, threshold=2) == expected
    assert sim_stepwise(pages, 3, policies.make("pff", threshold=2)) == expected
    assert sim_stepwise(pages, 3, "lru")[0][-1] is True


def test_linux_2q_keeps_the_hot_pages_through_a_scan():
    # 4 frames, ratio 2. 1 and 2 are touched twice (bit set while inactive), 3-7 once (a scan).
    # t7 (5): the inactive tail 1 is referenced -> active; so is 2; 3 is taken. 6 then 7 take 4 and 5
    # from the inactive tail; 1 and 2 are still resident. LRU loses both to the scan.
    pages = [1, 2, 1, 2, 3, 4, 5, 6, 7, 1, 2]
    expected = ([False, False, True, True, False, False, False, False, False, True, True], [1, 2, 7, 6])
    assert ref_run("linux-2q", pages, 4) == expected
    assert sim_stepwise(pages, 4, "linux-2q") == expected
    assert sim_faults(pages, 4, "lru") == 9


def test_linux_2q_demotes_from_the_active_tail():
    # 3 frames, ratio 1: pages 1, 2 promoted, then the active list (2) > 1 * inactive (1) -> demote.
    pages = [1, 2, 3, 1, 2, 4, 5, 6]
    hits, frames = ref_run("linux-2q", pages, 3, active_ratio=1)
    assert sim_stepwise(pages, 3, policies.make("linux-2q", active_ratio=1)) == (hits, frames)
    sim = Simulator(
        Workload.from_pages(pages), MachineConfig.lean(3), policies.make("linux-2q", active_ratio=1)
    )
    sim.run()
    pg = sim.state.pol_g
    assert pg[linux2q.N_ACT] <= pg[linux2q.N_INACT] + 1


def test_mglru_by_hand():
    # 3 frames, 4 generations (start: min_seq 0, max_seq 3). 1, 2, 3 join generation 3 (R set).
    # t4 (page 4): generations 0-2 are empty: retire 0, 1 (two remain); age twice: 1, 2, 3 were
    #   accessed -> generation 4 (frame order: head 3, 2, 1); generation 5 empty. Retire 2, 3; age
    #   to 6, 7 (empty). Oldest = 4, tail = page 1 (bit now clear) -> evicted; 4 joins generation 7.
    # t5: 2 is hit (R set). t6 (page 5): oldest 4 holds [3, 2]: 2 is accessed -> promoted to
    #   generation 7; 3 is taken. t7 (page 1): generation 4 is empty -> retired, 5 too; aging moves
    #   4 and 5 (R from their faults) to generation 8, then 9 is made; 6 retired; generation 7 holds
    #   only 2 now (not accessed since its promotion); one more aging (10) -> 2 is evicted.
    # LRU would evict 4 (last used at t4) at t7.
    pages = [1, 2, 3, 4, 2, 5, 1]
    expected = ([False, False, False, False, True, False, False], [4, 1, 5])
    assert ref_run("mglru", pages, 3) == expected
    assert sim_stepwise(pages, 3, "mglru") == expected
    assert sim_stepwise(pages, 3, "lru")[1] == [1, 2, 5]


# --------------------------------------------------------------------------- 4. state consistency


def _walk(rows, head, tail):
    out, x, prev = [], head, -1
    while x >= 0:
        assert rows[0, x] == prev
        out.append(int(x))
        prev, x = x, rows[1, x]
    assert tail == prev
    return out


def check_recency_list(sim):
    pf, pg = sim.state.pol_f, sim.state.pol_g
    resident = sorted(int(f) for f in np.flatnonzero(sim.state.frame_page >= 0))
    assert sorted(_walk(pf, pg[0], pg[1])) == resident


def check_linux_2q(sim):
    pf, pg = sim.state.pol_f, sim.state.pol_g
    ina = _walk(pf, pg[linux2q.INACT], pg[linux2q.INACT + 1])
    act = _walk(pf, pg[linux2q.ACT], pg[linux2q.ACT + 1])
    assert len(ina) == pg[linux2q.N_INACT] and len(act) == pg[linux2q.N_ACT]
    assert all(pf[2, f] == linux2q.INACTIVE for f in ina) and all(pf[2, f] == linux2q.ACTIVE for f in act)
    resident = sorted(int(f) for f in np.flatnonzero(sim.state.frame_page >= 0))
    assert sorted(ina + act) == resident


def check_mglru(sim):
    pf, pg = sim.state.pol_f, sim.state.pol_g
    gens = pg[mglru.GENS]
    lo, hi = pg[mglru.MIN_SEQ], pg[mglru.MAX_SEQ]
    assert 1 <= hi - lo + 1 <= gens
    members = []
    for k in range(gens):
        h = mglru.HEADS + 2 * k
        lst = _walk(pf, pg[h], pg[h + 1])
        assert len(lst) == pg[mglru.COUNTS + k]
        for f in lst:
            assert lo <= pf[2, f] <= hi and pf[2, f] % gens == k
        members += lst
    resident = sorted(int(f) for f in np.flatnonzero(sim.state.frame_page >= 0))
    assert sorted(members) == resident


CHECKS = {
    "ws": check_recency_list,
    "pff": check_recency_list,
    "wsclock": lambda sim: None,
    "linux-2q": check_linux_2q,
    "mglru": check_mglru,
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("frames", [3, 6, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_state_stays_consistent_in_a_busy_run(name, frames, seed):
    run_busy(name, frames, seed, CHECKS[name])


# --------------------------------------------------------------------------- 5. registry and parameters


def test_names_and_aliases():
    assert policies.get_class("active-inactive") is policies.get_class("linux-2q")
    assert policies.get_class("working-set") is policies.get_class("ws")
    assert policies.get_class("page-fault-frequency") is policies.get_class("pff")
    assert policies.get_class("lru-gen") is policies.get_class("mglru")
    assert set(NAMES) <= set(policies.names())


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("wsclock", "tau", 0),
        ("wsclock", "tau", 2.5),
        ("wsclock", "tau", True),
        ("ws", "tau", -1),
        ("ws", "tau", "1000"),
        ("ws", "tau", 1 << 63),
        ("pff", "threshold", 0),
        ("pff", "threshold", None),
        ("linux-2q", "active_ratio", 0),
        ("linux-2q", "active_ratio", 1.5),
        ("linux-2q", "active_ratio", 1001),
        ("linux-2q", "insert_referenced", 1),
        ("mglru", "gens", 2),
        ("mglru", "gens", 17),
        ("mglru", "gens", 4.0),
    ],
)
def test_bad_parameter_value_is_named(name, param, value):
    with pytest.raises(policies.PolicyError, match=param):
        policies.make(name, **{param: value})


@pytest.mark.parametrize(
    ("name", "message"),
    [("ws", "1..2"), ("pff", "1..2"), ("linux-2q", "1..1000"), ("mglru", "3..16")],
)
def test_bad_parameter_error_names_the_range(name, message):
    param = {"ws": "tau", "pff": "threshold", "linux-2q": "active_ratio", "mglru": "gens"}[name]
    with pytest.raises(policies.PolicyError, match=message):
        policies.make(name, **{param: 0})
