"""Workload specs in TOML, and :func:`resolve`, the one way every command turns text into a workload.

A spec names one *source* of references, its parameters, and machine size hints::

    # zipf-small.toml
    name = "zipf-small"                 # optional (default: the file name)
    description = "Zipf(0.8) over 2,000 pages"
    generator = "zipf"                  # a function of workloads.generators

    [params]                            # its keyword arguments
    n_pages = 2000
    length = 100_000
    alpha = 0.8
    write_ratio = 0.3
    seed = 7

    [machine]                           # hints: frames, swap_slots, tlb_entries, tlb_ways,
    frames = 200                        # tlb_asid, quantum (the CLI uses them as defaults)

The source is exactly one of these keys, and ``params`` holds its keyword arguments:

``generator``
    a function of :mod:`workloads.generators` (``scan_hot``, or ``scan-hot``);
    ``params``: its parameters.
``workload``
    a named workload of :mod:`workloads.registry`, overrides allowed (``"zipf:alpha=0.8"``);
    ``params``: more overrides.
``trace``
    a trace file, relative to the spec file (or the name of a bundled trace, ``sort``),
    read by :func:`workloads.traces.load_trace`; ``params``: ``format``, ``page_size``,
    ``max_refs``, ``collapse``, ``dense``, ``obj_id_col``, ``op_col``.
``pages``
    an inline array of page numbers (one process), e.g. Belady's anomaly string;
    ``params``: ``writes`` (array of booleans), ``page_size``.
``processes``
    an array of tables (``[[processes]]``), one per process group, each with its own
    source (one of the four above), ``params``, and optional ``name`` and ``start`` (the
    global reference tick at which the group starts).

With ``processes`` the groups are combined into one workload: each keeps its own
address spaces; its shared objects are renamed ``<name>/<object>`` so that groups never
share memory by accident; its processes are named ``<name>`` (one process) or
``<name>/<process>``. All groups must use the same page size.

Every error (unknown key, wrong type, unknown generator or parameter, missing file)
raises :class:`~workloads.model.WorkloadError` naming the file, the key and what is
allowed. Suites (:mod:`workloads.suites`) are arrays of such specs.

:func:`resolve` accepts a registry name with overrides (``zipf:alpha=0.8``), a suite
entry (``train/zipf-a``), a ``.toml`` spec file (overrides after a colon replace its
``params``: ``spec.toml:seed=3``), or a trace file (format from its name or content;
``run.log:format=lackey,max_refs=100000`` or ``fmt=`` override it).
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workloads import generators as gen
from workloads import registry
from workloads.model import EV_FORK, EV_MMAP, HINT_KEYS, MemObject, Process, Vma, Workload, WorkloadError
from workloads.stream import RefStream

__all__ = [
    "GENERATORS",
    "SOURCE_KEYS",
    "Source",
    "Spec",
    "combine",
    "load_spec",
    "parse_spec",
    "resolve",
    "trace_frames_hint",
]

GENERATORS: dict[str, Callable[..., Workload]] = {
    name: getattr(gen, name) for name in gen.__all__ if name not in ("MATRIX_ORDERS", "zipf_ranks")
}
"""Generator name -> function (names as in :mod:`workloads.generators`; ``-`` may replace ``_``)."""

SOURCE_KEYS = ("generator", "workload", "trace", "pages")
SPEC_KEYS = ("name", "description", *SOURCE_KEYS, "processes", "params", "machine")
PROCESS_KEYS = ("name", *SOURCE_KEYS, "params", "start")
TRACE_PARAMS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "page_size": int,
    "max_refs": int,
    "collapse": bool,
    "dense": bool,
    "obj_id_col": int,
    "op_col": int,
}
PAGES_PARAMS: dict[str, type | tuple[type, ...]] = {"writes": list, "page_size": int}
_HINT_TYPES: dict[str, type] = {k: (bool if k == "tlb_asid" else int) for k in HINT_KEYS}
_TRACE_SUFFIXES = (
    ".lackey", ".lk", ".din", ".csv", ".txt", ".trace", ".plain", ".npz", ".npy", ".bin",
    ".zst", ".zstd", ".gz", ".oraclegeneral", ".log",
)  # fmt: skip
TRACE_HINT_DIVISOR = 8


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "an array"}
    names[dict] = "a table"
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


def _is_type(value: Any, t: type | tuple[type, ...]) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _check_type(where: str, key: str, value: Any, t: type | tuple[type, ...]) -> None:
    if not _is_type(value, t):
        raise WorkloadError(f"{where}: {key} must be {_type_name(t)}, got {value!r}")


def _check_keys(where: str, table: Mapping[str, Any], allowed: tuple[str, ...], what: str = "key") -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise WorkloadError(f"{where}: unknown {what} {unknown[0]!r}; allowed: {', '.join(allowed)}")


# == the parsed form =========================================================================


@dataclass(frozen=True)
class Source:
    """One source of references: ``kind`` is ``generator``, ``workload``, ``trace`` or ``pages``.

    ``value`` is the generator function's name, the registry name (with overrides), the
    trace path, or the page list. ``where`` locates it for error messages.
    """

    kind: str
    value: Any
    params: Mapping[str, Any]
    where: str
    name: str | None = None
    start: int = 0

    def build(self) -> Workload:
        """Build this source's workload (errors are prefixed with ``where``)."""
        try:
            if self.kind == "generator":
                return GENERATORS[self.value](**self.params)
            if self.kind == "workload":
                return registry.get(self.value, **self.params)
            if self.kind == "trace":
                return _load_trace_file(Path(self.value), dict(self.params))
            params = dict(self.params)
            return Workload.from_pages(self.value, params.pop("writes", None), name="pages", **params)
        except WorkloadError as e:
            raise type(e)(f"{self.where}: {e}") from None
        except MemoryError:
            raise WorkloadError(f"{self.where}: not enough memory to build this {self.kind}") from None

    def seeds(self) -> set[int]:
        """The random seeds this source uses (its ``seed`` parameter, default included)."""
        if self.kind == "generator":
            fn, params = GENERATORS[self.value], dict(self.params)
        elif self.kind == "workload":
            base, overrides = registry.parse_name(self.value)
            entry = registry.spec(base)
            fn, params = entry.generator, {**entry.params, **overrides, **self.params}
        else:
            return set()
        sig = inspect.signature(fn).parameters
        if "seed" not in sig:
            return set()
        return {int(params.get("seed", sig["seed"].default))}

    def traces(self) -> set[Path]:
        """The trace files this source reads (resolved paths)."""
        if self.kind == "trace":
            return {Path(self.value).resolve()}
        if self.kind == "workload":
            base, overrides = registry.parse_name(self.value)
            entry = registry.spec(base)
            if entry.generator is registry.bundled_trace:
                from workloads import traces

                name = {**entry.params, **overrides, **self.params}["trace"]
                return {traces.bundled()[name].resolve()}
        return set()


