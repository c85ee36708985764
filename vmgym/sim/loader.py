"""Load a workload onto a machine: translate, schedule and allocate the state arrays.

Loading does all the work that does not depend on run-time decisions, once and
vectorised, so that the compiled loop works on integers only:

1. *Translation.* Each process's address space is fixed by its own stream
   (mmap/munmap/fork happen at known points of it), so every reference is
   translated here to a page-table-entry id, or to a segfault code when no VMA
   covers it or the VMA forbids the access. PTEs exist only for (process, vpn)
   pairs that are referenced or inherited, numbered contiguously per process and
   per VMA.
2. *Scheduling.* A round-robin scheduler with a quantum interleaves the processes
   into one global trace. Killing a process later (segfault, OOM) only removes
   its remaining references: the relative order of everyone else's is unchanged,
   which keeps the oracle's next-use array valid.
3. *Allocation* of every state array (frames, pages, PTEs, swap, TLB).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.schedule import Timeline, merged, schedule
from workloads.model import (
    EV_EXIT,
    EV_FORK,
    EV_MLOCK,
    EV_MMAP,
    EV_MUNLOCK,
    EV_MUNMAP,
    OP_EXEC,
    OP_WRITE,
    Vma,
    Workload,
    WorkloadError,
)

_VPN_BITS = 40  # PTE keys are (local vma index << 40) | vpn
# the op codes a process stream may hold: read, write, exec and the events
OP_CODES = np.array([0, 1, 2, EV_MMAP, EV_MUNMAP, EV_MLOCK, EV_MUNLOCK, EV_FORK, EV_EXIT], np.int8)


@dataclass
class _VmaInst:
    """One mapped VMA instance of one process."""

    gid: int  # global VMA id
    local: int  # index among this process's VMA instances
    spec: Vma
    obj_base: int  # first static page id of the object, -1 for anonymous


@dataclass
class _ProcPlan:
    """Translation result of one process before PTE ids are global."""

    ops: np.ndarray
    keys: np.ndarray  # per stream entry: PTE key, SEGV code, or event argument
    vmas: list[_VmaInst] = field(default_factory=list)
    inherited: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # child keys
    inherited_parent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # parent keys
    forks: dict[int, tuple[list[_VmaInst], np.ndarray]] = field(default_factory=dict)
    pte_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted unique
    pte_base: int = 0


@dataclass
class LoadedWorkload:
    """Everything the state needs, produced by :func:`load`."""

    ref_op: np.ndarray
    ref_pte: np.ndarray
    ref_pid: np.ndarray
    n_static: int
    obj_base: np.ndarray
    pte_pid: np.ndarray
    pte_vpn: np.ndarray
    pte_vma: np.ndarray
    pte_static: np.ndarray
    pte_flags: np.ndarray
    proc_pte_lo: np.ndarray
    proc_pte_hi: np.ndarray
    vma_pte_lo: np.ndarray
    vma_pte_hi: np.ndarray
    vma_pid: np.ndarray
    fork_lo: np.ndarray
    fork_hi: np.ndarray
    fork_parent_pte: np.ndarray
    fork_child_pte: np.ndarray
    static_kind: np.ndarray
    vma_specs: list[Vma]
    process_names: list[str]


def _err(workload: Workload, pid: int, msg: str) -> WorkloadError:
    name = workload.processes[pid].name
    return WorkloadError(f"workload {workload.name!r}, process {pid} ({name!r}): {msg}")


class _Translator:
    """Translates the processes of one workload (see the module docstring)."""

    def __init__(self, workload: Workload, page_size: int, replay: list[list[_VmaInst]] | None = None):
        self.w = workload
        # a replay hands out each process's VMA instances of an earlier translation, in order
        self._replay = None if replay is None else [deque(made) for made in replay]
        self.shift = page_size.bit_length() - 1
        self.obj_index = workload.object_index()
        sizes = [o.pages for o in workload.objects]
        self.obj_base = (
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64) if sizes else np.zeros(1, np.int64)
        )
        self.n_static = int(self.obj_base[-1])
        self.vma_specs: list[Vma] = []
        self.vma_pid: list[int] = []

    # -- VMAs ---------------------------------------------------------------
    def _new_vma(self, pid: int, spec: Vma, local: int) -> _VmaInst:
        if self._replay is not None:  # the same instances (global ids) as the first translation
            made = self._replay[pid]
            if not made or made[0].spec != spec or made[0].local != local:
                raise _err(self.w, pid, "read again, its stream maps other VMAs (did the source change?)")
            return made.popleft()
        base = -1
        if spec.obj is not None:
            if spec.obj not in self.obj_index:
                raise _err(self.w, pid, f"vma at vpn {spec.start_vpn} maps unknown object {spec.obj!r}")
            k = self.obj_index[spec.obj]
            obj = self.w.objects[k]
            if spec.offset < 0 or spec.offset + spec.pages > obj.pages:
                raise _err(
                    self.w,
                    pid,
                    f"vma at vpn {spec.start_vpn} maps pages [{spec.offset}, {spec.offset + spec.pages}) "
                    f"of object {spec.obj!r} which has {obj.pages} pages",
                )
            base = int(self.obj_base[k])
        gid = len(self.vma_specs)
        self.vma_specs.append(spec)
        self.vma_pid.append(pid)
        return _VmaInst(gid, local, spec, base)

    def _check_overlap(self, pid: int, current: list[_VmaInst], spec: Vma) -> None:
        for v in current:
            if spec.start_vpn < v.spec.end_vpn and v.spec.start_vpn < spec.end_vpn:
                raise _err(
                    self.w,
                    pid,
                    f"vma [{spec.start_vpn}, {spec.end_vpn}) overlaps "
                    f"vma [{v.spec.start_vpn}, {v.spec.end_vpn})",
                )

    # -- references ---------------------------------------------------------
    def _translate_refs(self, ops: np.ndarray, addrs: np.ndarray, current: list[_VmaInst]) -> np.ndarray:
        """Keys for a run of references against a fixed set of VMAs."""
        vpn = addrs >> self.shift
        out = np.full(vpn.shape, S.SEGV_UNMAPPED, dtype=np.int64)
        if not current or vpn.size == 0:
            return out
        order = sorted(current, key=lambda v: v.spec.start_vpn)
        starts = np.array([v.spec.start_vpn for v in order], dtype=np.int64)
        ends = np.array([v.spec.end_vpn for v in order], dtype=np.int64)
        idx = np.searchsorted(starts, vpn, side="right") - 1
        inside = (idx >= 0) & (vpn < ends[np.maximum(idx, 0)]) & (vpn >= 0)
        idx_c = np.maximum(idx, 0)
        can_r = np.array(["r" in v.spec.perms for v in order])
        can_w = np.array(["w" in v.spec.perms for v in order])
        can_x = np.array(["x" in v.spec.perms for v in order])
        allowed = np.where(
            ops == OP_WRITE, can_w[idx_c], np.where(ops == OP_EXEC, can_x[idx_c], can_r[idx_c])
        )
        local = np.array([v.local for v in order], dtype=np.int64)
        keys = (local[idx_c] << _VPN_BITS) | vpn
        out[inside & allowed] = keys[inside & allowed]
        out[inside & ~allowed] = S.SEGV_PROT
        return out

    def _find_vma(self, pid: int, current: list[_VmaInst], start_vpn: int, what: str) -> _VmaInst:
        for v in current:
            if v.spec.start_vpn == start_vpn:
                return v
        raise _err(self.w, pid, f"{what} of vpn {start_vpn}: no VMA starts there")

    def translate(self, pid: int, plans: list[_ProcPlan | None]) -> _ProcPlan:
        """Translate process ``pid`` (its parent, if any, is already translated)."""
        proc = self.w.processes[pid]
        ops = np.asarray(proc.ops, dtype=np.int8)
        args = np.asarray(proc.args, dtype=np.int64)
        if ops.shape != args.shape or ops.ndim != 1:
            raise _err(
                self.w,
                pid,
                f"ops and args must be 1-D arrays of one length, got {ops.shape} and {args.shape}",
            )
        bad = ~np.isin(ops, OP_CODES)
        if bad.any():
            j = int(np.argmax(bad))
            raise _err(self.w, pid, f"stream entry {j}: unknown op code {int(ops[j])}")
        touched: set[int] = set()  # keys with an allocated page (for fork inheritance)
        plan, current = self.begin(pid, plans, touched)
        keys, end = self.translate_entries(pid, proc, ops, args, plan, current, touched)
        plan.ops, plan.keys = ops[:end], keys[:end]
        if not (end and ops[end - 1] == EV_EXIT):
            plan.ops = np.concatenate([plan.ops, np.array([EV_EXIT], np.int8)])
            plan.keys = np.concatenate([plan.keys, np.zeros(1, np.int64)])
        ref_keys = plan.keys[(plan.ops < EV_MMAP) & (plan.keys >= 0)]
        plan.pte_keys = np.unique(np.concatenate([ref_keys, plan.inherited]))
        return plan

    def begin(
        self, pid: int, plans: list[_ProcPlan | None], touched: set[int] | None = None
    ) -> tuple[_ProcPlan, list[_VmaInst]]:
        """Process ``pid``'s plan with its address space as it starts, and its mapped VMAs.

        A root process maps its own VMAs; a forked one maps new instances of those its
        parent (translated already) had at the fork, and inherits the keys the parent's
        pages had there (``plan.inherited``, also added to ``touched`` if given).
        """
        proc = self.w.processes[pid]
        plan = _ProcPlan(ops=np.zeros(0, np.int8), keys=np.zeros(0, np.int64))
        current: list[_VmaInst] = []
        if proc.parent is None:
            for spec in proc.vmas:
                self._check_overlap(pid, current, spec)
                inst = self._new_vma(pid, spec, len(plan.vmas))
                plan.vmas.append(inst)
                current.append(inst)
            return plan, current
        parent = plans[proc.parent]
        if parent is None or pid not in parent.forks:
            raise _err(
                self.w, pid, f"parent {proc.parent} never forks it (fork events must precede the child)"
            )
        if proc.vmas:
            raise _err(self.w, pid, "a forked process inherits its address space and must not list vmas")
        snapshot, parent_keys = parent.forks[pid]
        remap: dict[int, int] = {}
        for pv in snapshot:
            inst = self._new_vma(pid, pv.spec, len(plan.vmas))
            plan.vmas.append(inst)
            current.append(inst)
            remap[pv.local] = inst.local
        lookup = np.zeros(max(remap, default=0) + 1, np.int64)
        lookup[list(remap)] = list(remap.values())
        parent_keys = np.asarray(parent_keys, dtype=np.int64)
        vpn_mask = (1 << _VPN_BITS) - 1
        plan.inherited = (lookup[parent_keys >> _VPN_BITS] << _VPN_BITS) | (parent_keys & vpn_mask)
        plan.inherited_parent = parent_keys
        if touched is not None:
            touched.update(plan.inherited.tolist())
        return plan, current

    def translate_entries(
        self,
        pid: int,
        proc,
        ops: np.ndarray,
        args: np.ndarray,
        plan: _ProcPlan,
        current: list[_VmaInst],
        touched: set[int] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Keys of a run of process ``pid``'s stream entries, its events applied in order; and how many ran.

        References between events are translated against ``current`` (PTE keys or
        SEGV codes), an event's key is its trace argument; the run stops after an
        EXIT (the count says where). ``touched`` (if given) collects the keys with a
        page, for fork inheritance.
        """
        keys = np.empty(ops.shape[0], np.int64)
        held = touched if touched is not None else set()

        def refs(lo: int, hi: int) -> None:
            if hi <= lo:
                return
            keys[lo:hi] = self._translate_refs(ops[lo:hi], args[lo:hi], current)
            ok = keys[lo:hi] >= 0
            if touched is not None and ok.any():
                touched.update(np.unique(keys[lo:hi][ok]).tolist())

        seg = 0
        for j in np.flatnonzero(ops >= EV_MMAP).tolist():
            refs(seg, j)
            keys[j] = self._event(pid, proc, int(ops[j]), int(args[j]), plan, current, held)
            seg = j + 1
            if ops[j] == EV_EXIT:
                return keys, seg
        refs(seg, ops.shape[0])
        return keys, ops.shape[0]

    def _event(
        self,
        pid: int,
        proc,
        code: int,
        arg: int,
        plan: _ProcPlan,
        current: list[_VmaInst],
        touched: set[int],
    ) -> int:
        """Apply one event to the address space; return its trace argument."""
        if code in (EV_MMAP, EV_MUNMAP, EV_MLOCK, EV_MUNLOCK, EV_FORK) and not 0 <= arg < len(proc.events):
            raise _err(
                self.w, pid, f"event payload index {arg} out of range (process has {len(proc.events)} events)"
            )
        if code == EV_MMAP:
            spec = proc.events[arg]
            if not isinstance(spec, Vma):
                raise _err(self.w, pid, f"mmap event {arg} payload must be a Vma, got {type(spec).__name__}")
            self._check_overlap(pid, current, spec)
            inst = self._new_vma(pid, spec, len(plan.vmas))
            plan.vmas.append(inst)
            current.append(inst)
            return inst.gid
        if code in (EV_MUNMAP, EV_MLOCK, EV_MUNLOCK):
            what = {EV_MUNMAP: "munmap", EV_MLOCK: "mlock", EV_MUNLOCK: "munlock"}[code]
            inst = self._find_vma(pid, current, int(proc.events[arg]), what)
            if code == EV_MUNMAP:
                current.remove(inst)
                touched.difference_update([k for k in touched if (k >> _VPN_BITS) == inst.local])
            return inst.gid
        if code == EV_FORK:
            child = proc.events[arg]
            if not isinstance(child, int | np.integer):
                what = type(child).__name__
                raise _err(self.w, pid, f"fork event {arg} payload must be a process index, got {what}")
            child = int(child)
            if not 0 <= child < len(self.w.processes) or self.w.processes[child].parent != pid:
                raise _err(self.w, pid, f"fork event names process {child}, whose parent is not {pid}")
            if child in plan.forks:
                raise _err(self.w, pid, f"process {child} is forked twice")
            private_locals = {v.local for v in current if not v.spec.shared}
            keys = np.array(sorted(k for k in touched if (k >> _VPN_BITS) in private_locals), dtype=np.int64)
            plan.forks[child] = (list(current), keys)
            return child
        return 0  # EV_EXIT


