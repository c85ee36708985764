import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

import agents
from agents.base import AgentError
from agents.evaluate import evaluate, run_agent, summary
from agents.imitation import FitConfig, collect, fit
from agents.rollout import make_env
from agents.scorer import N_FEATURES, N_GLOBALS, Scorer, ScorerError, inputs, split
from agents.scorer_agent import ScorerAgent
from agents.train import load_config, parse_config, train
from vmgym.cli import app
from vmgym.sim import MachineConfig, Simulator
from workloads import resolve

runner = CliRunner()
LOOP = "loop:n_pages=120,length=6000"  # a loop larger than memory: LRU misses every reference
ZIPF = "zipf:pages=400,length=8000"


def entry(spec, frames):
    wl = resolve(spec)
    return (spec, wl, {"frames": frames})


def lru_misses(spec, frames):
    wl = resolve(spec)
    return Simulator(wl, MachineConfig.for_workload(wl, frames=frames), "lru").run().misses


@pytest.fixture(scope="module")
def loop_agent():
    """Behaviour cloning of Belady on the loop: seconds."""
    data = collect([entry(LOOP, 100)], None, 1.0, k=8, candidates="mix", keep=1.0, cap=64.0, seed=0)
    scorer = fit(data, FitConfig(hidden=(16, 16), epochs=3, batch=64))
    return ScorerAgent(scorer, k=8, config={"label": "bc", "duel": False})


def test_bc_on_a_loop_larger_than_memory_beats_lru(loop_agent):
    wl = resolve(LOOP)
    stats = run_agent(loop_agent, wl, {"frames": 100})
    assert stats.policy == "bc"
    assert stats.misses < 0.5 * lru_misses(LOOP, 100)


