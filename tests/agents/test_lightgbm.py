"""The lightgbm agent: exported trees, files, a tiny training run, its config (LightGBM is optional)."""

import json
import tomllib

import numpy as np
import pytest

import agents
from agents.base import AgentError
from agents.evaluate import run_agent
from agents.imitation import collect
from agents.rollout import make_env
from agents.scorer import N_FEATURES, N_GLOBALS, N_INPUTS, ScorerError, inputs, split
from agents.train import load_config, parse_config, train
from agents.trees import TreeAgent, TreeScorer
from vmgym.sim import MachineConfig, Simulator
from workloads import resolve

lgb = pytest.importorskip("lightgbm")
from agents.boosting import BoostConfig, fit_trees, table  # noqa: E402  (after the skip)

LOOP = "loop:n_pages=120,length=6000"  # a loop larger than memory: LRU misses every reference


@pytest.fixture(scope="module")
def loop_data():
    wl = resolve(LOOP)
    entries = [(LOOP, wl, {"frames": 100})]
    return collect(entries, None, 1.0, k=8, candidates="mix", keep=1.0, cap=64.0, seed=0)


@pytest.fixture(scope="module", params=["lambdarank", "regression"])
def loop_agent(request, loop_data):
    cfg = BoostConfig(objective=request.param, n_estimators=20, num_leaves=8, min_child_samples=5)
    scorer = fit_trees(loop_data, cfg)
    return TreeAgent(scorer, k=8, config={"label": "gbdt", "duel": False})


def random_booster(x, missing):
    """A booster with NaN and zero missing-value handling, trained on random rows."""
    rng = np.random.default_rng(1)
    y = x[:, 0] - x[:, N_FEATURES + 1] + (x[:, 3] > 0.5) + rng.normal(0, 0.1, len(x))
    params = {"objective": "regression", "num_leaves": 7, "min_data_in_leaf": 5, "verbosity": -1,
              "num_threads": 1, "deterministic": True, "zero_as_missing": missing == "zero"}  # fmt: skip
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=15)


@pytest.mark.parametrize("missing", ["nan", "zero"])
def test_exported_trees_equal_booster_predict(missing):
    rng = np.random.default_rng(0)
    x = rng.random((600, N_INPUTS))
    x[rng.random(x.shape) < 0.15] = 0.0
    x[rng.random(x.shape) < 0.05] = np.nan
    booster = random_booster(x, missing)
    scorer = TreeScorer.from_booster(booster)
    assert scorer.n_trees == 15
    test = rng.random((400, N_INPUTS))
    test[rng.random(test.shape) < 0.2] = 0.0
    test[rng.random(test.shape) < 0.1] = np.nan
    np.testing.assert_allclose(scorer.score_rows(test), booster.predict(test), rtol=0, atol=1e-9)


def test_compiled_act_scores_what_booster_predicts_on_real_observations(loop_agent):
    booster_free = loop_agent.scorer
    env = make_env(resolve(LOOP), {"frames": 100}, k=8)
    obs, _ = env.reset(seed=0)
    for _ in range(100):
        rows, glob, mask = split(obs, 8)
        s = booster_free.score_rows(inputs(rows, glob, mask))
        assert booster_free.act(obs, 8) == int(np.argmax(np.where(mask, s, -np.inf)))
        obs, _, term, trunc, _ = env.step(booster_free.act(obs, 8))
        if term or trunc:
            break


