"""The compiled policies against tiny, obviously-correct pure-Python references.

Setting: one process, private anonymous pages (``Workload.from_pages``), no TLB;
every reference is a demand access and a fault means the page was not resident.
Frames start empty and free frames are used lowest index first.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import sim_stepwise as stepwise

from vmgym import MachineConfig, policies, simulate
from vmgym.sim import ConfigError
from workloads import Workload, resolve

# --------------------------------------------------------------------------- references
#
# Each of fifo/lru/clock returns (hits, frames): ``hits[i]`` is True when reference i
# found its page resident, ``frames[f]`` is the page in frame f at the end (None: free).


def ref_fifo(pages, k):
    """Evict the page loaded longest ago; hits do not change the order."""
    frames = [None] * k
    loaded = []  # frame indices, oldest load first
    hits = []
    for p in pages:
        if p in frames:
            hits.append(True)
            continue
        hits.append(False)
        f = frames.index(None) if None in frames else loaded.pop(0)
        frames[f] = p
        loaded.append(f)
    return hits, frames


def ref_lru(pages, k):
    """Evict the least recently referenced page."""
    frames = [None] * k
    last = [-1] * k  # time of the last reference of the page in each frame
    hits = []
    for t, p in enumerate(pages):
        if p in frames:
            hits.append(True)
            f = frames.index(p)
        else:
            hits.append(False)
            f = frames.index(None) if None in frames else min(range(k), key=lambda g: last[g])
            frames[f] = p
        last[f] = t
    return hits, frames


def ref_clock(pages, k, insert_referenced=False):
    """Second chance: the hand clears set bits and evicts the first frame found clear."""
    frames = [None] * k
    bit = [0] * k
    hand = 0
    hits = []
    for p in pages:
        if p in frames:
            hits.append(True)
            bit[frames.index(p)] = 1
            continue
        hits.append(False)
        if None in frames:
            f = frames.index(None)  # warm-up: the hand does not move
        else:
            while bit[hand]:
                bit[hand] = 0
                hand = (hand + 1) % k
            f = hand
            hand = (hand + 1) % k
        frames[f] = p
        bit[f] = 1 if insert_referenced else 0
    return hits, frames


def ref_fifo_reinsertion_faults(pages, k):
    """Clock as a queue (FIFO-reinsertion, libCacheSim's Clock): one bit per page, 0 on insertion, 1 on a hit.

    A miss with a full cache looks at the oldest page: a set bit is cleared and the page moves to the
    newest end; the first page found clear is evicted. The new page enters at the newest end.
    """
    queue, bit, faults = [], {}, 0
    for p in pages:
        if p in bit:
            bit[p] = 1
            continue
        faults += 1
        if len(queue) == k:
            while bit[queue[0]]:
                bit[queue[0]] = 0
                queue.append(queue.pop(0))
            del bit[queue.pop(0)]
        queue.append(p)
        bit[p] = 0
    return faults


def ref_opt_faults(pages, k):
    """Belady's MIN: evict the resident page referenced again furthest in the future."""
    resident = set()
    faults = 0
    for t, p in enumerate(pages):
        if p in resident:
            continue
        faults += 1
        if len(resident) == k:
            rest = pages[t + 1 :]

            def next_use(q, rest=rest):
                return rest.index(q) if q in rest else len(rest)

            resident.remove(max(resident, key=next_use))
        resident.add(p)
    return faults


def ref_faults(policy, pages, k, **params):
    """Fault count of the reference implementation of ``policy``."""
    if policy == "opt":
        return ref_opt_faults(pages, k)
    impl = {"fifo": ref_fifo, "lru": ref_lru, "clock": ref_clock}[policy]
    hits, _ = impl(pages, k, **params)
    return hits.count(False)


REF_STEPWISE = {
    "fifo": lambda pages, k: ref_fifo(pages, k),
    "lru": lambda pages, k: ref_lru(pages, k),
    "clock": lambda pages, k: ref_clock(pages, k, insert_referenced=False),
    "clock+ref": lambda pages, k: ref_clock(pages, k, insert_referenced=True),
}


# --------------------------------------------------------------------------- helpers


def lean(frames):
    return MachineConfig(frames=frames, tlb_entries=0)


def sim_policy(name):
    """Policy object for a REF_STEPWISE key (or a plain registered name)."""
    if name == "clock+ref":
        return policies.make("clock", insert_referenced=True)
    return policies.make(name)


def sim_faults(pages, k, policy, writes=None):
    stats = simulate(Workload.from_pages(pages, writes=writes), policy, config=lean(k))
    assert stats.accesses == len(pages)
    assert stats.misses == stats.faults
    assert stats.hits + stats.misses == stats.accesses
    return stats.faults


def sim_stepwise(pages, k, policy, writes=None):
    """Hit/miss flags and final frames (``sim_helpers.sim_stepwise``) for a REF_STEPWISE key."""
    return stepwise(pages, k, sim_policy(policy), writes)


traces = st.lists(st.integers(0, 20), max_size=300)
frame_counts = st.integers(1, 8)


@st.composite
def traces_with_writes(draw):
    pages = draw(traces)
    writes = draw(st.lists(st.booleans(), min_size=len(pages), max_size=len(pages)))
    return pages, writes


# --------------------------------------------------------------------------- 1. textbook

SGG = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]  # Silberschatz et al.
BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("policy", "faults"), [("fifo", 15), ("lru", 12), ("opt", 9)])
def test_textbook_string(policy, faults):
    assert ref_faults(policy, SGG, 3) == faults
    assert sim_faults(SGG, 3, policy) == faults


