"""Pass the machine state to compiled code by reference: ``st.x`` reads one field.

:class:`~vmgym.sim.state.SimState` is a NamedTuple of 67 arrays. numba keeps a
NamedTuple by value: every ``st.x`` in compiled code loads the whole aggregate
(hundreds of fields) and extracts one, and every call that is not inlined
passes all its fields as separate arguments. LLVM then spends most of a flow's
compile time splitting those aggregates back apart (the SROA pass: 6.7 of the
12.5 s of function passes on the LRU flow), and a rare-path call copies every
array descriptor.

:func:`ref` stores the tuple once, on the stack of the compiled function that
receives it from Python, and returns a :class:`StateRefType` value: a pointer.
Attribute reads on it load just that field (marked invariant: the tuple is
never written after :func:`ref`), and a call passes one pointer. The kernel
code is unchanged: ``st.frame_page[f]`` reads the same on the tuple and on the
reference. Measured on 2026-12-03 (2 cores): a cold compile of the shared
kernels plus the LRU flow went from 84 s to 36 s, and each further policy flow
from 28 s to 18 s.

The reference is valid while the compiled function that made it runs: only
functions called from it may hold it.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.core.datamodel import models
from numba.core.typing.templates import AttributeTemplate
from numba.extending import infer_getattr, intrinsic, lower_getattr_generic, register_model


class StateRefType(types.Type):
    """A pointer to a NamedTuple of arrays, read field by field (see the module docstring)."""

    def __init__(self, tuple_type: types.BaseNamedTuple):
        self.tuple_type = tuple_type
        self.field_index = {name: k for k, name in enumerate(tuple_type.fields)}
        super().__init__(name=f"StateRef({tuple_type})")

    @property
    def key(self):
        """Equal references share compiled code: the key is the tuple's type."""
        return self.tuple_type


@register_model(StateRefType)
class _StateRefModel(models.PointerModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, types.CPointer(fe_type.tuple_type))


@infer_getattr
class _StateRefAttributes(AttributeTemplate):
    key = StateRefType

    def generic_resolve(self, typ, attr):
        k = typ.field_index.get(attr)
        return None if k is None else typ.tuple_type.types[k]


@lower_getattr_generic(StateRefType)
def _read_field(context, builder, typ, value, attr):
    load = builder.load(cgutils.gep_inbounds(builder, value, 0, typ.field_index[attr]))
    load.set_metadata("invariant.load", builder.module.add_metadata([]))
    return load


@intrinsic
def ref(typingctx, st):
    """A by-reference view of the NamedTuple ``st`` (valid for the calling compiled function's lifetime)."""
    if not isinstance(st, types.BaseNamedTuple):
        return None

    def codegen(context, builder, sig, args):
        slot = cgutils.alloca_once(builder, args[0].type)
        builder.store(args[0], slot)
        return slot

    return StateRefType(st)(st), codegen
