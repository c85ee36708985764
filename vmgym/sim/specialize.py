"""One compiled simulator flow per policy family (or per policy outside a family).

The flow in :mod:`vmgym.sim.kernel` calls the policy through the module-level
name ``hooks``. Compiling it once with all 23 policies behind a runtime switch
made numba type and inline all of them into one function: a cold compile of
the whole library took half an hour and ~10 GB of RAM. Instead, :func:`flow_for`
rebuilds the kernel functions that (transitively) call ``hooks`` with ``hooks``
bound to one policy's functions, or to a *family*'s (the policies naming one
``flow_family``, a handful each: their hooks behind a switch on the kernel id,
:func:`vmgym.policies.hooks.family_module`), and compiles them as new numba
functions whose names carry the policy or family (``run__classic_<hash>``), so
each has its own entry in numba's on-disk cache. A family's flow compiles the
loop and the fault path once for its members (the main command's four policies:
one 13 s compile in place of four of 6-11 s); the hot loop pays one compare per
hook call for it (``benchmarks/bench_families.py``).

Cache keys: numba keys a cached function by its source file and name, so the
suffix also carries a hash of the sources of the modules that define the
policies' hooks (and, for a family, its members and their ids); the cache folder
itself is keyed by the package's kernel sources (:mod:`vmgym._cache`).
"""

from __future__ import annotations

import hashlib
import inspect
import re
import types
from types import ModuleType

import numba
from numba.core.registry import CPUDispatcher

from vmgym.policies import base as policy_base
from vmgym.policies import hooks as hook_contract
from vmgym.policies.base import Policy
from vmgym.sim import kernel
from vmgym.sim import state as S

_FLOWS: dict[tuple[object, ...], ModuleType] = {}  # by the policies a flow runs


def _py_func(obj: object) -> types.FunctionType | None:
    """The Python function behind a numba dispatcher (or a plain function, under NUMBA_DISABLE_JIT)."""
    if isinstance(obj, CPUDispatcher):
        return obj.py_func
    return obj if isinstance(obj, types.FunctionType) else None


def _kernels(module: ModuleType) -> dict[str, types.FunctionType]:
    found = {}
    for name, obj in vars(module).items():
        fn = _py_func(obj)
        if fn is not None and fn.__module__ == module.__name__:
            found[name] = fn
    return found


def _callers_of(funcs: dict[str, types.FunctionType], names: set[str]) -> set[str]:
    """Names of the functions that reach any global in ``names`` through calls within the module."""
    uses = {name: set(fn.__code__.co_names) for name, fn in funcs.items()}
    tainted = {name for name, used in uses.items() if used & names}
    grew = True
    while grew:
        grew = False
        for name, used in uses.items():
            if name not in tainted and used & tainted:
                tainted.add(name)
                grew = True
    return tainted


def _source_tag(hooks: dict[str, object]) -> str:
    h = hashlib.sha1()
    for path in sorted({inspect.getfile(_py_func(fn)) for fn in hooks.values()}):
        with open(path, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:8]


def rebind(module: ModuleType, globals_: dict[str, object], tag: str) -> ModuleType:
    """A copy of ``module``'s kernels with the globals ``globals_`` replaced.

    Functions that do not reach any of them are shared with ``module``; the
    others are recompiled under the name ``<name>__<tag>`` (their own entry in
    numba's cache).
    """
    funcs = _kernels(module)
    env = dict(vars(module))
    env.update(globals_)
    for name in sorted(_callers_of(funcs, set(globals_))):
        fn = funcs[name]
        copy = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
        copy.__qualname__ = f"{fn.__qualname__}__{tag}"
        copy.__module__ = fn.__module__
        copy.__doc__ = fn.__doc__
        options = getattr(vars(module)[name], "targetoptions", {"nopython": True})
        env[name] = numba.jit(cache=True, **options)(copy)
    out = ModuleType(f"{module.__name__}[{tag}]")
    out.__dict__.update({k: v for k, v in env.items() if not k.startswith("__")})
    return out


