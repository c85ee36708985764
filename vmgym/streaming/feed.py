"""Feed a streamed workload to the simulator chunk by chunk.

:func:`open_feed` reads a :class:`~workloads.stream.RefStream` once to learn its
footprint (the pages it references: the PTE numbering, see
:mod:`vmgym.streaming.translate`) and loads the fixed address space
(:func:`vmgym.sim.loader.load_address_space`); a source that has counted its
pages already (a trace file's scan) gives them as ``page_set`` and spares that
read. The simulator then runs the global
trace ``[START, r_0, ..., r_{n-1}, EXIT]`` (positions as the whole-trace loader
gives them) a chunk at a time: :meth:`ChunkFeed.next_chunk` swaps the next
chunk's arrays into the state and moves ``sc[SC_BASE]``, and the compiled loop
carries every other piece of state across. Without the oracle, each chunk is
translated as it is read, in a second read of the source. With it (OPT,
``oracle=True``), the second read stores each reference's op and PTE, a backward
pass over them computes next-use positions, and the run reads all three back
(:class:`workloads.spool.Column`: in memory up to a quarter of the available memory,
:data:`ORACLE_MEMORY_SHARE`, else a temporary file). Peak memory is the footprint's
state, the chunk and the source's block, not the trace (with OPT: bounded by the
machine, not the trace). A stream of several processes
(:class:`~workloads.stream.ProcessRefStream`) gives its global trace, each
process's START, slices and EXIT as the loader schedules them, through
:class:`~vmgym.streaming.processes.ProcessSource`, and one with events or forks
through :class:`~vmgym.streaming.events.ProcessTree`; the chunks then carry pids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import LoadedWorkload, load_address_space
from vmgym.streaming.events import ProcessTree
from vmgym.streaming.processes import Entries, ProcessSource
from vmgym.streaming.translate import AddressSpace, all_rwx
from workloads.model import Process, Workload, WorkloadError
from workloads.spool import SPILL_ABOVE, Column, spills
from workloads.stackdist import backward_next_uses
from workloads.stream import ProcessRefStream, ProcessStreams, RefStream, count_differs

DEFAULT_CHUNK = 1 << 21  # references per chunk (and per block read from the source)
ORACLE_MEMORY_SHARE = 0.25  # OPT's columns stay in memory up to this share of the available memory
STATE_BYTES_PER_PAGE = 200  # about what the state arrays take per referenced page (PTE and page rows)

Loading = Callable[[str, int, int], None]
"""``loading(what, done, total)``: progress of OPT's columns while a streamed run is prepared."""

# ops, PTEs (event args), pids, and the oracle's keys and next uses (None without it)
Chunk = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _spills(nbytes: int) -> bool:
    """True if OPT's per-reference columns (``nbytes`` in all) go to a temporary file.

    They stay in memory up to :data:`ORACLE_MEMORY_SHARE` of the available memory (at
    least :data:`~workloads.spool.SPILL_ABOVE` bytes): a temporary file bounds the peak
    by the machine, not the trace, and reading it back costs the run about a third more
    (30M references: 4.2-6.1 s against 3.0-3.4 s, 2026-12-04). A file that would not
    fit in the temporary folder is a one-line error (:func:`workloads.spool.spills`).
    """
    avail = _available_bytes()
    share = 0 if avail is None else int(ORACLE_MEMORY_SHARE * avail)
    return spills(nbytes, "OPT's next-use columns", max(SPILL_ABOVE, share))


def _check_fits(stream: RefStream, n_ptes: int, frames: int) -> None:
    need = STATE_BYTES_PER_PAGE * (n_ptes + frames)
    avail = _available_bytes()
    if avail is not None and need > avail:
        raise WorkloadError(
            f"workload {stream.name!r} references {n_ptes:,} distinct pages: its page tables and page "
            f"state need about {need / 2**30:.1f} GiB, more than the {avail / 2**30:.1f} GiB available"
        )


class _ReadAhead:
    """The items of an iterator, each made while the previous one is in use (one thread).

    Taking an item asks a background thread for the next one, so the next chunk is
    read and translated on another core while the compiled loop (which releases the
    GIL) simulates the current one: one chunk more in memory than reading in turn.
    The items and their order are the iterator's; its exceptions are raised by the
    ``next`` that would have returned the item.
    """

    _END = object()

    def __init__(self, items: Iterator[Chunk]):
        self._items = items
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vmgym-read")
        self._next = self._pool.submit(self._make)

    def _make(self) -> object:
        return next(self._items, self._END)

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        item = self._next.result()
        if item is self._END:
            self._pool.shutdown(wait=False)
            raise StopIteration
        self._next = self._pool.submit(self._make)
        return item


def _knows_its_pages(stream: RefStream) -> bool:
    """True if the first read can be skipped: the source tells its length and pages, all in ``rwx`` VMAs."""
    return stream.page_set is not None and stream.length is not None and all_rwx(stream.vmas)


