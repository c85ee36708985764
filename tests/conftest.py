"""Session set-up: compile every policy's simulator flow once, in parallel, before the tests.

Each policy family shares one compiled flow (``vmgym.sim.specialize``); compiling
them on both cores up front halves the cold start of the suite. With a warm numba
cache this takes about a second. ``VMGYM_LAZY_COMPILE=1`` skips it (a targeted run
then compiles only the flows its tests use).
"""

import os

from numba import config


def pytest_sessionstart(session):
    if config.DISABLE_JIT or hasattr(session.config, "workerinput") or os.environ.get("VMGYM_LAZY_COMPILE"):
        return
    from vmgym import policies
    from vmgym._compile import compile_flows

    compile_flows([None, *policies.names()], jobs=min(2, os.cpu_count() or 1))
