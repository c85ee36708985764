"""Reinforcement learning with stable-baselines3 over the candidate scorer.

- :class:`CandidatePolicy` (MaskablePPO and PPO): the actor's logits *are* the
  candidate scorer's scores (one shared network per candidate, as in
  :mod:`agents.scorer`), so it is permutation-invariant and can start from an
  imitation model (``init = "model.npz"``); the critic reads the mean
  candidate row and the globals. On MemoryManager-v0 a small head adds the 9
  prefetch logits.
- :class:`CandidateDQNPolicy` (DQN): the scorer gives one Q-value per
  candidate; invalid slots get a fixed very low value (DQN has no masks; the
  env's ``invalid_action="fallback"`` penalises them during exploration).
- Prefetch-v0 has no candidates: its agents use SB3's default MLP policy (the
  learned prefetcher).

SB3 and torch are imported inside the functions that need them, so that
``import agents`` stays light. Models are saved as SB3 ``.zip`` files (which
hold pickles: load only your own); a PageReplacement-v0 actor is also
exported as a plain-array scorer (``model.npz``) that runs without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent, AgentError, register, require
from agents.rollout import PAGE_REPLACEMENT, PREFETCH, make_env
from agents.scorer import N_FEATURES, N_GLOBALS, VALID, Scorer
from vmgym.envs._prefetch import N_ACTIONS as N_PREFETCH_ACTIONS

ENVS = ("vmgym/PageReplacement-v0", "vmgym/MemoryManager-v0", "vmgym/Prefetch-v0")
ALGORITHMS = {"maskable-ppo": "MaskablePPO", "ppo": "PPO", "dqn": "DQN"}


class SuiteEnv(gym.Env):
    """One of ``entries``' workloads per episode (drawn from ``np_random``), each a PageReplacement-v0.

    Episodes are slices of ``max_steps`` decisions (the env is reset at the
    start of its workload every time: workloads are long and the next slice
    would otherwise depend on the last). ``action_masks()`` is the current env's.
    """

    metadata = {"render_modes": []}

    def __init__(self, entries, k: int, candidates: str, reward: str, max_steps: int,
                 env_id: str = PAGE_REPLACEMENT, policy: str = "lru"):  # fmt: skip
        extra = {"policy": policy} if env_id == PREFETCH else {"k": k, "candidates": candidates}
        self.envs = [
            make_env(wl, hints, env_id=env_id, reward=reward, max_steps=max_steps, **extra)
            for _, wl, hints in entries
        ]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.current = self.envs[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a workload and start it."""
        super().reset(seed=seed)
        order = self.np_random.permutation(len(self.envs))
        for i in order:  # a workload that fits in RAM has no decision: draw another
            self.current = self.envs[int(i)]
            try:
                return self.current.reset(seed=int(self.np_random.integers(2**31)))
            except ValueError:
                continue
        raise AgentError("no workload of the training suite needs an eviction with its machine")

    def step(self, action):
        """The current workload's step."""
        return self.current.step(action)

    def action_masks(self) -> np.ndarray:
        """The current workload's valid slots."""
        return self.current.action_masks()


