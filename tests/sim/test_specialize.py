"""One compiled flow per policy family: sharing, a policy defined outside the package, the hook contract."""

import sys
import types

import numpy as np
import pytest
from numba import njit
from typer.testing import CliRunner

from vmgym import MachineConfig, Simulator, policies
from vmgym.cli import app
from vmgym.policies import hooks
from vmgym.policies.base import Policy, family_members, register
from vmgym.policies.hooks import family_module
from vmgym.sim import kernel
from vmgym.sim.frames import evictable
from vmgym.sim.specialize import flow_for, flow_key
from workloads import Workload


def test_a_family_shares_one_flow_and_every_flow_shares_the_rare_paths():
    lru, fifo, arc = (flow_for(policies.get_class(n)) for n in ("lru", "fifo", "arc"))
    assert lru is flow_for(policies.make("lru")) is fifo  # built once; FIFO and LRU are both "classic"
    assert lru._run is not arc._run and lru._run is not kernel._run
    solo = flow_for(policies.get_class("lru"), solo=True)  # LRU's own flow, for comparisons
    assert solo._run is not lru._run and solo is flow_for(policies.make("lru"), solo=True)
    assert solo.hooks.on_hit is policies.lru.on_hit and lru.hooks.on_hit is not policies.lru.on_hit
    assert lru.run is arc.run is solo.run is kernel.run  # one entry from Python: it calls the loop by address
    assert lru._event is arc._event is kernel._event  # exit/munmap/fork: compiled once for all
    assert flow_for(None) is kernel  # the external policy: the flow with the no-op hooks
    keys = [flow_key(n) for n in ("fifo", "opt", "arc", None)]
    assert keys == ["classic", "classic", "adaptive", "external"]


def test_a_family_flow_calls_the_running_policys_own_hooks(monkeypatch):
    """The generated switch, run as Python (no compile): each kernel id reaches its policy's hook."""
    defaults = {name: fn.py_func for name, fn in hooks.DEFAULTS.items()}
    monkeypatch.setattr(hooks, "DEFAULTS", defaults)  # plain Python no-ops
    calls = []

    def hook(tag):
        return types.SimpleNamespace(py_func=lambda st, f, g, i: calls.append(tag))

    def victim_of(tag):
        return types.SimpleNamespace(py_func=lambda st: tag)

    members = [
        (1, {"on_insert": hook("a"), "victim": victim_of(10)}),
        (2, {"on_insert": hook("b"), "victim": victim_of(20)}),
        (5, {"victim": victim_of(50)}),  # on_insert: the contract's no-op
    ]
    members = [(k, {n: getattr(fn, "py_func", fn) for n, fn in h.items()}) for k, h in members]
    mod = family_module("t", members, cf_hooks=3)
    cfg = np.zeros(4, dtype=np.int64)
    st = types.SimpleNamespace(cfg=cfg)
    for kid, tag, best in ((1, "a", 10), (2, "b", 20), (5, None, 50)):
        cfg[3] = kid
        calls.clear()
        mod.on_insert.py_func(st, 0, 0, 0)
        assert calls == ([tag] if tag else [])
        assert mod.victim.py_func(st) == best
    assert mod.on_page_free is defaults["on_page_free"]  # no member defines it: no switch at all


def test_a_family_is_its_registered_policies_with_distinct_kernel_ids():
    classic = [c.name for c in family_members(policies.get_class("opt"))]
    assert classic == ["fifo", "lru", "clock", "opt"]  # by kernel id
    assert family_members(_Lifo) == (_Lifo,)  # no family: a flow of its own
    twin = type("Twin", (_Lifo,), {"name": "test-twin", "kernel_id": 2, "flow_family": "classic"})
    with pytest.raises(RuntimeError, match="same kernel id: fifo=1, lru=2, test-twin=2"):
        family_members(twin)


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
