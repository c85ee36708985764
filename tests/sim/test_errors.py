"""Bad input gives a clear error naming the problem; nothing is corrupted."""

import numpy as np
import pytest

from vmgym.sim import ConfigError, CostModel, MachineConfig, Simulator
from workloads import OP_READ, Process, Vma, Workload, WorkloadBuilder, WorkloadError


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("frames", 0, r"MachineConfig\.frames must be in \[1, "),
        ("frames", 2.5, r"MachineConfig\.frames must be an integer"),
        ("page_size", 3000, r"page_size must be a power of two"),
        ("page_size", 256, r"page_size must be in \[512, "),
        ("swap_slots", -1, r"swap_slots must be in \[0, "),
        ("tlb_entries", 6, r"tlb_entries must be tlb_ways x a power of two"),
        ("quantum", 0, r"quantum must be >= 1"),
        ("segfault", "ignore", r"segfault must be one of kill, error; got 'ignore'"),
        ("oom", "panic", r"oom must be one of kill, error"),
        ("tlb_asid", "yes", r"tlb_asid must be true or false"),
    ],
)
def test_machine_config_errors_name_the_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        MachineConfig(**{field: value})


def test_cost_model_and_dict_errors():
    with pytest.raises(ConfigError, match=r"CostModel\.swap_read must be in \[0, "):
        CostModel(swap_read=-5)
    with pytest.raises(ConfigError, match="unknown MachineConfig field.*fram.*allowed: allocation, costs"):
        MachineConfig.from_dict({"fram": 3})
    with pytest.raises(ConfigError, match="unknown CostModel field.*ssd"):
        MachineConfig.from_dict({"costs": {"ssd": 1}})
    cfg = MachineConfig.from_dict({"frames": 7, "costs": {"dram": 60}})
    assert cfg.frames == 7 and cfg.costs.dram == 60
    assert MachineConfig.from_dict(cfg.to_dict()) == cfg


def _proc(**kw):
    base = {"name": "p", "vmas": [Vma(0, 4)], "ops": np.zeros(2, np.int8), "args": np.zeros(2, np.int64)}
    return Process(**{**base, **kw})


@pytest.mark.parametrize(
    ("workload", "match"),
    [
        (Workload("w", []), "has no processes"),
        (Workload("w", [_proc(parent=3)]), r"process 0 \('p'\): parent 3 must be an earlier process"),
        (Workload("w", [_proc(), _proc(name="c", vmas=[], parent=0)]), "parent 0 never forks it"),
        (Workload("w", [_proc(ops=np.array([0, 5], np.int8))]), "stream entry 1: unknown op code 5"),
        (Workload("w", [_proc(vmas=[Vma(0, 4, obj="nope")])]), "maps unknown object 'nope'"),
        (Workload("w", [_proc(vmas=[Vma(0, 4), Vma(2, 4)])]), r"vma \[2, 6\) overlaps vma \[0, 4\)"),
        (
            Workload("w", [_proc(ops=np.array([9], np.int8), args=np.array([0]))]),
            "payload index 0 out of range",
        ),
        (Workload("w", [_proc()], page_size=8192), "uses page size 8192 but the machine uses 4096"),
    ],
)
def test_workload_errors_name_the_process_and_field(workload, match):
    with pytest.raises(WorkloadError, match=match):
        Simulator(workload, MachineConfig(frames=2))


def test_event_errors():
    wb = WorkloadBuilder("ev")
    wb.file("f", 2)
    p = wb.process("p")
    p.map(Vma(0, 4, obj="f"))
    with pytest.raises(WorkloadError, match=r"maps pages \[0, 4\) of object 'f' which has 2 pages"):
        Simulator(wb.build(), MachineConfig(frames=2))
    wb = WorkloadBuilder("ev2")
    p = wb.process("p")
    p.map(Vma(0, 4))
    p.access(np.array([0]), OP_READ)
    p.munmap(7)
    with pytest.raises(WorkloadError, match="munmap of vpn 7: no VMA starts there"):
        Simulator(wb.build(), MachineConfig(frames=2))
    with pytest.raises(WorkloadError, match="anonymous memory cannot be shared"):
        Vma(0, 1, shared=True)
    with pytest.raises(WorkloadError, match="perms 'rq' not a subset"):
        Vma(0, 1, perms="rq")


def test_unknown_policy_lists_valid_names():
    from vmgym.policies import PolicyError

    match = "unknown policy 'lfu3'; choose one of: .*clock, .*fifo, .*lru, .*opt"
    with pytest.raises(PolicyError, match=match):
        Simulator(Workload.from_pages([1]), MachineConfig(frames=2), "lfu3")


def test_int32_limits_are_clear_errors():
    """The trace's PTE column and the position-keeping policies' page rows are int32: past that, an error."""
    from vmgym import policies
    from vmgym.sim.loader import trace_column_int32

    ok = trace_column_int32(np.array([5, -3, (1 << 31) - 1], np.int64), "w")
    assert ok.dtype == np.int32 and ok.tolist() == [5, -3, (1 << 31) - 1]
    with pytest.raises(WorkloadError, match="workload 'big' needs 2\\*\\*31 or more page-table entries"):
        trace_column_int32(np.array([0, 1 << 31], np.int64), "big")
    for name in ("lru-k", "lirs"):
        policy = policies.make(name)
        policy.check_trace_length((1 << 31) - 1)
        match = f"'{name}' keeps trace positions in int32 .* 2147483648"
        with pytest.raises(policies.PolicyError, match=match):
            policy.check_trace_length(1 << 31)
    policies.make("lru").check_trace_length(1 << 40)  # keeps no positions
