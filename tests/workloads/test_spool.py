"""workloads.spool's Column: the same values in memory and in a file; its memory has no huge pages."""

from pathlib import Path

import numpy as np
import pytest

from workloads.spool import Column, small_pages_array


@pytest.mark.parametrize("spill", [False, True])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_column_reads_back_what_was_written(spill, dtype):
    rng = np.random.default_rng(3)
    values = rng.integers(-100, 100, 1000).astype(dtype)
    col = Column(values.size, dtype, spill)
    for lo in range(0, values.size, 300):  # written in pieces, out of order
        col.write(values.size - lo - min(300, values.size - lo), values[::-1][lo : lo + 300][::-1])
    assert np.array_equal(col.read(0, values.size), values)
    assert np.array_equal(col.read(123, 77), values[123:200])
    assert col.read(0, 5).dtype == np.dtype(dtype)
    col.close()


def _vm_flags(array: np.ndarray) -> list[str]:
    """The VmFlags of the mapping holding the middle of ``array`` in /proc/self/smaps."""
    address = array.ctypes.data + array.nbytes // 2  # (NumPy advises from the first whole page on)
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "VmFlags:":
            return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc/self/smaps")
def test_small_pages_array_is_not_advised_for_huge_pages():
    big = np.empty(8 << 20, np.int8)  # NumPy advises huge pages for arrays of 4 MiB or more ...
    ours = small_pages_array(8 << 20, np.int8)  # ... ours must not be
    ours[:] = 1
    assert ours.shape == (8 << 20,) and ours.flags.writeable and int(ours.sum()) == 8 << 20
    assert "hg" not in _vm_flags(ours)
    if "hg" not in _vm_flags(big):
        pytest.skip("this NumPy or kernel gives no huge-page advice: nothing to compare against")
    assert small_pages_array(0, np.int64).shape == (0,)
