"""``vmgym experiment``: grid cells equal single runs, resume after a kill, parallel and Ray equal serial."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import pytest
from typer.testing import CliRunner

from vmgym import MachineConfig, Simulator
from vmgym.cli import app
from vmgym.experiment import footprint, load_spec, parse_spec, plan, seeded
from vmgym.experiment_run import CELLS, RESULTS, read_results, run
from workloads import resolve

matplotlib.use("Agg")
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

ZIPF = "zipf:pages=300,length=5000"
LOOP = "loop:n_pages=60,length=3000"
TRACE = "trace-sort:max_refs=3000"  # no seed parameter: runs once, seed left empty

SPEC = f"""
[experiment]
name = "tiny"
seeds = [0, 1]
[grid]
workload = ["{ZIPF}", "{LOOP}", "{TRACE}"]
policy = ["lru", "clock", "opt"]
frames = [20, 50, "50%"]
[machine]
tlb_entries = 0
"""


def _spec_file(tmp_path: Path, text: str = SPEC, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _csv(out: Path) -> list[dict[str, str]]:
    """results.csv without the wall-clock column (everything else must match bit for bit)."""
    with open(out / RESULTS, newline="") as fh:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The tiny grid run once, serially, in this process."""
    tmp = tmp_path_factory.mktemp("baseline")
    spec = load_spec(_spec_file(tmp))
    out = tmp / "out"
    rows = run(spec, out, jobs=1)
    return spec, out, rows


def test_rows_equal_single_simulations(baseline):
    spec, out, rows = baseline
    assert len(rows) == (2 + 2 + 1) * 3 * 3  # zipf and loop per seed, the trace once; 3 policies, 3 frames
    for r in rows:
        wl = resolve(seeded(r["workload"], r["seed"]))
        cfg = MachineConfig.for_workload(wl, frames=r["n_frames"], tlb_entries=0)
        s = Simulator(wl, cfg, r["policy"]).run()
        assert (r["misses"], r["minor_faults"], r["major_faults"], r["hit_ratio"], r["time_ns"]) == (
            s.misses,
            s.minor_faults,
            s.major_faults,
            s.hit_ratio,
            s.time_ns,
        )
    by = {(r["workload"], r["policy"], r["frames"], r["seed"]): r for r in rows}
    for r in rows:
        lru = by[(r["workload"], "lru", r["frames"], r["seed"])]["misses"]
        opt = by[(r["workload"], "opt", r["frames"], r["seed"])]["misses"]
        assert (r["lru_misses"], r["opt_misses"]) == (lru, opt)
        if r["policy"] == "clock" and lru != opt:
            assert r["lru_to_opt"] == (lru - r["misses"]) / (lru - opt)
    assert read_results(out)[0] == {**rows[0], "elapsed_s": read_results(out)[0]["elapsed_s"]}


