"""What every agent is, and the one registry of agent kinds (``agents.names()``, ``make``, ``load``)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from vmgym import _optional
from vmgym.envs.page_replacement import PageReplacementEnv


class AgentError(ValueError):
    """An agent that cannot be made, loaded or used as asked (one line, names the file or the key)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """The optional module ``module``, or a one-line :class:`AgentError`: ``purpose`` needs ``vmgym[extra]``.

    Training (torch, stable-baselines3, sb3-contrib, tensorboard: ``vmgym[train]``;
    LightGBM: ``vmgym[lightgbm]``) is optional; loading and running a shipped
    ``.npz`` agent needs none of it.
    """
    return _optional.require(module, extra, purpose, error=AgentError)


class Agent:
    """An eviction agent: ``act(obs, env) -> slot`` on PageReplacement-v0 with ``k`` ``candidates``.

    Subclasses set ``name`` (the registry key), ``aliases``, ``source`` (the
    paper or method followed) and ``suffixes`` (the model files :func:`load`
    hands them), and implement :meth:`act`, :meth:`save` and :meth:`load`.
    ``config`` keeps how the agent was trained (written with the model).
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    source: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, k: int = 16, candidates: str = "mix", config: dict[str, Any] | None = None):
        self.k = k
        self.candidates = candidates
        self.config = dict(config or {})

    def act(self, obs: np.ndarray, env: PageReplacementEnv | None = None) -> int:
        """The slot to evict for observation ``obs`` (the env is there for agents that need more)."""
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the model; return the file written."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> Agent:
        """Read a model written by :meth:`save`."""
        raise NotImplementedError

    def check_env(self, env: PageReplacementEnv) -> None:
        """Raise :class:`AgentError` if ``env`` offers another number of candidates than the model takes."""
        if getattr(env, "k", self.k) != self.k:
            raise AgentError(f"agent {self.label} takes k={self.k} candidates, the env offers k={env.k}")

    @property
    def env_id(self) -> str:
        """The env the agent acts in (PageReplacement-v0 unless its training config says otherwise)."""
        return self.config.get("params", {}).get("env", "vmgym/PageReplacement-v0")

    @property
    def label(self) -> str:
        """How tables name this agent."""
        return self.config.get("label", self.name)

    def describe(self) -> dict[str, Any]:
        """For run records: kind, candidates and training config."""
        return {"agent": self.name, "k": self.k, "candidates": self.candidates, "config": self.config}


_REGISTRY: dict[str, type[Agent]] = {}
_ALIASES: dict[str, str] = {}


def register(cls: type[Agent]) -> type[Agent]:
    """Class decorator: make ``cls`` available under its ``name`` and ``aliases``."""
    for key in (cls.name, *cls.aliases):
        if key in _ALIASES and _ALIASES[key] != cls.name:
            raise ValueError(f"agent name {key!r} is taken by {_ALIASES[key]!r}")
        _ALIASES[key] = cls.name
    _REGISTRY[cls.name] = cls
    return cls


def get_class(name: str) -> type[Agent]:
    """The agent class registered as ``name`` (or an alias)."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise AgentError(f"unknown agent kind {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[_ALIASES[key]]


def registered() -> dict[str, type[Agent]]:
    """Name -> class of every registered agent kind."""
    return dict(_REGISTRY)
