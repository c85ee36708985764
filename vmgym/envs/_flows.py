"""The env kernels compiled against one policy's simulator flow (for ``policy_state``)."""

from __future__ import annotations

from types import ModuleType

from vmgym.envs import _kernel
from vmgym.policies import Policy
from vmgym.sim.specialize import flow_for, rebind

_ENV_FLOWS: dict[ModuleType, ModuleType] = {}  # by the policy's simulator flow


def env_kernel_for(policy: Policy | None) -> ModuleType:
    """:mod:`vmgym.envs._kernel` with ``_run`` and ``evict`` bound to ``policy``'s flow (None: the plain one).

    The policy's hooks then run along the episode while the agent still chooses
    every victim; ``env_step`` is compiled once per flow, so once for a policy
    family (and cached).
    """
    flow = flow_for(policy)
    mod = _ENV_FLOWS.get(flow)
    if mod is None:
        if policy is None:
            mod = _kernel
        else:
            tag = getattr(flow._run, "py_func", flow._run).__qualname__.split("__", 1)[1]
            mod = rebind(_kernel, {"_run": flow._run, "evict": flow.evict}, tag)
        _ENV_FLOWS[flow] = mod
    return mod
