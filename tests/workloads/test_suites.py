"""Tests for workload specs (workloads.spec), suites (workloads.suites), the resolver and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vmgym import simulate
from vmgym.cli import app
from workloads import generators as gen
from workloads import registry, resolve, suites, traces
from workloads.model import EV_FORK, OP_READ, OP_WRITE, Workload, WorkloadError
from workloads.spec import combine, load_spec, parse_spec, trace_frames_hint

STANDARD = ["default", "classic", "real", "multiprocess", "train", "valid", "test"]
LACKEY = "==1== Lackey\nI  0401ab70,3\n L 04032e70,8\n S 1fff000778,8\n M 04032e80,4\n L 7000000,4\n"


def same(a: Workload, b: Workload) -> bool:
    return len(a.processes) == len(b.processes) and all(
        np.array_equal(p.ops, q.ops) and np.array_equal(p.args, q.args)
        for p, q in zip(a.processes, b.processes, strict=True)
    )


def write(path, text: str):
    path.write_text(text)
    return path


# -- suites ---------------------------------------------------------------------------------


def test_standard_suites_listed_with_descriptions():
    assert suites.names()[: len(STANDARD)] == STANDARD
    rows = suites.describe()
    assert [r[0] for r in rows] == suites.names()
    for name, description, labels in rows:
        assert description and labels, name
        assert len(set(labels)) == len(labels), name


@pytest.mark.parametrize("name", STANDARD)
def test_every_suite_builds_with_hints(name):
    entries = suites.get(name)
    assert [e.label for e in entries] == [s.name for s in suites.specs(name)]
    for label, workload, hints in entries:
        assert workload.references > 0 and workload.name == label
        assert isinstance(hints.get("frames"), int) and hints["frames"] >= 1, label
        assert hints == workload.hints


def test_train_and_test_share_no_seed_and_no_trace():
    train, test = suites.specs("train"), suites.specs("test")
    train_seeds = set().union(*(s.seeds() for s in train))
    test_seeds = set().union(*(s.seeds() for s in test))
    train_traces = set().union(*(s.traces() for s in train))
    test_traces = set().union(*(s.traces() for s in test))
    assert train_seeds and test_seeds and train_traces and test_traces
    assert not train_seeds & test_seeds
    assert not train_traces & test_traces
    # every generated entry states its seed (a default seed would be shared silently)
    for spec in (*train, *test):
        for src in spec.sources:
            if src.kind == "generator":
                assert "seed" in src.params, (spec.name, src.where)


@pytest.mark.parametrize(("a", "b"), [("valid", "train"), ("valid", "test")])
def test_validation_suite_shares_no_seed_and_no_trace(a, b):
    sa, sb = suites.specs(a), suites.specs(b)
    seeds_a = set().union(*(s.seeds() for s in sa))
    seeds_b = set().union(*(s.seeds() for s in sb))
    assert seeds_a and not seeds_a & seeds_b
    assert not set().union(*(s.traces() for s in sa)) & set().union(*(s.traces() for s in sb))


def test_seeds_and_traces_see_registry_defaults_and_bundled_paths(tmp_path):
    spec = parse_spec({"workload": "zipf"}, "x", tmp_path, "x")
    assert spec.seeds() == {0}  # the generator's default
    assert parse_spec({"workload": "zipf:seed=4"}, "x", tmp_path, "x").seeds() == {4}
    by_name = parse_spec({"workload": "trace-sort"}, "x", tmp_path, "x").traces()
    by_path = parse_spec({"trace": "sort"}, "x", tmp_path, "x").traces()
    assert by_name == by_path == {traces.bundled()["sort"].resolve()}


def test_belady_anomaly_entry():
    spec = suites.entry("classic", "belady-anomaly")
    w = spec.build()
    assert w.hints == {"frames": 3, "tlb_entries": 0}
    misses = [simulate(w, "fifo", frames=f, tlb_entries=0).misses for f in (3, 4)]
    assert misses == [9, 10]


def test_multiprocess_mix_runs_clean():
    from vmgym.sim import MachineConfig, Simulator

    w = suites.entry("multiprocess", "mix").build()
    assert [p.name for p in w.processes] == ["zipf", "scan", "sort"]
    assert [p.start for p in w.processes] == [0, 50_000, 0]
    small = combine([(p.name, Workload(p.name, [p], [], w.page_size), 0) for p in w.processes], "mix-small")
    for p in small.processes:  # keep the test fast without the JIT: 3,000 references each
        keep = np.arange(p.ops.size) < 3000
        p.ops, p.args = p.ops[keep], p.args[keep]
    sim = Simulator(small, MachineConfig(frames=300), "clock")
    stats = sim.run()
    sim.check_invariants()
    assert stats.accesses == 9000 and all(p.state == "exited" for p in stats.processes)


def test_custom_suite_file_and_errors(tmp_path):
    good = write(
        tmp_path / "mine.toml",
        'description = "mine"\n[[workloads]]\nname = "a"\nworkload = "zipf:pages=100,length=500"\n'
        '[[workloads]]\nname = "b"\ngenerator = "loop"\nparams = { n_pages = 10, length = 50 }\n'
        "machine = { frames = 5 }\n",
    )
    entries = suites.get(good)
    assert [(e.label, e.workload.references, e.hints["frames"]) for e in entries] == [
        ("a", 500, 1000),
        ("b", 50, 5),
    ]
    assert suites.get(str(good))[1].label == "b"
    assert suites.entry(good, "b").build().references == 50
    with pytest.raises(WorkloadError, match="has no workload 'c'; choose one of: a, b"):
        suites.entry(good, "c")
    with pytest.raises(WorkloadError, match="unknown suite 'nope'; choose one of: default, classic"):
        suites.get("nope")
    cases = {
        'workloads = [{name = "a", workload = "loop"}]\n': "description must be a non-empty string",
        'description = "d"\n': "workloads must be a non-empty array of tables",
        'description = "d"\ncolour = 1\n': r"unknown key 'colour'; allowed: description, workloads",
        'description = "d"\n[[workloads]]\nworkload = "loop"\n': r"workloads\[0\]: name must be",
        'description = "d"\n[[workloads]]\nname = "a/b"\nworkload = "loop"\n': "without '/'",
        'description = "d"\n[[workloads]]\nname = "a"\nworkload = "loop"\n[[workloads]]\nname = "a"\n'
        'workload = "zipf"\n': r"workloads\[1\]: duplicate name 'a'",
        'description = "d"\n[[workloads]]\nname = "a"\ngenerator = "zipff"\n': (
            r"bad\d\.toml: workloads\[0\] \(a\): unknown generator 'zipff'; allowed: fork_server"
        ),
    }
    for i, (text, pattern) in enumerate(cases.items()):
        path = write(tmp_path / f"bad{i}.toml", text)
        with pytest.raises(WorkloadError, match=pattern) as err:
            suites.get(path)
        assert str(path) in str(err.value)


# -- spec files -----------------------------------------------------------------------------

SPEC = """\
name = "zipf-small"
description = "Zipf(0.8) over 300 pages"
generator = "zipf"

