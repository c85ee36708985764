"""The workload data model: memory objects, processes, VMAs and reference streams.

A :class:`Workload` is what every generator and trace reader produces and what the
simulator loads. It is plain data (NumPy arrays plus small dataclasses) and knows
nothing about the simulator.

Each process has one *stream*: parallel arrays ``ops`` (int8) and ``args`` (int64).
For a memory reference ``ops[i]`` is :data:`OP_READ`, :data:`OP_WRITE` or
:data:`OP_EXEC` and ``args[i]`` is the virtual byte address. For an event ``ops[i]``
is one of the ``EV_*`` codes and ``args[i]`` indexes ``Process.events`` (the event's
payload). A process's stream ends with an implicit exit.

Build workloads with :class:`WorkloadBuilder` rather than by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

OP_READ = 0
OP_WRITE = 1
OP_EXEC = 2
EV_MMAP = 8
EV_MUNMAP = 9
EV_MLOCK = 10
EV_MUNLOCK = 11
EV_FORK = 12
EV_EXIT = 13

OP_NAMES = {OP_READ: "read", OP_WRITE: "write", OP_EXEC: "exec"}
EVENT_NAMES = {
    EV_MMAP: "mmap",
    EV_MUNMAP: "munmap",
    EV_MLOCK: "mlock",
    EV_MUNLOCK: "munlock",
    EV_FORK: "fork",
    EV_EXIT: "exit",
}
OBJECT_KINDS = ("shm", "file")
DEFAULT_PAGE_SIZE = 4096
HINT_KEYS = ("frames", "swap_slots", "tlb_entries", "tlb_ways", "tlb_asid", "quantum")
"""Machine settings a workload may suggest (names of ``vmgym.MachineConfig`` fields)."""


class WorkloadError(ValueError):
    """A workload that is malformed; the message names the process and field."""


def byte_size(n: float) -> str:
    """``n`` bytes for people: ``512 B``, ``1.5 KiB``, ... ``3.0 GiB``, ``1.2 TiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@dataclass(frozen=True)
class MemObject:
    """A shareable memory object: a shared anonymous segment (``shm``) or a ``file``.

    Private anonymous memory needs no object: a VMA with ``obj=None`` is private
    anonymous memory of its process.
    """

    name: str
    kind: str
    pages: int

    def __post_init__(self) -> None:
        if self.kind not in OBJECT_KINDS:
            raise WorkloadError(f"object {self.name!r}: kind {self.kind!r} not in {OBJECT_KINDS}")
        if self.pages < 1:
            raise WorkloadError(f"object {self.name!r}: pages must be >= 1, got {self.pages}")


@dataclass(frozen=True)
class Vma:
    """A virtual memory area: ``pages`` pages from virtual page ``start_vpn``.

    ``perms`` is a subset of ``"rwx"``. ``obj`` names a :class:`MemObject` (mapped
    from page ``offset`` of it) or is ``None`` for private anonymous memory.
    ``shared`` says whether writes go to the object (``MAP_SHARED``) or to a private
    copy-on-write copy (``MAP_PRIVATE``); anonymous memory is always private.
    """

    start_vpn: int
    pages: int
    perms: str = "rw"
    obj: str | None = None
    offset: int = 0
    shared: bool = False

    def __post_init__(self) -> None:
        if self.start_vpn < 0 or self.pages < 1:
            raise WorkloadError(f"vma at vpn {self.start_vpn}: need start_vpn >= 0, pages >= 1")
        if set(self.perms) - set("rwx"):
            raise WorkloadError(f"vma at vpn {self.start_vpn}: perms {self.perms!r} not a subset of 'rwx'")
        if self.obj is None and self.shared:
            raise WorkloadError(
                f"vma at vpn {self.start_vpn}: anonymous memory cannot be shared; use an shm object"
            )

    @property
    def end_vpn(self) -> int:
        """One past the last virtual page number."""
        return self.start_vpn + self.pages


