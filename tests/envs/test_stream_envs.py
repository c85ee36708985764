"""The envs on a streamed workload: every observation, reward and info as on the whole workload."""

import gymnasium as gym
import numpy as np
import pytest

import vmgym  # noqa: F401 - registers the env ids
from vmgym.streaming import feed as feed_module
from workloads import generators, streamgen
from workloads.generators import file_scan
from workloads.stream import from_workload

ZIPF = {"n_pages": 200, "length": 2_500, "alpha": 0.8, "write_ratio": 0.3, "seed": 4}
SCAN = file_scan(file_pages=300, passes=2, random_ratio=0.2, seed=3)


def _episode(env_id, workload, seed=0, **kw):
    """Observations, rewards, flags and infos of one episode under a seeded masked-random agent."""
    env = gym.make(env_id, workload=workload, **kw)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(obs, info)]
    while True:
        action = int(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
        obs, reward, term, trunc, info = env.step(action)
        out.append((obs, reward, term, trunc, info))
        if term or trunc:
            return out


def _assert_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            elif isinstance(u, dict) and isinstance(next(iter(u.values()), None), np.ndarray):
                assert u.keys() == v.keys()
                for key in u:
                    np.testing.assert_array_equal(u[key], v[key])
            else:
                assert u == v


@pytest.mark.parametrize("chunk", [7, 1_000])
@pytest.mark.parametrize(
    "options",
    [{}, {"reward": "baseline", "candidates": "clock"}, {"reward": "faults", "observation": "dict"}],
)
def test_page_replacement_on_a_stream(monkeypatch, chunk, options):
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", chunk)  # chunk ends fall between decisions
    kw = {"machine": {"frames": 40, "tlb_entries": 0}, **options}
    whole = _episode("vmgym/PageReplacement-v0", generators.zipf(**ZIPF), **kw)
    streamed = _episode("vmgym/PageReplacement-v0", streamgen.zipf(**ZIPF), **kw)
    _assert_equal(whole, streamed)
    assert len(whole) > 100 and "lru_to_opt" in whole[-1][-1]


@pytest.mark.parametrize("env_id", ["vmgym/Prefetch-v0", "vmgym/MemoryManager-v0"])
def test_prefetch_envs_on_a_stream(monkeypatch, env_id):
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", 13)
    kw = {"machine": {"frames": 64, "tlb_entries": 0}}
    _assert_equal(_episode(env_id, SCAN, **kw), _episode(env_id, from_workload(SCAN), **kw))


def test_a_stream_env_resets_to_the_same_episode(monkeypatch):
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", 100)
    env_kw = {"machine": {"frames": 40, "tlb_entries": 0}, "max_steps": 30}
    stream = streamgen.zipf(**ZIPF)
    _assert_equal(
        _episode("vmgym/PageReplacement-v0", stream, seed=3, **env_kw),
        _episode("vmgym/PageReplacement-v0", stream, seed=3, **env_kw),
    )


def test_page_replacement_on_a_stream_of_several_processes(monkeypatch):
    """Three processes sharing shm, scheduled by quantum, streamed in chunks of 7: the whole episode."""
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", 7)
    w = generators.multiprocess_shm(3, 150, 60, 1_500, shared_fraction=0.3, write_ratio=0.2, seed=1)
    kw = {"machine": {"frames": 48, "tlb_entries": 0, "quantum": 50}, "max_steps": 400}
    whole = _episode("vmgym/PageReplacement-v0", w, **kw)
    _assert_equal(whole, _episode("vmgym/PageReplacement-v0", from_workload(w), **kw))
    assert len(whole) > 100


@pytest.mark.parametrize("env_id", ["vmgym/PageReplacement-v0", "vmgym/MemoryManager-v0"])
def test_the_envs_on_a_stream_with_events(monkeypatch, env_id):
    """stack-heap's mmap/munmap ride in chunks of 7 (events fall at chunk ends): the whole episode."""
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", 7)
    spec = {
        "steps": 30,
        "refs_per_step": 80,
        "chunk_pages": 4,
        "max_chunks": 6,
        "write_ratio": 0.3,
        "seed": 2,
    }
    kw = {"machine": {"frames": 20, "tlb_entries": 0}, "max_steps": 300}
    whole = _episode(env_id, generators.stack_heap(**spec), **kw)
    _assert_equal(whole, _episode(env_id, streamgen.stack_heap(**spec), **kw))
    assert len(whole) > 50


@pytest.mark.parametrize("env_id", ["vmgym/PageReplacement-v0", "vmgym/MemoryManager-v0"])
def test_the_envs_on_a_stream_that_forks(monkeypatch, env_id):
    """fork-server's workers inherit the heap copy-on-write, streamed in chunks of 7: the whole episode."""
    monkeypatch.setattr(feed_module, "DEFAULT_CHUNK", 7)
    spec = {"workers": 2, "pages": 80, "length_per_proc": 400, "write_ratio": 0.4, "seed": 3}
    kw = {"machine": {"frames": 40, "tlb_entries": 0, "quantum": 30}, "max_steps": 300}
    whole = _episode(env_id, generators.fork_server(**spec), **kw)
    _assert_equal(whole, _episode(env_id, streamgen.fork_server(**spec), **kw))
    assert len(whole) > 50
