"""Where the compiled trace kernels are cached: a folder named after a hash of this package.

numba invalidates a cached kernel only when *its own* file changes, not when a helper it
calls or inlines from another file does (a format's kernel and the byte helpers of
``textscan.py``, say), so an edited helper could run stale compiled code. The package
therefore decorates its kernels inside :func:`kernel_cache`, which points numba's cache at
``<base>/traces-<hash of every .py file of the package>`` (``<base>`` as in
``vmgym/_cache.py``) and restores the previous folder afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def source_hash() -> str:
    """SHA-1 over the package's source files (relative names and contents), 12 hex digits."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


@contextmanager
def kernel_cache() -> Iterator[None]:
    """Within the block, numba caches newly decorated kernels in this package's own folder."""
    from numba import config

    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vmgym", "numba"
    )
    target = Path(base) / f"traces-{source_hash()}"
    previous = config.CACHE_DIR
    try:
        target.mkdir(parents=True, exist_ok=True)
        config.CACHE_DIR = str(target)
    except OSError:  # not writable: numba's default (beside the sources)
        pass
    try:
        yield
    finally:
        config.CACHE_DIR = previous
