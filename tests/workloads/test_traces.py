"""Tests for workloads.traces (readers, writers, info), workloads.record and `vmgym trace`."""

from __future__ import annotations

import gzip
import json
import shutil
import struct

import numpy as np
import pytest
import zstandard
from typer.testing import CliRunner

from workloads import generators as gen
from workloads import traces
from workloads.model import OP_EXEC, OP_READ, OP_WRITE, Process, Vma, Workload, WorkloadError
from workloads.traces import TraceError, convert, detect_format, info, load_trace, write_trace

PS = 4096
HAVE_VALGRIND = shutil.which("valgrind") is not None

# Real lines from `valgrind --tool=lackey --trace-mem=yes --log-file=x /bin/true` (valgrind 3.19).
LACKEY = """\
==11881== Lackey, an example Valgrind tool
==11881== Copyright (C) 2002-2017, and GNU GPL'd, by Nicholas Nethercote.
==11881== Command: /bin/true
==11881==
I  0401ab70,3
I  0401ab73,5
 S 1fff000778,8
I  0401b770,1
 S 1fff000770,8
 L 04032e70,8
 M 04032e80,4
 M 04032e88,8
I  0401b771,7
 L 1fff000ffc,8
==11881==
==11881== Exit code:       0
"""


def refs(w: Workload, p: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ops, page numbers) of process p."""
    proc = w.processes[p]
    return proc.ops, proc.args // w.page_size


def random_workload(n: int = 3000, seed: int = 0, page_aligned: bool = False) -> Workload:
    rng = np.random.default_rng(seed)
    pages = rng.integers(100, 400, size=n)
    offsets = 0 if page_aligned else rng.integers(0, PS, size=n)
    addrs = pages * PS + offsets
    ops = rng.choice([OP_READ, OP_WRITE, OP_EXEC], size=n).astype(np.int8)
    proc = Process("main", [Vma(100, 300, "rwx")], ops, addrs.astype(np.int64))
    return Workload("rand", [proc], [], PS)


def two_process_workload() -> Workload:
    a = Process("a", [Vma(10, 20, "rwx")], np.array([0, 1, 0, 2], np.int8), np.array([10, 11, 12, 29]) * PS)
    b = Process("b", [Vma(10, 5, "rwx")], np.array([1, 1, 0], np.int8), np.array([10, 14, 10]) * PS, start=2)
    return Workload("two", [a, b], [], PS)


# -- lackey parsing -----------------------------------------------------------------------------


def test_lackey_real_lines(tmp_path):
    path = tmp_path / "true.lackey"
    path.write_text(LACKEY)
    w = load_trace(path, collapse=False)
    assert [p.name for p in w.processes] == ["main"] and w.page_size == PS
    ops, pages = refs(w)
    expected = [
        (OP_EXEC, 0x0401AB70),
        (OP_EXEC, 0x0401AB73),
        (OP_WRITE, 0x1FFF000778),
        (OP_EXEC, 0x0401B770),
        (OP_WRITE, 0x1FFF000770),
        (OP_READ, 0x04032E70),
        (OP_READ, 0x04032E80),  # M = read then write
        (OP_WRITE, 0x04032E80),
        (OP_READ, 0x04032E88),
        (OP_WRITE, 0x04032E88),
        (OP_EXEC, 0x0401B771),
        (OP_READ, 0x1FFF000FFC),  # 8 bytes at ...ffc straddle two pages
        (OP_READ, 0x1FFF001000),
    ]
    assert list(zip(ops.tolist(), w.processes[0].args.tolist(), strict=True)) == expected
    vma = w.processes[0].vmas[0]
    assert vma.perms == "rwx" and vma.start_vpn == pages.min() and vma.end_vpn == pages.max() + 1


def test_collapse_keeps_write_after_read(tmp_path):
    path = tmp_path / "t.lackey"
    path.write_text(LACKEY)
    ops, pages = refs(load_trace(path))
    # 0401ab70/0401ab73 collapse (same page, exec); M keeps R then W; the two M's share a page
    assert ops.tolist() == [2, 1, 2, 1, 0, 1, 0, 1, 2, 0, 0]
    assert pages.tolist()[4:8] == [0x4032, 0x4032, 0x4032, 0x4032]
    keep = (np.diff(pages) != 0) | (np.diff(ops) != 0)
    assert keep.all()


def test_lackey_page_size_and_max_refs(tmp_path):
    path = tmp_path / "t.lk"
    path.write_text(LACKEY)
    w = load_trace(path, page_size=1 << 16, collapse=False, max_refs=5)
    assert w.page_size == 1 << 16 and w.references == 5
    with pytest.raises(TraceError, match="power of two"):
        load_trace(path, page_size=3000)


# -- round trips ----------------------------------------------------------------------------

ADDRESS_FORMATS = ["t.lackey", "t.din", "t.txt", "t.trace.zst", "t.din.gz", "t.npz"]
ID_FORMATS = ["t.csv", "t.oracleGeneral", "t.oracleGeneral.zst", "t.npy", "t.csv.zst"]


@pytest.mark.parametrize("name", ADDRESS_FORMATS)
def test_round_trip_address_formats(tmp_path, name):
    w = random_workload()
    write_trace(w, tmp_path / name)
    back = load_trace(tmp_path / name, collapse=False)
    assert np.array_equal(back.processes[0].ops, w.processes[0].ops)
    assert np.array_equal(back.processes[0].args, w.processes[0].args)


@pytest.mark.parametrize("name", ID_FORMATS)
def test_round_trip_id_formats(tmp_path, name):
    w = random_workload(page_aligned=True)
    write_trace(w, tmp_path / name)
    back = load_trace(tmp_path / name, collapse=False)
    assert np.array_equal(refs(back)[1], refs(w)[1])
    if "oracleGeneral" not in name:  # oracleGeneral has no op field
        assert np.array_equal(back.processes[0].ops, w.processes[0].ops)
    else:
        assert (back.processes[0].ops == OP_READ).all()


def test_round_trip_lcs_txt(tmp_path):
    w = random_workload(page_aligned=True)
    write_trace(w, tmp_path / "ids.txt", "lcs-txt")
    assert detect_format(tmp_path / "ids.txt") == "lcs-txt"
    back = load_trace(tmp_path / "ids.txt", collapse=False)
    assert np.array_equal(refs(back)[1], refs(w)[1])


@pytest.mark.parametrize(
    "dst", ["a.lackey", "a.din", "a.txt", "a.csv", "a.oracleGeneral.zst", "a.npz", "a.npy", "a.lcs"]
)
def test_every_reader_round_trips_through_convert(tmp_path, dst):
    src = tmp_path / "src.lackey"
    src.write_text(LACKEY)
    fmt = "lcs-txt" if dst == "a.lcs" else None
    original = load_trace(src)
    convert(src, tmp_path / dst, fmt)
    back = load_trace(tmp_path / dst, fmt)
    again = tmp_path / "again.npz"
    convert(tmp_path / dst, again, src_fmt=fmt)
    for w in (back, load_trace(again)):
        ops, pages = refs(w)
        want_ops, want_pages = refs(original)
        if dst.endswith((".zst", ".lcs")):  # no op field: a run of ops on one page reads back as one read
            keep = np.ones(want_pages.size, bool)
            keep[1:] = want_pages[1:] != want_pages[:-1]
            want_ops, want_pages = np.zeros(keep.sum(), np.int8), want_pages[keep]
        assert np.array_equal(pages, want_pages)
        assert np.array_equal(ops, want_ops)


def test_multi_process_plain_and_npz(tmp_path):
    w = two_process_workload()
    for name in ("mp.txt", "mp.npz"):
        write_trace(w, tmp_path / name)
        back = load_trace(tmp_path / name, collapse=False)
        assert len(back.processes) == 2
        for p in range(2):
            assert np.array_equal(back.processes[p].ops, w.processes[p].ops)
            assert np.array_equal(back.processes[p].args, w.processes[p].args)
    npz = load_trace(tmp_path / "mp.npz")
    assert [p.name for p in npz.processes] == ["a", "b"] and [p.start for p in npz.processes] == [0, 2]
    plain = load_trace(tmp_path / "mp.txt")
    assert [p.name for p in plain.processes] == ["pid0", "pid1"]
    assert plain.processes[1].start == 2  # merged by tick = start + index: a0 a1 b0 a2 b1 a3 b2
    with pytest.raises(TraceError, match="one address space"):
        write_trace(w, tmp_path / "mp.lackey")
    ids = load_trace(write_trace(w, tmp_path / "mp.csv"))  # pid << 40 | vpn: processes stay apart
    assert np.unique(refs(ids)[1]).size == 6  # a: 10 11 12 29, b: 10 14


def test_plain_multi_pid_file(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# comment\n7 R 0x1000\n3 W 2000\n7 r 1004\n\n7 X 1fff000\n3 w 2fff\n")
    w = load_trace(path)
    assert [p.name for p in w.processes] == ["pid7", "pid3"]
    assert [p.start for p in w.processes] == [0, 1]
    assert refs(w, 0)[1].tolist() == [1, 0x1FFF] and refs(w, 0)[0].tolist() == [0, 2]  # 0x1004 collapsed
    assert refs(w, 1)[1].tolist() == [2] and refs(w, 1)[0].tolist() == [1]
    for proc in w.processes:
        assert len(proc.vmas) == 1


def test_generated_workload_with_events_round_trips_via_npz(tmp_path):
    w = gen.stack_heap(steps=20, refs_per_step=50, chunk_pages=4, max_chunks=4, stack_pages=4, seed=1)
    write_trace(w, tmp_path / "sh.npz")
    back = load_trace(tmp_path / "sh.npz", collapse=False)
    proc = w.processes[0]
    mask = proc.ops < 8
    assert np.array_equal(back.processes[0].ops, proc.ops[mask])
    assert np.array_equal(back.processes[0].args, proc.args[mask])


def test_dense_ids(tmp_path):
    ids = np.array([2**63 + 5, 7, 2**63 + 5, 2**40, 7], dtype=np.uint64)
    recs = np.zeros(ids.size, dtype=traces._OG_DTYPE)
    recs["obj_id"], recs["obj_size"] = ids, 1
    path = tmp_path / "big.oracleGeneral.bin"
    path.write_bytes(recs.tobytes())
    w = load_trace(path, collapse=False)
    assert refs(w)[1].tolist() == [2, 0, 2, 1, 0]  # renumbered in sorted id order
    with pytest.raises(TraceError, match="too large for a page number"):
        load_trace(path, dense=False)
    small = tmp_path / "small.oracleGeneral"
    recs["obj_id"] = [9, 7, 9, 1000, 7]
    small.write_bytes(recs.tobytes())
    assert refs(load_trace(small, collapse=False))[1].tolist() == [9, 7, 9, 1000, 7]
    assert refs(load_trace(small, collapse=False, dense=True))[1].tolist() == [1, 0, 1, 2, 0]


def test_oracle_general_next_access_and_zero_size(tmp_path):
    w = Workload.from_pages([5, 6, 5, 7, 6])
    path = write_trace(w, tmp_path / "x.oracleGeneral")
    rec = np.frombuffer(path.read_bytes(), dtype=traces._OG_DTYPE)
    assert rec["next"].tolist() == [3, 5, -1, -1, -1] and rec["time"].tolist() == [0, 1, 2, 3, 4]
    assert (rec["obj_size"] == PS).all()
    assert struct.unpack("<IQIq", path.read_bytes()[:24]) == (0, 5, PS, 3)
    rec = rec.copy()
    rec["obj_size"][1] = 0  # libCacheSim skips zero-size requests
    path.write_bytes(rec.tobytes())
    assert refs(load_trace(path, collapse=False))[1].tolist() == [5, 5, 7, 6]


def test_csv_variants(tmp_path):
    sample = tmp_path / "lcs.csv"  # the head of libCacheSim's data/trace.csv
    sample.write_text("version,time,op,size,lbn\n1,33898,2a,512,42932745\n1,33898,28,512,42932746\n")
    w = load_trace(sample, collapse=False)
    assert refs(w)[1].tolist() == [42932745, 42932746] and refs(w)[0].tolist() == [1, 0]
    bare = tmp_path / "bare.csv"
    bare.write_text("10,5\n11,6\n12,5\n")
    assert refs(load_trace(bare))[1].tolist() == [5, 6, 5]
    assert refs(load_trace(bare, obj_id_col=1))[1].tolist() == [10, 11, 12]
    keys = tmp_path / "keys.csv"
    keys.write_text("key,op\nfoo,get\nbar,set\nfoo,GET\n")
    w = load_trace(keys, collapse=False)
    assert refs(w)[1].tolist() == [0, 1, 0] and refs(w)[0].tolist() == [0, 1, 0]
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("time\tobj_id\n1\t9\n2\t8\n")
    assert refs(load_trace(tabs))[1].tolist() == [9, 8]


def test_csv_string_ids_across_blocks(tmp_path):
    # regression: the string-id path restarted the block reader and lost the partial line
    path = tmp_path / "keys.csv"
    rows = ["key,op"] + [f"k{i % 7},{'set' if i % 3 == 0 else 'get'}" for i in range(300)]
    path.write_text("\n".join(rows) + "\n")
    one = load_trace(path, collapse=False)
    assert refs(one)[1].tolist()[:9] == [0, 1, 2, 3, 4, 5, 6, 0, 1] and one.references == 300
    assert refs(one)[0].tolist()[:4] == [OP_WRITE, OP_READ, OP_READ, OP_WRITE]
    for block in (16, 50, 333):
        small = load_trace(path, collapse=False, block_size=block)
        assert np.array_equal(small.processes[0].args, one.processes[0].args), block
        assert np.array_equal(small.processes[0].ops, one.processes[0].ops), block


def test_csv_header_with_explicit_id_column(tmp_path):
    # regression: obj_id_col=1 used to read the header row as a (string) object id
    path = tmp_path / "h.csv"
    path.write_text("obj_id,op\n5,read\n6,write\n")
    w = load_trace(path, obj_id_col=1, collapse=False)
    assert refs(w)[1].tolist() == [5, 6] and refs(w)[0].tolist() == [OP_READ, OP_WRITE]
    bare = tmp_path / "s.csv"  # no header: a first row with a string id is data
    bare.write_text("foo,get\nbar,set\nfoo,get\n")
    assert refs(load_trace(bare, obj_id_col=1, op_col=2, collapse=False))[1].tolist() == [0, 1, 0]


def test_gzip_and_zstd_inputs_read_like_plain(tmp_path):
    w = random_workload(500, seed=8)
    write_trace(w, tmp_path / "a.lackey")
    raw = (tmp_path / "a.lackey").read_bytes()
    (tmp_path / "b.lackey.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "c.lackey.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    base = load_trace(tmp_path / "a.lackey", collapse=False)
    for name in ("b.lackey.gz", "c.lackey.zst"):
        back = load_trace(tmp_path / name, collapse=False, block_size=100)
        assert np.array_equal(back.processes[0].args, base.processes[0].args), name
    (tmp_path / "t.lackey.gz").write_bytes(gzip.compress(raw)[:-30])
    with pytest.raises(TraceError, match=r"t\.lackey\.gz: cannot decompress"):
        load_trace(tmp_path / "t.lackey.gz")
    (tmp_path / "t.lackey.zst").write_bytes(zstandard.ZstdCompressor().compress(raw)[:-30])
    with pytest.raises(TraceError, match=r"t\.lackey\.zst: cannot decompress: truncated zstd stream"):
        load_trace(tmp_path / "t.lackey.zst")


# -- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("a.lackey", "", "lackey"),
        ("a.lk.zst", "", "lackey"),
        ("a.din", "", "din"),
        ("a.csv", "", "csv"),
        ("x.oracleGeneral.bin", "", "oracleGeneral"),
        ("x.oracleGeneral.zst", "", "oracleGeneral"),
        ("a.trace", "", "plain"),
        ("a.npz", "", "npz"),
        ("a.npy", "", "npy"),
        ("a.txt", "# c\n0 R 1000\n", "plain"),
        ("a.txt", "42932745\n42932746\n", "lcs-txt"),
        ("a.log", "==1== Lackey\nI  0401ab70,3\n", "lackey"),
        ("a.log", "I  0401ab70,3\n", "lackey"),
        ("a.dat", "2 0\n0 1000\n", "din"),
        ("a.dat", "1,2,3\n", "csv"),
    ],
)
def test_detect_format(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) == fmt


def test_detect_by_magic(tmp_path):
    w = random_workload(50)
    write_trace(w, tmp_path / "x.npz")
    shutil.copy(tmp_path / "x.npz", tmp_path / "x.bin")
    assert detect_format(tmp_path / "x.bin") == "npz"
    (tmp_path / "c.log").write_bytes(zstandard.ZstdCompressor().compress(LACKEY.encode()))
    assert detect_format(tmp_path / "c.log") == "lackey"
    (tmp_path / "g.data").write_bytes(gzip.compress(b"0 R 1000\n"))
    assert load_trace(tmp_path / "g.data").references == 1
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)))
    with pytest.raises(TraceError, match=r"junk\.bin.*cannot detect"):
        detect_format(tmp_path / "junk.bin")


# -- chunked reading ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c.lackey", "c.din", "c.txt", "c.csv", "c.oracleGeneral", "c.lcs"])
@pytest.mark.parametrize("block", [24, 61, 1000])
def test_chunked_equals_one_shot(tmp_path, name, block):
    w = random_workload(400, page_aligned=name != "c.lackey", seed=3)
    fmt = "lcs-txt" if name == "c.lcs" else None
    write_trace(w, tmp_path / name, fmt)
    one = load_trace(tmp_path / name, fmt, collapse=True)
    small = load_trace(tmp_path / name, fmt, collapse=True, block_size=block)
    assert np.array_equal(one.processes[0].ops, small.processes[0].ops)
    assert np.array_equal(one.processes[0].args, small.processes[0].args)
    assert load_trace(tmp_path / name, fmt, block_size=block, max_refs=37).references == 37


@pytest.mark.parametrize("collapse", [True, False])
def test_parsing_memory_is_bounded_by_the_output(tmp_path, collapse):
    """Issue 5: peak memory while parsing is about the parsed arrays, not the file size."""
    import tracemalloc

    slow = traces._numba_config.DISABLE_JIT  # the kernels as plain Python: a smaller file
    lines, block = (20_000, 1 << 16) if slow else (300_000, 1 << 20)
    rng = np.random.default_rng(5)
    kind = np.array(["I  ", " L ", " S ", " M "])[rng.integers(0, 4, size=lines)]
    addr = rng.integers(0x400000, 0x400000 + (1 << 32), size=lines)
    addr[::3] = addr[1::3][: addr[::3].size] + 8  # some same-page neighbours to collapse
    body = np.char.add(np.char.add(kind, np.char.mod("%09x", addr)), ",8")
    path = tmp_path / "big.lackey"
    path.write_text("==1== Lackey\n" + "\n".join(body.tolist()) + "\n")
    load_trace(path, max_refs=10, block_size=block)  # warm up: load the compiled kernels
    tracemalloc.start()
    try:
        w = load_trace(path, collapse=collapse, block_size=block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    proc = w.processes[0]
    out = proc.ops.nbytes + proc.args.nbytes
    assert path.stat().st_size > 4 * block
    assert proc.ops.size > 0.9 * lines
    chunk = traces._CHUNK * (1 + 8)  # the kernel's reused output buffers
    assert peak <= 1.3 * out + block + chunk + (256 << 10), (peak, out)


def test_access_spanning_more_pages_than_a_chunk(tmp_path):
    pages = traces._CHUNK + 1000  # more than one kernel call's buffer holds, fewer than _OUT_CAP
    path = tmp_path / "wide.lackey"
    path.write_text(f"I  00001000,4\n L 00002000,{pages}\n S 00000010,1\n")
    w = load_trace(path, page_size=1, collapse=False)
    ops, addrs = w.processes[0].ops, w.processes[0].args
    assert ops.size == 4 + pages + 1
    assert np.array_equal(addrs[4 : 4 + pages], np.arange(0x2000, 0x2000 + pages))
    assert (ops[4 : 4 + pages] == OP_READ).all() and ops[0] == OP_EXEC and ops[-1] == OP_WRITE


# -- malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fmt", "pattern"),
    [
        ("t.lackey", "I  0401ab70,3\n L 0400d7", None, r"t\.lackey line 2: truncated record ' L 0400d7'"),
        ("t.lackey", "I  0401ab70,3\n\n L zz12,8\n", None, r"line 3: bad hex address 'zz12'; expected ' L"),
        ("t.lackey", "==1== hi\nhello\n", None, r"line 2: unrecognised line 'hello'"),
        ("t.lackey", " L 0400,8x\n", None, r"line 1: bad access size '8x'"),
        ("t.lackey", " L 11112222333344445,8\n", None, r"line 1: number .* out of range"),
        ("t.din", "0 1000\n7 2000\n", None, r"t\.din line 2: unknown op '7'"),
        ("t.din", "0 1000\n1 12g4\n", None, r"line 2: bad hex address '12g4'"),
        ("t.din", "0\n", None, r"line 1: truncated record '0'"),
        ("t.txt", "0 R 1000\n0 Q 1000\n", "plain", r"t\.txt line 2: unknown op 'Q'"),
        ("t.txt", "0 R 1000\nx R 1000\n", "plain", r"line 2: bad pid 'x'"),
        ("t.txt", "0 R\n", "plain", r"line 1: truncated record '0 R'"),
        ("t.txt", "0 R 10zz\n", "plain", r"line 1: bad hex address '10zz'"),
        ("t.ids", "12\n1a\n", "lcs-txt", r"t\.ids line 2: bad object id '1a'"),
        ("t.ids", "99999999999999999999\n", "lcs-txt", r"line 1: number .* out of range"),
        ("t.csv", "time,obj_id,op\n1,2,read\n2,3,fly\n", None, r"t\.csv line 3: unknown op 'fly'"),
        ("t.csv", "time,obj_id\n1,2\n3\n", None, r"line 3: truncated record '3'; expected at least 2"),
        ("t.csv", "time,obj_id\n1,2\n3,x\n", None, r"line 3: bad object id 'x'"),
        ("t.csv", "a,b\n1,2\n", "csv", None),  # fine: header, id column 2
    ],
)
def test_malformed_text(tmp_path, name, content, fmt, pattern):
    path = tmp_path / name
    path.write_text(content)
    if pattern is None:
        load_trace(path, fmt)
        return
    with pytest.raises(TraceError, match=pattern) as err:
        load_trace(path, fmt, block_size=8)  # also across tiny blocks
    assert isinstance(err.value, WorkloadError) and str(path) in str(err.value)


def test_error_line_numbers_across_blocks(tmp_path):
    lines = ["I  0401ab70,3"] * 5000 + [" L 04zz,8"]
    path = tmp_path / "long.lackey"
    path.write_text("\n".join(lines) + "\n")
    for block in (7, 100, 1 << 20):
        with pytest.raises(TraceError, match=r"long\.lackey line 5001: bad hex address '04zz'"):
            load_trace(path, block_size=block)


@pytest.mark.parametrize("suffix", ["", ".zst"])
def test_oracle_general_wrong_length(tmp_path, suffix):
    w = Workload.from_pages([1, 2, 3])
    raw = tmp_path / "raw.oracleGeneral"
    write_trace(w, raw)
    data = raw.read_bytes()[:-5]
    path = tmp_path / f"x.oracleGeneral{suffix}"
    path.write_bytes(zstandard.ZstdCompressor().compress(data) if suffix else data)
    with pytest.raises(TraceError, match=r"truncated record at byte offset 48: 19 of 24 bytes") as err:
        load_trace(path, block_size=24)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fmt", ["lackey", "din", "plain", "csv", "lcs-txt", "oracleGeneral"])
def test_empty_file(tmp_path, fmt):
    path = tmp_path / "empty.trace"
    path.write_bytes(b"")
    with pytest.raises(TraceError, match=r"empty\.trace: empty file; expected"):
        load_trace(path, fmt)


def test_no_references_and_bad_files(tmp_path):
    path = tmp_path / "msgs.lackey"
    path.write_text("==1== only messages\n")
    with pytest.raises(TraceError, match="no memory references found"):
        load_trace(path)
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(TraceError, match=r"e\.txt: empty file"):
        load_trace(tmp_path / "e.txt")
    with pytest.raises(TraceError, match="cannot open"):
        load_trace(tmp_path / "missing.lackey")
    np.save(tmp_path / "bad.npy", np.zeros((3, 3), np.int64))
    with pytest.raises(TraceError, match=r"bad\.npy.*expected 1-D integer page numbers"):
        load_trace(tmp_path / "bad.npy")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(TraceError, match=r"bad\.npz: not a readable npz"):
        load_trace(tmp_path / "bad.npz")
    (tmp_path / "c.lackey.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    with pytest.raises(TraceError, match="cannot decompress"):
        load_trace(tmp_path / "c.lackey.zst")
    with pytest.raises(TraceError, match="unknown trace format 'foo'"):
        load_trace(path, "foo")


# -- info -----------------------------------------------------------------------------------


def brute_distances(pages: list[int]) -> list[int]:
    out = []
    for i, p in enumerate(pages):
        prev = [j for j in range(i) if pages[j] == p]
        out.append(-1 if not prev else len(set(pages[prev[-1] + 1 : i])))
    return out


def test_stack_distances_match_brute_force():
    rng = np.random.default_rng(5)
    for n_pages in (3, 20, 200):
        pages = rng.integers(0, n_pages, size=600)
        uniq, inv = np.unique(pages, return_inverse=True)
        got = traces._stack_distances(inv.astype(np.int64), uniq.size)
        assert got.tolist() == brute_distances(pages.tolist())


def test_info_hand_made(tmp_path):
    path = tmp_path / "h.txt"
    # pages 1 2 1 3 2 1 (reads and writes), one exec; pid 0 only
    path.write_text("0 R 1000\n0 W 2000\n0 R 1000\n0 X 3000\n0 R 2fff\n0 W 1abc\n")
    s = info(path)
    assert s["references"] == 6 and s["processes"] == 1 and s["format"] == "plain"
    assert s["distinct_pages"] == 3 and s["footprint_bytes"] == 3 * PS
    assert (s["reads"], s["writes"], s["execs"]) == (3, 2, 1)
    assert s["write_fraction"] == pytest.approx(2 / 6)
    r = s["reuse"]
    # distances: 1:-1 2:-1 1:1 3:-1 2:2 1:2
    assert r["exact"] and r["cold_fraction"] == pytest.approx(3 / 6)
    assert r["median"] == 2.0 and r["mean"] == pytest.approx(5 / 3)
    assert r["lru_miss_ratio"]["16"] == pytest.approx(0.5)
    assert json.loads(json.dumps(s)) == s


def test_info_matches_simulated_lru():
    from vmgym import simulate

    w = gen.zipf(300, 5000, 0.8, write_ratio=0.0, seed=2)
    s = info(w)
    stats = simulate(w, "lru", frames=64, tlb_entries=0)
    misses = stats.to_dict()["misses"]
    assert s["reuse"]["lru_miss_ratio"]["64"] == pytest.approx(misses / w.references)


def test_info_sampled_is_close():
    w = gen.zipf(2000, 60_000, 0.9, seed=4)
    exact = info(w)["reuse"]
    approx = info(w, exact_limit=20_000)["reuse"]
    assert exact["exact"] and not approx["exact"] and 0 < approx["sample_rate"] < 1
    assert approx["lru_miss_ratio"]["256"] == pytest.approx(exact["lru_miss_ratio"]["256"], abs=0.1)


@pytest.mark.parametrize("name", ["z.lackey", "z.oracleGeneral", "z.csv"])
def test_info_streamed_equals_loaded_whole(tmp_path, name):
    """``trace info`` reads a one-process trace block by block: the same summary, exact or sampled."""
    path = write_trace(gen.zipf(3000, 40_000, 0.8, write_ratio=0.3, seed=6), tmp_path / name)
    for limit in (traces.REUSE_EXACT_LIMIT, 9_000):
        whole = info(path, exact_limit=limit, stream=False)
        assert info(path, exact_limit=limit, stream=True) == whole
    assert not whole["reuse"]["exact"] and whole["reuse"]["sample_rate"] < 0.25


def test_info_of_several_processes_streams_the_same_summary(tmp_path):
    """Per-process stack distances from a stream of several pids: the whole load's, exact or sampled."""
    path = tmp_path / "p.txt"
    path.write_text("7 R 0x1000\n3 W 2000\n7 r 1004\n7 X 1fff000\n3 w 2fff\n7 R 0x1000\n")
    assert info(path, stream=True) == info(path, stream=False)
    assert info(path, stream=True)["processes"] == 2
    rng = np.random.default_rng(3)
    pids = rng.choice([4, 9, 2], 30_000)
    pages = rng.zipf(1.3, 30_000) % 800 + 1000 * (pids == 9)
    path.write_text("".join(f"{p} {'RW'[g % 2]} {g * 4096:x}\n" for p, g in zip(pids, pages, strict=True)))
    for limit in (traces.REUSE_EXACT_LIMIT, 9_000):
        whole = info(path, exact_limit=limit, stream=False)
        assert info(path, exact_limit=limit, stream=True) == whole
    assert whole["processes"] == 3 and not whole["reuse"]["exact"]


