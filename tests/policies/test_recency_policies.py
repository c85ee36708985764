"""LIRS, CLOCK-Pro and GCLOCK against tiny pure-Python references written from the papers.

Setting (as in ``test_reference.py``): one process, private anonymous pages
(``Workload.from_pages``), no TLB; a fault means the page was not resident;
frames start empty, free frames are used lowest index first and a victim's
frame receives the faulting page. The references follow the conventions the
policies document (``conventions``), where the papers leave room.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import locality_trace, run_busy, sim_stepwise

from vmgym import MachineConfig, policies, simulate
from vmgym.policies import clockpro, lirs
from workloads import Workload

# --------------------------------------------------------------------------- references
#
# Each returns (hits, frames): hits[i] is True when reference i found its page resident,
# frames[f] is the page in frame f after the last reference (None: free).


def _load(frames, victim_page, p):
    """Frame for faulting page ``p``: the lowest free one, else the victim's."""
    f = frames.index(None) if None in frames else frames.index(victim_page)
    frames[f] = p


def ref_lirs(pages, k, hir_ratio=0.01, nonresident_ratio=1.0, skip_repeats=False):  # noqa: C901
    """LIRS, Jiang & Zhang 2002, section 3: stack S (list, bottom first) and queue Q (front first)."""
    llirs = k - min(k, max(1, int(hir_ratio * k + 0.5)))
    nrmax = None if nonresident_ratio is None else int(nonresident_ratio * k + 0.5)
    S, Q = [], []
    status = {}  # page -> "LIR" | "HIR" (resident) | "NR" (non-resident HIR, in S)
    frames = [None] * k
    hits = []
    last = None

    def n(kind):
        return sum(1 for v in status.values() if v == kind)

    def prune():  # the bottom of S must be an LIR page
        while S and status[S[0]] != "LIR":
            p = S.pop(0)
            if status[p] == "NR":
                del status[p]

    def top(p):
        if p in S:
            S.remove(p)
        S.append(p)

    def balance():  # demote the bottom LIR page while the LIR set is too large
        while n("LIR") > llirs:
            b = S.pop(0)
            status[b] = "HIR"
            Q.append(b)
            prune()

    def trim(limit):  # forget the non-resident HIR pages deepest in S
        if nrmax is None:
            return
        while n("NR") > limit:
            deepest = next(p for p in S if status[p] == "NR")
            S.remove(deepest)
            del status[deepest]
        prune()

    for p in pages:
        if p in frames:
            hits.append(True)
            if skip_repeats and p == last:
                continue
            last = p
            if status[p] == "LIR":
                top(p)
            elif p in S:  # resident HIR in S
                top(p)
                status[p] = "LIR"
                Q.remove(p)
                balance()
            else:  # resident HIR not in S
                top(p)
                Q.remove(p)
                Q.append(p)
            prune()
            continue
        hits.append(False)
        last = p
        v = None
        if None not in frames:
            v = Q.pop(0)  # the front of Q
            if v in S:
                status[v] = "NR"
                trim(nrmax + 1 if nrmax is not None else None)
            else:
                del status[v]
        _load(frames, v, p)
        if status.get(p) == "NR":
            top(p)
            status[p] = "LIR"
            balance()
        elif n("LIR") < llirs:
            top(p)
            status[p] = "LIR"
        else:
            top(p)
            status[p] = "HIR"
            Q.append(p)
        prune()
        trim(nrmax)
    return hits, frames


