"""Every named workload runs end to end on the machine and leaves a consistent state."""

import pytest

from vmgym.sim import MachineConfig, Simulator
from workloads import registry


@pytest.mark.parametrize("name", [n for n in registry.names() if n != "leak"])
def test_named_workload_runs_clean(name):
    spec = registry.spec(name)
    sim = Simulator(registry.get(name), MachineConfig(frames=spec.suggested_frames // 2), "clock")
    stats = sim.run()
    sim.check_invariants()
    assert stats.accesses > 0
    assert stats.segfaults == 0 and stats.oom_kills == 0
    assert all(p.state == "exited" for p in stats.processes)


def test_leak_is_oom_killed():
    w = registry.get("leak:steps=400")
    stats = Simulator(w, MachineConfig(frames=1000, swap_slots=10_000), "lru").run()
    assert stats.oom_kills == 1
    assert stats.processes[0].state == "killed (OOM)"
