"""Dispatch from the simulator flow to the compiled policy hooks.

The flow is written once (:mod:`vmgym.sim.kernel`); policies plug in here. Each
hook branches on the policy's kernel id, a constant for a whole run, so the
branch costs next to nothing. Kernel id 0 is the *external* policy: the
simulator stops and asks its caller (a Python policy or an RL agent).

Adding a policy: see ``docs/writing-a-policy.md``. Each ``# <dispatch:...>``
marker is where a new ``elif`` branch goes.
"""

from __future__ import annotations

from numba import njit

from vmgym.policies import clock, fifo, lru, opt
from vmgym.sim import state as S

# <dispatch:imports>

EXTERNAL = 0


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol, pol_f, pol_g, f, g, i):
    """Reference ``i`` hit page ``g`` resident in frame ``f``.

    The hot loop passes the policy id and the ``pol_f``/``pol_g`` arrays it
    hoisted (see ``kernel.run``); ``st`` has everything else.
    """
    if pol == lru.KERNEL_ID:
        lru.on_hit(pol_f, pol_g, f)
    elif pol == opt.KERNEL_ID:
        opt.on_access(st, f, g, i)
    # <dispatch:on_hit>


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """Page ``g`` was loaded into frame ``f`` by reference ``i``."""
    pol = st.cfg[S.CF_POLICY]
    if pol == lru.KERNEL_ID or pol == fifo.KERNEL_ID:
        fifo.on_insert(st, f)
    elif pol == clock.KERNEL_ID:
        clock.on_insert(st, f)
    elif pol == opt.KERNEL_ID:
        opt.on_access(st, f, g, i)
    # <dispatch:on_insert>


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` is being emptied: ``evicted`` (replacement) or freed (exit, munmap).

    ``st.frame_page[f]`` still names the page during this call.
    """
    pol = st.cfg[S.CF_POLICY]
    if pol == lru.KERNEL_ID or pol == fifo.KERNEL_ID:
        fifo.on_remove(st, f)
    elif pol == opt.KERNEL_ID:
        opt.on_remove(st, f)
    # <dispatch:on_remove>


@njit(cache=True, inline="always", _nrt=False)
def on_page_free(st, g):
    """Page id ``g`` stops existing (its last mapping went away) and may be reused.

    Policies that remember non-resident pages (ghost lists) must forget ``g`` here.
    """
    pol = st.cfg[S.CF_POLICY]
    if pol < 0:
        pass
    # <dispatch:on_page_free>


@njit(cache=True, inline="always", _nrt=False)
def on_meta(st, f):
    """The set of PTEs mapping frame ``f``'s page changed (fork, copy-on-write, unmap)."""
    pol = st.cfg[S.CF_POLICY]
    if pol == opt.KERNEL_ID:
        opt.on_meta(st, f)
    # <dispatch:on_meta>


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The policy's victim frame among evictable frames, or -1 if it has none."""
    pol = st.cfg[S.CF_POLICY]
    if pol == lru.KERNEL_ID or pol == fifo.KERNEL_ID:
        return fifo.victim(st)  # LRU keeps FIFO's queue, reordered on hits
    if pol == clock.KERNEL_ID:
        return clock.victim(st)
    if pol == opt.KERNEL_ID:
        return opt.victim(st)
    # <dispatch:victim>
    return -1
