"""Property tests of the trace readers: any input gives a valid workload or a one-line TraceError.

Random bytes, truncated and mutated valid files (with huge, negative and malformed numbers
spliced in), the same wrapped in gzip and zstd, and random NumPy arrays of every dtype in
``.npy`` / ``.npz`` files. The workload must load into the simulator (no compile: loading is
NumPy); an error must be a :class:`WorkloadError` whose message is one line naming the file.
"""

from __future__ import annotations

import functools
import gzip
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmgym.sim import MachineConfig
from vmgym.sim.loader import load as load_workload
from workloads import Workload, traces
from workloads.model import WorkloadError

FUZZ = settings(
    max_examples=50,
    deadline=None,  # the first example compiles the parsing kernels (cached afterwards)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
NAMES = {
    "lackey": "t.lackey",
    "din": "t.din",
    "plain": "t.txt",
    "csv": "t.csv",
    "lcs-txt": "t.lcs",
    "oracleGeneral": "t.oracleGeneral",
    "npz": "t.npz",
    "npy": "t.npy",
}
TOKENS = [
    b"-1",
    b"-9223372036854775808",
    b"99999999999999999999999",
    b"18446744073709551616",
    b"ffffffffffffffff",
    b"7fffffffffffffff",
    b"0x",
    b",",
    b"\n",
    b"\r\n",
    b"\x00",
    b" ",
    b"\t",
    b"1e9",
    b"nan",
    b"4294967296",
    b"999999999",
    b"\xff\xfe",
    b"==1==",
    b"#",
    b"R",
    b"W",
]


@functools.cache
def seeds() -> dict[str, bytes]:
    """A small valid trace in every format, as bytes."""
    d = Path(tempfile.mkdtemp(prefix="vmgym-fuzz-"))
    wl = Workload.from_pages([7, 0, 1, 2, 0, 3, 0, 4, 100, 5000, 3], [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    return {fmt: traces.write_trace(wl, d / name, fmt).read_bytes() for fmt, name in NAMES.items()}


def check(path, fmt: str | None) -> None:
    """The property: a workload the simulator loads, or a one-line WorkloadError naming the file."""
    try:
        wl = traces.load_trace(path, fmt)
    except WorkloadError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert str(path) in msg, msg
        return
    assert wl.processes and wl.references > 0
    for proc in wl.processes:
        assert np.asarray(proc.ops).shape == np.asarray(proc.args).shape
        assert int(np.asarray(proc.args).min()) >= 0
    try:
        load_workload(wl, MachineConfig(frames=4, page_size=wl.page_size, tlb_entries=0))
    except WorkloadError as e:  # the simulator's own limits (e.g. 40-bit page numbers)
        assert "\n" not in str(e)
    check_stream(path, fmt, wl)


def check_stream(path, fmt: str | None, whole: Workload) -> None:
    """The streamed reader of a file that loads: the same processes and references, block by block."""
    try:
        got = traces.stream_trace(path, fmt, several=True, block_size=64).workload()
    except WorkloadError as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        raise AssertionError(f"loads whole but does not stream: {e}") from None
    assert [(p.name, p.start, p.vmas) for p in got.processes] == [
        (p.name, p.start, p.vmas) for p in whole.processes
    ]
    for a, b in zip(got.processes, whole.processes, strict=True):
        assert np.array_equal(a.ops, b.ops) and np.array_equal(a.args, b.args)


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with a few byte flips, token splices, cuts and truncations."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "splice", "cut", "truncate"]))
        at = draw(st.integers(0, len(b)))
        if kind == "flip" and b:
            b[min(at, len(b) - 1)] = draw(st.integers(0, 255))
        elif kind == "splice":
            b[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "cut":
            del b[at : at + draw(st.integers(1, 12))]
        else:
            del b[at:]
    return bytes(b)


def _wrap(data: bytes, how: str) -> bytes:
    if how == "gz":
        return gzip.compress(data)
    if how == "zst":
        return zstandard.ZstdCompressor().compress(data)
    return data


@pytest.mark.parametrize("fmt", list(NAMES))
@FUZZ
@given(data=st.data())
def test_mutated_files(tmp_path, fmt, data):
    """Mutated, truncated or random files of every format, plain and compressed, with and without fmt."""
    base = seeds()[fmt]
    raw = data.draw(
        st.one_of(
            mutated(base), st.binary(max_size=300), st.just(base[: data.draw(st.integers(0, len(base)))])
        )
    )
    how = data.draw(st.sampled_from(["", "", "gz", "zst", "gz-mutated", "zst-mutated"]))
    blob = _wrap(raw, how.split("-")[0])
    if how.endswith("mutated"):
        blob = data.draw(mutated(blob))
    path = tmp_path / (NAMES[fmt] + ("." + how.split("-")[0] if how else ""))
    path.write_bytes(blob)
    check(path, fmt)
    check(path, None)


@pytest.mark.parametrize("fmt", ["lackey", "din", "plain", "csv", "lcs-txt"])
@FUZZ
@given(lines=st.lists(st.lists(st.sampled_from(TOKENS + [b"L", b"S", b"0", b"1", b"2", b"I"]), max_size=5)))
def test_text_lines_of_tokens(tmp_path, fmt, lines):
    """Lines built from field-like tokens (numbers at the edges of every range)."""
    path = tmp_path / NAMES[fmt]
    path.write_bytes(b"\n".join(b" ".join(tok) for tok in lines))
    check(path, fmt)


DTYPES = st.sampled_from(
    ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "?", "c16", "U3", "S3", "M8[s]"]
)
VALUES = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, 1, 2, 3, -1, 2**31, 2**40, 2**62, 2**63 - 1]),
)