@dataclass(frozen=True)
class Spec:
    """A parsed, validated workload spec: one source or several process groups, plus hints."""

    name: str
    description: str
    sources: tuple[Source, ...]
    hints: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""
    combined: bool = False

    def build(self, **overrides: Any) -> Workload:
        """Build the workload; ``overrides`` replace the ``params`` of a single-source spec."""
        if overrides:
            if self.combined:
                raise WorkloadError(
                    f"{self.where}: overrides {sorted(overrides)} need a single-source spec; "
                    f"this one has processes"
                )
            src = self.sources[0]
            _check_params(src.where, src.kind, src.value, overrides)
            sources: tuple[Source, ...] = (
                Source(src.kind, src.value, {**src.params, **overrides}, src.where, src.name, src.start),
            )
        else:
            sources = self.sources
        if self.combined:
            parts = [(s.name or f"p{i}", s.build(), s.start) for i, s in enumerate(sources)]
            workload = combine(parts, self.name, where=self.where)
        else:
            workload = sources[0].build()
        workload.name = self.name
        if self.description:
            workload.description = self.description
        workload.hints = {**workload.hints, **self.hints}
        return workload

    def seeds(self) -> set[int]:
        """Every random seed the spec uses."""
        return set().union(*(s.seeds() for s in self.sources))

    def traces(self) -> set[Path]:
        """Every trace file the spec reads."""
        return set().union(*(s.traces() for s in self.sources))


