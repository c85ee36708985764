"""The candidate scorer: one shared network scores every eviction candidate.

The network sees each candidate's feature row, the mean row over the valid
candidates (its context: how this candidate compares with the others) and the
global features, and gives one score per candidate; the agent evicts the
highest-scoring valid candidate. The same weights score every slot, so the
scorer is permutation-invariant and independent of ``k`` (DeepSets, Zaheer et
al., NeurIPS 2017, with mean pooling), and it uses features only, no page
addresses, so it transfers to programs it never saw (as LRB's model, Song et
al., NSDI 2020, and unlike Parrot's address embeddings, Liu et al., ICML 2020).

Two implementations of one function: :class:`Scorer` (NumPy, for inference,
no torch needed and no per-step framework overhead) and
:func:`torch_module` (torch, for training); :func:`Scorer.from_torch` and
:meth:`Scorer.to_torch` convert between them exactly. Weights are stored as
plain arrays in an ``.npz`` (never a pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents._infer import best_slot, pack
from vmgym.envs._kernel import FEATURES, GLOBALS

N_FEATURES = len(FEATURES)
N_GLOBALS = len(GLOBALS)
VALID = FEATURES.index("valid")
FORMAT = "vmgym-scorer-1"  # bumped when the layout of the saved arrays changes


class ScorerError(ValueError):
    """A scorer file that cannot be used (missing, corrupt, or for another observation layout)."""


def split(obs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat PageReplacement-v0 observation (or a batch of them) as (rows, globals, mask).

    ``rows`` has shape ``(..., k, N_FEATURES)``; ``mask`` marks valid candidates.
    MemoryManager-v0 observations start with the same block and work too.
    """
    obs = np.asarray(obs, np.float32)
    n = k * N_FEATURES
    rows = obs[..., :n].reshape(*obs.shape[:-1], k, N_FEATURES)
    glob = obs[..., n : n + N_GLOBALS]
    return rows, glob, rows[..., VALID] > 0.5