def _torch_parts(k: int, hidden: tuple[int, ...], n_extra: int):
    """The policy networks: actor = scorer logits (+ extra head), critic over the mean row and globals."""
    import torch
    from torch import nn

    from agents.scorer import torch_module

    n_cand = k * N_FEATURES

    class CandidateNets(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scorer = torch_module(hidden)
            self.critic = nn.Sequential(
                nn.Linear(N_FEATURES + N_GLOBALS + n_extra, hidden[0]), nn.ReLU(),
                nn.Linear(hidden[0], hidden[-1]), nn.ReLU(),
            )  # fmt: skip
            self.extra = nn.Linear(n_extra, N_PREFETCH_ACTIONS) if n_extra else None
            self.latent_dim_pi = k + (N_PREFETCH_ACTIONS if n_extra else 0)
            self.latent_dim_vf = hidden[-1]

        def _split(self, obs):
            rows = obs[..., :n_cand].reshape(*obs.shape[:-1], k, N_FEATURES)
            glob = obs[..., n_cand : n_cand + N_GLOBALS]
            extra = obs[..., n_cand + N_GLOBALS :]
            return rows, glob, rows[..., VALID] > 0.5, extra

        def forward_actor(self, obs):
            rows, glob, mask, extra = self._split(obs)
            logits = self.scorer.score(rows, glob, mask)
            if self.extra is not None:
                logits = torch.cat([logits, self.extra(extra)], -1)
            return logits

        def forward_critic(self, obs):
            rows, glob, mask, extra = self._split(obs)
            m = mask.unsqueeze(-1).to(rows.dtype)
            mean = (rows * m).sum(-2) / m.sum(-2).clamp(min=1.0)
            return self.critic(torch.cat([mean, glob, extra], -1))

        def forward(self, obs):
            return self.forward_actor(obs), self.forward_critic(obs)

    return CandidateNets()


def candidate_policy_class():
    """:class:`sb3_contrib` ``MaskableActorCriticPolicy`` whose actor is the candidate scorer."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from torch import nn

    class CandidatePolicy(MaskableActorCriticPolicy):
        """The actor's logits are the candidate scorer's scores (see :mod:`agents.rl`)."""

        def __init__(self, *args, k: int = 16, hidden: tuple[int, ...] = (64, 64), **kwargs):
            self.k = k
            self.hidden = tuple(hidden)
            super().__init__(*args, **kwargs)

        def _build_mlp_extractor(self) -> None:
            n_extra = int(self.features_dim) - self.k * N_FEATURES - N_GLOBALS
            self.mlp_extractor = _torch_parts(self.k, self.hidden, n_extra)

        def _build(self, lr_schedule) -> None:
            super()._build(lr_schedule)
            self.action_net = nn.Identity()  # the scorer's scores are the logits
            self.optimizer = self.optimizer_class(
                self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
            )

    return CandidatePolicy


def candidate_dqn_policy_class():
    """SB3 ``DQNPolicy`` whose Q-network scores each candidate with the scorer."""
    from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
    from torch import nn

    from agents.scorer import torch_module

    class ScorerQ(nn.Module):
        def __init__(self, k: int, hidden: tuple[int, ...]):
            super().__init__()
            self.k = k
            self.scorer = torch_module(hidden)

        def forward(self, obs):
            n = self.k * N_FEATURES
            rows = obs[..., :n].reshape(*obs.shape[:-1], self.k, N_FEATURES)
            mask = rows[..., VALID] > 0.5
            q = self.scorer.score(rows, obs[..., n : n + N_GLOBALS], mask)
            return q.masked_fill(~mask, -1e4)

    class CandidateDQNPolicy(DQNPolicy):
        """Q(s, slot) from the candidate scorer (see :mod:`agents.rl`)."""

        def __init__(self, *args, k: int = 16, hidden: tuple[int, ...] = (64, 64), **kwargs):
            self.k = k
            self.hidden = tuple(hidden)
            super().__init__(*args, **kwargs)

        def make_q_net(self) -> QNetwork:
            net = super().make_q_net()
            net.q_net = ScorerQ(self.k, self.hidden).to(self.device)
            return net

    return CandidateDQNPolicy


def load_scorer_into(module, path: str | Path) -> None:
    """Copy a saved scorer's weights (an imitation model) into a torch scorer ``module``."""
    from agents.scorer_agent import ScorerAgent

    src = ScorerAgent.load(path).scorer.to_torch()
    try:
        module.load_state_dict(src.state_dict())
    except RuntimeError:
        raise AgentError(f"{path}: its scorer's layers do not match this policy's hidden sizes") from None


class SB3Agent(Agent):
    """An SB3 model acting on PageReplacement-v0, saved as a ``.zip`` with a ``.json`` sidecar.

    SB3 zips are pickles: load only files you trust (your own runs);
    :meth:`export_scorer` turns the actor into a plain-array scorer.
    """

    algorithm = ""
    suffixes = (".zip",)

    def __init__(
        self, model=None, k: int = 16, candidates: str = "mix", config: dict[str, Any] | None = None
    ):
        super().__init__(k, candidates, config)
        self.model = model

    def act(self, obs: np.ndarray, env=None) -> int:
        """The policy's greedy action (masked for MaskablePPO)."""
        if self.algorithm == "maskable-ppo" and env is not None and hasattr(env, "action_masks"):
            action, _ = self.model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        return int(action)

    def save(self, path: str | Path) -> Path:
        """The SB3 zip, plus a sidecar ``.json`` with the algorithm, k and candidates."""
        path = Path(path)
        self.model.save(path)
        meta = {
            "algorithm": self.algorithm,
            "k": self.k,
            "candidates": self.candidates,
            "config": self.config,
        }
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SB3Agent:
        """Read a model saved by :meth:`save` (its sidecar names the algorithm)."""
        path = Path(path)
        side = path.with_suffix(".json")
        try:
            meta = json.loads(side.read_text())
            algorithm = meta["algorithm"]
            k, candidates = int(meta["k"]), str(meta["candidates"])
        except (OSError, ValueError, KeyError):
            raise AgentError(f"{path}: needs its sidecar {side.name} (algorithm, k, candidates)") from None
        if algorithm not in ALGORITHMS:
            raise AgentError(f"{side}: algorithm {algorithm!r}; allowed: {', '.join(ALGORITHMS)}")
        sb3_class = _sb3_class(algorithm)
        try:
            model = sb3_class.load(path, device="cpu")
        except Exception as e:  # noqa: BLE001 - a corrupt zip raises many kinds of errors
            raise AgentError(f"{path}: not a loadable SB3 model: {type(e).__name__}: {e}") from None
        return sb3_agent(algorithm, model, k, candidates, meta.get("config"))

    def export_scorer(self) -> Scorer:
        """The actor (PageReplacement-v0 policies) as a plain-array :class:`Scorer`."""
        net = self.model.policy.q_net.q_net if self.algorithm == "dqn" else self.model.policy.mlp_extractor
        return Scorer.from_torch(net.scorer, {"algorithm": self.algorithm})


@register
class MaskablePPOAgent(SB3Agent):
    """MaskablePPO (sb3-contrib): PPO (Schulman et al., 2017) with invalid-action masking (Huang 2022)."""

    name = algorithm = "maskable-ppo"
    aliases = ("maskableppo",)
    source = "Schulman et al., arXiv 1707.06347 (PPO); Huang & Ontanon, FLAIRS 2022 (masking); sb3-contrib"


@register
class PPOAgent(SB3Agent):
    """PPO (Schulman et al., 2017; SB3); invalid slots fall back to slot 0 with a penalty."""

    name = algorithm = "ppo"
    source = "Schulman et al., arXiv 1707.06347 (PPO); stable-baselines3"


@register
class DQNAgent(SB3Agent):
    """DQN (Mnih et al., Nature 2015; SB3) with the scorer as Q-network, one Q-value per candidate."""

    name = algorithm = "dqn"
    source = "Mnih et al., Nature 2015 (DQN); stable-baselines3"


def sb3_agent(
    algorithm: str, model, k: int, candidates: str, config: dict[str, Any] | None = None
) -> SB3Agent:
    """The registered agent class of ``algorithm`` holding ``model``."""
    from agents.base import get_class

    return get_class(algorithm)(model, k, candidates, config)


def _sb3_class(algorithm: str):
    if algorithm == "maskable-ppo":
        return require("sb3_contrib", "train", "a maskable-ppo model").MaskablePPO
    return getattr(require("stable_baselines3", "train", f"a {algorithm} model"), ALGORITHMS[algorithm])


def make_model(algorithm: str, env, cfg, seed: int, k: int, tensorboard_log: str | None = None):
    """A new SB3 model of ``algorithm`` on ``env`` (a VecEnv): candidate policy, or an MLP on Prefetch-v0."""
    p = cfg
    prefetch = p.env == PREFETCH
    kwargs = {"net_arch": list(p.hidden)} if prefetch else {"k": k, "hidden": p.hidden}
    common = dict(learning_rate=p.learning_rate, gamma=p.gamma, seed=seed, verbose=0, device="cpu",
                  tensorboard_log=tensorboard_log, policy_kwargs=kwargs)  # fmt: skip
    cls = _sb3_class(algorithm)
    if algorithm == "dqn":
        return cls("MlpPolicy" if prefetch else candidate_dqn_policy_class(), env, batch_size=p.batch_size,
                   learning_starts=min(1000, p.timesteps // 4), buffer_size=100_000,
                   exploration_fraction=0.2, train_freq=4, **common)  # fmt: skip
    policy = "MlpPolicy" if prefetch else candidate_policy_class()
    return cls(policy, env, n_steps=p.n_steps, batch_size=p.batch_size, **common)


def train_rl(config, run, log, progress=None) -> tuple[Path, dict[str, Any]]:
    """Train ``config.algorithm`` on ``config.suite`` (PageReplacement-v0) with checkpoints and validation."""
    from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.callbacks import ProgressCallback, ValidationCallback
    from agents.imitation import suite_entries

    p = config.params
    entries = suite_entries(config.suite)
    val_entries = suite_entries(config.validation) if config.validation else []
    env = DummyVecEnv(
        [
            lambda: SuiteEnv(entries, config.k, config.candidates, p.reward, p.max_steps, p.env, p.policy)
            for _ in range(p.n_envs)
        ]
    )
    env.seed(config.seed)
    ckpts = sorted(run.checkpoints.glob("model_*_steps.zip"), key=lambda f: int(f.stem.split("_")[1]))
    if ckpts:
        model = _sb3_class(config.algorithm).load(
            ckpts[-1], env=env, device="cpu", tensorboard_log=str(run.tb)
        )
        log(f"resuming from {ckpts[-1].name} ({model.num_timesteps:,} steps done)")
    else:
        model = make_model(config.algorithm, env, p, config.seed, config.k, str(run.tb))
        if p.init and p.env != PREFETCH:
            net = model.policy.q_net.q_net if config.algorithm == "dqn" else model.policy.mlp_extractor
            load_scorer_into(net.scorer, p.init)
            if config.algorithm == "dqn":
                model.policy.q_net_target.load_state_dict(model.policy.q_net.state_dict())
            log(f"policy network starts from {p.init}")
    label = f"{config.algorithm}"
    val = ValidationCallback(val_entries, config, label, every=p.checkpoint_every, log=log)
    callbacks: list[BaseCallback] = [
        CheckpointCallback(max(1, p.checkpoint_every // p.n_envs), str(run.checkpoints), name_prefix="model"),
        val,
    ]
    if progress is not None:
        callbacks.append(ProgressCallback(progress, p.timesteps))
    remaining = p.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callbacks, reset_num_timesteps=not ckpts, progress_bar=False)
    agent = sb3_agent(
        config.algorithm, model, config.k, config.candidates, {"label": label, **config.to_dict()}
    )
    path = agent.save(run.path / "model.zip")
    if p.env == PAGE_REPLACEMENT:
        val.as_scorer_agent(agent).save(run.path / "model.npz")
        log(f"model: {path} (and its actor as plain arrays: {run.path / 'model.npz'})")
    else:
        log(f"model: {path}")
    return path, {"timesteps": int(model.num_timesteps), "validation": val.history}


__all__ = ["ALGORITHMS", "ENVS", "SB3Agent", "SuiteEnv", "sb3_agent", "train_rl"]