def test_fit_trees_matches_booster_on_the_training_rows(loop_data):
    tab = table(loop_data)
    assert len(tab.x) == int(loop_data.mask.sum()) and tab.groups.sum() == len(tab.x)
    # relevance: how many candidates of the decision are reused sooner; the furthest tie at the top
    first = slice(0, int(tab.groups[0]))
    assert tab.relevance[first][tab.best[first]].min() == tab.relevance[first].max()
    booster = lgb.train(
        {"objective": "regression", "num_leaves": 8, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(tab.x, tab.target), num_boost_round=10,
    )  # fmt: skip
    np.testing.assert_allclose(
        TreeScorer.from_booster(booster).score_rows(tab.x), booster.predict(tab.x), rtol=0, atol=1e-9
    )


def test_small_agent_on_a_loop_larger_than_memory_beats_lru(loop_agent):
    wl = resolve(LOOP)
    lru = Simulator(wl, MachineConfig.for_workload(wl, frames=100), "lru").run().misses
    stats = run_agent(loop_agent, wl, {"frames": 100})
    assert stats.policy == "gbdt"
    assert stats.misses < 0.5 * lru


def test_save_load_round_trip_gives_identical_actions(loop_agent, tmp_path):
    path = loop_agent.save(tmp_path / "m.npz")
    again = agents.load(path)
    assert type(again) is TreeAgent and again.k == 8 and again.label == "gbdt"
    env = make_env(resolve(LOOP), {"frames": 100}, k=8)
    obs, _ = env.reset(seed=0)
    for _ in range(300):
        a = loop_agent.act(obs, env)
        assert again.act(obs, env) == a
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert {"feature", "threshold", "leaf_value", "roots", "meta"} <= set(z.files)
    mlp = agents.make("imitation", k=8).save(tmp_path / "mlp.npz")
    with pytest.raises(AgentError, match="a model of agent 'imitation', not 'lightgbm'"):
        TreeAgent.load(mlp)


def test_untrained_agent_keeps_lru_and_corrupt_files_are_clear_errors(tmp_path):
    agent = TreeAgent(k=4)
    obs = np.random.default_rng(0).random(4 * N_FEATURES + N_GLOBALS).astype(np.float32)
    assert agent.act(obs) == 0
    path = agent.save(tmp_path / "empty.npz")
    assert type(agents.load(path)) is TreeAgent
    with np.load(path) as z:
        arrays = {n: z[n] for n in z.files}
    arrays |= {"feature": np.array([0], np.int32), "threshold": np.array([0.5]),
               "left": np.array([0], np.int32), "right": np.array([-1], np.int32),
               "default_left": np.array([1], np.uint8), "missing": np.array([0], np.uint8),
               "leaf_value": np.array([1.0]), "roots": np.array([0], np.int32)}  # fmt: skip
    np.savez(tmp_path / "cycle.npz", **arrays)  # a node that is its own child would never end
    with pytest.raises(AgentError, match="not a vmgym tree scorer: left holds an index out of range"):
        agents.load(tmp_path / "cycle.npz")
    with pytest.raises(ScorerError, match="needs the array 'feature'"):
        TreeScorer({})


TINY = """
[train]
algorithm = "lightgbm"
suite = "{suite}"
validation = "{suite}"
[env]
k = 8
[lightgbm]
rounds = 2
keep = 1.0
n_estimators = 10
num_leaves = 8
min_child_samples = 5
margins = [0.0, 0.5]
"""


def test_train_lightgbm_writes_a_model_that_loads_and_resumes(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(
        'description = "tiny"\n[[workloads]]\nname = "loop"\nworkload = "loop"\n'
        "params = { n_pages = 90, length = 3000 }\nmachine = { frames = 80 }\n"
    )
    cfg = parse_config(tomllib.loads(TINY.format(suite=suite)), "tiny.toml")
    model = train(cfg, tmp_path / "run", log=lambda m: None)
    assert model == tmp_path / "run" / "model.npz"
    agent = agents.load(model)
    assert type(agent) is TreeAgent and agent.config["algorithm"] == "lightgbm"
    rec = json.loads((tmp_path / "run" / "record.json").read_text())
    assert len(rec["results"]["rounds"]) == 2 and rec["results"]["rounds"][-1]["validation_gap"] > 0.5
    # killed after round 1, rerun: the same model
    run = tmp_path / "run"
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    state["done"], state["history"] = 1, state["history"][:1]
    (run / "checkpoints" / "state.json").write_text(json.dumps(state))
    first = model.read_bytes()
    model.unlink()
    train(cfg, run, log=lambda m: None)
    assert model.read_bytes() == first


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[lightgbm]\nnum_leaves = 'x'\n", r"\[lightgbm\]: num_leaves must be int, got 'x'"),
        ("[lightgbm]\nnum_leaves = 1\n", "num_leaves = 1 is out of range"),
        ("[lightgbm]\nlearning_rate = 0\n", "learning_rate = 0.0 is out of range"),
        ("[lightgbm]\nn_estimators = 0\n", "n_estimators = 0 is out of range"),
        ("[lightgbm]\nmin_child_samples = 1.5\n", "min_child_samples must be int"),
        ("[lightgbm]\nobjective = 'xendcg'\n", "objective = 'xendcg' is out of range; allowed: lambdarank"),
        ("[lightgbm]\nhidden = [8, 8]\n", r"unknown key 'hidden'; allowed: rounds"),
        ("[imitation]\nrounds = 2\n", r"table \[imitation\] does not apply to algorithm 'lightgbm'"),
    ],
)
def test_bad_lightgbm_configs_are_one_line_errors(tmp_path, text, pattern):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nalgorithm = "lightgbm"\n' + text)
    with pytest.raises(AgentError, match=pattern) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_lightgbm_is_a_clear_error(monkeypatch, tmp_path):
    import sys

    from agents.boosting import require_lightgbm

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm raises ImportError
    with pytest.raises(AgentError, match=r"install vmgym\[lightgbm\]"):
        require_lightgbm()
    cfg = parse_config({"train": {"algorithm": "lightgbm"}}, "x")
    with pytest.raises(AgentError, match=r"install vmgym\[lightgbm\]"):
        train(cfg, tmp_path / "run", log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_measured_lightgbm_config_parses():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "benchmarks" / "lightgbm.toml")
    assert cfg.algorithm == "lightgbm" and cfg.params.objective == "lambdarank" and cfg.k == 16
