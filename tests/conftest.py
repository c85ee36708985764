"""Session set-up: compile every policy's simulator flow once, in parallel, before the tests.

Each policy has its own compiled flow (``vmgym.sim.specialize``); compiling them
on both cores up front halves the cold start of the suite. With a warm numba
cache this takes about a second.
"""

import os

from numba import config


def pytest_sessionstart(session):
    if config.DISABLE_JIT or hasattr(session.config, "workerinput"):
        return
    from vmgym import policies
    from vmgym.sim.specialize import precompile

    precompile([None, *policies.names()], jobs=min(2, os.cpu_count() or 1))
