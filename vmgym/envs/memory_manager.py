"""``vmgym/MemoryManager-v0``: eviction and prefetch decisions in one env."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from vmgym import prefetch
from vmgym.envs import _kernel as K
from vmgym.envs import _prefetch as P
from vmgym.envs.page_replacement import INVALID_ACTIONS, PageReplacementEnv, default_config
from vmgym.sim import state as S
from vmgym.sim.simulator import InvalidAction

MM_REWARDS = ("time", "faults")


def memory_manager_default_config() -> dict[str, Any]:
    """The documented defaults of :class:`MemoryManagerEnv` (a fresh dict)."""
    cfg = default_config()
    del cfg["prefetch"], cfg["baseline"]
    return cfg


class MemoryManagerEnv(PageReplacementEnv):
    """Both decisions of a memory manager: which page leaves RAM, and what to read ahead.

    ## Description
    As :class:`~vmgym.envs.PageReplacementEnv`, and the simulator also stops
    after every major fault for a prefetch decision as in
    :class:`~vmgym.envs.PrefetchEnv`. Frames for prefetched pages are
    eviction decisions too. The last observation entry says which decision is pending.

    ## Action Space
    ``Discrete(k + 9)``: at an eviction decision, a candidate slot in ``[0, k)``;
    at a prefetch decision, ``k + a`` for prefetch action ``a`` of
    :data:`vmgym.envs.PREFETCH_ACTIONS`. :meth:`action_masks` marks only the
    valid actions of the pending decision (prefetch actions that would read
    nothing are masked but valid no-ops). An action of the other decision (or
    a padding slot) becomes slot 0 / ``none`` with a penalty of 1 by default
    (``invalid_action="fallback"``: ``action_space.sample()`` and unmasked
    agents work, half the space belonging to the other decision);
    ``invalid_action="raise"`` makes it raise :class:`~vmgym.sim.InvalidAction`.

    ## Observation Space
    ``Box(0, 1, (k * 18 + 5 + 22 + 1,), float32)`` (with ``observation="dict"``:
    ``candidates``, ``globals``, ``prefetch`` and ``decision`` blocks): the eviction block of
    PageReplacement-v0 (zero at a prefetch decision), the prefetch block of
    Prefetch-v0 (zero at an eviction decision), and 1.0 if the pending decision
    is a prefetch.

    ## Rewards
    ``time`` (default) as in PageReplacement-v0; ``faults``: minus the major
    faults between decisions (the first use of a prefetched page is a minor fault).

    ## Episode End
    As PageReplacement-v0. ``lru_to_opt`` in the final ``info`` places the
    agent's misses between LRU's and OPT's without prefetching (the first use
    of a prefetched page counts as a miss, so this measures replacement only;
    compare ``stats["time_ns"]`` for the whole effect).

    ## Arguments
    ``config`` (see :func:`memory_manager_default_config`) or the same keys as
    keyword arguments; ``reset(options=...)`` overrides keys for the next episodes.
    """

    CHOICES = {"candidates": K.SOURCES, "reward": MM_REWARDS, "invalid_action": INVALID_ACTIONS}
    NAME = "MemoryManager"
    DECISION = "a decision"
    FAULT_ROWS = (S.ST_MAJOR,)
    default_config = staticmethod(memory_manager_default_config)

    def _setup(self) -> None:
        super()._setup()  # sizes the observation from this class's _blocks
        self.action_space = spaces.Discrete(self.k + P.N_ACTIONS)
        self._counts = np.zeros(P.N_ACTIONS, np.int64)
        self._pctl = np.zeros(2, np.int64)

    @property
    def _pf_off(self) -> int:
        """Where the prefetch block starts: after PageReplacement-v0's candidates and globals."""
        return self.k * K.N_FEATURES + K.N_GLOBALS

    def _blocks(self) -> list[tuple[str, int, tuple[int, ...]]]:
        off = self._pf_off
        return [
            *super()._blocks(),
            ("prefetch", off, (P.N_PF_FEATURES,)),
            ("decision", off + P.N_PF_FEATURES, (1,)),
        ]

    def _classic_prefetcher(self) -> prefetch.Prefetcher:
        return prefetch.make("external")

    def _anchor_prefetcher(self) -> prefetch.Prefetcher:
        return prefetch.make("none")

    def _new_episode(self) -> None:
        st = self.sim.state
        self._hist, self._table = P.new_history(st)
        self._pctl[:] = 0

    @property
    def pending(self) -> str | None:
        """``"victim"`` or ``"prefetch"``: the decision the next step makes."""
        return None if self.sim is None or self._done else self.sim.pending

    def _choose(self, action) -> tuple[tuple[str, int], float]:
        a = int(action)
        if self.pending == "victim":
            if 0 <= a < self._ctl[K.CTL_N]:
                return ("victim", a), 0.0
            what = f"a valid candidate slot ({int(self._ctl[K.CTL_N])} of {self.k} slots are valid now)"
            fallback = ("victim", 0)
        else:
            if self.k <= a < self.k + P.N_ACTIONS:
                return ("prefetch", a - self.k), 0.0
            what = f"a prefetch action in [{self.k}, {self.k + P.N_ACTIONS})"
            fallback = ("prefetch", 0)
        if self._config["invalid_action"] == "raise":
            raise InvalidAction(f"action {action} is not {what}: the pending decision is a {self.pending}")
        return fallback, 1.0

    def _take(self, choice: tuple[str, int]) -> None:
        kind, value = choice
        if kind == "victim":
            self._advance(int(self._cand[value]))
            return
        if value:
            P.apply(self.sim.state, self._table, self._hist, value)
        self._advance(-1)

    def _advance(self, victim: int) -> None:
        super()._advance(victim)
        if not self._done and self.sim.pending == "prefetch":
            P.observe(
                self.sim.state, self._table, self._hist, self._pctl, self._counts, self._obs, self._pf_off
            )
            self._obs[-1] = 1.0

    def action_masks(self) -> np.ndarray:
        """The valid actions of the pending decision (for MaskablePPO)."""
        mask = np.zeros(self.k + P.N_ACTIONS, bool)
        if self.pending == "victim":
            mask[: self.k] = self._slots < self._ctl[K.CTL_N]
        elif self.pending == "prefetch":
            mask[self.k :] = self._counts > 0
            mask[self.k] = True
        return mask

    def oracle_action(self) -> int:
        """Belady's slot at an eviction decision (see PageReplacement-v0); an error at a prefetch decision."""
        if self.pending != "victim":
            raise RuntimeError(
                "oracle_action() answers eviction decisions; the pending decision is a prefetch"
            )
        return super().oracle_action()

    def decision_lines(self) -> list[str]:
        """The fault of a pending prefetch decision and what each action would read."""
        return P.describe(self.sim, self._counts) if self.pending == "prefetch" else []