class RefClockPro:
    """CLOCK-Pro, Jiang, Chen & Zhang 2005, section 3, on a Python list used as the circle.

    ``C[i + 1]`` follows ``C[i]`` (and ``C[0]`` follows ``C[-1]``); hands are pages
    (None on an empty clock); the list head is just behind HAND_hot.
    """

    def __init__(self, k, cold_ratio=0.01, nonresident_ratio=1.0):
        self.m = k
        self.lo = min(k, max(1, int(cold_ratio * k + 0.5)))
        self.hi = max(self.lo, k - self.lo)
        self.mc = self.lo
        self.nrmax = int(nonresident_ratio * k + 0.5)
        self.C = []
        self.hand = {"hot": None, "cold": None, "test": None}
        self.e = {}  # page -> dict(hot, res, test, ref) for pages on the clock

    # the circle
    def nxt(self, x):
        return self.C[(self.C.index(x) + 1) % len(self.C)]

    def insert_head(self, x):
        if not self.C:
            self.C = [x]
            self.hand = dict.fromkeys(self.hand, x)
        else:
            self.C.insert(self.C.index(self.hand["hot"]), x)

    def unlink(self, x):
        if len(self.C) == 1:
            self.hand = dict.fromkeys(self.hand)
        else:
            nx = self.nxt(x)
            for h, at in self.hand.items():
                if at == x:
                    self.hand[h] = nx
        self.C.remove(x)

    def to_head(self, x):
        self.unlink(x)
        self.insert_head(x)

    def count(self, pred):
        return sum(1 for v in self.e.values() if pred(v))

    def n_hot(self):
        return self.count(lambda v: v["hot"])

    def n_nonres(self):
        return self.count(lambda v: not v["res"])

    # the hands
    def terminate(self, x):
        """A test period ends without a re-access: m_c - 1; a non-resident page leaves the clock."""
        self.e[x]["test"] = False
        self.mc = max(self.lo, self.mc - 1)
        if not self.e[x]["res"]:
            self.unlink(x)
            del self.e[x]

    def hand_hot_once(self):
        demoted = False
        for _ in range(2 * len(self.C) + 2):
            x = self.hand["hot"]
            if x is None:
                break
            v, nx = self.e[x], self.nxt(x)
            if v["hot"]:
                if demoted:
                    return True  # the hand stops at the next hot page
                if v["ref"]:
                    v["ref"] = False
                else:
                    v["hot"] = False  # resident cold, not in test
                    demoted = True
            elif v["test"]:
                self.terminate(x)
            if not self.C:
                break
            self.hand["hot"] = nx
            if demoted and self.n_hot() == 0:
                break
        return demoted

    def run_hand_hot(self):
        while self.n_hot() > self.m - self.mc:
            if not self.hand_hot_once():
                break

    def run_hand_test(self, limit):
        for _ in range(2 * len(self.C) + 2):
            if self.n_nonres() <= limit:
                return
            x = self.hand["test"]
            nx = self.nxt(x)
            if self.e[x]["test"]:
                self.terminate(x)
            self.hand["test"] = nx

    def hand_cold(self):
        """The victim page."""
        while True:
            x = self.hand["cold"]
            v = self.e[x]
            if v["res"] and not v["hot"]:
                if not v["ref"]:
                    self.hand["cold"] = self.nxt(x)
                    return x
                v["ref"] = False
                if v["test"]:  # re-accessed in its test period: hot
                    v.update(hot=True, test=False)
                    self.mc = min(self.hi, self.mc + 1)
                    self.to_head(x)
                    self.run_hand_hot()
                else:  # a new test period
                    v["test"] = True
                    self.to_head(x)
                continue
            self.hand["cold"] = self.nxt(x)

    # references
    def hit(self, p):
        self.e[p]["ref"] = True

    def evict(self):
        v = self.hand_cold()
        if self.e[v]["test"]:
            self.e[v].update(res=False, ref=False)
            self.run_hand_test(self.nrmax + 1)
        else:
            self.unlink(v)
            del self.e[v]
        return v

    def load(self, p):
        if p in self.e:  # a non-resident cold page in its test period
            self.e[p] = {"hot": True, "res": True, "test": False, "ref": False}
            self.mc = min(self.hi, self.mc + 1)
            self.to_head(p)
            self.run_hand_hot()
        else:
            hot = self.n_hot() < self.m - self.mc
            self.e[p] = {"hot": hot, "res": True, "test": not hot, "ref": False}
            self.insert_head(p)
        self.run_hand_test(self.nrmax)