def test_stack_distances_survive_renumbering():
    """The Fenwick tree has ~2x the pages' entries: a long trace over few pages renumbers it often."""
    rng = np.random.default_rng(8)
    pages = rng.integers(0, 5, size=3000)
    got = traces._stack_distances(pages.astype(np.int64), 5)
    assert got.tolist() == brute_distances(pages.tolist())


# -- recorder -------------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_VALGRIND, reason="valgrind not installed")
def test_record_tiny_real_command(tmp_path):
    from workloads.record import record

    out = tmp_path / "true.npz"
    w = record(["/bin/true"], out, quiet=True)
    assert w.references > 1000 and out.exists()
    proc = w.processes[0]
    assert (proc.args % PS == 0).all()  # page granularity
    assert set(np.unique(proc.ops).tolist()) == {OP_READ, OP_WRITE, OP_EXEC}
    back = load_trace(out)
    assert np.array_equal(back.processes[0].args, proc.args)
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["command"] == ["/bin/true"] and meta["valgrind"].startswith("valgrind")
    cut = record(["/bin/true"], None, quiet=True, skip_refs=100, max_refs=500)
    assert cut.references == 500


@pytest.mark.skipif(not HAVE_VALGRIND, reason="valgrind not installed")
def test_record_errors(tmp_path):
    from workloads.record import record

    with pytest.raises(TraceError, match="exited with status 1"):
        record(["false"], tmp_path / "f.npz", quiet=True)
    assert not (tmp_path / "f.npz").exists()
    with pytest.raises(TraceError, match="command not found"):
        record(["no-such-program-xyz"], None)
    with pytest.raises(TraceError, match="valgrind not found"):
        record(["true"], None, valgrind="no-such-valgrind")


