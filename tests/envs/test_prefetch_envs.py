"""Prefetch-v0 and MemoryManager-v0: conformance, equivalences with the simulator, masks, SB3."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import play
from gymnasium.utils.env_checker import check_env

import vmgym.envs
from vmgym import MachineConfig, Simulator
from vmgym.envs import PREFETCH_ACTIONS, PREFETCH_FEATURES, MemoryManagerEnv, PrefetchEnv
from vmgym.sim import InvalidAction
from workloads import Workload
from workloads.generators import file_scan

SCAN = file_scan(file_pages=300, passes=2, random_ratio=0.2, seed=3)
PURE_SCAN = file_scan(file_pages=300, passes=1)
MACHINE = {"frames": 64, "tlb_entries": 0}
PF_ID, MM_ID = "vmgym/Prefetch-v0", "vmgym/MemoryManager-v0"
A = {name: j for j, name in enumerate(PREFETCH_ACTIONS)}


def pf_small(**kw):
    return {"workload": SCAN, "machine": MACHINE, **kw}


def mm_small(**kw):
    return {"workload": SCAN, "machine": MACHINE, "k": 8, **kw}


def masked_random(seed):
    rng = np.random.default_rng(seed)
    return lambda env: int(rng.choice(np.flatnonzero(env.action_masks())))


@pytest.mark.parametrize("env_id", [PF_ID, MM_ID])
def test_registered_and_check_env_passes_without_warnings(env_id):
    assert env_id in vmgym.envs.ENV_IDS and env_id in gym.registry
    env = gym.make(env_id, **(pf_small() if env_id == PF_ID else mm_small()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", vmgym.envs.ENV_IDS)
def test_check_env_passes_with_the_default_config(env_id):
    """check_env samples the whole action space: the defaults must accept every action (issue 19).

    Only the workload and the machine are small; 12 frames leave padding slots for k=16.
    """
    env = gym.make(env_id, workload=SCAN, machine={"frames": 12})
    cfg = env.unwrapped.config
    assert {key: cfg[key] for key in cfg if key not in ("workload", "machine")} == {
        key: value
        for key, value in env.unwrapped.default_config().items()
        if key not in ("workload", "machine")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    env.reset(seed=0)
    for _ in range(50):
        *_, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            break


def test_prefetch_env_spaces():
    env = PrefetchEnv(pf_small())
    assert env.action_space.n == len(PREFETCH_ACTIONS) == 9
    assert env.observation_space.shape == (len(PREFETCH_FEATURES),) == (22,)
    env = MemoryManagerEnv(mm_small())
    assert env.action_space.n == 8 + 9
    assert env.observation_space.shape == (8 * 18 + 5 + 22 + 1,)


def test_prefetching_nothing_is_demand_paging_exactly():
    """The agent that always answers 'none' reproduces the run without a prefetcher, bit for bit."""
    *_, info = play(PrefetchEnv(pf_small(policy="clock")), lambda e: A["none"])
    ref = Simulator(SCAN, MachineConfig(**MACHINE), "clock").run().summary()
    assert info["stats"] == ref
    # one decision per major fault, except one at the very last reference (nothing left to prefetch for)
    assert ref["major_faults"] - 1 <= info["decisions"] <= ref["major_faults"]


def test_readahead_agent_cuts_major_faults_and_time():
    *_, none = play(PrefetchEnv(pf_small()), lambda e: A["none"])
    *_, ahead = play(PrefetchEnv(pf_small()), lambda e: A["ahead-16"])
    assert ahead["stats"]["major_faults"] < none["stats"]["major_faults"] / 3
    assert ahead["stats"]["time_ns"] < none["stats"]["time_ns"]
    # the random lookups (20 %) each read 15 pages for nothing: blind readahead wastes more than it uses
    assert 0 < ahead["stats"]["prefetch_used"] < ahead["stats"]["prefetch_wasted"]


def test_sequential_file_scan_with_ahead_8_faults_once_per_8_pages():
    env = PrefetchEnv(workload=file_scan(file_pages=64, passes=1), machine={"frames": 128, "tlb_entries": 0})
    *_, info = play(env, lambda e: A["ahead-8"])
    assert info["stats"]["major_faults"] == 8 and info["stats"]["prefetch_used"] == 56


def test_observation_and_masks_describe_the_fault():
    env = PrefetchEnv(pf_small(workload=PURE_SCAN))
    obs, _ = env.reset(seed=0)
    feat = dict(zip(PREFETCH_FEATURES, obs, strict=True))
    assert feat["file"] == 1.0 and feat["anon"] == 0.0  # file-scan faults are file reads
    mask = env.action_masks()
    assert mask[A["none"]] and mask[A["ahead-4"]]
    assert not mask[A["swap-cluster"]]  # a file page has no swap cluster
    assert not mask[A["markov"]]  # nothing learned yet
    obs, *_ = env.step(A["none"])
    feat = dict(zip(PREFETCH_FEATURES, obs, strict=True))
    assert feat["sequential"] == 1.0  # page 1 follows page 0


def test_reward_time_and_faults():
    _, rewards, info = play(PrefetchEnv(pf_small()), lambda e: A["none"])
    unit = 2_000 + 80_000
    assert sum(rewards) == pytest.approx(-info["stats"]["time_ns"] / unit, rel=0.02)
    _, rewards, info = play(PrefetchEnv(pf_small(reward="faults")), lambda e: A["none"])
    assert -sum(rewards) == info["stats"]["major_faults"] - 1  # the first fault happens before the first step


def test_same_seed_same_episode_bit_for_bit():
    for cls, cfg in ((PrefetchEnv, pf_small()), (MemoryManagerEnv, mm_small())):
        a = play(cls(cfg), masked_random(4), seed=2)
        b = play(cls(cfg), masked_random(4), seed=2)
        assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
        assert a[1] == b[1] and a[2]["stats"] == b[2]["stats"]


def test_memory_manager_alternates_decisions_with_disjoint_masks():
    env = MemoryManagerEnv(mm_small(invalid_action="raise"))
    env.reset(seed=0)
    seen = set()
    for _ in range(400):
        mask = env.action_masks()
        if env.pending == "victim":
            assert not mask[8:].any() and mask[:8].any() and env.unwrapped._obs[-1] == 0.0
            with pytest.raises(InvalidAction, match="the pending decision is a victim"):
                env.step(8)
        else:
            assert not mask[:8].any() and mask[8] and env.unwrapped._obs[-1] == 1.0
            with pytest.raises(InvalidAction, match="the pending decision is a prefetch"):
                env.step(0)
            with pytest.raises(RuntimeError, match="oracle_action"):
                env.oracle_action()
        seen.add(env.pending)
        *_, term, trunc, _ = env.step(int(np.flatnonzero(mask)[0]))
        if term or trunc:
            break
    assert seen == {"victim", "prefetch"}


def test_memory_manager_lru_and_no_prefetch_is_lru():
    """Slot 0 of LRU candidates and 'none' at every fault: LRU without prefetching, exactly."""

    def agent(env):
        return 0 if env.pending == "victim" else 8 + A["none"]

    *_, info = play(MemoryManagerEnv(mm_small(candidates="lru")), agent)
    ref = Simulator(SCAN, MachineConfig(**MACHINE), "lru").run().summary()
    assert info["stats"] == {**ref, "policy": "external"}
    assert info["lru_to_opt"] == 0.0


def test_memory_manager_fallback_penalises():
    env = MemoryManagerEnv(mm_small())  # invalid_action="fallback" is the default
    env.reset(seed=0)
    bad = 8 if env.pending == "victim" else 0
    _, r, *_ = env.step(bad)
    assert r <= -1.0


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown Prefetch config key.* k; allowed: workload"):
        PrefetchEnv(pf_small(k=4))
    with pytest.raises(ValueError, match="unknown policy 'nope'; choose one of"):
        PrefetchEnv(pf_small(policy="nope"))
    with pytest.raises(ValueError, match="reward 'baseline'; allowed: time, faults"):
        MemoryManagerEnv(mm_small(reward="baseline"))
    with pytest.raises(InvalidAction, match="action 9 is not a prefetch action"):
        env = PrefetchEnv(pf_small(invalid_action="raise"))
        env.reset(seed=0)
        env.step(9)
    with pytest.raises(ValueError, match="never needs a major fault"):
        PrefetchEnv(workload=Workload.from_pages([0, 1, 2, 3]), machine={"frames": 8}).reset()


def test_page_replacement_with_a_classic_prefetcher():
    from vmgym.envs import PageReplacementEnv, baseline_agent

    env = PageReplacementEnv(workload=SCAN, machine=MACHINE, k=8, candidates="lru", prefetch="readahead")
    *_, info = play(env, baseline_agent("lru"))
    ref = Simulator(SCAN, MachineConfig(**MACHINE), "lru", prefetch="readahead").run().summary()
    stats = info["stats"]
    assert stats["prefetch_issued"] > 0 and info["decisions"] == stats["evictions"]
    # pages read ahead together share their last-use time: the env's LRU tail breaks those ties by
    # frame index, the compiled LRU by insertion order, so the runs differ slightly
    assert abs(stats["misses"] - ref["misses"]) <= 0.02 * ref["misses"]
    with pytest.raises(ValueError, match="MemoryManager-v0"):
        PageReplacementEnv(workload=SCAN, machine=MACHINE, prefetch="external")


def test_render_shows_the_fault():
    env = PrefetchEnv(pf_small(workload=PURE_SCAN), render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert "major fault: pid 0 vpn 0 (file)" in text and "ahead-4:3" in text
    env = MemoryManagerEnv(mm_small(), render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().ndim == 3


def test_vector_envs_and_maskable_ppo():
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    for env_id, cfg in ((PF_ID, pf_small()), (MM_ID, mm_small())):
        venv = make_vec_env(
            f"vmgym.envs:{env_id}", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv, env_kwargs=cfg
        )
        venv.reset()
        masks = np.stack(venv.env_method("action_masks"))
        assert masks.shape[0] == 2 and masks.any(axis=1).all()
        venv.close()
        env = gym.make(env_id, **cfg)
        model = MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=512)


@pytest.mark.parametrize("env_id", ["vmgym/PageReplacement-v0", PF_ID, MM_ID])
def test_dict_observations_hold_the_flat_values(env_id):
    kw = pf_small() if env_id == PF_ID else mm_small()
    flat = gym.make(env_id, **kw)
    named = gym.make(env_id, observation="dict", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(named.unwrapped, skip_render_check=True)
    a, _ = flat.reset(seed=1)
    b, _ = named.reset(seed=1)
    assert named.observation_space.contains(b)
    assert np.array_equal(a, np.concatenate([b[name].ravel() for name, *_ in named.unwrapped._blocks()]))
    with pytest.raises(ValueError, match="option 'observation' changes the spaces"):
        flat.reset(options={"observation": "dict"})
    with pytest.raises(ValueError, match="observation 'image'; allowed: flat, dict"):
        gym.make(env_id, observation="image", **kw)
