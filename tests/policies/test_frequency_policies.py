"""LFU, LRU-K, Random, NFU, Aging, NRU and SIEVE against tiny pure-Python references.

Setting (as in ``test_reference.py``): one process, private anonymous pages
(``Workload.from_pages``), no TLB. The trace has START at position 0, so
reference ``j`` is at global trace position ``j + 1``; frames start empty and
free frames are used lowest index first, so a page evicted from frame ``f`` is
replaced in frame ``f``. Each reference returns ``(hits, frames)``.

Shared conventions of the references below:

- R bit (NFU, Aging, NRU): set by every access, including the faulting one.
- Clock tick (NFU, Aging, NRU): right after reference ``j`` when ``(j + 1) % period == 0``
  (the global position reaches a multiple of ``period``), after that reference's own R bit.
- M bit (NRU): any write since the page was loaded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import run_busy, sim_stepwise

from vmgym import MachineConfig, Simulator, policies, simulate
from vmgym.policies import nru
from vmgym.sim import state as S
from workloads import Vma, Workload, WorkloadBuilder

M64 = (1 << 64) - 1


class SplitMix64:
    """splitmix64 (Steele, Lea & Flood 2014), the generator of ``random`` and ``nru``."""

    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def drive(pages, k, writes, ref):
    """Run reference policy object ``ref`` (hit / load / victim / after) over ``pages``."""
    writes = writes or [False] * len(pages)
    frames = [None] * k
    hits = []
    for j, (p, w) in enumerate(zip(pages, writes, strict=True)):
        if p in frames:
            hits.append(True)
            ref.hit(frames.index(p), p, j, w)
        else:
            hits.append(False)
            f = frames.index(None) if None in frames else ref.victim(frames)
            frames[f] = p
            ref.load(f, p, j, w)
        ref.after(frames, j)
    return hits, frames


class Ref:
    """Defaults: nothing to do."""

    def hit(self, f, p, j, w):
        pass

    def load(self, f, p, j, w):
        pass

    def after(self, frames, j):
        pass


class RefLFU(Ref):
    """Fewest accesses since load; ties: least recently accessed."""

    def __init__(self, k):
        self.count = [0] * k
        self.last = [0] * k

    def hit(self, f, p, j, w):
        self.count[f] += 1
        self.last[f] = j

    def load(self, f, p, j, w):
        self.count[f] = 1
        self.last[f] = j

    def victim(self, frames):
        return min(range(len(frames)), key=lambda f: (self.count[f], self.last[f]))


class RefLRUK(Ref):
    """Oldest K-th most recent reference; fewer than K references first (LRU among them).

    History is kept for every page, resident or not (the process never frees a page).
    """

    def __init__(self, k, K):
        self.K = K
        self.hist = {}  # page -> reference times, most recent first

    def hit(self, f, p, j, w):
        self.hist.setdefault(p, []).insert(0, j)

    load = hit

    def victim(self, frames):
        def key(f):
            h = self.hist[frames[f]]
            return (0, h[0]) if len(h) < self.K else (1, h[self.K - 1])

        return min(range(len(frames)), key=key)


class RefRandom(Ref):
    """Frame ``draw mod k`` (every frame is evictable here)."""

    def __init__(self, k, seed):
        self.rng = SplitMix64(seed)

    def victim(self, frames):
        return self.rng.next() % len(frames)


class RefTicking(Ref):
    """R bits, and a tick after reference ``j`` when ``(j + 1) % period == 0``."""

    def __init__(self, k, period):
        self.period = period
        self.R = [0] * k
        self.loaded = [0] * k

    def hit(self, f, p, j, w):
        self.R[f] = 1

    def load(self, f, p, j, w):
        self.R[f] = 1
        self.loaded[f] = j

    def after(self, frames, j):
        if (j + 1) % self.period == 0:
            for f in range(len(frames)):
                if frames[f] is not None:
                    self.tick(f)
                    self.R[f] = 0


class RefNFU(RefTicking):
    """Smallest counter; ties: loaded earliest."""

    def __init__(self, k, period):
        super().__init__(k, period)
        self.counter = [0] * k

    def load(self, f, p, j, w):
        super().load(f, p, j, w)
        self.counter[f] = 0

    def tick(self, f):
        self.counter[f] += self.R[f]

    def victim(self, frames):
        return min(range(len(frames)), key=lambda f: (self.counter[f], self.loaded[f]))


class RefAging(RefNFU):
    """NFU with a ``bits``-wide shift register instead of a counter."""

    def __init__(self, k, period, bits):
        super().__init__(k, period)
        self.bits = bits

    def tick(self, f):
        self.counter[f] = (self.counter[f] >> 1) | (self.R[f] << (self.bits - 1))


class RefNRU(RefTicking):
    """Lowest class 2R + M; uniform in it: ``draw mod size``, in frame order."""

    def __init__(self, k, period, seed):
        super().__init__(k, period)
        self.M = [0] * k
        self.rng = SplitMix64(seed)

    def hit(self, f, p, j, w):
        super().hit(f, p, j, w)
        self.M[f] |= w

    def load(self, f, p, j, w):
        super().load(f, p, j, w)
        self.M[f] = int(w)

    def tick(self, f):
        pass

    def victim(self, frames):
        cls = [2 * self.R[f] + self.M[f] for f in range(len(frames))]
        low = [f for f in range(len(frames)) if cls[f] == min(cls)]
        return low[self.rng.next() % len(low)]


class RefSieve(Ref):
    """Algorithm 1 of the SIEVE paper, on a Python list (index 0: head, the newest)."""

    def __init__(self, k):
        self.queue = []
        self.visited = {}
        self.hand = None

    def hit(self, f, p, j, w):
        self.visited[p] = True

    def load(self, f, p, j, w):
        self.queue.insert(0, p)
        self.visited[p] = False

    def victim(self, frames):
        q = self.queue
        o = self.hand if self.hand is not None else q[-1]
        while self.visited[o]:
            self.visited[o] = False
            i = q.index(o)
            o = q[i - 1] if i > 0 else q[-1]  # prev = toward the head; past the head: the tail
        i = q.index(o)
        self.hand = q[i - 1] if i > 0 else None
        q.remove(o)
        return frames.index(o)


def reference(name, nframes, **params):
    """A fresh reference policy for ``policies.make(name, **params)`` with ``nframes`` frames."""
    v = {**policies.get_class(name).params, **params}
    if name == "lfu":
        return RefLFU(nframes)
    if name == "lru-k":
        return RefLRUK(nframes, v["k"])
    if name == "random":
        return RefRandom(nframes, v["seed"])
    if name == "nfu":
        return RefNFU(nframes, v["period"])
    if name == "aging":
        return RefAging(nframes, v["period"], v["bits"])
    if name == "nru":
        return RefNRU(nframes, v["period"], v["seed"])
    if name == "sieve":
        return RefSieve(nframes)
    raise KeyError(name)


def ref_run(name, pages, nframes, writes=None, **params):
    return drive(list(pages), nframes, writes, reference(name, nframes, **params))


# --------------------------------------------------------------------------- simulator side


def lean(frames):
    return MachineConfig(frames=frames, tlb_entries=0)


def sim_faults(pages, k, policy, writes=None):
    stats = simulate(Workload.from_pages(pages, writes=writes), policy, config=lean(k))
    assert stats.accesses == len(pages) and stats.hits + stats.misses == stats.accesses
    return stats.faults


traces = st.lists(st.integers(0, 20), max_size=300)
frame_counts = st.integers(1, 8)


@st.composite
def traces_with_writes(draw):
    pages = draw(traces)
    writes = draw(st.lists(st.booleans(), min_size=len(pages), max_size=len(pages)))
    return pages, writes


@st.composite
def policy_params(draw):
    """A policy of this module with random parameters."""
    name = draw(st.sampled_from(["lfu", "lru-k", "random", "nfu", "aging", "nru", "sieve"]))
    params = {}
    if name == "lru-k":
        params["k"] = draw(st.integers(1, 4))
    if name in ("random", "nru"):
        params["seed"] = draw(st.one_of(st.integers(0, 10), st.integers(0, M64)))
    if name in ("nfu", "aging", "nru"):
        params["period"] = draw(st.one_of(st.integers(1, 8), st.just(1000)))
    if name == "aging":
        params["bits"] = draw(st.integers(1, 10))
    return name, params


# --------------------------------------------------------------------------- 1. against the references


@settings(max_examples=100, deadline=None)
@given(pp=policy_params(), tw=traces_with_writes(), k=frame_counts)
def test_hit_sequence_and_frames_match_reference(pp, tw, k):
    name, params = pp
    pages, writes = tw
    ref_hits, ref_frames = ref_run(name, pages, k, writes, **params)
    hits, frames = sim_stepwise(pages, k, policies.make(name, **params), writes)
    assert hits == ref_hits
    assert frames == ref_frames


@pytest.mark.parametrize("name", ["lfu", "lru-k", "random", "nfu", "aging", "nru", "sieve"])
@settings(max_examples=60, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_fault_count_matches_reference(name, tw, k):
    pages, writes = tw
    ref_hits, _ = ref_run(name, pages, k, writes)
    assert sim_faults(pages, k, name, writes) == ref_hits.count(False)


# --------------------------------------------------------------------------- 2. worked examples


def test_lfu_keeps_the_frequent_page():
    # 1 is used twice; at 4 the least frequent are 2 and 3 (count 1), and 2 is the least
    # recently used of them (LRU would evict 1, the least recently used overall).
    pages = [1, 1, 2, 3, 4, 1]
    expected = ([False, True, False, False, False, True], [1, 4, 3])
    assert ref_run("lfu", pages, 3) == expected
    assert sim_stepwise(pages, 3, "lfu") == expected
    assert sim_faults(pages, 3, "lru") == 5


def test_lru2_resists_a_scan():
    # 1 and 2 have two references each; the scan pages 3, 4, 5 have one (infinite
    # backward 2-distance) and are evicted first: 5 faults (LRU: 7).
    pages = [1, 2, 1, 2, 3, 4, 5, 1, 2]
    hits, frames = sim_stepwise(pages, 3, "lru2")
    assert hits == [False, False, True, True, False, False, False, True, True]
    assert frames == [1, 2, 5]
    assert sim_faults(pages, 3, "lru") == 7


@settings(max_examples=60, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_lru1_is_lru(tw, k):
    pages, writes = tw
    assert sim_stepwise(pages, k, policies.make("lru-k", k=1), writes) == sim_stepwise(
        pages, k, "lru", writes
    )


def test_sieve_by_hand():
    # 1 2 3 fill frames 0-2 (queue head->tail: 3 2 1); 1 hit (visited). 4: hand null -> tail 1,
    # visited: clear, move to 2 -> evict 2 (frame 1), hand -> 3. 5: 3 unvisited -> evicted
    # (frame 2), hand -> 4. 1 hit. 6: hand at 4, unvisited -> evicted (frame 1).
    # FIFO would fault 7 times.
    pages = [1, 2, 3, 1, 4, 5, 1, 6]
    expected = ([False, False, False, True, False, False, True, False], [1, 6, 5])
    assert ref_run("sieve", pages, 3) == expected
    assert sim_stepwise(pages, 3, "sieve") == expected
    assert sim_faults(pages, 3, "fifo") == 7


# Tanenbaum & Bos, MOS 4e, Fig. 3-17: R bits of pages 0-5 at clock ticks 0-4, and the registers after each.
TANENBAUM_R = [
    [1, 0, 1, 0, 1, 1],
    [1, 1, 0, 0, 1, 0],
    [1, 1, 0, 1, 0, 1],
    [1, 0, 0, 0, 1, 0],
    [0, 1, 1, 0, 0, 0],
]
TANENBAUM_REG = [
    [0b10000000, 0b00000000, 0b10000000, 0b00000000, 0b10000000, 0b10000000],
    [0b11000000, 0b10000000, 0b01000000, 0b00000000, 0b11000000, 0b01000000],
    [0b11100000, 0b11000000, 0b00100000, 0b10000000, 0b01100000, 0b10100000],
    [0b11110000, 0b01100000, 0b00010000, 0b01000000, 0b10110000, 0b01010000],
    [0b01111000, 0b10110000, 0b10001000, 0b00100000, 0b01011000, 0b00101000],
]


def test_aging_tanenbaum_figure():
    # period 6: loading pages 0-5 (positions 1-6) ends with a tick that gives every page
    # 10000000; then each period of 6 references touches exactly the pages with R = 1 in
    # the figure (padded by repeats), so after tick t the registers are the figure's plus
    # that first bit, shifted t + 1 places. Then page 6 faults: page 3 (smallest) goes.
    # (The book's values are the registers of the figure, columns (a)-(e).)
    period = 6
    pages = list(range(6))
    for rbits in TANENBAUM_R:
        touched = [p for p in range(6) if rbits[p]]
        pages += touched + [touched[-1]] * (period - len(touched))
    pages += [6]
    sim = Simulator(Workload.from_pages(pages), lean(6), policies.make("aging", period=period, bits=8))
    for t, regs in enumerate(TANENBAUM_REG):
        sim.advance(stop=1 + period * (t + 2))
        assert list(sim.state.pol_f[0]) == [r | 0x80 >> (t + 1) for r in regs]
    hits, frames = sim_stepwise(pages, 6, policies.make("aging", period=period, bits=8))
    assert frames == [0, 1, 2, 6, 4, 5]
    assert hits[-1] is False and all(hits[6:-1])
    assert drive(pages, 6, None, RefAging(6, period, 8)) == (hits, frames)


def test_nfu_counts_ticks_with_r_set():
    # period 2: ticks after positions 2, 4, 6 (references 1, 3, 5); page 1 is referenced in
    # every period, page 2 only in the first: counters 3 and 1; page 3 loads at reference 5
    # and the tick right after it counts its faulting access: 1. Then 4 faults: pages 2 and 3
    # tie at 1 and 2 (loaded earlier) goes.
    pages = [1, 2, 1, 1, 1, 3, 4]
    sim = Simulator(Workload.from_pages(pages), lean(3), policies.make("nfu", period=2))
    sim.advance(stop=7)
    assert list(sim.state.pol_f[0]) == [3, 1, 1]
    hits, frames = sim_stepwise(pages, 3, policies.make("nfu", period=2))
    assert frames == [1, 4, 3]
    assert (hits, frames) == ref_run("nfu", pages, 3, period=2)


def test_nru_prefers_clean_unreferenced_pages():
    # period 3: after the tick at position 3 every R bit is clear; 1 was written (class 1),
    # 2 and 3 clean (class 0, 3 is re-referenced: class 2). 4 must evict 2 (only class 0 page).
    pages = [1, 2, 3, 3, 4]
    writes = [True, False, False, False, False]
    for seed in range(5):
        hits, frames = sim_stepwise(pages, 3, policies.make("nru", period=3, seed=seed), writes)
        assert frames == [1, 4, 3]
        assert (hits, frames) == ref_run("nru", pages, 3, writes, period=3, seed=seed)


# --------------------------------------------------------------------------- 3. random: reproducibility


def test_random_is_reproducible_and_seeded():
    rng = np.random.default_rng(1)
    pages = rng.integers(0, 30, 2000)
    faults = {seed: sim_faults(pages, 8, policies.make("random", seed=seed)) for seed in range(6)}
    assert faults[3] == sim_faults(pages, 8, policies.make("random", seed=3))
    assert len(set(faults.values())) > 1
    assert ref_run("random", pages, 8, seed=5)[0].count(False) == faults[5]


def test_splitmix64_known_values():
    # First outputs of splitmix64 seeded with 0 (reference values of the C implementation).
    rng = SplitMix64(0)
    assert [rng.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


# --------------------------------------------------------------------------- 4. whole-machine runs

OURS = ["lfu", "lru-k", "random", "nfu", "aging", "nru", "sieve"]


def _pinned_workload(seed):
    """Two processes: pinned memory, munmap + remap (page ids reused), fork, shared memory."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("pinned")
    wb.shm("ipc", 4)
    a = wb.process("a")
    a.map(Vma(0, 10, "rw"))
    a.map(Vma(20, 2, "rw"))
    a.mlock(20)
    a.map(Vma(30, 4, "rw", obj="ipc", shared=True))
    a.access_pages(np.array([20, 21]), [True, True])
    a.access_pages(rng.integers(0, 10, 120), rng.random(120) < 0.4)
    a.munmap(0)
    a.map(Vma(40, 8, "rw"))
    a.access_pages(
        np.where(rng.random(120) < 0.3, 30 + rng.integers(0, 4, 120), 40 + rng.integers(0, 8, 120))
    )
    child = a.fork()
    child.access_pages(40 + rng.integers(0, 8, 60), True)
    b = wb.process("b")
    b.map(Vma(0, 12, "rw"))
    b.map(Vma(30, 4, "rw", obj="ipc", shared=True))
    b.access_pages(np.where(rng.random(150) < 0.3, 30 + rng.integers(0, 4, 150), rng.integers(0, 12, 150)))
    return wb.build()


