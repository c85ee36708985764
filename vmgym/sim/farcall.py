"""Calls from a policy's flow to the kernels all flows share, through a table of their addresses.

Each policy compiles its own flow (:mod:`vmgym.sim.specialize`). A direct call
from that flow to a shared kernel (an ``mmap`` event, a copy-on-write break, a
prefetcher, the OOM killer) makes numba compile the callee first and link its
code into the flow, so every flow's compile carried the rare paths (57 % of the
LRU flow's instructions) and could not start before they were compiled. A
*far* call instead loads the callee's address from a per-process table and calls
it: the flow compiles without the shared kernels, the shared kernels compile
once (in another process if one is free), and the hot path does not change (a
far call is taken only on a rare path).

:func:`far` wraps a kernel ``fn(st, *ints)`` (``st`` a state reference,
:mod:`vmgym.sim.stateref`; integer arguments passed as int64) into a function a
flow calls like ``fn`` itself. The table is a global symbol per state type,
resolved when the flow's machine code is linked (compiled or loaded from
numba's cache), so :func:`declare` must run before a flow is compiled or loaded
and :func:`bind` (which compiles, or loads, the shared kernels and fills the
table) before a flow runs; :class:`~vmgym.sim.simulator.Simulator` does both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from vmgym.sim.stateref import StateRefType

_KERNELS: list[tuple[object, types.Type]] = []  # (numba dispatcher, its return type), by table slot
_TABLES: dict[str, np.ndarray] = {}  # symbol -> the address table (kept alive: the symbol points into it)
_BOUND: set[str] = set()
_DEFER = [False]


def _symbol(tuple_type: types.Type) -> str:
    return "vmgym_farcall_" + hashlib.sha1(str(tuple_type).encode()).hexdigest()[:16]


def _call(context, builder, addr, returns: types.Type, sig, args):
    """Call the numba function at native address ``addr`` with ``(st, *ints)`` (ints passed as int64)."""
    argtys = (sig.args[0],) + (types.int64,) * (len(args) - 1)
    ints = zip(args[1:], sig.args[1:], strict=True)
    values = [args[0]] + [context.cast(builder, v, t, types.int64) for v, t in ints]
    fnty = context.call_conv.get_function_type(returns, argtys)
    callee = builder.inttoptr(addr, fnty.as_pointer())
    status, out = context.call_conv.call_function(builder, callee, returns, argtys, values)
    with cgutils.if_unlikely(builder, status.is_error):
        context.call_conv.return_status_propagate(builder, status)
    return out if returns != types.none else context.get_dummy_value()


def _codegen(slot: int, returns: types.Type, context, builder, sig, args):
    module = builder.module
    name = _symbol(sig.args[0].tuple_type)
    table = module.globals.get(name)
    if table is None:
        table = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(64), len(_KERNELS)), name)
        table.linkage = "external"
    addr = builder.load(cgutils.gep_inbounds(builder, table, 0, slot))
    return _call(context, builder, addr, returns, sig, args)


@intrinsic
def call_loop(typingctx, addr, st, stop):
    """Call a flow's loop ``_run(st, stop)`` compiled at native address ``addr``; its int64 status.

    One compiled entry from Python (:func:`vmgym.sim.kernel.run`) serves every flow:
    a flow compiles only its loop (:func:`loop_address`), not a CPython wrapper of its own.
    """
    if not isinstance(st, StateRefType) or not isinstance(addr, types.Integer):
        return None
    if not isinstance(stop, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        inner = types.int64(*sig.args[1:])
        return _call(context, builder, args[0], types.int64, inner, args[1:])

    return types.int64(addr, st, stop), codegen


def _address(fn, sig: tuple, returns: types.Type) -> int:
    """Compile (or load) numba function ``fn`` for ``sig``; its native address, checking its return type."""
    fn.compile(sig)
    cres = fn.overloads[sig]
    if cres.signature.return_type != returns:
        raise TypeError(
            f"far call {fn.py_func.__qualname__}: declared to return {returns}, "
            f"compiles to {cres.signature.return_type}"
        )
    return cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)


def loop_address(loop, tuple_type: types.Type) -> int:
    """The native address of a flow's loop ``_run`` for states of ``tuple_type`` (compiled or loaded)."""
    return _address(loop, (StateRefType(tuple_type), types.int64), types.int64)


def far(fn, returns: types.Type) -> Callable:
    """A far call to the numba kernel ``fn(st, *ints)`` returning ``returns`` (see the module docstring)."""
    if _TABLES:
        raise RuntimeError(f"far({fn.py_func.__qualname__}): declare far calls at import, before any table")
    slot = len(_KERNELS)
    _KERNELS.append((fn, returns))
    nargs = fn.py_func.__code__.co_argcount - 1

    def typer(st, *ints):
        if not isinstance(st, StateRefType) or len(ints) != nargs:
            return None
        if not all(isinstance(t, (types.Integer, types.Boolean)) for t in ints):
            return None
        return returns(st, *ints), lambda *a: _codegen(slot, returns, *a)

    # numba's intrinsic takes a fixed argument list: one per arity
    if nargs == 0:
        call = intrinsic(lambda typingctx, st: typer(st))
    elif nargs == 1:
        call = intrinsic(lambda typingctx, st, a: typer(st, a))
    elif nargs == 2:
        call = intrinsic(lambda typingctx, st, a, b: typer(st, a, b))
    elif nargs == 3:
        call = intrinsic(lambda typingctx, st, a, b, c: typer(st, a, b, c))
    elif nargs == 4:
        call = intrinsic(lambda typingctx, st, a, b, c, d: typer(st, a, b, c, d))
    else:
        raise ValueError(f"far(): {fn.py_func.__qualname__} takes {nargs} integers after st, at most 4")
    call.__name__ = call.__qualname__ = f"far_{fn.py_func.__name__.lstrip('_')}"
    return call


def declare(tuple_type: types.Type) -> None:
    """Make the far-call table for states of numba type ``tuple_type`` known to the linker (empty)."""
    name = _symbol(tuple_type)
    if name not in _TABLES:
        table = np.zeros(len(_KERNELS), np.int64)
        _TABLES[name] = table
        llvm.add_symbol(name, table.ctypes.data)


def bind(tuple_type: types.Type) -> None:
    """Compile (or load from cache) the shared kernels for states of ``tuple_type`` and fill their table."""
    name = _symbol(tuple_type)
    if name in _BOUND:
        return
    declare(tuple_type)
    if _DEFER[0]:
        return
    table = _TABLES[name]
    ref_type = StateRefType(tuple_type)
    for slot, (fn, returns) in enumerate(_KERNELS):
        ints = (types.int64,) * (fn.py_func.__code__.co_argcount - 1)
        table[slot] = _address(fn, (ref_type, *ints), returns)
    _BOUND.add(name)


@contextmanager
def unbound() -> Iterator[None]:
    """Within it, :func:`bind` only declares the table: for a job that compiles a flow and does not run it."""
    _DEFER[0] = True
    try:
        yield
    finally:
        _DEFER[0] = False
