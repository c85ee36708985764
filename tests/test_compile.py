"""Which flows a cold ``vmgym compare`` compiles in parallel first (no kernel is compiled here)."""

import numba
import pytest

from vmgym import _compile
from vmgym.sim import specialize
from vmgym.sim.specialize import SHARED


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VMGYM_LAZY_COMPILE", raising=False)
    monkeypatch.setattr(_compile.os, "cpu_count", lambda: 2)
    return tmp_path


def test_uncached_flows_are_compiled_together_and_remembered(cache, monkeypatch):
    calls = []

    def fake_compile_one(name):  # stands for a compile (jobs=1: in this process, in order)
        calls.append(name)
        return _compile._key(name), 0.0  # as the real one: the name of the flow

    monkeypatch.setattr(specialize, "_compile_one", fake_compile_one)
    # one flow and the shared kernels: two jobs, worth a pool
    assert _compile.flows_to_compile(["clock"]) == ["clock"]
    # one job per flow: FIFO, LRU and OPT are one family (classic), ARC is another (adaptive)
    assert _compile.flows_to_compile(["fifo", "lru", "lru", "opt"]) == ["fifo"]
    assert _compile.flows_to_compile(["fifo", "arc", "lru", "car"]) == ["fifo", "arc"]
    done = []
    _compile.compile_flows(["fifo", "lru", "opt", None], 1, on_done=lambda n, s: done.append(n))
    # the shared kernels first (the flows do not wait for them: vmgym.sim.farcall)
    assert calls == [SHARED, "fifo", None]
    assert done == [SHARED, "classic", "external"]
    assert _compile.is_compiled("clock") and _compile.is_compiled(None) and not _compile.is_compiled("arc")
    # with the shared kernels cached, one uncached flow compiles in process, on first use
    assert _compile.flows_to_compile(["fifo", "lru", "clock", "arc", "car"]) == []
    assert _compile.flows_to_compile(["clock", "arc", "lirs"]) == ["arc", "lirs"]
    calls.clear()
    _compile.compile_flows(["arc"], 1)
    assert calls == ["arc"]


def test_nothing_up_front_on_one_core_or_when_lazy(cache, monkeypatch):
    monkeypatch.setattr(_compile.os, "cpu_count", lambda: 1)
    assert _compile.flows_to_compile(["clock", "arc"]) == []
    monkeypatch.setattr(_compile.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("VMGYM_LAZY_COMPILE", "1")
    assert _compile.flows_to_compile(["clock", "arc"]) == []


def test_compare_compiles_its_family_beside_the_shared_kernels_on_all_cores(cache, monkeypatch):
    """One uncached family and the uncached shared kernels are two jobs: two processes, not one."""
    from typer.testing import CliRunner

    from vmgym import cli

    asked = []
    monkeypatch.setattr(cli, "compile_flows", lambda names, jobs, on_done=None: asked.append((names, jobs)))
    monkeypatch.setattr(cli, "compare", lambda *a, **k: [])
    monkeypatch.setattr(cli, "emit_results", lambda *a, **k: None)
    res = CliRunner().invoke(cli.app, ["compare", "-w", "loop", "-p", "fifo,lru,clock,opt"])
    assert res.exit_code == 0, res.output
    assert asked == [(["fifo"], 2)]


def test_run_compiles_one_policy_until_its_family_is_compiled(cache, monkeypatch):
    """`vmgym run -p arc` on a cold cache uses ARC's own flow (one policy to compile, not four)."""
    from typer.testing import CliRunner

    from vmgym import cli
    from vmgym.sim import SimulationError

    asked = []

    def fake_simulator(*args, **kwargs):
        asked.append(kwargs["own_flow"])
        raise SimulationError("stop here")

    monkeypatch.setattr(cli, "Simulator", fake_simulator)
    run = ["run", "-w", "loop", "-p", "arc"]
    res = CliRunner().invoke(cli.app, run)
    assert res.exit_code == 2 and "stop here" in res.output  # the one-line error, from the fake
    (cache / "flows").mkdir()
    (cache / "flows" / "adaptive.ok").touch()  # the family compiled: its flow serves every member
    assert CliRunner().invoke(cli.app, run).exit_code == 2
    assert asked == [True, False]
