"""Rendering of the environments: a text table (``ansi``) and an image (``rgb_array``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmgym.envs import _kernel as K
from vmgym.sim import state as S

if TYPE_CHECKING:
    from vmgym.envs._base import SimEnv

# rgb_array colours
_FREE = (235, 235, 235)
_KIND = {S.KIND_ANON: (70, 130, 180), S.KIND_SHM: (60, 170, 110), S.KIND_FILE: (200, 150, 60)}
_CANDIDATE = (220, 40, 40)
_SWAP = (120, 120, 120)


def render_ansi(env: SimEnv) -> str:
    """Memory at a glance and the current candidates with their features."""
    st = env.sim.state
    frames = st.frame_page.shape[0]
    used = frames - int(st.sc[S.SC_FREE_TOP])
    slots = st.slot_page.shape[0]
    lines = [
        f"position {env.sim.position}/{env.sim.length}  frames {used}/{frames} used  "
        f"swap {int(st.sc[S.SC_SWAP_USED])}/{slots}  decisions {int(st.sc[S.SC_DECISIONS])}  "
        f"prefetched {int(st.sc[S.SC_PF_ISSUED])} (used {int(st.sc[S.SC_PF_USED])}, "
        f"wasted {int(st.sc[S.SC_PF_WASTED])})",
    ]
    cand = env.candidates()
    if len(cand):
        lines.append("slot frame  page kind  pid " + " ".join(f"{name[:6]:>6}" for name in K.FEATURES[:10]))
        feats = env._obs[: env.k * K.N_FEATURES].reshape(env.k, K.N_FEATURES)
    lines += env.decision_lines()
    for j, f in enumerate(cand):
        g = int(st.frame_page[f])
        kind = S.KIND_NAMES[int(st.page_kind[g])]
        owner = int(st.page_owner[g])
        vals = " ".join(f"{v:6.3f}" for v in feats[j, :10])
        lines.append(f"{j:4d} {f:5d} {g:5d} {kind:<5} {owner:4d} {vals}")
    return "\n".join(lines) + "\n"


def render_rgb(env: SimEnv, cell: int = 6, width: int = 64) -> np.ndarray:
    """An image of RAM and swap.

    One cell per frame (colour = anonymous / shared memory / file, darker if
    dirty, red outline = candidate), then a bar of swap fill.
    """
    st = env.sim.state
    frames = st.frame_page.shape[0]
    cols = min(width, frames)
    rows = -(-frames // cols)
    img = np.full(((rows + 2) * cell, cols * cell, 3), 255, np.uint8)
    cand = set(env.candidates().tolist())
    for f in range(frames):
        r, c = divmod(f, cols)
        g = int(st.frame_page[f])
        colour = _FREE if g < 0 else _KIND[int(st.page_kind[g])]
        if g >= 0 and st.page_dirty[g]:
            colour = tuple(int(0.6 * v) for v in colour)
        y, x = r * cell, c * cell
        img[y : y + cell - 1, x : x + cell - 1] = colour
        if f in cand:
            img[y : y + cell - 1, x] = _CANDIDATE
            img[y : y + cell - 1, x + cell - 2] = _CANDIDATE
            img[y, x : x + cell - 1] = _CANDIDATE
            img[y + cell - 2, x : x + cell - 1] = _CANDIDATE
    slots = st.slot_page.shape[0]
    fill = int(st.sc[S.SC_SWAP_USED]) / slots if slots else 0.0
    y = (rows + 1) * cell
    img[y : y + cell - 1, : max(1, int(fill * cols * cell))] = _SWAP
    return img