def _lfu_frames(st_):
    """Frames on LFU's bucket lists (checking the frequency order), and the free-node count."""
    pf, out, freq = st_.pol_f, set(), 0
    b = st_.pol_g[0]
    nodes = 0
    while b >= 0:
        assert pf[5, b] > freq
        freq = pf[5, b]
        nodes += 1
        f = pf[6, b]
        while f >= 0:
            assert pf[2, f] == b
            out.add(int(f))
            f = pf[1, f]
        b = pf[4, b]
    free, b = 0, st_.pol_g[1]
    while b >= 0:
        free += 1
        b = pf[8, b]
    assert nodes + free == st_.n_frames
    return out


def _sieve_frames(st_):
    out, f = set(), st_.pol_g[0]
    while f >= 0:
        out.add(int(f))
        f = st_.pol_f[1, f]
    hand = st_.pol_g[2]
    assert hand == -1 or hand in out
    return out


def _order_list(st_):
    """NFU's / Aging's order list, checked (links, eviction order, last key-0 frame); its frames."""
    pf, pg = st_.pol_f, st_.pol_g
    out, prev, z, f = [], -1, -1, pg[2]
    while f >= 0:
        assert pf[1, f] == prev
        out.append(int(f))
        if pf[0, f] == 0:
            z = f
        prev, f = f, pf[2, f]
    assert pg[3] == prev and pg[4] == z
    keys = [(int(pf[0, f]), int(st_.frame_in[f]), f) for f in out]
    assert keys == sorted(keys)
    return out


