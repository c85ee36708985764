"""The compiler and cache hints (vmgym.sim.hints) change code, never results."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from vmgym.sim.hints import nonneg, warm


@njit(_nrt=False)
def _gather_hinted(a, idx):
    s = 0
    for k in range(idx.shape[0]):
        warm(a, idx[min(k + 8, idx.shape[0] - 1)])
        s += a[nonneg(idx[k])] * (k + 1)
    return s


@njit(_nrt=False)
def _gather(a, idx):
    s = 0
    for k in range(idx.shape[0]):
        s += a[idx[k]] * (k + 1)
    return s


def test_hinted_code_computes_what_plain_code_does():
    rng = np.random.default_rng(3)
    a = rng.integers(-1000, 1000, 5000)
    idx = rng.integers(0, a.size, 20_000)
    assert _gather_hinted(a, idx) == _gather(a, idx)
    assert _gather_hinted(a, idx[:1]) == _gather(a, idx[:1])


def test_warm_of_any_index_is_harmless():
    """A hint is not a load: an index outside the array (an event's argument, -1) reads nothing."""
    a = np.arange(4)
    assert _gather_hinted(a, np.array([0, 3, 2, 1])) == _gather(a, np.array([0, 3, 2, 1]))

    @njit(_nrt=False)
    def hint_far(a):
        warm(a, -(1 << 40))
        warm(a, 1 << 40)
        return a[0]

    assert hint_far(a) == 0


def test_the_hints_reach_llvm():
    """``nonneg`` is an ``llvm.assume`` (the negative-index select goes), ``warm`` an ``llvm.prefetch``."""
    ir = _gather_hinted.inspect_llvm(_gather_hinted.signatures[0])
    assert "@llvm.assume" in ir and "@llvm.prefetch" in ir
    asm_hinted = _gather_hinted.inspect_asm(_gather_hinted.signatures[0])
    asm_plain = _gather.inspect_asm(_gather.signatures[0])
    # the wraparound of a signed index: an arithmetic shift by 63 builds the "index < 0" mask
    assert asm_plain.count("$63") > asm_hinted.count("$63")


def test_hints_take_only_what_they_can_use():
    @njit
    def unsigned(x):
        return nonneg(x)

    with pytest.raises(TypingError):
        unsigned(np.uint64(3))

    @njit
    def two_d(a):
        warm(a, 0)

    with pytest.raises(TypingError):
        two_d(np.zeros((2, 2)))