def _validate(workload: Workload, config: MachineConfig) -> None:
    if not isinstance(workload, Workload):
        raise WorkloadError(f"expected a workloads.Workload, got {type(workload).__name__}")
    if workload.page_size != config.page_size:
        raise WorkloadError(
            f"workload {workload.name!r} uses page size {workload.page_size} but the machine uses "
            f"{config.page_size}; build the workload with page_size={config.page_size}"
        )
    validate_processes(workload)


def validate_processes(workload: Workload) -> None:
    """Refuse a workload without processes, a parent that is not an earlier process, a negative start."""
    if not workload.processes:
        raise WorkloadError(f"workload {workload.name!r} has no processes")
    for pid, proc in enumerate(workload.processes):
        if proc.parent is not None and not 0 <= proc.parent < pid:
            raise _err(workload, pid, f"parent {proc.parent} must be an earlier process")
        if proc.parent is None and proc.start < 0:
            raise _err(workload, pid, f"start must be >= 0, got {proc.start}")


def _page_tables(plans: list[_ProcPlan], n_vmas: int) -> dict[str, np.ndarray]:
    """Global PTE ids, contiguous per process and per VMA, with their static attributes."""
    base = 0
    for plan in plans:
        plan.pte_base = base
        base += len(plan.pte_keys)
    out = {
        "pte_pid": np.zeros(base, np.int32),
        "pte_vpn": np.zeros(base, np.int64),
        "pte_vma": np.zeros(base, np.int64),
        "pte_static": np.full(base, -1, np.int64),
        "pte_flags": np.zeros(base, np.int64),
        "vma_pte_lo": np.zeros(n_vmas, np.int64),
        "vma_pte_hi": np.zeros(n_vmas, np.int64),
        "proc_pte_lo": np.array([p.pte_base for p in plans], np.int64),
        "proc_pte_hi": np.array([p.pte_base + len(p.pte_keys) for p in plans], np.int64),
    }
    for pid, plan in enumerate(plans):
        lo, hi = plan.pte_base, plan.pte_base + len(plan.pte_keys)
        local = plan.pte_keys >> _VPN_BITS
        out["pte_pid"][lo:hi] = pid
        out["pte_vpn"][lo:hi] = plan.pte_keys & ((1 << _VPN_BITS) - 1)
        for inst in plan.vmas:
            a = lo + int(np.searchsorted(local, inst.local, side="left"))
            b = lo + int(np.searchsorted(local, inst.local, side="right"))
            out["vma_pte_lo"][inst.gid], out["vma_pte_hi"][inst.gid] = a, b
            out["pte_vma"][a:b] = inst.gid
            spec = inst.spec
            flags = S.PTE_WRITABLE if "w" in spec.perms else 0
            if spec.obj is not None:
                flags |= S.PTE_SHARED if spec.shared else S.PTE_FILEPRIV
                out["pte_static"][a:b] = inst.obj_base + spec.offset + (out["pte_vpn"][a:b] - spec.start_vpn)
            out["pte_flags"][a:b] = flags
        refs = (plan.ops < EV_MMAP) & (plan.keys >= 0)
        plan.keys[refs] = plan.pte_base + np.searchsorted(plan.pte_keys, plan.keys[refs])
    return out


