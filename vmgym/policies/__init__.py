"""Replacement policies: a registry by name, each a compiled kernel plus a small class.

>>> from vmgym import policies
>>> policies.make("lru")
LRU()
"""

from vmgym.policies import (  # noqa: F401  (registration)
    aging,
    arc,
    car,
    clock,
    clockpro,
    fifo,
    gclock,
    lfu,
    linux2q,
    lirs,
    lru,
    lruk,
    mglru,
    nfu,
    nru,
    opt,
    pff,
    randompolicy,
    s3fifo,
    sieve,
    twoq,
    ws,
    wsclock,
)
from vmgym.policies.base import Policy, PolicyError, aliases, get_class, make, names, register, unregister

__all__ = ["Policy", "PolicyError", "aliases", "get_class", "make", "names", "register", "unregister"]
