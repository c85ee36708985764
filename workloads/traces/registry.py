"""The one registry of trace formats, and format detection from file names and contents.

Each format module in :mod:`workloads.traces.formats` describes itself with a
:class:`Format` and calls :func:`register`; everything else (``FORMATS``, ``fmt=``
aliases, detection by suffix, magic bytes or first line, the reader and writer that
:func:`~workloads.traces.load_trace` and :func:`~workloads.traces.write_trace` call) is
looked up here.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from workloads.traces.errors import TraceError
from workloads.traces.streams import _open_raw, _read_exact, _strip_compression

if TYPE_CHECKING:
    from workloads.model import Workload
    from workloads.stream import RefStream
    from workloads.traces.blocks import _Collector


BLOCK_SIZE = 32 << 20  # bytes per read of the chunked readers


@dataclass(frozen=True)
class ReadRequest:
    """What :func:`~workloads.traces.load_trace` was asked for (``page_size`` as given)."""

    label: str  # how messages name the file
    path: Path | None = None
    page_size: int | None = None
    collapse: bool = True
    max_refs: int | None = None
    dense: bool | None = None
    obj_id_col: int | None = None
    op_col: int | None = None
    block_size: int = BLOCK_SIZE
    name: str = ""


# parse(stream, request, collector): a generator that feeds a chunked reader's references to the
# collector, yields after each batch it adds and returns the bytes read (``blocks.parse_all`` runs
# one to its end; ``streaming`` takes the batches out between steps)
Parse = Callable[[IO[bytes], ReadRequest, "_Collector"], Generator[None, None, int]]
# write(path, blocks, page_size, length): ``blocks`` yields (pids, ops, vals) arrays, ``length``
# references in all; vals are byte addresses or object ids (``addresses``)
Write = Callable[[Path, Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], int, int], None]


@dataclass(frozen=True)
class Format:
    """One trace format: how it is named, recognised, read and written.

    A format is read by ``parse`` (in blocks, possibly compressed, into the shared
    collector that collapses and counts references) or by ``load`` (the whole file at
    once, returning the workload), or both (``load_trace`` then loads, ``stream_trace``
    parses); a format whose layout the collector does not fit (npz: per-process members)
    may make its own stream (``stream``) beside ``load``. It is written by ``write`` (one merged reference
    stream) or ``write_workload`` (the whole workload), or not at all.
    """

    name: str
    aliases: tuple[str, ...] = ()  # further ``fmt=`` names (case-insensitive)
    suffixes: tuple[str, ...] = ()  # file suffixes that mean this format (after a compression suffix)
    write_suffixes: tuple[str, ...] = ()  # suffixes that mean this format only when writing
    name_contains: tuple[str, ...] = ()  # lower-case parts of a file name that mean this format
    name_suffixes: tuple[str, ...] = ()  # dropped from a file name to name the workload (else its suffix)
    magic: bytes = b""  # first bytes of the (decompressed) file, if the format has any
    sniff: Callable[[bytes], bool] | None = None  # does this first record line look like the format?
    sniff_rank: int = 0  # sniffers run in rank order, then registration order (catch-alls rank high)
    addresses: bool = False  # holds byte addresses (else object ids, mapped to pages)
    one_address_space: bool = False  # cannot hold several processes
    expected: str = ""  # what a file with no references should have held, e.g. "records such as '0 1f'"
    parse: Parse | None = None
    load: Callable[[ReadRequest], Workload] | None = None
    write: Write | None = None
    write_workload: Callable[[Workload, Path, dict | None], None] | None = None
    # a stream made by the format itself (npz), for stream_trace: stream(request, several)
    stream: Callable[[ReadRequest, bool], RefStream] | None = None


_REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add ``fmt`` to the registry (its name must be new); return it."""
    if fmt.name in _REGISTRY:
        raise ValueError(f"trace format {fmt.name!r} is registered twice")
    if fmt.parse is None and fmt.load is None:
        raise ValueError(f"trace format {fmt.name!r} needs parse or load")
    _REGISTRY[fmt.name] = fmt
    return fmt


def format_names() -> tuple[str, ...]:
    """The registered format names, in registration order."""
    return tuple(_REGISTRY)


def _format(name: str) -> Format:
    return _REGISTRY[name]


def _formats() -> tuple[Format, ...]:
    return tuple(_REGISTRY.values())


def _by_name(path: Path, write: bool = False) -> str | None:
    """The format a file name means (compression suffix stripped), or None."""
    name = _strip_compression(path.name.lower())
    for fmt in _REGISTRY.values():
        if any(part in name for part in fmt.name_contains):
            return fmt.name
    ext = Path(name).suffix
    for fmt in _REGISTRY.values():
        if ext in fmt.suffixes or (write and ext in fmt.write_suffixes):
            return fmt.name
    return None


def detect_format(path: str | Path) -> str:
    """Return the format name of ``path`` from its name, else its content (see :mod:`workloads.traces`)."""
    path = Path(path)
    found = _by_name(path)
    if found is not None:
        return found
    with _open_raw(path) as stream:
        head = _read_exact(stream, 1 << 16, str(path))
    if not head:
        raise TraceError(f"{path}: empty file; cannot detect its format (pass fmt=)")
    for fmt in _REGISTRY.values():
        if fmt.magic and head.startswith(fmt.magic):
            return fmt.name
    found = _sniff_text(head)
    if found is None:
        raise TraceError(
            f"{path}: cannot detect the trace format from its name or first lines; "
            f"pass fmt= one of {', '.join(_REGISTRY)}"
        )
    return found


def _first_record_line(head: bytes) -> bytes | None:
    """The first line that is neither blank nor a '#' comment (None if there is none)."""
    for raw in head.split(b"\n")[:-1] or head.split(b"\n"):
        line = raw.rstrip(b"\r")
        if line.strip() and not line.startswith(b"#"):
            return line
    return None


def _sniff_text(head: bytes) -> str | None:
    """Guess a text format from its first record line (None if no sniffer claims it)."""
    if b"\x00" in head:
        return None
    line = _first_record_line(head)
    if line is None:
        return None
    sniffers = sorted((f for f in _REGISTRY.values() if f.sniff), key=lambda f: f.sniff_rank)
    return next((f.name for f in sniffers if f.sniff(line)), None)


def _resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(path)
    canon = {f.lower(): f for f in _REGISTRY}
    canon.update({a.lower(): f.name for f in _REGISTRY.values() for a in f.aliases})
    if fmt.lower() not in canon:
        raise TraceError(f"unknown trace format {fmt!r}; choose one of: {', '.join(_REGISTRY)}")
    return canon[fmt.lower()]


def _output_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return _resolve_format(path, fmt)
    found = _by_name(path, write=True)
    if found is None:
        raise TraceError(
            f"{path}: cannot tell the format from the file name; pass fmt= one of {', '.join(_REGISTRY)}"
        )
    return found
