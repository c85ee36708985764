"""Where the compiled kernels are cached, keyed by the kernels' own sources.

numba invalidates a cached function only when *its own* file changes, not when
a function it inlines from another file does (a policy hook inlined into the
simulator loop, say), so an edited policy could run stale compiled code. We
therefore point numba's cache at a folder named after a hash of every kernel
source file: any edit gives a fresh folder. It must run before the kernels are
imported; ``vmgym/__init__.py`` calls it first.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_KERNEL_DIRS = ("sim", "policies", "prefetch")
_NOT_KERNELS = {"invariants.py"}  # plain NumPy in those folders: editing it must not recompile


def kernel_source_hash() -> str:
    """SHA-1 over the kernel source files (names and contents), 12 hex digits."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for sub in _KERNEL_DIRS:
        for path in sorted((root / sub).glob("*.py")):
            if path.name in _NOT_KERNELS:
                continue
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def configure_cache() -> Path | None:
    """Set numba's cache folder to ``<base>/<hash>``; return it (None if not writable).

    ``<base>`` is ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vmgym/numba``
    (``~/.cache/vmgym/numba``).
    """
    import numba

    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vmgym", "numba"
    )
    target = Path(base) / kernel_source_hash()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    numba.config.CACHE_DIR = str(target)
    return target
