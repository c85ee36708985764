"""The imitation agent: the candidate scorer trained to imitate Belady (:mod:`agents.imitation`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from agents.base import Agent, AgentError, register, registered
from agents.scorer import Scorer, ScorerError, load_scorer
from vmgym.envs.page_replacement import PageReplacementEnv
from vmgym.sim import state as S


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

    Subclasses use another kind of scorer (:attr:`scorer_class`, e.g. the
    tree ensemble of :class:`agents.trees.TreeAgent`) with the same margin
    and duel: a scorer has ``act(obs, k, margin)``, ``meta`` and ``save(path)``.
    """

    name = "imitation"
    aliases = ("bc-dagger", "parrot", "scorer")
    source = (
        "Liu et al., ICML 2020 (Parrot); Song et al., NSDI 2020 (LRB); Ross et al., AISTATS 2011 (DAgger)"
    )
    suffixes = (".npz",)  # every scorer kind's .npz: load() hands it to the kind its header names
    scorer_class: ClassVar[type] = Scorer

    def __init__(self, scorer=None, k: int = 16, candidates: str = "mix", config=None):
        super().__init__(k, candidates, config)
        self._duel: Duel | None = None
        self.scorer = scorer if scorer is not None else self.untrained()

    def untrained(self):
        """The scorer of a new agent (random weights from the config's ``hidden`` and ``seed``)."""
        return Scorer.init(tuple(self.config.get("hidden", (64, 64))), self.config.get("seed", 0))

    @property
    def gated(self) -> bool:
        """Whether :class:`Duel` may overrule the scorer with slot 0 (config ``duel``, default on)."""
        return bool(self.config.get("duel", True))

    @property
    def margin(self) -> float:
        """Slot 0 (LRU's victim) is kept unless another candidate scores this much higher (0: argmax)."""
        return float(self.config.get("margin", 0.0))

    def act(self, obs: np.ndarray, env: PageReplacementEnv | None = None) -> int:
        """The valid slot with the highest score (slot 0 unless another beats it by :attr:`margin`).

        Given the env, :class:`Duel` follows slot 0 instead where the scorer has
        been losing to LRU (a shadow LRU run on the same references).
        """
        slot = self.scorer.act(obs, self.k, self.margin)
        if env is None or not self.gated:
            return slot
        duel = self._duel
        if duel is None or duel.sim is not env.sim:
            duel = self._duel = Duel(env, int(self.config.get("window", 64)))
        return duel.decide(slot)

    def save(self, path: str | Path) -> Path:
        """The scorer's arrays plus k, candidates and the training config, in one ``.npz``."""
        self.scorer.meta.update(
            {"agent": self.name, "k": self.k, "candidates": self.candidates, "config": self.config}
        )
        return self.scorer.save(path)

    @classmethod
    def load(cls, path: str | Path) -> ScorerAgent:
        """Read a model written by :meth:`save` (plain arrays, no code is run).

        ``ScorerAgent.load`` reads every scorer kind's file and returns the agent
        class its header names (``imitation``, ``lightgbm``); a subclass's
        ``load`` reads only its own kind.
        """
        try:
            scorer = load_scorer(path)
        except ScorerError as e:
            raise AgentError(str(e)) from None
        meta = scorer.meta
        kind = registered().get(meta.get("agent"))
        if kind is None or not issubclass(kind, cls) or not isinstance(scorer, kind.scorer_class):
            raise AgentError(f"{path}: a model of agent {meta.get('agent')!r}, not {cls.name!r}")
        return kind(scorer, int(meta["k"]), str(meta["candidates"]), dict(meta.get("config", {})))


def misses(st) -> int:
    """Accesses that faulted so far in a simulator state (``RunStats.misses`` without building it)."""
    ps = st.proc_stats
    return int((ps[S.ST_READS] + ps[S.ST_WRITES] + ps[S.ST_EXECS] - ps[S.ST_HITS]).sum())


class Duel:
    """Follows the scorer, or slot 0 (LRU's victim) where the scorer loses to LRU: one per episode.

    Set dueling (Qureshi et al., Adaptive Insertion Policies for High
    Performance Caching, ISCA 2007) chooses online between two policies by
    their misses. Here a shadow LRU simulator runs the same references beside
    the episode; after every ``window`` decisions the agent's misses in the
    window are compared with the shadow's. A scorer window with more misses
    than LRU's switches the agent to slot 0; it tries the scorer again after
    ``wait`` windows, doubling ``wait`` (up to ``MAX_WAIT``) after every lost
    trial and resetting it after a won one. So on a program where the learned
    model misleads, the agent loses at most about one window per trial to
    LRU, and where the model wins it follows the model.
    """

    MAX_WAIT = 64

    def __init__(self, env: PageReplacementEnv, window: int) -> None:
        from vmgym.sim import Simulator

        self.sim = env.sim
        self.window = window
        self.shadow = Simulator(env.workload, env.machine, "lru", prefetch=env.config["prefetch"])
        self.follow = True
        self.wait = 1
        self.idle = 0  # windows spent following slot 0 since the last trial
        self.count = 0
        self._mark()

    def _mark(self) -> None:
        self.shadow.advance(stop=self.sim.position)
        self.m_agent = misses(self.sim.state)
        self.m_lru = misses(self.shadow.state)
        self.count = 0

    def decide(self, slot: int) -> int:
        """The slot to take now; at the end of a window, compare with LRU and choose the next mode."""
        self.count += 1
        if self.count >= self.window:
            agent0, lru0 = self.m_agent, self.m_lru
            self._mark()
            if self.follow:
                won = self.m_agent - agent0 <= self.m_lru - lru0
                if not won:
                    self.follow = False
                    self.idle = 0
                elif self.idle:  # a won trial after a fallback
                    self.wait = 1
                self.idle = 0
            else:
                self.idle += 1
                if self.idle >= self.wait:
                    self.follow = True
                    self.wait = min(2 * self.wait, self.MAX_WAIT)
        return slot if self.follow else 0
