"""``vmgym/Prefetch-v0``: one step = one prefetch decision at a major fault."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from vmgym import policies
from vmgym.envs import _prefetch as P
from vmgym.envs._base import SimEnv
from vmgym.sim import Simulator
from vmgym.sim import state as S
from vmgym.sim.simulator import InvalidAction

PF_REWARDS = ("time", "faults")
INVALID_ACTIONS = ("raise", "fallback")


def prefetch_default_config() -> dict[str, Any]:
    """The documented defaults of :class:`PrefetchEnv` (a fresh dict)."""
    return {
        "workload": "default",  # registry name, suite entry, TOML spec, trace path, Workload or RefStream
        "machine": {},  # MachineConfig fields over the workload's hints (e.g. {"frames": 256})
        "policy": "lru",  # the classic replacement policy that makes room (vmgym.policies)
        "reward": "time",  # time | faults (major faults)
        "max_steps": None,  # truncate after this many decisions (None: the whole workload)
        "invalid_action": "fallback",  # fallback (to "none", with reward penalty 1) | raise
        "observation": "flat",  # flat (one Box) | dict (fault (8,), reads (8,), context (6,))
    }


class PrefetchEnv(SimEnv):
    """Choose what to read ahead each time a process takes a major fault.

    ## Description
    The simulator runs a workload under a classic replacement policy
    (``policy``, compiled) and stops after every major fault (a swap-in or a
    file read): that is one step. The chosen pages are read before the next
    reference, on the one I/O queue, into frames the policy frees; their first
    use is a minor fault instead of a major one, and a page evicted unused was
    wasted I/O (see :mod:`vmgym.prefetch` for the cost model).

    ## Action Space
    ``Discrete(9)`` (:data:`vmgym.envs.PREFETCH_ACTIONS`): ``none``;
    ``ahead-4/8/16/32`` (the 3, 7, 15 or 31 pages after the faulting one, a
    readahead window of that size; object pages for file and shared memory,
    virtual pages of the VMA for anonymous memory); ``behind-8``;
    ``swap-cluster`` (the other in-use slots of the aligned 8-slot swap block);
    ``stride-4`` (4 pages along the stride from this process's previous major
    fault); ``markov`` (the 2 pages that most recently followed this page's
    faults). :meth:`action_masks` marks ``none`` and the actions that would read
    at least one page; a masked action is valid and reads nothing. An index
    outside ``[0, 9)`` acts as ``none`` with a penalty of 1 (default
    ``invalid_action="fallback"``, as in the other two envs), or raises
    :class:`~vmgym.sim.InvalidAction` with ``invalid_action="raise"``.

    ## Observation Space
    ``Box(0, 1, (22,), float32)`` (:data:`vmgym.envs.PREFETCH_FEATURES`; with
    ``observation="dict"``: blocks ``fault`` (8), ``reads`` (8), ``context`` (6)): the
    faulting page's kind (file, shm, anon); whether it follows this process's
    previous fault (sequential), whether the stride repeats, the stride's size
    (``log1p(|pages|) / log1p(1024)``) and direction; how many Markov successors
    are known (/2); for each action but ``none`` the fraction of its pages it
    would read (not resident, with a copy on swap or file); then free frames,
    major faults per access since the previous decision, prefetch accuracy and
    waste so far (used / issued, wasted / issued), the I/O backlog
    (``b / (b + swap_read)``, ``b`` = queued device time), and trace progress.

    ## Rewards
    ``time`` (default): minus the simulated time from this decision to the
    next, in units of one major fault (``major_fault + swap_read``): a good
    prefetch turns later major faults into cheap minor ones, a wasted one
    delays the next demand read. ``faults``: minus the major faults between decisions.

    ## Episode End
    Terminated when the workload ends; truncated after ``max_steps``
    decisions. The final ``info`` holds ``stats`` (the totals of ``vmgym run``,
    with ``prefetch_issued/used/wasted``) and ``decisions``.

    ## Arguments
    ``config`` (see :func:`prefetch_default_config`) or the same keys as keyword
    arguments; ``reset(options=...)`` overrides keys for the next episodes.
    """

    CHOICES = {"reward": PF_REWARDS, "invalid_action": INVALID_ACTIONS}
    NAME = "Prefetch"
    DECISION = "a major fault"
    FAULT_ROWS = (S.ST_MAJOR,)
    default_config = staticmethod(prefetch_default_config)

    def _setup(self) -> None:
        self._setup_machine()
        self._policy = policies.make(self._config["policy"])
        self._set_spaces()
        self.action_space = spaces.Discrete(P.N_ACTIONS)
        self._counts = np.zeros(P.N_ACTIONS, np.int64)
        self._pctl = np.zeros(2, np.int64)

    def _blocks(self) -> list[tuple[str, int, tuple[int, ...]]]:
        n_fault = 8
        n_reads = P.N_ACTIONS - 1
        n_context = P.N_PF_FEATURES - n_fault - n_reads
        return [
            ("fault", 0, (n_fault,)),
            ("reads", n_fault, (n_reads,)),
            ("context", n_fault + n_reads, (n_context,)),
        ]

    def _start(self) -> None:
        self.sim = Simulator(self.workload, self.machine, self._policy, prefetch="external")
        self._hist, self._table = P.new_history(self.sim.state)
        self._pctl[:] = 0
        self._advance()

    def _choose(self, action) -> tuple[int, float]:
        a = int(action)
        if 0 <= a < P.N_ACTIONS:
            return a, 0.0
        if self._config["invalid_action"] == "raise":
            raise InvalidAction(f"action {action} is not a prefetch action: choose in [0, {P.N_ACTIONS})")
        return 0, 1.0

    def _take(self, a: int) -> None:
        if a:
            P.apply(self.sim.state, self._table, self._hist, a)
        self._advance()

    def _advance(self) -> None:
        self._finish(self.sim._step(self.sim.length))  # (across the chunks of a streamed run)
        if not self._done:
            P.observe(self.sim.state, self._table, self._hist, self._pctl, self._counts, self._obs, 0)

    def action_masks(self) -> np.ndarray:
        """``none`` and the actions that would read at least one page (for MaskablePPO)."""
        mask = self._counts > 0
        mask[0] = True
        return mask

    def decision_lines(self) -> list[str]:
        """The fault being decided and what each action would read."""
        return [] if self._done else P.describe(self.sim, self._counts)
