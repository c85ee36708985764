"""Two processes compiling into the same empty kernel cache at once both succeed; a third loads it.

numba writes its cache index and object files per function; concurrent writers are a known
failure mode of numba caches. Each run here is a fresh interpreter with ``NUMBA_CACHE_DIR``
on a new temporary folder: it imports ``vmgym`` (which points numba's cache into that folder,
``vmgym/_cache.py``) and runs the small miss-ratio-curve kernels of ``vmgym/mrc.py``, so the
two cold compiles overlap in a few seconds instead of compiling a whole simulator flow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("workloads.stackdist.lru_push", "workloads.stackdist.next_uses", "vmgym.mrc._opt_push")
SCRIPT = f"""
import importlib
import json
import numpy as np
import vmgym
from vmgym import mrc

def kernel(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)

ids = (np.arange(4000, dtype=np.int64) * 7919 % 60).astype(np.int64)
out = {{
    "lru": mrc.lru_misses(ids, 60).tolist(),
    "opt": mrc.opt_misses(ids, 60).tolist(),
    "hits": {{k: sum(kernel(k).stats.cache_hits.values()) for k in {KERNELS!r}}},
    "misses": {{k: sum(kernel(k).stats.cache_misses.values()) for k in {KERNELS!r}}},
    "cache_dir": __import__("numba").config.CACHE_DIR,
}}
print(json.dumps(out))
"""


def _start(cache: Path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _cache_files(cache: Path) -> dict[str, int]:
    files = list(cache.rglob("*.nbi")) + list(cache.rglob("*.nbc"))
    return {str(p): p.stat().st_mtime_ns for p in files}


def test_concurrent_cold_compiles_share_one_cache(tmp_path):
    cache = tmp_path / "numba"
    first = [_start(cache), _start(cache)]
    results = [_finish(p) for p in first]
    for r in results:
        assert Path(r["cache_dir"]).is_relative_to(cache), r["cache_dir"]  # vmgym/_cache.py's folder
        assert sum(r["misses"].values()) > 0, r  # cold: each compiled (nothing to load yet)
    assert (results[0]["lru"], results[0]["opt"]) == (results[1]["lru"], results[1]["opt"])
    files = _cache_files(cache)
    assert any(f.endswith(".nbi") for f in files) and any(f.endswith(".nbc") for f in files), files
    assert not list(cache.rglob("*.tmp*"))
    for k in KERNELS:  # every kernel has an index and at least one object file
        stem = ".".join(k.split(".")[-2:])  # numba names the files module.function-line
        assert any(Path(f).name.startswith(f"{stem}-") and f.endswith(".nbi") for f in files), (k, files)
    third = _finish(_start(cache))
    assert (third["lru"], third["opt"]) == (results[0]["lru"], results[0]["opt"])
    assert third["misses"] == {k: 0 for k in KERNELS}, third  # compiled nothing ...
    assert all(third["hits"][k] > 0 for k in KERNELS), third  # ... every kernel loaded from the cache
    assert _cache_files(cache) == files  # and rewrote no cache file
