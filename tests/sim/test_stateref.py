"""The by-reference state view (vmgym.sim.stateref) reads and writes what the tuple does."""

from typing import NamedTuple

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from vmgym.sim.stateref import ref


class Pair(NamedTuple):
    a: np.ndarray
    b: np.ndarray


@njit(_nrt=False)
def _bump(st, k):
    st.a[k] += st.b[k]
    return st.a[k] * 10 + st.b.shape[0]


@njit(_nrt=False)
def _by_ref(st, k):
    return _bump(ref(st), k)


def test_reads_and_writes_through_the_reference_equal_those_on_the_tuple():
    by_value = Pair(np.arange(4), np.array([5, 6, 7, 8]))
    by_ref = Pair(by_value.a.copy(), by_value.b.copy())
    for k in (0, 3, 3):
        assert _by_ref(by_ref, k) == _bump(by_value, k)
    assert by_ref.a.tolist() == by_value.a.tolist() == [5, 1, 2, 19]


def test_an_unknown_field_and_a_non_tuple_are_typing_errors():
    @njit
    def unknown(st):
        return ref(st).c

    @njit
    def not_a_tuple(x):
        return ref(x)

    with pytest.raises(TypingError):
        unknown(Pair(np.zeros(1), np.zeros(1)))
    with pytest.raises(TypingError):
        not_a_tuple(np.zeros(1))