def test_numpy_torch_and_compiled_scorers_agree():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    scorer = Scorer.init((16, 8), seed=3)
    module = scorer.to_torch()
    k = 6
    for _ in range(50):
        obs = rng.random(k * N_FEATURES + N_GLOBALS).astype(np.float32)
        rows, glob, mask = split(obs, k)
        s_np = scorer.score_rows(inputs(rows, glob, mask))
        with torch.no_grad():
            s_t = module.score(torch.from_numpy(rows), torch.from_numpy(glob), torch.from_numpy(mask)).numpy()
        np.testing.assert_allclose(s_np, s_t, rtol=1e-5, atol=1e-5)
        if mask.any():
            assert scorer.act(obs, k) == int(np.argmax(np.where(mask, s_np, -np.inf)))
    back = Scorer.from_torch(module)
    for (w1, b1), (w2, b2) in zip(scorer.layers, back.layers, strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


def test_margin_keeps_slot_zero_unless_another_scores_clearly_higher():
    scorer = Scorer.init((8, 8), seed=1)
    k = 4
    obs = np.random.default_rng(1).random(k * N_FEATURES + N_GLOBALS).astype(np.float32)
    for j in range(k):
        obs[j * N_FEATURES + N_FEATURES - 1] = 1.0  # every slot valid
    scores, _ = scorer.scores(obs, k)
    best = int(np.argmax(scores))
    gap = float(scores[best] - scores[0])
    if best == 0:
        pytest.skip("slot 0 already best for this seed")
    assert scorer.act(obs, k, margin=0.0) == best
    assert scorer.act(obs, k, margin=gap + 1e-3) == 0


def test_save_load_round_trip_gives_identical_actions(loop_agent, tmp_path):
    path = loop_agent.save(tmp_path / "m.npz")
    again = agents.load(path)
    assert isinstance(again, ScorerAgent) and again.k == 8 and again.label == "bc"
    env = make_env(resolve(LOOP), {"frames": 100}, k=8)
    obs, _ = env.reset(seed=0)
    for _ in range(200):
        a = loop_agent.act(obs, env)
        assert again.act(obs, env) == a
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    with zipfile.ZipFile(path) as z:  # plain arrays only: np.load(allow_pickle=False) reads it
        assert all(n.endswith(".npy") for n in z.namelist())


def test_evaluation_is_deterministic_per_seed(loop_agent):
    ents = [entry(ZIPF, 60)]
    a = evaluate([loop_agent], ents, baselines=("lru",), seed=3)
    b = evaluate([loop_agent], ents, baselines=("lru",), seed=3)
    assert a == b
    s = summary(a)
    assert set(s) == {"bc", "ceiling", "lru"} and s["lru"]["mean"] == 0.0


def test_duel_keeps_a_misleading_scorer_near_lru():
    """A scorer that evicts the most recently used page loses badly on Zipf; the duel falls back to LRU."""
    hidden = 4
    w1 = np.zeros((2 * N_FEATURES + N_GLOBALS, hidden), np.float32)
    w1[1, 0] = -1.0  # -idle: the most recently used candidate scores highest
    layers = [
        (w1, np.full(hidden, 2.0, np.float32)),
        (np.eye(hidden, dtype=np.float32), np.zeros(hidden, np.float32)),
    ]
    layers.append((np.ones((hidden, 1), np.float32), np.zeros(1, np.float32)))
    mru = Scorer(layers)
    wl = resolve(ZIPF)
    lru = lru_misses(ZIPF, 60)
    plain = run_agent(ScorerAgent(mru, config={"duel": False}), wl, {"frames": 60}).misses
    duel = run_agent(ScorerAgent(mru, config={"duel": True}), wl, {"frames": 60}).misses
    assert plain > 1.2 * lru
    assert duel < 1.05 * lru


def test_agent_entries_in_compare(loop_agent, tmp_path):
    path = loop_agent.save(tmp_path / "bc.npz")
    res = runner.invoke(app, ["compare", "-w", LOOP, "-f", "100", "-p", f"lru,agent:{path}", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["policy"]: r for r in json.loads(res.stdout)["results"]}
    assert rows[f"agent:{path}"]["misses"] < rows["lru"]["misses"]
    assert rows[f"agent:{path}"]["lru_to_opt"] > 0.5


def test_agent_entries_in_compare_on_a_stream(loop_agent, tmp_path, monkeypatch):
    """A streamed workload (here a .npy past the streaming threshold) runs agents too, as the whole one."""
    import workloads.spec as spec_module
    from vmgym.compare import compare
    from workloads.stream import from_workload
    from workloads.traces import write_trace

    path = loop_agent.save(tmp_path / "bc.npz")
    wl = resolve(LOOP)
    cfg = MachineConfig.for_workload(wl, frames=100)
    names = ["lru", f"agent:{path}"]
    whole = compare(wl, cfg, names)
    assert compare(from_workload(wl), cfg, names) == whole
    trace = write_trace(wl, tmp_path / "loop.npy")
    args = ["compare", "-w", str(trace), "-f", "100", "-p", f"lru,agent:{path}", "--json"]
    loaded = json.loads(runner.invoke(app, args).stdout)["results"]
    monkeypatch.setattr(spec_module, "STREAM_TRACES_FROM", 0)
    seen = []
    spy = lambda w, *a, **k: seen.append(type(w).__name__) or compare(w, *a, **k)  # noqa: E731
    monkeypatch.setattr("vmgym.cli.compare", spy)
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"] == loaded and seen == ["RefStream"]


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: p / "missing.npz", "no such model file"),
        (lambda p: (p / "junk.npz").write_bytes(b"not a zip") and p / "junk.npz", "not a vmgym scorer"),
        (lambda p: (p / "junk.zip").write_bytes(b"PK\x03\x04 broken") and p / "junk.zip", "sidecar"),
        (lambda p: p / "m.txt", "no such model file"),
    ],
)
def test_bad_model_files_are_clear_errors(tmp_path, make, pattern):
    path = make(tmp_path)
    with pytest.raises(AgentError, match=pattern):
        agents.load(path)
    res = runner.invoke(app, ["compare", "-w", LOOP, "-f", "100", "-p", f"lru,agent:{path}"])
    assert res.exit_code == 2 and pattern in res.output and "Traceback" not in res.output


def test_corrupt_sb3_zip_with_sidecar_is_a_clear_error(tmp_path):
    (tmp_path / "m.zip").write_bytes(b"PK\x03\x04 broken")
    (tmp_path / "m.json").write_text(json.dumps({"algorithm": "maskable-ppo", "k": 16, "candidates": "mix"}))
    with pytest.raises(AgentError, match="not a loadable SB3 model"):
        agents.load(tmp_path / "m.zip")