def ref_clockpro(pages, k, **params):
    cp = RefClockPro(k, **params)
    frames = [None] * k
    hits = []
    for p in pages:
        if p in frames:
            hits.append(True)
            cp.hit(p)
            continue
        hits.append(False)
        v = cp.evict() if None not in frames else None
        _load(frames, v, p)
        cp.load(p)
    return hits, frames


def ref_gclock(pages, k, bits=2, insert_count=0):
    """GCLOCK: saturating counters; the hand decrements non-zero counters, evicts the first zero."""
    top_count = (1 << bits) - 1
    frames = [None] * k
    count = [0] * k
    hand = 0
    hits = []
    for p in pages:
        if p in frames:
            hits.append(True)
            f = frames.index(p)
            count[f] = min(top_count, count[f] + 1)
            continue
        hits.append(False)
        if None in frames:
            f = frames.index(None)  # warm-up: the hand does not move
        else:
            while count[hand]:
                count[hand] -= 1
                hand = (hand + 1) % k
            f = hand
            hand = (hand + 1) % k
        frames[f] = p
        count[f] = insert_count
    return hits, frames


REFS = {"lirs": ref_lirs, "clock-pro": ref_clockpro, "gclock": ref_gclock}

# --------------------------------------------------------------------------- helpers


def lean(frames):
    return MachineConfig(frames=frames, tlb_entries=0)


def sim_faults(pages, k, policy):
    stats = simulate(Workload.from_pages(pages), policy, config=lean(k))
    assert stats.accesses == len(pages) and stats.misses == stats.faults
    return stats.faults


def vpn_of(sim):
    st_ = sim.state
    return {g: int(st_.page_vpn[g]) for g in range(st_.page_vpn.shape[0])}


@st.composite
def traces(draw, max_page=None, max_size=300):
    n = draw(st.sampled_from([4, 8, 12, 20])) if max_page is None else max_page
    pages = draw(st.lists(st.integers(0, n), max_size=max_size))
    writes = draw(st.lists(st.booleans(), min_size=len(pages), max_size=len(pages)))
    return pages, writes


frame_counts = st.integers(1, 8)
lirs_params = st.fixed_dictionaries(
    {
        "hir_ratio": st.sampled_from([0.01, 0.25, 0.5, 1.0]),
        "nonresident_ratio": st.sampled_from([1.0, 0.0, 0.5, 2.0, None]),
        "skip_repeats": st.booleans(),
    }
)
clockpro_params = st.fixed_dictionaries(
    {
        "cold_ratio": st.sampled_from([0.01, 0.25, 0.5]),
        "nonresident_ratio": st.sampled_from([1.0, 0.0, 0.5, 2.0]),
    }
)
gclock_params = st.sampled_from(
    [{}, {"bits": 1}, {"bits": 3}, {"bits": 2, "insert_count": 1}, {"bits": 2, "insert_count": 3}]
)
PARAMS = {"lirs": lirs_params, "clock-pro": clockpro_params, "gclock": gclock_params}


# --------------------------------------------------------------------------- 1. against the references


@pytest.mark.parametrize("name", sorted(REFS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), k=frame_counts)
def test_hit_sequence_and_frames_match_reference(name, data, k):
    pages, writes = data.draw(traces())
    params = data.draw(PARAMS[name])
    ref_hits, ref_frames = REFS[name](pages, k, **params)
    hits, frames = sim_stepwise(pages, k, policies.make(name, **params), writes)
    assert hits == ref_hits
    assert frames == ref_frames


@pytest.mark.parametrize("name", sorted(REFS))
@settings(max_examples=60, deadline=None)
@given(tw=traces(max_size=600), k=st.integers(1, 24))
def test_default_fault_count_matches_reference(name, tw, k):
    pages, _ = tw
    ref_hits, _ = REFS[name](pages, k)
    assert sim_faults(pages, k, name) == ref_hits.count(False)