# == parsing =================================================================================


def load_spec(path: str | Path) -> Spec:
    """Read and validate the TOML spec file ``path``."""
    path = Path(path)
    data = read_toml(path)
    return parse_spec(data, str(path), path.parent, path.stem)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, with errors naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise WorkloadError(f"{path}: no such file") from None
    except OSError as e:
        raise WorkloadError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise WorkloadError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise WorkloadError(f"{path}: not valid TOML: not UTF-8 text (byte {e.start})") from None


def parse_spec(data: Mapping[str, Any], where: str, base_dir: Path, default_name: str) -> Spec:
    """Validate one spec table (from a spec file or a suite entry) into a :class:`Spec`.

    ``where`` prefixes error messages; ``base_dir`` resolves relative trace paths.
    """
    _check_keys(where, data, SPEC_KEYS)
    for key in ("name", "description"):
        if key in data:
            _check_type(where, key, data[key], str)
    name = data.get("name", default_name)
    hints = _parse_hints(where, data.get("machine", {}))
    if "processes" in data:
        given = [k for k in (*SOURCE_KEYS, "params") if k in data]
        if given:
            raise WorkloadError(
                f"{where}: {given[0]!r} cannot be given with 'processes'; put it in each [[processes]] table"
            )
        groups = data["processes"]
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
            raise WorkloadError(f"{where}: processes must be a non-empty array of tables ([[processes]])")
        sources = []
        for i, group in enumerate(groups):
            gwhere = f"{where}: processes[{i}]"
            _check_keys(gwhere, group, PROCESS_KEYS)
            if "name" in group:
                _check_type(gwhere, "name", group["name"], str)
            start = group.get("start", 0)
            _check_type(gwhere, "start", start, int)
            if start < 0:
                raise WorkloadError(f"{gwhere}: start must be >= 0, got {start}")
            sources.append(_parse_source(gwhere, group, base_dir, group.get("name"), start, False))
        labels = [s.name for s in sources if s.name]
        dup = next((x for x in labels if labels.count(x) > 1), None)
        if dup:
            raise WorkloadError(f"{where}: two [[processes]] tables are named {dup!r}")
        return Spec(name, data.get("description", ""), tuple(sources), hints, where, True)
    source = _parse_source(where, data, base_dir, None, 0, True)
    return Spec(name, data.get("description", ""), (source,), hints, where, False)


def _parse_hints(where: str, machine: Any) -> dict[str, Any]:
    _check_type(where, "machine", machine, dict)
    _check_keys(f"{where}: [machine]", machine, HINT_KEYS)
    for key, value in machine.items():
        _check_type(f"{where}: [machine]", key, value, _HINT_TYPES[key])
        low = 1 if key in ("frames", "tlb_ways", "quantum") else 0
        if _HINT_TYPES[key] is int and value < low:
            raise WorkloadError(f"{where}: [machine]: {key} must be >= {low}, got {value}")
    return dict(machine)


