"""Read and write memory-reference traces; summarise them; the bundled real traces.

:func:`load_trace` turns a trace file into a :class:`~workloads.model.Workload`
(:func:`stream_trace` into a :class:`~workloads.stream.RefStream` read block by block),
:func:`write_trace` writes one back out, :func:`convert` does both, and
:func:`info` summarises a trace (footprint, read/write mix, LRU stack distances).

Formats (``fmt`` names; detected from the file name, else from the first bytes)
-------------------------------------------------------------------------------

=================  ===============================  ============================================
fmt                file names                       content
=================  ===============================  ============================================
``lackey``         ``*.lackey``, ``*.lk``           valgrind ``--tool=lackey --trace-mem=yes``
                                                    log: ``I  0400d7d4,3`` exec, `` L 1fff0007
                                                    78,8`` read, `` S …`` write, `` M …`` modify
                                                    (read then write); ``==pid==`` lines skipped
``din``            ``*.din``                        Dinero: ``label hexaddr [ignored…]``, label 0
                                                    read, 1 write, 2 exec, 3/4 escape (skipped)
``plain``          ``*.txt``, ``*.trace``,          ``pid op address``: decimal pid, op ``R``,
                   ``*.plain``                      ``W`` or ``X``, hex address (``0x``
                                                    optional); ``#`` comment lines
``csv``            ``*.csv``                        libCacheSim-style csv (see below)
``lcs-txt``        ``*.txt`` (by content)           libCacheSim txt: one decimal object id per
                                                    line
``oracleGeneral``  ``*.oracleGeneral*``             libCacheSim binary: 24-byte little-endian
                                                    records ``<IQIq`` (uint32 time, uint64
                                                    obj_id, uint32 obj_size, int64
                                                    next_access_vtime); records of obj_size 0
                                                    are skipped, as libCacheSim does
``npz``            ``*.npz``                        vmgym's own (below): exact per-process
                                                    streams
``npy``            ``*.npy``                        1-D page numbers (reads), or (n, 2) rows of
                                                    (page, op)
=================  ===============================  ============================================

Any of them may be compressed: a ``.zst``/``.zstd`` or ``.gz`` suffix (or the zstd/gzip
magic bytes) means the stream is decompressed on the fly. A ``.txt`` file is ``plain``
when its first record has three fields and ``lcs-txt`` when it has one; a file with an
unknown suffix is recognised by its first bytes (npz/npy magic, else its first lines).

Mapping to a workload
---------------------
* Address formats (``lackey``, ``din``, ``plain``) keep byte addresses; a reference's page
  is ``address // page_size``. A lackey access that straddles a page boundary touches
  every page it covers (one reference each).
* Object-id formats (``csv``, ``lcs-txt``, ``oracleGeneral``, ``npy``) hold object ids,
  which become page numbers (address ``id * page_size``). When every id is below
  ``2**36`` the ids are used as page numbers directly (so a trace written by vmgym
  reads back with the same pages); otherwise, e.g. hashed 64-bit ids, they are renumbered
  densely ``0..k-1`` in sorted id order (``np.unique`` inverse). ``dense=True``/``False``
  forces either. Non-numeric csv ids are numbered in order of first appearance.
* ``plain`` and ``npz`` traces may hold several processes: one :class:`Process` per pid,
  ordered by first appearance, named ``pid<N>`` (``npz`` keeps its own names). A process
  starts at the global position of its first reference in the file (``Process.start``);
  after that the simulator's round-robin scheduler interleaves the processes. All other
  formats give one process ``"main"``.
* Each process gets one private anonymous ``rwx`` VMA covering ``[min_vpn, max_vpn]`` of
  its references, so no reference faults on permissions or segfaults; the simulator
  only allocates page-table entries for the pages actually referenced.
* ``collapse=True`` (the default) drops a reference when the previous reference *of the
  same process* was to the same page with the same op: a run of reads to one page becomes
  one read, but a write after a read of the same page is kept (it dirties the page).
* ``max_refs`` stops reading after that many references (counted after collapsing).

Large files are read in blocks (``block_size``, 32 MiB by default) into one reused
buffer (compressed files are decompressed on the fly, 64 KiB of input at a time), and
each block is parsed by a compiled (numba) kernel, 256Ki references at a time; each such
chunk is collapsed straight into the output arrays, which grow by a quarter when full. So
memory is the parsed (collapsed) arrays (9 bytes per reference, at most a quarter more
while growing) plus one block and one chunk buffer, whatever the file size: a 67 MB lackey
log (``ls /usr/bin``, 2.97M references after collapsing, 27 MB of arrays) peaks at about
33 MB above the interpreter's own (RSS; 62 MB allocated per ``tracemalloc``, 32 of them the
block). A lackey log reads at about 18 M lines/s, 20 M
references/s, on a 2-core machine (``benchmarks/bench_traces.py``). With
``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python (same results, far slower).
Malformed input raises :class:`TraceError`
naming the file, the line (text) or byte offset (binary; of the decompressed stream for
a compressed file), and what was expected.

Layout
------
One module per format in :mod:`workloads.traces.formats` (``lackey``, ``din``, ``plain``,
``csv_format``, ``lcs_txt``, ``oracle_general``, ``numpy_files``), each registering a
:class:`~workloads.traces.registry.Format` (name, aliases, suffixes, magic bytes or a
first-line sniffer, reader, writer) with the one registry, :mod:`.registry` (which also
detects formats). Shared machinery: :mod:`.streams` (gzip/zstd), :mod:`.blocks` (block
reader, collapsing collector, text-kernel driver and writer), :mod:`.textscan` (compiled
byte-level helpers), :mod:`.errors` (:class:`TraceError` and messages), :mod:`.mapping`
(references to a workload and back), :mod:`.api` (:func:`load_trace`, :func:`write_trace`,
:func:`convert`), :mod:`.stats` (:func:`info`) and :mod:`.bundled`; :mod:`._kernel_cache`
keys numba's cache of the package's kernels by a hash of its sources.

csv
---
A header row is recognised when its first field is not a number. The object id column
is the one named ``obj_id``/``obj-id``/``id``/``key``/``lbn``/``lba``/``block``/``addr``/
``page`` (or ``obj_id_col=``, 1-based as libCacheSim's ``obj-id-col``); without a header
it is column 2 (libCacheSim's ``time,obj_id,…`` convention), or 1 for one-column files.
An ``op`` column (header ``op``/``op_type``/``operation``/``rw``/``type``, or ``op_col=``)
is optional: ``read``/``r``/``get``/``gets`` read, ``write``/``w``/``set``/``add``/
``replace``/``cas``/``append``/``prepend``/``update`` write, ``exec``/``x`` exec (SCSI
opcodes ``28``/``88``/``a8`` read, ``2a``/``8a``/``aa`` write, as in libCacheSim's sample
trace); anything else is an error. The delimiter is ``,``, else tab, else whitespace.
Numeric ids are parsed by a compiled kernel; non-numeric ids take a slower Python path.
vmgym writes ``time,obj_id,obj_size,op`` with a header (``time`` is the reference index,
``obj_size`` the page size, ``op`` one of ``read``/``write``/``exec``), i.e. libCacheSim's
``time-col=1, obj-id-col=2, obj-size-col=3`` with a header line.

npz (vmgym)
-----------
``np.savez_compressed`` with ``ops`` (int8, per reference), ``pages_delta`` (page numbers
as successive differences, in the narrowest integer type that holds them; they deflate
far better than raw numbers) or ``addrs`` (int64 byte addresses, when some address is not
page aligned), ``offsets`` (int64, process ``p`` owns ``[offsets[p], offsets[p+1])``),
``names``, ``starts`` (int64), ``page_size`` and ``meta`` (a JSON string: how the trace was
made). A foreign npz with just ``pages`` or ``addrs`` (and optionally ``ops`` or a boolean
``writes``) is read as one process. A trace stored at page granularity cannot be read
with a smaller page size (a larger one is fine).

Writers
-------
:func:`write_trace` writes every format. Traces hold references only: process events
(mmap, fork, …) and memory objects are dropped. ``lackey``, ``din`` and ``npy`` hold one
address space and refuse a multi-process workload; the object-id formats encode a
process into the id (``pid << 40 | vpn``) so that processes never share a page. Several
processes written to one stream (``plain``, id formats) are merged in the order of
``start + index within the process`` (ties: lower index first, then lower pid).
``oracleGeneral`` has no op field (every reference reads back as a read); its ``time``
is the reference index (mod ``2**32``), ``next_access_vtime`` the 1-based index of the
next request to the same object (``-1`` if none), as libCacheSim's ``traceConv``
writes it. Lackey lines are written with access size 1.
"""