def _referenced(st_, g):
    p = st_.page_rmap[g]
    while p >= 0:
        if st_.pte_flags[p] & S.PTE_ACCESSED:
            return True
        p = st_.pte_rmap_next[p]
    return False


def _nru_frames(st_, position):
    """NRU's classes against the machine (R, M, pins) and its trees against its classes; its frames."""
    cls, pg = st_.pol_f[0], st_.pol_g
    n = st_.n_frames
    k = np.arange(1, n + 1)
    for c in range(4):
        members = cls == c
        assert pg[3 + c] == members.sum()
        cum = np.concatenate([[0], np.cumsum(members)])
        assert (st_.pol_f[1 + c] == cum[k] - cum[k - (k & -k)]).all()  # Fenwick: sum of (k - lowbit, k]
    pins_known = position <= pg[nru.NEXT_LOCK]  # no mlock/munlock since the last fault re-read them
    for f in np.flatnonzero(cls != nru.ABSENT):
        g = st_.frame_page[f]
        if pins_known:
            assert (cls[f] == nru.PINNED) == (st_.page_pins[g] > 0)
        if cls[f] < nru.PINNED:
            assert cls[f] >> 1 == _referenced(st_, g)
            if f != pg[nru.LAST]:  # the frame loaded last may have been written by its faulting access
                assert cls[f] & 1 == st_.page_dirty[g]
    return {int(f) for f in np.flatnonzero(cls != nru.ABSENT)}


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pinned_pages_stay_and_structures_track_frames(name, seed):
    sim = Simulator(_pinned_workload(seed), MachineConfig(frames=6, swap_slots=64, quantum=5), name)
    st_ = sim.state
    while not sim.done:
        sim.advance(stop=sim.position + 7)
        sim.check_invariants()
        pinned = np.flatnonzero(st_.page_pins > 0)
        assert (st_.page_frame[pinned] >= 0).all()
        resident = {int(f) for f in np.flatnonzero(st_.frame_page >= 0)}
        if name == "lfu":
            assert _lfu_frames(st_) == resident
        if name == "sieve":
            assert _sieve_frames(st_) == resident
        if name == "lru-k":
            assert st_.pol_g[0] == len(resident)  # heap size
        if name in ("nfu", "aging"):
            assert set(_order_list(st_)) == resident
        if name == "nru":
            assert _nru_frames(st_, sim.position) == resident
    assert sim.stats().accesses > 0
    if name == "lru-k":
        anon = st_.page_kind == 0
        assert (st_.pol_p[:, anon] == -1).all()  # every process exited: freed pages forgot their history