# -- bundled traces ---------------------------------------------------------------------------


def test_bundled_traces_load_and_simulate():
    from vmgym import simulate

    names = traces.bundled()
    assert {"sort", "gzip", "python", "sqlite"} <= set(names)
    for name, path in names.items():
        assert path.stat().st_size < 2_000_000, name
    w = traces.load_bundled("sort")
    assert w.references > 1_000_000 and w.page_size == PS and "valgrind" in w.description
    small = traces.load_bundled("gzip", max_refs=50_000)
    stats = simulate(small, "lru", frames=64)
    assert stats.to_dict()["accesses"] == 50_000
    with pytest.raises(TraceError, match="unknown bundled trace"):
        traces.load_bundled("nope")


# -- CLI ------------------------------------------------------------------------------------


def test_cli_info_convert_and_errors(tmp_path):
    from vmgym.cli_trace import trace_app

    runner = CliRunner()
    src = tmp_path / "t.lackey"
    src.write_text(LACKEY)
    res = runner.invoke(trace_app, ["info", str(src), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["references"] == 11
    res = runner.invoke(trace_app, ["info", str(src)])
    assert res.exit_code == 0 and "distinct pages" in res.stdout
    res = runner.invoke(trace_app, ["convert", str(src), str(tmp_path / "t.out"), "--to", "din"])
    assert res.exit_code == 0, res.output
    assert load_trace(tmp_path / "t.out", "din").references == 11
    bad = tmp_path / "bad.lackey"
    bad.write_text(" L zz,8\n")
    res = runner.invoke(trace_app, ["info", str(bad)])
    assert res.exit_code == 2 and "line 1: bad hex address 'zz'" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(trace_app, ["convert", str(src), str(tmp_path / "x.what")])
    assert res.exit_code == 2 and "cannot tell the format" in res.output


@pytest.mark.skipif(not HAVE_VALGRIND, reason="valgrind not installed")
def test_cli_record(tmp_path):
    from vmgym.cli_trace import trace_app

    out = tmp_path / "echo.npz"
    res = CliRunner().invoke(trace_app, ["record", "--out", str(out), "-q", "--", "echo", "hi"])
    assert res.exit_code == 0, res.output
    assert load_trace(out).references > 1000
    res = CliRunner().invoke(trace_app, ["record", "--", "no-such-program-xyz"])
    assert res.exit_code == 2 and "command not found" in res.output


def _next_access_reference(ids: np.ndarray) -> list[int]:
    """Obviously correct: for each reference, scan forward for the next one to its id (1-based, -1)."""
    out = []
    for i, x in enumerate(ids.tolist()):
        j = next((j for j in range(i + 1, ids.size) if ids[j] == x), None)
        out.append(-1 if j is None else j + 1)
    return out


@pytest.mark.parametrize("block", [1, 7, 1 << 18])
@pytest.mark.parametrize("spill", [False, True])
def test_oracle_general_next_access_block_by_block(tmp_path, monkeypatch, block, spill):
    """The backward pass in blocks of 1, 7 and 2^18, in memory or in temporary files: the right times."""
    from workloads import spool
    from workloads.traces.formats import oracle_general

    monkeypatch.setattr(oracle_general, "_WRITE_CHUNK", block)
    if spill:
        monkeypatch.setattr(spool, "SPILL_ABOVE", 0)
        opened = []
        real = spool.anonymous_file
        monkeypatch.setattr(spool, "anonymous_file", lambda prefix: opened.append(prefix) or real(prefix))
    rng = np.random.default_rng(7)
    ids = np.concatenate([rng.integers(0, 40, 300), rng.integers(1 << 41, (1 << 41) + 5, 60)])  # sparse ids
    w = Workload.from_pages(ids)
    rec = np.frombuffer(write_trace(w, tmp_path / "x.oracleGeneral").read_bytes(), dtype=traces._OG_DTYPE)
    assert rec["obj_id"].tolist() == ids.tolist()
    assert rec["next"].tolist() == _next_access_reference(ids)
    assert rec["time"].tolist() == list(range(ids.size))
    if spill:
        assert opened == ["vmgym-column-", "vmgym-column-"]
