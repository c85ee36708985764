"""What the vmgym environments share: keyword config, the step loop, rewards, the episode summary."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vmgym.envs.render import render_ansi, render_rgb
from vmgym.sim import MachineConfig, Simulator
from vmgym.sim import state as S
from workloads import RefStream, Workload, resolve, resolve_stream


class SimEnv(gym.Env):
    """Base of the vmgym envs: one step = one decision of the simulated OS.

    Subclasses define :meth:`default_config`, ``CHOICES`` (config keys with a
    fixed set of values), :meth:`_setup` (spaces), :meth:`_start` (a new
    simulator, advanced to the first decision), :meth:`_choose` (validate an
    action) and :meth:`_take` (apply it and run to the next decision).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    OBSERVATIONS = ("flat", "dict")  # config["observation"]: one Box, or a Dict of named blocks
    FIXED: ClassVar[tuple[str, ...]] = ("observation",)  # keys that change the spaces (not in reset options)
    NAME: ClassVar[str] = ""  # the registered name without namespace and version
    DECISION: ClassVar[str] = "a decision"  # what one step decides (for error messages)

    @staticmethod
    def default_config() -> dict[str, Any]:
        """The documented defaults (a fresh dict)."""
        raise NotImplementedError

    def __init__(self, config: dict[str, Any] | None = None, render_mode: str | None = None, **kwargs: Any):
        self._config = self._checked({**self.default_config(), **(config or {}), **kwargs})
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r}; allowed: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.sim: Simulator | None = None
        self._shadow: Simulator | None = None
        self._setup()

    # -- configuration -------------------------------------------------------
    @classmethod
    def _checked(cls, cfg: dict[str, Any]) -> dict[str, Any]:
        defaults = cls.default_config()
        unknown = set(cfg) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown {cls.NAME} config key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(defaults)}"
            )
        for key, allowed in {**cls.CHOICES, "observation": cls.OBSERVATIONS}.items():
            if cfg[key] not in allowed:
                raise ValueError(f"{key} {cfg[key]!r}; allowed: {', '.join(allowed)}")
        if cfg["max_steps"] is not None and (not isinstance(cfg["max_steps"], int) or cfg["max_steps"] < 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {cfg['max_steps']!r}")
        if not isinstance(cfg["machine"], dict):
            raise ValueError("machine must be a dict of MachineConfig fields")
        return cfg

    def _setup_machine(self) -> None:
        """Resolve the workload and the machine from the config."""
        wl = self._config["workload"]
        if isinstance(wl, (Workload, RefStream)):
            self.workload: Workload | RefStream = wl
        else:  # a large trace file streams; a generator is made whole (pass a RefStream to stream it)
            self.workload = resolve_stream(wl, generators=False) or resolve(wl)
        self.machine = MachineConfig.for_workload(self.workload, **self._config["machine"])
        self._fault_unit = float(self.machine.costs.major_fault + self.machine.costs.swap_read)

    def _setup(self) -> None:
        raise NotImplementedError

    @property
    def config(self) -> dict[str, Any]:
        """The current configuration (a copy)."""
        return dict(self._config)

    # -- Gymnasium API -------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start the workload from the beginning; ``options`` override config keys from now on."""
        super().reset(seed=seed)
        if options:
            for key in self.FIXED:
                if key in options and options[key] != self._config[key]:
                    raise ValueError(f"option {key!r} changes the spaces: build a new env instead")
            self._config = self._checked({**self._config, **options})
            self._setup()
        self._steps = 0
        self._done = False
        self._start()
        if self._done:
            raise ValueError(
                f"workload {self.workload.name!r} never needs {self.DECISION} with "
                f"{self.machine.frames} frames: give fewer frames (machine={{'frames': ...}})"
            )
        return self._observation(), {"position": self.sim.position}

    def step(self, action):
        """Apply ``action`` to the pending decision and run to the next one."""
        if self.sim is None or self._done:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        choice, penalty = self._choose(action)
        sc = self.sim.state.sc
        mode = self._config["reward"]
        t0 = int(sc[S.SC_TIME])
        f0 = self._faults() if mode != "time" else 0
        self._take(choice)
        self._steps += 1
        if mode == "time":
            reward = -(int(sc[S.SC_TIME]) - t0) / self._fault_unit
        elif mode == "faults":
            reward = -float(self._faults() - f0)
        else:
            b0 = self._faults(self._shadow)
            self._shadow.advance(stop=self.sim.position)
            reward = float((self._faults(self._shadow) - b0) - (self._faults() - f0))
        terminated = self._done
        truncated = (
            not terminated
            and self._config["max_steps"] is not None
            and (self._steps >= self._config["max_steps"])
        )
        info: dict[str, Any] = {"position": self.sim.position}
        if terminated or truncated:
            info.update(self.episode_summary())
        return self._observation(), reward - penalty, terminated, truncated, info

    def render(self):
        """``ansi``: a text table of the candidates and memory; ``rgb_array``: an image of frames and swap."""
        if self.render_mode is None or self.sim is None:
            return None
        if self.render_mode == "ansi":
            return render_ansi(self)
        return render_rgb(self)

    def candidates(self) -> np.ndarray:
        """The eviction candidates of the pending decision (none by default)."""
        return np.zeros(0, np.int64)

    def decision_lines(self) -> list[str]:
        """Extra lines for ``render_mode="ansi"`` describing the pending decision."""
        return []

    def episode_summary(self) -> dict[str, Any]:
        """Statistics so far (as ``vmgym run``) and the number of decisions."""
        return {"stats": self.sim.stats().summary(), "decisions": self._steps}

    # -- internals -----------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _choose(self, action) -> tuple[Any, float]:
        raise NotImplementedError

    def _take(self, choice) -> None:
        raise NotImplementedError

    FAULT_ROWS: ClassVar[tuple[int, ...]] = (S.ST_MINOR, S.ST_MAJOR)  # what reward="faults" counts

    def _faults(self, sim: Simulator | None = None) -> int:
        """Faults so far of the agent's simulator (or of ``sim``, e.g. the shadow baseline)."""
        ps = (sim or self.sim).state.proc_stats
        return int(sum(ps[row].sum() for row in self.FAULT_ROWS))

    def _finish(self, status: int) -> None:
        """Raise the simulator's error for ``status``, if any; mark the episode over if it ended."""
        self._done = self.sim.raise_for_status(int(status)) in (S.ST_DONE, S.ST_STOPPED)

    def _blocks(self) -> list[tuple[str, int, tuple[int, ...]]]:
        """The observation's named blocks in flat order: (name, start, shape)."""
        raise NotImplementedError

    def _set_spaces(self) -> None:
        """``observation_space`` for ``config["observation"]``: one Box, or a Dict of the named blocks."""
        _, start, shape = self._blocks()[-1]
        n_obs = start + int(np.prod(shape))
        self._obs = np.zeros(n_obs, np.float32)
        if self._config["observation"] == "flat":
            self.observation_space = spaces.Box(0.0, 1.0, (n_obs,), np.float32)
        else:
            self.observation_space = spaces.Dict(
                {name: spaces.Box(0.0, 1.0, shape, np.float32) for name, _, shape in self._blocks()}
            )

    def _observation(self) -> np.ndarray | dict[str, np.ndarray]:
        if self._config["observation"] == "flat":
            return self._obs.copy()
        return {
            name: self._obs[start : start + int(np.prod(shape))].reshape(shape).copy()
            for name, start, shape in self._blocks()
        }