@pytest.mark.parametrize("name", sorted(REFS))
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(10, 40))
def test_larger_memories_with_locality(name, seed, k):
    # phases of hot sets, loops and scans over a few hundred pages, so that LIR/hot sets of
    # realistic size, test periods and the adaptive m_c all come into play
    rng = np.random.default_rng(seed)
    pages = locality_trace(rng, k, 8)
    ref_hits, _ = REFS[name](pages, k)
    assert sim_faults(pages, k, name) == ref_hits.count(False)


# --------------------------------------------------------------------------- 2. LIRS: the paper's example


def _lirs_view(sim):
    """(S from top to bottom as (vpn, status), Q from front to end as vpns) of a LIRS simulator."""
    pp, pg = sim.state.pol_p, sim.state.pol_g
    vpn = vpn_of(sim)
    names = {lirs.LIR: "LIR", lirs.HIR: "HIR", lirs.NRHIR: "NR"}
    s, g = [], pg[lirs.G_S]
    while g >= 0:
        s.append((vpn[g], names[int(pp[lirs.R_ST, g])]))
        g = pp[lirs.R_S + 1, g]
    q, g = [], pg[lirs.G_Q + 1]
    while g >= 0:
        q.append(vpn[g])
        g = pp[lirs.R_Q, g]
    return s, q


A, B, C, D, E = range(5)
# Jiang & Zhang 2002, section 3.3 and Fig. 2: Llirs = 2, Lhirs = 1 (3 frames). The references
# B A D A E give the state of Table 1 at time 10: S = E A D B (top first) with A, B LIR, E resident
# HIR (the only page in Q), D non-resident HIR, C no longer in S.
PREFIX = [B, A, D, A, E]
STATE_T10 = ([(E, "HIR"), (A, "LIR"), (D, "NR"), (B, "LIR")], [E])
FIG2 = {
    # (b) B, an LIR page at the bottom: to the top; pruning removes D
    B: (True, ([(B, "LIR"), (E, "HIR"), (A, "LIR")], [E])),
    # (c) E, a resident HIR page in S: becomes LIR; B, the bottom LIR page, goes to the end of Q
    E: (True, ([(E, "LIR"), (A, "LIR")], [B])),
    # (d) D, a non-resident HIR page in S: E (front of Q) is evicted but stays in S; D becomes LIR,
    #     B is demoted to Q
    D: (False, ([(D, "LIR"), (E, "NR"), (A, "LIR")], [B])),
    # (e) C, not in S: E is evicted (stays non-resident in S); C is a resident HIR page
    C: (False, ([(C, "HIR"), (E, "NR"), (A, "LIR"), (D, "NR"), (B, "LIR")], [C])),
}


@pytest.mark.parametrize("page", sorted(FIG2))
def test_lirs_paper_example(page):
    views = {}
    hits, frames = sim_stepwise(
        PREFIX + [page], 3, "lirs", inspect=lambda sim, j: views.setdefault(j, _lirs_view(sim))
    )
    assert views[len(PREFIX) - 1] == STATE_T10
    expect_hit, expect_view = FIG2[page]
    assert hits == [False, False, False, True, False, expect_hit]
    assert views[len(PREFIX)] == expect_view
    resident = {p for p, s in expect_view[0] if s != "NR"} | set(expect_view[1])
    assert {p for p in frames if p is not None} == resident
    assert ref_lirs(PREFIX + [page], 3) == (hits, frames)


def test_lirs_loop_slightly_larger_than_memory():
    # the paper's motivating case: a loop over 110 pages with 100 frames; LRU misses every time
    pages = list(range(110)) * 10
    assert sim_faults(pages, 100, "lru") == len(pages)
    faults = sim_faults(pages, 100, "lirs")
    assert faults == ref_lirs(pages, 100)[0].count(False)
    # 99 LIR pages stay resident; the other 11 pages share the single HIR frame
    assert faults == 110 + 9 * 11


