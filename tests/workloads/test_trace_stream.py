"""Trace files as streams: the same references as ``load_trace``, the same runs, bounded memory."""

import subprocess
import sys

import numpy as np
import pytest

import workloads.spec as spec_module
from vmgym.sim import MachineConfig, Simulator
from workloads import Vma, WorkloadBuilder, generators, resolve, resolve_stream
from workloads.model import OP_WRITE, WorkloadError
from workloads.stream import ProcessRefStream, RefStream, from_workload
from workloads.traces import FORMATS, TraceError, load_trace, stream_trace, write_trace
from workloads.traces.streaming import NotStreamable

STREAMED = list(FORMATS)
SUFFIX = {"lcs-txt": ".lcs.txt", "oracleGeneral": ".oracleGeneral", "plain": ".txt"}
ZIPF = {"n_pages": 300, "length": 3_000, "alpha": 0.8, "write_ratio": 0.3, "seed": 5}
LEAN = MachineConfig(frames=40, tlb_entries=0)


def _trace(tmp_path, fmt, workload=None):
    wl = workload or generators.zipf(**ZIPF)
    return write_trace(wl, tmp_path / f"t{SUFFIX.get(fmt, '.' + fmt)}", fmt)


def _assert_same(stream: RefStream, whole, block=997):
    proc = whole.processes[0]
    got = list(stream.blocks(block))
    assert all(o.size <= block for o, _ in got)
    assert np.array_equal(np.concatenate([o for o, _ in got]), proc.ops)
    assert np.array_equal(np.concatenate([a for _, a in got]), proc.args)
    assert stream.vmas == proc.vmas
    assert (stream.name, stream.process_name) == (whole.name, proc.name)
    assert stream.description == whole.description
    assert stream.length == proc.ops.size and stream.page_size == whole.page_size
    assert stream.page_set is not None  # counted by the scan, not by a further read
    assert stream.pages() == spec_module.footprint(whole)


@pytest.mark.parametrize("fmt", STREAMED)
@pytest.mark.parametrize("options", [{}, {"max_refs": 1_234}, {"collapse": False}, {"page_size": 1 << 16}])
def test_the_references_equal_load_trace(tmp_path, fmt, options):
    path = _trace(tmp_path, fmt)
    for block_size in (48, 4096, 1 << 25):  # bytes per read: one record and less, a few lines, the file
        kw = {**options, "block_size": block_size}
        _assert_same(stream_trace(path, **kw), load_trace(path, **kw))


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_blocks_of_any_size(tmp_path, block):
    path = _trace(tmp_path, "lackey")
    _assert_same(stream_trace(path, block_size=64), load_trace(path), block)


@pytest.mark.parametrize("dense", [None, True, False])
def test_object_ids_renumbered_as_load_trace_does(tmp_path, dense):
    """Ids at 2**40 and above are renumbered densely (in id order) unless dense=False refuses them."""
    ids = np.random.default_rng(3).integers(0, 500, 4_000).astype(np.uint64) * 7919 + (1 << 40)
    path = tmp_path / "big.lcs.txt"
    path.write_text("".join(f"{i}\n" for i in ids))
    if dense is False:
        for read in (load_trace, stream_trace):
            with pytest.raises(TraceError, match="too large for a page number"):
                read(path, dense=dense)
        return
    stream = stream_trace(path, dense=dense)
    _assert_same(stream, load_trace(path, dense=dense))
    assert "renumbered densely" in stream.description and stream.vmas[0].start_vpn == 0


@pytest.mark.parametrize("top", [1 << 20, 1 << 30])
def test_the_scan_counts_pages_as_the_map_grows_or_gives_way(tmp_path, top):
    """Ids rising block by block: the scan's byte map grows (top 2**20) or gives way to sorting (2**30)."""
    rng = np.random.default_rng(4)
    ids = np.concatenate([rng.integers(0, 50, 500), rng.integers(0, top, 3_000), rng.integers(0, 50, 500)])
    path = tmp_path / "rising.lcs.txt"
    path.write_text("".join(f"{i}\n" for i in ids))
    stream = stream_trace(path, block_size=512)
    _assert_same(stream, load_trace(path))
    assert np.array_equal(stream.page_set, np.unique(ids))


def _two_processes():
    wb = WorkloadBuilder("two")
    for k, name in enumerate(("a", "b")):
        p = wb.process(name, start=7 * k)
        p.map(Vma(100 * (k + 1), 20, "rw"))
        p.access((100 * (k + 1) + np.arange(20)) * 4096, OP_WRITE)
    return wb.build()


