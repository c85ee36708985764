"""A faster copy of a callee's IR in numba's inliner (``inline="always"``).

Numba's ``InlineWorker.inline_ir`` copies the callee's IR before splicing it
into the caller, one block at a time, each with a fresh ``copy.deepcopy`` memo.
Every variable refers to the function's scope, so each block's copy copies the
whole scope again: the cost grows as blocks x variables, and a simulator flow
inlines callees that already hold their own callees (hundreds of blocks,
thousands of variables). It was ~30 % of compiling a flow (numba 0.68; upstream
threads: numba/numba#8989, numba/numba#9204).

:func:`install` makes those block copies share one memo per scope within one
``inline_ir`` call, so the copy is the IR's structure as it was (blocks share
one scope, as in the original) and the scope is copied once. Nothing else
changes: the compiled code is the same (checked in tests/sim/test_inline_copy.py),
and where numba's source differs from the one this was written against, nothing
is installed. It is process-wide (numba has no per-function hook for this): other
numba code compiled in a process that imported vmgym's kernels inlines through the
same copy, with the same result.
"""

from __future__ import annotations

import copy
import functools
import inspect

_PATTERN = "copy.deepcopy(the_ir.blocks[block_label])"  # the per-block copy this replaces


class _BlockCopy:
    """Stands in for the ``copy`` module inside numba's inliner: block copies share a memo per scope."""

    def __init__(self, ir_block: type) -> None:
        self._block = ir_block
        self.memos: dict[int, dict] | None = None  # per scope, while an inline_ir call runs

    def deepcopy(self, x, memo=None):
        """``copy.deepcopy``; a block inside ``inline_ir`` uses the memo of its scope."""
        if memo is None and self.memos is not None and type(x) is self._block:
            memo = self.memos.setdefault(id(x.scope), {})
        return copy.deepcopy(x, memo)

    def __getattr__(self, name: str):
        return getattr(copy, name)


def install() -> bool:
    """Install the shared-memo block copy in numba's inliner (once); False where numba's inliner differs."""
    from numba.core import inline_closurecall as ic
    from numba.core import ir

    worker = ic.InlineWorker
    if getattr(worker.inline_ir, "_vmgym_shared_memo", False):
        return True
    try:
        if _PATTERN not in inspect.getsource(worker.inline_ir) or ic.copy is not copy:
            return False
    except (OSError, TypeError):  # no source on disk
        return False
    shim = _BlockCopy(ir.Block)
    original = worker.inline_ir

    @functools.wraps(original)
    def inline_ir(self, *args, **kwargs):
        outer, shim.memos = shim.memos, {}
        try:
            return original(self, *args, **kwargs)
        finally:
            shim.memos = outer

    inline_ir._vmgym_shared_memo = True
    ic.copy = shim
    worker.inline_ir = inline_ir
    return True
