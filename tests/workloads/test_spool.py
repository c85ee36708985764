"""workloads.spool: Column's values in memory and in a file; no huge pages; a full disk is one line."""

import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from workloads import spool
from workloads.model import WorkloadError
from workloads.spool import Column, Spool, small_pages_array, spills


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


def _mapping(array: np.ndarray) -> tuple[str, list[str]]:
    """The permissions and VmFlags of the mapping holding the middle of ``array`` (/proc/self/smaps)."""
    address = array.ctypes.data + array.nbytes // 2  # (NumPy advises from the first whole page on)
    inside, perms = False, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and ":" not in fields[0]:
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            inside, perms = lo <= address < hi, fields[1]
        elif inside and fields[0] == "VmFlags:":
            return perms, fields[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc/self/smaps")
def test_small_pages_array_is_not_advised_for_huge_pages():
    big = np.empty(8 << 20, np.int8)  # NumPy advises huge pages for arrays of 4 MiB or more ...
    ours = small_pages_array(8 << 20, np.int8)  # ... ours must not be
    assert ours.shape == (8 << 20,) and ours.flags.writeable and not ours.any()  # zeros
    ours[:] = 1
    assert int(ours.sum()) == 8 << 20
    perms, flags = _mapping(ours)
    assert "hg" not in flags and perms == "rw-p"  # private: a shared anonymous mapping is shmem
    assert small_pages_array(0, np.int64).shape == (0,)
    if "hg" not in _mapping(big)[1]:  # (the premise: NumPy's own arrays are advised)
        pytest.skip("this NumPy or kernel gives no huge-page advice: nothing to compare against")


Usage = namedtuple("Usage", "total used free")


def test_spills_above_the_threshold_and_checks_the_room_first(monkeypatch, tmp_path):
    monkeypatch.setattr(spool.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(spool, "SPILL_ABOVE", 1000)
    assert not spills(1000, "x") and spills(1001, "x")
    assert not spills(5000, "x", above=5000)
    asked = []

    def usage(folder):
        asked.append(folder)
        return Usage(1 << 40, (1 << 40) - (3 << 30), 3 << 30)  # 3 GiB free

    monkeypatch.setattr(spool.shutil, "disk_usage", usage)
    assert spills(3 << 30, "x")
    with pytest.raises(WorkloadError) as e:
        spills(5 << 30, "OPT's next-use columns")
    msg = str(e.value)
    assert "\n" not in msg and "OPT's next-use columns need 5.0 GiB" in msg and str(tmp_path) in msg
    assert "3.0 GiB free" in msg and "TMPDIR" in msg
    assert asked == [str(tmp_path)] * 2
    assert not spills(999, "x")  # in memory: the disk is not asked
    assert len(asked) == 2


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_while_writing_is_one_line(monkeypatch, tmp_path):
    """A disk that fills up after the check: Column and Spool writes raise a one-line WorkloadError."""
    col = Column(100, np.int64, spill=True)
    col._fh.close()
    col._fh = open("/dev/full", "r+b", buffering=0)  # every write: ENOSPC
    with pytest.raises(
        WorkloadError, match=r"cannot write a temporary file under .*: No space left on device"
    ):
        col.write(0, np.arange(3))  # a short write too (ndarray.tofile dropped those silently)
    col.close()
    monkeypatch.setattr(spool, "anonymous_file", lambda prefix: open("/dev/full", "r+b", buffering=0))
    sp = Spool(2, spill=True)
    with pytest.raises(WorkloadError, match="No space left on device"):
        sp.append(1, np.zeros(10, np.int8), np.arange(10, dtype=np.int32))


def test_vmgym_run_opt_without_room_for_its_columns_is_one_line(monkeypatch, tmp_path):
    """`vmgym run -p opt` on a streamed trace whose next-use columns cannot fit in $TMPDIR: one line."""
    from typer.testing import CliRunner

    import workloads.spec
    from vmgym.cli import app
    from vmgym.streaming import feed
    from workloads import resolve
    from workloads.traces import write_trace

    path = write_trace(resolve("zipf:pages=100,length=3000,seed=1"), tmp_path / "z.npy")
    monkeypatch.setattr(workloads.spec, "STREAM_TRACES_FROM", 0)
    monkeypatch.setattr(feed, "SPILL_ABOVE", 0)
    monkeypatch.setattr(feed, "ORACLE_MEMORY_SHARE", 0)
    real = shutil.disk_usage
    monkeypatch.setattr(spool.shutil, "disk_usage", lambda folder: Usage(1 << 30, 1 << 30, 0))
    res = CliRunner().invoke(app, ["run", "-w", str(path), "-p", "opt", "-f", "20"])
    assert res.exit_code == 2, res.output
    assert "OPT's next-use columns need" in res.output and "TMPDIR" in res.output
    assert "Traceback" not in res.output
    monkeypatch.setattr(spool.shutil, "disk_usage", real)
    res = CliRunner().invoke(app, ["run", "-w", str(path), "-p", "opt", "-f", "20"])
    assert res.exit_code == 0, res.output


def test_a_short_temporary_file_is_an_error_not_zeros():
    col = Column(10, np.int32, spill=True)
    col.write(0, np.arange(10, dtype=np.int32))
    assert np.array_equal(col.read(8, 2), [8, 9])
    col._fh.truncate(8 * 4)  # the file lost its end
    with pytest.raises(WorkloadError, match="gave 0 values, not 2"):
        col.read(8, 2)