def test_several_processes_stream_only_when_asked(tmp_path):
    two = _two_processes()
    for name in ("two.txt", "two.npz"):
        path = write_trace(two, tmp_path / name)
        with pytest.raises(NotStreamable, match="several processes"):
            stream_trace(path)
        assert isinstance(stream_trace(path, several=True), ProcessRefStream)


def _npz_of_processes(tmp_path):
    """An npz of four processes (one without references), repeats, a jump back in pages_delta."""
    rng = np.random.default_rng(6)
    wb = WorkloadBuilder("npz4")
    for k, (name, start, n) in enumerate([("a", 0, 900), ("empty", 5, 0), ("b", 40, 700), ("c", 3, 500)]):
        p = wb.process(name, start=start)
        p.map(Vma(1000 * k, 64, "rw"))
        if n:
            pages = 1000 * k + rng.integers(0, 64, n)
            pages[1::5] = pages[::5][: pages[1::5].size]  # consecutive repeats
            p.access_pages(pages, rng.random(n) < 0.4)
    return write_trace(wb.build(), tmp_path / "four.npz")


@pytest.mark.parametrize("options", [{}, {"collapse": False}, {"max_refs": 1_000}, {"max_refs": 300}])
@pytest.mark.parametrize("block_size", [8, 24, 1 << 22])
def test_an_npz_of_several_processes_streams_as_load_trace_loads_it(tmp_path, options, block_size):
    """Members inflated block by block: names, starts, VMAs, collapse and max_refs across blocks."""
    path = _npz_of_processes(tmp_path)
    whole = load_trace(path, **options)
    stream = stream_trace(path, several=True, block_size=block_size, **options)
    got = stream.workload()
    assert [p.name for p in got.processes] == [p.name for p in whole.processes]
    for a, b in zip(got.processes, whole.processes, strict=True):
        assert (a.vmas, a.start) == (b.vmas, b.start)
        assert np.array_equal(a.ops, b.ops) and np.array_equal(a.args, b.args)
    assert stream.description == whole.description and stream.pages() == spec_module.footprint(whole)
    if len(whole.processes) > 1:
        cfg = MachineConfig(frames=30, tlb_entries=0, quantum=37)
        for policy in ("lru", "opt"):
            runs = [Simulator(w, cfg, policy).run().to_dict() for w in (whole, stream)]
            assert runs[0] == runs[1]