def test_model_for_another_k_or_feature_set_is_refused(loop_agent, tmp_path):
    path = loop_agent.save(tmp_path / "k8.npz")
    with pytest.raises(AgentError, match="takes k=8 candidates, the env offers k=16"):
        loop_agent.check_env(make_env(resolve(LOOP), {"frames": 100}, k=16))
    with np.load(path) as z:
        arrays = {n: z[n] for n in z.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["features"] = meta["features"][:-2]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(AgentError, match="trained on other observation features"):
        agents.load(tmp_path / "old.npz")
    with pytest.raises(ScorerError, match="must map"):
        Scorer([(np.zeros((3, 1), np.float32), np.zeros(1, np.float32))])


def test_shipped_default_agent_loads_and_acts():
    assert "default" in agents.pretrained()
    agent = agents.load("default")
    assert agent.k == 16 and agent.candidates == "mix"
    assert agent.config["algorithm"] == "imitation"
    stats = run_agent(agent, resolve(LOOP), {"frames": 100})
    assert stats.misses < lru_misses(LOOP, 100)


TINY = """
[train]
suite = "{suite}"
validation = "{suite}"
[env]
k = 8
[imitation]
rounds = 2
keep = 1.0
hidden = [8, 8]
epochs = 1
margins = [0.0, 0.5]
duels = [true, false]
"""


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite")
    (d / "s.toml").write_text(
        'description = "tiny"\n[[workloads]]\nname = "loop"\nworkload = "loop"\n'
        "params = { n_pages = 90, length = 3000 }\nmachine = { frames = 80 }\n"
    )
    return d / "s.toml"


def test_train_writes_run_folder_tensorboard_and_resumes_bit_for_bit(tmp_path, tiny_suite):
    cfg = parse_config(__import__("tomllib").loads(TINY.format(suite=tiny_suite)), "tiny.toml")
    model = train(cfg, tmp_path / "a", log=lambda m: None)
    assert model == tmp_path / "a" / "model.npz"
    rec = json.loads((tmp_path / "a" / "record.json").read_text())
    assert rec["command"] == "train" and "torch" in rec["versions"] and rec["config"]["k"] == 8
    assert len(rec["results"]["rounds"]) == 2
    # margin, then duel, chosen on validation: both settings measured, the model holds the choice
    res = rec["results"]
    assert set(res["duels"]) == {"true", "false"} and set(res["margins"]) == {"0.0", "0.5"}
    assert (
        agents.load(model).config["duel"] is res["duel"]
        and res["duels"]["true"] == res["margins"][str(res["margin"])]
    )
    # tensorboard: the event file holds the scalars a user looks at
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "a" / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/imitation_accuracy", "validation/lru_to_opt_mean"} <= tags
    assert {"validation/faults_per_1k_mean", "validation/hit_ratio_mean"} <= tags
    # a run killed after its first round, rerun with the same command, ends with the same model
    b = tmp_path / "b"
    train(cfg, b, log=lambda m: None)
    state = json.loads((b / "checkpoints" / "state.json").read_text())
    state["done"], state["history"] = 1, state["history"][:1]
    (b / "checkpoints" / "state.json").write_text(json.dumps(state))
    (b / "model.npz").unlink()
    train(cfg, b, log=lambda m: None)
    assert (b / "model.npz").read_bytes() == model.read_bytes()
    # another config in the same folder is refused
    other = parse_config({"train": {"suite": str(tiny_suite), "seed": 1}}, "x")
    with pytest.raises(AgentError, match="holds a run of another config"):
        train(other, b, log=lambda m: None)


def test_training_is_bit_identical_in_another_process(tmp_path, tiny_suite):
    import os
    import subprocess
    import sys

    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(suite=tiny_suite))
    train(load_config(path), tmp_path / "here", log=lambda m: None)
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    cmd = [sys.executable, "-m", "vmgym.cli", "train", str(path), "--out", str(tmp_path / "there")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "there" / "model.npz").read_bytes() == (tmp_path / "here" / "model.npz").read_bytes()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[train]\nalgo = 1\n", r"\[train\]: unknown key 'algo'; allowed: algorithm"),
        ("[train]\nalgorithm = 'sarsa'\n", "algorithm 'sarsa'; allowed: imitation, ppo"),
        ("[imitation]\nrounds = 'x'\n", "rounds must be int"),
        ("[imitation]\nhidden = [64]\n", "hidden must be a list of 2 positive integers"),
        ("[imitation]\nbeta = 2\n", "beta = 2.0 is out of range"),
        ("[env]\ncandidates = 'all'\n", "candidates 'all'; allowed: lru"),
        ("[bogus]\nx = 1\n", r"unknown table \[bogus\]"),
        ("[train]\nalgorithm = 'imitation'\n[dqn]\ntimesteps = 5\n", r"\[dqn\] does not apply"),
        ("x = ", "not valid TOML"),
    ],
)
def test_bad_train_configs_are_one_line_errors(tmp_path, text, pattern):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(AgentError, match=pattern) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_shipped_config_parses():
    cfg = load_config(agents.PRETRAINED_DIR / "default.toml")
    assert cfg.algorithm == "imitation" and cfg.k == 16


def test_evaluate_and_agents_commands(loop_agent, tmp_path, tiny_suite):
    path = loop_agent.save(tmp_path / "bc.npz")
    res = runner.invoke(
        app, ["evaluate", "--agent", str(path), "--suite", str(tiny_suite), "-b", "lru,opt", "--json"]
    )
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    pols = {r["policy"] for r in rec["results"]["rows"]}
    assert pols == {"bc", "ceiling", "lru", "opt"}
    res = runner.invoke(app, ["evaluate", "--agent", str(path), "--suite", "nope"])
    assert res.exit_code == 2 and "unknown suite 'nope'" in res.output
    res = runner.invoke(app, ["agents"])
    assert res.exit_code == 0 and "imitation" in res.stdout and "default" in res.stdout