def _parse_source(
    where: str, table: Mapping[str, Any], base_dir: Path, name: str | None, start: int, top: bool
) -> Source:
    given = [k for k in SOURCE_KEYS if k in table]
    if len(given) != 1:
        found = f"found {', '.join(given)}" if given else "found none"
        options = ", ".join((*SOURCE_KEYS, "processes") if top else SOURCE_KEYS)
        raise WorkloadError(f"{where}: give exactly one of {options}; {found}")
    kind = given[0]
    value = table[kind]
    params = table.get("params", {})
    _check_type(where, "params", params, dict)
    if kind == "pages":
        _check_type(where, "pages", value, list)
        if not value or not all(_is_type(v, int) and v >= 0 for v in value):
            raise WorkloadError(
                f"{where}: pages must be a non-empty array of page numbers >= 0, got {value!r}"
            )
    else:
        _check_type(where, kind, value, str)
    if kind == "generator":
        value = value.replace("-", "_")
        if value not in GENERATORS:
            raise WorkloadError(
                f"{where}: unknown generator {table[kind]!r}; allowed: {', '.join(GENERATORS)}"
            )
    elif kind == "workload":
        base = registry.parse_name(value)[0]
        if base not in registry.WORKLOADS:
            raise WorkloadError(f"{where}: unknown workload {base!r}; allowed: {', '.join(registry.names())}")
    elif kind == "trace":
        value = str(_trace_path(where, value, base_dir))
    _check_params(where, kind, value, params)
    if kind == "generator":
        sig = inspect.signature(GENERATORS[value]).parameters.values()
        missing = [p.name for p in sig if p.default is inspect.Parameter.empty and p.name not in params]
        if missing:
            raise WorkloadError(
                f"{where}: [params]: generator {value!r} needs {', '.join(missing)}; missing {missing[0]!r}"
            )
    return Source(kind, value, dict(params), where, name, start)


