"""The scorer's forward pass for one decision, compiled: what makes a learned agent as fast as a heuristic.

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


@njit(cache=True, fastmath=True, inline="always", _nrt=False)
def _context(obs, k, nf, ng, valid_col, w1, b1, mean, shared):
    """The first layer's shared part (mean row, globals) into ``shared``; returns the valid slot count."""
    n_valid = 0
    mean[:] = 0.0
    for j in range(k):
        if obs[j * nf + valid_col] > 0.5:
            n_valid += 1
            for c in range(nf):
                mean[c] += obs[j * nf + c]
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
    if slot > 0 and best <= first + margin:
        return 0
    return slot
