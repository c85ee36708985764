"""A tree-ensemble scorer: gradient-boosted trees exported to flat arrays, evaluated in compiled code.

The second kind of candidate scorer beside the MLP of :mod:`agents.scorer`:
the same inputs per candidate (its feature row, the mean valid row, the
globals; no page addresses) and the same use (the agent evicts the highest
score), but a sum of regression trees trained by LightGBM
(:mod:`agents.boosting`; Ke et al., NeurIPS 2017). LightGBM is needed only to
train: :meth:`TreeScorer.from_booster` copies the trees out of
``booster.dump_model()`` into node arrays, and inference walks them in a numba
kernel (:func:`agents._infer.best_slot_trees`), a few microseconds per
decision instead of ~100 us for ``booster.predict``. Files are ``.npz`` of
plain arrays with the same JSON header as the MLP's (:func:`agents.scorer.write_model`).

Node arrays (one entry per split node of every tree, preorder, trees one after
another): ``feature`` (input column), ``threshold`` (float64; ``x <=
threshold`` goes left), ``left`` / ``right`` (the child node, or ``~leaf`` if
negative), ``default_left`` and ``missing`` (LightGBM's missing-value rule:
0 none, 1 zero, 2 NaN); ``leaf_value`` (float64) per leaf and ``roots`` (the
root of each tree, ``~leaf`` for a single-leaf tree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents._infer import MISSING_NAN, MISSING_NONE, MISSING_ZERO, best_slot_trees, tree_scores
from agents.base import register
from agents.scorer import FORMATS, N_FEATURES, N_GLOBALS, N_INPUTS, VALID, ScorerError, write_model
from agents.scorer_agent import ScorerAgent

FORMAT = "vmgym-trees-1"  # bumped when the layout of the saved arrays changes
ARRAYS = {
    "feature": np.int32,
    "threshold": np.float64,
    "left": np.int32,
    "right": np.int32,
    "default_left": np.uint8,
    "missing": np.uint8,
    "leaf_value": np.float64,
    "roots": np.int32,
}
_MISSING = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}


class TreeScorer:
    """A tree ensemble as flat arrays (module docstring): ``act(obs, k, margin)`` like :class:`Scorer`.

    The arrays are checked when built (every index in range, every child after
    its parent), so a file from anywhere cannot make the unchecked kernel read
    outside them or loop.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any] | None = None):
        try:
            a = {name: np.ascontiguousarray(arrays[name], dtype) for name, dtype in ARRAYS.items()}
        except KeyError as e:
            raise ScorerError(f"a tree scorer needs the array {e}") from None
        _check(a)
        self.arrays = a
        self.meta = dict(meta or {})
        flags = a["default_left"].astype(np.int32) + 2 * a["missing"].astype(np.int32)
        self._nodes = np.ascontiguousarray(np.stack([a["feature"], a["left"], a["right"], flags], 1))
        self._scratch = (np.zeros(N_FEATURES, np.float32), np.zeros(N_INPUTS, np.float64))

    @classmethod
    def empty(cls) -> TreeScorer:
        """No trees: every score is 0, so the agent keeps slot 0 (LRU's victim with ``mix`` candidates)."""
        return cls({name: np.zeros(0, dtype) for name, dtype in ARRAYS.items()})

    @property
    def n_trees(self) -> int:
        """Trees in the ensemble."""
        return int(self.arrays["roots"].size)

    @property
    def n_leaves(self) -> int:
        """Leaves over all trees."""
        return int(self.arrays["leaf_value"].size)

    @classmethod
    def from_booster(cls, booster, meta: dict[str, Any] | None = None) -> TreeScorer:
        """The trees of a trained ``lightgbm.Booster`` (numerical splits, one score per row)."""
        model = booster.dump_model()
        if model.get("num_tree_per_iteration", 1) != 1 or model.get("average_output"):
            raise ScorerError("only boosted ensembles with one score per row can be exported")
        if model.get("max_feature_idx", N_INPUTS - 1) != N_INPUTS - 1:
            raise ScorerError(f"the booster takes {model['max_feature_idx'] + 1} inputs; a scorer {N_INPUTS}")
        cols: dict[str, list] = {name: [] for name in ARRAYS}
        for tree in model["tree_info"]:
            if tree.get("num_cat", 0) or tree.get("is_linear"):
                raise ScorerError("categorical splits and linear trees cannot be exported")
            cols["roots"].append(_export(tree["tree_structure"], cols))
        return cls({name: np.asarray(v, ARRAYS[name]) for name, v in cols.items()}, meta)

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """Raw scores of scorer inputs ``(..., N_INPUTS)`` -> ``(...)`` (``booster.predict(x)``)."""
        x = np.asarray(x)
        flat = np.ascontiguousarray(x.reshape(-1, x.shape[-1]), np.float64)
        out = np.zeros(flat.shape[0])
        a = self.arrays
        tree_scores(flat, self._nodes, a["threshold"], a["leaf_value"], a["roots"], out)
        return out.reshape(x.shape[:-1])

    def act(self, obs: np.ndarray, k: int, margin: float = 0.0) -> int:
        """The valid slot with the highest score (ties: the lowest); the margin rule of :meth:`Scorer.act`."""
        a = self.arrays
        slot = best_slot_trees(
            np.asarray(obs, np.float32), k, N_FEATURES, N_GLOBALS, VALID, margin,
            self._nodes, a["threshold"], a["leaf_value"], a["roots"], *self._scratch,
        )  # fmt: skip
        return max(int(slot), 0)

    def save(self, path: str | Path) -> Path:
        """The node arrays and ``meta`` as an ``.npz`` of plain arrays (no pickle, no LightGBM text)."""
        return write_model(path, self.arrays, {"format": FORMAT, **self.meta})

    @classmethod
    def from_arrays(cls, path: Path, data: dict[str, np.ndarray], meta: dict[str, Any]) -> TreeScorer:
        """The ensemble held by the arrays of a model file (:func:`agents.scorer.load_scorer`)."""
        try:
            return cls(data, meta)
        except ScorerError as e:
            raise ScorerError(f"{path}: not a vmgym tree scorer: {e}") from None


