"""The trace-format registry: every format registers once, and a new format is one registration."""

import numpy as np
import pytest

from workloads import traces
from workloads.traces import registry
from workloads.traces.formats.din import DIN
from workloads.traces.registry import Format


def test_formats_are_the_registered_ones_in_order():
    assert traces.FORMATS == registry.format_names()
    assert traces.FORMATS == ("lackey", "din", "plain", "csv", "lcs-txt", "oracleGeneral", "npz", "npy")
    for name in traces.FORMATS:
        fmt = registry._format(name)
        assert fmt.parse is not None or fmt.load is not None, name
        assert (fmt.parse is None) == (name == "npz"), name  # every format but npz streams
        assert (fmt.write is None) != (fmt.write_workload is None), name


@pytest.mark.parametrize("name", traces.FORMATS)
def test_names_aliases_and_suffixes_resolve(name, tmp_path):
    fmt = registry._format(name)
    for alias in (name, name.upper(), *fmt.aliases):
        assert registry._resolve_format(tmp_path / "x", alias) == name
    for suffix in fmt.suffixes:
        assert traces.detect_format(tmp_path / f"x{suffix}") == name
        assert traces.detect_format(tmp_path / f"x{suffix}.zst") == name


def test_a_new_format_is_one_registration(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(
        Format("toy", suffixes=(".toy",), addresses=True, expected="records such as '0 1f'", parse=DIN.parse)
    )
    path = tmp_path / "a.toy"
    path.write_text("0 1000\n1 2000\n")
    assert traces.detect_format(path) == "toy"
    w = traces.load_trace(path)
    assert w.description.startswith("toy trace a.toy: 2 references")
    assert np.array_equal(w.processes[0].args, [0x1000, 0x2000])
    (tmp_path / "b.toy").write_text("")
    with pytest.raises(traces.TraceError, match="empty file; expected toy records such as '0 1f'"):
        traces.load_trace(tmp_path / "b.toy")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Format("toy", parse=DIN.parse))