def _trace_path(where: str, value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if path.is_file():
        return path
    from workloads import traces

    bundled = traces.bundled()
    if value in bundled:
        return bundled[value]
    raise WorkloadError(
        f"{where}: trace: no such file {str(path)!r} (nor a bundled trace: {', '.join(bundled)})"
    )


def _check_params(where: str, kind: str, value: Any, params: Mapping[str, Any]) -> None:
    """Reject unknown parameter names (listing the allowed ones) and, for traces, wrong types."""
    if kind == "generator":
        allowed = tuple(inspect.signature(GENERATORS[value]).parameters)
    elif kind == "workload":
        entry = registry.spec(registry.parse_name(value)[0])
        allowed = (*inspect.signature(entry.generator).parameters, *registry._ALIASES)
    else:
        types = TRACE_PARAMS if kind == "trace" else PAGES_PARAMS
        allowed = tuple(types)
        for key, val in params.items():
            if key in types:
                _check_type(f"{where}: [params]", key, val, types[key])
    _check_keys(f"{where}: [params]", params, allowed, "parameter")


def _trace_params(path: Path, overrides: dict[str, Any], fmt: str | None) -> dict[str, Any]:
    """The checked ``load_trace`` options of a trace spec (``path:key=value,...``; ``fmt`` wins)."""
    params = dict(overrides)
    if "fmt" in params:
        params["format"] = params.pop("fmt")
    if fmt is not None:
        params["format"] = fmt
    _check_params(str(path), "trace", str(path), params)
    return params


def _load_trace_file(path: Path, params: dict[str, Any]) -> Workload:
    from workloads import traces

    fmt = params.pop("format", None)
    workload = traces.load_trace(path, fmt, **params)
    if "frames" not in workload.hints:
        workload.hints = {**workload.hints, "frames": trace_frames_hint(workload)}
    return workload


def _stream_trace_file(path: Path, overrides: dict[str, Any], fmt: str | None) -> RefStream | None:
    """A large trace file as a stream (see :func:`resolve_stream`), else None."""
    from workloads import traces
    from workloads.traces.streaming import NotStreamable

    if path.suffix.lower() == ".toml" or not path.is_file() or path.stat().st_size < STREAM_TRACES_FROM:
        return None
    params = _trace_params(path, overrides, fmt)
    try:
        stream = traces.stream_trace(path, params.pop("format", None), several=True, **params)
    except NotStreamable:
        return None
    stream.hints = {"frames": max(1, stream.pages() // TRACE_HINT_DIVISOR)}
    return stream


def footprint(workload: Workload) -> int:
    """Distinct (process, page) pairs the workload references."""
    shift = workload.page_size.bit_length() - 1
    distinct = 0
    for proc in workload.processes:
        refs = np.asarray(proc.ops) < EV_MMAP
        pages = np.asarray(proc.args)[refs] >> shift
        if pages.size == 0:
            continue
        lo, hi = int(pages.min()), int(pages.max())
        if hi - lo < 4 * pages.size + (1 << 20):  # a byte per page of the range: no sort (6x faster)
            seen = np.zeros(hi - lo + 1, np.bool_)
            seen[pages - lo] = True
            distinct += int(np.count_nonzero(seen))
        else:
            distinct += np.unique(pages).size
    return distinct


def trace_frames_hint(workload: Workload) -> int:
    """Frames hint for a trace without one: an eighth of its distinct pages (at least 1)."""
    return max(1, footprint(workload) // TRACE_HINT_DIVISOR)


# == combining process groups ================================================================


def combine(parts: list[tuple[str, Workload, int]], name: str, *, where: str = "") -> Workload:
    """One workload running every ``(label, workload, start)`` part side by side.

    Each part's independent processes start ``start`` references later than in the part;
    its objects are renamed ``label/object`` and its processes ``label`` (a single process)
    or ``label/process``; fork targets and parents are renumbered. The frames hint is the
    sum of the parts' (when they all have one).
    """
    prefix = f"{where}: " if where else ""
    sizes = {w.page_size for _, w, _ in parts}
    if len(sizes) > 1:
        detail = ", ".join(f"{label}: {w.page_size}" for label, w, _ in parts)
        raise WorkloadError(f"{prefix}process groups have different page sizes ({detail})")
    processes: list[Process] = []
    objects: list[MemObject] = []
    for label, w, start in parts:
        base = len(processes)
        rename = {o.name: f"{label}/{o.name}" for o in w.objects}
        objects += [MemObject(rename[o.name], o.kind, o.pages) for o in w.objects]
        for proc in w.processes:
            events = list(proc.events)
            codes = np.asarray(proc.ops)
            args = np.asarray(proc.args)
            for pos in np.flatnonzero(codes >= EV_MMAP):
                code, k = int(codes[pos]), int(args[pos])
                if code == EV_MMAP:
                    events[k] = _renamed(events[k], rename)
                elif code == EV_FORK:
                    events[k] = int(events[k]) + base
            pname = label if len(w.processes) == 1 else f"{label}/{proc.name}"
            processes.append(
                Process(
                    pname,
                    [_renamed(v, rename) for v in proc.vmas],
                    proc.ops,
                    proc.args,
                    events,
                    proc.start + start if proc.parent is None else proc.start,
                    None if proc.parent is None else proc.parent + base,
                )
            )
    desc = "; ".join(f"{label}: {w.description or w.name}" for label, w, _ in parts)
    frames = [w.hints.get("frames") for _, w, _ in parts]
    hints = {"frames": sum(frames)} if all(isinstance(f, int) for f in frames) else {}
    return Workload(name, processes, objects, sizes.pop(), desc, hints)


def _renamed(vma: Vma, rename: Mapping[str, str]) -> Vma:
    if vma.obj is None:
        return vma
    return Vma(vma.start_vpn, vma.pages, vma.perms, rename[vma.obj], vma.offset, vma.shared)


# == the resolver ============================================================================


def _split_overrides(text: str) -> tuple[Path | None, dict[str, Any]]:
    """``path`` or ``path:key=value,...`` of an existing file, else ``(None, {})``."""
    if Path(text).expanduser().is_file():
        return Path(text).expanduser(), {}
    head, sep, tail = text.rpartition(":")
    if sep and "=" in tail and Path(head).expanduser().is_file():
        return Path(head).expanduser(), registry.parse_name(f"x:{tail}")[1]
    return None, {}


def _looks_like_path(text: str) -> bool:
    name = text.partition(":")[0] if "=" in text else text
    return "/" in name or "\\" in name or name.lower().endswith((".toml", *_TRACE_SUFFIXES))


def resolve(spec: str | Path | Workload, *, fmt: str | None = None) -> Workload:
    """The workload named by ``spec``: a registry name, a suite entry, a TOML spec or a trace file.

    * ``"zipf"``, ``"zipf:alpha=0.8,length=50000"``: :func:`workloads.registry.get`.
    * ``"train/zipf-a"``: the entry ``zipf-a`` of suite ``train`` (:mod:`workloads.suites`).
    * ``"my.toml"`` (optionally ``"my.toml:seed=3"``): a spec file (:func:`load_spec`).
    * any other existing file: a trace (:func:`workloads.traces.load_trace`), its format
      from its name or content, or ``fmt``/``:format=...``; further ``key=value`` pairs
      after the colon are ``load_trace`` options (``max_refs``, ``page_size``, ...).

    A registry name wins over a file of the same name in the working directory (names
    have no ``/`` or ``.``). A :class:`Workload` is returned as is. The result's ``hints`` suggests a machine:
    the registry's or the spec's frames, or for a trace file an eighth of its distinct
    pages. Raises :class:`WorkloadError` naming what was wrong and what is allowed.
    """
    if isinstance(spec, Workload):
        return spec
    if isinstance(spec, Path):
        path, overrides = spec, {}
        if not path.is_file():
            raise WorkloadError(f"{path}: no such file")
    else:
        text = spec.strip()
        if text.partition(":")[0] in registry.WORKLOADS:  # names first: they have no '/' or '.'
            return _resolve_name(text, fmt)
        path, overrides = _split_overrides(text)
        if path is None:
            return _resolve_name(text, fmt)
    if path.suffix.lower() == ".toml":
        if fmt is not None:
            raise WorkloadError(f"{path}: fmt={fmt!r} applies to trace files, not to a .toml spec")
        return load_spec(path).build(**overrides)
    return _load_trace_file(path, _trace_params(path, overrides, fmt))


STREAM_TRACES_FROM = 64 << 20  # bytes: trace files at least this large stream (smaller ones load whole)
# references: resolve_stream(long=True) makes shorter generated workloads whole
STREAM_REFS_FROM = 1 << 24


def resolve_stream(
    spec: str | Path | Workload, *, fmt: str | None = None, generators: bool = True, long: bool = False
) -> RefStream | None:
    """``spec`` as a stream if it names a streamed generator or a large trace file, else None.

    See :func:`workloads.resolve_stream`. A trace file streams from :data:`STREAM_TRACES_FROM`
    bytes on (:func:`workloads.traces.stream_trace`: it reads the file once more than a
    whole load, and holds a block, not the trace); with ``long``, a generator only from
    :data:`STREAM_REFS_FROM` references on.
    """
    if isinstance(spec, Workload):
        return None
    if isinstance(spec, Path):
        return _stream_trace_file(spec, {}, fmt)
    text = spec.strip()
    base = registry.parse_name(text)[0]
    if base not in registry.WORKLOADS:
        path, overrides = _split_overrides(text)
        return None if path is None else _stream_trace_file(path, overrides, fmt)
    if not generators or not registry.WORKLOADS[base].streamable:
        return None
    if fmt is not None:
        raise WorkloadError(f"workload {text!r}: fmt={fmt!r} applies to trace files only")
    stream = registry.stream(text)
    if long and stream.length is not None and stream.length < STREAM_REFS_FROM:
        return None  # short: whole is as small and read once
    return stream


def _resolve_name(text: str, fmt: str | None) -> Workload:
    base = registry.parse_name(text)[0]
    if fmt is not None:
        raise WorkloadError(f"workload {text!r}: fmt={fmt!r} applies to trace files only")
    if base in registry.WORKLOADS:
        return registry.get(text)
    suite, sep, label = base.partition("/")
    if sep:
        from workloads import suites

        if suite in suites.names():
            return suites.entry(suite, label).build(**registry.parse_name(text)[1])
    if _looks_like_path(text):
        raise WorkloadError(f"{text.partition(':')[0]!r}: no such file")
    raise WorkloadError(
        f"unknown workload {base!r}; choose one of: {', '.join(registry.names())}; "
        f"or a suite entry (suite/name), a .toml spec file, or a trace file"
    )