FORMATS[FORMAT] = TreeScorer


def _export(root: dict[str, Any], cols: dict[str, list]) -> int:
    """Append one tree (``dump_model``'s nested dicts) to ``cols`` in preorder; its root's index."""

    def leaf(node: dict[str, Any]) -> int:
        cols["leaf_value"].append(float(node["leaf_value"]))
        return ~(len(cols["leaf_value"]) - 1)

    if "split_index" not in root:
        return leaf(root)
    first = len(cols["feature"])
    stack = [(root, -1, "")]  # (node, parent index, "left"/"right" slot of the parent to fill)
    while stack:
        node, parent, side = stack.pop()
        if "split_index" in node:
            if node.get("decision_type", "<=") != "<=":
                raise ScorerError(f"split rule {node['decision_type']!r} cannot be exported (only '<=')")
            index = len(cols["feature"])
            cols["feature"].append(int(node["split_feature"]))
            cols["threshold"].append(float(node["threshold"]))
            cols["default_left"].append(bool(node.get("default_left", True)))
            cols["missing"].append(_MISSING[node.get("missing_type", "None")])
            cols["left"].append(0)
            cols["right"].append(0)
            # the right child is pushed first so that the left subtree is numbered first (preorder)
            stack.append((node["right_child"], index, "right"))
            stack.append((node["left_child"], index, "left"))
        else:
            index = leaf(node)
        if parent >= 0:
            cols[side][parent] = index
    return first


def _check(a: dict[str, np.ndarray]) -> None:
    """Raise :class:`ScorerError` unless the arrays describe a well-formed ensemble."""
    n = a["feature"].size
    n_leaves = a["leaf_value"].size
    if a["feature"].ndim != 1 or any(a[k].shape != (n,) for k in ("threshold", "left", "right",
                                                                    "default_left", "missing")):  # fmt: skip
        raise ScorerError("node arrays of different lengths")
    if a["leaf_value"].ndim != 1 or a["roots"].ndim != 1:
        raise ScorerError("leaf_value and roots must be 1-D")
    if n and not (0 <= a["feature"].min() and a["feature"].max() < N_INPUTS):
        raise ScorerError(f"a split on a feature outside [0, {N_INPUTS})")
    if n and a["missing"].max() > MISSING_NAN:
        raise ScorerError("an unknown missing-value rule")
    index = np.arange(n)
    for side in ("left", "right", "roots"):
        child = a[side]
        inner = child >= 0
        bad = (child < -n_leaves) | (child >= n)
        if side != "roots":
            bad |= inner & (child <= index)  # children after their parent: every walk ends
        if bad.any():
            raise ScorerError(f"{side} holds an index out of range")
    if not (np.isfinite(a["leaf_value"]).all() and not np.isnan(a["threshold"]).any()):
        raise ScorerError("a leaf value or threshold is not a number")


@register
class TreeAgent(ScorerAgent):
    """Evicts the candidate a LightGBM tree ensemble ranks first; the margin and duel of :class:`ScorerAgent`.

    Trained like the ``imitation`` agent (Belady's labels, BC then DAgger, on
    the same candidate features), with LambdaMART (Burges, MSR-TR-2010-82: one
    query per decision, relevance from the next-use order) or a regression on
    the log next-use distance as LRB does (Song et al., NSDI 2020). The model
    is a plain ``.npz`` of node arrays (:class:`TreeScorer`); LightGBM is
    needed to train it, not to load or run it.
    """

    name = "lightgbm"
    aliases = ("gbdt", "lambdamart")
    source = "Ke et al., NeurIPS 2017 (LightGBM); Burges, 2010 (LambdaMART); Ross et al., 2011 (DAgger)"
    suffixes = ()  # its .npz files are read by ScorerAgent.load, which hands them to this class
    scorer_class = TreeScorer

    def untrained(self) -> TreeScorer:
        """No trees: the new agent keeps slot 0 (LRU's victim)."""
        return TreeScorer.empty()