@st.composite
def arrays(draw) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    shape = draw(st.sampled_from([(0,), (1,), (5,), (4, 2), (3, 3), (), (2, 0)]))
    n = int(np.prod(shape))
    vals = draw(st.lists(VALUES, min_size=n, max_size=n))
    try:
        with np.errstate(all="ignore"):
            return np.array(vals, dtype=object).astype(dtype).reshape(shape)
    except (OverflowError, ValueError, TypeError):
        return np.zeros(shape, dtype)


NPZ_KEYS = ["ops", "pages", "pages_delta", "addrs", "writes", "offsets", "names", "starts", "page_size"]


@FUZZ
@given(arr=arrays())
def test_npy_arrays(tmp_path, arr):
    path = tmp_path / "t.npy"
    np.save(path, arr)
    check(path, "npy")


@FUZZ
@given(
    members=st.dictionaries(st.sampled_from([*NPZ_KEYS, "meta", "junk"]), arrays(), max_size=6),
    compressed=st.booleans(),
)
def test_npz_members(tmp_path, members, compressed):
    """npz files with any subset of the known members, of any dtype and shape (and unknown ones)."""
    path = tmp_path / "t.npz"
    (np.savez_compressed if compressed else np.savez)(path, **members)
    check(path, "npz")


@pytest.mark.parametrize("fmt", ["npy", "npz"])
def test_pickled_object_arrays_are_refused(tmp_path, fmt):
    """Trace files are data: a pickled object array is refused with one line, never unpickled."""
    obj = np.array([{"x": 1}, [2, 3]], dtype=object)
    path = tmp_path / f"evil.{fmt}"
    if fmt == "npy":
        np.save(path, obj, allow_pickle=True)
    else:
        np.savez(path, pages=obj)
    with pytest.raises(WorkloadError, match="holds Python objects") as info:
        traces.load_trace(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_npy_bad_header_is_one_line_error(tmp_path):
    """Regression: a corrupted .npy header made NumPy raise tokenize.TokenError."""
    buf = io.BytesIO()
    np.save(buf, np.arange(4))
    raw = buf.getvalue().replace(b"'shape': (4,)", b"'shape'), }   ")
    path = tmp_path / "t.npy"
    path.write_bytes(raw)
    with pytest.raises(WorkloadError, match="not a readable npy file"):
        traces.load_trace(path)


def test_npz_member_not_an_array(tmp_path):
    """A zip whose member is not a .npy gives a one-line error."""
    path = tmp_path / "t.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pages.npy", b"not numpy")
    with pytest.raises(
        WorkloadError, match="member 'pages' must be a 1-D integer array; got not a .npy member"
    ):
        traces.load_trace(path)


def test_csv_line_of_unicode_blanks(tmp_path):
    """Regression: a csv whose first line is only '\\x1f' (a blank to str.split) raised IndexError."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"\x1f\n1,2\n")
    with pytest.raises(WorkloadError, match="line 1: no columns"):
        traces.load_trace(path)
