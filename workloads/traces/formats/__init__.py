"""The trace formats: one module each, registered with :func:`workloads.traces.registry.register`.

Importing this package imports every module named in :data:`FORMAT_MODULES`, in that
order, and each registers its format(s) when imported; the order is the order of
``workloads.traces.FORMATS`` (and so of every list of formats in messages). Adding a
format is one module here plus its name below (see "Adding a trace format" in the README).
"""

from __future__ import annotations

from importlib import import_module

FORMAT_MODULES = ("lackey", "din", "plain", "csv_format", "lcs_txt", "oracle_general", "numpy_files")

for _module in FORMAT_MODULES:
    import_module(f"{__name__}.{_module}")