def _fork_pairs(plans: list[_ProcPlan], workload: Workload) -> dict[str, np.ndarray]:
    """Per forked child, the (parent PTE, child PTE) pairs it inherits."""
    fork_lo = np.zeros(len(plans), np.int64)
    fork_hi = np.zeros(len(plans), np.int64)
    parents: list[np.ndarray] = [np.zeros(0, np.int64)]
    children: list[np.ndarray] = [np.zeros(0, np.int64)]
    count = 0
    for pid, plan in enumerate(plans):
        fork_lo[pid] = count
        parent = workload.processes[pid].parent
        if parent is not None and plan.inherited.size:
            par = plans[parent]
            parents.append(par.pte_base + np.searchsorted(par.pte_keys, plan.inherited_parent))
            children.append(plan.pte_base + np.searchsorted(plan.pte_keys, plan.inherited))
            count += plan.inherited.size
        fork_hi[pid] = count
    return {
        "fork_lo": fork_lo,
        "fork_hi": fork_hi,
        "fork_parent_pte": np.concatenate(parents),
        "fork_child_pte": np.concatenate(children),
    }


def _global_trace(plans: list[_ProcPlan], workload: Workload, quantum: int) -> dict[str, np.ndarray]:
    """Interleave the translated streams into the global trace (with START events)."""
    ops: list[np.ndarray] = []
    args: list[np.ndarray] = []
    pids: list[np.ndarray] = []
    lines = [Timeline.of_ops(plan.ops, plan.keys) for plan in plans]  # (a fork's key: the child)
    starts = [p.start for p in workload.processes]
    parents = [p.parent for p in workload.processes]
    for pid, lo, hi in merged(schedule(lines, starts, parents, quantum)):
        if lo == 0 and parents[pid] is None:
            ops.append(np.array([S.E_START], np.int8))
            args.append(np.zeros(1, np.int64))
            pids.append(np.array([pid], np.int32))
        ops.append(plans[pid].ops[lo:hi])
        args.append(plans[pid].keys[lo:hi])
        pids.append(np.full(hi - lo, pid, np.int32))
    ref_pte = trace_column_int32(np.concatenate(args), workload.name)
    return {"ref_op": np.concatenate(ops), "ref_pte": ref_pte, "ref_pid": np.concatenate(pids)}


