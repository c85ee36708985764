"""Imitation of Belady among the candidates: behaviour cloning, then DAgger.

The expert is :meth:`PageReplacementEnv.oracle_action`'s rule, Belady's MIN
restricted to the offered candidates. Following Parrot (Liu et al., ICML 2020)
the learner is trained on the states it visits itself (DAgger, Ross, Gordon
and Bagnell, AISTATS 2011: round ``r`` acts with the expert with probability
``beta ** r``, else with the learner, and every visited state is labelled by
the expert), and following LRB (Song et al., NSDI 2020) its target is the
distance to each candidate's next use rather than only the expert's argmax:

- regression: ``log1p(next-use distance / frames)``, capped at ``log1p(cap)``
  (never used again = the cap), on every valid candidate (Huber loss);
- ranking: cross-entropy of the masked softmax over the candidates against
  the expert's choice, spread evenly over the candidates that tie for the
  furthest next use (several never-reused pages are equally good victims, so
  an argmax label would teach the network an arbitrary slot order).

The agent evicts the candidate with the highest score. A dataset keeps a
random ``keep`` fraction of the visited decisions (consecutive decisions are
nearly the same state).

Why not the ``imitation`` package: its last release (1.0.1) requires
``gymnasium~=0.29`` and ``stable-baselines3~=2.2.1``, while vmgym runs on
gymnasium 1.x and SB3 2.9; its BC also trains on argmax labels only. The loop
here is small: :func:`collect` (rollouts, labels), :func:`fit` (one torch
loop), :func:`train_rounds` (DAgger, checkpoints, validation). The learner a
round fits is pluggable (:class:`Learner`): this MLP, or LightGBM's trees
(:mod:`agents.boosting`) on the same data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import AgentError
from agents.rollout import make_env, play
from agents.scorer import N_FEATURES, N_GLOBALS, Scorer, load_scorer, split
from agents.scorer_agent import ScorerAgent
from vmgym.envs.page_replacement import PageReplacementEnv


@dataclass
class Dataset:
    """Decisions with their labels: rows ``(n, k, F)``, globals ``(n, G)``, mask, regression target, ties.

    Features are stored as float16 (they lie in [0, 1]; half the memory of a
    large DAgger dataset) and widened per minibatch.
    """

    rows: np.ndarray
    glob: np.ndarray
    mask: np.ndarray
    target: np.ndarray  # log1p(next-use distance / frames), capped
    best: np.ndarray  # bool: the candidates Belady would evict (furthest next use, ties included)
    entry: np.ndarray  # int32: which workload of the suite the decision comes from

    @classmethod
    def empty(cls, k: int) -> Dataset:
        """No decisions yet (for ``k`` candidates)."""
        return cls(
            np.zeros((0, k, N_FEATURES), np.float16),
            np.zeros((0, N_GLOBALS), np.float16),
            np.zeros((0, k), bool),
            np.zeros((0, k), np.float32),
            np.zeros((0, k), bool),
            np.zeros(0, np.int32),
        )

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @classmethod
    def concat(cls, parts: Iterable[Dataset]) -> Dataset:
        """All decisions of ``parts`` in order."""
        parts = list(parts)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def save(self, path: str | Path) -> None:
        """Write the arrays to an ``.npz`` (plain arrays, written atomically)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **{f: getattr(self, f) for f in self.__dataclass_fields__})
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Read what :meth:`save` wrote (no pickle)."""
        with np.load(path, allow_pickle=False) as z:
            return cls(*(z[f] for f in cls.__dataclass_fields__))


@dataclass
class Recorder:
    """Collects a labelled random ``keep`` fraction of the decisions of one episode (an ``on_step`` hook)."""

    k: int
    keep: float
    rng: np.random.Generator
    cap: float
    entry: int = 0
    parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    seen: int = 0

    def __call__(self, obs: np.ndarray, env: PageReplacementEnv) -> None:
        """Record this decision with probability ``keep``."""
        self.seen += 1
        if self.rng.random() >= self.keep:
            return
        rows, glob, mask = split(obs, self.k)
        nxt = env.next_uses()
        dist = (nxt - env.sim.position) / env.machine.frames
        target = np.zeros(self.k, np.float32)
        target[: nxt.size] = np.log1p(np.minimum(dist, self.cap))
        best = np.zeros(self.k, bool)
        best[: nxt.size] = nxt == nxt.max()
        self.parts.append((rows.astype(np.float16), glob.astype(np.float16), mask, target, best, self.entry))

    def dataset(self) -> Dataset:
        """What was recorded."""
        if not self.parts:
            return Dataset.empty(self.k)
        cols = list(zip(*self.parts, strict=True))
        return Dataset(*(np.stack(c) for c in cols))


def mixed_actor(scorer: Any, beta: float, rng: np.random.Generator, k: int):
    """Acts as Belady with probability ``beta`` (always when there is no scorer yet), else as the scorer."""

    def act(obs: np.ndarray, env: PageReplacementEnv) -> int:
        if scorer is None or (beta > 0.0 and rng.random() < beta):
            return env.oracle_action()
        return scorer.act(obs, k)

    return act


def collect(
    entries: list[tuple[str, Any, dict[str, Any]]],
    scorer: Any,
    beta: float,
    *,
    k: int,
    candidates: str,
    keep: float,
    cap: float,
    seed: int,
    on_entry: Callable[[str, int], None] | None = None,
) -> Dataset:
    """One pass over ``entries`` ((label, workload, machine hints)), recording labelled decisions."""
    parts = []
    for i, (label, workload, hints) in enumerate(entries):
        rng = np.random.default_rng([seed, i])
        rec = Recorder(k=k, keep=keep, rng=rng, cap=cap, entry=i)
        env = make_env(workload, hints, k=k, candidates=candidates, oracle=True)
        play(env, mixed_actor(scorer, beta, rng, k), seed=seed + i, on_step=rec)
        parts.append(rec.dataset())
        if on_entry is not None:
            on_entry(label, rec.seen)
    return Dataset.concat(parts)


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings of :func:`fit`."""

    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 4
    batch: int = 256  # decisions per minibatch
    lr: float = 2e-3
    weight_decay: float = 1e-5
    rank_weight: float = 1.0  # weight of the ranking (cross-entropy) term beside the regression
    balance: bool = True  # draw minibatches so that every workload weighs the same, however many decisions
    seed: int = 0


