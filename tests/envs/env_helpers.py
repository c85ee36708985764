"""Shared by the env tests: play one episode."""


def play(env, agent, seed=0):
    """Run one episode with ``agent(env.unwrapped) -> action``; return (observations, rewards, final info)."""
    obs, _ = env.reset(seed=seed)
    seen, rewards = [obs], []
    while True:
        obs, r, term, trunc, info = env.step(agent(env.unwrapped))
        seen.append(obs)
        rewards.append(r)
        if term or trunc:
            return seen, rewards, info
