"""Train, checkpoint, resume and load stable-baselines3 PPO and SAC agents for the registry's tasks.

    paths = train("HalfCheetah", "ppo", "cpu", seed=0, run_dir="artifacts/run")   # resumes if interrupted
    ckpt = load_checkpoint("artifacts/run", step=50_000)                          # frozen, for analysis
    names = network_parameter_names(ckpt.model)   # {"actor": (...), "critic": (...)}
    losses = network_losses(ckpt.model)           # {"actor": NetworkLoss, "critic": NetworkLoss}

On-disk layout of a run directory::

    run.json                          task, algo, seed, resolved hyperparameters (checked on resume)
    checkpoints/step000050000/        one folder per checkpoint, made complete before it appears
        model.zip                     SB3 ``model.save`` (parameters, optimiser states, log_ent_coef)
        vecnormalize.pkl              VecNormalize statistics (PPO tasks that normalise)
        replay.npz                    SAC: replay transitions stored since the previous checkpoint
        curves.json                   training episodes [step, return] and evaluations [step, mean, std]
        meta.json                     step, replay stream position, training wall time (this session and
                                      all sessions so far), time stamp

A checkpoint is written into a hidden temporary folder and renamed into place (``os.replace``), so a
killed run never leaves a half-written checkpoint; a rerun resumes from the last complete one.

The SAC replay buffer is saved incrementally: each checkpoint keeps only the transitions added since
the previous one, and the buffer at a checkpoint is rebuilt from the stream of segments up to it (the
last ``buffer_size`` transitions), exactly as SB3's ring buffer would hold them. SB3 stores a step's
transition after the step's callbacks, so the buffer of the checkpoint at step s holds s - 1 transitions
(one less per resume before it: the transition in flight when a run stopped is not kept). The
ring's capacity is min(buffer_size, total_steps): a run that never fills the paper's 10^6 buffer
behaves identically with less memory; BipedalWalker's 300k buffer does wrap in the paper profile.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization
from tqdm.auto import tqdm

from gradsub import NETWORKS, envs
from gradsub.profiles import Profile, get_profile
from gradsub.tasks import PPOConfig, SACConfig, Task, algo_config, check_algo, get_task

__all__ = [
    "Checkpoint",
    "build_model",
    "resolve_config",
    "train",
    "load_checkpoint",
    "checkpoint_steps",
    "learning_curve",
    "network_parameter_names",
    "network_losses",
    "entropy_coefficient",
]

_ALGOS = {"ppo": PPO, "sac": SAC}
_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
_CKPT = re.compile(r"^step(\d{9})$")
# Entries of run.json that must agree when a run is resumed.
_IDENTITY = ("task", "algo", "seed", "config", "normalize")


# --- building -------------------------------------------------------------------------------------


def resolve_config(task: str | Task, algo: str, profile: Profile | None = None,
                   **overrides) -> PPOConfig | SACConfig:
    """The registry's hyperparameters, then the profile's ``algo_overrides``, then ``overrides``."""
    config = algo_config(task, algo)
    changes = dict(profile.algo_overrides) if profile is not None else {}
    changes.update(overrides)
    valid = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(changes) - valid)
    if unknown:
        raise ValueError(f"unknown {algo} hyperparameter(s) {unknown}; valid: {', '.join(sorted(valid))}")
    return dataclasses.replace(config, **changes)


def build_model(task: str | Task, algo: str, config: PPOConfig | SACConfig, env: VecEnv, seed: int,
                *, buffer_size: int | None = None) -> BaseAlgorithm:
    """A fresh SB3 PPO or SAC model for ``config`` on ``env`` (cpu, MlpPolicy, verbose 0).

    buffer_size: SAC replay capacity (default: the config's); a capacity of at least the run's steps
    never drops a transition, so it behaves as the paper's 10^6 buffer while allocating less.
    """
    algo = check_algo(algo)
    activation = _ACTIVATIONS[config.activation]
    if algo == "ppo":
        assert isinstance(config, PPOConfig)
        arch = list(config.net_arch)
        return PPO(
            "MlpPolicy", env, learning_rate=config.learning_rate, n_steps=config.n_steps,
            batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
            gae_lambda=config.gae_lambda, clip_range=config.clip_range, clip_range_vf=None,
            normalize_advantage=True, ent_coef=config.ent_coef, vf_coef=config.vf_coef,
            max_grad_norm=config.max_grad_norm, use_sde=config.use_sde, sde_sample_freq=config.sde_sample_freq,
            policy_kwargs=dict(net_arch=dict(pi=arch, vf=arch), activation_fn=activation,
                               ortho_init=config.ortho_init, log_std_init=config.log_std_init),
            seed=seed, device="cpu", verbose=0)
    assert isinstance(config, SACConfig)
    return SAC(
        "MlpPolicy", env, learning_rate=config.learning_rate,
        buffer_size=int(buffer_size or config.buffer_size), learning_starts=config.learning_starts,
        batch_size=config.batch_size, tau=config.tau, gamma=config.gamma, train_freq=config.train_freq,
        gradient_steps=config.gradient_steps, ent_coef="auto", target_entropy="auto",
        use_sde=config.use_sde,
        policy_kwargs=dict(net_arch=list(config.net_arch), activation_fn=activation,
                           log_std_init=config.log_std_init),
        seed=seed, device="cpu", verbose=0)


def _replay_capacity(config: SACConfig, total_steps: int) -> int:
    return int(min(config.buffer_size, max(total_steps, 1)))


# --- checkpoints on disk --------------------------------------------------------------------------


def _ckpt_root(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _ckpt_dir(run_dir: Path, step: int) -> Path:
    return _ckpt_root(run_dir) / f"step{int(step):09d}"


def checkpoint_steps(run_dir: str | os.PathLike) -> list[int]:
    """Steps of the complete checkpoints in ``run_dir``, ascending."""
    root = _ckpt_root(Path(run_dir))
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := _CKPT.match(p.name)) and p.is_dir())


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _write_json(tmp, data)
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def _replay_segment(buffer: ReplayBuffer, start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows of the transition stream [start, stop) still in the ring buffer (env 0)."""
    start = max(start, stop - buffer.buffer_size)
    idx = np.arange(start, stop) % buffer.buffer_size
    return {"observations": buffer.observations[idx, 0], "next_observations": buffer.next_observations[idx, 0],
            "actions": buffer.actions[idx, 0], "rewards": buffer.rewards[idx, 0], "dones": buffer.dones[idx, 0],
            "timeouts": buffer.timeouts[idx, 0], "start": np.array(start), "stop": np.array(stop),
            "capacity": np.array(buffer.buffer_size)}


def _load_replay(run_dir: Path, step: int, model: SAC, capacity: int) -> tuple[ReplayBuffer, int]:
    """The replay buffer at checkpoint ``step`` rebuilt from the segments; returns (buffer, stream length)."""
    buffer = ReplayBuffer(capacity, model.observation_space, model.action_space, device="cpu", n_envs=1,
                          handle_timeout_termination=True)
    total = 0
    covered_from = 0  # the stream is known from here to `total`
    for s in checkpoint_steps(run_dir):
        if s > step:
            break
        with np.load(_ckpt_dir(run_dir, s) / "replay.npz") as seg:
            start, stop = int(seg["start"]), int(seg["stop"])
            if start > total:  # rows overwritten in the ring buffer before this checkpoint
                if stop - start < int(seg["capacity"]):
                    raise ValueError(f"{run_dir}: replay segment of step {s} starts at {start}, after the "
                                     f"{total} transitions before it: the stream has a gap")
                covered_from = start
            keep = np.arange(max(start, stop - capacity), stop)
            rows = keep - start
            idx = keep % capacity
            for key in ("observations", "next_observations", "actions"):
                getattr(buffer, key)[idx, 0] = seg[key][rows]
            for key in ("rewards", "dones", "timeouts"):
                getattr(buffer, key)[idx, 0] = seg[key][rows]
            total = stop
    if covered_from > max(total - capacity, 0):
        raise ValueError(f"{run_dir}: a replay buffer of {capacity} transitions at step {step} needs stream rows "
                         f"from {max(total - capacity, 0)}, but only rows from {covered_from} were kept")
    buffer.pos = total % capacity
    buffer.full = total >= capacity
    return buffer, total


def _save_checkpoint(run_dir: Path, model: BaseAlgorithm, env: VecEnv, step: int, curves: dict,
                     replay_span: tuple[int, int] | None, started: float, seconds_before: float) -> Path:
    final = _ckpt_dir(run_dir, step)
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save(tmp / "model.zip")
    if isinstance(env, VecNormalize):
        env.save(str(tmp / "vecnormalize.pkl"))
    session = time.perf_counter() - started
    meta = {"step": int(step), "num_timesteps": int(model.num_timesteps),
            "wall_seconds_this_session": round(session, 3),
            "train_seconds": round(seconds_before + session, 3),
            "saved_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if replay_span is not None:
        assert isinstance(model, SAC)
        buffer = model.replay_buffer
        start, stop = replay_span
        if not buffer.full and buffer.pos != stop % buffer.buffer_size:
            raise RuntimeError(f"replay bookkeeping out of step: buffer pos {buffer.pos}, stream {stop}")
        np.savez(tmp / "replay.npz", **_replay_segment(buffer, start, stop))
        meta.update(replay_start=start, replay_stop=stop, replay_capacity=buffer.buffer_size)
    _write_json(tmp / "curves.json", curves)
    _write_json(tmp / "meta.json", meta)
    if final.exists():  # a checkpoint is never rewritten: an equal step means the same history
        shutil.rmtree(tmp)
        return final
    os.replace(tmp, final)
    return final


# --- training -------------------------------------------------------------------------------------


class _TrainingCallback(BaseCallback):
    """Checkpoints, records Monitor episode returns, evaluates periodically, shows progress.

    A checkpoint for schedule step c is saved at the first rollout start with ``num_timesteps >= c``
    (SB3's rollout buffer is empty and the last update is done there; the exact step is in meta.json),
    and the final one when training ends. Right after each checkpoint but the final one, every random
    stream is reseeded from (seed, c) and a new episode starts (``_restart``). A run resumed from that
    checkpoint does the same, so an interrupted and resumed run is bit-identical to an uninterrupted one.
    """

    def __init__(self, run_dir: Path, schedule: tuple[int, ...], eval_every: int, n_eval_episodes: int,
                 eval_env: VecEnv, eval_seed: int, curves: dict, replay_stop: int, progress: bool | None,
                 seed: int, resumed_at: int | None, seconds_before: float):
        super().__init__()
        self.run_dir = run_dir
        self.total = schedule[-1]
        self.pending = [s for s in schedule[:-1] if resumed_at is None or s > resumed_at]
        self.restart_at = resumed_at  # a resumed run restarts at its first rollout start
        self.eval_every = eval_every
        self.n_eval_episodes = n_eval_episodes
        self.eval_env = eval_env
        self.eval_seed = eval_seed
        self.seed = seed
        self.curves = curves
        self.replay_start = replay_stop  # stream position at the last checkpoint
        self.replay_session_base = replay_stop  # stream position when this session started
        self.n_calls_here = 0
        self.saved: list[Path] = []
        self.started = time.perf_counter()
        self.seconds_before = seconds_before  # training time of the sessions before this one
        self.progress = progress
        self.description = "train"
        self.bar = None

    def _on_training_start(self) -> None:
        # progress None: a bar only on a terminal (tqdm's disable=None)
        disable = None if self.progress is None else not self.progress
        self.bar = tqdm(total=self.total, initial=self.num_timesteps, unit="step", disable=disable,
                        desc=self.description, dynamic_ncols=True)
        if self.num_timesteps == 0 and self.restart_at is None:
            self._evaluate(0)

    def _on_rollout_start(self) -> None:
        while self.pending and self.num_timesteps >= self.pending[0]:
            self.restart_at = self.pending.pop(0)
            self._checkpoint(self.restart_at)
        if self.restart_at is not None:
            _restart(self.model, self.seed, self.restart_at)
            self.restart_at = None

    def _replay_stop(self) -> int:
        # at a rollout start every step of this session has stored its transition
        return self.replay_session_base + self.n_calls_here

    def _on_step(self) -> bool:
        self.n_calls_here += 1
        step = self.num_timesteps
        if self.bar is not None:
            self.bar.update(1)
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is not None:
                self.curves["train"].append([int(step), float(episode["r"])])
        if step % self.eval_every == 0 or step == self.total:
            self._evaluate(step)
        return True

    def _evaluate(self, step: int) -> None:
        if isinstance(self.training_env, VecNormalize):
            sync_envs_normalization(self.training_env, self.eval_env)
        self.eval_env.seed(self.eval_seed)  # the same start states at every evaluation
        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes,
                                    deterministic=True, warn=False)
        self.curves["eval"].append([int(step), float(mean), float(std)])

    def _checkpoint(self, step: int) -> None:
        span = None
        if isinstance(self.model, SAC):
            stop = self._replay_stop()
            span = (self.replay_start, stop)
            self.replay_start = stop
        self.saved.append(_save_checkpoint(self.run_dir, self.model, self.training_env, step, self.curves,
                                           span, self.started, self.seconds_before))

    def _on_training_end(self) -> None:
        if self.num_timesteps >= self.total:
            self._checkpoint(self.total)
        if self.bar is not None:
            self.bar.close()


def _restart(model: BaseAlgorithm, seed: int, step: int) -> None:
    """Reseed every random stream from (seed, step) and start a new episode."""
    model.set_random_seed(_resume_seed(seed, step))  # python, numpy, torch, action space, env seeds
    env = model.get_env()
    model._last_obs = env.reset()
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
    if isinstance(env, VecNormalize):
        model._last_original_obs = env.get_original_obs()
    if model.use_sde:
        noise_owner = model.actor if isinstance(model, SAC) else model.policy
        noise_owner.reset_noise(env.num_envs)


def _run_identity(task: Task, algo: str, seed: int, config, normalize: bool) -> dict:
    """What makes a run's checkpoints: task, algorithm, seed, hyperparameters, normalisation (the
    config's ``source``, where its values come from, is prose and changes no number)."""
    values = {k: v for k, v in dataclasses.asdict(config).items() if k != "source"}
    return {"task": task.name, "algo": algo, "seed": int(seed),
            "config": json.loads(json.dumps(values, default=str)), "normalize": normalize}


def _check_run_file(run_dir: Path, identity: dict) -> None:
    path = run_dir / "run.json"
    if path.exists():
        stored = _read_json(path)
        stored["config"] = {k: v for k, v in stored.get("config", {}).items() if k != "source"}
        diff = [key for key in _IDENTITY if stored.get(key) != identity[key]]
        if diff:
            raise ValueError(f"{run_dir} holds a different run ({', '.join(diff)} differ): use another "
                             f"run_dir or delete it. Stored: {({k: stored.get(k) for k in diff})}")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        _atomic_json(path, identity)


def _resume_seed(seed: int, step: int) -> int:
    """Seed of the random streams of a run resumed at ``step``: fixed by (seed, step)."""
    return int(np.random.SeedSequence([int(seed), int(step), 7]).generate_state(1)[0] % (2**31 - 1))


def train(task: str | Task, algo: str, profile: str | Profile, seed: int, run_dir: str | os.PathLike,
          progress: bool | None = False, *, threads: int | None = 1, **overrides) -> list[Path]:
    """Train ``algo`` on ``task`` at ``profile``'s scale, checkpointing at ``profile.checkpoint_steps``.

    Resumes from the last complete checkpoint in ``run_dir`` (model, optimiser, VecNormalize
    statistics, SAC replay buffer, curves) with ``reset_num_timesteps=False``; returns immediately if
    the final checkpoint exists. Deterministic given ``seed``, and a resumed run is bit-identical to an
    uninterrupted one: both reseed every random stream from (seed, step) and start a new episode right
    after each checkpoint (see ``_TrainingCallback``).

    progress: show a tqdm bar (None: only on a terminal). profile: a profile name or a resolved
    ``Profile``. overrides: hyperparameters (fields of
    ``PPOConfig``/``SACConfig``) replaced for this run. threads: torch threads while training
    (default 1: two one-thread jobs side by side beat one two-thread job; None leaves torch's setting).
    Returns the paths of the checkpoints at ``profile.checkpoint_steps``.
    """
    task = get_task(task)
    algo = check_algo(algo)
    profile = get_profile(task, algo, profile)
    config = resolve_config(task, algo, profile, **overrides)
    if algo == "ppo" and config.batch_size > config.n_steps:
        raise ValueError(f"batch_size {config.batch_size} exceeds n_steps {config.n_steps}")
    run_dir = Path(run_dir)
    normalize = envs.uses_vec_normalize(task, algo)
    _check_run_file(run_dir, _run_identity(task, algo, seed, config, normalize))
    root = _ckpt_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)

    schedule = profile.checkpoint_steps
    existing = checkpoint_steps(run_dir)
    paths = [_ckpt_dir(run_dir, s) for s in schedule]
    if all(p.exists() for p in paths):
        return paths
    start = max(existing, default=None)
    missed = [s for s in schedule if start is not None and s <= start and s not in existing]
    if missed:
        raise ValueError(f"{run_dir} was trained to step {start} without checkpoints at {missed}, which "
                         f"this profile asks for: use a new run_dir")

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    env = eval_env = None
    try:
        env = envs.make_vec_env(task, algo, seed=seed)
        if start is None:
            set_random_seed(seed)
            capacity = _replay_capacity(config, profile.total_steps) if algo == "sac" else None
            model = build_model(task, algo, config, env, seed, buffer_size=capacity)
            curves = {"train": [], "eval": []}
            replay_stop = 0
        else:
            model, env, curves, replay_stop = _resume(run_dir, start, algo, config, profile, env)
        eval_env = envs.make_vec_env(task, algo, normalize=False)
        if isinstance(env, VecNormalize):
            eval_env = VecNormalize(eval_env, training=False, norm_reward=False,
                                    **{k: v for k, v in envs.VEC_NORMALIZE.items()
                                       if k not in ("norm_reward",)})
        callback = _TrainingCallback(run_dir, schedule, profile.eval_every, profile.n_eval_episodes,
                                     eval_env, eval_seed=int(seed) + 10_000, curves=curves,
                                     replay_stop=replay_stop, progress=progress, seed=int(seed),
                                     resumed_at=start,
                                     seconds_before=0.0 if start is None else train_seconds(run_dir, start))
        callback.description = f"train {task.name} {algo} seed {seed}"
        remaining = profile.total_steps - model.num_timesteps
        model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=start is None)
    finally:
        torch.set_num_threads(previous_threads)
        for venv in (env, eval_env):
            if venv is not None:
                venv.close()
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise RuntimeError(f"training ended without checkpoints {[p.name for p in missing]}")
    return paths


