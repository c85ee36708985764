"""The scorers' forward passes for one decision, compiled: what makes a learned agent as fast as a heuristic.

NumPy spends ~50 us per decision on small-array overheads (split, concatenate,
three matmuls); this kernel does the same arithmetic in a few us. It uses that
the first layer is linear: ``W1 @ [row, mean, globals] = W1r @ row + (W1m @
mean + W1g @ globals)``, and the bracket is the same for every candidate, so it
is computed once per decision. ``fastmath`` lets LLVM vectorise the sums, so
scores can differ from NumPy's in the last bits (never the argmax except at
exact ties); the same machine gives the same result every run.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always", _nrt=False)
def _row_sum(obs, k, nf, valid_col, mean):
    """The sum of the valid candidates' rows into ``mean``, slot by slot; returns the valid slot count."""
    n_valid = 0
    mean[:] = 0.0
    for j in range(k):
        if obs[j * nf + valid_col] > 0.5:
            n_valid += 1
            for c in range(nf):
                mean[c] += obs[j * nf + c]
    return n_valid


@njit(cache=True, fastmath=True, inline="always", _nrt=False)
def _context(obs, k, nf, ng, valid_col, w1, b1, mean, shared):
    """The first layer's shared part (mean row, globals) into ``shared``; returns the valid slot count."""
    n_valid = _row_sum(obs, k, nf, valid_col, mean)
    if n_valid == 0:
        return 0
    nh = shared.shape[0]
    for h in range(nh):
        shared[h] = b1[h]
    for c in range(nf):
        x = mean[c] / n_valid
        if x != 0.0:
            for h in range(nh):
                shared[h] += x * w1[nf + c, h]
    g0 = k * nf
    for c in range(ng):
        x = obs[g0 + c]
        if x != 0.0:
            for h in range(nh):
                shared[h] += x * w1[2 * nf + c, h]
    return n_valid


@njit(cache=True, fastmath=True, inline="always", _nrt=False)
def _score(obs, base, nf, w1, w2, b2, w3, b3, shared, h1, h2):
    """The score of the candidate whose row starts at ``obs[base]``.

    Rows of the weights are added scaled by each input (contiguous, so LLVM
    vectorises them), skipping zero inputs: most binary features and about
    half of the ReLU outputs are zero.
    """
    n1 = h1.shape[0]
    n2 = h2.shape[0]
    for h in range(n1):
        h1[h] = shared[h]
    for c in range(nf):
        x = obs[base + c]
        if x != 0.0:
            for h in range(n1):
                h1[h] += x * w1[c, h]
    for h in range(n2):
        h2[h] = b2[h]
    for i in range(n1):
        x = h1[i]
        if x > 0.0:
            for h in range(n2):
                h2[h] += x * w2[i, h]
    s = b3
    for h in range(h2.shape[0]):
        if h2[h] > 0.0:
            s += w3[h] * h2[h]
    return s


@njit(cache=True, inline="always", _nrt=False)
def _keep_first(slot, best, first, margin):
    """Slot 0 unless ``slot``'s score ``best`` beats slot 0's (``first``) by more than ``margin``."""
    if slot > 0 and best <= first + margin:
        return 0
    return slot


def pack(w1, b1, w2, b2, w3, b3) -> tuple[np.ndarray, int, int]:
    """The weights of a two-hidden-layer scorer as one float32 array, for :func:`best_slot`: (params, H1, H2).

    One array instead of six: numba unboxes every array argument at each call.
    """
    h1, h2 = w1.shape[1], w2.shape[1]
    parts = [w1, b1, w2, b2, w3[:, 0], b3[:1]]
    return np.concatenate([np.ascontiguousarray(p, np.float32).ravel() for p in parts]), h1, h2


