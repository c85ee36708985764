"""One compiled flow per policy: sharing, a policy defined outside the package, the hook contract."""

import sys
import types

import numpy as np
import pytest
from numba import njit
from typer.testing import CliRunner

from vmgym import MachineConfig, Simulator, policies
from vmgym.cli import app
from vmgym.policies.base import Policy, register
from vmgym.sim import kernel
from vmgym.sim.frames import evictable
from vmgym.sim.specialize import flow_for
from workloads import Workload


def test_each_policy_has_its_own_flow_and_shares_the_rare_paths():
    lru, fifo = flow_for(policies.get_class("lru")), flow_for(policies.get_class("fifo"))
    assert lru is flow_for(policies.make("lru"))  # built once per class
    assert lru._run is not fifo._run and lru._run is not kernel._run
    assert lru.run is fifo.run is kernel.run  # one entry from Python: it calls the flow's loop by address
    assert lru._event is fifo._event is kernel._event  # exit/munmap/fork: compiled once for all
    assert lru.hooks.on_hit is policies.lru.on_hit and fifo.hooks.on_hit is not lru.hooks.on_hit
    assert flow_for(None) is kernel  # the external policy: the flow with the no-op hooks


def test_a_flow_reaches_the_shared_kernels_only_through_far_calls():
    """A direct call from a flow to a kernel it does not inline would compile and link it into every flow."""
    from numba.core.registry import CPUDispatcher

    from vmgym.sim.specialize import _callers_of, _kernels

    funcs = _kernels(kernel)
    flow = _callers_of(funcs, {"hooks"})
    assert {"_run", "evict", "_fault_in"} <= flow
    modules = [kernel, *(m for m in vars(kernel).values() if isinstance(m, types.ModuleType))]
    for name in flow:
        for used in set(funcs[name].__code__.co_names) - flow:
            for obj in (vars(m).get(used) for m in modules):  # f(...) and module.f(...)
                if isinstance(obj, CPUDispatcher):
                    assert obj.targetoptions.get("inline") == "always", f"{name} calls {used}: far() it"


# A policy defined here, outside vmgym: evict the page loaded most recently (LIFO).
@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    best, best_in = -1, -1
    for f in range(st.frame_page.shape[0]):
        if evictable(st, f) and st.frame_in[f] > best_in:
            best, best_in = f, st.frame_in[f]
    return best


class _Lifo(Policy):
    """Last in, first out: a test policy living outside the package."""

    name = "test-lifo"
    kernel_id = 9001
    source = "tests"


def _lifo_misses(pages, k):
    resident, misses = [], 0
    for p in pages:
        if p in resident:
            continue
        misses += 1
        if len(resident) == k:
            resident.pop()  # the newest
        resident.append(p)
    return misses


def test_a_policy_outside_the_package_plugs_in_without_core_changes():
    register(_Lifo)
    try:
        assert _Lifo.hooks == {"victim": victim}
        rng = np.random.default_rng(3)
        pages = rng.integers(0, 12, 400).tolist()
        stats = Simulator(Workload.from_pages(pages), MachineConfig.lean(4), "test-lifo").run()
        assert stats.faults == _lifo_misses(pages, 4)
    finally:
        policies.unregister("test-lifo")
    assert "test-lifo" not in policies.names()


def test_hooks_with_the_wrong_signature_are_named():
    mod = types.ModuleType("bad_policy_module")

    @njit(cache=False, inline="always", _nrt=False)
    def on_hit(st, f):
        pass

    mod.on_hit, mod.victim = on_hit, victim
    sys.modules[mod.__name__] = mod
    try:
        cls = type("Bad", (Policy,), {"name": "bad", "__module__": mod.__name__})
        expected = r"bad_policy_module\.on_hit must take \(st, pol_f, pol_g, f, g, i\)"
        with pytest.raises(TypeError, match=expected):
            register(cls)
    finally:
        del sys.modules[mod.__name__]


def test_compile_command_warms_the_cache():
    res = CliRunner().invoke(app, ["compile", "--policies", "fifo,lru", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "fifo" in res.output and "lru" in res.output
    res = CliRunner().invoke(app, ["compile", "--policies", "nope"])
    assert res.exit_code == 2 and "unknown policy 'nope'" in res.output
