"""The inliner's faster IR copy (vmgym.sim.inline_copy) is installed and changes no compiled code."""

import re

import numba
from numba.core import inline_closurecall as ic

from vmgym.sim import inline_copy, kernel  # noqa: F401 (importing the kernels installs it)

SOURCE = """
@numba.njit(inline="always")
def leaf(a, i):
    if a[i] > 3:
        a[i] -= 1
        return 1
    a[i] += 2
    return 0

@numba.njit(inline="always")
def middle(a, i):
    n = 0
    for j in range(i):
        n += leaf(a, j) + leaf(a, i - j)
    return n

@numba.njit
def top(a, k):
    return middle(a, k) + middle(a, k + 1) + leaf(a, 0)
"""


def _asm() -> str:
    env = {"numba": numba}
    exec(SOURCE, env)  # fresh dispatchers: compiled now, not from a cache
    top = env["top"]
    sig = (numba.types.int64[::1], numba.types.int64)
    top.compile(sig)
    asm = re.sub(r"\b[_A-Za-z0-9$.]*(top|middle|leaf)[_A-Za-z0-9$.]*", "NAME", top.inspect_asm(sig))
    # a string holding a mangled name has that name's length, and the name carries
    # numba's process-wide counter: the length is not machine code, so it is masked too
    return re.sub(r'(\.size\s+"[^"]*NAME[^"]*"), \d+', r"\1, LEN", asm)


def test_installed_on_this_numba():
    assert getattr(ic.InlineWorker.inline_ir, "_vmgym_shared_memo", False)
    assert inline_copy.install()  # idempotent


def test_same_machine_code_as_numbas_own_copy(monkeypatch):
    patched = _asm()
    monkeypatch.setattr(ic.InlineWorker, "inline_ir", ic.InlineWorker.inline_ir.__wrapped__)
    assert _asm() == patched


def test_block_copies_share_one_scope_copy():
    from numba.core import ir

    scope = ir.Scope(None, ir.Loc("f", 1))
    blocks = [ir.Block(scope, ir.Loc("f", n)) for n in range(3)]
    for b in blocks:
        b.append(ir.Assign(ir.Const(1, b.loc), scope.redefine("x", b.loc), b.loc))
    shim = ic.copy
    shim.memos = {}
    try:
        copies = [shim.deepcopy(b) for b in blocks]
    finally:
        shim.memos = None
    assert len({id(c.scope) for c in copies}) == 1 and copies[0].scope is not scope
    outside = [shim.deepcopy(b) for b in blocks]  # outside inline_ir: numba's behaviour, a copy each
    assert len({id(c.scope) for c in outside}) == 3


def test_not_installed_where_numbas_source_differs(monkeypatch):
    import copy

    monkeypatch.setattr(ic.InlineWorker, "inline_ir", ic.InlineWorker.inline_ir.__wrapped__)
    monkeypatch.setattr(ic, "copy", copy)
    monkeypatch.setattr(inline_copy, "_PATTERN", "a line numba does not have")
    assert not inline_copy.install()
    assert ic.copy is copy and not hasattr(ic.InlineWorker.inline_ir, "_vmgym_shared_memo")
