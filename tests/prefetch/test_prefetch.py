"""Prefetchers: hand-derived fault counts, I/O costs, accounting and bad input."""

import numpy as np
import pytest

from vmgym import prefetch
from vmgym.prefetch.kernel import next_window
from vmgym.sim import MachineConfig, SimulationError, Simulator
from vmgym.sim import state as S
from workloads import Vma, WorkloadBuilder

PS = 4096


def file_scan(n: int, passes: int = 1, order=None) -> "WorkloadBuilder":
    """One process reading a private read-only mapping of an ``n``-page file, ``passes`` times."""
    wb = WorkloadBuilder("file-scan", PS)
    wb.file("f", n)
    p = wb.process("p")
    p.map(Vma(0, n, "r", obj="f", shared=False))
    pages = np.tile(np.arange(n) if order is None else np.asarray(order), passes)
    p.access_pages(pages, np.zeros(len(pages), bool))
    return wb.build()


def anon_pass(n: int, read_order) -> "WorkloadBuilder":
    """Write anonymous pages 0..n-1 once (they get swapped out in order), then read ``read_order``."""
    wb = WorkloadBuilder("anon", PS)
    p = wb.process("p")
    p.map(Vma(0, n, "rw"))
    pages = np.concatenate([np.arange(n), np.asarray(read_order)])
    writes = np.zeros(len(pages), bool)
    writes[:n] = True
    p.access_pages(pages, writes)
    return wb.build()


def run(wl, frames, pf, policy="lru"):
    sim = Simulator(wl, MachineConfig(frames=frames, tlb_entries=0), policy, prefetch=pf)
    stats = sim.run()
    sim.check_invariants()
    return sim, stats


def test_linux_window_sizes():
    """get_next_ra_size: x4 below max/16, x2 up to max/2, then max (Linux mm/readahead.c)."""
    assert [next_window(s, 32) for s in (4, 8, 16, 32)] == [8, 16, 32, 32]
    assert [next_window(s, 128) for s in (4, 16, 32, 64, 128)] == [16, 32, 64, 128, 128]
    assert prefetch.make("readahead").values == {"initial": 4, "maximum": 32}


def test_readahead_streams_a_sequential_file_after_one_fault():
    """Sync window 4 (marker at page 1), then async windows 8, 16, 32, ... each started at its marker."""
    sim, s = run(file_scan(256), frames=512, pf="readahead")
    assert s.major_faults == 1
    assert s.prefetch_issued == 255 and s.prefetch_used == 255 and s.prefetch_wasted == 0
    assert s.minor_faults == 255  # each first use of a prefetched page maps it
    assert s.io_reads == 256
    # every prefetched read follows the previous one on the device: one full read, 255 batched
    c = sim.config.costs
    assert int(sim.state.sc[S.SC_IO_BUSY]) == c.file_read + 255 * c.io_batch_page


def test_readahead_is_bounded_by_the_file_and_counts_waste():
    """Reading page 0 of a 10-page file (twice) reads the initial window (pages 1-3) for nothing.

    Queued pages are read before the next reference, so the trace needs one more.
    """
    sim, s = run(file_scan(10, order=[0, 0]), frames=16, pf="readahead")
    assert (s.major_faults, s.prefetch_issued, s.prefetch_used) == (1, 3, 0)
    assert s.prefetch_wasted == 0  # still resident, unreferenced
    sim, s = run(file_scan(2, order=[1, 1]), frames=16, pf="readahead")
    assert s.prefetch_issued == 0  # page 1 is the last page: nothing beyond the object


def test_random_reads_waste_readahead_until_mmap_miss_stops_it():
    rng = np.random.default_rng(0)
    order = rng.integers(0, 4096, 3000)
    _, none = run(file_scan(4096, order=order), frames=64, pf=None)
    _, ra = run(file_scan(4096, order=order), frames=64, pf="readahead")
    assert ra.prefetch_wasted > ra.prefetch_used
    assert ra.time_ns > none.time_ns  # wasted reads delay the demand reads on the one queue
    # after 100 more misses than readahead hits, random faults read nothing ahead: ~3 pages per fault
    # for the first ~100 faults only
    assert ra.prefetch_issued < 3 * 110


def test_swap_cluster_reads_the_aligned_block_of_8_slots():
    """Pages written in order get slots 0, 1, 2, ... ; reading them back faults once per 8 pages."""
    n = 64
    _, s = run(anon_pass(n, np.arange(n)), frames=16, pf="swap-cluster:adaptive=0")
    _, s0 = run(anon_pass(n, np.arange(n)), frames=16, pf=None)
    # first pass: 64 zero fills; second pass (a loop larger than RAM under LRU): every page is on swap.
    # Pages are evicted in page order, so page p sits in slot p: one major fault per aligned block.
    assert s0.major_faults == 64
    assert s.major_faults == 64 // 8
    assert s.prefetch_used == 64 - 8 and s.prefetch_wasted == 0
    _, s2 = run(anon_pass(n, np.arange(n)), frames=16, pf="swap-cluster:page_cluster=2,adaptive=0")
    assert s2.major_faults == 64 // 4


