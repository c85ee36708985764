"""The LightGBM learner: gradient-boosted trees fitted to the imitation data, one DAgger round at a time.

The same data as the MLP learner of :mod:`agents.imitation` (a
:class:`~agents.imitation.Dataset` of decisions: each valid candidate's
features and its log next-use distance), the same inputs per candidate (its
row, the mean valid row, the globals: :func:`agents.scorer.inputs`) and the
same DAgger loop (:func:`agents.imitation.train_rounds` with :func:`learner`).
Two objectives:

- ``lambdarank`` (LambdaMART; Burges, MSR-TR-2010-82): one query per
  decision, each candidate's relevance the number of candidates whose next use
  is sooner (the never-reused ones tie at the top);
- ``regression``: the log next-use distance, as LRB (Song et al., NSDI 2020).

Every tree is refitted from scratch on all data so far each round (no warm
start: more trees would make inference slower). LightGBM runs on ``threads``
threads with ``deterministic`` set, so the same seed gives the same trees. It
is an optional extra, imported only here: ``pip install 'vmgym[lightgbm]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.base import AgentError, require
from agents.imitation import Dataset, Learner
from agents.scorer import N_INPUTS, inputs
from agents.trees import TreeAgent, TreeScorer

OBJECTIVES = ("lambdarank", "regression")
CHUNK = 32_768  # decisions turned into input rows at a time (bounds the float32 temporaries)


def require_lightgbm():
    """The ``lightgbm`` module, or a one-line :class:`AgentError` saying how to install it."""
    return require("lightgbm", "lightgbm", "training the lightgbm agent")


@dataclass(frozen=True)
class BoostConfig:
    """Settings of :func:`fit_trees` (LightGBM's names where they exist)."""

    objective: str = "lambdarank"  # or "regression" (module docstring)
    n_estimators: int = 100  # trees; a decision walks every tree once per candidate
    num_leaves: int = 31
    learning_rate: float = 0.1
    min_child_samples: int = 100  # LightGBM's min_data_in_leaf (candidate rows)
    lambda_l2: float = 1.0
    balance: bool = True  # every workload of the suite weighs the same, however many decisions
    seed: int = 0
    threads: int = 1


@dataclass
class Table:
    """A :class:`Dataset` as LightGBM rows: one per valid candidate, grouped by decision."""

    x: np.ndarray  # (rows, N_INPUTS) float32: the scorer's inputs
    target: np.ndarray  # (rows,) log next-use distance (the regression label)
    relevance: np.ndarray  # (rows,) int32: candidates of the same decision whose next use is sooner
    best: np.ndarray  # (rows,) bool: one of Belady's choices
    groups: np.ndarray  # (decisions,) int32: valid candidates per decision (the query sizes)
    weight: np.ndarray  # (rows,) float32: the decision's weight (balance)


def table(data: Dataset, balance: bool = True) -> Table:
    """The rows LightGBM trains on (decisions without a valid candidate are dropped)."""
    mask = data.mask
    groups = mask.sum(1).astype(np.int32)
    n_rows = int(groups.sum())
    x = np.empty((n_rows, N_INPUTS), np.float32)
    relevance = np.empty(n_rows, np.int32)
    row = 0
    for start in range(0, len(data), CHUNK):
        part = slice(start, start + CHUNK)
        m = mask[part]
        xs = inputs(data.rows[part].astype(np.float32), data.glob[part].astype(np.float32), m)[m]
        t = data.target[part]
        sooner = ((t[:, None, :] < t[:, :, None]) & m[:, None, :]).sum(-1)  # [i, j]: l with t[l] < t[j]
        x[row : row + len(xs)] = xs
        relevance[row : row + len(xs)] = sooner[m]
        row += len(xs)
    per_decision = np.ones(len(data))
    if balance and len(data):
        per_decision = 1.0 / np.bincount(data.entry)[data.entry]
        per_decision *= len(data) / per_decision.sum()
    weight = np.repeat(per_decision, groups).astype(np.float32)
    return Table(x, data.target[mask], relevance, data.best[mask], groups[groups > 0], weight)


def fit_trees(
    data: Dataset, cfg: BoostConfig, on_epoch: Callable[[int, dict[str, float]], None] | None = None
) -> TreeScorer:
    """A tree ensemble fitted to ``data``; ``on_epoch(0, metrics)`` once at the end (loss, accuracy)."""
    if cfg.objective not in OBJECTIVES:
        raise AgentError(f"objective {cfg.objective!r}; allowed: {', '.join(OBJECTIVES)}")
    lgb = require_lightgbm()
    tab = table(data, cfg.balance)
    rank = cfg.objective == "lambdarank"
    params = {
        "objective": cfg.objective,
        "metric": "ndcg" if rank else "l2",
        "eval_at": [1],
        "num_leaves": cfg.num_leaves,
        "learning_rate": cfg.learning_rate,
        "min_data_in_leaf": cfg.min_child_samples,
        "lambda_l2": cfg.lambda_l2,
        "num_threads": cfg.threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
    label = tab.relevance if rank else tab.target
    ds = lgb.Dataset(tab.x, label, weight=tab.weight, group=tab.groups if rank else None, params=params)
    booster = lgb.train(params, ds, num_boost_round=cfg.n_estimators, keep_training_booster=True)
    scorer = TreeScorer.from_booster(booster)
    if on_epoch is not None:
        (_, _, metric, _), *_ = booster.eval_train()
        on_epoch(0, {"loss": 1.0 - metric if rank else metric, "accuracy": _accuracy(scorer, tab)})
    return scorer


def _accuracy(scorer: TreeScorer, tab: Table) -> float:
    """How often the highest-scoring candidate of a decision is one of Belady's choices."""
    if not len(tab.groups):
        return 0.0
    scores = scorer.score_rows(tab.x)
    starts = np.concatenate([[0], np.cumsum(tab.groups)[:-1]])
    decision = np.repeat(np.arange(len(tab.groups)), tab.groups)
    order = np.lexsort((-scores, decision))  # per decision, the highest score first
    first = order[starts]
    return float(tab.best[first].mean())


def learner(config: Any) -> Learner:
    """The DAgger rounds' learner for a ``[lightgbm]`` config (a :class:`~agents.train.TrainConfig`)."""
    require_lightgbm()
    p = config.params

    def fit_round(data: Dataset, r: int, previous: TreeScorer | None, on_epoch) -> TreeScorer:
        cfg = BoostConfig(
            objective=p.objective, n_estimators=p.n_estimators, num_leaves=p.num_leaves,
            learning_rate=p.learning_rate, min_child_samples=p.min_child_samples, lambda_l2=p.lambda_l2,
            balance=p.balance, seed=config.seed * 1000 + r, threads=config.threads,
        )  # fmt: skip
        return fit_trees(data, cfg, on_epoch)

    return Learner(TreeAgent, fit_round, steps=1)
