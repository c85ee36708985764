"""Prefetchers: what the simulator reads ahead after a major fault.

>>> from vmgym import prefetch
>>> prefetch.make("readahead", maximum=64)
Readahead(initial=4, maximum=64)

A prefetcher is chosen per run (``Simulator(..., prefetch="readahead")``,
``vmgym compare --prefetch readahead``). Its compiled half
(:mod:`vmgym.prefetch.kernel`) queues pages after each major fault; the simulator
reads them before the next reference, reclaiming frames through the replacement
policy when none is free (a prefetch is dropped, never an OOM kill, if nothing
can be reclaimed). Accounting, common to all prefetchers:

- A prefetched page costs a device read on the one I/O queue, so wasted
  prefetches delay demand faults. The read is asynchronous: the CPU waits only
  when the page is first referenced before the read completes. A read of the
  device location right after the previous read's (next swap slot, next file
  page) costs ``CostModel.io_batch_page``; any other costs a full read.
- A prefetched page sits in RAM unmapped (page cache / swap cache): its first
  reference is a minor fault, counted as ``prefetch_used``. A prefetched page that
  leaves RAM (eviction, exit, unmap) before any reference is ``prefetch_wasted``.
  ``prefetch_issued`` - used - wasted are still resident and unreferenced.
- The replacement policy hears of a prefetched page through ``on_insert``, like a
  demand load; its PTE accessed bits are clear until it is used.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmgym.policies.base import with_defaults
from vmgym.sim import state as S


class PrefetchError(ValueError):
    """Unknown prefetcher name or invalid prefetcher parameters."""


class Prefetcher:
    """Base class: a name, a kernel code, validated integer parameters."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    code: ClassVar[int] = S.PF_NONE
    source: ClassVar[str] = ""
    params: ClassVar[dict[str, int]] = {}
    bounds: ClassVar[dict[str, tuple[int, int]]] = {}

    def __init__(self, **params: Any):
        self.values = with_defaults("prefetcher", self.name, self.params, params, PrefetchError)
        for key, (lo, hi) in self.bounds.items():
            v = self.values[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise PrefetchError(
                    f"prefetcher {self.name!r}: {key} must be an integer in [{lo}, {hi}], got {v!r}"
                )
        self.validate()

    def validate(self) -> None:
        """Check relations between parameters (ranges are checked from ``bounds``)."""

    def kernel_args(self) -> tuple[int, int]:
        """The two integers the kernel reads (``cfg[CF_PF_A]``, ``cfg[CF_PF_B]``)."""
        return 0, 0

    table_rows: ClassVar[int] = 0  # rows of ``pf_table`` (per page)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"

    def describe(self) -> dict[str, Any]:
        """Name and parameters, for run records."""
        return {"name": self.name, **self.values}


class NoPrefetch(Prefetcher):
    """Demand paging only: nothing is read that was not referenced."""

    name = "none"
    source = "demand paging"
    aliases = ("off", "demand")


class Readahead(Prefetcher):
    """Linux-style sequential readahead (mm/readahead.c, ``page_cache_sync_ra`` / ``async_ra``).

    A major fault that is not sequential reads a window of ``initial`` pages from
    the faulting page; a sequential one (at the end of the previous window, or at
    the page after the previous fault) grows the window as ``get_next_ra_size``
    (x4 while small, x2 up to half of ``maximum``, then ``maximum``). The first
    prefetched page of a window is the marker (``PG_readahead``): its first
    reference reads the next window asynchronously, so a sequential stream stops
    faulting. Windows follow file offsets for file and shared-memory pages and
    virtual pages within the VMA for anonymous pages (Linux's VMA-based swap
    readahead), with one window state per process. Default maximum 32 pages
    (128 KiB with 4 KiB pages, Linux's ``read_ahead_kb`` default); the initial
    window is ``get_init_ra_size`` for a one-page read (4 pages for a 32-page maximum).
    As Linux's ``mmap_miss`` (mm/filemap.c): each major fault counts a miss and
    each first use of a prefetched page takes one back; while a process's
    misses exceed 100 (``MMAP_LOTSAMISS``), its non-sequential faults read nothing
    ahead, so random access stops wasting reads.
    """

    name = "readahead"
    aliases = ("ra", "sequential")
    code = S.PF_READAHEAD
    source = "Linux mm/readahead.c (ondemand readahead)"
    params = {"initial": 4, "maximum": 32}
    bounds = {"initial": (1, S.PF_QUEUE_CAP), "maximum": (1, S.PF_QUEUE_CAP)}

    def validate(self) -> None:
        """``initial`` must not exceed ``maximum``."""
        if self.values["initial"] > self.values["maximum"]:
            raise PrefetchError(
                f"prefetcher 'readahead': initial ({self.values['initial']}) must be <= maximum "
                f"({self.values['maximum']})"
            )

    def kernel_args(self) -> tuple[int, int]:
        """(initial, maximum) in pages."""
        return self.values["initial"], self.values["maximum"]


class SwapCluster(Prefetcher):
    """Linux swap-cluster readahead (``swap_cluster_readahead``, ``vm.page-cluster``).

    A swap-in reads the other in-use slots of an aligned block of slots around
    the faulting slot, i.e. pages that were swapped out together, whatever their
    virtual addresses. With ``adaptive=1`` (default, Linux since 3.11,
    ``swapin_nr_pages``) the block is sized by the readahead hits since the
    previous swap-in (hits + 2 rounded up to a power of two, at least 4; one page
    without hits unless the slot is next to the previous one; never below half
    the previous window) up to ``2 ** page_cluster`` slots (default 3: 8 pages);
    with ``adaptive=0`` it is always ``2 ** page_cluster``. File faults prefetch nothing.
    """

    name = "swap-cluster"
    aliases = ("cluster", "page-cluster")
    code = S.PF_SWAP_CLUSTER
    source = "Linux mm/swap_state.c (swap_cluster_readahead, swapin_nr_pages), vm.page-cluster"
    params = {"page_cluster": 3, "adaptive": 1}
    bounds = {"page_cluster": (0, 10), "adaptive": (0, 1)}

    def kernel_args(self) -> tuple[int, int]:
        """(the largest block in slots, adaptive)."""
        return 1 << self.values["page_cluster"], self.values["adaptive"]


class Stride(Prefetcher):
    """Stride detector (after Chen & Baer's reference prediction table, IEEE TC 1995, per process).

    Each process remembers the location of its last fault and the stride to it;
    the faults it sees are major faults and first references to prefetched pages
    (minor faults). When two consecutive such faults show the same non-zero stride
    ``d`` (a confirmed stride), the next ``degree`` pages ``+d, +2d, ...`` are read.
    Locations as in readahead (object pages; virtual pages within the VMA).
    """

    name = "stride"
    code = S.PF_STRIDE
    source = "Chen & Baer, Effective hardware-based data prefetching, IEEE TC 44(5), 1995"
    params = {"degree": 4}
    bounds = {"degree": (1, 64)}

    def kernel_args(self) -> tuple[int, int]:
        """(degree, 0)."""
        return self.values["degree"], 0


class Markov(Prefetcher):
    """Markov predictor (Joseph & Grunwald, ISCA 1997) over major faults.

    A table remembers, for each page, the ``width`` pages that most recently
    followed it as the same process's next fault (most recent first), where the
    faults are major faults and first references to prefetched pages. Such a
    fault on a page reads its remembered successors. The table is global
    (pages shared between processes share their entry) and holds page ids, so an
    anonymous page id reused after a free inherits stale predictions (wasted, never wrong data).
    """

    name = "markov"
    code = S.PF_MARKOV
    source = "Joseph & Grunwald, Prefetching using Markov predictors, ISCA 1997"
    params = {"width": 2}
    bounds = {"width": (1, 16)}

    @property
    def table_rows(self) -> int:  # type: ignore[override]
        """One row per remembered successor."""
        return self.values["width"]


class External(Prefetcher):
    """The caller decides at each major fault (the Prefetch-v0 / MemoryManager-v0 envs)."""

    name = "external"
    code = S.PF_EXTERNAL


_REGISTRY: dict[str, type[Prefetcher]] = {}
_ALIASES: dict[str, str] = {}
for _cls in (NoPrefetch, Readahead, SwapCluster, Stride, Markov, External):
    _REGISTRY[_cls.name] = _cls
    for _key in (_cls.name, *_cls.aliases):
        _ALIASES[_key] = _cls.name


def names() -> list[str]:
    """Canonical names of the prefetchers usable in a run (``external`` is for the envs)."""
    return [n for n in _REGISTRY if n != "external"]


def make(spec: str | Prefetcher | None = None, **params: Any) -> Prefetcher:
    """A prefetcher from a name (aliases accepted), ``"name:key=value,..."``, an instance or None (none)."""
    if spec is None:
        spec = "none"
    if isinstance(spec, Prefetcher):
        if params:
            raise PrefetchError("parameters given together with a prefetcher instance")
        return spec
    if not isinstance(spec, str):
        raise PrefetchError(f"a prefetcher is a name or a Prefetcher, got {type(spec).__name__}")
    name, _, rest = spec.partition(":")
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise PrefetchError(f"prefetcher {spec!r}: expected key=value, got {item!r}")
        try:
            params[key.strip()] = int(value)
        except ValueError:
            raise PrefetchError(
                f"prefetcher {spec!r}: {key.strip()} must be an integer, got {value!r}"
            ) from None
    key = name.strip().lower()
    if key not in _ALIASES:
        raise PrefetchError(f"unknown prefetcher {name!r}; choose one of: {', '.join(names())}")
    return _REGISTRY[_ALIASES[key]](**params)


__all__ = [
    "External",
    "Markov",
    "NoPrefetch",
    "PrefetchError",
    "Prefetcher",
    "Readahead",
    "Stride",
    "SwapCluster",
    "make",
    "names",
]