@pytest.mark.parametrize(("frames", "faults"), [(3, 9), (4, 10)])
def test_belady_anomaly_fifo(frames, faults):
    assert ref_faults("fifo", BELADY, frames) == faults
    assert sim_faults(BELADY, frames, "fifo") == faults


def test_belady_anomaly_shows_more_frames_more_faults():
    assert sim_faults(BELADY, 4, "fifo") > sim_faults(BELADY, 3, "fifo")


def test_textbook_clock_hand_trace():
    # Worked by hand with the conventions above (new pages enter with bit 0):
    # 7 0 1 fill frames 0-2; 2 evicts frame 0 (7), hand -> 1; 0 hit (bit); 3: frame 1 has
    # bit -> clear, frame 2 (1) evicted, hand -> 0; ... 11 faults in total.
    assert ref_faults("clock", SGG, 3) == 11
    assert sim_faults(SGG, 3, "clock") == 11


# --------------------------------------------------------------------------- 2. fault counts


@settings(max_examples=150, deadline=None)
@given(pages=traces, k=frame_counts)
def test_clock_is_fifo_reinsertion(pages, k):
    """The frame clock equals the queue form: the page loaded into the victim's frame sits just behind
    the hand, where the queue form appends it; the warm-up fills frames in index order, the hand at 0."""
    assert sim_faults(pages, k, "clock") == ref_fifo_reinsertion_faults(pages, k)


# Miss counts checked against libCacheSim 0.3.5's Clock (default: 1-bit counter, init_freq 0) through an
# oracleGeneral file of the same page stream: equal on each (issue 19 found no trace where they differ).
CLOCK_VS_LIBCACHESIM = [
    ("zipf:n_pages=2000,length=100000", 200, 48_153),
    ("zipf:n_pages=2000,length=100000", 50, 69_292),
    ("phases:length=40000", 100, 30_187),
    ("scan-hot:length=60000", 1200, 6_986),
]


@pytest.mark.parametrize(("spec", "frames", "misses"), CLOCK_VS_LIBCACHESIM)
def test_clock_miss_counts_checked_against_libcachesim(spec, frames, misses):
    assert simulate(resolve(spec), "clock", config=lean(frames)).misses == misses