def trace_column_int32(column: np.ndarray, workload_name: str) -> np.ndarray:
    """The trace's PTE/argument column as int32; :class:`WorkloadError` if a value does not fit.

    int32 because each run streams the whole trace once: its width is memory bandwidth.
    """
    if column.size and max(column.max(), -column.min()) >= 1 << 31:
        raise WorkloadError(
            f"workload {workload_name!r} needs 2**31 or more page-table entries (or an event argument "
            "that large); the trace's PTE column is int32"
        )
    return column.astype(np.int32)


def load(workload: Workload, config: MachineConfig) -> LoadedWorkload:
    """Translate and schedule ``workload`` for ``config`` (see the module docstring)."""
    _validate(workload, config)
    tr = _Translator(workload, config.page_size)
    plans: list[_ProcPlan | None] = [None] * len(workload.processes)
    for pid in range(len(workload.processes)):
        plans[pid] = tr.translate(pid, plans)
    done: list[_ProcPlan] = [p for p in plans if p is not None]
    tables = _page_tables(done, len(tr.vma_specs))  # numbers the PTEs in the plans' keys: first
    return _loaded(workload, tr, done, tables, _global_trace(done, workload, config.quantum))


def load_address_space(
    workload: Workload, config: MachineConfig, pte_keys: list[np.ndarray]
) -> LoadedWorkload:
    """Load the fixed address spaces of an event-free ``workload`` with the PTEs ``pte_keys``.

    For a streamed run (:mod:`vmgym.streaming`), which translates and schedules the
    references itself, chunk by chunk: ``workload`` holds the processes' VMAs and the
    objects (their streams are ignored); ``pte_keys[k]`` are the sorted distinct
    ``(vma index << 40) | vpn`` keys process ``k``'s references reach, numbered as
    :func:`load` numbers them. The trace arrays are empty.
    """
    _validate(workload, config)
    tr = _Translator(workload, config.page_size)
    plans = []
    for pid in range(len(workload.processes)):
        plan, _mapped = tr.begin(pid, plans)
        plan.pte_keys = np.asarray(pte_keys[pid], np.int64)
        plans.append(plan)
    return load_plans(workload, config, tr, plans)


