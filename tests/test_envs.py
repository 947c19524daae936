"""Every task's environment creates, resets and steps; VecNormalize where the paper used it."""

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from gradsub import envs, tasks


@pytest.mark.parametrize("name", list(tasks.TASKS))
def test_every_task_creates_resets_and_steps(name):
    task = tasks.get_task(name)
    env = envs.make_env(task)
    try:
        assert env.observation_space.shape == (task.obs_dim,)
        assert env.action_space.shape == (task.act_dim,)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (task.obs_dim,) and np.all(np.isfinite(obs))
        env.action_space.seed(0)
        for _ in range(5):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            assert obs.shape == (task.obs_dim,) and np.isfinite(reward)
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()


@pytest.mark.parametrize("name", ["Pendulum", "Reacher", "FetchReach"])
def test_episode_limits_end_in_truncation(name):
    task = tasks.get_task(name)
    env = envs.make_env(task)
    env.reset(seed=1)
    env.action_space.seed(1)
    for step in range(1, task.max_episode_steps + 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    env.close()
    assert truncated and not terminated and step == task.max_episode_steps


def test_vec_env_normalises_only_where_the_paper_did():
    venv = envs.make_vec_env("HalfCheetah", "ppo", seed=0)
    assert isinstance(venv, VecNormalize) and venv.training and venv.norm_obs and venv.norm_reward
    assert (venv.clip_obs, venv.clip_reward, venv.gamma, venv.epsilon) == (10.0, 10.0, 0.99, 1e-8)
    assert isinstance(envs.make_vec_env("HalfCheetah", "sac", seed=0), DummyVecEnv)
    assert isinstance(envs.make_vec_env("Swimmer", "ppo", seed=0), DummyVecEnv)
    assert envs.make_vec_env("Pendulum", "ppo").num_envs == 1


def test_seeded_vec_envs_repeat_and_freeze_keeps_reward_scaling():
    first = envs.make_vec_env("Reacher", "ppo", seed=3)
    second = envs.make_vec_env("Reacher", "ppo", seed=3)
    np.testing.assert_array_equal(first.reset(), second.reset())
    for _ in range(3):
        action = np.zeros((1, 2), dtype=np.float32)
        np.testing.assert_array_equal(first.step(action)[0], second.step(action)[0])
    frozen = envs.freeze(first)
    mean = frozen.obs_rms.mean.copy()
    frozen.step(np.zeros((1, 2), dtype=np.float32))
    assert not frozen.training and frozen.norm_reward
    np.testing.assert_array_equal(frozen.obs_rms.mean, mean)
