"""The one-process generators as streams: the same references, drawn block by block.

Each function here takes the parameters of its namesake in
:mod:`workloads.generators` (validated the same way) and returns a
:class:`~workloads.stream.RefStream` whose blocks concatenate to exactly that
generator's references (``tests/workloads/test_streamgen.py``), whatever the
block size, so a 10^9-reference workload never exists in memory at once.

How the draws line up with the whole generator's: the page numbers come first
from the seeded generator, then ``length`` write draws (one double each). Blocks
draw pages from a copy of the generator positioned where the whole run starts
them, and writes from a second copy positioned after the pages: for doubles
(one 64-bit output each) by ``advance(length)``; after a variable number of
bounded-integer draws (``uniform``, ``phases``) by drawing the pages once more,
in blocks, before the first block (skipped when ``write_ratio`` is 0 or 1, which
need no draws to decide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from workloads import generators as gen
from workloads.model import (
    DEFAULT_PAGE_SIZE,
    EV_FORK,
    EV_MMAP,
    EV_MUNMAP,
    OP_READ,
    OP_WRITE,
    Vma,
    WorkloadError,
)
from workloads.stream import ProcessStreams, RefStream, no_blocks, rebatch

__all__ = [
    "STREAMED",
    "fork_server",
    "loop",
    "phases",
    "sequential",
    "stack_heap",
    "strided",
    "uniform",
    "zipf",
]

_DRAW_BLOCK = 1 << 22  # references per block of the write-position pre-pass

PageDraw = Callable[[int, int], np.ndarray]
"""``draw(lo, m)``: the page numbers of references ``lo .. lo+m-1`` (called in order)."""


def _rng(state: dict[str, Any]) -> np.random.Generator:
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


def _advanced(state: dict[str, Any], steps: int) -> dict[str, Any]:
    rng = _rng(state)
    rng.bit_generator.advance(steps)
    return rng.bit_generator.state


def _stream(
    name: str,
    description: str,
    n_pages: int,
    length: int,
    pages: Callable[[], PageDraw],
    write_ratio: float,
    write_state: Callable[[], dict[str, Any]],
    page_size: int,
) -> RefStream:
    """A stream over one private ``rw`` VMA of ``n_pages`` pages at vpn 0 (as ``generators._single``).

    ``pages()`` starts a fresh page draw; ``write_state()`` is the generator state the
    write draws start from (asked only if ``write_ratio`` is strictly between 0 and 1).
    """
    cached: list[dict[str, Any]] = []

    def blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        draw = pages()
        wrng = None
        if 0.0 < write_ratio < 1.0:
            if not cached:
                cached.append(write_state())
            wrng = _rng(cached[0])
        done = 0
        while done < length:
            m = min(size, length - done)
            page = draw(done, m)
            if wrng is not None:
                ops = np.where(wrng.random(m) < write_ratio, OP_WRITE, OP_READ).astype(np.int8)
            else:
                ops = np.full(m, OP_WRITE if write_ratio >= 1.0 else OP_READ, np.int8)
            yield ops, page * page_size
            done += m

    return RefStream(
        name, [Vma(0, n_pages, "rw")], blocks, length, page_size=page_size, description=description
    )


def _after_draws(
    start: dict[str, Any], length: int, draw: Callable[[np.random.Generator, int, int], Any]
) -> dict:
    """The generator state after drawing the pages of ``length`` references from ``start``, in blocks."""
    rng = _rng(start)
    for lo in range(0, length, _DRAW_BLOCK):
        draw(rng, lo, min(_DRAW_BLOCK, length - lo))
    return rng.bit_generator.state


def _cyclic(
    func: str, n_pages: int, length: int, write_ratio: float, seed: int, page_size: int, step: int
) -> RefStream:
    rng = gen._common(func, write_ratio, seed, page_size)
    start = rng.bit_generator.state

    def pages() -> PageDraw:
        return lambda lo, m: (np.arange(lo, lo + m, dtype=np.int64) * step) % n_pages

    desc = f"{func} over {n_pages} pages, {length} refs, write_ratio={write_ratio}"
    return _stream(func, desc, n_pages, length, pages, write_ratio, lambda: start, page_size)


def sequential(
    n_pages: int, length: int, *, write_ratio: float = 0.0, seed: int = 0, page_size: int = DEFAULT_PAGE_SIZE
) -> RefStream:
    """:func:`workloads.generators.sequential`, streamed."""
    n_pages = gen._require_int("sequential", "n_pages", n_pages)
    length = gen._require_int("sequential", "length", length)
    return _cyclic("sequential", n_pages, length, write_ratio, seed, page_size, 1)


def loop(
    n_pages: int, length: int, *, write_ratio: float = 0.0, seed: int = 0, page_size: int = DEFAULT_PAGE_SIZE
) -> RefStream:
    """:func:`workloads.generators.loop`, streamed."""
    n_pages = gen._require_int("loop", "n_pages", n_pages)
    length = gen._require_int("loop", "length", length)
    return _cyclic("loop", n_pages, length, write_ratio, seed, page_size, 1)


def strided(
    n_pages: int,
    length: int,
    stride: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RefStream:
    """:func:`workloads.generators.strided`, streamed."""
    n_pages = gen._require_int("strided", "n_pages", n_pages)
    length = gen._require_int("strided", "length", length)
    stride = gen._require_int("strided", "stride", stride)
    out = _cyclic("strided", n_pages, length, write_ratio, seed, page_size, stride % n_pages)
    out.description = (
        f"strided walk (stride {stride}) over {n_pages} pages, {length} refs, write_ratio={write_ratio}"
    )
    return out


def zipf(
    n_pages: int,
    length: int,
    alpha: float = 0.9,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RefStream:
    """:func:`workloads.generators.zipf`, streamed (the guide table is built once)."""
    n_pages = gen._require_int("zipf", "n_pages", n_pages)
    length = gen._require_int("zipf", "length", length)
    alpha = gen._require_real("zipf", "alpha", alpha, 0.0)
    rng = gen._common("zipf", write_ratio, seed, page_size)
    perm = rng.permutation(n_pages)
    start = rng.bit_generator.state
    pages = _zipf_draws(perm, alpha)(start)
    desc = f"zipf(alpha={alpha}) over {n_pages} pages, {length} refs, write_ratio={write_ratio}, seed={seed}"
    # one double per page: the writes start `length` outputs later
    return _stream(
        "zipf", desc, n_pages, length, pages, write_ratio, lambda: _advanced(start, length), page_size
    )


def _zipf_draws(perm: np.ndarray, alpha: float) -> Callable[[dict[str, Any]], Callable[[], PageDraw]]:
    """Zipf(``alpha``) page draws over ``perm`` (one double a page; the guide table built once).

    ``draws(state)`` is the ``pages()`` of :func:`_stream` for a generator at ``state``.
    """
    sampler = gen.CdfSampler(np.arange(1, perm.size + 1, dtype=np.float64) ** -float(alpha))

    def draws(state: dict[str, Any]) -> Callable[[], PageDraw]:
        def pages() -> PageDraw:
            prng = _rng(state)
            return lambda lo, m: perm[sampler(prng.random(m))]

        return pages

    return draws


def _integers(
    func: str, n_pages: int, length: int, write_ratio: float, seed: int, page_size: int, offset, high: int
):
    """Pages ``offset(lo, m) + rng.integers(0, high)`` (``uniform``, ``phases``)."""
    rng = gen._common(func, write_ratio, seed, page_size)
    start = rng.bit_generator.state

    def draw(r: np.random.Generator, lo: int, m: int) -> np.ndarray:
        return offset(lo, m) + r.integers(0, high, size=m, dtype=np.int64)

    def pages() -> PageDraw:
        prng = _rng(start)
        return lambda lo, m: draw(prng, lo, m)

    return pages, lambda: _after_draws(start, length, draw)


def uniform(
    n_pages: int, length: int, *, write_ratio: float = 0.0, seed: int = 0, page_size: int = DEFAULT_PAGE_SIZE
) -> RefStream:
    """:func:`workloads.generators.uniform`, streamed."""
    n_pages = gen._require_int("uniform", "n_pages", n_pages)
    length = gen._require_int("uniform", "length", length)
    pages, wstate = _integers(
        "uniform", n_pages, length, write_ratio, seed, page_size, lambda lo, m: 0, n_pages
    )
    desc = f"uniform over {n_pages} pages, {length} refs, write_ratio={write_ratio}, seed={seed}"
    return _stream("uniform", desc, n_pages, length, pages, write_ratio, wstate, page_size)


def phases(
    n_phases: int,
    ws_pages: int,
    length: int,
    shift: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RefStream:
    """:func:`workloads.generators.phases`, streamed."""
    length = gen._require_int("phases", "length", length)
    n_phases = gen._require_int("phases", "n_phases", n_phases)
    if n_phases > length:
        raise WorkloadError(f"phases: n_phases must be in [1, length={length}], got {n_phases}")
    ws_pages = gen._require_int("phases", "ws_pages", ws_pages)
    shift = gen._require_int("phases", "shift", shift, 0)

    def offset(lo: int, m: int) -> np.ndarray:
        return np.arange(lo, lo + m, dtype=np.int64) * n_phases // length * shift

    pages, wstate = _integers("phases", ws_pages, length, write_ratio, seed, page_size, offset, ws_pages)
    desc = (
        f"{n_phases} phases of a {ws_pages}-page working set shifting by {shift}, "
        f"{length} refs, write_ratio={write_ratio}, seed={seed}"
    )
    n_pages = (n_phases - 1) * shift + ws_pages
    return _stream("phases", desc, n_pages, length, pages, write_ratio, wstate, page_size)


def stack_heap(
    steps: int = 200,
    refs_per_step: int = 1000,
    chunk_pages: int = 16,
    max_chunks: int = 32,
    stack_pages: int = 32,
    grow_prob: float = 0.6,
    stack_fraction: float = 0.3,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> RefStream:
    """:func:`workloads.generators.stack_heap`, streamed: its mmap/munmap events ride in the blocks.

    The whole generator draws, in this order, a grow decision per step, then per reference
    the stack choice, the stack depth (a geometric draw: one double each at p = 1/2), the
    heap position and the write: each block draws its references' share of each from a
    copy of the generator advanced to where that draw starts. The heap's size per step
    (the resize events, one per step at most) is computed up front: memory is a few words
    a step and a block, not the references.
    """
    f = "stack_heap"
    steps = gen._require_int(f, "steps", steps)
    refs = gen._require_int(f, "refs_per_step", refs_per_step)
    chunk_pages = gen._require_int(f, "chunk_pages", chunk_pages)
    max_chunks = gen._require_int(f, "max_chunks", max_chunks)
    stack_pages = gen._require_int(f, "stack_pages", stack_pages)
    grow_prob = gen._require_real(f, "grow_prob", grow_prob, 0.0, 1.0)
    stack_fraction = gen._require_real(f, "stack_fraction", stack_fraction, 0.0, 1.0)
    rng = gen._common(f, write_ratio, seed, page_size)
    stack_vpn = max_chunks * chunk_pages + 16
    stack_top = stack_vpn + stack_pages  # one past the top page
    total = steps * refs
    grow_draw = rng.random(steps) < grow_prob
    start = rng.bit_generator.state  # the per-reference draws begin here
    live = gen.heap_chunks(grow_draw, max_chunks)
    events: list = []
    event_op = np.zeros(steps, np.int8)  # the event before step s (0: none)
    for s in range(1, steps):
        if live[s] > live[s - 1]:
            events.append(Vma(int(live[s - 1]) * chunk_pages, chunk_pages, "rw"))
            event_op[s] = EV_MMAP
        elif live[s] < live[s - 1]:
            events.append(int(live[s]) * chunk_pages)
            event_op[s] = EV_MUNMAP
    n_events = len(events)

    def pieces(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        draws = [_rng(_advanced(start, k * total)) for k in range(4)]  # stack?, depth, heap, write
        event = 0
        for s in range(steps):
            if event_op[s]:
                yield event_op[s : s + 1], np.array([event], np.int64)
                event += 1
            heap_pages = int(live[s]) * chunk_pages
            for lo in range(0, refs, size):
                m = min(size, refs - lo)
                to_stack = draws[0].random(m) < stack_fraction
                depth = np.minimum(draws[1].geometric(0.5, size=m) - 1, stack_pages - 1)
                pages = np.where(
                    to_stack, stack_top - 1 - depth, (draws[2].random(m) * heap_pages).astype(np.int64)
                )
                writes = draws[3].random(m) < write_ratio
                yield gen._ops(writes), pages * page_size

    def blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return rebatch(pieces(size), size)

    desc = gen.stack_heap_description(
        steps, refs, chunk_pages, max_chunks, stack_pages, grow_prob, stack_fraction, write_ratio, seed
    )
    return RefStream(
        "stack-heap",
        [Vma(0, chunk_pages, "rw"), Vma(stack_vpn, stack_pages, "rw")],
        blocks,
        total + n_events,
        page_size=page_size,
        description=desc,
        events=events,
    )


def fork_server(
    workers: int = 4,
    pages: int = 1024,
    length_per_proc: int = 50_000,
    alpha: float = 0.9,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> ProcessStreams:
    """:func:`workloads.generators.fork_server`, streamed: each process drawn block by block.

    The whole generator draws, after its permutation, each worker's references and
    then the server's, each process its pages (one double each) then its writes: process
    ``j`` of that order draws from copies of the generator advanced ``2 * length * j``
    (pages) and ``length`` more (writes). The server's stream is its heap writes, its
    fork events, then its references; the workers inherit the heap.
    """
    f = "fork_server"
    workers = gen._require_int(f, "workers", workers)
    pages = gen._require_int(f, "pages", pages)
    length = gen._require_int(f, "length_per_proc", length_per_proc)
    alpha = gen._require_real(f, "alpha", alpha, 0.0)
    rng = gen._common(f, write_ratio, seed, page_size)
    perm = rng.permutation(pages)
    start = rng.bit_generator.state
    zipf_from = _zipf_draws(perm, alpha)
    desc = gen.fork_server_description(workers, pages, length, alpha, write_ratio, seed)

    def drawn(j: int, name: str) -> RefStream:
        """The ``j``-th process drawn (workers first, then the server)."""
        draw = zipf_from(_advanced(start, 2 * length * j))
        wstate = lambda: _advanced(start, 2 * length * j + length)  # noqa: E731
        out = _stream("fork-server", desc, pages, length, draw, write_ratio, wstate, page_size)
        out.process_name = name
        return out

    children = [drawn(j, f"worker{j}") for j in range(workers)]
    for child in children:
        child.vmas = []  # a forked process inherits its parent's
    refs = drawn(workers, "server").blocks
    heap = np.arange(pages, dtype=np.int64) * page_size
    forks = np.full(workers, EV_FORK, np.int8), np.arange(workers, dtype=np.int64)

    def server(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pieces = chain([(np.full(pages, OP_WRITE, np.int8), heap), forks], refs(size))
        return rebatch(pieces, size)

    streams = [
        RefStream(
            "fork-server",
            [Vma(0, pages, "rw")],
            server,
            pages + workers + length,
            page_size=page_size,
            process_name="server",
            events=list(range(1, workers + 1)),
        ),
        *children,
    ]
    return ProcessStreams(
        "fork-server",
        [],
        no_blocks,
        sum(s.length for s in streams),
        page_size=page_size,
        description=desc,
        streams=streams,
        starts=[0] * (workers + 1),
        parents=[None] + [0] * workers,
    )


STREAMED: dict[Callable[..., Any], Callable[..., RefStream]] = {
    gen.sequential: sequential,
    gen.loop: loop,
    gen.strided: strided,
    gen.zipf: zipf,
    gen.uniform: uniform,
    gen.phases: phases,
    gen.stack_heap: stack_heap,
    gen.fork_server: fork_server,
}
"""Each streamable generator of :mod:`workloads.generators` and its streamed version."""