@njit(cache=True, fastmath=True, _nrt=False)
def best_slot(obs, k, nf, ng, valid_col, margin, params, h1n, h2n, scratch):
    """The valid slot with the highest score (ties: lowest slot); -1 if none is valid.

    ``params`` is :func:`pack`'s array (layer widths ``h1n``, ``h2n``); ``scratch``
    holds at least ``nf + 2 * h1n + h2n`` floats. With ``margin > 0`` slot 0 is
    the default: another slot is chosen only if its score beats slot 0's by
    more than ``margin``.
    """
    d = 2 * nf + ng
    o = 0
    w1 = params[o : o + d * h1n].reshape((d, h1n))
    o += d * h1n
    b1 = params[o : o + h1n]
    o += h1n
    w2 = params[o : o + h1n * h2n].reshape((h1n, h2n))
    o += h1n * h2n
    b2 = params[o : o + h2n]
    o += h2n
    w3 = params[o : o + h2n]
    b3 = params[o + h2n]
    mean = scratch[:nf]
    shared = scratch[nf : nf + h1n]
    h1 = scratch[nf + h1n : nf + 2 * h1n]
    h2 = scratch[nf + 2 * h1n : nf + 2 * h1n + h2n]
    if _context(obs, k, nf, ng, valid_col, w1, b1, mean, shared) == 0:
        return -1
    best = -np.inf
    slot = -1
    first = -np.inf
    for j in range(k):
        if obs[j * nf + valid_col] <= 0.5:
            continue
        s = _score(obs, j * nf, nf, w1, w2, b2, w3, b3, shared, h1, h2)
        if j == 0:
            first = s
        if s > best:
            best = s
            slot = j
    return _keep_first(slot, best, first, margin)


# -- tree ensembles (agents.trees) ----------------------------------------------------------------
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2  # LightGBM's missing_type of a split
ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| <= ZERO is "zero" for missing_type Zero


@njit(cache=True, inline="always", _nrt=False)
def _tree_sum(x, nodes, thresholds, leaves, roots):
    """The ensemble's raw score of one input row ``x`` (float64): the sum of one leaf per tree, in order.

    ``nodes[i]`` = (feature, left, right, default_left + 2 * missing_type); a
    child < 0 is the leaf ``~child``. The split rule is LightGBM's
    ``NumericalDecision``: NaN counts as 0 unless missing_type is NaN; a missing
    value (NaN, or zero for missing_type Zero) goes to the default side;
    otherwise ``x <= threshold`` goes left.
    """
    s = 0.0
    for t in range(roots.shape[0]):
        node = roots[t]
        while node >= 0:
            v = x[nodes[node, 0]]
            flags = nodes[node, 3]
            missing = flags >> 1
            if v != v and missing != MISSING_NAN:
                v = 0.0
            if (missing == MISSING_ZERO and -ZERO <= v <= ZERO) or (missing == MISSING_NAN and v != v):
                left = (flags & 1) == 1
            else:
                left = v <= thresholds[node]
            node = nodes[node, 1] if left else nodes[node, 2]
        s += leaves[~node]
    return s


@njit(cache=True, _nrt=False)
def tree_scores(x, nodes, thresholds, leaves, roots, out):
    """Raw scores of the input rows ``x`` (n, inputs) into ``out`` (n): what ``booster.predict`` gives."""
    for i in range(x.shape[0]):
        out[i] = _tree_sum(x[i], nodes, thresholds, leaves, roots)


@njit(cache=True, _nrt=False)
def best_slot_trees(obs, k, nf, ng, valid_col, margin, nodes, thresholds, leaves, roots, mean, x):
    """:func:`best_slot` for a tree ensemble: the valid slot with the highest score; -1 if none is valid.

    Each candidate's input is built as :func:`agents.scorer.inputs` builds it
    (its row, the mean valid row in float32, the globals) into ``x`` (float64,
    ``2 * nf + ng``); ``mean`` is float32 scratch of ``nf``.
    """
    n_valid = _row_sum(obs, k, nf, valid_col, mean)
    if n_valid == 0:
        return -1
    count = np.float32(n_valid)
    for c in range(nf):
        x[nf + c] = mean[c] / count
    for c in range(ng):
        x[2 * nf + c] = obs[k * nf + c]
    best = -np.inf
    slot = -1
    first = -np.inf
    for j in range(k):
        if obs[j * nf + valid_col] <= 0.5:
            continue
        for c in range(nf):
            x[c] = obs[j * nf + c]
        s = _tree_sum(x, nodes, thresholds, leaves, roots)
        if j == 0:
            first = s
        if s > best:
            best = s
            slot = j
    return _keep_first(slot, best, first, margin)