[params]
n_pages = 300
length = 5000
alpha = 0.8
write_ratio = 0.3
seed = 7

[machine]
frames = 50
tlb_entries = 0
"""


def test_spec_file_builds_the_generator_call(tmp_path):
    path = write(tmp_path / "z.toml", SPEC)
    w = load_spec(path).build()
    assert same(w, gen.zipf(300, 5000, 0.8, write_ratio=0.3, seed=7))
    assert w.name == "zipf-small" and w.description == "Zipf(0.8) over 300 pages"
    assert w.hints == {"frames": 50, "tlb_entries": 0}
    assert same(resolve(path), w) and same(resolve(str(path)), w)
    assert same(resolve(f"{path}:seed=8"), gen.zipf(300, 5000, 0.8, write_ratio=0.3, seed=8))
    unnamed = write(tmp_path / "other.toml", 'generator = "scan-hot"\nparams = {hot_pages=10, '
                    "scan_pages=20, length=100}\n")  # fmt: skip
    assert load_spec(unnamed).build().name == "other"  # the file name; '-' accepted for '_'


def test_spec_sources(tmp_path):
    reg = write(tmp_path / "r.toml", 'workload = "zipf:pages=200"\nparams = { length = 1000 }\n')
    w = resolve(reg)
    assert same(w, registry.get("zipf:pages=200,length=1000")) and w.name == "r"
    assert w.hints == {"frames": 1000}  # the registry's hint travels with it
    pages = write(tmp_path / "p.toml", "pages = [1, 2, 1, 3]\nparams = { writes = [0, 1, 0, 0] }\n")
    w = resolve(pages)
    assert (w.processes[0].args // w.page_size).tolist() == [1, 2, 1, 3]
    assert w.processes[0].ops.tolist() == [OP_READ, OP_WRITE, OP_READ, OP_READ]
    (tmp_path / "runs").mkdir()
    write(tmp_path / "runs" / "t.log", LACKEY)
    tr = write(
        tmp_path / "t.toml", 'trace = "runs/t.log"\nparams = { format = "lackey", collapse = false }\n'
    )
    w = resolve(tr)
    assert w.references == 6 and w.hints == {"frames": 1}  # 5 distinct pages // 8, at least 1
    bundled = write(tmp_path / "b.toml", 'trace = "gzip"\nparams = { max_refs = 1000 }\n')
    w = resolve(bundled)
    assert w.references == 1000 and w.name == "b"


def test_spec_processes_are_combined(tmp_path):
    path = write(
        tmp_path / "mix.toml",
        """\