def _changed(name: str, n: int, expected: int) -> WorkloadError:
    return WorkloadError(
        f"workload {name!r}: read again, its stream gave {count_differs(n, expected)} references "
        "(did the file change?)"
    )


class OneProcess:
    """The global trace ``[START, r_0, ..., r_{n-1}, EXIT]`` of a one-process stream."""

    several = False
    mlock = False  # (no events)

    def __init__(self, stream: RefStream, chunk: int):
        self.stream = stream
        self.chunk = chunk
        self.space = AddressSpace(stream.vmas, stream.page_size)
        self.shell = Workload(
            stream.name,
            [Process(stream.process_name, list(stream.vmas), np.zeros(0, np.int8), np.zeros(0, np.int64))],
            list(stream.objects),
            stream.page_size,
        )
        if _knows_its_pages(stream):  # no first read: the source has counted its pages
            n = stream.length
            self.space.add_pages(stream.page_set, chunk)
        else:
            n = 0
            for ops, addrs in stream.blocks(chunk):
                self.space.add(ops, addrs)
                n += ops.shape[0]
        if stream.length is not None and n != stream.length:
            raise WorkloadError(
                f"workload {stream.name!r}: its stream gave {n} references, not {stream.length}"
            )
        self.n_refs = n
        self.length = n + 2
        self.pte_keys = [self.space.number()]
        self.zeros = np.zeros(max(chunk, 1), np.int32)  # the pid of every entry, a chunk's worth

    def load(self, config: MachineConfig) -> LoadedWorkload:
        """The state arrays of the fixed address space and the counted PTEs."""
        return load_address_space(self.shell, config, self.pte_keys)

    def entries(self) -> Iterator[Entries]:
        """The global trace in chunks of at most ``chunk`` entries: START, the references, EXIT."""
        arg = np.zeros(1, np.int32)
        yield np.array([S.E_START], np.int8), arg, self.zeros[:1]
        seen = 0
        for ops, addrs in self.stream.blocks(self.chunk):
            seen += ops.shape[0]
            if seen > self.n_refs:
                raise _changed(self.stream.name, seen, self.n_refs)
            pte = self.space.translate(ops, addrs)
            for lo in range(0, ops.shape[0], self.chunk):
                part = ops[lo : lo + self.chunk]
                yield part, pte[lo : lo + self.chunk], self.zeros[: part.shape[0]]
        if seen != self.n_refs:
            raise _changed(self.stream.name, seen, self.n_refs)
        yield np.array([S.E_EXIT], np.int8), arg, self.zeros[:1]


Source = OneProcess | ProcessSource | ProcessTree
"""A stream's global trace: its PTEs (``pte_keys``), ``load(config)``, ``entries()``, ``mlock``."""


def open_source(stream: RefStream, quantum: int, chunk: int) -> Source:
    """The source of ``stream``'s global trace: processes with events or forks, a trace of several, one."""
    if isinstance(stream, ProcessStreams) or stream.events is not None:
        return ProcessTree(stream, quantum, chunk)
    if isinstance(stream, ProcessRefStream):
        return ProcessSource(stream, quantum, chunk)
    return OneProcess(stream, chunk)