@dataclass
class Process:
    """One process: its initial VMAs, its reference/event stream and event payloads.

    ``parent`` is the index of the process that forks it (``None`` for a process
    that starts on its own at global reference tick ``start``). A forked process
    inherits its parent's address space and must have no ``vmas`` of its own.
    """

    name: str
    vmas: list[Vma]
    ops: np.ndarray
    args: np.ndarray
    events: list = field(default_factory=list)
    start: int = 0
    parent: int | None = None

    @property
    def references(self) -> int:
        """Number of memory references (events excluded)."""
        return int(np.count_nonzero(self.ops < EV_MMAP))

    @property
    def has_events(self) -> bool:
        """True if the stream holds events (mmap, munmap, mlock, munlock, fork, exit)."""
        return bool(np.any(np.asarray(self.ops) >= EV_MMAP))


@dataclass
class Workload:
    """A complete workload: page size, shared objects and processes.

    ``hints`` suggests a machine for it (keys of :data:`HINT_KEYS`, e.g. ``{"frames":
    500}``): named workloads, TOML specs and trace files fill it in, the CLI uses it for
    settings not given on the command line, and the simulator ignores it.
    """

    name: str
    processes: list[Process]
    objects: list[MemObject] = field(default_factory=list)
    page_size: int = DEFAULT_PAGE_SIZE
    description: str = ""
    hints: dict[str, Any] = field(default_factory=dict)

    @property
    def references(self) -> int:
        """Total memory references over all processes."""
        return sum(p.references for p in self.processes)

    def object_index(self) -> dict[str, int]:
        """Map object name to its index, rejecting duplicates."""
        index: dict[str, int] = {}
        for i, obj in enumerate(self.objects):
            if obj.name in index:
                raise WorkloadError(f"workload {self.name!r}: duplicate object name {obj.name!r}")
            index[obj.name] = i
        return index

    @classmethod
    def from_pages(
        cls,
        pages: np.ndarray | list[int],
        writes: np.ndarray | list[bool] | None = None,
        *,
        name: str = "pages",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Workload:
        """One process touching private anonymous pages ``pages`` (page numbers).

        This is the classic single-address-space reference string used in
        textbooks and cache papers; ``writes`` marks which references are writes.
        """
        pages = np.asarray(pages, dtype=np.int64)
        if pages.ndim != 1:
            raise WorkloadError("pages must be a 1-D sequence of page numbers")
        if pages.size and pages.min() < 0:
            raise WorkloadError(f"page numbers must be >= 0, got {int(pages.min())}")
        builder = WorkloadBuilder(name=name, page_size=page_size)
        proc = builder.process("main")
        span = int(pages.max()) + 1 if pages.size else 1
        proc.map(Vma(0, span, "rw"))
        proc.access_pages(pages, writes)
        return builder.build()


class ProcessBuilder:
    """Appends references and events to one process's stream."""

    def __init__(self, workload: WorkloadBuilder, index: int, name: str, start: int, parent: int | None):
        self._wb = workload
        self.index = index
        self.name = name
        self.start = start
        self.parent = parent
        self.vmas: list[Vma] = []
        self.events: list = []
        self._ops: list[np.ndarray] = []
        self._args: list[np.ndarray] = []
        self._started = False

    # -- address space -------------------------------------------------------
    def map(self, vma: Vma) -> Vma:
        """Map ``vma``: initial address space before the first reference, else an ``mmap`` event.

        A process's VMAs mapped before its first reference or event form its
        initial address space; later calls record an ``mmap`` event in the stream.
        """
        if not self._started and self.parent is None:
            self.vmas.append(vma)
        else:
            self._event(EV_MMAP, vma)
        return vma

    def munmap(self, start_vpn: int) -> None:
        """Unmap the whole VMA that starts at ``start_vpn``."""
        self._event(EV_MUNMAP, int(start_vpn))

    def mlock(self, start_vpn: int) -> None:
        """Pin the pages of the VMA at ``start_vpn`` (``mlock2(MLOCK_ONFAULT)``)."""
        self._event(EV_MLOCK, int(start_vpn))

    def munlock(self, start_vpn: int) -> None:
        """Unpin the pages of the VMA at ``start_vpn``."""
        self._event(EV_MUNLOCK, int(start_vpn))

    def fork(self, name: str | None = None) -> ProcessBuilder:
        """Fork a child here; the child's stream is built on the returned builder."""
        child = self._wb._add(name or f"{self.name}-child", 0, self.index)
        self._event(EV_FORK, child.index)
        return child

    def exit(self) -> None:
        """End the process here (an exit is implicit at the end of the stream)."""
        self._event(EV_EXIT, 0)

    # -- references ----------------------------------------------------------
    def access(self, addrs: np.ndarray, ops: np.ndarray | int = OP_READ) -> None:
        """Append references to byte addresses ``addrs`` with ``ops`` (array or one op)."""
        addrs = np.asarray(addrs, dtype=np.int64).ravel()
        ops_arr = np.broadcast_to(np.asarray(ops, dtype=np.int8), addrs.shape).copy()
        if ops_arr.size and (ops_arr.min() < OP_READ or ops_arr.max() > OP_EXEC):
            raise WorkloadError(
                f"process {self.name!r}: reference ops must be 0 (read), 1 (write) or 2 (exec)"
            )
        self._started = True
        self._ops.append(ops_arr)
        self._args.append(addrs)

    def access_pages(self, pages: np.ndarray, writes: np.ndarray | list[bool] | None = None) -> None:
        """Append references to page numbers (the first byte of each page)."""
        pages = np.asarray(pages, dtype=np.int64)
        ops = OP_READ if writes is None else np.where(np.asarray(writes, dtype=bool), OP_WRITE, OP_READ)
        self.access(pages * self._wb.page_size, ops)

    def _event(self, code: int, payload: object) -> None:
        self._started = True
        self.events.append(payload)
        self._ops.append(np.array([code], dtype=np.int8))
        self._args.append(np.array([len(self.events) - 1], dtype=np.int64))

    def build(self) -> Process:
        """Freeze the stream into a :class:`Process`."""
        ops = np.concatenate(self._ops) if self._ops else np.zeros(0, np.int8)
        args = np.concatenate(self._args) if self._args else np.zeros(0, np.int64)
        return Process(self.name, list(self.vmas), ops, args, list(self.events), self.start, self.parent)


class WorkloadBuilder:
    """Builds a :class:`Workload` process by process.

    Example::

        wb = WorkloadBuilder("demo")
        wb.shm("ipc", pages=4)
        a = wb.process("a")
        a.map(Vma(0, 16, "rw"))
        a.map(Vma(100, 4, "rw", obj="ipc", shared=True))
        a.access_pages([0, 1, 100], writes=[1, 0, 1])
        workload = wb.build()
    """

    def __init__(self, name: str = "workload", page_size: int = DEFAULT_PAGE_SIZE, description: str = ""):
        self.name = name
        self.page_size = page_size
        self.description = description
        self.objects: list[MemObject] = []
        self._procs: list[ProcessBuilder] = []

    def shm(self, name: str, pages: int) -> MemObject:
        """Declare a shared anonymous memory segment."""
        obj = MemObject(name, "shm", pages)
        self.objects.append(obj)
        return obj

    def file(self, name: str, pages: int) -> MemObject:
        """Declare a file that processes may mmap."""
        obj = MemObject(name, "file", pages)
        self.objects.append(obj)
        return obj

    def process(self, name: str, start: int = 0) -> ProcessBuilder:
        """Add a process that becomes runnable at global reference tick ``start``."""
        return self._add(name, start, None)

    def _add(self, name: str, start: int, parent: int | None) -> ProcessBuilder:
        pb = ProcessBuilder(self, len(self._procs), name, start, parent)
        self._procs.append(pb)
        return pb

    def build(self) -> Workload:
        """Return the finished :class:`Workload`."""
        return Workload(
            self.name,
            [p.build() for p in self._procs],
            list(self.objects),
            self.page_size,
            self.description,
        )
