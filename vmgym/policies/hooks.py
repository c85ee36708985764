"""Dispatch from the simulator flow to the compiled policy hooks.

The flow is written once (:mod:`vmgym.sim.kernel`); policies plug in here. Each
hook branches on the policy's kernel id, a constant for a whole run, so the
branch costs next to nothing. Kernel id 0 is the *external* policy: the
simulator stops and asks its caller (a Python policy or an RL agent).
"""

from __future__ import annotations

from numba import njit

from vmgym.policies import clock, fifo, lru, opt
from vmgym.sim import state as S

EXTERNAL = 0


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pol, pol_f, pol_g, f, g, i):
    """Reference ``i`` hit page ``g`` resident in frame ``f``.

    The hot loop passes the policy id and state arrays it hoisted (see ``kernel.run``).
    """
    if pol == lru.KERNEL_ID:
        lru.on_hit(pol_f, pol_g, f)
    elif pol == opt.KERNEL_ID:
        opt.on_access(st, f, g, i)


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


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` is being emptied: ``evicted`` (replacement) or freed (exit, munmap)."""
    pol = st.cfg[S.CF_POLICY]
    if pol == lru.KERNEL_ID or pol == fifo.KERNEL_ID:
        fifo.on_remove(st, f)
    elif pol == opt.KERNEL_ID:
        opt.on_remove(st, f)


@njit(cache=True, inline="always", _nrt=False)
def on_meta(st, f):
    """The set of PTEs mapping frame ``f``'s page changed (fork, copy-on-write, unmap)."""
    if st.cfg[S.CF_POLICY] == opt.KERNEL_ID:
        opt.on_meta(st, f)


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
    return -1
