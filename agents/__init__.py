"""Learned agents for vmgym's envs: train, save, load, evaluate; one registry of agent kinds.

>>> import agents
>>> agents.names()                       # the agent kinds that can be trained
>>> agent = agents.load("default")       # the shipped model (or a path: model.npz, model.zip)
>>> agent.act(obs)                       # a slot of PageReplacement-v0's candidates

Kinds: ``imitation`` (the candidate scorer imitating Belady, BC + DAgger),
``lightgbm`` (a gradient-boosted tree ensemble trained the same way; LightGBM
is the optional extra ``vmgym[lightgbm]``, needed to train only) and the SB3
algorithms ``maskable-ppo``, ``ppo`` and ``dqn`` over the MLP scorer network.
Adding a kind is one module with an :class:`~agents.base.Agent` subclass
decorated with :func:`~agents.base.register`, imported below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import rl, scorer_agent, trees  # noqa: F401  (register the kinds; SB3 and LightGBM load lazily)
from agents.base import Agent, AgentError, get_class, register, registered

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def names() -> list[str]:
    """The registered agent kinds."""
    return sorted(registered())


def pretrained() -> list[str]:
    """The models shipped in ``agents/pretrained`` (``load(name)`` reads one)."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.npz"))


def make(name: str, **kwargs: Any) -> Agent:
    """A new (untrained) agent of kind ``name`` (e.g. ``make("imitation", k=16)``)."""
    return get_class(name)(**kwargs)


def load(spec: str | Path) -> Agent:
    """A trained agent: a shipped model's name (``default``) or a model file (``.npz``; SB3 ``.zip``).

    ``.npz`` models are plain arrays and safe to load from anywhere. SB3 ``.zip``
    files contain pickles, which can run code when loaded: load only your own.
    """
    text = str(spec)
    if text in pretrained():
        path = PRETRAINED_DIR / f"{text}.npz"
    else:
        path = Path(text)
        if not path.exists():
            known = ", ".join(pretrained()) or "none"
            raise AgentError(f"{path}: no such model file (shipped models: {known})")
    for cls in registered().values():
        if path.suffix in cls.suffixes:
            return cls.load(path)
    raise AgentError(
        f"{path}: unknown model file type {path.suffix!r}; expected .npz (imitation) or .zip (SB3)"
    )


__all__ = ["Agent", "AgentError", "get_class", "load", "make", "names", "pretrained", "register"]
