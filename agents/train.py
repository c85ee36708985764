"""``vmgym train CONFIG.toml``: a training config, its run folder, resume after a kill.

A config is a TOML file with a ``[train]`` table (algorithm, suites, seed), an
``[env]`` table (``k``, ``candidates``) and one table of the algorithm's
settings (``[imitation]``, ``[lightgbm]``, ``[ppo]``, ...); every key is optional and checked
(an unknown key or a bad value is an error naming the file, table and key).
``agents/pretrained/default.toml`` is the config of the shipped agent.

The run folder holds ``config.json`` (the resolved config), ``model.npz`` or
``model.zip`` (the result), ``record.json`` (config, versions, validation
results), ``checkpoints/`` and ``tb/`` (tensorboard events). Training writes a
checkpoint after every round or every ``checkpoint_every`` steps; the same
command on the same folder resumes from the last one and ends with the same
model as an uninterrupted run. A folder that holds another config is refused.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agents.base import AgentError, require
from agents.boosting import OBJECTIVES, require_lightgbm
from agents.rollout import ENV_IDS
from vmgym.envs._kernel import SOURCES

Log = Callable[[str], None]
Progress = Callable[[float, float], None]  # (done, total) in the algorithm's units (rollouts + epochs, steps)


@dataclass(frozen=True)
class ImitationConfig:
    """``[imitation]``: BC then DAgger rounds (:mod:`agents.imitation`)."""

    rounds: int = 5  # round 0 follows Belady (behaviour cloning); round r acts as Belady w.p. beta**r
    beta: float = 0.5
    keep: float = 0.25  # fraction of visited decisions recorded
    cap: float = 64.0  # next-use distances are capped at this many memory sizes
    hidden: tuple[int, int] = (64, 64)
    epochs: int = 4  # epochs over the aggregated data, per round
    batch: int = 256  # decisions per minibatch
    lr: float = 2e-3
    weight_decay: float = 1e-5
    rank_weight: float = 1.0
    balance: bool = True  # every workload of the suite weighs the same in training
    margins: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)  # deviation margins tried on validation
    # the LRU duel (agents.scorer_agent.Duel) on or off, tried on validation at the chosen margin;
    # the first value is used while training (per-round validation, margin choice)
    duels: tuple[bool, ...] = (True,)


@dataclass(frozen=True)
class LightGBMConfig:
    """``[lightgbm]``: the same BC + DAgger rounds with a LightGBM tree ensemble (:mod:`agents.boosting`).

    Needs the optional extra ``vmgym[lightgbm]``; LightGBM runs on ``[train] threads``.
    """

    rounds: int = 3  # as [imitation]: round 0 follows Belady; round r acts as Belady w.p. beta**r
    beta: float = 0.5
    keep: float = 0.25  # fraction of visited decisions recorded
    cap: float = 64.0  # next-use distances are capped at this many memory sizes
    objective: str = "lambdarank"  # lambdarank (one query per decision) | regression (log next-use)
    n_estimators: int = 100  # trees; every decision walks each tree once per candidate
    num_leaves: int = 31  # leaves per tree
    learning_rate: float = 0.1
    min_child_samples: int = 100  # candidate rows per leaf at least
    lambda_l2: float = 1.0  # L2 penalty on leaf values
    balance: bool = True  # every workload of the suite weighs the same in training
    margins: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)  # deviation margins tried on validation
    duels: tuple[bool, ...] = (True,)  # as [imitation]: the LRU duel on or off, tried on validation


@dataclass(frozen=True)
class RLConfig:
    """``[ppo]``, ``[maskable-ppo]`` or ``[dqn]``: SB3 training on PageReplacement-v0 (:mod:`agents.rl`)."""

    timesteps: int = 100_000
    n_envs: int = 2
    learning_rate: float = 3e-4
    n_steps: int = 1024  # PPO rollout length per env
    batch_size: int = 256
    gamma: float = 0.99
    reward: str = "time"  # the env's reward: time | faults | baseline
    init: str = ""  # a scorer .npz (e.g. an imitation model) to start the policy network from
    hidden: tuple[int, int] = (64, 64)
    env: str = (
        "vmgym/PageReplacement-v0"  # or vmgym/Prefetch-v0 (a learned prefetcher), vmgym/MemoryManager-v0
    )
    policy: str = "lru"  # Prefetch-v0: the classic replacement policy under the learned prefetcher
    checkpoint_every: int = 20_000  # steps
    max_steps: int = 4096  # decisions per episode (workloads are long; episodes are slices)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: ``[train]`` and ``[env]`` keys, and the algorithm's table."""

    algorithm: str = "imitation"
    suite: str = "train"  # a bundled suite or a suite .toml
    validation: str = "valid"  # evaluated after every round / checkpoint; "" for none
    seed: int = 0
    threads: int = 1  # torch and LightGBM threads (results are reproducible for a given number; more
    #                    threads than idle cores make OpenMP barriers spin: 1 is fastest on a busy machine)
    k: int = 16
    candidates: str = "mix"
    params: Any = field(default_factory=ImitationConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = asdict(self)
        d["params"] = asdict(self.params)
        return d


ROUNDS = ("imitation", "lightgbm")  # the algorithms trained by DAgger rounds (agents.imitation.train_rounds)
ALGORITHMS: dict[str, type] = {
    "imitation": ImitationConfig,
    "ppo": RLConfig,
    "maskable-ppo": RLConfig,
    "dqn": RLConfig,
    "lightgbm": LightGBMConfig,
}
_TRAIN_KEYS = ("algorithm", "suite", "validation", "seed", "threads")
_ENV_KEYS = ("k", "candidates")


def _typed(where: str, key: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of ``default`` (tuples from TOML arrays)."""
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple) and default and isinstance(default[0], bool):
        ok = isinstance(value, list) and len(value) >= 1 and all(isinstance(v, bool) for v in value)
        value = tuple(value) if ok else value
    elif isinstance(default, tuple) and default and isinstance(default[0], float):
        ok = (
            isinstance(value, list)
            and len(value) >= 1
            and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
        )
        value = tuple(float(v) for v in value) if ok else value
    elif isinstance(default, tuple):
        ok = (
            isinstance(value, list)
            and len(value) == len(default)
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        )
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        want = type(default).__name__
        if isinstance(default, tuple) and default and isinstance(default[0], bool):
            want = "a list of true/false"
        elif isinstance(default, tuple):
            want = (
                "a list of numbers >= 0"
                if default and isinstance(default[0], float)
                else f"a list of {len(default)} positive integers"
            )
        raise AgentError(f"{where}: {key} must be {want}, got {value!r}")
    return value


def _table(where: str, data: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if key not in allowed:
            raise AgentError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
        out[key] = _typed(where, key, value, allowed[key])
    return out


def parse_config(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from parsed TOML; one-line errors naming ``where``, table and key."""
    tables = ("train", "env", *ALGORITHMS)
    for key in data:
        if key not in tables:
            raise AgentError(
                f"{where}: unknown table [{key}]; allowed: {', '.join(f'[{t}]' for t in tables)}"
            )
        if not isinstance(data[key], dict):
            raise AgentError(f"{where}: {key} must be a table ([{key}])")
    defaults = TrainConfig()
    train = _table(f"{where} [train]", data.get("train", {}), {k: getattr(defaults, k) for k in _TRAIN_KEYS})
    env = _table(f"{where} [env]", data.get("env", {}), {k: getattr(defaults, k) for k in _ENV_KEYS})
    algo = train.get("algorithm", defaults.algorithm)
    if algo not in ALGORITHMS:
        raise AgentError(f"{where} [train]: algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    for other in ALGORITHMS:
        if other in data and other != algo and ALGORITHMS[other] is not ALGORITHMS[algo]:
            raise AgentError(f"{where}: table [{other}] does not apply to algorithm {algo!r}")
    cls = ALGORITHMS[algo]
    pdefaults = {f.name: getattr(cls(), f.name) for f in fields(cls)}
    params = cls(**_table(f"{where} [{algo}]", data.get(algo, {}), pdefaults))
    cfg = TrainConfig(**train, **env, params=params)
    _check_values(cfg, where)
    return cfg


def _check_values(cfg: TrainConfig, where: str) -> None:
    if cfg.candidates not in SOURCES:
        raise AgentError(f"{where} [env]: candidates {cfg.candidates!r}; allowed: {', '.join(SOURCES)}")
    if not 1 <= cfg.k <= 4096:
        raise AgentError(f"{where} [env]: k must be in [1, 4096], got {cfg.k}")
    if not 1 <= cfg.threads <= 256:
        raise AgentError(f"{where} [train]: threads must be in [1, 256], got {cfg.threads}")
    p = cfg.params
    checks = {
        "rounds": lambda v: v >= 1,
        "beta": lambda v: 0.0 <= v <= 1.0,
        "keep": lambda v: 0.0 < v <= 1.0,
        "cap": lambda v: v > 0.0,
        "epochs": lambda v: v >= 1,
        "batch": lambda v: v >= 1,
        "lr": lambda v: v > 0.0,
        "learning_rate": lambda v: v > 0.0,
        "timesteps": lambda v: v >= 1,
        "n_envs": lambda v: 1 <= v <= 64,
        "n_steps": lambda v: v >= 2,
        "batch_size": lambda v: v >= 2,
        "gamma": lambda v: 0.0 <= v <= 1.0,
        "checkpoint_every": lambda v: v >= 1,
        "max_steps": lambda v: v >= 1,
        "reward": lambda v: v in ("time", "faults", "baseline"),
        "env": lambda v: v in ENV_IDS,
        "objective": lambda v: v in OBJECTIVES,
        "n_estimators": lambda v: 1 <= v <= 10_000,
        "num_leaves": lambda v: 2 <= v <= 131_072,
        "min_child_samples": lambda v: v >= 1,
        "lambda_l2": lambda v: v >= 0.0,
    }
    choices = {"env": ENV_IDS, "objective": OBJECTIVES}
    for f in fields(p):
        check = checks.get(f.name)
        if check is not None and not check(getattr(p, f.name)):
            allowed = f"; allowed: {', '.join(choices[f.name])}" if f.name in choices else ""
            raise AgentError(
                f"{where} [{cfg.algorithm}]: {f.name} = {getattr(p, f.name)!r} is out of range{allowed}"
            )
    if isinstance(p, RLConfig) and p.env != ENV_IDS[0] and p.reward == "baseline":
        raise AgentError(f"{where} [{cfg.algorithm}]: reward 'baseline' is PageReplacement-v0's only")


def load_config(path: str | Path) -> TrainConfig:
    """Read and check a training config file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AgentError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AgentError(f"{path}: not valid TOML: {e}") from None
    return parse_config(data, str(path))


class RunFolder:
    """A training run's folder: config, checkpoints, tensorboard events, model, record."""

    def __init__(self, path: str | Path, cfg: TrainConfig):
        self.path = Path(path)
        self.cfg = cfg
        self.checkpoints = self.path / "checkpoints"
        self.tb = self.path / "tb"

    def open(self) -> bool:
        """Create the folder, or check that it holds this config; True if it resumes an earlier run."""
        saved = self.path / "config.json"
        if saved.exists():
            try:
                old = json.loads(saved.read_text())
            except ValueError:
                raise AgentError(
                    f"{saved}: unreadable; remove the run folder or choose another --out"
                ) from None
            if old != json.loads(json.dumps(self.cfg.to_dict())):
                raise AgentError(
                    f"{self.path}: holds a run of another config; choose another --out (or remove the folder)"
                )
            return True
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_name("config.json.tmp")
        tmp.write_text(json.dumps(self.cfg.to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(saved)
        return False

    def writer(self):
        """A tensorboard ``SummaryWriter`` on ``tb/``."""
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.tb))


def train(config: TrainConfig, out: str | Path, log: Log = print, progress: Progress | None = None) -> Path:
    """Train (or resume) ``config`` into the run folder ``out``; return the model file.

    ``log`` receives one line per round / epoch / validation; ``progress(done,
    total)`` is called as work completes (for a progress bar).
    """
    from vmgym.records import record, write_record

    # the optional extras, before the run folder is made
    torch = require("torch", "train", "training an agent")
    require("tensorboard", "train", "training an agent")
    if config.algorithm == "lightgbm":
        require_lightgbm()
    elif config.algorithm not in ROUNDS:
        from agents.rl import _sb3_class

        _sb3_class(config.algorithm)  # its SB3 module, or the error naming the extra
    torch.set_num_threads(config.threads)
    run = RunFolder(out, config)
    resumed = run.open()
    if resumed:
        log(f"resuming the run in {run.path}")
    if config.algorithm in ROUNDS:
        from agents.imitation import train_rounds

        model, results = train_rounds(config, run, log, progress)
    else:
        from agents.rl import train_rl

        model, results = train_rl(config, run, log, progress)
    write_record(run.path, record("train", config.to_dict(), results))
    return model