def test_adaptive_swap_cluster_grows_on_hits_and_stays_small_without():
    """swapin_nr_pages: slot 0 (no hits, not adjacent): 1 page; slot 1 (adjacent): [0, 1]; slot 2: [2, 3];
    then one hit gives 4 ([4, 7]), three hits 8 ([8, 15]), and 8 from then on."""
    n = 64
    _, s = run(anon_pass(n, np.arange(n)), frames=16, pf="swap-cluster")
    assert s.major_faults == 3 + 1 + 1 + (64 - 16) // 8
    assert s.prefetch_wasted == 0
    rng = np.random.default_rng(5)
    order = rng.integers(0, 2048, 4000)
    _, fixed = run(anon_pass(2048, order), frames=64, pf="swap-cluster:adaptive=0")
    _, adaptive = run(anon_pass(2048, order), frames=64, pf="swap-cluster")
    assert adaptive.prefetch_wasted < fixed.prefetch_wasted / 4  # random swap-ins: the window collapses


def test_swap_cluster_ignores_file_faults():
    _, s = run(file_scan(64), frames=8, pf="swap-cluster")
    assert s.prefetch_issued == 0 and s.major_faults == 64


def test_stride_needs_a_confirmed_stride_then_streams():
    """Faults at 0, 3 (stride 3 seen once), 6 (confirmed: read 9, 12, 15, 18), then each use extends."""
    n = 300
    order = np.arange(0, n, 3)
    _, s = run(file_scan(n, order=order), frames=512, pf="stride")
    assert s.major_faults == 3
    assert s.prefetch_used == len(order) - 3
    _, s1 = run(file_scan(n, order=order), frames=512, pf="stride:degree=1")
    assert s1.major_faults == 3


def test_markov_learns_a_loop_in_one_pass():
    """Pass 1 faults on every page and learns k -> k+1 (and 31 -> 0); pass 2 faults once, pass 3 never."""
    _, s = run(file_scan(32, passes=3), frames=8, pf="markov")
    assert s.major_faults == 32 + 1
    assert s.prefetch_used == 32 * 3 - 33


def test_external_prefetch_callable_windows_of_8():
    def ahead(sim):
        ctx = sim.fault_context()
        assert ctx["kind"] == "file" and ctx["pid"] == 0
        sim.prefetch_offsets(1, 7)

    _, s = run(file_scan(64), frames=128, pf=ahead)
    assert s.major_faults == 8 and s.prefetch_used == 56


def test_external_prefetch_needs_a_decision_maker():
    sim = Simulator(file_scan(8), MachineConfig(frames=4, tlb_entries=0), "lru", prefetch="external")
    with pytest.raises(SimulationError, match="prefetch decision"):
        sim.run()


def test_prefetch_through_every_policy_keeps_invariants():
    """Prefetched pages enter each policy through on_insert; its victims make room for them."""
    from vmgym import policies

    rng = np.random.default_rng(1)
    order = np.concatenate([np.arange(200), rng.integers(0, 200, 400), np.arange(200)])
    for name in policies.names():
        for pf in ("readahead", "markov"):
            _, s = run(file_scan(200, order=order), frames=24, pf=pf, policy=name)
            assert s.prefetch_issued >= s.prefetch_used + s.prefetch_wasted, (name, pf)


def test_same_seed_same_result():
    rng = np.random.default_rng(2)
    wl = anon_pass(128, rng.integers(0, 128, 2000))
    a = run(wl, 24, "readahead")[1].to_dict()
    b = run(wl, 24, "readahead")[1].to_dict()
    assert a == b


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bogus", "unknown prefetcher 'bogus'; choose one of: none, readahead, swap-cluster, stride, markov"),
        ("readahead:size=4", "unknown parameter"),
        ("readahead:initial=64", r"initial \(64\) must be <= maximum \(32\)"),
        ("readahead:maximum=0", r"maximum must be an integer in \[1, 1024\]"),
        ("stride:degree=x", "degree must be an integer"),
        ("swap-cluster:page_cluster", "expected key=value"),
        ("markov:width=17", r"width must be an integer in \[1, 16\]"),
    ],
)
def test_bad_prefetchers_name_the_problem(spec, message):
    with pytest.raises(prefetch.PrefetchError, match=message):
        prefetch.make(spec)


def test_bad_external_actions():
    from vmgym.sim import InvalidAction

    sim = Simulator(file_scan(8), MachineConfig(frames=4, tlb_entries=0), "lru", prefetch="external")
    assert sim.advance() and sim.pending == "prefetch"
    with pytest.raises(InvalidAction, match="page ids must be in"):
        sim.prefetch_pages([10**9])
    with pytest.raises(InvalidAction, match="count must be in"):
        sim.prefetch_offsets(1, -1)


def test_prefetch_never_livelocks_a_copy_on_write_retry():
    """Regression: a major fault queued a swap cluster, its copy-on-write copy then needed a victim, and the
    retry loaded the queue, which evicted the page just loaded: the reference faulted again, forever. The
    queue now waits for the next reference. Run in a child process so that a hang fails instead of blocking.
    """
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "tests/policies")
        from sim_helpers import busy_workload
        from vmgym.sim import MachineConfig, Simulator
        for pf in ("swap-cluster:adaptive=0", "swap-cluster", "readahead", "markov", "stride"):
            for policy in ("fifo", "lru", "clock"):
                cfg = MachineConfig(frames=10, swap_slots=48, quantum=50, tlb_entries=0)
                sim = Simulator(busy_workload(2), cfg, policy, prefetch=pf)
                sim.run()
                sim.check_invariants()
        """
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, timeout=600, check=True)