def test_clockpro_loop_slightly_larger_than_memory():
    pages = list(range(110)) * 10
    faults = sim_faults(pages, 100, "clock-pro")
    assert faults == ref_clockpro(pages, 100)[0].count(False)
    assert faults < len(pages) // 2


def test_lirs_skip_repeats_keeps_a_doubly_touched_page_hir():
    # with skip_repeats the immediate repeat of E does not make it LIR (lirs.c); by default it does
    pages = [*PREFIX, E]
    views = {}
    sim_stepwise(
        pages,
        3,
        policies.make("lirs", skip_repeats=True),
        inspect=lambda s, j: views.setdefault(j, _lirs_view(s)),
    )
    assert views[len(PREFIX)] == STATE_T10


def test_lirs_scan_does_not_flush_lir_pages():
    # a hot set of 50 pages, then a one-time scan of 1000 pages, then the hot set again
    hot = list(range(50)) * 4
    pages = hot + list(range(1000, 2000)) + list(range(50))
    hits, _ = ref_lirs(pages, 60)
    assert all(hits[-50:])
    assert sim_faults(pages, 60, "lirs") == hits.count(False)
    assert sim_faults(pages, 60, "lru") == hits.count(False) + 50


# --------------------------------------------------------------------------- 3. GCLOCK


@settings(max_examples=60, deadline=None)
@given(tw=traces(), k=frame_counts)
def test_gclock_with_one_bit_is_clock(tw, k):
    pages, writes = tw
    one_bit = sim_stepwise(pages, k, policies.make("gclock", bits=1), writes)
    assert one_bit == sim_stepwise(pages, k, policies.make("clock"), writes)


def test_gclock_counts_decide():
    # 3 frames, bits=2: page 0 is hit three times (count 3); 1 and 2 never (count 0).
    # 3 evicts frame 1 (page 1; the hand passes frame 0 decrementing it to 2), 4 evicts page 2
    # (frame 2), 5: frame 0 has count 2 -> 1, frame 1 (page 3) is evicted.
    pages = [0, 1, 2, 0, 0, 0, 3, 4, 5]
    hits, frames = sim_stepwise(pages, 3, "gclock")
    assert (hits, frames) == ref_gclock(pages, 3)
    assert frames == [0, 5, 4]


# --------------------------------------------------------------------------- 4. state consistency


def check_lirs_state(sim):
    st_, pol = sim.state, sim.policy
    pp, pg = st_.pol_p, st_.pol_g
    s_list, g, prev = [], pg[lirs.G_S], -1
    while g >= 0:
        assert pp[lirs.R_S, g] == prev and pp[lirs.R_INS, g] == 1
        s_list.append(g)
        prev, g = g, pp[lirs.R_S + 1, g]
    assert pg[lirs.G_S + 1] == prev
    q_list, g, prev = [], pg[lirs.G_Q], -1
    while g >= 0:
        assert pp[lirs.R_Q, g] == prev
        q_list.append(g)
        prev, g = g, pp[lirs.R_Q + 1, g]
    assert pg[lirs.G_Q + 1] == prev
    status = pp[lirs.R_ST]
    assert int(np.sum(pp[lirs.R_INS])) == len(s_list)
    if s_list:
        assert status[s_list[-1]] == lirs.LIR  # pruned
    assert all(status[g] != lirs.NONE for g in s_list)
    assert sorted(q_list) == sorted(np.flatnonzero(status == lirs.HIR).tolist())
    resident = {int(g) for g in st_.frame_page if g >= 0}
    assert resident == set(np.flatnonzero((status == lirs.LIR) | (status == lirs.HIR)).tolist())
    nr = np.flatnonzero(status == lirs.NRHIR).tolist()
    assert set(nr) <= set(s_list) and not set(nr) & resident
    n_lir = int(np.sum(status == lirs.LIR))
    assert n_lir == pg[lirs.G_NLIR] <= pg[lirs.G_LLIRS]
    assert set(np.flatnonzero(status == lirs.LIR).tolist()) <= set(s_list)
    assert len(nr) == pg[lirs.G_NNR]
    # the bound holds after every load; an eviction not followed by a load may leave one extra
    assert pg[lirs.G_NRMAX] < 0 or len(nr) <= pg[lirs.G_NRMAX] + 1
    assert sorted(pp[lirs.R_HEAP, : len(nr)].tolist()) == sorted(nr)
    assert pol.name == "lirs"


