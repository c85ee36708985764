"""tick_ordered: several processes streamed into write_trace's order (tick, index, process)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads import spool as spool_module
from workloads.model import Process, Vma, Workload, WorkloadError
from workloads.stream import from_workload
from workloads.tick_order import tick_ordered
from workloads.traces.mapping import _merged


def _workload(starts: list[int], counts: list[int], seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    procs = []
    for k, (start, n) in enumerate(zip(starts, counts, strict=True)):
        ops = rng.integers(0, 2, n).astype(np.int8)
        addrs = (rng.integers(0, 50, n) + 100 * k) << 12
        procs.append(Process(f"p{k}", [Vma(0, 1000, "rwx")], ops, addrs, [], start))
    return Workload("ticks", procs, [], 4096)


def _stream(w: Workload):
    stream = from_workload(w)  # interleaved by (tick, process): not write_trace's order
    stream.proc_counts = [p.ops.size for p in w.processes]
    return stream


def _joined(stream, block: int):
    got = list(tick_ordered(stream, block))
    return tuple(np.concatenate([b[i] for b in got]) if got else np.zeros(0) for i in range(3))


@settings(max_examples=60, deadline=None)
@given(
    procs=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 40)), min_size=2, max_size=6),
    block=st.sampled_from([1, 3, 17, 1 << 21]),
    seed=st.integers(0, 1000),
)
def test_tick_order_is_write_traces_order(procs, block, seed):
    """Any starts (equal ones, gaps with no process running), any counts (none too), any block."""
    w = _workload([s for s, _ in procs], [n for _, n in procs], seed)
    pids, ops, addrs = _joined(_stream(w), block)
    want = _merged(w)
    assert np.array_equal(pids, want[0]) and np.array_equal(ops, want[1]) and np.array_equal(addrs, want[2])


def test_a_spilled_spool_gives_the_same_order(monkeypatch):
    """Above SPILL_ABOVE bytes the spool is a temporary file: the same blocks."""
    w = _workload([0, 5, 5, 300], [2_000, 1_500, 40, 700], 3)
    want = _joined(_stream(w), 64)
    monkeypatch.setattr(spool_module, "SPILL_ABOVE", 0)
    opened = []
    real = spool_module.anonymous_file
    monkeypatch.setattr(spool_module, "anonymous_file", lambda prefix: opened.append(prefix) or real(prefix))
    got = _joined(_stream(w), 64)
    assert opened == ["vmgym-spool-"]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("delta", [-1, 1])
def test_counts_the_source_does_not_give_are_an_error(delta):
    """A source that gives a process more or fewer references than counted: one line, no wrong file."""
    w = _workload([0, 3], [50, 60], 1)
    stream = _stream(w)
    stream.proc_counts = [50, 60 + delta]
    with pytest.raises(WorkloadError, match=r"process 'p1' .* not (59|61) \(did the file change\?\)"):
        list(tick_ordered(stream, 16))
