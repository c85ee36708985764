"""Property tests of the spec parser, suites and workload names: a workload or a one-line WorkloadError.

Specs are drawn as TOML tables with known and unknown keys, values of every TOML type,
huge and negative numbers, and as raw TOML text (random, and mutated valid spec files).
Numbers in the range where a valid spec would merely be big (1e6 .. 2**32 references) are
not drawn: they are legitimate and only slow.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workloads import registry, resolve, suites
from workloads.model import Workload, WorkloadError
from workloads.spec import GENERATORS, SPEC_KEYS, load_spec, parse_spec

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
HUGE = [2**33, 10**12, 2**63 - 1, 2**63, 2**64, 10**30, -1, -(2**63), -(10**30)]
SMALL_INT = st.integers(-3, 40)
NUMBER = st.one_of(
    SMALL_INT,
    st.sampled_from(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.5, 1e308]),
)
SCALAR = st.one_of(
    NUMBER, st.booleans(), st.text(max_size=8), st.sampled_from(["zipf", "lru", "sort", "x.lackey"])
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PARAM_NAMES = sorted(
    {
        p
        for fn in GENERATORS.values()
        for p in fn.__code__.co_varnames[: fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount]
    }
    | {"format", "page_size", "max_refs", "collapse", "dense", "obj_id_col", "op_col", "writes", "junk"}
)
HINTS = ["frames", "swap_slots", "tlb_entries", "tlb_ways", "tlb_asid", "quantum", "junk"]


def _signature(fn) -> list[str]:
    code = fn.__code__
    return list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


def rarely(strategy, other, p: int = 5):
    """``other`` about one time in ``p``, else ``strategy``."""
    return st.integers(0, p - 1).flatmap(lambda k: other if k == 0 else strategy)


PARAM_VALUE = rarely(
    st.one_of(st.integers(0, 30), st.sampled_from([0.0, 0.3, 0.9, 1.0, 2.0])), st.one_of(NUMBER, VALUE), 3
)


@st.composite
def source(draw) -> dict:
    kind = draw(
        rarely(
            st.sampled_from(["generator", "generator", "workload", "pages", "trace"]),
            st.sampled_from(["none", "two"]),
        )
    )
    table: dict = {}
    names = PARAM_NAMES
    if kind == "generator":
        gen = draw(rarely(st.sampled_from(sorted(GENERATORS)), SCALAR))
        table["generator"] = gen
        if gen in GENERATORS:
            names = _signature(GENERATORS[gen])
    elif kind == "workload":
        table["workload"] = draw(
            rarely(st.sampled_from([n for n in registry.names() if not n.startswith("trace")]), SCALAR)
        )
    elif kind == "trace":
        table["trace"] = draw(st.one_of(st.sampled_from(["sort", "missing.lackey"]), SCALAR))
        names = ["format", "max_refs", "page_size", "collapse", "dense", "obj_id_col", "op_col"]
    elif kind == "pages":
        table["pages"] = draw(
            rarely(
                st.lists(st.integers(0, 50), max_size=8), st.one_of(st.lists(st.sampled_from(HUGE)), VALUE)
            )
        )
        names = ["writes", "page_size"]
    elif kind == "two":
        table["generator"], table["pages"] = "zipf", [1, 2]
    if draw(st.integers(0, 3)):
        keys = rarely(st.sampled_from(names), st.sampled_from(PARAM_NAMES))
        table["params"] = draw(rarely(st.dictionaries(keys, PARAM_VALUE, max_size=5), VALUE, 8))
    return table


@st.composite
def spec_table(draw) -> dict:
    if draw(st.integers(0, 4)) == 0:
        groups = draw(st.lists(source(), max_size=3))
        table = {"processes": groups if draw(st.integers(0, 5)) else draw(VALUE)}
        for group in groups:
            if draw(st.integers(0, 3)) == 0:
                group["start"] = draw(rarely(st.integers(0, 100), NUMBER))
            if draw(st.integers(0, 3)) == 0:
                group["name"] = draw(rarely(st.text("abc", min_size=1, max_size=3), SCALAR))
    else:
        table = draw(source())
    if draw(st.integers(0, 2)) == 0:
        hints = st.dictionaries(
            st.sampled_from(HINTS), rarely(st.integers(0, 64), st.one_of(NUMBER, st.booleans())), max_size=3
        )
        table["machine"] = draw(rarely(hints, VALUE, 8))
    if draw(st.integers(0, 7)) == 0:
        for key in draw(st.lists(st.sampled_from([*SPEC_KEYS, "junk"]), max_size=2)):
            table.setdefault(key, draw(VALUE))
    return table


def one_line(e: WorkloadError) -> None:
    assert "\n" not in str(e), str(e)


def build_bounded(spec) -> None:
    """Build a parsed spec unless it asks for many references (legitimate, only slow)."""
    for src in spec.sources:
        for value in src.params.values():
            if isinstance(value, int) and 10**5 < value < 2**33:
                return
    workload = spec.build()
    assert isinstance(workload, Workload) and workload.processes


@FUZZ
@given(table=spec_table())
def test_spec_tables(tmp_path, table):
    try:
        spec = parse_spec(table, "fuzz.toml", tmp_path, "fuzz")
        build_bounded(spec)
    except WorkloadError as e:
        one_line(e)


VALID_SPEC = b"""name = "z"
generator = "zipf"
[params]
n_pages = 20
length = 300
alpha = 0.8
seed = 7
[machine]
frames = 10
"""


@st.composite
def toml_text(draw) -> bytes:
    b = bytearray(VALID_SPEC)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(b)))
        tok = draw(
            st.sampled_from(
                [
                    b"-1",
                    b"99999999999999999999",
                    b"inf",
                    b"nan",
                    b'"',
                    b"[",
                    b"]",
                    b"=",
                    b"\n",
                    b"\x00",
                    b"\xff",
                    b"1e400",
                    b"0x7fffffffffffffff",
                    b"true",
                ]
            )
        )
        if draw(st.booleans()):
            b[at:at] = tok
        else:
            del b[at : at + draw(st.integers(1, 8))]
    return bytes(b)


@FUZZ
@given(text=st.one_of(toml_text(), st.binary(max_size=200)))
def test_spec_files(tmp_path, text):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text)
    try:
        spec = load_spec(path)
        build_bounded(spec)
    except WorkloadError as e:
        one_line(e)
        assert str(path) in str(e), str(e)


@FUZZ
@given(
    base=st.sampled_from([*registry.names(), "train/zipf-a", "nope", "a/b"]),
    overrides=st.lists(
        st.tuples(
            st.sampled_from(PARAM_NAMES),
            st.one_of(
                st.sampled_from(["-1", "1e400", "nan", "inf", "-inf", "9" * 30, "true", "x", "", "0", "3"]),
                st.text(max_size=6),
            ),
        ),
        max_size=3,
    ),
)
def test_workload_names(base, overrides):
    """``name:key=value`` strings, as -w takes them."""
    text = base + (":" + ",".join(f"{k}={v}" for k, v in overrides) if overrides else "")
    try:
        parsed = registry.parse_name(text)[1]
        if any(isinstance(v, int) and 10**5 < v < 2**33 for v in parsed.values()) or base.startswith(
            "trace-"
        ):
            return
        if not overrides and base not in ("nope", "a/b"):
            return  # the registered workloads themselves are tested elsewhere
        resolve(text)
    except WorkloadError as e:
        one_line(e)


def test_spec_file_not_utf8(tmp_path):
    """Regression: a spec file that is not UTF-8 raised UnicodeDecodeError."""
    path = tmp_path / "bad.toml"
    path.write_bytes(b'name = "\x80"\n')
    with pytest.raises(WorkloadError, match="bad.toml: not valid TOML: not UTF-8 text"):
        load_spec(path)


@pytest.mark.parametrize("name", suites.names())
def test_suites_parse(name):
    assert suites.specs(name)


def test_suite_file_errors(tmp_path):
    """A suite file with a bad entry names the file and the entry."""
    path = tmp_path / "bad.toml"
    path.write_text('[[workloads]]\nname = "a"\ngenerator = "zipf"\n[workloads.params]\nlength = -5\n')
    try:
        for _label, wl, _hints in suites.get(path):
            assert wl
    except WorkloadError as e:
        one_line(e)
        assert "bad.toml" in str(e)
    assert math.isfinite(1.0) and tomllib and Path