class ChunkFeed:
    """The chunks of one streamed run (see the module docstring); made by :func:`open_feed`."""

    def __init__(
        self,
        stream: RefStream,
        config: MachineConfig,
        oracle: bool,
        chunk: int,
        loading: Loading | None = None,
    ):
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        self.stream = stream
        # the working-set window looks back ws_window entries: each chunk carries that many before it
        self._keep = config.ws_window if config.allocation == "working-set" else 0
        self.chunk = chunk
        self.source = open_source(stream, config.quantum, chunk)
        self.n_refs = self.source.n_refs
        self.length = self.source.length  # the references and each process's START and EXIT
        self.mlock = self.source.mlock  # any mlock event in the whole trace
        _check_fits(stream, sum(k.size for k in self.source.pte_keys), config.frames)
        self.loaded: LoadedWorkload = self.source.load(config)
        lw = self.loaded
        shared = (lw.pte_flags & S.PTE_SHARED) != 0
        pte_ids = np.arange(lw.pte_flags.shape[0], dtype=np.int64)
        self._okey = np.where(shared, lw.pte_static, lw.n_static + pte_ids)  # oracle key of each PTE
        self._n_keys = lw.n_static + pte_ids.size
        self._oracle = oracle
        self._columns: list[Column] = []
        self._first_use = np.zeros(0, np.int64)
        if oracle:
            self._backward(loading or (lambda what, done, total: None))
        self._chunks = _ReadAhead(self._all_chunks())
        first = next(self._chunks)
        lw.ref_op, lw.ref_pte, lw.ref_pid = first[0], first[1], first[2]
        self._first = first
        self._pending: Chunk | None = next(self._chunks, None)
        self._base = first[0].shape[0]  # global position of the pending chunk

    # -- oracle ---------------------------------------------------------------
    def _keys(self, ops: np.ndarray, pte: np.ndarray) -> np.ndarray:
        refs = (ops < S.EVENT_BASE) & (pte >= 0)
        return np.where(refs, self._okey[np.where(refs, pte, 0)], -1)

    def _backward(self, loading: Loading) -> None:
        """Second read: store the global trace; then the next-use pass from the end (module docstring).

        ``loading`` hears each phase's progress, in entries of the global trace.
        """
        n = self.length
        several = self.source.several
        spill = _spills(n * (17 if several else 13))
        self._ops = Column(n, np.int8, spill)
        self._pte = Column(n, np.int32, spill)
        self._pid = Column(n, np.int32, spill) if several else None
        self._next = Column(n, np.int64, spill)
        self._columns = [c for c in (self._ops, self._pte, self._pid, self._next) if c is not None]
        # the next-use column is first written by the backward pass: fault its pages in on the
        # other core while this one reads the source (on this project's VM a new process's first
        # touch of freed memory cost ~5 ms a MB: 30M refs after a libCacheSim run, 2.8-3.1 s -> 1.6-1.8 s)
        touch = None if spill else threading.Thread(target=self._next.read(0, n).fill, args=(0,))
        if touch is not None:
            touch.start()
        lo = 0
        for ops, pte, pid in self.source.entries():
            self._ops.write(lo, ops)
            self._pte.write(lo, pte)
            if self._pid is not None:
                self._pid.write(lo, pid)
            lo += ops.shape[0]
            loading("reading the trace again for next uses", lo, n)
        if touch is not None:
            touch.join()
        self._first_use = backward_next_uses(
            lambda lo, m: self._keys(self._ops.read(lo, m), self._pte.read(lo, m)),
            n,
            self._n_keys,
            self._next,
            self.chunk,
            lambda done: loading("next uses, from the end", done, n),
        )

    def oracle_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first chunk's ``ref_key`` and ``ref_next``, and ``key_next`` (each key's first use)."""
        return self._first[3], self._first[4], self._first_use

    # -- chunks ---------------------------------------------------------------
    def _all_chunks(self) -> Iterator[Chunk]:
        if not self._oracle:
            for ops, pte, pid in self.source.entries():
                yield ops, pte, pid, None, None
            return
        for lo in range(0, self.length, self.chunk):
            m = min(self.chunk, self.length - lo)
            ops, pte = self._ops.read(lo, m), self._pte.read(lo, m)
            pid = self.source.zeros[:m] if self._pid is None else self._pid.read(lo, m)
            yield ops, pte, pid, self._keys(ops, pte), self._next.read(lo, m)
        for col in self._columns:
            col.close()

    def exhausted(self, st: S.SimState) -> bool:
        """True if the state holds the last chunk."""
        return self._pending is None

    def next_chunk(self, st: S.SimState) -> S.SimState:
        """``st`` with the next chunk's trace arrays; ``sc[SC_BASE]`` is moved to its first position.

        With ``allocation="working-set"`` the arrays also hold the ``ws_window`` entries
        before the chunk (the window the quotas are computed over), and ``sc[SC_BASE]``
        is the position of the first of them.
        """
        if self._pending is None:
            raise RuntimeError("the stream has no more chunks")
        ops, pte, pid, key, nxt = self._pending
        oracle = key is not None and st.ref_key.shape[0] > 0
        base = self._base
        self._base += ops.shape[0]
        if self._keep:  # the last entries of the arrays in use (they end where this chunk starts)
            m = min(self._keep, st.ref_op.shape[0])
            base -= m
            ops, pte, pid = (
                np.concatenate([a[a.shape[0] - m :], b])
                for a, b in ((st.ref_op, ops), (st.ref_pte, pte), (st.ref_pid, pid))
            )
            if oracle:
                key, nxt = (
                    np.concatenate([a[a.shape[0] - m :], b])
                    for a, b in ((st.ref_key, key), (st.ref_next, nxt))
                )
        st.sc[S.SC_BASE] = base
        new = st._replace(ref_op=ops, ref_pte=pte, ref_pid=pid)
        if oracle:
            new = new._replace(ref_key=key, ref_next=nxt)
        self._pending = next(self._chunks, None)
        return new


def open_feed(
    stream: RefStream,
    config: MachineConfig,
    *,
    oracle: bool = False,
    chunk: int | None = None,
    loading: Loading | None = None,
) -> ChunkFeed:
    """Read ``stream``'s footprint and prepare its chunks (of ``chunk`` references, default 2M).

    With the oracle, ``loading(what, done, total)`` (if given) hears the progress of
    the second read and the backward pass (:data:`Loading`).
    """
    return ChunkFeed(stream, config, oracle, DEFAULT_CHUNK if chunk is None else chunk, loading)
