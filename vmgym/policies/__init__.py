"""Replacement policies: a registry by name, each a compiled kernel plus a small class.

>>> from vmgym import policies
>>> policies.make("lru")
LRU()
"""

from vmgym.policies import clock, fifo, lru, opt  # noqa: F401  (registration)
from vmgym.policies.base import Policy, PolicyError, aliases, get_class, make, names, register

__all__ = ["Policy", "PolicyError", "aliases", "get_class", "make", "names", "register"]
