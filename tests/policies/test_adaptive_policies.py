"""ARC, CAR, 2Q and S3-FIFO against tiny pure-Python references written from the papers.

Setting (as in ``test_reference.py``): one process, private anonymous pages
(``Workload.from_pages``), no TLB, so a reference faults exactly when its page is
not resident. The global trace has START at position 0, so reference ``j`` is at
position ``j + 1`` (and EXIT at the end). Every reference function returns
``(hits, resident)``: ``hits[j]`` whether reference ``j`` hit, ``resident[j]`` the
set of resident pages right after it. Lists are Python lists with the LRU / oldest
end at index 0.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmgym import MachineConfig, Simulator, policies, simulate
from vmgym.policies._adaptive import get_real
from vmgym.sim import OutOfMemory
from workloads import OP_READ, OP_WRITE, Vma, Workload, WorkloadBuilder

# --------------------------------------------------------------------------- references


def ref_arc(pages, c):
    """Megiddo & Modha, FAST 2003, Fig. 4, line by line (p real, as in the paper)."""
    T1, T2, B1, B2 = [], [], [], []
    p = 0
    hits, resident = [], []

    def replace(x, p):
        if T1 and (len(T1) > p or (x in B2 and len(T1) == p)):
            B1.append(T1.pop(0))  # delete the LRU page of T1, move it to the MRU position of B1
        else:
            B2.append(T2.pop(0))

    for x in pages:
        if x in T1 or x in T2:  # Case I
            hits.append(True)
            (T1 if x in T1 else T2).remove(x)
            T2.append(x)
        elif x in B1:  # Case II
            hits.append(False)
            d1 = 1 if len(B1) >= len(B2) else len(B2) / len(B1)
            p = min(p + d1, c)
            replace(x, p)
            B1.remove(x)
            T2.append(x)
        elif x in B2:  # Case III
            hits.append(False)
            d2 = 1 if len(B2) >= len(B1) else len(B1) / len(B2)
            p = max(p - d2, 0)
            replace(x, p)
            B2.remove(x)
            T2.append(x)
        else:  # Case IV
            hits.append(False)
            if len(T1) + len(B1) == c:  # Case A
                if len(T1) < c:
                    B1.pop(0)
                    replace(x, p)
                else:
                    T1.pop(0)
            else:  # Case B
                total = len(T1) + len(T2) + len(B1) + len(B2)
                if total >= c:
                    if total == 2 * c:
                        B2.pop(0)
                    replace(x, p)
            T1.append(x)
        resident.append(set(T1) | set(T2))
    return hits, resident


def ref_car(pages, c):
    """Bansal & Modha, FAST 2004, Fig. 2: clocks T1/T2 (index 0 = head, append = tail)."""
    T1, T2, B1, B2 = [], [], [], []
    bit = {}
    p = 0
    hits, resident = [], []

    def replace():
        while True:
            if len(T1) >= max(1, p):
                h = T1.pop(0)
                if bit[h] == 0:
                    B1.append(h)  # demote: MRU page of B1
                    return
                bit[h] = 0
                T2.append(h)
            else:
                h = T2.pop(0)
                if bit[h] == 0:
                    B2.append(h)
                    return
                bit[h] = 0
                T2.append(h)

    for x in pages:
        if x in T1 or x in T2:
            hits.append(True)
            bit[x] = 1
            resident.append(set(T1) | set(T2))
            continue
        hits.append(False)
        if len(T1) + len(T2) == c:
            replace()
            if x not in B1 and x not in B2 and len(T1) + len(B1) == c:
                B1.pop(0)
            elif len(T1) + len(T2) + len(B1) + len(B2) == 2 * c and x not in B1 and x not in B2:
                B2.pop(0)
        if x not in B1 and x not in B2:
            T1.append(x)
        elif x in B1:
            p = min(p + max(1, len(B2) / len(B1)), c)
            B1.remove(x)
            T2.append(x)
        else:
            p = max(p - max(1, len(B1) / len(B2)), 0)
            B2.remove(x)
            T2.append(x)
        bit[x] = 0
        resident.append(set(T1) | set(T2))
    return hits, resident


def ref_2q(pages, c, kin=0.25, kout=0.5):
    """Johnson & Shasha, VLDB 1994, Full 2Q (reclaimfor and the on-access rules)."""
    Kin = math.floor(Fraction(kin).limit_denominator(10**6) * c)
    Kout = math.floor(Fraction(kout).limit_denominator(10**6) * c)
    A1in, Am, A1out = [], [], []
    hits, resident = [], []

    def page_out_a1in():
        y = A1in.pop(0)
        A1out.append(y)
        if len(A1out) > Kout:
            A1out.pop(0)

    def reclaimfor():
        if len(A1in) + len(Am) < c:
            return  # a free page slot
        if len(A1in) > Kin:
            page_out_a1in()
        elif Am:
            Am.pop(0)  # not remembered on A1out
        else:
            page_out_a1in()  # convention: Am empty (only when kin = 1)

    for x in pages:
        if x in Am:
            hits.append(True)
            Am.remove(x)
            Am.append(x)
        elif x in A1in:
            hits.append(True)
        elif x in A1out:
            hits.append(False)
            reclaimfor()
            if x in A1out:
                A1out.remove(x)
            Am.append(x)
        else:
            hits.append(False)
            reclaimfor()
            A1in.append(x)
        resident.append(set(A1in) | set(Am))
    return hits, resident


def ref_s3fifo(pages, c, small_ratio=0.1, move_to_main_threshold=2):
    """Yang et al., SOSP 2023, Algorithm 1, one eviction per miss (M's overflow trimmed next time)."""
    s_share = Fraction(small_ratio).limit_denominator(10**6) * c
    g_cap = math.floor(c - s_share)
    S, M, G = [], [], []
    freq = {}
    hits, resident = [], []

    def evict_m():
        while M:
            t = M.pop(0)
            if freq[t] > 0:
                freq[t] -= 1
                M.append(t)
            else:
                return True
        return False

    def evict_s():
        while S:
            t = S.pop(0)
            if freq[t] >= move_to_main_threshold:
                M.append(t)
                freq[t] = 0
            else:
                G.append(t)
                if len(G) > g_cap:
                    G.pop(0)
                return True
        return False

    for x in pages:
        if x in S or x in M:
            hits.append(True)
            freq[x] = min(freq[x] + 1, 3)
            resident.append(set(S) | set(M))
            continue
        hits.append(False)
        if len(S) + len(M) == c:
            if len(S) >= s_share:
                evict_s() or evict_m()
            else:
                evict_m() or evict_s()
        if x in G:
            G.remove(x)
            M.append(x)
        else:
            S.append(x)
        freq[x] = 0
        resident.append(set(S) | set(M))
    return hits, resident


REFS = {"arc": ref_arc, "car": ref_car, "2q": ref_2q, "s3fifo": ref_s3fifo}
OURS = sorted(REFS)

# --------------------------------------------------------------------------- simulator side


def lean(frames):
    return MachineConfig(frames=frames, tlb_entries=0)


def sim_faults(pages, k, policy):
    stats = simulate(Workload.from_pages(pages), policy, config=lean(k))
    assert stats.accesses == len(pages) and stats.hits + stats.misses == stats.accesses
    return stats.misses


def sim_stepwise(pages, k, policy, writes=None):
    """Step reference by reference: the hit flag of each and the resident pages (vpns) after it."""
    sim = Simulator(Workload.from_pages(pages, writes=writes), lean(k), policy)
    st_ = sim.state
    hits, resident = [], []
    before = sim.stats()
    for j in range(len(pages)):
        assert not sim.advance(stop=j + 2)  # START at 0: reference j is at position j + 1
        now = sim.stats()
        assert now.accesses - before.accesses == 1
        hits.append(now.hits > before.hits)
        resident.append({int(st_.page_vpn[g]) for g in st_.frame_page if g >= 0})
        before = now
    sim.advance()
    assert sim.done
    return hits, resident


def compare(pages, k, name, writes=None, **params):
    ref_hits, ref_resident = REFS[name](pages, k, **params)
    hits, resident = sim_stepwise(pages, k, policies.make(name, **params), writes)
    assert hits.count(False) == ref_hits.count(False)
    assert hits == ref_hits
    assert resident == ref_resident


traces = st.lists(st.integers(0, 20), max_size=300)
frame_counts = st.integers(1, 8)


@st.composite
def traces_with_writes(draw, pages=traces):
    p = draw(pages)
    return p, draw(st.lists(st.booleans(), min_size=len(p), max_size=len(p)))


# --------------------------------------------------------------------------- 1. against the references


@pytest.mark.parametrize("name", OURS)
@settings(max_examples=100, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_matches_reference(name, tw, k):
    pages, writes = tw
    compare(pages, k, name, writes)


@pytest.mark.parametrize("name", OURS)
def test_matches_reference_on_skewed_traces(name):
    # long Zipf-like traces reach the states short random lists rarely do (promotions, ghost hits, adaptation)
    for seed in range(40):
        rng = np.random.default_rng(seed)
        k, n = int(rng.integers(2, 13)), int(rng.integers(3, 40))
        w = 1.0 / np.arange(1, n + 1) ** rng.uniform(0.3, 1.2)
        pages = [int(x) for x in rng.choice(n, size=500, p=w / w.sum())]
        compare(pages, k, name)


@pytest.mark.parametrize("name", ["arc", "car"])
@settings(max_examples=60, deadline=None)
@given(pages=st.lists(st.integers(0, 60), max_size=600), k=st.integers(5, 24))
def test_adaptive_target_matches_on_longer_traces(name, pages, k):
    # larger ghost lists: the target p takes fractional values (|B2|/|B1| etc.)
    compare(pages, k, name)


@settings(max_examples=80, deadline=None)
@given(
    pages=traces,
    k=frame_counts,
    kin=st.sampled_from([0, 0.1, 0.25, 0.5, 1.0]),
    kout=st.sampled_from([0, 0.25, 0.5, 1.0, 2.0]),
)
def test_2q_parameters_match_reference(pages, k, kin, kout):
    compare(pages, k, "2q", kin=kin, kout=kout)


@settings(max_examples=80, deadline=None)
@given(
    pages=traces,
    k=st.integers(1, 12),
    ratio=st.sampled_from([0, 0.1, 0.25, 0.5, 1.0]),
    threshold=st.integers(1, 3),
)
def test_s3fifo_parameters_match_reference(pages, k, ratio, threshold):
    compare(pages, k, "s3fifo", small_ratio=ratio, move_to_main_threshold=threshold)


def test_reference_examples_by_hand():
    # ARC, c = 2: 1 2 -> T1 = [1, 2]; 1 -> T2 = [1]; 3: L1 = 1 < c, total = 3 >= c, REPLACE takes the
    # LRU of T1 (|T1| = 1 > p = 0) = 2 -> B1; 2: hit in B1 -> p = 1, REPLACE: |T1| = 1 = p and 2 is not
    # in B2, so the LRU of T2 (1) goes to B2, 2 joins T2.
    hits, res = ref_arc([1, 2, 1, 3, 2], 2)
    assert hits == [False, False, True, False, False]
    assert res[-1] == {3, 2}
    assert sim_stepwise([1, 2, 1, 3, 2], 2, "arc") == (hits, res)
    # 2Q, 4 frames (Kin = 1, Kout = 2): 1 2 3 4 fill A1in; 5 pages out 1 (A1out = [1]); 1 comes back into
    # Am after paging out 2; 1 then hits in Am.
    hits, res = ref_2q([1, 2, 3, 4, 5, 1, 1], 4)
    assert hits == [False] * 6 + [True]
    assert res[-1] == {3, 4, 5, 1}
    assert sim_stepwise([1, 2, 3, 4, 5, 1, 1], 4, "2q") == (hits, res)
    # S3-FIFO, 10 frames (S share 1): pages hit twice while in S move to M when S is scanned.
    pages = list(range(10)) + [0, 0] + [10, 11, 12]
    hits, res = ref_s3fifo(pages, 10)
    assert 0 in res[-1] and 1 not in res[-1]
    assert sim_stepwise(pages, 10, "s3fifo") == (hits, res)


# --------------------------------------------------------------------------- 2. properties from the papers

LOOP = list(range(110)) * 10  # a loop slightly larger than memory


@pytest.mark.parametrize("name", ["lru", "fifo"])
def test_loop_defeats_lru_and_fifo(name):
    assert sim_faults(LOOP, 100, name) == len(LOOP)


@pytest.mark.parametrize("name", ["2q", "s3fifo"])
def test_loop_does_not_defeat_2q_and_s3fifo(name):
    # pages paged out of A1in / S come back through the ghost queue into Am / M and stay there
    faults = sim_faults(LOOP, 100, name)
    assert faults == REFS[name](LOOP, 100)[0].count(False)
    assert faults < 0.5 * len(LOOP)


def test_s3fifo_loop_of_1200_pages_over_1000_frames():
    """Issue 19: 600k references of a 1,200-page loop. Checked with libCacheSim 0.3.5: its S3FIFOv0 (the
    implementation behind the paper's results) also misses 177,140 times; its S3FIFO (the default since
    2024) 277,460, because while the cache first fills it sends new pages to M once S is full, where
    Algorithm 1 and S3FIFOv0 insert them into S (the warm-up case below)."""
    assert sim_faults(np.tile(np.arange(1200), 500), 1000, "s3fifo") == 177_140


def test_s3fifo_warm_up_inserts_into_s_as_algorithm_1():
    """20 frames (S share 2): 0-19 all enter S, 20-22 evict 0-2 from S, 20 is still in S: a hit.

    libCacheSim's S3FIFO puts 2-19 into M once S holds 2 pages, so 20-22 evict 0, 1 and 20 from S and
    the last 20 misses (24 misses; 23 in its S3FIFOv0, as here)."""
    pages = [*range(23), 20]
    assert ref_s3fifo(pages, 20)[0].count(False) == 23
    assert sim_faults(pages, 20, "s3fifo") == 23


def test_s3fifo_ghost_is_checked_after_the_eviction_as_algorithm_1():
    """G is looked up after the eviction that makes room (Algorithm 1's INSERT), not at the lookup.

    20 frames, G holds 18 ids: 0-19 fill S, 20-37 evict 0-17 into G (full). 0 misses: the eviction of
    18 pushes 0, G's oldest, out, so 0 enters S (libCacheSim, S3FIFO and S3FIFOv0 alike, finds 0 in G
    at the lookup and puts it in M). 38-57 then evict 19-37 and 0 from S; the last 0 misses here (60
    misses) and hits in M in libCacheSim (59)."""
    pages = [*range(38), 0, *range(38, 58), 0]
    assert ref_s3fifo(pages, 20)[0].count(False) == 60
    assert sim_faults(pages, 20, "s3fifo") == 60


@pytest.mark.parametrize("name", ["arc", "car"])
def test_loop_defeats_arc_and_car_too(name):
    # Checked, not assumed: on a pure loop every page is seen once per pass, T1 fills the whole cache,
    # Case IV(A) (|T1| = c) discards T1's LRU page without a ghost, B1/B2 stay empty, p never moves:
    # ARC (and CAR, lines 6-7) behave exactly like LRU / FIFO here and miss on every access.
    assert REFS[name](LOOP, 100)[0].count(False) == len(LOOP)
    assert sim_faults(LOOP, 100, name) == len(LOOP)


def _hot_and_scan(rounds=20, hot=60, scan=100):
    """A hot set referenced twice per round, then a one-time scan of new pages."""
    out, nxt = [], 1000
    for _ in range(rounds):
        out += list(range(hot)) * 2 + list(range(nxt, nxt + scan))
        nxt += scan
    return out


@pytest.mark.parametrize("name", ["arc", "car", "s3fifo"])
def test_scan_resistance(name):
    # LRU loses the hot set to every scan; ARC/CAR keep it in T2, S3-FIFO in M.
    trace = _hot_and_scan()
    lru = sim_faults(trace, 100, "lru")
    assert lru == 20 * 160
    faults = sim_faults(trace, 100, name)
    assert faults == REFS[name](trace, 100)[0].count(False)
    assert faults < 0.7 * lru
    if name in ("arc", "car"):
        assert faults == 60 + 20 * 100  # the hot set misses only on its first round


# --------------------------------------------------------------------------- 3. whole machine


def _machine_workload(seed):
    """Processes with pinned memory, munmap and remap (page ids reused), fork, shm and file mappings."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("adaptive")
    wb.shm("ipc", 4)
    wb.file("data", 6)
    a = wb.process("a")
    a.map(Vma(0, 10, "rw"))
    a.map(Vma(20, 2, "rw"))
    a.mlock(20)
    a.map(Vma(30, 4, "rw", obj="ipc", shared=True))
    a.map(Vma(40, 6, "rw", obj="data", shared=False))
    a.access_pages(np.array([20, 21]), [True, True])
    a.access_pages(rng.integers(0, 10, 120), rng.random(120) < 0.4)
    a.access_pages(40 + rng.integers(0, 6, 60), rng.random(60) < 0.3)
    a.munmap(0)
    a.map(Vma(50, 8, "rw"))
    mixed = np.where(rng.random(120) < 0.3, 30 + rng.integers(0, 4, 120), 50 + rng.integers(0, 8, 120))
    a.access_pages(mixed)
    child = a.fork()
    child.access_pages(50 + rng.integers(0, 8, 60), True)
    child.access_pages(40 + rng.integers(0, 6, 30), rng.random(30) < 0.5)
    a.munlock(20)
    a.access_pages(50 + rng.integers(0, 8, 60))
    b = wb.process("b")
    b.map(Vma(0, 12, "rw"))
    b.map(Vma(30, 4, "rw", obj="ipc", shared=True))
    b.map(Vma(40, 6, "r", obj="data", shared=True))
    b.access_pages(np.where(rng.random(150) < 0.3, 30 + rng.integers(0, 4, 150), rng.integers(0, 12, 150)))
    b.access_pages(40 + rng.integers(0, 6, 40))
    return wb.build()


def _walk(rows, heads, h, r=0):
    """Items of an intrusive list from head (newest) to tail, checking the back links."""
    out, x, prev = [], heads[h], -1
    while x >= 0:
        assert rows[r, x] == prev
        out.append(int(x))
        prev, x = x, rows[r + 1, x]
        assert len(out) <= rows.shape[1]
    assert heads[h + 1] == prev
    return out


def check_policy_state(name, st_):
    """The policy's lists hold exactly the resident frames; ghosts are non-resident and bounded."""
    c = st_.frame_page.shape[0]
    resident = {int(f) for f in np.flatnonzero(st_.frame_page >= 0)}
    f_, p_, g_ = st_.pol_f, st_.pol_p, st_.pol_g
    if name in ("arc", "car"):
        t1, t2 = _walk(f_, g_, 0), _walk(f_, g_, 2)
        b1, b2 = _walk(p_, g_, 4), _walk(p_, g_, 6)
        assert [len(t1), len(t2), len(b1), len(b2)] == list(g_[8:12])
        assert set(t1) | set(t2) == resident and len(t1) + len(t2) == len(resident)
        assert all(f_[2, f] == 1 for f in t1) and all(f_[2, f] == 2 for f in t2)
        assert all(p_[2, g] & 3 == 1 for g in b1) and all(p_[2, g] & 3 == 2 for g in b2)
        assert all(st_.page_frame[g] < 0 for g in b1 + b2)
        assert len(t1) + len(b1) <= c and len(t1) + len(t2) + len(b1) + len(b2) <= 2 * c
        p = get_real(g_, 12)
        assert 0 <= p <= c
    elif name == "2q":
        a1in, am, a1out = _walk(f_, g_, 0), _walk(f_, g_, 2), _walk(p_, g_, 4)
        assert set(a1in) | set(am) == resident and len(a1in) + len(am) == len(resident)
        assert g_[6] == len(a1in) and g_[7] == len(a1out) <= g_[9]
        assert all(st_.page_frame[g] < 0 for g in a1out)
    else:
        s, m, g = _walk(f_, g_, 0), _walk(f_, g_, 2), _walk(p_, g_, 4)
        assert set(s) | set(m) == resident and len(s) + len(m) == len(resident)
        assert [len(s), len(m), len(g)] == list(g_[6:9]) and len(g) <= g_[10]
        assert all(0 <= f_[3, f] <= 3 for f in resident)
        assert all(st_.page_frame[x] < 0 for x in g)


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("frames", [3, 6])
def test_pinned_pages_and_policy_state(name, seed, frames):
    sim = Simulator(_machine_workload(seed), MachineConfig(frames=frames, swap_slots=64, quantum=5), name)
    st_ = sim.state
    while not sim.done:
        sim.advance(stop=sim.position + 5)
        sim.check_invariants()
        check_policy_state(name, st_)
        pinned = np.flatnonzero(st_.page_pins > 0)
        assert (st_.page_frame[pinned] >= 0).all()
    anon = st_.page_kind == 0
    assert (st_.pol_p[2, anon] == 0).all()  # freed pages left every ghost list
    assert sim.stats().accesses > 0


PRIV = Vma(0, 6, "rw")
SHM = Vma(20, 4, "rw", obj="ipc", shared=True)
FILE_PRIV = Vma(40, 4, "rw", obj="data", offset=2, shared=False)


@st.composite
def machine_runs(draw):
    wb = WorkloadBuilder("random")
    wb.shm("ipc", 4)
    wb.file("data", 8)
    for k in range(draw(st.integers(1, 3))):
        proc = wb.process(f"p{k}", start=draw(st.integers(0, 10)))
        for v in (PRIV, SHM, FILE_PRIV):
            proc.map(v)
        for _ in range(draw(st.integers(1, 4))):
            vmas = draw(st.lists(st.sampled_from([PRIV, SHM, FILE_PRIV]), min_size=1, max_size=30))
            vpns = [v.start_vpn + draw(st.integers(0, v.pages - 1)) for v in vmas]
            ops = draw(st.lists(st.sampled_from([OP_READ, OP_WRITE]), min_size=len(vpns), max_size=len(vpns)))
            proc.access(np.array(vpns) * 4096, np.array(ops))
            event = draw(st.sampled_from(["mlock", "munlock", "fork", "none"]))
            if event == "mlock":
                proc.mlock(draw(st.sampled_from([PRIV.start_vpn, SHM.start_vpn])))
            elif event == "munlock":
                proc.munlock(PRIV.start_vpn)
            elif event == "fork":
                child = proc.fork()
                child.access(np.array(vpns) * 4096, OP_WRITE)
    config = MachineConfig(
        frames=draw(st.integers(2, 8)), swap_slots=draw(st.integers(0, 12)), quantum=draw(st.integers(1, 6))
    )
    return wb.build(), config


@pytest.mark.parametrize("name", OURS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=machine_runs())
def test_random_machines_keep_policy_state_consistent(name, run):
    workload, config = run
    sim = Simulator(workload, config, name)
    try:
        while not sim.done:
            sim.advance(stop=sim.position + 3)
            sim.check_invariants()
            check_policy_state(name, sim.state)
    except OutOfMemory:
        sim.check_invariants()


# --------------------------------------------------------------------------- 4. parameters


def test_registered_with_aliases():
    assert policies.get_class("two-queue") is policies.get_class("2q")
    assert policies.get_class("s3-fifo") is policies.get_class("s3fifo")
    assert {policies.get_class(n).kernel_id for n in OURS} == {20, 21, 22, 23}


@pytest.mark.parametrize(
    ("name", "params", "bad"),
    [
        ("2q", {"kin": 1.5}, "kin"),
        ("2q", {"kin": -0.1}, "kin"),
        ("2q", {"kout": "half"}, "kout"),
        ("2q", {"kout": float("inf")}, "kout"),
        ("2q", {"kin": True}, "kin"),
        ("s3fifo", {"small_ratio": 2}, "small_ratio"),
        ("s3fifo", {"small_ratio": float("nan")}, "small_ratio"),
        ("s3fifo", {"move_to_main_threshold": 0}, "move_to_main_threshold"),
        ("s3fifo", {"move_to_main_threshold": 2.0}, "move_to_main_threshold"),
        ("arc", {"p": 1}, "p"),
    ],
)
def test_bad_parameters_are_named(name, params, bad):
    with pytest.raises(policies.PolicyError, match=bad):
        policies.make(name, **params)


def test_sizes_from_ratios():
    sim = Simulator(Workload.from_pages([1]), lean(30), policies.make("s3fifo"))
    assert list(sim.state.pol_g[9:12]) == [3, 27, 2]  # S share ceil(0.1 * 30) = 3 (not 4), G = 27
    sim = Simulator(Workload.from_pages([1]), lean(30), policies.make("2q", kin=0.29, kout=0.5))
    assert list(sim.state.pol_g[8:10]) == [8, 15]  # floor(0.29 * 30) = 8, floor(15)
