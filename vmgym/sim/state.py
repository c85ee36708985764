"""The machine state: one NamedTuple of NumPy arrays shared by Python and the compiled kernel.

Everything the simulator knows lives here as struct-of-arrays, indexed by dense
integer ids: frames ``f``, pages ``g``, page-table entries ``p``, processes
``pid``, VMAs ``v`` and swap slots ``s``. Scalars live in ``sc`` (indices ``SC_*``).
Only the simulator kernel mutates it; everything else reads it.

Widths: the per-page and per-PTE links and flags that every fault touches
(``page_frame``, ``page_slot``, ``page_rmap``, ``pte_page``, ``pte_flags``, ...)
and the trace's PTE column are int32, which halves their cache footprint (the
simulator is memory-bound once the page tables outgrow L2); times, versions and
counters stay int64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from workloads.model import (
    EV_EXIT,
    EV_FORK,
    EV_MLOCK,
    EV_MMAP,
    EV_MUNLOCK,
    EV_MUNMAP,
    OP_EXEC,
    OP_READ,
    OP_WRITE,
)
from workloads.stackdist import NEVER

__all__ = ["SimState"]

# Reference ops and events in the global trace (workload codes plus the scheduler's START).
R_READ, R_WRITE, R_EXEC = OP_READ, OP_WRITE, OP_EXEC
E_MMAP, E_MUNMAP, E_MLOCK, E_MUNLOCK, E_FORK, E_EXIT = (
    EV_MMAP,
    EV_MUNMAP,
    EV_MLOCK,
    EV_MUNLOCK,
    EV_FORK,
    EV_EXIT,
)
E_START = 14
EVENT_BASE = EV_MMAP

# Translation results for references that do not map (pre-computed at load time).
SEGV_UNMAPPED = -1  # no VMA covers the address
SEGV_PROT = -2  # the VMA does not allow the access (write to read-only, exec of non-exec)

# PTE flag bits. The first four are hardware bits; the rest describe the mapping.
PTE_PRESENT = 1
PTE_ACCESSED = 2
PTE_DIRTY = 4
PTE_WRITABLE = 8  # the VMA allows writes
PTE_COW = 16  # write-protected for copy-on-write
PTE_LOCKED = 32  # in an mlocked VMA
PTE_SHARED = 64  # maps a shared object page (shm or MAP_SHARED file)
PTE_FILEPRIV = 128  # MAP_PRIVATE file mapping: reads see the file, a write makes a private copy
PTE_STATIC_BITS = PTE_WRITABLE | PTE_SHARED | PTE_FILEPRIV

# Page kinds.
KIND_ANON = 0  # private anonymous (swap-backed; ids allocated at run time)
KIND_SHM = 1  # shared anonymous segment (swap-backed; static ids)
KIND_FILE = 2  # file page (file-backed; static ids)
KIND_NAMES = ("anon", "shm", "file")

# Process states.
P_NEW, P_RUN, P_EXITED, P_SEGV, P_OOM = 0, 1, 2, 3, 4
PROC_STATE_NAMES = ("new", "running", "exited", "killed (segfault)", "killed (OOM)")

# Per-process statistics (rows of ``proc_stats``).
(
    ST_ACCESSES,  # derived: reads + writes + execs (filled in by stats.collect)
    ST_READS,
    ST_WRITES,
    ST_EXECS,
    ST_HITS,
    ST_TLB_HITS,
    ST_TLB_MISSES,
    ST_MINOR,
    ST_MAJOR,
    ST_ZERO_FILL,
    ST_SWAP_IN,
    ST_FILE_READ,
    ST_COW,
    ST_SEGV,
    ST_RSS,
    ST_PEAK_RSS,
    ST_TIME,
    ST_OOM_KILLED,
) = range(18)
N_PROC_STATS = 18
PROC_STAT_NAMES = (
    "accesses",
    "reads",
    "writes",
    "execs",
    "hits",
    "tlb_hits",
    "tlb_misses",
    "minor_faults",
    "major_faults",
    "zero_fills",
    "swap_ins",
    "file_reads",
    "cow_faults",
    "segfaults",
    "rss",
    "peak_rss",
    "time_ns",
    "oom_killed",
)

# Scalars (indices into ``sc``).
(
    SC_POS,  # next global trace position
    SC_TIME,  # simulated time [ns]
    SC_IO_FREE,  # time the I/O queue becomes idle [ns]
    SC_FREE_TOP,  # number of free frames on the free stack
    SC_SLOT_TOP,  # number of free swap slots on the slot stack
    SC_ANON_TOP,  # number of free anonymous page ids
    SC_PROTECT,  # frame that must not be evicted during the current fault (-1: none)
    SC_TLB_TICK,  # TLB LRU clock
    SC_CUR_PID,  # process on the CPU (-1: none yet)
    SC_CTX,  # context switches
    SC_OOM_KILLS,
    SC_EVICTIONS,
    SC_SWAP_OUTS,
    SC_FILE_WRITEBACKS,
    SC_CLEAN_DROPS,
    SC_IO_READS,
    SC_IO_WRITES,
    SC_IO_BUSY,  # total device busy time [ns]
    SC_IO_STALL,  # time the CPU waited for I/O [ns]
    SC_SEGVS,
    SC_DECISIONS,  # victims chosen (by the policy or the caller)
    SC_SWAP_USED,  # swap slots in use
    SC_PEAK_SWAP,
    SC_NOTES,  # hook calls queued in ``notes`` by the rare paths, not yet delivered
    SC_PF_WAIT,  # 1 while prefetches are queued or a prefetch decision is pending (one hot-loop test)
    SC_PF_HEAD,  # next entry of ``pf_queue`` to load
    SC_PF_LEN,  # entries in ``pf_queue``
    SC_PF_ASK,  # 1: the external prefetcher must decide for the fault SC_PF_FAULT_PTE
    SC_PF_FAULT_PTE,  # PTE of the last major fault (the external prefetch decision's context)
    SC_PF_ISSUED,  # pages read by prefetching
    SC_PF_USED,  # prefetched pages referenced before they left RAM
    SC_PF_WASTED,  # prefetched pages that left RAM unreferenced
    SC_IO_LAST,  # device location of the last read (2 * file page or 2 * slot + 1; -1: none)
    SC_LOCAL,  # victim restriction: -1 none, a pid (its frames), -2 over-quota owners, LOCAL_CHOSEN
    SC_QUOTA_WAIVED,  # 1: the fault in progress may exceed its process's quota (nothing of its own to evict)
    SC_ALLOC_NEXT,  # trace position from which the next fault recomputes the frame quotas
    SC_SWAP_RA_HITS,  # swap-cluster: prefetched pages used since the last swap-in
    SC_SWAP_RA_PREV,  # swap-cluster: slot of the last swap-in that saw no hits
    SC_SWAP_RA_WIN,  # swap-cluster: the last window [slots]
    SC_PF_FROM,  # first trace position that may load the queued prefetches (the reference after the fault)
    SC_BASE,  # global position of the first entry of the trace arrays (0 unless streamed in chunks)
) = range(41)
N_SC = 41
SC_NAMES = (
    "pos",
    "time_ns",
    "io_free_ns",
    "free_frames",
    "free_slots",
    "free_anon_ids",
    "protect",
    "tlb_tick",
    "cur_pid",
    "context_switches",
    "oom_kills",
    "evictions",
    "swap_outs",
    "file_writebacks",
    "clean_drops",
    "io_reads",
    "io_writes",
    "io_busy_ns",
    "io_stall_ns",
    "segfaults",
    "decisions",
    "swap_used",
    "peak_swap_used",
    "notes",
    "pf_wait",
    "pf_head",
    "pf_len",
    "pf_ask",
    "pf_fault_pte",
    "prefetch_issued",
    "prefetch_used",
    "prefetch_wasted",
    "io_last",
    "local",
    "quota_waived",
    "alloc_next",
    "swap_ra_hits",
    "swap_ra_prev",
    "swap_ra_win",
    "pf_from",
    "base",
)

# Cost array indices (order of CostModel fields).
(
    C_TLB_HIT,
    C_WALK,
    C_DRAM,
    C_MINOR,
    C_ZERO,
    C_COW,
    C_MAJOR,
    C_SWAP_R,
    C_SWAP_W,
    C_FILE_R,
    C_FILE_W,
    C_CTX,
    C_IO_BATCH,
) = range(13)

# Configuration array indices.
CF_TLB_SETS, CF_TLB_WAYS, CF_ASID, CF_SEGV_ERROR, CF_OOM_ERROR, CF_POLICY, CF_N_STATIC, CF_SEED = range(8)
CF_PREFETCH, CF_PF_A, CF_PF_B = 8, 9, 10  # prefetcher kind (PF_*) and its two parameters
CF_ALLOC, CF_WS_WINDOW = 11, 12  # frame allocation (ALLOC_*) and the working-set window [references]
CF_MLOCK = 13  # 1 if the trace has mlock events (else no page is ever pinned: evictable() skips page_pins)
CF_LENGTH = 14  # entries of the whole global trace (a streamed run's arrays hold one chunk of it)
CF_HOOKS = 15  # kernel id of the policy whose hooks run (a flow shared by a family dispatches on it)
N_CF = 16

LOCAL_OVER_QUOTA = -2  # SC_LOCAL: frames of processes above their quota
LOCAL_CHOSEN = -3  # SC_LOCAL: the frames flagged in ``frame_allow`` (Simulator.policy_choice)

# Frame allocation between processes (``cfg[CF_ALLOC]``).
ALLOC_GLOBAL, ALLOC_EQUAL, ALLOC_PROPORTIONAL, ALLOC_WORKING_SET = range(4)
ALLOC_NAMES = ("global", "equal", "proportional", "working-set")

# Prefetcher kinds (``cfg[CF_PREFETCH]``); the compiled code is in vmgym.prefetch.kernel.
PF_NONE, PF_READAHEAD, PF_SWAP_CLUSTER, PF_STRIDE, PF_MARKOV, PF_EXTERNAL = range(6)
# Columns of ``pf_proc`` (per-process prefetcher state).
PFP_NEXT, PFP_SIZE, PFP_LAST, PFP_STRIDE, PFP_MISS = range(5)  # PFP_MISS: readahead's mmap_miss
N_PFP = 5
MMAP_LOTSAMISS = 100  # readahead stops while a process's misses outnumber its readahead hits by this
PF_QUEUE_CAP = 1024  # most pages one prefetch decision may queue

# Kernel status codes.
S_OK = 0  # reference completed (internal)
S_NEED_FRAME = 1  # a fault needs a frame and none is free (internal)
S_LOADED = 2  # the fault filled a frame (internal)
ST_DONE = 0
ST_NEED_VICTIM = 1
ST_SEGV_ERROR = 2
ST_OOM_ERROR = 3
ST_STOPPED = 4
ST_DEADLOCK = 5
ST_NEED_PREFETCH = 6  # a major fault completed; the external prefetcher must choose (then run again)

INF = NEVER  # "never used again" (workloads.stackdist, whose next-use pass writes it)


def interleaved_rows(rows: int, n: int) -> np.ndarray:
    """A zeroed int32 ``[rows, n]`` array stored id-major: ``a[0, i] .. a[rows - 1, i]`` are adjacent.

    For policy state read together per id (a ghost page's links and tag): one
    cache line per page instead of one per row, and half the bytes of int64.
    At least 2 x 2 (unused rows and columns are spare), so that the array is
    always Fortran-ordered and never also C-ordered: numba then compiles every
    kernel that takes the state once, whatever the policy.
    """
    return np.zeros((max(n, 2), max(rows, 2)), dtype=np.int32).T


class SimState(NamedTuple):
    """All machine state as arrays (see the module docstring for the id spaces)."""

    # global trace (read-only after load); entry k is global position sc[SC_BASE] + k (a streamed
    # run replaces these arrays chunk by chunk, see vmgym.streaming)
    ref_op: np.ndarray  # int8 [n_refs]
    ref_pte: np.ndarray  # int32 [n_refs]: PTE id, SEGV_*, or the event argument
    ref_pid: np.ndarray  # int32 [n_refs]
    ref_key: np.ndarray  # int64 [n_refs or 0]: oracle identity of the referenced data
    ref_next: np.ndarray  # int64 [n_refs or 0]: next position with the same key (INF: none)
    # frames
    frame_page: np.ndarray
    frame_ver: np.ndarray
    frame_in: np.ndarray  # trace position when the page was loaded
    frame_last: np.ndarray  # trace position of the last access
    frame_count: np.ndarray  # accesses since loaded
    frame_gap: np.ndarray  # references between the page's last two uses while resident (-1: one use)
    frame_ready: np.ndarray  # time its pending write-back or prefetch read completes [ns]
    frame_pf: np.ndarray  # int8: 1 prefetched and not referenced yet, 2 the same and the readahead marker
    frame_owner: np.ndarray  # pid the frame is charged to (the process whose fault filled it), -1 free
    frame_allow: np.ndarray  # int8 scratch: the subset Simulator.policy_choice asks the policy about
    free_stack: np.ndarray
    # pages
    page_frame: np.ndarray
    page_slot: np.ndarray
    page_ver: np.ndarray  # the latest version (incremented by every write)
    page_kind: np.ndarray
    page_dirty: np.ndarray
    page_rmap: np.ndarray  # head PTE of the reverse map (-1: none)
    page_mapcount: np.ndarray
    page_pins: np.ndarray  # PTEs in mlocked VMAs that map it
    page_filever: np.ndarray  # version stored in the file (file pages)
    page_owner: np.ndarray  # pid that created it (anon) or -1
    page_vpn: np.ndarray  # vpn it was created at (anon) or object offset
    anon_free: np.ndarray
    # page-table entries
    pte_page: np.ndarray
    pte_flags: np.ndarray
    pte_pid: np.ndarray
    pte_vpn: np.ndarray
    pte_vma: np.ndarray
    pte_static: np.ndarray  # object page for shared/file mappings, -1 for anonymous
    pte_rmap_next: np.ndarray
    # processes, VMAs, forks
    proc_state: np.ndarray
    proc_pte_lo: np.ndarray
    proc_pte_hi: np.ndarray
    proc_stats: np.ndarray  # int64 [N_PROC_STATS, n_procs]
    proc_quota: np.ndarray  # frames a process may hold under local allocation (0: not running)
    proc_frames: np.ndarray  # frames charged to each process
    pte_mark: np.ndarray  # scratch of the working-set quota pass (empty unless allocation="working-set")
    vma_pte_lo: np.ndarray
    vma_pte_hi: np.ndarray
    vma_pid: np.ndarray
    fork_lo: np.ndarray  # per child pid: range into fork_parent_pte / fork_child_pte
    fork_hi: np.ndarray
    fork_parent_pte: np.ndarray
    fork_child_pte: np.ndarray
    # swap device
    slot_page: np.ndarray
    slot_ver: np.ndarray
    slot_free: np.ndarray
    # TLB
    tlb_tag: np.ndarray  # PTE id cached, -1 invalid
    tlb_stamp: np.ndarray
    # oracle next use per key (OPT only)
    key_next: np.ndarray
    # policy state (layout owned by the policy)
    pol_f: np.ndarray  # int64 [rows, n_frames]
    pol_p: np.ndarray  # int32 [>= rows, >= n_pages], page-major (interleaved_rows)
    pol_g: np.ndarray  # int64 [rows]
    # prefetching (vmgym.prefetch): per-process state, Markov successors, queued pages, object bounds
    pf_proc: np.ndarray  # int64 [n_procs, N_PFP]
    pf_table: np.ndarray  # int64 [rows, n_pages]: successors of each page, most recent first (-1: none)
    pf_queue: np.ndarray  # int64 [PF_QUEUE_CAP]: (page << 1) | marker
    obj_base: np.ndarray  # int64 [n_objects + 1]: first static page id of each object
    # hook calls queued by the rare paths (exit, munmap, fork, copy-on-write): (arg << 3) | NOTE_*
    notes: np.ndarray
    # scalars, costs, configuration
    sc: np.ndarray
    cost: np.ndarray
    cfg: np.ndarray

    @property
    def n_frames(self) -> int:
        """RAM size in frames."""
        return int(self.frame_page.shape[0])

    @property
    def n_procs(self) -> int:
        """Number of processes in the workload (including forked children)."""
        return int(self.proc_state.shape[0])


# Hook calls that the rare paths (compiled once, shared by every policy) queue in
# ``notes`` for the policy-specific flow to deliver right after they return.
NOTE_REMOVE = 1  # arg: frame whose page was freed (released and on_remove(evicted=False) on delivery)
NOTE_PAGE_FREE = 2  # arg: page id that stopped existing (on_page_free)
NOTE_META = 3  # arg: frame whose page's mappings changed (on_meta)
NOTE_INSERT = 4  # arg: frame filled by a copy-on-write copy (on_insert)