description = "two groups"
[[processes]]
name = "web"
generator = "fork_server"
params = { workers = 2, pages = 50, length_per_proc = 200, seed = 1 }
[[processes]]
name = "db"
generator = "multiprocess_shm"
params = { n_procs = 2, private_pages = 40, shared_pages = 8, length_per_proc = 300, seed = 2 }
start = 100
[[processes]]
name = "scan"
pages = [5, 6, 7]
""",
    )
    w = resolve(path)
    web = gen.fork_server(2, 50, 200, seed=1)
    db = gen.multiprocess_shm(2, 40, 8, 300, seed=2)
    assert [p.name for p in w.processes] == [
        *(f"web/{p.name}" for p in web.processes),
        *(f"db/{p.name}" for p in db.processes),
        "scan",
    ]
    assert w.references == web.references + db.references + 3
    assert [o.name for o in w.objects] == [f"db/{o.name}" for o in db.objects]
    n_web = len(web.processes)
    for p, q in zip(w.processes[n_web:-1], db.processes, strict=True):
        assert p.start == q.start + 100 and p.parent is None
        assert {v.obj for v in p.vmas} == {None if v.obj is None else f"db/{v.obj}" for v in q.vmas}
    server = w.processes[0]
    forks = [server.events[a] for o, a in zip(server.ops, server.args, strict=True) if o == EV_FORK]
    assert forks == [i for i, p in enumerate(w.processes) if p.parent == 0] == [1, 2]
    assert "frames" not in w.hints  # pages has no hint, so the groups' hints do not add up
    stats = simulate(w, "lru", frames=60, tlb_entries=0)
    assert stats.accesses == w.references and stats.segfaults == 0


def test_combine_rejects_mixed_page_sizes():
    a = Workload.from_pages([1], page_size=4096)
    b = Workload.from_pages([1], page_size=8192)
    with pytest.raises(WorkloadError, match=r"different page sizes \(a: 4096, b: 8192\)"):
        combine([("a", a, 0), ("b", b, 0)], "ab")
    hinted = combine(
        [("a", registry.get("loop:length=10"), 0), ("b", registry.get("uniform:length=10"), 0)], "x"
    )
    assert hinted.hints == {"frames": 1500}


BAD_SPECS = [
    ('generator = "zipff"\n', r"unknown generator 'zipff'; allowed: fork_server, leak, loop"),
    ('workload = "nope"\n', r"unknown workload 'nope'; allowed: default, zipf"),
    ('name = 3\ngenerator = "zipf"\n', r"name must be a string, got 3"),
    ('generator = "zipf"\nparams = { n_pages = 10, length = 10, colour = 1 }\n',
     r"\[params\]: unknown parameter 'colour'; allowed: n_pages, length, alpha, write_ratio, seed"),
    ('generator = "zipf"\nparams = { n_pages = 10, length = "many" }\n', r"zipf: length must be an integer"),
    ('generator = "zipf"\ncolour = 1\n', r"unknown key 'colour'; allowed: name, description, generator"),
    ('generator = "zipf"\nmachine = { ram = 5 }\n', r"\[machine\]: unknown key 'ram'; allowed: frames, swap"),
    ('generator = "zipf"\nmachine = { frames = "lots" }\n', r"\[machine\]: frames must be an integer"),
    ('generator = "zipf"\nmachine = { frames = 0 }\n', r"\[machine\]: frames must be >= 1"),
    ('generator = "zipf"\nmachine = { tlb_asid = 1 }\n', r"tlb_asid must be true or false"),
    ('generator = "zipf"\nworkload = "loop"\n', r"give exactly one of .*; found generator, workload"),
    ('description = "nothing"\n', r"exactly one of generator, workload, trace, pages, processes; found none"),
    (
        'trace = "missing.lackey"\n',
        r"trace: no such file '.*missing\.lackey' \(nor a bundled trace: awk, bc, bzip2, cc1, comm, grep",
    ),
    ('trace = "sort"\nparams = { collapse = "yes" }\n', r"\[params\]: collapse must be true or false"),
    ('trace = "sort"\nparams = { fmt = "npz" }\n', r"unknown parameter 'fmt'; allowed: format, page_size"),
    ('pages = [1, -2]\n', r"pages must be a non-empty array of page numbers >= 0"),
    ('generator = "zipf"\nparams = 3\n', r"params must be a table, got 3"),
    ('generator = "zipf"\n[[processes]]\npages = [1]\n', r"'generator' cannot be given with 'processes'"),
    ('[[processes]]\npages = [1]\nmachine = { frames = 1 }\n', r"processes\[0\]: unknown key 'machine'"),
    ('[[processes]]\npages = [1]\nstart = -1\n', r"processes\[0\]: start must be >= 0"),
    ('[[processes]]\nname = "a"\npages = [1]\n[[processes]]\nname = "a"\npages = [2]\n',
     r"two \[\[processes\]\] tables are named 'a'"),
    ("generator = \n", r"not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "pattern"), BAD_SPECS)
def test_bad_specs_name_file_key_and_choices(tmp_path, text, pattern):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(WorkloadError, match=pattern) as err:
        resolve(path).references  # noqa: B018 - errors at parse or build time
    assert str(path) in str(err.value)


# -- the resolver ---------------------------------------------------------------------------


def test_resolve_names_suite_entries_and_workloads():
    assert same(
        resolve("zipf:alpha=0.8,pages=300,length=500"), registry.get("zipf:alpha=0.8,pages=300,length=500")
    )
    assert resolve("loop:length=10").hints == {"frames": 1000}
    w = resolve("train/loop")
    assert same(w, gen.loop(600, 60_000, write_ratio=0.1, seed=3)) and w.hints == {"frames": 500}
    assert same(resolve("train/loop:seed=9"), gen.loop(600, 60_000, write_ratio=0.1, seed=9))
    assert resolve("trace-sort:max_refs=100").references == 100
    w = Workload.from_pages([1])
    assert resolve(w) is w


def test_resolve_trace_files(tmp_path):
    lk = write(tmp_path / "run.lackey", LACKEY)
    w = resolve(lk)
    assert w.name == "run" and w.hints == {"frames": 1}
    assert same(w, traces.load_trace(lk))
    log = write(tmp_path / "run.dat", "0 1000\n1 2000\n0 3000\n")
    assert resolve(log).references == 3  # detected as din by content
    assert resolve(f"{log}:format=din,max_refs=2").references == 2
    assert resolve(log, fmt="din").references == 3
    with pytest.raises(WorkloadError, match=r"run\.dat line 1: unrecognised line '0 1000'"):
        resolve(log, fmt="lackey")
    big = Workload.from_pages(np.arange(800) % 400)
    path = traces.write_trace(big, tmp_path / "big.npz")
    assert resolve(path).hints == {"frames": 50} == {"frames": trace_frames_hint(big)}


def test_resolve_errors(tmp_path):
    with pytest.raises(
        WorkloadError, match=r"unknown workload 'nope'; choose one of: default, zipf.*suite entry"
    ):
        resolve("nope")
    with pytest.raises(WorkloadError, match=r"'missing\.lackey': no such file"):
        resolve("missing.lackey")
    with pytest.raises(WorkloadError, match=r"'dir/x': no such file"):
        resolve("dir/x:max_refs=3")
    with pytest.raises(WorkloadError, match=r"suite 'train' has no workload 'nope'"):
        resolve("train/nope")
    with pytest.raises(WorkloadError, match=r"unknown parameter 'colour' for zipf"):
        resolve("zipf:colour=1")
    lk = write(tmp_path / "run.lackey", LACKEY)
    with pytest.raises(
        WorkloadError, match=r"run\.lackey: \[params\]: unknown parameter 'speed'; allowed: format"
    ):
        resolve(f"{lk}:speed=3")
    with pytest.raises(WorkloadError, match=r"unknown trace format 'foo'"):
        resolve(lk, fmt="foo")
    with pytest.raises(WorkloadError, match=r"fmt='din' applies to trace files only"):
        resolve("zipf", fmt="din")
    with pytest.raises(WorkloadError, match=r"missing\.toml: no such file"):
        from pathlib import Path

        resolve(Path(tmp_path / "missing.toml"))


def test_registry_trace_entries():
    rows = {name: (desc, frames) for name, desc, frames in registry.describe()}
    for name in ("trace-sort", "trace-gzip", "trace-python", "trace-sqlite"):
        desc, frames = rows[name]
        assert desc.startswith("real") and 8 <= frames <= 64
    w = registry.get("trace-gzip:max_refs=500")
    assert w.name == "trace-gzip" and w.references == 500 and w.hints == {"frames": 16}


# -- CLI ------------------------------------------------------------------------------------


def test_cli_run_and_compare_accept_specs_traces_and_suite_entries(tmp_path):
    runner = CliRunner()
    spec = write(tmp_path / "z.toml", SPEC)
    res = runner.invoke(app, ["run", "-w", str(spec), "-p", "lru", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["results"]["accesses"] == 5000
    assert rec["config"]["machine"]["frames"] == 50 and rec["config"]["machine"]["tlb_entries"] == 0
    res = runner.invoke(app, ["run", "-w", str(spec), "-f", "20", "--tlb-entries", "16", "--json"])
    machine = json.loads(res.stdout)["config"]["machine"]
    assert (machine["frames"], machine["tlb_entries"]) == (20, 16)  # options win over hints
    trace = traces.write_trace(gen.zipf(200, 3000, seed=1), tmp_path / "z.din")
    res = runner.invoke(app, ["compare", "-w", str(trace), "-p", "fifo,lru", "--csv"])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("\n") == 1 + 2  # header, fifo, lru
    res = runner.invoke(app, ["run", "-w", "classic/belady-anomaly", "-p", "fifo", "--json"])
    assert json.loads(res.stdout)["results"]["misses"] == 9


def test_cli_errors_and_listing(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["run", "-w", str(tmp_path / "missing.toml")])
    output = " ".join(res.output.split())  # the console wraps long lines
    assert res.exit_code == 2 and "missing.toml': no such file" in output and "Traceback" not in output
    bad = write(tmp_path / "bad.toml", 'generator = "zipff"\n')
    res = runner.invoke(app, ["compare", "-w", str(bad)])
    assert res.exit_code == 2 and "unknown generator 'zipff'" in " ".join(res.output.split())
    res = runner.invoke(app, ["workloads", "list"])
    assert res.exit_code == 0
    for word in ("trace-sqlite", "suites", "multiprocess", "for evaluation"):
        assert word in res.stdout
    res = runner.invoke(app, ["trace", "info", "trace-sort", "--max-refs", "1000", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["references"] == 1000
