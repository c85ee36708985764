"""Optional dependencies: import one, or fail in one line naming the ``vmgym[extra]`` to install.

Training (``vmgym[train]``), LightGBM (``vmgym[lightgbm]``) and plots
(``vmgym[plot]``, matplotlib) are extras: the simulator, the envs, the classic
policies and the shipped agent run without them.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional module is not installed (the message names the extra to install)."""


def require(module: str, extra: str, purpose: str, error: type[Exception] = MissingExtra) -> ModuleType:
    """The optional module ``module``, or ``error``: "``purpose`` needs <package>: install vmgym[extra]"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(
            f"{purpose} needs {module.split('.')[0]}: install vmgym[{extra}] (pip install 'vmgym[{extra}]')"
        ) from None


def missing(module: str, extra: str, purpose: str) -> str | None:
    """The one-line message of :func:`require` if ``module`` cannot be imported, else None."""
    try:
        require(module, extra, purpose)
    except MissingExtra as e:
        return str(e)
    return None


def pyplot(purpose: str) -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend, or :class:`MissingExtra` naming ``vmgym[plot]``."""
    matplotlib = require("matplotlib", "plot", purpose)
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "plot", purpose)
