import json

from typer.testing import CliRunner

from vmgym import policies
from vmgym.cli import app

runner = CliRunner()
SMALL = "zipf:pages=300,length=5000"


def test_run_json_record():
    res = runner.invoke(app, ["run", "-w", SMALL, "-p", "clock", "-f", "50", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["config"]["policy"] == "clock" and rec["config"]["machine"]["frames"] == 50
    assert rec["results"]["accesses"] == 5000
    assert "numba" in rec["versions"]


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