def load_plans(
    workload: Workload, config: MachineConfig, tr: _Translator, plans: list[_ProcPlan]
) -> LoadedWorkload:
    """The state arrays of processes already translated by ``tr`` (their VMA instances, PTE keys).

    For a streamed run: the trace arrays are empty (:func:`load_address_space`, and
    :mod:`vmgym.streaming.events`, whose plans hold the VMAs mmap events create).
    """
    _validate(workload, config)
    trace = {
        "ref_op": np.zeros(0, np.int8),
        "ref_pte": np.zeros(0, np.int32),
        "ref_pid": np.zeros(0, np.int32),
    }
    return _loaded(workload, tr, plans, _page_tables(plans, len(tr.vma_specs)), trace)


def _loaded(
    workload: Workload,
    tr: _Translator,
    done: list[_ProcPlan],
    tables: dict[str, np.ndarray],
    trace: dict[str, np.ndarray],
) -> LoadedWorkload:
    static_kind = np.zeros(tr.n_static, np.int8)
    for k, obj in enumerate(workload.objects):
        static_kind[tr.obj_base[k] : tr.obj_base[k + 1]] = S.KIND_SHM if obj.kind == "shm" else S.KIND_FILE
    return LoadedWorkload(
        **trace,
        **tables,
        **_fork_pairs(done, workload),
        n_static=tr.n_static,
        obj_base=tr.obj_base,
        vma_pid=np.array(tr.vma_pid, dtype=np.int64),
        static_kind=static_kind,
        vma_specs=tr.vma_specs,
        process_names=[p.name for p in workload.processes],
    )


def oracle_keys(lw: LoadedWorkload) -> tuple[np.ndarray, np.ndarray]:
    """Per-reference oracle identity and next-use position (one backward pass).

    The identity of a reference through a shared mapping is the object page;
    through a private mapping it is the PTE (the page a private PTE reaches can
    change at run time through copy-on-write). ``next[i]`` is the next position
    with the same identity, or ``INF``.
    """
    n = lw.ref_op.shape[0]
    key = np.full(n, -1, np.int64)
    refs = (lw.ref_op < S.EVENT_BASE) & (lw.ref_pte >= 0)
    p = lw.ref_pte[refs]
    shared = (lw.pte_flags[p] & S.PTE_SHARED) != 0
    key[refs] = np.where(shared, lw.pte_static[p], lw.n_static + p)
    nxt = np.full(n, S.INF, np.int64)
    pos = np.flatnonzero(refs)
    k = key[pos]
    order = np.argsort(k, kind="stable")
    sk = k[order]
    sp = pos[order]
    same = sk[:-1] == sk[1:]
    nxt[sp[:-1][same]] = sp[1:][same]
    return key, nxt