def test_a_foreign_npz_and_a_bad_one_stream_as_they_load(tmp_path):
    """Just pages (or addresses and writes) is one process; a bad value is load_trace's error."""
    rng = np.random.default_rng(2)
    pages = rng.integers(0, 300, 5_000)
    np.savez_compressed(tmp_path / "pages.npz", pages=pages)
    np.savez(tmp_path / "addrs.npz", addrs=pages * 4096 + 8, writes=rng.random(5_000) < 0.3)
    for name in ("pages.npz", "addrs.npz"):
        _assert_same(stream_trace(tmp_path / name, block_size=64), load_trace(tmp_path / name))
    pages[3_210] = -1
    np.savez_compressed(tmp_path / "bad.npz", pages=pages)
    for read in (load_trace, stream_trace):
        with pytest.raises(TraceError, match=r"pages\[3210\] = -1 is out of range"):
            read(tmp_path / "bad.npz", block_size=64)
    np.savez(tmp_path / "two.npz", pages=pages[:10], ops=np.zeros(9, np.int8))
    with pytest.raises(TraceError, match="'ops' has 9 entries but there are 10 references"):
        stream_trace(tmp_path / "two.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(TraceError, match="not a readable npz file"):
        stream_trace(tmp_path / "junk.npz")


def _pids_trace(tmp_path, n=3_000, seed=4):
    """A plain trace of three pids (17, 3, 9 by first appearance), interleaved at random, with repeats."""
    rng = np.random.default_rng(seed)
    pids = rng.choice([17, 3, 9], n, p=[0.5, 0.3, 0.2])
    pids[:40] = 17  # pid 3 and 9 appear later: their start ticks
    pages = np.where(pids == 17, 50, np.where(pids == 3, 900, 4_000)) + rng.integers(0, 60, n)
    pages[1::7] = pages[::7][: pages[1::7].size]  # consecutive repeats, within a pid or not
    ops = rng.choice(["R", "W"], n)
    path = tmp_path / "pids.txt"
    path.write_text("".join(f"{p} {o} {g * 4096:x}\n" for p, o, g in zip(pids, ops, pages, strict=True)))
    return path


@pytest.mark.parametrize("collapse", [True, False])
def test_a_trace_of_several_pids_streams_as_load_trace_loads_it(tmp_path, collapse):
    """One process per pid, by first appearance, its VMA, start, collapsed repeats: load_trace's."""
    path = _pids_trace(tmp_path)
    whole = load_trace(path, collapse=collapse)
    stream = stream_trace(path, collapse=collapse, block_size=300, several=True)
    assert isinstance(stream, ProcessRefStream) and stream.description == whole.description
    got = stream.workload()
    assert [p.name for p in got.processes] == ["pid17", "pid3", "pid9"] == [p.name for p in whole.processes]
    for a, b in zip(got.processes, whole.processes, strict=True):
        assert (a.vmas, a.start) == (b.vmas, b.start)
        assert (a.start > 0) == (a.name != "pid17")  # pids 3 and 9 start later
        assert np.array_equal(a.ops, b.ops) and np.array_equal(a.args, b.args)
    assert stream.proc_counts == [p.ops.size for p in whole.processes] and stream.length == sum(
        stream.proc_counts
    )
    for pages, p in zip(stream.proc_pages, whole.processes, strict=True):  # counted by the scan
        assert np.array_equal(pages, np.unique(p.args >> 12))
    assert stream.pages() == spec_module.footprint(whole)
    with pytest.raises(WorkloadError, match="proc_blocks"):
        next(iter(stream.blocks(10)))


@pytest.mark.parametrize("policy", ["lru", "clock", "opt"])
@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_a_streamed_trace_of_several_pids_runs_as_the_loaded_one(tmp_path, policy, chunk):
    path = _pids_trace(tmp_path)
    cfg = MachineConfig(frames=40, tlb_entries=0, quantum=29)
    whole = Simulator(load_trace(path), cfg, policy).run()
    streamed = Simulator(stream_trace(path, block_size=300, several=True), cfg, policy, chunk=chunk).run()
    assert whole.to_dict() == streamed.to_dict() and len(whole.processes) == 3


def test_a_trace_of_several_pids_changed_after_its_scan_is_an_error(tmp_path):
    """Fewer references, more, a pid the scan did not see: a one-line error, not a wrong run."""
    path = _pids_trace(tmp_path)
    stream = stream_trace(path, several=True)
    lines = path.read_text().splitlines(keepends=True)
    for changed in (lines[:-300], [*lines, "17 R 32000\n"], [*lines[:-1], "5 R 32000\n"]):
        path.write_text("".join(changed))
        with pytest.raises(WorkloadError, match="did the file change?"):
            Simulator(stream, LEAN, "lru").run()


def test_resolve_streams_a_large_trace_of_several_pids(tmp_path, monkeypatch):
    path = _pids_trace(tmp_path)
    monkeypatch.setattr(spec_module, "STREAM_TRACES_FROM", 0)
    stream, whole = resolve_stream(str(path)), resolve(str(path))
    assert isinstance(stream, ProcessRefStream) and stream.hints == whole.hints
    cfg = MachineConfig(frames=40, tlb_entries=0)
    assert Simulator(stream, cfg, "arc").run().to_dict() == Simulator(whole, cfg, "arc").run().to_dict()


def test_errors_are_load_traces(tmp_path):
    """Bad rows fail with load_trace's one-line message, whichever block they are in."""
    rows = np.zeros((5_000, 2), np.int64)
    rows[:, 0] = np.arange(5_000)
    rows[4_321, 1] = 7
    path = tmp_path / "bad.npy"
    np.save(path, rows)
    with pytest.raises(TraceError) as whole:
        load_trace(path)
    with pytest.raises(TraceError) as streamed:
        stream_trace(path, block_size=4096)
    assert str(whole.value) == str(streamed.value)
    assert "row 4321: unknown op 7" in str(streamed.value)
    good = tmp_path / "cut.npy"
    np.save(good, rows[:100, 0])
    good.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(TraceError, match=r"truncated: the header promises 100 rows, the data ends at row 97"):
        stream_trace(good)
    (tmp_path / "empty.din").write_text("")
    with pytest.raises(TraceError, match="empty file"):
        stream_trace(tmp_path / "empty.din")


@pytest.mark.parametrize("policy", ["lru", "clock", "opt"])
@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_a_streamed_trace_runs_as_the_loaded_one(tmp_path, policy, chunk):
    path = _trace(tmp_path, "oracleGeneral")
    whole = Simulator(load_trace(path), LEAN, policy).run()
    streamed = Simulator(stream_trace(path, block_size=240), LEAN, policy, chunk=chunk).run()
    assert whole.to_dict() == streamed.to_dict() and whole.misses > 0


@pytest.mark.parametrize("several", [False, True])
def test_the_feed_takes_a_trace_files_pages_from_its_scan(tmp_path, several):
    """The scan's distinct pages (per process, with several pids) spare the simulator its first read."""
    path = _pids_trace(tmp_path) if several else _trace(tmp_path, "din")
    stream = stream_trace(path, several=several)
    source, pages = ("proc_blocks", "proc_pages") if several else ("blocks", "page_set")
    reads = []
    read = getattr(stream, source)
    setattr(stream, source, lambda size: (reads.append(size), read(size))[1])
    with_pages = Simulator(stream, LEAN, "lru").run()
    assert len(reads) == 1  # the run's read only
    setattr(stream, pages, None)
    reads.clear()
    assert Simulator(stream, LEAN, "lru").run().to_dict() == with_pages.to_dict()
    assert len(reads) == 2  # a first read for the footprint, then the run's


@pytest.mark.parametrize("policy", ["lru", "opt"])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_file_changed_after_its_scan_is_an_error(tmp_path, monkeypatch, policy, sparse):
    """Fewer references, more, or a page the scan did not see: a one-line error, not a wrong run."""
    from vmgym.streaming import translate

    if sparse:
        monkeypatch.setattr(translate, "DENSE_SPAN", 0)
    path = tmp_path / "t.din"
    pages = 2 * np.random.default_rng(2).integers(0, 50, 500)  # even pages: 77 is in the VMA, unseen
    lines = [f"0 {page * 4096:x}\n" for page in pages]
    other = [[*lines[:-1], f"0 {page * 4096:x}\n"] for page in (77, 1000)]  # in the VMA, beyond it
    for changed in (lines[:400], lines + lines[:50], *other):
        path.write_text("".join(lines))
        stream = stream_trace(path)
        path.write_text("".join(changed))
        with pytest.raises(WorkloadError, match=r"read again|not in the first read") as e:
            Simulator(stream, LEAN, policy).run()
        assert "did the file change?" in str(e.value)


def test_resolve_streams_large_files_only(tmp_path, monkeypatch):
    path = _trace(tmp_path, "din")
    assert resolve_stream(str(path)) is None  # below STREAM_TRACES_FROM: loaded whole
    monkeypatch.setattr(spec_module, "STREAM_TRACES_FROM", 0)
    stream = resolve_stream(f"{path}:max_refs=2000")
    whole = resolve(f"{path}:max_refs=2000")
    assert isinstance(stream, RefStream) and stream.hints == whole.hints
    _assert_same(stream, whole)
    npz = write_trace(generators.zipf(**ZIPF), tmp_path / "w.npz")
    _assert_same(resolve_stream(str(npz)), resolve(str(npz)))  # npz streams too
    with pytest.raises(WorkloadError, match="unknown parameter .max_refz."):
        resolve_stream(f"{path}:max_refz=3")


# VmHWM, not getrusage: ru_maxrss survives execve, so a child would report the test process's peak
_RSS = """
import sys
import workloads.spec
from vmgym import MachineConfig, Simulator
from workloads import resolve_stream
workloads.spec.STREAM_TRACES_FROM = 0
st = Simulator(resolve_stream(sys.argv[1]), MachineConfig(frames=1000, tlb_entries=0), "lru").run()
assert st.accesses > 0
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_peak_rss_of_a_streamed_file_is_bounded_by_the_chunk(tmp_path):
    """A 16M-reference npy (the whole load would hold ~150 MB more than for 4M) peaks as 4M does."""
    peaks = []
    rng = np.random.default_rng(0)
    for n in (4_000_000, 16_000_000):
        path = tmp_path / f"z{n}.npy"
        np.save(path, rng.integers(0, 10_000, n))
        cmd = [sys.executable, "-c", _RSS, str(path)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[-1]) / 1024)
        path.unlink()
    assert peaks[1] - peaks[0] < 50, peaks


def test_pages_counts_the_footprint_of_any_stream():
    """``RefStream.pages()``: the footprint a stream knows, else counted in one read."""
    spec = "zipf:n_pages=5000,length=20000"
    stream = resolve_stream(spec)
    assert stream.page_set is None
    assert stream.pages() == spec_module.footprint(resolve(spec)) == stream.page_set.size
    sparse = WorkloadBuilder("sparse")  # pages above the byte map: sorted and merged instead
    p = sparse.process("main")
    p.map(Vma(1 << 30, 1 << 20, "rw"))
    p.access(((1 << 30) + np.arange(0, 1 << 20, 97)) * 4096, OP_WRITE)
    w = sparse.build()
    assert from_workload(w).pages() == spec_module.footprint(w)


@pytest.mark.parametrize("out_fmt", [f for f in FORMATS if f not in ("npz",)])
def test_convert_streams_into_the_same_bytes(tmp_path, monkeypatch, out_fmt):
    """convert() of a one-process trace goes block by block, into the file the whole path writes."""
    from workloads.traces import api, convert

    src = _trace(tmp_path, "lackey")
    streamed = convert(src, tmp_path / f"s{SUFFIX.get(out_fmt, '.' + out_fmt)}", out_fmt)
    whole = write_trace(load_trace(src), tmp_path / f"w{SUFFIX.get(out_fmt, '.' + out_fmt)}", out_fmt)
    assert streamed.read_bytes() == whole.read_bytes()
    calls = []
    monkeypatch.setattr(api, "load_trace", lambda *a, **k: calls.append(a) or load_trace(*a, **k))
    convert(src, tmp_path / f"again{SUFFIX.get(out_fmt, '.' + out_fmt)}", out_fmt)
    assert not calls  # oracleGeneral too: its next accesses from a backward pass over a column


@pytest.mark.parametrize("out_fmt", ["plain", "csv", "lcs-txt", "oracleGeneral"])
@pytest.mark.parametrize("options", [{}, {"collapse": False}, {"max_refs": 1_234}])
def test_convert_of_several_pids_streams_into_the_same_bytes(tmp_path, monkeypatch, out_fmt, options):
    """A trace of several pids goes block by block too, in write_trace's tick order, never loaded whole."""
    from workloads.traces import api, convert
    from workloads.traces.streaming import write_stream

    src = _pids_trace(tmp_path)
    suffix = SUFFIX.get(out_fmt, "." + out_fmt)
    whole = write_trace(load_trace(src, **options), tmp_path / f"w{suffix}", out_fmt).read_bytes()
    monkeypatch.setattr(api, "load_trace", lambda *a, **k: pytest.fail("loaded whole"))
    assert convert(src, tmp_path / f"s{suffix}", out_fmt, **options).read_bytes() == whole
    for block in (1, 7, 500):  # windows of a few ticks
        stream = stream_trace(src, block_size=300, several=True, **options)
        assert write_stream(stream, tmp_path / f"b{block}{suffix}", out_fmt, block).read_bytes() == whole


@pytest.mark.parametrize("out_fmt", ["lackey", "din", "npy"])
def test_convert_of_several_pids_into_one_address_space_is_write_traces_error(tmp_path, out_fmt):
    from workloads.traces import convert

    src = _pids_trace(tmp_path)
    dst = tmp_path / f"x{SUFFIX.get(out_fmt, '.' + out_fmt)}"
    with pytest.raises(TraceError) as whole:
        write_trace(load_trace(src), dst, out_fmt)
    with pytest.raises(TraceError) as streamed:
        convert(src, dst, out_fmt)
    assert str(streamed.value) == str(whole.value) and "holds one address space" in str(whole.value)
    assert not dst.exists()


@pytest.mark.parametrize("dtype", ["<i8", ">i8", "<u8", "<i4"])
@pytest.mark.parametrize("with_ops", [False, True])
def test_npy_of_any_integer_dtype_reads_the_same_pages(tmp_path, dtype, with_ops):
    """Native 64-bit page numbers are read in place (a view), others converted: the same references."""
    pages = np.random.default_rng(6).integers(0, 300, 2_000)
    arr = np.stack([pages, pages % 2], axis=1) if with_ops else pages
    path = tmp_path / "p.npy"
    np.save(path, arr.astype(dtype))
    got = stream_trace(path, block_size=1_000)
    want = load_trace(path)
    _assert_same(got, want)
    assert np.array_equal(want.processes[0].args >> 12, pages[np.r_[True, np.diff(pages) != 0]])
