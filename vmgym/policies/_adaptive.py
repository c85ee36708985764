"""Compiled helpers shared by the adaptive policies (ARC, CAR, 2Q, S3-FIFO).

- :func:`faulting_page`: the page whose fault is being served when ``victim`` runs.
  The simulator calls ``victim(st)`` before ``on_insert`` and does not pass the
  faulting page, but it sets ``sc[SC_POS]`` to the faulting reference first, so the
  page can be read from the trace: its PTE ``ref_pte[pos]`` and the PTE's page
  (``pte_page``, or ``pte_static`` for a shared/file page this PTE has not linked
  yet). A present PTE means the fault is a copy-on-write break, whose page is a
  fresh private copy that no policy can know: -1. So is a never-touched anonymous
  page (no page id yet).
- :func:`get_real` / :func:`set_real`: a float64 kept exactly in one int64 slot
  (its bit pattern), for the real-valued target ``p`` of ARC and CAR.
- :func:`ratio_count`: how a size ratio becomes a count of frames (Python side).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

from vmgym.sim import state as S


@njit(cache=True, inline="always", _nrt=False)
def faulting_page(st):
    """Page id of the fault in progress (see the module docstring), or -1."""
    pos = st.sc[S.SC_POS] - st.sc[S.SC_BASE]
    if pos < 0 or pos >= st.ref_pte.shape[0]:
        return -1
    p = st.ref_pte[pos]
    if p < 0 or st.ref_op[pos] >= S.EVENT_BASE:
        return -1
    if st.pte_flags[p] & S.PTE_PRESENT:
        return -1
    g = st.pte_page[p]
    if g < 0:
        g = st.pte_static[p]
    return g


@njit(cache=True, inline="always", _nrt=False)
def get_real(slots, k):
    """The float stored by :func:`set_real` at ``slots[k]``."""
    return slots.view(np.float64)[k]


@njit(cache=True, inline="always", _nrt=False)
def set_real(slots, k, x):
    """Store float ``x`` exactly in int64 slot ``slots[k]`` (its bit pattern; ``slots`` is contiguous)."""
    slots.view(np.float64)[k] = x


@njit(cache=True, inline="always", _nrt=False)
def forget_pending(st, keep, slot, mark):
    """Forget the mark of a fault that never completed (ARC's ADAPTED, 2Q's FAULTING).

    ``pol_g[slot]`` names the page ``g`` a fault marked with bit ``mark`` of
    ``pol_p[2, g]``; unless it is ``keep`` (the page faulting now), the bit is
    cleared and the slot emptied.
    """
    g = st.pol_g[slot]
    if g >= 0 and g != keep:
        st.pol_p[2, g] &= ~mark
        st.pol_g[slot] = -1


def exact_ratio(value: float) -> Fraction:
    """A ratio parameter as an exact fraction (0.1 is 1/10, not the nearest binary double)."""
    return Fraction(value).limit_denominator(1_000_000)


def ratio_count(value: float, frames: int, *, ceil: bool = False) -> int:
    """``floor(value * frames)`` (or ``ceil``), computed exactly."""
    x = exact_ratio(value) * frames
    return math.ceil(x) if ceil else math.floor(x)