def inputs(rows: np.ndarray, glob: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scorer's input per candidate: its row, the mean valid row, the globals: ``(..., k, 2F + G)``."""
    m = mask[..., None].astype(np.float32)
    mean = (rows * m).sum(-2, keepdims=True) / np.maximum(m.sum(-2, keepdims=True), 1.0)
    mean = np.broadcast_to(mean, rows.shape)
    g = np.broadcast_to(glob[..., None, :], (*rows.shape[:-1], glob.shape[-1]))
    return np.concatenate([rows, mean, g], axis=-1).astype(np.float32)


N_INPUTS = 2 * N_FEATURES + N_GLOBALS


class Scorer:
    """NumPy scorer: ``scores(obs, k)`` -> one score per slot (higher = evict first).

    ``layers`` is a list of ``(W, b)``; hidden layers use ReLU, the last is linear
    with one output. ``meta`` holds what produced it (features, config, metrics).
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], meta: dict[str, Any] | None = None):
        if not layers or layers[0][0].shape[0] != N_INPUTS or layers[-1][0].shape[1] != 1:
            raise ScorerError(
                f"scorer layers must map {N_INPUTS} inputs to 1 output, got {[w.shape for w, _ in layers]}"
            )
        self.layers = [(np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32))
                       for w, b in layers]  # fmt: skip
        self.meta = dict(meta or {})
        self._fast: tuple | None = None

    @classmethod
    def init(cls, hidden: tuple[int, ...] = (64, 64), seed: int = 0) -> Scorer:
        """Random weights (He initialisation) from ``seed``."""
        rng = np.random.default_rng(seed)
        sizes = [N_INPUTS, *hidden, 1]
        layers = [
            (rng.normal(0.0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        return cls(layers)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Widths of the hidden layers."""
        return tuple(w.shape[1] for w, _ in self.layers[:-1])

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """Scores of scorer inputs ``(..., k, N_INPUTS)`` -> ``(..., k)``."""
        h = x
        for w, b in self.layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
        w, b = self.layers[-1]
        return (h @ w + b)[..., 0]

    def scores(self, obs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and validity mask of the ``k`` slots of a flat observation (or a batch)."""
        rows, glob, mask = split(obs, k)
        return self.score_rows(inputs(rows, glob, mask)), mask

    def act(self, obs: np.ndarray, k: int, margin: float = 0.0) -> int:
        """The valid slot with the highest score (ties: the lowest slot), compiled (:mod:`agents._infer`).

        With ``margin > 0`` slot 0 (LRU's victim with ``lru``/``mix`` candidates)
        is kept unless another slot scores more than ``margin`` above it. Slot 0
        when no slot is valid (the env then has no decision to make).
        """
        fast = self._fast
        if fast is None:
            fast = self._fast = self._compiled_args()
        slot = best_slot(np.asarray(obs, np.float32), k, N_FEATURES, N_GLOBALS, VALID, margin, *fast)
        return max(int(slot), 0)

    def _compiled_args(self) -> tuple:
        if len(self.layers) != 3:
            raise ScorerError(
                f"the compiled scorer takes two hidden layers, this one has {len(self.layers) - 1}"
            )
        params, h1, h2 = pack(*(a for layer in self.layers for a in layer))
        return params, h1, h2, np.zeros(N_FEATURES + 2 * h1 + h2, np.float32)

    # -- files ----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the weights and ``meta`` as plain arrays to an ``.npz`` (no pickle)."""
        arrays = {f"w{i}": w for i, (w, _) in enumerate(self.layers)}
        arrays |= {f"b{i}": b for i, (_, b) in enumerate(self.layers)}
        return write_model(path, arrays, {"format": FORMAT, **self.meta})

    @classmethod
    def load(cls, path: str | Path) -> Scorer:
        """Read an ``.npz`` written by :meth:`save`; a clear :class:`ScorerError` for anything else."""
        scorer = load_scorer(path)
        if not isinstance(scorer, cls):
            raise ScorerError(f"{path}: a {type(scorer).__name__} model, not a {cls.__name__}")
        return scorer

    @classmethod
    def from_arrays(cls, path: Path, data: dict[str, np.ndarray], meta: dict[str, Any]) -> Scorer:
        """The scorer held by ``data`` (the arrays of a file :func:`read_model` read)."""
        n = len([name for name in data if name.startswith("w")])
        try:
            layers = [(data[f"w{i}"], data[f"b{i}"]) for i in range(n)]
        except KeyError as e:
            raise ScorerError(f"{path}: not a vmgym scorer: missing array {e}") from None
        return cls(layers, meta)

    # -- torch ------------------------------------------------------------------
    def to_torch(self):
        """The same function as a torch module (:func:`torch_module`) holding these weights."""
        import torch

        module = torch_module(self.hidden)
        with torch.no_grad():
            for lin, (w, b) in zip(module.linears, self.layers, strict=True):
                lin.weight.copy_(torch.from_numpy(w.T.copy()))
                lin.bias.copy_(torch.from_numpy(b.copy()))
        return module

    @classmethod
    def from_torch(cls, module, meta: dict[str, Any] | None = None) -> Scorer:
        """The NumPy scorer computing what the torch ``module`` computes."""
        layers = [
            (lin.weight.detach().cpu().numpy().T.copy(), lin.bias.detach().cpu().numpy().copy())
            for lin in module.linears
        ]
        return cls(layers, meta)


# -- model files: shared by every kind of scorer (this MLP, agents.trees) ------------------------------
FORMATS: dict[str, type] = {}  # a file's "format" -> the class whose from_arrays(path, data, meta) reads it


def write_model(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """``arrays`` and a JSON header (``meta`` plus the observation layout) as an ``.npz``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"features": list(FEATURES), "globals": list(GLOBALS), **meta}
    arrays = {**arrays, "meta": np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)
    return path


def load_scorer(path: str | Path):
    """The scorer in a model file of any known format (:data:`FORMATS`); a clear :class:`ScorerError`."""
    path = Path(path)
    if not path.is_file():
        raise ScorerError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {name: z[name] for name in z.files}
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same error for the user
        raise ScorerError(f"{path}: not a vmgym scorer (.npz of plain arrays): {e}") from None
    try:
        meta = json.loads(bytes(data.pop("meta")).decode())
    except (KeyError, ValueError):
        raise ScorerError(f"{path}: not a vmgym scorer: no readable 'meta' entry") from None
    cls = FORMATS.get(meta.get("format"))
    if cls is None:
        raise ScorerError(f"{path}: format {meta.get('format')!r}; this vmgym reads {', '.join(FORMATS)}")
    if meta.get("features") != list(FEATURES) or meta.get("globals") != list(GLOBALS):
        raise ScorerError(
            f"{path}: trained on other observation features ({len(meta.get('features', []))} per "
            f"candidate); this vmgym's envs have {N_FEATURES}: retrain it with `vmgym train`"
        )
    for key in ("format", "features", "globals"):
        meta.pop(key)
    return cls.from_arrays(path, data, meta)


FORMATS[FORMAT] = Scorer


def torch_module(hidden: tuple[int, ...] = (64, 64)):
    """The scorer as a torch ``nn.Module``: ``module(x)`` maps ``(..., k, N_INPUTS)`` to ``(..., k)``.

    ``module.score(rows, glob, mask)`` builds the inputs (mean context) in torch.
    """
    import torch
    from torch import nn

    class TorchScorer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = [N_INPUTS, *hidden, 1]
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

        def forward(self, x):
            for lin in self.linears[:-1]:
                x = torch.relu(lin(x))
            return self.linears[-1](x).squeeze(-1)

        def score(self, rows, glob, mask):
            m = mask.unsqueeze(-1).to(rows.dtype)
            mean = (rows * m).sum(-2, keepdim=True) / m.sum(-2, keepdim=True).clamp(min=1.0)
            x = torch.cat([rows, mean.expand_as(rows), glob.unsqueeze(-2).expand(*rows.shape[:-1], -1)], -1)
            return self(x)

    return TorchScorer()