def check_clockpro_state(sim):
    st_ = sim.state
    pp, pg = st_.pol_p, st_.pol_g
    fl = pp[clockpro.R_FL]
    on = set(np.flatnonzero(fl & clockpro.F_IN).tolist())
    assert len(on) == pg[clockpro.G_N]
    if not on:
        assert list(pg[:3]) == [-1, -1, -1]
        return
    circle, x = [], pg[clockpro.G_HOT]
    for _ in range(len(on)):
        circle.append(int(x))
        nx = pp[clockpro.R_NEXT, x]
        assert pp[clockpro.R_PREV, nx] == x
        x = nx
    assert x == pg[clockpro.G_HOT] and set(circle) == on
    assert {int(h) for h in pg[:3]} <= on
    resident = {int(g) for g in st_.frame_page if g >= 0}
    res = set(np.flatnonzero(fl & clockpro.F_RES).tolist())
    assert res == resident and res <= on
    hot = set(np.flatnonzero(fl & clockpro.F_HOT).tolist())
    assert hot <= res and not hot & set(np.flatnonzero(fl & clockpro.F_TEST).tolist())
    nonres = on - res
    assert all(fl[g] & clockpro.F_TEST for g in nonres)  # out of test: off the clock
    assert len(hot) == pg[clockpro.G_NHOT]
    assert len(res - hot) == pg[clockpro.G_NCOLD]
    assert len(nonres) == pg[clockpro.G_NNR] <= pg[clockpro.G_NRMAX] + 1  # see check_lirs_state
    assert pg[clockpro.G_MCLO] <= pg[clockpro.G_MC] <= pg[clockpro.G_MCHI]


CHECKS = {"lirs": check_lirs_state, "clock-pro": check_clockpro_state, "gclock": lambda sim: None}


@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("frames", [3, 6, 9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_state_stays_consistent_in_a_busy_run(name, frames, seed):
    run_busy(name, frames, seed, CHECKS[name])


# --------------------------------------------------------------------------- 5. registry and parameters


def test_names_and_aliases():
    assert policies.get_class("clockpro") is policies.get_class("clock-pro")
    assert policies.get_class("clock-n") is policies.get_class("gclock")
    assert {"lirs", "clock-pro", "gclock"} <= set(policies.names())


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("lirs", "hir_ratio", 0),
        ("lirs", "hir_ratio", 1.5),
        ("lirs", "hir_ratio", "1%"),
        ("lirs", "nonresident_ratio", -1),
        ("lirs", "skip_repeats", 1),
        ("clock-pro", "cold_ratio", 0),
        ("clock-pro", "cold_ratio", 0.9),
        ("clock-pro", "nonresident_ratio", -0.5),
        ("clock-pro", "nonresident_ratio", None),
        ("gclock", "bits", 0),
        ("gclock", "bits", 2.0),
        ("gclock", "bits", True),
        ("gclock", "insert_count", 4),
        ("gclock", "insert_count", -1),
    ],
)
def test_bad_parameter_value_is_named(name, param, value):
    with pytest.raises(policies.PolicyError, match=param):
        policies.make(name, **{param: value})


@pytest.mark.parametrize(
    ("frames", "llirs"), [(1, 0), (2, 1), (3, 2), (50, 49), (100, 99), (150, 148), (250, 247)]
)
def test_lirs_sizes(frames, llirs):
    assert lirs.lirs_sizes(frames, 0.01) == (llirs, frames - llirs)
