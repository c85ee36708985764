"""Classic policies as agents in the same env, choosing among the same candidates.

``baseline_agent(name)`` returns ``agent(env) -> action``. The rule is applied
to the candidates the env offers (not to the whole RAM), so an agent and a
heuristic are compared on equal terms; with ``candidates="lru"`` or ``"mix"``,
``baseline_agent("lru")`` makes exactly LRU's choice (slot 0).

Two kinds: stateless rules over the candidates' features (lru, fifo, lfu, mru,
clock, random, opt), and every other policy of the library (arc, lirs,
s3fifo, ...), which keeps state along the episode: the env must be built with
``policy_state=<name>`` so that the simulator runs that policy's bookkeeping,
and the agent asks it for its victim among the candidates
(:meth:`PageReplacementEnv.policy_action`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vmgym import policies
from vmgym.envs._kernel import FEATURES

Agent = Callable[[Any], int]


def _slot_min(env, key: np.ndarray) -> int:
    cand = env.candidates()
    return int(np.argmin(key[cand])) if cand.size else 0


def _lru(env) -> int:
    return _slot_min(env, env.sim.state.frame_last)


def _fifo(env) -> int:
    return _slot_min(env, env.sim.state.frame_in)


def _lfu(env) -> int:
    st = env.sim.state
    cand = env.candidates()
    order = np.lexsort((st.frame_last[cand], st.frame_count[cand]))  # fewest uses, then least recent
    return int(order[0]) if cand.size else 0


def _mru(env) -> int:
    cand = env.candidates()
    return int(np.argmax(env.sim.state.frame_last[cand])) if cand.size else 0


def _clock(env) -> int:
    """Second chance over the offered candidates in slot order: the first with its bit clear."""
    feats = env.candidate_features()
    col = FEATURES.index("referenced")
    clear = np.flatnonzero(feats[:, col] == 0)
    return int(clear[0]) if clear.size else 0


def _random(env) -> int:
    n = env.candidates().size
    return int(env.np_random.integers(0, n)) if n else 0


def _opt(env) -> int:
    return env.oracle_action()


STATELESS: dict[str, Agent] = {
    "lru": _lru,
    "fifo": _fifo,
    "lfu": _lfu,
    "mru": _mru,
    "clock": _clock,
    "random": _random,
    "opt": _opt,
}


def _stateful(name: str) -> Agent:
    def agent(env) -> int:
        if env.config.get("policy_state") != name:
            raise ValueError(
                f"baseline_agent({name!r}) keeps {name}'s state along the episode: build the env with "
                f"policy_state={name!r}"
            )
        return env.policy_action()

    agent.__name__ = f"{name}_agent"
    return agent


def baseline_names() -> list[str]:
    """Names accepted by :func:`baseline_agent`: the stateless rules and every library policy."""
    return sorted(set(STATELESS) | set(policies.names()))


def baseline_agent(name: str) -> Agent:
    """A classic replacement rule as an agent: a function of the env returning a slot.

    ``lru``/``fifo``/``mru``: least/most recently used or oldest load among the
    candidates; ``lfu``: fewest uses since load, then least recent; ``clock``:
    the first candidate (slot order) whose MMU referenced bit is clear, else slot
    0; ``random``: uniform from ``env.np_random``; ``opt``: :meth:`oracle_action`.
    Any other library policy (aliases accepted): its own victim among the
    candidates, with its state kept by an env built with ``policy_state=name``.
    """
    key = name.strip().lower()
    if key in STATELESS:
        return STATELESS[key]
    try:
        return _stateful(policies.get_class(key).name)
    except policies.PolicyError:
        raise ValueError(
            f"unknown baseline agent {name!r}; choose one of: {', '.join(baseline_names())}"
        ) from None
