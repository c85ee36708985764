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
(:mod:`vmgym.streaming.spill`). Peak memory is the footprint's state, the chunk
and the source's block, not the trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import LoadedWorkload, load_address_space
from vmgym.streaming.spill import SPILL_ABOVE, Column
from vmgym.streaming.translate import AddressSpace
from workloads.model import Process, Workload, WorkloadError
from workloads.stream import RefStream

DEFAULT_CHUNK = 1 << 21  # references per chunk (and per block read from the source)
STATE_BYTES_PER_PAGE = 200  # about what the state arrays take per referenced page (PTE and page rows)

Chunk = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]  # ops, ptes, keys, next uses


@njit(cache=True, nogil=True)
def next_uses(keys, base, last, out):  # pragma: no cover (compiled)
    """Backward pass over one block: ``out[k]`` = next position of ``keys[k]`` after ``base + k``.

    ``last[key]`` holds the earliest position seen so far of each key (blocks go from
    the end of the trace to its start); it ends as each key's first use.
    """
    for k in range(keys.shape[0] - 1, -1, -1):
        key = keys[k]
        if key >= 0:
            out[k] = last[key]
            last[key] = base + k
        else:
            out[k] = S.INF


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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
    return (
        stream.page_set is not None
        and stream.length is not None
        and all(set(v.perms) == set("rwx") for v in stream.vmas)
    )


