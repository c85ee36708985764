"""The Python face of the simulator: load, run whole, or step decision by decision.

Two ways to drive it:

- **Whole run, compiled policy.** ``Simulator(workload, config, "lru").run()``
  never leaves compiled code except to report progress.
- **Decision by decision.** With ``policy=None`` the simulator stops whenever a
  victim must be chosen::

      sim = Simulator(workload, config, policy=None)
      while sim.advance():               # runs compiled until a decision is needed
          frame = my_choice(sim.candidates())
          sim.evict(frame)               # then advance() resumes the faulting reference
      stats = sim.stats()

  A Python callable ``policy(sim) -> frame`` is driven the same way by :meth:`run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np

from vmgym import policies
from vmgym import prefetch as _prefetch_module  # the name `prefetch` is also an argument
from vmgym.policies.hooks import EXTERNAL
from vmgym.prefetch.kernel import push_offsets, push_pages
from vmgym.sim import farcall, kernel
from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.invariants import check_invariants
from vmgym.sim.loader import LoadedWorkload, load, oracle_keys
from vmgym.sim.specialize import flow_for
from vmgym.sim.stats import RunStats, collect
from workloads.model import Workload


class SimulationError(RuntimeError):
    """The simulation cannot go on (see the subclasses)."""


class SegmentationFault(SimulationError):
    """A process touched memory outside its VMAs or against their permissions (``segfault="error"``)."""


class OutOfMemory(SimulationError):
    """RAM and swap are full (``oom="error"``), or nothing at all can be freed."""


@dataclass(frozen=True)
class Mapping:
    """One (process, vpn) translation: PTE id, page id, frame (-1: not resident), PTE flags, version."""

    pid: int
    vpn: int
    pte: int
    page: int
    frame: int
    flags: int
    version: int
    kind: str

    @property
    def present(self) -> bool:
        """The PTE maps a frame."""
        return bool(self.flags & S.PTE_PRESENT)


class InvalidAction(ValueError):
    """An eviction choice that is not an evictable frame; nothing was changed."""


PythonPolicy = Callable[["Simulator"], int]


def _build_state(
    lw: LoadedWorkload,
    config: MachineConfig,
    policy: policies.Policy | None,
    oracle: bool,
    pf: _prefetch_module.Prefetcher,
    caller_decides: bool = False,
    feed: Feed | None = None,
) -> S.SimState:
    F = config.frames
    n_ptes = lw.pte_pid.shape[0]
    n_private = int(np.count_nonzero((lw.pte_flags & S.PTE_SHARED) == 0))
    G = lw.n_static + n_private
    P = lw.proc_pte_lo.shape[0]
    i64 = np.int64
    i32 = np.int32

    def full(n, v=-1, dtype=i64):
        return np.full(n, v, dtype=dtype)

    page_kind = np.full(G, S.KIND_ANON, dtype=np.int8)
    page_kind[: lw.n_static] = lw.static_kind
    page_vpn = full(G)
    for k in range(len(lw.obj_base) - 1):
        page_vpn[lw.obj_base[k] : lw.obj_base[k + 1]] = np.arange(lw.obj_base[k + 1] - lw.obj_base[k])
    if oracle and feed is not None:
        ref_key, ref_next, key_next = feed.oracle_arrays()
    elif oracle:
        ref_key, ref_next = oracle_keys(lw)
        key_next = np.full(lw.n_static + n_ptes, S.INF, dtype=i64)
        refs = ref_key >= 0
        keys, first = np.unique(ref_key[refs], return_index=True)
        key_next[keys] = np.flatnonzero(refs)[first]
    else:
        ref_key = ref_next = key_next = np.zeros(0, dtype=i64)
    if policy:
        policy.check_trace_length(lw.ref_op.shape[0] if feed is None else feed.length)
    rows_f = policy.frame_rows if policy else 0
    rows_p = policy.page_rows if policy else 0
    rows_g = policy.global_rows if policy else 0
    pol_f = np.zeros((rows_f, F), dtype=i64)
    pol_p = S.interleaved_rows(rows_p, G)
    pol_g = np.zeros(rows_g, dtype=i64)
    if policy:
        policy.init_state(pol_f, pol_p, pol_g)
    sc = np.zeros(S.N_SC, dtype=i64)
    sc[S.SC_FREE_TOP] = F
    sc[S.SC_SLOT_TOP] = config.swap_slots
    sc[S.SC_ANON_TOP] = G - lw.n_static
    sc[S.SC_PROTECT] = -1
    sc[S.SC_CUR_PID] = -1
    cfg = np.zeros(S.N_CF, dtype=i64)
    cfg[S.CF_LENGTH] = lw.ref_op.shape[0] if feed is None else feed.length
    cfg[S.CF_TLB_SETS] = config.tlb_entries // config.tlb_ways if config.tlb_entries else 0
    cfg[S.CF_TLB_WAYS] = config.tlb_ways
    cfg[S.CF_ASID] = int(config.tlb_asid)
    cfg[S.CF_SEGV_ERROR] = int(config.segfault == "error")
    cfg[S.CF_OOM_ERROR] = int(config.oom == "error")
    cfg[S.CF_POLICY] = policy.kernel_id if policy and not caller_decides else EXTERNAL
    cfg[S.CF_HOOKS] = policy.kernel_id if policy else EXTERNAL
    cfg[S.CF_N_STATIC] = lw.n_static
    cfg[S.CF_ALLOC] = S.ALLOC_NAMES.index(config.allocation)
    cfg[S.CF_WS_WINDOW] = config.ws_window
    cfg[S.CF_MLOCK] = int(np.any(lw.ref_op == S.E_MLOCK)) if feed is None else int(feed.mlock)
    sc[S.SC_LOCAL] = -1
    cfg[S.CF_PREFETCH] = pf.code
    cfg[S.CF_PF_A], cfg[S.CF_PF_B] = pf.kernel_args()
    sc[S.SC_IO_LAST] = -1
    pf_proc = np.zeros((P, S.N_PFP), dtype=i64)
    pf_proc[:, S.PFP_NEXT] = -1
    pf_proc[:, S.PFP_LAST] = -1
    return S.SimState(
        ref_op=lw.ref_op,
        ref_pte=lw.ref_pte,
        ref_pid=lw.ref_pid,
        ref_key=ref_key,
        ref_next=ref_next,
        frame_page=full(F),
        frame_ver=np.zeros(F, i64),
        frame_in=full(F),
        frame_last=full(F),
        frame_count=np.zeros(F, i64),
        frame_gap=full(F),
        frame_ready=np.zeros(F, i64),
        frame_pf=np.zeros(F, np.int8),
        frame_owner=full(F),
        frame_allow=np.zeros(F, np.int8),
        free_stack=np.arange(F - 1, -1, -1, dtype=i64),
        page_frame=full(G, dtype=i32),
        page_slot=full(G, dtype=i32),
        page_ver=np.zeros(G, i64),
        page_kind=page_kind,
        page_dirty=np.zeros(G, np.int8),
        page_rmap=full(G, dtype=i32),
        page_mapcount=np.zeros(G, i32),
        page_pins=np.zeros(G, i32),
        page_filever=np.zeros(G, i64),
        page_owner=full(G),
        page_vpn=page_vpn,
        anon_free=np.arange(G - 1, lw.n_static - 1, -1, dtype=i64),
        pte_page=full(n_ptes, dtype=i32),
        pte_flags=lw.pte_flags.astype(i32),
        pte_pid=lw.pte_pid,
        pte_vpn=lw.pte_vpn,
        pte_vma=lw.pte_vma,
        pte_static=lw.pte_static,
        pte_rmap_next=full(n_ptes, dtype=i32),
        proc_state=np.zeros(P, i64),
        proc_pte_lo=lw.proc_pte_lo,
        proc_pte_hi=lw.proc_pte_hi,
        proc_stats=np.zeros((S.N_PROC_STATS, P), i64),
        proc_quota=np.zeros(P, i64),
        proc_frames=np.zeros(P, i64),
        pte_mark=np.zeros(n_ptes if config.allocation == "working-set" else 0, i64),
        vma_pte_lo=lw.vma_pte_lo,
        vma_pte_hi=lw.vma_pte_hi,
        vma_pid=lw.vma_pid,
        fork_lo=lw.fork_lo,
        fork_hi=lw.fork_hi,
        fork_parent_pte=lw.fork_parent_pte,
        fork_child_pte=lw.fork_child_pte,
        slot_page=full(config.swap_slots),
        slot_ver=np.zeros(config.swap_slots, i64),
        slot_free=np.arange(config.swap_slots - 1, -1, -1, dtype=i64),
        tlb_tag=full(config.tlb_entries),
        tlb_stamp=np.zeros(config.tlb_entries, i64),
        key_next=key_next,
        pol_f=pol_f,
        pol_p=pol_p,
        pol_g=pol_g,
        pf_proc=pf_proc,
        pf_table=np.full((pf.table_rows, G), -1, dtype=i64),
        pf_queue=np.zeros(S.PF_QUEUE_CAP, dtype=i64),
        obj_base=np.asarray(lw.obj_base, dtype=i64),
        # a rare path queues at most 2 notes per PTE it touches; a prefetch load one per queued page
        notes=np.zeros(2 * n_ptes + 8 + S.PF_QUEUE_CAP, i64),
        sc=sc,
        cost=config.costs.as_array(),
        cfg=cfg,
    )


class Feed(Protocol):
    """What a streamed run needs from its source (implemented by :class:`vmgym.streaming.ChunkFeed`).

    Loading gives a :class:`LoadedWorkload` whose trace arrays are the first
    chunk; :meth:`next_chunk` swaps the next chunk into the state.
    """

    loaded: LoadedWorkload
    length: int  # trace entries in all (references and the START/EXIT events)
    mlock: bool  # any mlock event in the whole trace (not only the first chunk)

    def oracle_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first chunk's ``ref_key``, ``ref_next`` and the initial ``key_next``."""

    def exhausted(self, st: S.SimState) -> bool:
        """True if the state holds the last chunk."""

    def next_chunk(self, st: S.SimState) -> S.SimState:
        """The state with the next chunk's trace arrays (and ``sc[SC_BASE]`` moved on)."""


