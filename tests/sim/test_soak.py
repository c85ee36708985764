"""A short soak: random valid agents on the envs and the decision API, invariants after each step.

``benchmarks/soak.py`` runs the long one (README, Reliability). It uses the envs' default
kernels and the ``policy=None`` flow only, which the suite compiles anyway.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("vmgym_soak", SOAK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_short_soak_has_no_violations():
    # 10,000 decisions (400 in each of the 25 runs, invariants checked after each)
    res = _soak_module().soak(10_000, seed=1)
    assert res["errors"] == [] and res["violations_count"] == 0, res
    assert res["decisions"] == 10_000
    assert all(r["decisions"] > 0 for r in res["runs"].values()), res["runs"]
