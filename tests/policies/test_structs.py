"""The policies' shared data structures against plain Python models."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vmgym.policies._structs import heap_remove, heap_set

N_ITEMS = 12
ops = st.lists(
    st.tuples(st.booleans(), st.integers(0, N_ITEMS - 1), st.integers(-5, 5)), min_size=1, max_size=80
)


@settings(max_examples=200, deadline=None)
@given(ops, st.booleans())
def test_indexed_heap_matches_a_dict(steps, page_major):
    """Any sequence of inserts, re-keys and removals: the top has the largest key; positions agree."""
    if page_major:  # int32 rows of a page-major array, as LIRS keeps its heap
        rows = np.zeros((N_ITEMS, 3), np.int32).T
        heap, key, pos = rows[0], rows[1], rows[2]
    else:
        heap, key, pos = (np.zeros(N_ITEMS, np.int64) for _ in range(3))
    pos[:] = -1
    size = np.zeros(1, np.int64)
    model: dict[int, int] = {}
    for insert, item, value in steps:
        if insert:
            heap_set(heap, key, pos, size, 0, item, value)
            model[item] = value
        else:
            heap_remove(heap, key, pos, size, 0, item)
            model.pop(item, None)
        n = int(size[0])
        assert n == len(model)
        assert {int(heap[k]): int(key[k]) for k in range(n)} == model
        for k in range(n):
            assert pos[heap[k]] == k
            assert k == 0 or key[(k - 1) >> 1] >= key[k]
        assert all(pos[i] == -1 for i in range(N_ITEMS) if i not in model)