class Simulator:
    """A machine running one workload under one replacement policy.

    ``policy`` is a registered name (``"lru"``), a :class:`~vmgym.policies.Policy`,
    a Python callable ``policy(sim) -> frame`` or ``None`` (the caller decides
    through :meth:`advance` / :meth:`evict`). ``prefetch`` is a prefetcher name
    (``"readahead"``, ``"swap-cluster:page_cluster=2"``, see :mod:`vmgym.prefetch`),
    an instance, None (demand paging), ``"external"`` (the caller decides at
    each major fault, see :meth:`prefetch_pages`) or a callable ``prefetch(sim)``
    called at each major fault that queues pages the same way. ``oracle=True`` computes the
    next-use array even for a non-oracle policy (for :meth:`next_use`).
    ``decide="caller"`` keeps a compiled policy's bookkeeping running (its hooks
    see every hit, load and eviction) but stops at every victim as with
    ``policy=None``; :meth:`policy_choice` then asks the policy for its choice.

    ``workload`` may also be a :class:`workloads.stream.RefStream` (a long generated
    workload or a trace file; events ride in it; a trace of several processes as a
    :class:`workloads.stream.ProcessRefStream`, processes with events and forks as a
    :class:`workloads.stream.ProcessStreams`): the trace is then
    loaded and simulated ``chunk`` references at a time, with memory bounded by
    the footprint and the chunk, not the trace length (see :mod:`vmgym.streaming`);
    the results equal the whole trace's bit for bit. With OPT (or ``oracle=True``) the
    constructor then reads the stream again and computes next uses, which takes about
    as long as a run: ``loading(what, done, total)``, if given, hears that progress.

    The compiled loop is the policy's family's (:mod:`vmgym.sim.specialize`), or with
    ``own_flow=True`` the policy's own: the same results, a shorter first compile
    when no other member of the family runs, and ~3 % more speed.
    """

    def __init__(
        self,
        workload: Workload,
        config: MachineConfig | None = None,
        policy: str | policies.Policy | PythonPolicy | None = "lru",
        *,
        prefetch: str | _prefetch_module.Prefetcher | Callable[[Simulator], None] | None = None,
        decide: str = "policy",
        oracle: bool = False,
        chunk: int | None = None,
        own_flow: bool = False,
        loading: Callable[[str, int, int], None] | None = None,
    ):
        self.config = config if config is not None else MachineConfig()
        self.workload = workload
        self.python_policy: PythonPolicy | None = None
        if policy is None or (callable(policy) and not isinstance(policy, policies.Policy)):
            self.python_policy = policy
            self.policy: policies.Policy | None = None
            self.policy_name = getattr(policy, "__name__", "external") if policy else "external"
        else:
            self.policy = policies.make(policy)
            self.policy_name = self.policy.name
        self.python_prefetch: Callable[[Simulator], None] | None = None
        if callable(prefetch) and not isinstance(prefetch, _prefetch_module.Prefetcher):
            self.python_prefetch = prefetch
            prefetch = "external"
        self.prefetcher = _prefetch_module.make(prefetch)
        need_oracle = oracle or bool(self.policy and self.policy.oracle)
        if decide not in ("policy", "caller"):
            raise ValueError(f"decide must be 'policy' or 'caller', got {decide!r}")
        self._feed: Feed | None = None
        if isinstance(workload, Workload):
            if chunk is not None:
                raise ValueError("chunk applies to a streamed workload (workloads.stream.RefStream)")
            self.loaded = load(workload, self.config)
        else:
            from vmgym.streaming import open_feed

            self._feed = open_feed(workload, self.config, oracle=need_oracle, chunk=chunk, loading=loading)
            self.loaded = self._feed.loaded
        self.caller_decides = decide == "caller" or self.policy is None
        self.state = _build_state(
            self.loaded,
            self.config,
            self.policy,
            need_oracle,
            self.prefetcher,
            self.caller_decides,
            self._feed,
        )
        self._state_type = numba.typeof(self.state)  # the same for every chunk of a stream
        farcall.bind(self._state_type)  # the shared kernels the flow calls (vmgym.sim.farcall)
        self._flow = flow_for(self.policy, solo=own_flow)  # the kernels compiled for this policy
        self._loop = 0  # the native address of its loop, entered through kernel.run (_loop_address)
        self._status = S.ST_STOPPED

    # -- running -------------------------------------------------------------
    @property
    def position(self) -> int:
        """Index of the next entry of the global trace."""
        return int(self.state.sc[S.SC_POS])

    @property
    def length(self) -> int:
        """Number of entries (references and events) in the global trace."""
        return int(self.state.ref_op.shape[0]) if self._feed is None else self._feed.length

    @property
    def done(self) -> bool:
        """True once the whole trace has been processed."""
        return self._status == S.ST_DONE

    @property
    def pending(self) -> str | None:
        """The decision the simulator waits for: ``"victim"``, ``"prefetch"`` or None."""
        return {S.ST_NEED_VICTIM: "victim", S.ST_NEED_PREFETCH: "prefetch"}.get(self._status)

    def raise_for_status(self, status: int) -> int:
        """Record a kernel status code (``ST_*``) and raise the error it reports, if any; return it."""
        self._status = status
        if status == S.ST_SEGV_ERROR:
            i = self.position
            k = i - int(self.state.sc[S.SC_BASE])
            pid = int(self.state.ref_pid[k])
            code = int(self.state.ref_pte[k])
            why = "outside every VMA" if code == S.SEGV_UNMAPPED else "not permitted by its VMA"
            raise SegmentationFault(
                f"process {pid} ({self.loaded.process_names[pid]!r}) at trace position {i}: access {why}"
            )
        if status == S.ST_OOM_ERROR:
            raise OutOfMemory(f"out of memory at trace position {self.position}: RAM and swap are full")
        if status == S.ST_DEADLOCK:
            raise OutOfMemory(
                f"no frame can be freed at trace position {self.position}: every frame is pinned or "
                "unreclaimable and no running process holds memory"
            )
        return status

    def _loop_address(self) -> int:
        """The native address of the policy's compiled loop (compiled or loaded from cache on first call)."""
        if not self._loop:
            self._loop = farcall.loop_address(self._flow._run, self._state_type)
        return self._loop

    def _step(self, stop: int) -> int:
        loop = self._loop_address()
        while True:
            status = self.raise_for_status(int(kernel.run(self.state, stop, loop)))
            if status != S.ST_DONE or not self.next_chunk():
                return status

    def next_chunk(self) -> bool:
        """Swap the next chunk of a streamed run into :attr:`state` (True); False if there is none.

        :meth:`advance` and :meth:`run` do this themselves; a caller that runs the
        compiled loop directly (the envs) calls it when the loop stops at a chunk's end.
        """
        if self._feed is None or self._feed.exhausted(self.state):
            return False
        self.state = self._feed.next_chunk(self.state)
        return True

    def advance(self, stop: int | None = None) -> bool:
        """Run until a decision is needed (True; see :attr:`pending`), the trace ends or ``stop``."""
        status = self._step(self.length if stop is None else stop)
        return status in (S.ST_NEED_VICTIM, S.ST_NEED_PREFETCH)

    def run(self, progress: Callable[[int, int], None] | None = None, chunk: int = 1 << 22) -> RunStats:
        """Run to the end and return the statistics.

        ``progress(done, total)`` is called between chunks of ``chunk`` trace entries.
        """
        total = self.length
        while True:
            stop = total if progress is None else min(total, self.position + chunk)
            status = self._step(stop)
            if status == S.ST_NEED_VICTIM:
                if self.python_policy is None:
                    raise SimulationError(
                        "a victim is needed: pass a policy, or drive with advance()/evict()"
                    )
                self.evict(self.python_policy(self))
            elif status == S.ST_NEED_PREFETCH:
                if self.python_prefetch is None:
                    raise SimulationError(
                        "a prefetch decision is needed: pass a prefetch callable, or drive with "
                        "advance()/prefetch_pages()"
                    )
                self.python_prefetch(self)
            elif status == S.ST_DONE:
                break
            elif progress is not None:
                progress(self.position, total)
        if progress is not None:
            progress(total, total)
        return self.stats()

    # -- decisions -----------------------------------------------------------
    def candidates(self) -> np.ndarray:
        """Frames that may be evicted now (not free, not pinned, not the copy-on-write source)."""
        return np.flatnonzero(_evictable_mask(self.state))

    def evict(self, frame: int) -> None:
        """Evict the page in ``frame`` (must be one of :meth:`candidates`)."""
        f = int(frame)
        if not 0 <= f < self.config.frames:
            raise InvalidAction(f"frame {frame} out of range [0, {self.config.frames})")
        if not bool(_evictable_mask(self.state)[f]):
            raise InvalidAction(
                f"frame {f} is not an eviction candidate (free, pinned or in use by the fault)"
            )
        self._flow.evict(self.state, f)
        self.state.sc[S.SC_DECISIONS] += 1

    def fault_context(self) -> dict[str, int | str]:
        """The major fault a prefetch decision is for: pid, vpn, pte, page, kind."""
        st = self.state
        p = int(st.sc[S.SC_PF_FAULT_PTE])
        g = int(st.pte_page[p])
        return {
            "pid": int(st.pte_pid[p]),
            "vpn": int(st.pte_vpn[p]),
            "pte": p,
            "page": g,
            "kind": S.KIND_NAMES[int(st.page_kind[g])],
        }

    def prefetch_pages(self, pages: Any) -> None:
        """Queue page ids to read before the next reference (resident or unbacked pages are skipped)."""
        arr = np.asarray(pages, dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.state.page_frame.shape[0]):
            raise InvalidAction(f"page ids must be in [0, {self.state.page_frame.shape[0]}), got {pages!r}")
        push_pages(self.state, arr)

    def prefetch_offsets(self, first: int, count: int, step: int = 1) -> None:
        """Queue the pages at offsets ``first + j * step`` (j < count) from the faulting page.

        Offsets are object pages for file and shared-memory pages and virtual pages
        within the VMA for anonymous pages; pages outside the object or VMA are skipped.
        """
        if not 0 <= count <= S.PF_QUEUE_CAP:
            raise InvalidAction(f"count must be in [0, {S.PF_QUEUE_CAP}], got {count}")
        st = self.state
        p = int(st.sc[S.SC_PF_FAULT_PTE])
        push_offsets(st, st.pte_page[p], p, first, count, step, False)

    def policy_choice(self, frames: Any = None) -> int:
        """The frame the policy would evict now among ``frames`` (default: all candidates).

        For ``decide="caller"``: the policy's hooks have followed every hit,
        load and eviction (whoever chose it), so this is its own victim rule
        restricted to ``frames``. Its victim search may update its state (a
        Clock hand moves, reference bits are cleared) as it would when evicting.
        """
        if self.policy is None:
            raise SimulationError("policy_choice() needs a policy (Simulator(..., policy, decide='caller'))")
        st = self.state
        allowed = self.candidates() if frames is None else np.asarray(frames, dtype=np.int64).reshape(-1)
        mask = _evictable_mask(st)
        if allowed.size == 0 or not mask[allowed].all():
            raise InvalidAction(f"policy_choice needs evictable frames (see candidates()), got {frames!r}")
        st.frame_allow[:] = 0
        st.frame_allow[allowed] = 1
        saved = int(st.sc[S.SC_LOCAL])
        st.sc[S.SC_LOCAL] = S.LOCAL_CHOSEN
        try:
            f = int(self._flow.choose_victim(st))
        finally:
            st.sc[S.SC_LOCAL] = saved
        if f < 0:
            raise SimulationError(f"policy {self.policy_name!r} found no victim among {allowed.tolist()}")
        return f

    def next_use(self, frame: int) -> int:
        """Trace position of the next use of the page in ``frame`` (needs ``oracle=True``)."""
        from vmgym.policies.opt import page_next_use

        if self.state.ref_key.shape[0] == 0:
            raise SimulationError("next_use needs Simulator(..., oracle=True)")
        return int(page_next_use(self.state, int(self.state.frame_page[frame])))

    # -- inspection ----------------------------------------------------------
    def mapping(self, pid: int, vpn: int) -> Mapping:
        """What process ``pid`` has at virtual page ``vpn`` now (its PTE, page and frame)."""
        st = self.state
        lo, hi = int(st.proc_pte_lo[pid]), int(st.proc_pte_hi[pid])
        hits = np.flatnonzero(st.pte_vpn[lo:hi] == vpn) + lo
        live = [int(p) for p in hits if st.pte_page[p] >= 0]
        if not live:
            return Mapping(pid, vpn, -1 if not len(hits) else int(hits[-1]), -1, -1, 0, 0, "none")
        p = live[-1]
        g = int(st.pte_page[p])
        return Mapping(
            pid=pid,
            vpn=vpn,
            pte=p,
            page=g,
            frame=int(st.page_frame[g]),
            flags=int(st.pte_flags[p]),
            version=int(st.page_ver[g]),
            kind=S.KIND_NAMES[int(st.page_kind[g])],
        )

    def stats(self) -> RunStats:
        """Statistics so far."""
        return collect(self.state, self.policy_name, self.loaded.process_names)

    def check_invariants(self) -> None:
        """Raise :class:`~vmgym.sim.invariants.InvariantError` if the state is inconsistent."""
        check_invariants(self.state)

    def describe(self) -> dict[str, Any]:
        """Configuration snapshot for run records."""
        return {
            "workload": self.workload.name,
            "policy": self.policy_name,
            "policy_params": dict(self.policy.values) if self.policy else {},
            "prefetch": self.prefetcher.describe(),
            "machine": self.config.to_dict(),
        }


def _evictable_mask(st: S.SimState) -> np.ndarray:
    out = np.zeros(st.frame_page.shape[0], dtype=np.bool_)
    kernel.evictable_mask(st, out)
    return out


def simulate(
    workload: Workload,
    policy: str | policies.Policy | PythonPolicy = "lru",
    config: MachineConfig | None = None,
    **config_fields: Any,
) -> RunStats:
    """One-call run: ``simulate(workload, "lru", frames=100)``.

    Extra keyword arguments build the :class:`MachineConfig` (defaults otherwise).
    """
    if config is not None and config_fields:
        raise TypeError("pass either config or config fields, not both")
    cfg = config or MachineConfig(page_size=workload.page_size, **config_fields)
    return Simulator(workload, cfg, policy).run()
