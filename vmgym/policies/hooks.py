"""The hook contract between the simulator flow and a replacement policy.

The flow (:mod:`vmgym.sim.kernel`) is written once and calls six hooks through a
module-level name ``hooks``. :func:`vmgym.sim.specialize.flow_for` compiles one
copy of the flow per policy family with ``hooks`` bound to :func:`family_module`
(each hook switches on the running policy's kernel id), or per policy outside a
family with ``hooks`` bound to that policy's functions (:func:`hook_module`), so a
run compiles (and inlines) only its own family. A policy module defines any of
the hooks below under these exact names and signatures; the ones it omits are
these no-op defaults.

The *external* policy (kernel id 0) has only defaults: the simulator stops and
asks its caller (a Python policy or an RL agent) for each victim.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from numba import config, njit
from numba.core.registry import CPUDispatcher

EXTERNAL = 0


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol_f, pol_g, f, g, i):
    """Reference ``i`` touched page ``g``, resident in frame ``f``, without loading it.

    The hot loop passes ``st.pol_f`` / ``st.pol_g`` it hoisted into locals: use
    those for the cheap common case.
    """


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` was loaded into frame ``f`` by reference ``i`` (the position is ``st.sc[SC_POS]``)."""


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` is being emptied: ``evicted`` (replacement) or freed (exit, munmap).

    ``st.frame_page[f]`` still names the page during this call.
    """


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` stops existing (its last mapping went away) and may be reused.

    Policies that remember non-resident pages (ghost lists) must forget ``g`` here.
    """


@njit(cache=True, inline="always", _nrt=False)
def on_meta(st, f):
    """The set of PTEs mapping frame ``f``'s page changed (fork, copy-on-write, unmap)."""


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The policy's victim among evictable frames, or -1 if it has none.

    Called when a fault needs a frame and none is free; the faulting reference is
    ``st.sc[SC_POS]`` (policies with ghost lists, such as ARC, read it to adapt).
    """
    return -1


DEFAULTS: dict[str, Any] = {
    "on_hit": on_hit,
    "on_insert": on_insert,
    "on_remove": on_remove,
    "on_page_free": on_page_free,
    "on_meta": on_meta,
    "victim": victim,
}


def _arity(fn: object) -> int:
    return len(inspect.signature(getattr(fn, "py_func", fn)).parameters)


def collect(module: ModuleType) -> dict[str, Any]:
    """The hooks a policy module defines (by name), checked against the contract.

    Raises ``TypeError`` naming the module and hook if one is not a compiled
    function or has the wrong number of parameters.
    """
    found = {}
    for name, default in DEFAULTS.items():
        fn = getattr(module, name, None)
        if fn is None or fn is default:
            continue
        if not isinstance(fn, CPUDispatcher) and not config.DISABLE_JIT:
            raise TypeError(f"{module.__name__}.{name} must be a numba @njit function (the hook contract)")
        if _arity(fn) != _arity(default):
            expected = ", ".join(inspect.signature(getattr(default, "py_func", default)).parameters)
            raise TypeError(f"{module.__name__}.{name} must take ({expected})")
        found[name] = fn
    return found


def hook_module(label: str, hooks: dict[str, Any]) -> ModuleType:
    """A module object holding ``hooks`` (defaults filled in): what the flow's ``hooks`` name binds to."""
    mod = ModuleType(f"vmgym.policies.hooks[{label}]")
    mod.EXTERNAL = EXTERNAL
    for name, default in DEFAULTS.items():
        setattr(mod, name, hooks.get(name, default))
    return mod


def family_module(label: str, members: list[tuple[int, dict[str, Any]]], cf_hooks: int) -> ModuleType:
    """A hook module for one flow shared by several policies (``members``: kernel id, hooks).

    Each hook reads the running policy's kernel id from ``st.cfg[cf_hooks]`` and
    calls that member's own hook: one compare per call, inlined like the hooks
    themselves; a hook all members share (a default, or one policy's reused by
    another) is called directly. The dispatching functions are generated from
    the members' ids and the hook names of this contract, nothing else.
    """
    dispatch: dict[str, Any] = {}
    for hook, default in DEFAULTS.items():
        groups: dict[int, tuple[Any, list[int]]] = {}
        for kid, hooks in members:
            fn = hooks.get(hook, default)
            groups.setdefault(id(fn), (fn, []))[1].append(kid)
        if len(groups) == 1:
            dispatch[hook] = next(iter(groups.values()))[0]
            continue
        params = ", ".join(inspect.signature(getattr(default, "py_func", default)).parameters)
        env: dict[str, Any] = {}
        lines = [f"def {hook}({params}):", f"    k = st.cfg[{int(cf_hooks)}]"]
        for j, (fn, ids) in enumerate(groups.values()):
            env[f"{hook}_{j}"] = fn
            call = f"return {hook}_{j}({params})"
            if j == len(groups) - 1:
                lines.append(f"    {call}")  # the last: no compare left to make
            else:
                lines.append(f"    if {' or '.join(f'k == {int(i)}' for i in ids)}:\n        {call}")
        exec("\n".join(lines), env)  # noqa: S102 (generated from the contract's names and integer ids)
        dispatch[hook] = njit(inline="always", _nrt=False)(env[hook])
    return hook_module(label, dispatch)