def _resume(run_dir: Path, step: int, algo: str, config, profile: Profile, env: VecEnv):
    folder = _ckpt_dir(run_dir, step)
    if isinstance(env, VecNormalize):
        env = envs.load_vec_normalize(folder / "vecnormalize.pkl", env.venv)
        env.training = True
    model = _ALGOS[algo].load(folder / "model.zip", env=env, device="cpu")
    replay_stop = 0
    if algo == "sac":
        capacity = _replay_capacity(config, profile.total_steps)
        model.replay_buffer, replay_stop = _load_replay(run_dir, step, model, capacity)
        model.buffer_size = capacity
    # The callback restarts the episode (and reseeds) at the first rollout start, as the
    # uninterrupted run did right after saving this checkpoint. A non-None _last_obs keeps SB3's
    # learn() from resetting the env first (a VecNormalize reset would update the statistics).
    model._last_obs = np.zeros((env.num_envs, *env.observation_space.shape), dtype=np.float32)
    curves = _read_json(folder / "curves.json")
    return model, env, curves, replay_stop


# --- loading for analysis -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A trained agent at one checkpoint, ready for analysis.

    model: the SB3 model (cpu). vec_env: its env with VecNormalize statistics frozen
    (training=False) and reward normalisation kept, so rewards have the scale the critic was trained
    on; Monitor inside gives raw returns. replay_buffer: SAC's buffer at the checkpoint (None for PPO);
    ``replay_size`` transitions, stream positions ``[replay_stream - replay_size, replay_stream)``.
    config: the run's resolved hyperparameters.
    """

    model: BaseAlgorithm
    vec_env: VecEnv
    step: int
    task: Task
    algo: str
    seed: int
    config: PPOConfig | SACConfig
    run_dir: Path
    replay_buffer: ReplayBuffer | None = None
    replay_size: int = 0
    replay_stream: int = 0


def _config_from(algo: str, values: Mapping) -> PPOConfig | SACConfig:
    cls = PPOConfig if algo == "ppo" else SACConfig
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    return cls(**kwargs)


def load_checkpoint(run_dir: str | os.PathLike, step: int | None = None) -> Checkpoint:
    """The checkpoint of ``run_dir`` at ``step`` (None: the last), frozen for analysis."""
    run_dir = Path(run_dir)
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise ValueError(f"{run_dir} has no checkpoints")
    step = steps[-1] if step is None else int(step)
    if step not in steps:
        raise ValueError(f"{run_dir} has no checkpoint at step {step}; it has {steps}")
    identity = _read_json(run_dir / "run.json")
    task = get_task(identity["task"])
    algo = identity["algo"]
    config = _config_from(algo, identity["config"])
    folder = _ckpt_dir(run_dir, step)
    env = envs.make_vec_env(task, algo, normalize=False)
    if identity["normalize"]:
        env = envs.load_vec_normalize(folder / "vecnormalize.pkl", env)
    envs.freeze(env)
    model = _ALGOS[algo].load(folder / "model.zip", env=env, device="cpu")
    model.policy.set_training_mode(False)
    buffer, size, stream = None, 0, 0
    if algo == "sac":
        meta = _read_json(folder / "meta.json")
        buffer, stream = _load_replay(run_dir, step, model, int(meta["replay_capacity"]))
        model.replay_buffer = buffer
        size = buffer.buffer_size if buffer.full else buffer.pos
    return Checkpoint(model=model, vec_env=env, step=step, task=task, algo=algo, seed=int(identity["seed"]),
                      config=config, run_dir=run_dir, replay_buffer=buffer, replay_size=size,
                      replay_stream=stream)


def train_seconds(run_dir: str | os.PathLike, step: int | None = None) -> float:
    """Training wall time up to the checkpoint at ``step`` (default: the last), over every session
    that trained the run (a resumed run adds its time to that of the sessions before it)."""
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise ValueError(f"{run_dir} has no checkpoints")
    path = _ckpt_dir(Path(run_dir), steps[-1] if step is None else int(step)) / "meta.json"
    meta = _read_json(path)
    if "train_seconds" not in meta:
        raise ValueError(f"{path} has no train_seconds (an older checkpoint format): its training time "
                         f"is unknown; train into a new run_dir")
    return float(meta["train_seconds"])


def learning_curve(run_dir: str | os.PathLike) -> pd.DataFrame:
    """Training-episode returns and evaluation means up to the last checkpoint.

    Columns: kind ("train": a training episode's undiscounted raw return at the step it ended;
    "eval": mean return of ``n_eval_episodes`` deterministic episodes), step, episode_return.
    """
    steps = checkpoint_steps(run_dir)
    rows: list[dict] = []
    if steps:
        curves = _read_json(_ckpt_dir(Path(run_dir), steps[-1]) / "curves.json")
        rows += [{"kind": "train", "step": s, "episode_return": r} for s, r in curves["train"]]
        rows += [{"kind": "eval", "step": s, "episode_return": m} for s, m, _ in curves["eval"]]
    return pd.DataFrame(rows, columns=["kind", "step", "episode_return"])


# --- actor/critic split and losses ---------------------------------------------------------------

_PPO_PREFIXES = {
    "actor": ("mlp_extractor.policy_net.", "action_net.", "log_std", "pi_features_extractor."),
    "critic": ("mlp_extractor.value_net.", "value_net.", "vf_features_extractor."),
}
_SAC_PREFIXES = {"actor": ("actor.",), "critic": ("critic.",)}
_SAC_EXCLUDED = ("critic_target.",)


def network_parameter_names(model: BaseAlgorithm) -> dict[str, tuple[str, ...]]:
    """Names (relative to ``model.policy``) of the actor's and the critic's trainable parameters.

    Every trainable parameter of the policy belongs to exactly one network, in
    ``policy.named_parameters()`` order. SAC: the critic is both Q-nets; the target Q-nets and the
    entropy coefficient (not a policy parameter) are excluded. A parameter shared by both networks
    (a trainable shared features extractor) raises ValueError.
    """
    if isinstance(model, PPO):
        prefixes, excluded = _PPO_PREFIXES, ()
    elif isinstance(model, SAC):
        prefixes, excluded = _SAC_PREFIXES, _SAC_EXCLUDED
    else:
        raise TypeError(f"expected a PPO or SAC model, got {type(model).__name__}")
    names: dict[str, list[str]] = {net: [] for net in NETWORKS}
    for name, param in model.policy.named_parameters():
        if not param.requires_grad or name.startswith(excluded):
            continue
        owners = [net for net in NETWORKS if name.startswith(prefixes[net])]
        if len(owners) != 1:
            raise ValueError(f"parameter {name!r} belongs to {owners or 'neither network'}: cannot split "
                             "actor and critic (a trainable shared features extractor is not supported)")
        names[owners[0]].append(name)
    return {net: tuple(v) for net, v in names.items()}


def entropy_coefficient(model: SAC) -> float:
    """SAC's alpha = exp(log_ent_coef) (or the fixed coefficient), as a float constant."""
    if getattr(model, "log_ent_coef", None) is not None:
        return float(torch.exp(model.log_ent_coef.detach()).item())
    return float(model.ent_coef_tensor.item())


def network_losses(model: BaseAlgorithm, *, sac_grad_through_q: bool = True) -> dict[str, Any]:
    """The actor's and the critic's losses at the model's parameters (``gradsub.losses.NetworkLoss``).

    PPO: clip range and entropy/value coefficients from the model. SAC: alpha = exp(log_ent_coef)
    as a constant; ``sac_grad_through_q=False`` gives the actor loss of an earlier version of the
    authors' code (min Q without gradient; see ``gradsub.losses.sac_actor_loss``).
    """
    from gradsub import losses

    names = network_parameter_names(model)
    if isinstance(model, PPO):
        clip = float(model.clip_range(model._current_progress_remaining))
        return {"actor": losses.ppo_actor_loss(model.policy, names["actor"], clip_range=clip,
                                               ent_coef=float(model.ent_coef)),
                "critic": losses.ppo_critic_loss(model.policy, names["critic"], vf_coef=float(model.vf_coef))}
    alpha = entropy_coefficient(model)
    return {"actor": losses.sac_actor_loss(model.policy, names["actor"], alpha=alpha,
                                           grad_through_q=sac_grad_through_q),
            "critic": losses.sac_critic_loss(model.policy, names["critic"])}
