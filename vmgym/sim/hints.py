"""Hints to the compiler and the cache for the compiled kernels; neither changes a result.

- ``warm(a, i)`` emits LLVM's ``llvm.prefetch`` (read, keep in all cache levels) for
  the address of ``a[i]``: no load, no fault, whatever ``i`` holds (a hint to an
  address outside the array is ignored by the hardware). The simulation loop knows
  the references ahead of the one it runs (the trace is in memory) and walks a
  chain of dependent loads per reference (PTE -> page -> frame), each in a
  different array: hinting the next references' entries lets those loads overlap
  instead of waiting in turn. Large footprints gain (1M pages, 100k frames, a
  `.npy` trace: LRU 1.23-1.39 -> 0.82-0.97 s per 3M references); 10k pages fit in
  cache and gain nothing (README "Speed", which also has a case with no gain).
- ``nonneg(x)`` tells LLVM that ``x >= 0`` (``llvm.assume``). numba indexes an array
  with a signed integer through a wraparound select for negative indices, which
  also keeps the array's length live in a register or on the stack; for the ids
  the kernels index with (PTEs, pages, frames, pids, list members), never
  negative where they index, that select is pure cost: lean LRU, ARC and Clock ran
  ~15-20 % faster without it (README "Speed").
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def warm(typingctx, arr, idx):
    """Hint that ``arr[idx]`` (1-D array, integer index) will be read soon; returns nothing."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = builder.gep(ary.data, [index])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


@intrinsic
def nonneg(typingctx, x):
    """``x`` unchanged, with the compiler told it is >= 0 (``llvm.assume``).

    Indexing an array with a signed integer costs a wraparound select for negative
    indices (and keeps the array's length live); an index the caller has already
    proven non-negative needs neither. Only for values that cannot be negative:
    a negative one is undefined behaviour.
    """
    if not isinstance(x, types.Integer) or not x.signed:
        return None

    def codegen(context, builder, sig, args):
        val = args[0]
        ok = builder.icmp_signed(">=", val, val.type(0))
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(1)]), "llvm.assume"
        )
        builder.call(fn, [ok])
        return val

    return x(x), codegen
