"""Random replacement: evict a frame chosen uniformly among the evictable ones.

Source: Belady, "A study of replacement algorithms for a virtual-storage
computer", IBM Systems Journal 5(2), 1966 (RAND); Tanenbaum & Bos, *Modern
Operating Systems*, 4th ed., 3.4. Reproducible: the generator is splitmix64
(Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014) with its state in ``pol_g``, seeded by the ``seed`` parameter.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vmgym.policies.base import Policy, PolicyError, register
from vmgym.sim.frames import evictable

KERNEL_ID = 12
# pol_g 0: splitmix64 state (the uint64 bits stored as int64)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always", _nrt=False)
def splitmix64(pol_g, r):
    """Advance the splitmix64 state in ``pol_g[r]`` and return the next 64-bit output (uint64)."""
    z = np.uint64(pol_g[r]) + _GOLDEN
    pol_g[r] = np.int64(z)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always", _nrt=False)
def below(pol_g, r, m):
    """A draw in ``[0, m)``: the next output modulo ``m`` (``m`` >= 1)."""
    return np.int64(splitmix64(pol_g, r) % np.uint64(m))


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """A uniformly random evictable frame, or -1.

    One draw picks a frame among all frames; if that one is not evictable, a
    second draw picks among the evictable ones (by frame index). Either way the
    result is uniform over the evictable frames.
    """
    n = st.frame_page.shape[0]
    f = below(st.pol_g, 0, n)
    if evictable(st, f):
        return f
    m = 0
    for h in range(n):
        if evictable(st, h):
            m += 1
    if m == 0:
        return -1
    r = below(st.pol_g, 0, m)
    for h in range(n):
        if evictable(st, h):
            if r == 0:
                return h
            r -= 1
    return -1


def seed_state(seed: int) -> int:
    """The int64 holding the uint64 ``seed`` as the initial splitmix64 state."""
    return seed - (1 << 64) if seed >= 1 << 63 else seed


def check_seed(policy: str, seed) -> None:
    """Raise PolicyError unless ``seed`` is an int in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 1 << 64:
        raise PolicyError(f"policy {policy!r}: seed must be an integer in [0, 2**64), got {seed!r}")


@register
class Random(Policy):
    """Random replacement (Belady 1966): a uniformly random evictable frame, reproducible per seed."""

    name = "random"
    aliases = ("rand",)
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = "Belady, IBM Systems Journal 1966 (RAND); Tanenbaum & Bos, Modern Operating Systems 4e, 3.4"
    conventions = (
        "splitmix64 seeded with `seed`; a draw is the 64-bit output modulo the range (bias < 2**-40 for "
        "realistic memory sizes). The victim is frame (draw mod n_frames); if that frame is not evictable, "
        "a second draw chooses among the evictable frames in frame order. Hits and loads change nothing."
    )
    global_rows = 1
    params = {"seed": 0}

    def validate(self):
        """``seed`` must be an int in [0, 2**64)."""
        check_seed(self.name, self.values["seed"])

    def init_state(self, pol_f, pol_p, pol_g):
        """Seed the generator."""
        pol_g[0] = seed_state(int(self.values["seed"]))
