"""PageReplacement-v0: Gymnasium conformance, determinism, the oracle, baselines, vector envs, SB3."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import play
from gymnasium.utils.env_checker import check_env

import vmgym.envs
import vmgym.policies
from vmgym import MachineConfig, Simulator
from vmgym.envs import FEATURES, GLOBALS, PageReplacementEnv, baseline_agent
from vmgym.sim import InvalidAction
from workloads import Workload

ID = "vmgym/PageReplacement-v0"
RNG = np.random.default_rng(11)
ZIPFISH = Workload.from_pages((RNG.zipf(1.3, 3000) % 60).tolist(), name="zipfish")
LOOP = Workload.from_pages(list(range(24)) * 12, name="loop24")


def small(**kw):
    return {"workload": ZIPFISH, "machine": {"frames": 12, "tlb_entries": 0}, "k": 8, **kw}


def test_registered_and_check_env_passes_without_warnings():
    assert ID in vmgym.envs.ENV_IDS and ID in gym.registry
    env = gym.make(ID, **small())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs.shape == (8 * len(FEATURES) + len(GLOBALS),)


def test_import_vmgym_registers_the_ids_without_loading_the_envs():
    code = (
        "import sys, gymnasium, vmgym\n"
        "ids = ('vmgym/PageReplacement-v0', 'vmgym/Prefetch-v0', 'vmgym/MemoryManager-v0')\n"
        "assert all(i in gymnasium.registry for i in ids), sorted(gymnasium.registry)\n"
        "loaded = [m for m in sys.modules if m.startswith('vmgym.envs')]\n"
        "assert 'vmgym.envs.page_replacement' not in sys.modules and not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_same_seed_same_episode_bit_for_bit():
    rnd = baseline_agent("random")
    a = play(gym.make(ID, **small()), rnd, seed=5)
    b = play(gym.make(ID, **small()), rnd, seed=5)
    assert len(a[0]) == len(b[0])
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert a[1] == b[1] and a[2]["stats"] == b[2]["stats"]
    c = play(gym.make(ID, **small()), rnd, seed=6)
    assert c[2]["stats"] != a[2]["stats"] or len(c[0]) != len(a[0])


@pytest.mark.parametrize("source", ["lru", "fifo", "clock", "random", "mix"])
def test_oracle_with_every_frame_a_candidate_is_belady(source):
    env = PageReplacementEnv(small(k=12, candidates=source))
    *_, info = play(env, lambda e: e.oracle_action())
    assert info["stats"]["misses"] == info["opt_misses"]
    assert info["lru_to_opt"] == 1.0


def test_lru_baseline_on_lru_candidates_is_lru_and_the_mix_keeps_lru_choice():
    for source in ("lru", "mix"):
        env = PageReplacementEnv(small(candidates=source))
        *_, info = play(env, baseline_agent("lru"))
        assert info["stats"]["misses"] == info["lru_misses"]
        assert info["lru_to_opt"] == 0.0
    env = PageReplacementEnv(small(candidates="fifo"))
    *_, info = play(env, baseline_agent("fifo"))
    assert info["stats"]["misses"] == Simulator(ZIPFISH, MachineConfig.lean(12), "fifo").run().misses


def test_oracle_on_a_loop_beats_lru_and_candidates_bound_it():
    ceil = {}
    for source in ("lru", "mix"):
        env = PageReplacementEnv(workload=LOOP, machine={"frames": 20}, k=4, candidates=source)
        *_, info = play(env, lambda e: e.oracle_action())
        ceil[source] = info["lru_to_opt"]
    assert 0.0 < ceil["lru"] < 1.0 and ceil["mix"] > 0.0


def test_action_masks_and_invalid_actions():
    env = PageReplacementEnv(small(k=16, invalid_action="raise"))  # 12 frames: slots 12-15 are padding
    obs, _ = env.reset(seed=0)
    mask = env.action_masks()
    assert mask.dtype == bool and mask.tolist() == [True] * 12 + [False] * 4
    rows = obs[: 16 * len(FEATURES)].reshape(16, len(FEATURES))
    assert (rows[12:] == 0).all() and (rows[:12, FEATURES.index("valid")] == 1).all()
    with pytest.raises(InvalidAction, match="action 13 is not a valid candidate slot: 12 of 16"):
        env.step(13)
    fb = PageReplacementEnv(small(k=16, reward="faults"))  # invalid_action="fallback" is the default
    fb.reset(seed=0)
    ref = PageReplacementEnv(small(k=16, reward="faults"))
    ref.reset(seed=0)
    _, r_bad, *_ = fb.step(15)
    _, r_ok, *_ = ref.step(0)
    assert r_bad == r_ok - 1.0


def test_rewards_and_truncation():
    env = PageReplacementEnv(small(reward="baseline", baseline="lru", candidates="lru"))
    _, rewards, info = play(env, baseline_agent("lru"))
    assert all(r == 0 for r in rewards)  # the agent is LRU: never ahead, never behind
    env = PageReplacementEnv(small(reward="faults", max_steps=5))
    seen, rewards, info = play(env, baseline_agent("lru"))
    assert len(rewards) == 5 and all(r <= -1 for r in rewards) and info["decisions"] == 5
    assert "lru_to_opt" not in info  # only for whole episodes
    env = PageReplacementEnv(small())
    _, rewards, _ = play(env, baseline_agent("lru"))
    assert all(r < 0 for r in rewards) and min(rewards) > -20  # about one fault per decision


def test_baseline_agents_all_run_and_opt_is_best():
    from vmgym.envs.baselines import STATELESS

    results = {}
    for name in STATELESS:
        *_, info = play(PageReplacementEnv(small(k=12)), baseline_agent(name))
        results[name] = info["stats"]["misses"]
    assert results["opt"] == min(results.values())
    assert set(vmgym.envs.baseline_names()) == set(STATELESS) | set(vmgym.policies.names())
    with pytest.raises(ValueError, match="unknown baseline agent 'nope'; choose one of: 2q, aging, arc"):
        baseline_agent("nope")


def test_config_errors_name_the_key_and_allowed_values():
    with pytest.raises(ValueError, match="unknown PageReplacement config key.* colour; allowed: workload"):
        PageReplacementEnv(small(colour=1))
    with pytest.raises(ValueError, match="candidates 'lfu'; allowed: lru, fifo, clock, random, mix"):
        PageReplacementEnv(small(candidates="lfu"))
    with pytest.raises(ValueError, match="never needs an eviction"):
        PageReplacementEnv(small(machine={"frames": 4096})).reset()
    env = PageReplacementEnv(small())
    with pytest.raises(ValueError, match="option 'k' changes the spaces"):
        env.reset(options={"k": 4})
    env.reset(options={"candidates": "lru"})
    assert env.config["candidates"] == "lru"


def test_workload_by_name_and_the_machine_hint():
    env = gym.make(ID)  # the documented default: the `default` workload at its frame hint
    obs, _ = env.reset(seed=0)
    assert env.unwrapped.machine.frames == 500 and env.action_space.n == 16
    assert env.unwrapped.workload.name.startswith("default")


def test_render_modes():
    env = PageReplacementEnv(small(), render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert "slot frame" in text and text.count("\n") == 2 + 8
    env = PageReplacementEnv(small(), render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with pytest.raises(ValueError, match="render_mode 'human'"):
        PageReplacementEnv(small(), render_mode="human")


def test_vector_envs_gymnasium_and_sb3():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    venv = gym.make_vec(ID, num_envs=2, vectorization_mode="sync", **small())
    obs, _ = venv.reset(seed=[1, 2])
    obs, rew, term, trunc, _ = venv.step(np.zeros(2, dtype=np.int64))
    assert obs.shape == (2, 8 * len(FEATURES) + len(GLOBALS)) and rew.shape == (2,)
    venv.close()
    for cls in (DummyVecEnv, SubprocVecEnv):
        # "module:id" imports vmgym.envs in the worker processes too (they start fresh)
        venv = make_vec_env(f"vmgym.envs:{ID}", n_envs=2, seed=0, vec_env_cls=cls, env_kwargs=small())
        venv.reset()
        masks = np.stack(venv.env_method("action_masks"))
        assert masks.shape == (2, 8) and masks.all()
        venv.step(np.zeros(2, dtype=np.int64))
        venv.close()


def test_sb3_maskable_ppo_and_dqn_train():
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import DQN

    env = gym.make(ID, **small())
    model = MaskablePPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=1024)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, action_masks=env.unwrapped.action_masks(), deterministic=True)
    assert env.unwrapped.action_masks()[int(action)]
    env = gym.make(ID, **small(invalid_action="fallback"))
    model = DQN("MlpPolicy", env, learning_starts=128, buffer_size=2000, seed=0, device="cpu")
    model.learn(total_timesteps=1024)


@pytest.mark.parametrize("name", ["arc", "s3fifo"])  # each compiles its own env kernel (~10 s cold)
def test_stateful_policy_agents_with_every_frame_a_candidate_are_the_policy(name):
    """policy_state keeps the policy's lists along the episode; its choice among all frames is its victim."""
    env = PageReplacementEnv(small(k=12, candidates="lru", policy_state=name))
    *_, info = play(env, baseline_agent(name))
    ref = Simulator(ZIPFISH, MachineConfig.lean(12), name).run()
    assert info["stats"]["misses"] == ref.misses


def test_stateful_policy_agent_among_mixed_candidates_and_errors():
    env = PageReplacementEnv(small(policy_state="arc"))
    *_, info = play(env, baseline_agent("adaptive-replacement-cache"))  # aliases accepted
    assert info["stats"]["misses"] >= info["opt_misses"]
    with pytest.raises(ValueError, match="build the env with policy_state='arc'"):
        play(PageReplacementEnv(small()), baseline_agent("arc"))
    with pytest.raises(RuntimeError, match="policy_action\\(\\) needs the env built with policy_state"):
        env = PageReplacementEnv(small())
        env.reset(seed=0)
        env.policy_action()
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        PageReplacementEnv(small(policy_state="nope"))