class ChunkFeed:
    """The chunks of one streamed run (see the module docstring); made by :func:`open_feed`."""

    def __init__(self, stream: RefStream, config: MachineConfig, oracle: bool, chunk: int):
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        if config.allocation != "global":
            raise WorkloadError(
                f"workload {stream.name!r} is streamed: allocation must be 'global' (a working-set window "
                f"would span chunks), got {config.allocation!r}"
            )
        self.stream = stream
        self.chunk = chunk
        self.space = AddressSpace(stream.vmas, stream.page_size)
        shell = Workload(
            stream.name,
            [Process(stream.process_name, list(stream.vmas), np.zeros(0, np.int8), np.zeros(0, np.int64))],
            list(stream.objects),
            stream.page_size,
        )
        if _knows_its_pages(stream):  # no first read: the source has counted its pages
            n = stream.length
            shift = stream.page_size.bit_length() - 1
            reads = np.zeros(min(chunk, stream.page_set.size), np.int8)  # rwx: any op marks a page
            for lo in range(0, stream.page_set.size, chunk):
                vpns = stream.page_set[lo : lo + chunk]
                self.space.add(reads[: vpns.size], vpns << shift)
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
        self.length = n + 2  # START, the references, EXIT
        keys = self.space.number()
        _check_fits(stream, keys.size, config.frames)
        self.loaded: LoadedWorkload = load_address_space(shell, config, keys)
        lw = self.loaded
        shared = (lw.pte_flags & S.PTE_SHARED) != 0
        pte_ids = np.arange(lw.pte_flags.shape[0], dtype=np.int64)
        self._okey = np.where(shared, lw.pte_static, lw.n_static + pte_ids)  # oracle key of each PTE
        self._n_keys = lw.n_static + pte_ids.size
        self._pid = np.zeros(max(chunk, 1), np.int32)
        self._oracle = oracle
        self._columns: list[Column] = []
        self._first_use = np.zeros(0, np.int64)
        if oracle:
            self._backward()
        self._chunks = _ReadAhead(self._all_chunks())
        first = next(self._chunks)
        self.loaded.ref_op, self.loaded.ref_pte, self.loaded.ref_pid = first[0], first[1], self._pid[:1]
        self._first = first
        self._pending: Chunk | None = next(self._chunks, None)
        self._base = 1  # global position of the pending chunk

    # -- oracle ---------------------------------------------------------------
    def _keys(self, pte: np.ndarray) -> np.ndarray:
        return np.where(pte >= 0, self._okey[np.maximum(pte, 0)], -1)

    def _backward(self) -> None:
        """Second read: store ops and PTEs; then the next-use pass from the end (see the module docstring)."""
        n = self.n_refs
        spill = n * 13 > SPILL_ABOVE
        self._ops = Column(n, np.int8, spill)
        self._pte = Column(n, np.int32, spill)
        self._next = Column(n, np.int64, spill)
        self._columns = [self._ops, self._pte, self._next]
        lo = 0
        for ops, addrs in self.stream.blocks(self.chunk):
            if lo + ops.shape[0] > n:
                self._changed(lo + ops.shape[0])
            self._ops.write(lo, ops)
            self._pte.write(lo, self.space.translate(ops, addrs))
            lo += ops.shape[0]
        if lo != n:
            self._changed(lo)
        last = np.full(self._n_keys, S.INF, np.int64)
        out = np.empty(min(self.chunk, max(n, 1)), np.int64)
        for lo in reversed(range(0, n, self.chunk)):
            m = min(self.chunk, n - lo)
            next_uses(self._keys(self._pte.read(lo, m)), 1 + lo, last, out[:m])
            self._next.write(lo, out[:m])
        self._first_use = last

    def _changed(self, n: int) -> None:
        what = f"more than {self.n_refs:,}" if n > self.n_refs else f"{n:,}, not {self.n_refs:,},"
        raise WorkloadError(
            f"workload {self.stream.name!r}: read again, its stream gave {what} references "
            f"(did the file change?)"
        )

    def oracle_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first chunk's ``ref_key`` and ``ref_next``, and ``key_next`` (each key's first use)."""
        return self._first[2], self._first[3], self._first_use

    # -- chunks ---------------------------------------------------------------
    def _event(self, code: int) -> Chunk:
        one = (np.array([code], np.int8), np.zeros(1, np.int32))
        if not self._oracle:
            return (*one, None, None)
        return (*one, np.full(1, -1, np.int64), np.full(1, S.INF, np.int64))

    def _references(self) -> Iterator[Chunk]:
        if not self._oracle:
            seen = 0
            for ops, addrs in self.stream.blocks(self.chunk):
                seen += ops.shape[0]
                if seen > self.n_refs:
                    self._changed(seen)
                pte = self.space.translate(ops, addrs)
                for lo in range(0, ops.shape[0], self.chunk):
                    yield ops[lo : lo + self.chunk], pte[lo : lo + self.chunk], None, None
            if seen != self.n_refs:
                self._changed(seen)
            return
        for lo in range(0, self.n_refs, self.chunk):
            m = min(self.chunk, self.n_refs - lo)
            pte = self._pte.read(lo, m)
            yield self._ops.read(lo, m), pte, self._keys(pte), self._next.read(lo, m)

    def _all_chunks(self) -> Iterator[Chunk]:
        yield self._event(S.E_START)
        yield from self._references()
        yield self._event(S.E_EXIT)
        for col in self._columns:
            col.close()

    def exhausted(self, st: S.SimState) -> bool:
        """True if the state holds the last chunk."""
        return self._pending is None

    def next_chunk(self, st: S.SimState) -> S.SimState:
        """``st`` with the next chunk's trace arrays; ``sc[SC_BASE]`` is moved to its first position."""
        if self._pending is None:
            raise RuntimeError("the stream has no more chunks")
        ops, pte, key, nxt = self._pending
        st.sc[S.SC_BASE] = self._base
        self._base += ops.shape[0]
        new = st._replace(ref_op=ops, ref_pte=pte, ref_pid=self._pid[: ops.shape[0]])
        if key is not None and st.ref_key.shape[0]:
            new = new._replace(ref_key=key, ref_next=nxt)
        self._pending = next(self._chunks, None)
        return new


def open_feed(
    stream: RefStream, config: MachineConfig, *, oracle: bool = False, chunk: int | None = None
) -> ChunkFeed:
    """Read ``stream``'s footprint and prepare its chunks (of ``chunk`` references, default 2M)."""
    return ChunkFeed(stream, config, oracle, DEFAULT_CHUNK if chunk is None else chunk)
