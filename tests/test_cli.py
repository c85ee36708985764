import json

from typer.testing import CliRunner

from vmgym import policies
from vmgym.cli import app
from vmgym.compare import compare
from vmgym.sim import MachineConfig
from workloads import resolve, resolve_stream

runner = CliRunner()
SMALL = "zipf:pages=300,length=5000"


def test_run_json_record():
    res = runner.invoke(app, ["run", "-w", SMALL, "-p", "clock", "-f", "50", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["config"]["policy"] == "clock" and rec["config"]["machine"]["frames"] == 50
    assert rec["results"]["accesses"] == 5000
    assert "numba" in rec["versions"]


def test_compare_streams_a_streamed_generator_with_the_same_rows(monkeypatch):
    """A long ``zipf:...`` streams in ``vmgym compare`` (each policy reads it again): the in-memory rows."""
    import workloads.spec

    monkeypatch.setattr(workloads.spec, "STREAM_REFS_FROM", 1_000)  # 4,000 references count as long
    spec = "zipf:n_pages=300,length=4000,write_ratio=0.3"
    names = ["fifo", "lru", "clock", "opt"]
    res = runner.invoke(app, ["compare", "-w", spec, "-f", "40", "-p", ",".join(names), "--json"])
    assert res.exit_code == 0, res.output
    streamed = json.loads(res.stdout)
    whole = resolve(spec)
    rows = compare(whole, MachineConfig.for_workload(whole, frames=40), names)
    assert resolve_stream(spec, long=True) is not None
    monkeypatch.setattr(workloads.spec, "STREAM_REFS_FROM", 1 << 24)
    assert resolve_stream(spec, long=True) is None and resolve_stream("default", long=True) is None
    assert [r["misses"] for r in streamed["results"]] == [r["misses"] for r in rows]
    assert [r["stats"] for r in streamed["results"]] == [r["stats"] for r in rows]


def test_compare_table_csv_and_out(tmp_path):
    res = runner.invoke(app, ["compare", "-w", SMALL, "-f", "50", "-p", "fifo,lru,opt"])
    assert res.exit_code == 0, res.output
    assert "LRU→OPT" in res.stdout and "100.0 %" in res.stdout
    res = runner.invoke(
        app, ["compare", "-w", SMALL, "-f", "50", "-p", "all", "--csv", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("policy,misses") and len(lines) == 1 + len(policies.names())
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["command"] == "compare" and (tmp_path / "results.csv").exists()


def test_bad_input_is_a_clear_error():
    res = runner.invoke(app, ["run", "-w", "nope"])
    assert res.exit_code == 2 and "unknown workload 'nope'" in res.output
    res = runner.invoke(app, ["compare", "-w", SMALL, "-p", "lru,bogus"])
    assert res.exit_code == 2 and "unknown policy 'bogus'" in res.output
    res = runner.invoke(app, ["run", "-w", SMALL, "-f", "0"])
    assert res.exit_code == 2 and "MachineConfig.frames" in res.output


def test_listings():
    assert "multiprocess" in runner.invoke(app, ["workloads", "list"]).stdout
    assert "Belady" in runner.invoke(app, ["policies"]).stdout


def test_prefetch_option_and_listing():
    scan = "file-scan:file_pages=400,passes=2"
    args = ["compare", "-w", scan, "-f", "100", "-p", "lru,clock", "--prefetch", "readahead"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "prefetch Readahead(initial=4, maximum=32)" in res.stdout and "wasted" in res.stdout
    res = runner.invoke(app, ["compare", "-w", scan, "-f", "100", "-p", "lru", "--prefetch", "ra", "--json"])
    rec = json.loads(res.stdout)
    assert rec["config"]["prefetch"] == {"name": "readahead", "initial": 4, "maximum": 32}
    row = rec["results"][0]
    used, wasted = row["prefetch_used"], row["prefetch_wasted"]
    assert 0 < used and used + wasted <= row["prefetch_issued"]
    assert row["major_faults"] < 100  # 800 file reads without readahead
    res = runner.invoke(app, ["run", "-w", scan, "-f", "100", "--prefetch", "markov", "--json"])
    assert json.loads(res.stdout)["config"]["prefetch"] == {"name": "markov", "width": 2}
    res = runner.invoke(app, ["run", "-w", scan, "--prefetch", "readahead:maximum=0"])
    assert res.exit_code == 2 and "maximum must be an integer in [1, 1024]" in res.output
    res = runner.invoke(app, ["compare", "-w", scan, "--prefetch", "psychic"])
    assert res.exit_code == 2 and "unknown prefetcher 'psychic'; choose one of: none, readahead" in res.output
    listing = runner.invoke(app, ["prefetchers"]).stdout
    assert "swap-cluster" in listing and "page_cluster=3" in listing and "Joseph & Grunwald" in listing


def test_ceiling_table_json_and_a_streamed_trace(tmp_path, monkeypatch):
    """`vmgym ceiling`: a table, JSON rows, and a trace past the streaming threshold gives the same rows."""
    import workloads.spec
    from workloads.traces import write_trace

    spec = "zipf:pages=300,length=4000,seed=2"
    res = runner.invoke(app, ["ceiling", "-w", spec, "-f", "60", "-k", "8", "-c", "lru,mix"])
    assert res.exit_code == 0, res.output
    assert "Belady among K=8" in res.stdout and "mix" in res.stdout
    path = write_trace(resolve(spec), tmp_path / "z.npy")
    args = ["ceiling", "-w", str(path), "-f", "60", "-k", "8", "-c", "lru,mix", "--json"]
    whole = json.loads(runner.invoke(app, args).stdout)
    assert [r["candidates"] for r in whole] == ["lru", "mix"] and whole[1]["misses"] <= whole[0]["lru_misses"]
    monkeypatch.setattr(workloads.spec, "STREAM_TRACES_FROM", 0)
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == whole
    res = runner.invoke(app, ["ceiling", "-w", spec, "-c", "lru,best"])
    assert res.exit_code == 2 and "unknown candidate source 'best'" in res.output
    res = runner.invoke(app, ["ceiling", "-w", spec, "-f", "1000"])  # fits in RAM: one line, no traceback
    assert res.exit_code == 2 and "never needs an eviction with 1000 frames" in res.output
    assert "Traceback" not in res.output


def test_run_points_an_agent_to_compare():
    res = runner.invoke(app, ["run", "-w", "zipf:pages=10,length=100", "-p", "agent:default"])
    assert res.exit_code == 2 and "run it with `vmgym compare -p lru,agent:default`" in res.output


def test_compare_reports_each_policys_progress():
    """``on_progress(policy, what, done, total)``: each run to its end, OPT's loading first; same rows."""
    from workloads.stream import from_workload

    whole = resolve("zipf:n_pages=300,length=4000,seed=3")
    cfg = MachineConfig.for_workload(whole, frames=40)
    heard = []
    rows = compare(from_workload(whole), cfg, ["fifo"], on_progress=lambda *a: heard.append(a))
    assert rows == compare(from_workload(whole), cfg, ["fifo"])
    assert list(dict.fromkeys(p for p, *_ in heard)) == ["fifo", "lru", "opt"]
    for name in ("fifo", "lru", "opt"):
        runs = [(d, t) for p, w, d, t in heard if p == name and w == "running"]
        assert runs and runs[-1][0] == runs[-1][1] and [d for d, _ in runs] == sorted(d for d, _ in runs)
    phases = [w for p, w, *_ in heard if p == "opt"]
    assert list(dict.fromkeys(phases)) == [
        "reading the trace again for next uses",
        "next uses, from the end",
        "running",
    ]
