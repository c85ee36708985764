"""The env kernels compiled against one policy's simulator flow (for ``policy_state``)."""

from __future__ import annotations

from types import ModuleType

from vmgym.envs import _kernel
from vmgym.policies import Policy
from vmgym.sim.specialize import flow_for, rebind

_ENV_FLOWS: dict[object, ModuleType] = {}


def env_kernel_for(policy: Policy | None) -> ModuleType:
    """:mod:`vmgym.envs._kernel` with ``_run`` and ``evict`` bound to ``policy``'s flow (None: the plain one).

    The policy's hooks then run along the episode while the agent still chooses
    every victim; ``env_step`` is compiled once per policy (and cached).
    """
    cls = type(policy) if policy is not None else None
    mod = _ENV_FLOWS.get(cls)
    if mod is None:
        if cls is None:
            mod = _kernel
        else:
            flow = flow_for(cls)
            tag = getattr(flow._run, "py_func", flow._run).__qualname__.split("__", 1)[1]
            mod = rebind(_kernel, {"_run": flow._run, "evict": flow.evict}, tag)
        _ENV_FLOWS[cls] = mod
    return mod