def specialize(module: ModuleType, hooks: ModuleType, tag: str) -> ModuleType:
    """A copy of ``module``'s kernels with its global ``hooks`` replaced by ``hooks`` (see :func:`rebind`)."""
    return rebind(module, {"hooks": hooks}, tag)


def flow_key(policy: type[Policy] | Policy | str | None) -> str:
    """The name of the compiled flow that runs ``policy``: its family, its own name, or ``external``."""
    if isinstance(policy, str):
        policy = policy_base.get_class(policy)
    cls = type(policy) if isinstance(policy, Policy) else policy
    if cls is None:
        return "external"
    return cls.flow_family or cls.name


def flow_for(policy: type[Policy] | Policy | None, solo: bool = False) -> ModuleType:
    """The simulator kernels (``run``, ``evict``, ...) compiled for ``policy`` (None: external).

    A policy with a ``flow_family`` shares one flow with the other registered
    policies of that family (its hooks behind a switch on the kernel id,
    :func:`vmgym.policies.hooks.family_module`); ``solo=True`` builds the policy's
    own flow instead (``benchmarks/bench_families.py`` compares the two). Built once
    per set of policies and process; compiled lazily on first call (or loaded
    from numba's cache).
    """
    cls = type(policy) if isinstance(policy, Policy) else policy
    members = (cls,) if cls is None or solo else policy_base.family_members(cls)
    flow = _FLOWS.get(members)
    if flow is None:
        if cls is None:
            flow = kernel  # its own ``hooks`` are the contract's defaults: the external policy
        elif len(members) == 1:
            label = re.sub(r"\W", "_", cls.name) + "_" + _source_tag(cls.hooks)
            flow = specialize(kernel, hook_contract.hook_module(label, cls.hooks), label)
        else:
            hooks = {f"{c.name}.{k}": fn for c in members for k, fn in c.hooks.items()}
            ids = ",".join(f"{c.name}={c.kernel_id}" for c in members)
            tag = hashlib.sha1((_source_tag(hooks) + ids).encode()).hexdigest()[:8]
            label = re.sub(r"\W", "_", cls.flow_family) + "_" + tag
            table = [(c.kernel_id, c.hooks) for c in members]
            flow = specialize(kernel, hook_contract.family_module(label, table, S.CF_HOOKS), label)
        _FLOWS[members] = flow
    return flow


SHARED = "@shared"  # the name of the compile job for the kernels every flow shares (vmgym.sim.farcall)


def _compile_one(name: str | None) -> tuple[str, float]:
    """Compile (or load from cache) the flow of policy ``name`` (None: external; SHARED: the shared kernels).

    A flow compiles alone: its far calls need only the shared kernels' table, not the
    kernels, so another process can compile those meanwhile. Returns the flow's name
    (:func:`flow_key`) and the seconds.
    """
    import time

    from numba import types as nbtypes

    from vmgym.sim import farcall
    from vmgym.sim.config import MachineConfig
    from vmgym.sim.simulator import Simulator
    from workloads.model import Workload

    t0 = time.perf_counter()
    tiny = Workload.from_pages([0, 1, 2, 0])
    if name == SHARED:
        sim = Simulator(tiny, MachineConfig(frames=2), policy=None)  # binds the far-call table
        kernel.run.compile((sim._state_type, nbtypes.int64, nbtypes.int64))  # the one entry
        return SHARED, time.perf_counter() - t0
    with farcall.unbound():
        sim = Simulator(tiny, MachineConfig(frames=2), policy=name)
    sim._loop_address()
    if name is None:  # the external policy's decisions are made from Python
        kernel.evict.compile((sim._state_type, nbtypes.int64))
        kernel.choose_victim.compile((sim._state_type,))
        kernel.evictable_mask.compile((sim._state_type, nbtypes.bool_[::1]))  # candidates()
    return flow_key(name), time.perf_counter() - t0
