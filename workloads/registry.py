"""Named default workloads: a generator plus parameters and a suggested frame count.

Usage::

    from workloads import registry

    registry.names()                     # ['default', 'zipf', ...]
    w = registry.get("zipf")             # the named workload
    w = registry.get("zipf", seed=3)     # with a parameter overridden
    w = registry.get("zipf:alpha=0.8,n_pages=2000,length=50000")

A name may carry overrides after a colon as ``key=value`` pairs separated by commas;
keys are the generator's parameter names (``pages`` is accepted for ``n_pages``) and
values are parsed as int, float, ``true``/``false`` or else kept as strings. Every
generated workload builds in well under a second (at most about 1M references); the
``trace-*`` entries are real programs' traces bundled in ``workloads/data`` (2.8M to
5.7M references, read in a fraction of a second; ``trace-sort:max_refs=100000`` keeps
the first 100k). A built workload's ``hints["frames"]`` is the suggested frame count.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from workloads import generators as gen
from workloads.model import Workload, WorkloadError
from workloads.stream import RefStream

__all__ = [
    "WORKLOADS",
    "WorkloadSpec",
    "bundled_trace",
    "describe",
    "get",
    "names",
    "parse_name",
    "spec",
    "stream",
]

_ALIASES = {"pages": "n_pages"}


@dataclass(frozen=True)
class WorkloadSpec:
    """A named workload: ``generator(**params)`` with a one-line description and a suggested frame count."""

    name: str
    description: str
    generator: Callable[..., Workload]
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    suggested_frames: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def factory(self) -> Workload:
        """Build the workload with the registered parameters."""
        return self.build()

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        allowed = list(inspect.signature(self.generator).parameters)
        params = dict(self.params)
        for key, value in overrides.items():
            name = key if key in allowed else _ALIASES.get(key, key)
            if name not in allowed:
                raise WorkloadError(
                    f"workload {self.name!r}: unknown parameter {key!r} for {self.generator.__name__}; "
                    f"choose from: {', '.join(allowed)}"
                )
            params[name] = value
        return params

    @property
    def streamable(self) -> bool:
        """True if the generator has a streamed version (:mod:`workloads.streamgen`)."""
        from workloads.streamgen import STREAMED

        return self.generator in STREAMED

    def stream(self, **overrides: Any) -> RefStream:
        """The workload as a :class:`~workloads.stream.RefStream` (same references as :meth:`build`).

        Raises :class:`WorkloadError` if its generator has no streamed version.
        """
        from workloads.streamgen import STREAMED

        if not self.streamable:
            raise WorkloadError(
                f"workload {self.name!r} ({self.generator.__name__}) cannot be streamed; streamed "
                f"generators: {', '.join(sorted(f.__name__ for f in STREAMED))}"
            )
        out = STREAMED[self.generator](**self._params(overrides))
        out.name = self.name
        out.hints = {**out.hints, "frames": self.suggested_frames}
        return out

    def build(self, **overrides: Any) -> Workload:
        """Build the workload, replacing registered parameters by ``overrides``.

        The workload is named after this spec. Unknown parameter names raise
        :class:`WorkloadError` listing the generator's parameters.
        """
        params = self._params(overrides)
        try:
            workload = self.generator(**params)
        except MemoryError:
            raise WorkloadError(
                f"workload {self.name!r}: not enough memory to build it with {params}"
            ) from None
        workload.name = self.name
        workload.hints = {**workload.hints, "frames": self.suggested_frames}
        return workload


def bundled_trace(trace: str, max_refs: int | None = None, page_size: int | None = None) -> Workload:
    """A real program's trace bundled in ``workloads/data`` (see its README).

    Read with :func:`workloads.traces.load_bundled`; ``max_refs`` keeps only the first references.
    """
    from workloads import traces  # numba kernels: imported only when a trace is wanted

    return traces.load_bundled(trace, max_refs=max_refs, page_size=page_size)


def _spec(
    name: str, description: str, generator: Callable[..., Workload], frames: int, **params: Any
) -> WorkloadSpec:
    return WorkloadSpec(name, description, generator, params, frames)


_SPECS = [
    _spec(
        "default",
        "Zipf(0.9) over 5,000 pages, 100k refs, 30% writes",
        gen.zipf,
        500,
        n_pages=5_000,
        length=100_000,
        alpha=0.9,
        write_ratio=0.3,
    ),
    _spec(
        "zipf",
        "Zipf(0.9) over 10,000 pages, 1M refs, 30% writes",
        gen.zipf,
        1000,
        n_pages=10_000,
        length=1_000_000,
        alpha=0.9,
        write_ratio=0.3,
    ),
    _spec(
        "uniform",
        "uniform over 5,000 pages, 100k refs, 30% writes",
        gen.uniform,
        500,
        n_pages=5_000,
        length=100_000,
        write_ratio=0.3,
    ),
    _spec(
        "loop",
        "cyclic loop over 1,100 pages, 110k refs (LRU/FIFO worst case at 1,000 frames)",
        gen.loop,
        1000,
        n_pages=1_100,
        length=110_000,
    ),
    _spec(
        "sequential",
        "sequential scan of 50,000 pages, 4 passes (200k refs), 10% writes",
        gen.sequential,
        1000,
        n_pages=50_000,
        length=200_000,
        write_ratio=0.1,
    ),
    _spec(
        "strided",
        "strided walk (stride 17) over 4,096 pages, 200k refs",
        gen.strided,
        1000,
        n_pages=4_096,
        length=200_000,
        stride=17,
    ),
    _spec(
        "scan-hot",
        "Zipf(0.9) hot set of 1,000 pages plus a 2,000-page scan every 20k refs, 500k refs",
        gen.scan_hot,
        1200,
        hot_pages=1_000,
        scan_pages=2_000,
        length=500_000,
        alpha=0.9,
        scan_every=20_000,
        write_ratio=0.2,
    ),
    _spec(
        "phases",
        "8 phases of a 400-page uniform working set shifting by 200 pages, 400k refs",
        gen.phases,
        500,
        n_phases=8,
        ws_pages=400,
        length=400_000,
        shift=200,
        write_ratio=0.2,
    ),
    _spec(
        "multiprocess",
        "3 processes with 2,000-page private Zipf heaps sharing a 1,000-page shm segment",
        gen.multiprocess_shm,
        1500,
        n_procs=3,
        private_pages=2_000,
        shared_pages=1_000,
        length_per_proc=200_000,
        alpha=0.9,
        shared_fraction=0.3,
        write_ratio=0.2,
    ),
    _spec(
        "fork-server",
        "server writes a 2,000-page heap, forks 4 workers sharing it copy-on-write",
        gen.fork_server,
        2000,
        workers=4,
        pages=2_000,
        length_per_proc=100_000,
        alpha=0.9,
        write_ratio=0.1,
    ),
    _spec(
        "mmap-readers",
        "4 processes reading a 4,000-page file through private read-only mmaps",
        gen.mmap_readers,
        1000,
        n_procs=4,
        file_pages=4_000,
        length_per_proc=100_000,
        alpha=0.9,
        buffer_pages=16,
        write_ratio=0.1,
    ),
    _spec(
        "file-scan",
        "3 sequential passes over a 2,000-page mmapped file, 10% random lookups (readahead's case)",
        gen.file_scan,
        500,
        file_pages=2_000,
        passes=3,
        random_ratio=0.1,
    ),
    _spec(
        "matrix-row",
        "row-major traversal of a 512x512 matrix of doubles (512 pages), 2 passes",
        gen.matrix,
        256,
        rows=512,
        cols=512,
        order="row",
        elem_size=8,
        passes=2,
    ),
    _spec(
        "matrix-col",
        "column-major traversal of a 512x512 row-major matrix of doubles (512 pages), 2 passes",
        gen.matrix,
        256,
        rows=512,
        cols=512,
        order="col",
        elem_size=8,
        passes=2,
    ),
    _spec(
        "stack-heap",
        "heap growing/shrinking by mmap/munmap in 16-page chunks plus a stack, 400k refs",
        gen.stack_heap,
        256,
        steps=400,
        refs_per_step=1_000,
        chunk_pages=16,
        max_chunks=32,
        stack_pages=32,
        write_ratio=0.3,
    ),
    _spec(
        "leak",
        "writes 64 fresh pages per step for 5,000 steps (320k pages), never freeing: runs out of memory",
        gen.leak,
        1000,
        pages_per_step=64,
        steps=5_000,
    ),
    # real programs recorded with valgrind lackey (workloads/data/README.md); footprints are
    # a few hundred pages, so the hints give LRU a miss ratio of a few percent
    _spec(
        "trace-sort",
        "real (valgrind lackey): GNU sort of 4,000 random words, 3.7M refs over 263 pages",
        bundled_trace,
        16,
        trace="sort",
    ),
    _spec(
        "trace-gzip",
        "real (valgrind lackey): gzip -6 of 2,500 random words, 2.8M refs over 211 pages",
        bundled_trace,
        16,
        trace="gzip",
    ),
    _spec(
        "trace-python",
        "real (valgrind lackey): CPython 3.11 running a dict/string script, 4M refs over 199 pages",
        bundled_trace,
        32,
        trace="python",
    ),
    _spec(
        "trace-sqlite",
        "real (valgrind lackey): SQLite table, index and GROUP BY query, 5.7M refs over 618 pages",
        bundled_trace,
        32,
        trace="sqlite",
    ),
]

WORKLOADS: dict[str, WorkloadSpec] = {s.name: s for s in _SPECS}


def names() -> list[str]:
    """Return the registered workload names in registration order."""
    return list(WORKLOADS)


def describe() -> list[tuple[str, str, int]]:
    """Return ``(name, description, suggested_frames)`` for every registered workload."""
    return [(s.name, s.description, s.suggested_frames) for s in WORKLOADS.values()]


def spec(name: str) -> WorkloadSpec:
    """Return the :class:`WorkloadSpec` registered as ``name`` (no overrides allowed here)."""
    try:
        return WORKLOADS[name]
    except KeyError:
        raise WorkloadError(f"unknown workload {name!r}; choose one of: {', '.join(WORKLOADS)}") from None


def parse_name(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into the name and a dict of parsed override values."""
    name, _, rest = text.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkloadError(f"workload {text!r}: override {item!r} is not of the form key=value")
        overrides[key.strip()] = _parse_value(value.strip())
    return name.strip(), overrides


def _parse_value(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for convert in (int, float):
        try:
            return convert(value.replace("_", ""))
        except ValueError:
            pass
    return value


def get(name: str, **overrides: Any) -> Workload:
    """Build the named workload, e.g. ``get("zipf")`` or ``get("zipf:alpha=0.8,length=50000", seed=1)``.

    Overrides in the name and keyword ``overrides`` replace the registered
    parameters (keywords win). An unknown name raises :class:`WorkloadError` listing
    the valid names; an unknown parameter lists the generator's parameters.
    """
    base, parsed = parse_name(name)
    return spec(base).build(**{**parsed, **overrides})


def stream(name: str, **overrides: Any) -> RefStream:
    """The named workload as a stream: ``stream("zipf:length=1000000000")`` (:meth:`WorkloadSpec.stream`)."""
    base, parsed = parse_name(name)
    return spec(base).stream(**{**parsed, **overrides})