@pytest.mark.parametrize("algorithm", ["maskable-ppo", "dqn"])
def test_rl_trains_saves_and_exports_the_scorer(tmp_path, tiny_suite, algorithm):
    text = f"""
[train]
algorithm = "{algorithm}"
suite = "{tiny_suite}"
validation = "{tiny_suite}"
[env]
k = 8
[{algorithm}]
timesteps = 256
n_envs = 1
n_steps = 64
batch_size = 32
checkpoint_every = 128
max_steps = 128
hidden = [8, 8]
"""
    path = tmp_path / "rl.toml"
    path.write_text(text)
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    agent = agents.load(run / "model.zip")
    assert agent.name == algorithm and agent.k == 8
    fast = agents.load(run / "model.npz")
    env = make_env(resolve(LOOP), {"frames": 100}, k=8)
    obs, _ = env.reset(seed=0)
    assert 0 <= agent.act(obs, env) < 8 and 0 <= fast.act(obs, env) < 8
    assert list((run / "checkpoints").glob("model_*_steps.zip"))
    assert any((run / "tb").rglob("events.out.tfevents.*"))


def test_learned_prefetcher_trains_and_is_evaluated_beside_readahead(tmp_path):
    suite = tmp_path / "pf.toml"
    suite.write_text(
        'description = "tiny"\n[[workloads]]\nname = "scan"\nworkload = "file-scan"\n'
        "params = { file_pages = 200, passes = 2 }\nmachine = { frames = 50 }\n"
    )
    cfg = tmp_path / "pf-train.toml"
    cfg.write_text(
        f'[train]\nalgorithm = "maskable-ppo"\nsuite = "{suite}"\nvalidation = "{suite}"\n'
        '[maskable-ppo]\nenv = "vmgym/Prefetch-v0"\ntimesteps = 128\nn_envs = 1\nn_steps = 64\n'
        "batch_size = 32\ncheckpoint_every = 128\nmax_steps = 100000\ngamma = 1.0\nhidden = [8, 8]\n"
    )
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "run" / "model.npz").exists()  # only PageReplacement-v0 actors export a scorer
    res = runner.invoke(
        app, ["evaluate", "--agent", str(tmp_path / "run" / "model.zip"), "--suite", str(suite), "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = {r["policy"]: r for r in json.loads(res.stdout)["results"]["rows"]}
    assert set(rows) == {"maskable-ppo", "none", "readahead", "stride"}
    assert (
        rows["none"]["time_vs_none"] == 1.0
        and rows["readahead"]["major_faults"] < rows["none"]["major_faults"]
    )
    # a model for another env is refused where evictions are asked for
    pf_model = tmp_path / "run" / "model.zip"
    res = runner.invoke(app, ["compare", "-w", LOOP, "-f", "100", "-p", f"lru,agent:{pf_model}"])
    assert res.exit_code == 2 and "acts in vmgym/Prefetch-v0" in res.output and "Traceback" not in res.output


TRAINING = ("torch", "stable_baselines3", "sb3_contrib", "tensorboard")  # the vmgym[train] extra


@pytest.mark.parametrize("algorithm", ["imitation", "maskable-ppo", "dqn"])
def test_training_without_the_train_extra_is_a_one_line_error(monkeypatch, tmp_path, algorithm):
    for name in TRAINING:
        monkeypatch.setitem(__import__("sys").modules, name, None)  # import raises ImportError
    path = tmp_path / "c.toml"
    path.write_text(f'[train]\nalgorithm = "{algorithm}"\n')
    with pytest.raises(AgentError, match=r"training an agent needs torch: install vmgym\[train\]"):
        train(load_config(path), tmp_path / "run", log=lambda m: None)
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "install vmgym[train]" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()
    (tmp_path / "m.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "m.json").write_text(json.dumps({"algorithm": "dqn", "k": 16, "candidates": "mix"}))
    with pytest.raises(AgentError, match=r"a dqn model needs stable_baselines3: install vmgym\[train\]"):
        agents.load(tmp_path / "m.zip")


def test_the_shipped_agent_runs_without_the_train_extra(monkeypatch):
    for name in TRAINING:
        monkeypatch.setitem(__import__("sys").modules, name, None)
    agent = agents.load("default")
    stats = run_agent(agent, resolve(LOOP), {"frames": 100})
    assert stats.misses < lru_misses(LOOP, 100)
