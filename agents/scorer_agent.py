"""The imitation agent: the candidate scorer trained to imitate Belady (:mod:`agents.imitation`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.base import Agent, AgentError, register
from agents.scorer import Scorer, ScorerError
from vmgym.envs.page_replacement import PageReplacementEnv


@register
class ScorerAgent(Agent):
    """Evicts the candidate the scorer ranks first: its predicted next use is furthest away.

    Follows Parrot (Liu et al., An Imitation Learning Approach for Cache
    Replacement, ICML 2020: imitate Belady, DAgger on the learner's own states)
    with LRB's target (Song et al., Learning Relaxed Belady for CDN Caching,
    NSDI 2020: regress the next-use distance from features, no addresses). The
    agent keeps slot 0 (with ``mix`` candidates, LRU's own victim) unless
    another candidate's score beats it by ``margin`` (chosen on the validation
    suite after training): it deviates from LRU only where it is confident. The
    model is a plain ``.npz`` of arrays (:class:`agents.scorer.Scorer`), safe to
    load from anywhere; inference is compiled (~3 us per decision).
    """

    name = "imitation"
    aliases = ("bc-dagger", "parrot", "scorer")
    source = (
        "Liu et al., ICML 2020 (Parrot); Song et al., NSDI 2020 (LRB); Ross et al., AISTATS 2011 (DAgger)"
    )
    suffixes = (".npz",)

    def __init__(self, scorer: Scorer | None = None, k: int = 16, candidates: str = "mix", config=None):
        super().__init__(k, candidates, config)
        self.scorer = scorer or Scorer.init(
            tuple(self.config.get("hidden", (64, 64))), self.config.get("seed", 0)
        )

    @property
    def margin(self) -> float:
        """Slot 0 (LRU's victim) is kept unless another candidate scores this much higher (0: argmax)."""
        return float(self.config.get("margin", 0.0))

    def act(self, obs: np.ndarray, env: PageReplacementEnv | None = None) -> int:
        """The valid slot with the highest score (slot 0 unless another beats it by :attr:`margin`)."""
        return self.scorer.act(obs, self.k, self.margin)

    def save(self, path: str | Path) -> Path:
        """The scorer's arrays plus k, candidates and the training config, in one ``.npz``."""
        self.scorer.meta.update(
            {"agent": self.name, "k": self.k, "candidates": self.candidates, "config": self.config}
        )
        return self.scorer.save(path)

    @classmethod
    def load(cls, path: str | Path) -> ScorerAgent:
        """Read a model written by :meth:`save` (plain arrays, no code is run)."""
        try:
            scorer = Scorer.load(path)
        except ScorerError as e:
            raise AgentError(str(e)) from None
        meta = scorer.meta
        if meta.get("agent") != cls.name:
            raise AgentError(f"{path}: a model of agent {meta.get('agent')!r}, not {cls.name!r}")
        return cls(scorer, int(meta["k"]), str(meta["candidates"]), dict(meta.get("config", {})))