def _check_order(sim):
    assert set(_order_list(sim.state)) == {int(f) for f in np.flatnonzero(sim.state.frame_page >= 0)}


def _check_nru(sim):
    assert _nru_frames(sim.state, sim.position) == {int(f) for f in np.flatnonzero(sim.state.frame_page >= 0)}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("nfu", {"period": 1}),
        ("nfu", {"period": 7}),
        ("aging", {"period": 2, "bits": 3}),
        ("aging", {"period": 5, "bits": 8}),
        ("nru", {"period": 3, "seed": 1}),
        ("nru", {"period": 20, "seed": 2}),
    ],
)
@pytest.mark.parametrize("frames", [3, 6, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_victim_structures_stay_consistent_in_a_busy_run(name, params, frames, seed):
    # fork/COW, shared memory, mlock, munmap, exits, a small swap device (full at times)
    check = _check_nru if name == "nru" else _check_order
    run_busy(policies.make(name, **params), frames, seed, check)


@pytest.mark.parametrize("name", OURS)
def test_speed_smoke(name):
    rng = np.random.default_rng(0)
    pages = (rng.zipf(1.3, 200_000) % 5000).astype(np.int64)
    stats = simulate(Workload.from_pages(pages), name, config=lean(500))
    assert stats.faults < len(pages)


# --------------------------------------------------------------------------- 5. parameters


@pytest.mark.parametrize(
    ("name", "params", "bad"),
    [
        ("lru-k", {"k": 0}, "k"),
        ("lru-k", {"k": "2"}, "k"),
        ("lru-k", {"k": True}, "k"),
        ("random", {"seed": -1}, "seed"),
        ("random", {"seed": 1 << 64}, "seed"),
        ("random", {"seed": 1.5}, "seed"),
        ("nfu", {"period": 0}, "period"),
        ("aging", {"period": 2.0}, "period"),
        ("aging", {"bits": 0}, "bits"),
        ("aging", {"bits": 63}, "bits"),
        ("nru", {"period": -1}, "period"),
        ("nru", {"seed": "x"}, "seed"),
    ],
)
def test_bad_parameter_value_is_named(name, params, bad):
    with pytest.raises(policies.PolicyError, match=bad):
        policies.make(name, **params)


def test_names_and_aliases():
    assert policies.make("lru2").values == {"k": 2}
    assert policies.make("LRU-K", k=3).page_rows == 3
    for name in OURS:
        assert policies.get_class(name).kernel_id in range(10, 20)