@pytest.mark.parametrize("policy", ["fifo", "lru", "clock", "clock+ref", "opt"])
@settings(max_examples=150, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_fault_count_matches_reference(policy, tw, k):
    pages, writes = tw
    params = {"insert_referenced": True} if policy == "clock+ref" else {}
    name = policy.removesuffix("+ref")
    expected = ref_faults(name, pages, k, **params)
    assert sim_faults(pages, k, policies.make(name, **params), writes) == expected


@settings(max_examples=60, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_writes_do_not_change_faults(tw, k):
    """Policies that read the dirty bit by design (NRU's classes 2R + M, WSClock) are exempt."""
    pages, writes = tw
    for policy in (name for name in policies.names() if not policies.get_class(name).reads_dirty_bit):
        assert sim_faults(pages, k, policy, writes) == sim_faults(pages, k, policy, None)


# --------------------------------------------------------------------------- 3. beyond counts


@pytest.mark.parametrize("policy", sorted(REF_STEPWISE))
@settings(max_examples=150, deadline=None)
@given(tw=traces_with_writes(), k=frame_counts)
def test_hit_sequence_and_final_frames_match_reference(policy, tw, k):
    pages, writes = tw
    ref_hits, ref_frames = REF_STEPWISE[policy](pages, k)
    hits, frames = sim_stepwise(pages, k, policy, writes)
    assert hits == ref_hits
    assert {p for p in frames if p is not None} == {p for p in ref_frames if p is not None}
    assert frames == ref_frames  # the exact frame of every page, too


@pytest.mark.parametrize("policy", sorted(REF_STEPWISE))
def test_final_frames_textbook(policy):
    hits, frames = sim_stepwise(SGG, 3, policy)
    ref_hits, ref_frames = REF_STEPWISE[policy](SGG, 3)
    assert (hits, frames) == (ref_hits, ref_frames)


def test_final_frames_textbook_lru_by_hand():
    # Last references: ... 2 0 1 7 0 1 -> the three most recent distinct pages are 7, 0, 1.
    _, frames = sim_stepwise(SGG, 3, "lru")
    assert set(frames) == {7, 0, 1}


# --------------------------------------------------------------------------- 4. properties


@settings(max_examples=100, deadline=None)
@given(pages=traces, k=frame_counts)
def test_opt_is_optimal(pages, k):
    opt = sim_faults(pages, k, "opt")
    for name in policies.names():
        assert opt <= sim_faults(pages, k, name), name
    assert opt <= sim_faults(pages, k, policies.make("clock", insert_referenced=True))


@pytest.mark.parametrize("policy", ["lru", "opt"])
@settings(max_examples=60, deadline=None)
@given(pages=traces)
def test_stack_property(policy, pages):
    faults = [sim_faults(pages, k, policy) for k in range(1, 10)]
    assert all(a >= b for a, b in zip(faults, faults[1:], strict=False)), faults


@settings(max_examples=60, deadline=None)
@given(pages=traces, k=frame_counts)
def test_compulsory_misses_bound(pages, k):
    distinct = len(set(pages))
    for name in policies.names():
        faults = sim_faults(pages, k, name)
        assert faults >= distinct
        assert faults <= len(pages)
        if distinct <= k:
            assert faults == distinct


# --------------------------------------------------------------------------- 5. bad input


def test_unknown_policy_name_lists_valid_names():
    with pytest.raises(policies.PolicyError) as err:
        policies.make("nope")
    msg = str(err.value)
    assert "nope" in msg
    for name in ("clock", "fifo", "lru", "opt"):
        assert name in msg
    assert set(policies.names()) >= {"clock", "fifo", "lru", "opt"}


def test_unknown_policy_name_through_simulate():
    with pytest.raises(policies.PolicyError, match="lru"):
        simulate(Workload.from_pages([1, 2]), "nope", config=lean(2))


def test_unknown_policy_parameter_is_named():
    with pytest.raises(policies.PolicyError, match="bogus"):
        policies.make("clock", bogus=1)


def test_bad_policy_parameter_value():
    with pytest.raises(policies.PolicyError, match="insert_referenced"):
        policies.make("clock", insert_referenced="yes")


@pytest.mark.parametrize("frames", [0, -1])
def test_zero_frames_rejected(frames):
    with pytest.raises(ConfigError, match="frames"):
        MachineConfig(frames=frames)


def test_numpy_trace_accepted():
    pages = np.array(SGG, dtype=np.int64)
    assert sim_faults(pages, 3, "lru") == 12
