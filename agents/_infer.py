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
def _context(obs, k, nf, ng, valid_col, w1t, b1, mean, shared):
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
    for c in range(nf):
        mean[c] /= n_valid
    g0 = k * nf
    for h in range(w1t.shape[0]):
        acc = b1[h]
        for c in range(nf):
            acc += w1t[h, nf + c] * mean[c]
        for c in range(ng):
            acc += w1t[h, 2 * nf + c] * obs[g0 + c]
        shared[h] = acc
    return n_valid


@njit(cache=True, fastmath=True, inline="always", _nrt=False)
def _score(obs, base, nf, w1t, w2t, b2, w3, b3, shared, h1):
    """The score of the candidate whose row starts at ``obs[base]``."""
    for h in range(w1t.shape[0]):
        acc = shared[h]
        for c in range(nf):
            acc += w1t[h, c] * obs[base + c]
        h1[h] = acc if acc > 0.0 else 0.0
    s = b3
    for h in range(w2t.shape[0]):
        acc = b2[h]
        for i in range(w2t.shape[1]):
            acc += w2t[h, i] * h1[i]
        if acc > 0.0:
            s += w3[h] * acc
    return s


@njit(cache=True, fastmath=True, _nrt=False)
def best_slot(obs, k, nf, ng, valid_col, margin, w1t, b1, w2t, b2, w3, b3, mean, shared, h1):
    """The valid slot with the highest score (ties: lowest slot); -1 if none is valid.

    ``w1t`` is ``(H1, 2 nf + ng)``, ``w2t`` ``(H2, H1)``, ``w3`` ``(H2,)``; ``mean``
    (``nf``), ``shared`` and ``h1`` (``H1``) are scratch. With ``margin > 0`` slot
    0 is the default: another slot is chosen only if its score beats slot 0's by
    more than ``margin``.
    """
    if _context(obs, k, nf, ng, valid_col, w1t, b1, mean, shared) == 0:
        return -1
    best = -np.inf
    slot = -1
    first = -np.inf
    for j in range(k):
        if obs[j * nf + valid_col] <= 0.5:
            continue
        s = _score(obs, j * nf, nf, w1t, w2t, b2, w3, b3, shared, h1)
        if j == 0:
            first = s
        if s > best:
            best = s
            slot = j
    if slot > 0 and best <= first + margin:
        return 0
    return slot