from __future__ import annotations

from numba import config as _numba_config  # noqa: F401 - the tests ask whether kernels compile

from workloads.traces._kernel_cache import kernel_cache

with kernel_cache():  # the kernels are decorated (and their cache found) on import
    # Re-exported for callers of the single-module reader of old: workloads.record and the tests use
    # some of the private names (``X as X`` marks a re-export).
    import workloads.traces.formats  # noqa: F401 - registers every format
    from workloads.traces.api import convert, load_trace, write_trace
    from workloads.traces.blocks import _Collector as _Collector
    from workloads.traces.blocks import _parse_text as _parse_text
    from workloads.traces.bundled import DATA_DIR as DATA_DIR
    from workloads.traces.bundled import bundled, load_bundled
    from workloads.traces.errors import TraceError
    from workloads.traces.formats.oracle_general import _OG_DTYPE as _OG_DTYPE
    from workloads.traces.mapping import _check_page_size as _check_page_size
    from workloads.traces.mapping import _finish as _finish
    from workloads.traces.registry import BLOCK_SIZE as BLOCK_SIZE
    from workloads.traces.registry import detect_format, format_names
    from workloads.traces.stats import REUSE_EXACT_LIMIT as REUSE_EXACT_LIMIT
    from workloads.traces.stats import _stack_distances as _stack_distances
    from workloads.traces.stats import info
    from workloads.traces.streaming import stream_trace
    from workloads.traces.textscan import _CHUNK as _CHUNK
    from workloads.traces.textscan import _OUT_CAP as _OUT_CAP

__all__ = [
    "FORMATS",
    "TraceError",
    "bundled",
    "convert",
    "detect_format",
    "info",
    "load_bundled",
    "load_trace",
    "stream_trace",
    "write_trace",
]

FORMATS = format_names()  # every registered format, in registration order
