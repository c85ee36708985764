"""The policy interface and registry.

A replacement policy has two halves:

- compiled hooks (functions named ``on_hit``, ``on_insert``, ..., ``victim`` in its
  module) that the simulator calls at every hit, insertion, eviction and removal,
  and when it needs a victim (the contract: :mod:`vmgym.policies.hooks`);
- a :class:`Policy` subclass that names it, validates its parameters and sizes and
  initialises its state arrays (``pol_f`` rows per frame, ``pol_p`` rows per page,
  ``pol_g`` global slots).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import numpy as np

from vmgym.policies import hooks as _hooks


class PolicyError(ValueError):
    """Unknown policy name or invalid policy parameters."""


def with_defaults(
    kind: str, name: str, defaults: dict[str, Any], given: dict[str, Any], error: type[Exception]
) -> dict[str, Any]:
    """``defaults`` updated by ``given``; ``error`` naming the unknown keys and the allowed ones."""
    unknown = set(given) - set(defaults)
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise error(f"{kind} {name!r}: unknown parameter(s) {', '.join(sorted(unknown))}; allowed: {allowed}")
    return {**defaults, **given}


class Policy:
    """Base class of replacement policies; subclasses set the class attributes.

    ``source`` names the paper or textbook the policy follows, ``conventions``
    the choices it makes where its source leaves room.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    kernel_id: ClassVar[int] = -1
    # the policies that name one family share one compiled flow, their hooks behind a switch on the
    # kernel id (vmgym.sim.specialize): one compile for the family; "" compiles a flow of its own
    flow_family: ClassVar[str] = ""
    source: ClassVar[str] = ""
    conventions: ClassVar[str] = ""
    frame_rows: ClassVar[int] = 0
    page_rows: ClassVar[int] = 0
    # pol_p is int32 stored page-major (the rows of one page share a cache line): page ids, links, flags;
    # a policy that keeps trace positions there sets this, and refuses traces of 2**31 references or more
    page_rows_hold_positions: ClassVar[bool] = False
    global_rows: ClassVar[int] = 0
    oracle: ClassVar[bool] = False  # needs the future (next-use array)
    reads_dirty_bit: ClassVar[bool] = False  # its choices depend on writes (NRU, WSClock)
    params: ClassVar[dict[str, Any]] = {}
    hooks: ClassVar[dict[str, Any]] = {}  # filled by @register from the policy's module

    def __init__(self, **params: Any):
        self.values = with_defaults("policy", self.name, self.params, params, PolicyError)
        self.validate()

    def validate(self) -> None:
        """Check ``self.values``; raise :class:`PolicyError` naming a bad parameter."""

    def init_state(self, pol_f: np.ndarray, pol_p: np.ndarray, pol_g: np.ndarray) -> None:
        """Initialise the policy's state arrays before a run (default: all -1)."""
        pol_f[:] = -1
        pol_p[:] = -1
        pol_g[:] = -1

    def check_trace_length(self, n_refs: int) -> None:
        """Raise :class:`PolicyError` if ``n_refs`` trace positions do not fit the int32 page rows."""
        if self.page_rows_hold_positions and n_refs > np.iinfo(np.int32).max:
            raise PolicyError(
                f"policy {self.name!r} keeps trace positions in int32 page rows: the trace has {n_refs} "
                f"references, at most {np.iinfo(np.int32).max} are supported"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"


_REGISTRY: dict[str, type[Policy]] = {}
_ALIASES: dict[str, str] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: register a policy under its name and aliases.

    Unless the class sets ``hooks`` itself, its hooks are the functions of the
    module that defines it named as in :mod:`vmgym.policies.hooks`; ``victim``
    is required.
    """
    if "hooks" not in cls.__dict__:
        cls.hooks = _hooks.collect(sys.modules[cls.__module__])
    if "victim" not in cls.hooks:
        raise TypeError(f"policy {cls.name!r} ({cls.__module__}) defines no victim hook")
    for key in (cls.name, *cls.aliases):
        key = key.lower()
        if key in _ALIASES:
            raise RuntimeError(f"policy name {key!r} registered twice")
        _ALIASES[key] = cls.name
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a registered policy and its aliases (e.g. to redefine one in a notebook)."""
    cls = get_class(name)
    for key in [k for k, v in _ALIASES.items() if v == cls.name]:
        del _ALIASES[key]
    del _REGISTRY[cls.name]


def names() -> list[str]:
    """Canonical names of all registered policies."""
    return sorted(_REGISTRY)


def family_members(cls: type[Policy]) -> tuple[type[Policy], ...]:
    """The policies sharing ``cls``'s compiled flow, by kernel id: its registered family, or ``cls`` alone.

    Raises ``RuntimeError`` if two members have the same kernel id (the flow could not tell them apart).
    """
    if not cls.flow_family:
        return (cls,)
    members = {c for c in _REGISTRY.values() if c.flow_family == cls.flow_family} | {cls}
    ordered = tuple(sorted(members, key=lambda c: (c.kernel_id, c.name)))
    ids = [c.kernel_id for c in ordered]
    if len(set(ids)) != len(ids):
        listing = ", ".join(f"{c.name}={c.kernel_id}" for c in ordered)
        raise RuntimeError(f"flow family {cls.flow_family!r} has policies with the same kernel id: {listing}")
    return ordered


def aliases() -> dict[str, str]:
    """Every accepted name (including aliases) mapped to its canonical name."""
    return dict(_ALIASES)


def get_class(name: str) -> type[Policy]:
    """The policy class for ``name`` (case-insensitive; aliases accepted)."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise PolicyError(f"unknown policy {name!r}; choose one of: {', '.join(names())}")
    return _REGISTRY[_ALIASES[key]]


def make(name: str | Policy, **params: Any) -> Policy:
    """Create a policy by name, e.g. ``make("lru")`` or ``make("clock")``."""
    if isinstance(name, Policy):
        if params:
            raise PolicyError("parameters given together with a policy instance")
        return name
    return get_class(name)(**params)