def fit(
    data: Dataset,
    cfg: FitConfig,
    init: Scorer | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> Scorer:
    """Train a scorer on ``data`` (continuing from ``init`` if given); deterministic for a seed.

    With ``cfg.balance`` each epoch draws ``len(data)`` decisions with
    replacement, every workload of the suite equally likely: a workload whose
    LRU->OPT gap is small has few decisions, and each mistake there costs a
    large share of its gap.
    """
    import torch

    torch.manual_seed(cfg.seed)
    module = init.to_torch() if init is not None else Scorer.init(cfg.hidden, cfg.seed).to_torch()
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rows = torch.from_numpy(data.rows)
    glob = torch.from_numpy(data.glob)
    mask = torch.from_numpy(data.mask)
    target = torch.from_numpy(data.target)
    best = torch.from_numpy(data.best & data.mask).float()
    best = best / best.sum(-1, keepdim=True).clamp(min=1.0)
    n = len(data)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    weights = None
    if cfg.balance and n:
        counts = np.bincount(data.entry)
        weights = torch.from_numpy(1.0 / counts[data.entry])
    for epoch in range(cfg.epochs):
        if weights is None:
            order = torch.randperm(n, generator=gen)
        else:  # n draws with replacement, every workload equally likely
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        totals = {"loss": 0.0, "regression": 0.0, "ranking": 0.0, "accuracy": 0.0}
        for start in range(0, n, cfg.batch):
            idx = order[start : start + cfg.batch]
            m = mask[idx]
            s = module.score(rows[idx].float(), glob[idx].float(), m)
            reg = torch.nn.functional.huber_loss(s[m], target[idx][m])
            logp = torch.log_softmax(s.masked_fill(~m, -1e9), -1)
            rank = -(best[idx] * logp).sum(-1).mean()
            loss = reg + cfg.rank_weight * rank
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                pick = s.masked_fill(~m, -1e9).argmax(-1)
                acc = (best[idx].gather(1, pick[:, None]) > 0).float().mean()
            w = len(idx) / n
            totals["loss"] += w * float(loss.detach())
            totals["regression"] += w * float(reg.detach())
            totals["ranking"] += w * float(rank.detach())
            totals["accuracy"] += w * float(acc)
        if on_epoch is not None:
            on_epoch(epoch, totals)
    return Scorer.from_torch(module)


OnEpoch = Callable[[int, dict[str, float]], None]  # (epoch, metrics with at least loss and accuracy)


@dataclass(frozen=True)
class Learner:
    """What each round of :func:`train_rounds` fits: a scorer kind, its agent class and its fit.

    ``fit(data, round, previous scorer or None, on_epoch)`` returns the new
    scorer (anything with ``act(obs, k, margin)``, ``meta`` and ``save``) and
    calls ``on_epoch`` ``steps`` times.
    """

    agent_class: type[ScorerAgent]
    fit: Callable[[Dataset, int, Any, OnEpoch], Any]
    steps: int


def mlp_learner(config) -> Learner:
    """The MLP scorer of :func:`fit`, warm-started from the previous round's (``[imitation]`` configs)."""
    p = config.params

    def fit_round(data: Dataset, r: int, previous: Scorer | None, on_epoch: OnEpoch) -> Scorer:
        cfg = FitConfig(
            hidden=p.hidden, epochs=p.epochs, batch=p.batch, lr=p.lr, weight_decay=p.weight_decay,
            rank_weight=p.rank_weight, balance=p.balance, seed=config.seed * 1000 + r,
        )  # fmt: skip
        return fit(data, cfg, init=previous, on_epoch=on_epoch)

    return Learner(ScorerAgent, fit_round, p.epochs)


def learner_for(config) -> Learner:
    """The learner of a training config's algorithm (``imitation`` or ``lightgbm``)."""
    if config.algorithm == "lightgbm":
        from agents.boosting import learner

        return learner(config)
    return mlp_learner(config)


def suite_entries(name: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(label, workload, hints)`` of a bundled suite or suite file (errors as :class:`AgentError`)."""
    from workloads import suites
    from workloads.model import WorkloadError

    try:
        return [(e.label, e.workload, e.hints) for e in suites.get(name)]
    except WorkloadError as e:
        raise AgentError(str(e)) from None


def validate(agent: ScorerAgent, entries, seed: int) -> tuple[float, list[dict[str, Any]]]:
    """The agent's mean place between LRU and OPT on ``entries`` (and its rows)."""
    from agents.evaluate import evaluate, summary

    rows = evaluate([agent], entries, baselines=(), ceiling=False, seed=seed)
    return summary(rows).get(agent.label, {}).get("mean", 0.0), rows


def train_rounds(config, run, log, progress=None) -> tuple[Path, dict[str, Any]]:
    """BC (round 0) and DAgger rounds over ``config.suite``; keeps the round best on ``config.validation``.

    Each round depends only on the data so far and the previous round's scorer
    (for the MLP, a fresh optimizer warm-started from its weights), and every
    round is checkpointed (its new data and its scorer), so a resumed run ends
    with the same model as an uninterrupted one. :func:`learner_for` chooses
    what a round fits.
    """
    p = config.params
    learner = learner_for(config)
    entries = suite_entries(config.suite)
    val_entries = suite_entries(config.validation) if config.validation else []
    state_path = run.checkpoints / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"done": 0, "history": []}
    writer = run.writer()
    parts: list[Dataset] = [Dataset.load(run.checkpoints / f"data-{r:02d}.npz") for r in range(state["done"])]
    scorer = load_scorer(run.checkpoints / f"scorer-{state['done'] - 1:02d}.npz") if state["done"] else None
    meta = {"label": config.algorithm, **config.to_dict(), "duel": p.duels[0]}
    per_round = len(entries) + learner.steps
    total = p.rounds * per_round

    def advance(r: int, units: int) -> None:
        if progress is not None:
            progress(r * per_round + units, total)

    advance(state["done"], 0)
    for r in range(state["done"], p.rounds):
        beta = 1.0 if r == 0 else p.beta**r
        log(f"round {r + 1}/{p.rounds}: rollouts over {config.suite} (beta {beta:.3f})")
        seen: dict[str, int] = {}

        def on_entry(label: str, n: int, r: int = r, seen: dict[str, int] = seen) -> None:
            seen[label] = n
            advance(r, len(seen))

        data = collect(
            entries, scorer, beta, k=config.k, candidates=config.candidates, keep=p.keep, cap=p.cap,
            seed=config.seed * 1000 + r, on_entry=on_entry,
        )  # fmt: skip
        if scorer is not None and len(data):
            acc = _accuracy(scorer, data, config.k)
            writer.add_scalar("imitation/rollout_accuracy", acc, r)
            log(f"  learner picks a Belady candidate on {100 * acc:.1f} % of the new states")
        parts.append(data)
        everything = Dataset.concat(parts)
        if len(data):
            writer.add_scalar("imitation/lru_accuracy", float(data.best[:, 0].mean()), r)
        visited = sum(seen.values())
        log(f"  {len(data):,} new decisions recorded ({visited:,} visited), {len(everything):,} in all")
        step0 = sum(h["epochs"] for h in state["history"])

        def on_epoch(epoch: int, m: dict[str, float], step0: int = step0, r: int = r) -> None:
            for key, value in m.items():
                writer.add_scalar(
                    f"train/{'imitation_accuracy' if key == 'accuracy' else key}", value, step0 + epoch
                )
            advance(r, len(entries) + epoch + 1)
            acc = 100 * m["accuracy"]
            log(f"  epoch {epoch + 1}/{learner.steps}: loss {m['loss']:.4f}, imitation accuracy {acc:.1f} %")

        scorer = learner.fit(everything, r, scorer, on_epoch)
        agent = learner.agent_class(scorer, config.k, config.candidates, meta)
        result = {"round": r, "epochs": learner.steps, "decisions": len(everything)}
        if val_entries:
            gap, rows = validate(agent, val_entries, config.seed)
            result["validation_gap"] = gap
            result["validation"] = {row["workload"]: row["lru_to_opt"] for row in rows}
            writer.add_scalar("validation/lru_to_opt_mean", gap, r)
            writer.add_scalar(
                "validation/faults_per_1k_mean", float(np.mean([x["faults_per_1k"] for x in rows])), r
            )
            writer.add_scalar("validation/hit_ratio_mean", float(np.mean([x["hit_ratio"] for x in rows])), r)
            for row in rows:
                if row["lru_to_opt"] is not None:
                    writer.add_scalar(f"validation_gap/{row['workload']}", row["lru_to_opt"], r)
            log(
                f"  validation ({config.validation}): {100 * gap:.1f} % of the LRU->OPT gap closed on average"
            )
        writer.flush()
        data.save(run.checkpoints / f"data-{r:02d}.npz")
        agent.save(run.checkpoints / f"scorer-{r:02d}.npz")
        state["history"].append(result)
        state["done"] = r + 1
        tmp = state_path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(state_path)
    writer.close()
    best = max(state["history"], key=lambda h: (h.get("validation_gap", 0.0), h["round"]))
    chosen = learner.agent_class.load(run.checkpoints / f"scorer-{best['round']:02d}.npz")
    chosen.config["chosen_round"] = best["round"]
    margins, duels = choose_margin_and_duel(chosen, p, val_entries, config.seed, log)
    margin, duel = chosen.config["margin"], chosen.config["duel"]
    model = chosen.save(run.path / "model.npz")
    log(
        f"model: round {best['round'] + 1}, margin {margin:g}, duel {'on' if duel else 'off'} "
        f"(best on validation) -> {model}"
    )
    return model, {
        "chosen_round": best["round"],
        "margin": margin,
        "margins": {str(m): g for m, g in margins.items()},
        "duel": duel,
        "duels": {str(d).lower(): g for d, g in duels.items()},
        "rounds": state["history"],
    }


def choose_margin_and_duel(chosen: ScorerAgent, p, val_entries, seed: int, log) -> tuple[dict, dict]:
    """Set ``chosen``'s margin (under the first duel setting), then its duel, best on validation.

    Returns the validation gap per margin and per duel setting tried (empty if one choice only).
    Ties go to the smaller margin and to the duel setting listed first.
    """
    margins = {}
    if val_entries and len(p.margins) > 1:
        for margin in p.margins:
            chosen.config["margin"] = margin
            margins[margin], _ = validate(chosen, val_entries, seed)
            log(f"  margin {margin:g}: validation {100 * margins[margin]:.1f} %")
        chosen.config["margin"] = max(margins, key=lambda m: (margins[m], -m))
    else:
        chosen.config["margin"] = p.margins[0]
    duels = {}
    if val_entries and len(p.duels) > 1:
        for duel in p.duels:
            chosen.config["duel"] = duel
            if duel == p.duels[0] and margins:
                duels[duel] = margins[chosen.config["margin"]]
            else:
                duels[duel], _ = validate(chosen, val_entries, seed)
            log(f"  duel {'on' if duel else 'off'}: validation {100 * duels[duel]:.1f} %")
        chosen.config["duel"] = max(duels, key=lambda d: (duels[d], -p.duels.index(d)))
    return margins, duels


def _accuracy(scorer: Any, data: Dataset, k: int) -> float:
    """How often the scorer's choice is one of Belady's candidates on ``data``."""
    hits = 0
    obs = np.zeros(k * N_FEATURES + N_GLOBALS, np.float32)
    for i in range(len(data)):
        obs[: k * N_FEATURES] = data.rows[i].reshape(-1)
        obs[k * N_FEATURES :] = data.glob[i]
        hits += bool(data.best[i, scorer.act(obs, k)])
    return hits / max(len(data), 1)
