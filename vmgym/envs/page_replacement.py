"""``vmgym/PageReplacement-v0``: one step = one eviction decision."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from gymnasium import spaces

from vmgym import policies, prefetch
from vmgym.compare import gap_closed
from vmgym.envs import _kernel as K
from vmgym.envs._base import SimEnv
from vmgym.envs._flows import env_kernel_for
from vmgym.sim import Simulator
from vmgym.sim import state as S
from vmgym.sim.simulator import InvalidAction

REWARDS = ("time", "faults", "baseline")
INVALID_ACTIONS = ("raise", "fallback")


def default_config() -> dict[str, Any]:
    """The documented defaults of :class:`PageReplacementEnv` (a fresh dict)."""
    return {
        "workload": "default",  # registry name, suite entry, TOML spec, trace path, Workload or RefStream
        "machine": {},  # MachineConfig fields over the workload's hints (e.g. {"frames": 256})
        "k": 16,  # candidates per decision
        "candidates": "mix",  # lru | fifo | clock | random | mix (k//2 LRU tail + the rest random)
        "reward": "time",  # time | faults | baseline
        "baseline": "lru",  # the shadow policy of reward="baseline"
        "max_steps": None,  # truncate after this many decisions (None: the whole workload)
        "oracle": True,  # compute next uses so that oracle_action() works (finite traces)
        "invalid_action": "fallback",  # fallback (to slot 0, with reward penalty 1) | raise
        "report_gap": True,  # at episode end, run LRU and OPT once to place the agent between them
        "prefetch": "none",  # a classic prefetcher (vmgym.prefetch) running beside the agent
        "policy_state": None,  # a library policy whose state the env keeps (for baseline_agent(name))
        "observation": "flat",  # flat (one Box) | dict (candidates (k, 18), globals (5,))
    }


class PageReplacementEnv(SimEnv):
    """Choose which page leaves RAM each time the simulated machine needs a free frame.

    ## Description
    A complete virtual-memory simulator (processes, page tables, TLB, swap,
    shared memory, mmap, fork with copy-on-write) runs a workload. It
    fast-forwards in compiled code through hits and faults that find a free
    frame and stops only when a victim must be chosen: that is one step.

    ## Action Space
    ``Discrete(k)``: the index of a candidate slot. :meth:`action_masks` marks the
    valid slots (fewer than ``k`` frames may be evictable; pinned frames never
    are). Every action of the space is legal, as Gymnasium's checker and
    unmasked agents (DQN, ``action_space.sample()``) expect: by default
    (``invalid_action="fallback"``) an invalid slot evicts slot 0 and costs a
    penalty of 1; ``invalid_action="raise"`` makes it raise
    :class:`~vmgym.sim.InvalidAction` instead (for masked agents that must
    never pick one).

    Candidates are chosen from the whole RAM by ``candidates``: ``lru`` (the
    ``k`` least recently used frames, oldest first), ``fifo`` (oldest loads),
    ``clock`` (the next ``k`` evictable frames from a hand that stops past each
    victim), ``random`` (uniform sample drawn from ``np_random``), and the
    default ``mix``: ``k // 2`` LRU-tail frames, then a random sample of the rest.
    Slot 0 of ``lru`` and ``mix`` is LRU's own victim. Why the mix: with K=16
    the 16 LRU-tail frames let even a perfect chooser close only about 5-50 %
    of the gap between LRU and OPT, 16 random frames about 85-100 %, and
    8 + 8 about 72-98 % while keeping LRU's choice (see the README).

    ## Observation Space
    ``Box(0, 1, (k * 18 + 5,), float32)`` (``observation="flat"``, default; with
    ``"dict"``: ``Dict(candidates=Box(k, 18), globals=Box(5))``, the same values):
    ``obs[:k * 18].reshape(k, 18)`` holds per candidate (:data:`vmgym.envs.FEATURES`):
    age and idle time since load and since last use, number of uses, the gap between its last two uses (all
    ``log1p(x) / log1p(trace length)``), the MMU referenced bit, dirty, shared
    (mapcount > 1), file-backed, shared memory, the owning process's recent faults
    per access (a moving average over decisions); then seven features that measure
    time in memory sizes (``log1p(references / frames) / log1p(64)``) and so mean
    the same on any trace and RAM size: idle time, the last reuse gap (across the
    page's last eviction when it was not reused since its reload), the references
    until its next use if that gap repeats, whether it is overdue, its uses per
    memory size of residence, how often it was evicted before, and how long it
    stayed out after its last eviction (the env keeps that per-page history); and
    a valid flag (0 rows are padding). ``obs[k * 18:]``
    (:data:`vmgym.envs.GLOBALS`): free-frame fraction, faults per access since
    the previous decision and since the start, swap fill, trace progress.

    ## Rewards
    ``time`` (default): minus the simulated time from this decision to the next,
    in units of one major fault (swap-in) latency, so about -1 per fault
    caused. ``faults``: minus the faults between decisions. ``baseline``: the
    faults a shadow ``baseline`` policy took on the same references minus the
    agent's (positive when the agent is ahead).

    ## Episode End
    Terminated when the workload ends; truncated after ``max_steps`` decisions.
    The final ``info`` holds ``stats`` (the totals of ``vmgym run``) and, with
    ``report_gap``, ``lru_misses``, ``opt_misses`` and ``lru_to_opt`` (0 = LRU,
    1 = OPT).

    ## Arguments
    ``config`` (see :func:`default_config`) or the same keys as keyword
    arguments; ``reset(options=...)`` overrides keys for the next episodes.
    ``workload`` may be a :class:`~workloads.stream.RefStream`
    (``workloads.resolve_stream("zipf:length=1000000000")``), and a trace file of
    64 MiB or more streams by itself: the episode then holds one chunk of the trace,
    not all of it (each reset reads the source again), with the same observations,
    rewards and results as the whole workload.
    ``prefetch`` runs a classic prefetcher (:mod:`vmgym.prefetch`) under the
    agent: its reads also need frames, so they are decisions too.
    ``policy_state`` names a library policy whose hooks run along the episode
    (its lists, ghosts and counters follow the agent's evictions), so that
    :meth:`policy_action` / ``baseline_agent(name)`` can ask for its victim
    among the candidates; the env's kernels are then compiled for that policy.
    """

    CHOICES = {"candidates": K.SOURCES, "reward": REWARDS, "invalid_action": INVALID_ACTIONS}
    FIXED = ("k", "observation")
    NAME = "PageReplacement"
    DECISION = "an eviction"
    default_config = staticmethod(default_config)

    @classmethod
    def _checked(cls, cfg: dict[str, Any]) -> dict[str, Any]:
        cfg = super()._checked(cfg)
        if not isinstance(cfg["k"], int) or not 1 <= cfg["k"] <= 4096:
            raise ValueError(f"k must be an integer in [1, 4096], got {cfg['k']!r}")
        return cfg

    def _setup(self) -> None:
        cfg = self._config
        self._setup_machine()
        self.k = cfg["k"]
        self._source = K.SOURCES.index(cfg["candidates"])
        self._set_spaces()
        self.action_space = spaces.Discrete(self.k)
        self._cand = np.full(self.k, -1, np.int64)
        self._slots = np.arange(self.k)
        self._next = np.full(self.k, -1, np.int64)
        self._ctl = np.zeros(K.N_CTL, np.int64)
        self._prefetch = self._classic_prefetcher()
        name = cfg.get("policy_state")
        self._state_policy = policies.make(name) if name else None
        self._env_step = env_kernel_for(self._state_policy).env_step_h

    def _classic_prefetcher(self) -> prefetch.Prefetcher:
        pf = prefetch.make(self._config["prefetch"])
        if pf.name == "external":
            raise ValueError("prefetch 'external' is MemoryManager-v0; choose a classic prefetcher here")
        return pf

    def _start(self) -> None:
        self.sim = Simulator(
            self.workload,
            self.machine,
            policy=self._state_policy,
            decide="caller",
            prefetch=self._prefetch,
            oracle=self._config["oracle"],
        )
        self._shadow = (
            Simulator(self.workload, self.machine, self._config["baseline"], prefetch=self._prefetch)
            if self._config["reward"] == "baseline"
            else None
        )
        self._handle = K.make_handle(self.sim.state)
        self._proc_hist = np.zeros((3, self.sim.state.n_procs), np.float64)
        self._page_hist = K.new_page_history(self.sim.state.page_frame.shape[0])
        self._ctl[:] = 0
        self._ctl[K.CTL_RNG] = int(self.np_random.integers(0, 2**63 - 1))
        self._new_episode()
        self._advance(-1)
        if self._shadow is not None:
            self._shadow.advance(stop=self.sim.position)  # the same references as the agent so far

    def _blocks(self) -> list[tuple[str, int, tuple[int, ...]]]:
        n = self.k * K.N_FEATURES
        return [("candidates", 0, (self.k, K.N_FEATURES)), ("globals", n, (K.N_GLOBALS,))]

    def _new_episode(self) -> None:
        """Set up per-episode state of subclasses, after the simulator is built (none here)."""

    def _anchor_prefetcher(self) -> prefetch.Prefetcher:
        """The prefetcher under the LRU and OPT anchors of ``lru_to_opt``."""
        return self._prefetch

    def _choose(self, action) -> tuple[int, float]:
        slot = int(action)
        if 0 <= slot < self._ctl[K.CTL_N]:
            return slot, 0.0
        if self._config["invalid_action"] == "raise":
            raise InvalidAction(
                f"action {action} is not a valid candidate slot: {int(self._ctl[K.CTL_N])} of "
                f"{self.k} slots are valid now (see action_masks())"
            )
        return 0, 1.0

    def _take(self, slot: int) -> None:
        self._advance(int(self._cand[slot]))

    def action_masks(self) -> np.ndarray:
        """Valid candidate slots (for sb3-contrib's MaskablePPO)."""
        return self._slots < self._ctl[K.CTL_N]

    # -- decisions, oracle ---------------------------------------------------
    def candidates(self) -> np.ndarray:
        """The frames behind the valid slots, in slot order."""
        return self._cand[: int(self._ctl[K.CTL_N])].copy()

    def oracle_action(self) -> int:
        """The slot Belady would evict: the candidate whose next use is furthest.

        Ties (e.g. several never used again) go to the lowest slot. Needs
        ``oracle=True`` (the default) and a finite workload.
        """
        if not self._config["oracle"]:
            raise RuntimeError("oracle_action() needs the env built with oracle=True")
        n = int(self._ctl[K.CTL_N])
        return int(np.argmax(self._next[:n]))

    def policy_action(self) -> int:
        """The slot the ``policy_state`` policy would evict: its own victim among the candidates."""
        if self._state_policy is None:
            raise RuntimeError("policy_action() needs the env built with policy_state=<policy name>")
        cand = self.candidates()
        return int(np.flatnonzero(cand == self.sim.policy_choice(cand))[0])

    def candidate_features(self) -> np.ndarray:
        """The feature rows of the valid candidates, ``(n, len(FEATURES))`` (float32)."""
        n = int(self._ctl[K.CTL_N])
        return self._obs[: n * K.N_FEATURES].reshape(n, K.N_FEATURES).copy()

    def next_uses(self) -> np.ndarray:
        """Trace position of the next use of each valid candidate (``2**62``: never)."""
        return self._next[: int(self._ctl[K.CTL_N])].copy()

    # -- episode summary -----------------------------------------------------
    def episode_summary(self) -> dict[str, Any]:
        """Statistics so far (as ``vmgym run``), and where the agent sits between LRU and OPT."""
        out = super().episode_summary()
        if self._config["report_gap"] and self.sim.done:
            anchors = self._gap_anchors
            out["lru_misses"], out["opt_misses"] = anchors["lru"], anchors["opt"]
            out["lru_to_opt"] = gap_closed(out["stats"]["misses"], anchors["lru"], anchors["opt"])
        return out

    @cached_property
    def _gap_anchors(self) -> dict[str, int]:
        return {
            p: Simulator(self.workload, self.machine, p, prefetch=self._anchor_prefetcher()).run().misses
            for p in ("lru", "opt")
        }

    # -- internals -----------------------------------------------------------
    def _advance(self, victim: int) -> None:
        stop = self.sim.length
        while True:
            status = self._env_step(
                self._handle, victim, stop, self._source, self.k, self._ctl, self._cand, self._obs,
                self._next, self._proc_hist, self._page_hist,
            )  # fmt: skip
            if status != S.ST_DONE or self.sim.position >= stop or not self.sim.next_chunk():
                break
            self._handle = K.make_handle(self.sim.state)  # a streamed run's next chunk
            victim = -1
        self._finish(status)