def test_a_row_equals_vmgym_run(baseline):
    _, _, rows = baseline
    r = next(r for r in rows if r["workload"] == ZIPF and r["policy"] == "clock" and r["seed"] == 1)
    res = runner.invoke(
        app,
        [
            "run",
            "-w",
            seeded(ZIPF, 1),
            "-p",
            "clock",
            "-f",
            str(r["n_frames"]),
            "--tlb-entries",
            "0",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)["results"]
    assert (stats["misses"], stats["time_ns"]) == (r["misses"], r["time_ns"])


def test_seeds_and_frames_fractions(baseline):
    spec, _, rows = baseline
    zipf = {(r["seed"], r["frames"], r["policy"]): r for r in rows if r["workload"] == ZIPF}
    assert zipf[(0, 20, "lru")]["misses"] != zipf[(1, 20, "lru")]["misses"]  # the seed reaches the generator
    assert {r["seed"] for r in rows if r["workload"] == TRACE} == {None}
    for r in rows:
        if r["frames"] == "50%":
            pages = footprint(resolve(seeded(r["workload"], r["seed"])))
            assert r["n_frames"] == round(pages / 2)
    assert {r["n_frames"] for r in rows if r["workload"] == LOOP and r["frames"] == "50%"} == {30}
    cells, jobs = plan(spec)
    assert len(jobs) == len(cells)  # lru and opt are in the grid: no extra anchor runs


def test_anchor_runs_added_and_aliases(tmp_path):
    spec = parse_spec(
        {
            "grid": {"workload": [LOOP], "policy": ["second-chance"], "frames": [30]},
            "machine": {"tlb_entries": 0},
        }
    )
    cells, jobs = plan(spec)
    assert [c.policy for c in cells] == ["second-chance"] and [j.policy for j in jobs] == [
        "second-chance",
        "lru",
        "opt",
    ]
    rows = run(spec, tmp_path / "out", jobs=1)
    assert rows[0]["policy"] == "clock" and rows[0]["opt_misses"] < rows[0]["lru_misses"]


def test_resume_after_a_torn_line_equals_an_uninterrupted_run(baseline, tmp_path):
    spec, out, _ = baseline
    part = tmp_path / "part"
    run(spec, part, jobs=1)
    lines = (part / CELLS).read_bytes().splitlines(keepends=True)
    (part / CELLS).write_bytes(b"".join(lines[:7]) + lines[7][: len(lines[7]) // 2])  # killed mid-write
    (part / RESULTS).unlink()
    done = []
    run(spec, part, jobs=1, on_start=lambda d, t: done.append((d, t)))
    assert done == [(7, len(lines))]
    keys = [json.loads(x)["key"] for x in (part / CELLS).read_bytes().splitlines()]
    assert len(keys) == len(set(keys)) == len(lines)
    assert _csv(part) == _csv(out)


def test_sigkill_then_rerun_finishes_only_the_missing_cells(tmp_path):
    spec = _spec_file(tmp_path, SPEC.replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3]"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vmgym.cli", "experiment", "run", str(spec), "--out", str(out), "-j", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    cells = out / CELLS
    while time.monotonic() < deadline and (not cells.exists() or cells.read_bytes().count(b"\n") < 5):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = cells.read_bytes().count(b"\n")
    assert not (out / RESULTS).exists()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"resuming: {before} of" in res.stderr
    whole = tmp_path / "whole"
    run(load_spec(spec), whole, jobs=1)
    assert _csv(out) == _csv(whole)


def test_jobs_2_equals_jobs_1(baseline, tmp_path):
    spec, out, _ = baseline
    run(spec, tmp_path / "par", jobs=2)
    assert _csv(tmp_path / "par") == _csv(out)


def test_ray_equals_local(baseline, tmp_path):
    ray = pytest.importorskip("ray")
    spec, out, _ = baseline
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        run(spec, tmp_path / "ray", backend="ray")
    finally:
        ray.shutdown()
    assert _csv(tmp_path / "ray") == _csv(out)


BAD = [
    (
        "[experiment]\nname = 'x'\n[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n[extra]\n",
        "unknown table",
    ),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\nsizes=[1]\n", "unknown key 'sizes' in [grid]"),
    ("[experiment]\nseeds = 3\n[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n", "must be an array"),
    ("[experiment]\nseeds = ['a']\n[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n", "integers >= 0"),
    ("[grid]\nworkload=['loop']\npolicy=['lru', 'nope']\nframes=[8]\n", "unknown policy 'nope'"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=['150%']\n", "percentages of the footprint"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=['five']\n", "percentages of the footprint"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[0]\n", "frames must be >= 1"),
    ("[grid]\nworkload=['runs/app.lackey']\npolicy=['lru']\nframes=[8]\n", "no such file"),
    ("[grid]\nworkload=['nowhere']\npolicy=['lru']\nframes=[8]\n", "unknown workload 'nowhere'"),
    ("[grid]\nworkload=['zipf:seed=3']\npolicy=['lru']\nframes=[8]\n", "remove seed="),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\n", "needs frames"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n[machine]\ntlb_sets = 2\n", "tlb_sets"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n[machine]\nframes = 2\n", "[machine] frames"),
    ("[grid]\nworkload=['loop']\npolicy=['lru']\nframes=[8]\n[machine]\ntlb_entries = 'x'\n", "tlb_entries"),
    ("[grid\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_specs_are_one_line_errors_before_any_cell(tmp_path, text, message):
    spec = _spec_file(tmp_path, text)
    res = runner.invoke(app, ["experiment", "run", str(spec), "--out", str(tmp_path / "out"), "-j", "1"])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "out" / CELLS).exists()


def test_a_folder_with_another_spec_is_refused(baseline, tmp_path):
    _, out, _ = baseline
    other = _spec_file(tmp_path, SPEC.replace("frames = [20, 50", "frames = [21, 50"))
    res = runner.invoke(app, ["experiment", "run", str(other), "--out", str(out), "-j", "1"])
    assert res.exit_code == 2 and "different spec" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bad_cli_options():
    res = runner.invoke(app, ["experiment", "run", "x.toml", "--out", "o", "--backend", "mpi"])
    assert res.exit_code == 2 and "--backend must be local or ray" in res.output


def test_plot_and_report(baseline):
    _, out, _ = baseline
    for fmt in ("png", "svg"):
        res = runner.invoke(app, ["experiment", "plot", str(out), "--format", fmt])
        assert res.exit_code == 0, res.output
        for stem in ("miss_ratio", "gap_closed"):
            assert (out / f"{stem}.{fmt}").stat().st_size > 1000
    res = runner.invoke(app, ["experiment", "report", str(out)])
    assert res.exit_code == 0, res.output
    text = (out / "report.md").read_text()
    assert f"### {ZIPF}" in text and "| clock |" in text and "![miss ratio](miss_ratio.png)" in text
    assert "| numba |" in text and 'name = "tiny"' in text


def test_plot_needs_results(tmp_path):
    res = runner.invoke(app, ["experiment", "plot", str(tmp_path)])
    assert res.exit_code == 2 and "no such file" in res.output


def test_run_timeline(tmp_path):
    png = tmp_path / "t.png"
    args = ["run", "-w", ZIPF, "-p", "clock", "-f", "40", "--tlb-entries", "0", "--json"]
    res = runner.invoke(app, [*args, "--timeline", str(png)])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 1000
    windowed = json.loads(res.stdout[res.stdout.index("{") :])["results"]
    plain = json.loads(runner.invoke(app, args).stdout)["results"]
    assert windowed == plain


def test_figures_without_the_plot_extra_are_a_one_line_error(monkeypatch, baseline, tmp_path):
    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    _, out, _ = baseline
    commands = {
        "plotting an experiment": ["experiment", "plot", str(out)],
        "--timeline": ["run", "-w", ZIPF, "-f", "40", "--timeline", str(tmp_path / "t.png")],
        "--plot": ["mrc", "-w", ZIPF, "--plot", str(tmp_path / "m.png")],
    }
    for purpose, args in commands.items():
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert f"{purpose} needs matplotlib: install vmgym[plot]" in " ".join(res.output.split())
    assert not list(tmp_path.iterdir())
    res = runner.invoke(app, ["compare", "-w", ZIPF, "-f", "40", "--json"])  # the main command needs none
    assert res.exit_code == 0, res.output


def test_parquet_equals_csv(baseline):
    pq = pytest.importorskip("pyarrow.parquet")
    _, out, rows = baseline
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert [{**r, "frames": str(r["frames"])} for r in rows] == table


def test_changed_versions_are_reported(baseline, tmp_path):
    import shutil

    spec, out, _ = baseline
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    rec = json.loads((copy / "record.json").read_text())
    rec["versions"]["numpy"] = "0.0.1"
    (copy / "record.json").write_text(json.dumps(rec))
    res = runner.invoke(app, ["experiment", "run", str(_spec_file(tmp_path)), "--out", str(copy), "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "versions differ" in res.output and "numpy 0.0.1 ->" in res.output
