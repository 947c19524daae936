"""A task's environment on today's stack: gymnasium, shimmy (dm_control), gymnasium-robotics, Box2D.

    env = make_env("FetchReach")                 # gymnasium.Env, dict observation flattened
    venv = make_vec_env("HalfCheetah", "ppo", seed=0)   # DummyVecEnv(Monitor(env)) [+ VecNormalize]

One environment per VecEnv (the paper trained with one env). Monitor sits inside VecNormalize, so
episode returns in ``info["episode"]`` are raw (unnormalised) rewards.
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
from gymnasium.wrappers import FlattenObservation
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from gradsub.tasks import VEC_NORMALIZE, Task, check_algo, get_task

__all__ = ["make_env", "make_vec_env", "uses_vec_normalize", "load_vec_normalize", "freeze"]

os.environ.setdefault("MUJOCO_GL", "disable")  # nothing renders; silences a display warning

_REGISTERED: set[str] = set()


def _register(suite: str) -> None:
    """Import the package that registers the suite's environments (once per process)."""
    if suite in _REGISTERED:
        return
    if suite == "dm_control":
        import shimmy

        gym.register_envs(shimmy)
    elif suite == "robotics":
        import contextlib
        import io

        # its import prints a notice about Adroit reward versions (not FetchReach) to stderr
        with contextlib.redirect_stderr(io.StringIO()):
            import gymnasium_robotics
        gym.register_envs(gymnasium_robotics)
    _REGISTERED.add(suite)


def make_env(task: str | Task, *, render_mode: str | None = None) -> gym.Env:
    """The task's gymnasium environment, dict observations flattened (sorted key order)."""
    task = get_task(task)
    _register(task.suite)
    env = gym.make(task.env_id, render_mode=render_mode, **dict(task.env_kwargs))
    if task.flatten:
        # MultiInputPolicy crashes on dm_control's scalar entries; a flat Box works everywhere.
        env = FlattenObservation(env)
    return env


def uses_vec_normalize(task: str | Task, algo: str) -> bool:
    """VecNormalize wherever the paper used it: PPO on the tasks its Appendix (hyperparameters) marks."""
    return check_algo(algo) == "ppo" and get_task(task).ppo.normalize


def make_vec_env(task: str | Task, algo: str, seed: int | None = None, *, normalize: bool | None = None,
                 monitor_file: str | None = None) -> VecEnv:
    """DummyVecEnv with one Monitor-wrapped env, wrapped in VecNormalize where the paper used it.

    seed: passed to ``VecEnv.seed`` (applies at the next reset) and to the action space.
    normalize: force VecNormalize on/off (default: ``uses_vec_normalize(task, algo)``); settings as
    the paper (observations and rewards, clip 10, gamma 0.99, epsilon 1e-8), in training mode.
    """
    task = get_task(task)
    algo = check_algo(algo)
    venv = DummyVecEnv([lambda: Monitor(make_env(task), filename=monitor_file)])
    if seed is not None:
        venv.seed(int(seed))
        venv.action_space.seed(int(seed))
    if normalize is None:
        normalize = uses_vec_normalize(task, algo)
    if normalize:
        venv = VecNormalize(venv, training=True, **VEC_NORMALIZE)
    return venv


def load_vec_normalize(path: str | os.PathLike, venv: VecEnv) -> VecNormalize:
    """VecNormalize statistics saved with ``VecNormalize.save`` around ``venv``."""
    return VecNormalize.load(str(Path(path)), venv)


def freeze(venv: VecEnv) -> VecEnv:
    """Stop VecNormalize from updating its statistics (analysis, evaluation). Returns ``venv``.

    Reward normalisation stays ON: the critic was trained on rewards scaled by the (now frozen)
    return statistics, so its loss at a checkpoint must use the same scale. Raw rewards remain
    available through ``get_original_reward()`` and Monitor's episode returns.
    """
    if isinstance(venv, VecNormalize):
        venv.training = False
    return venv
