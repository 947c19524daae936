"""The data a checkpoint is analysed on (the paper, Section 4), with every random quantity drawn once.

    data = analysis_data(checkpoint, profile, seed=123)
    data.precise["actor"], data.minibatches["critic"][0], data.minibatch_hessian["actor"]

A ``Batch`` is a dict of float32 tensors with the sample dimension first (N rows); its keys are
those of ``gradsub.losses``:

- PPO (actor and critic share one batch): observations [N, obs], actions [N, act] (the sampled,
  unclipped actions), old_log_prob [N] (log-probability of the actions under the checkpoint's
  policy, so the ratio is 1), advantages [N] (GAE, already normalised as the variant requires),
  returns [N] (advantages + values: the critic's targets, as in SB3).
- SAC critic: observations, actions [N, act] (scaled to [-1, 1] as stored in the buffer),
  target_q [N] (y of ``losses.sac_critic_targets`` with fixed noise: a constant).
- SAC actor: observations [N, obs], noise [N, act] (standard normal for the reparameterised action).

PPO: the precise sample is N fresh on-policy steps from the checkpoint's stochastic policy, in
rollouts of the agent's ``n_steps`` collected by SB3's own ``collect_rollouts`` (so truncated
episodes are bootstrapped with V(terminal observation) and GAE stops at the rollout end with the
last value, exactly as in training), VecNormalize frozen with the rewards scaled as in training;
advantages normalised once over all N. The mini-batch data is one more fresh rollout of ``n_steps``,
split by a random permutation into mini-batches of ``batch_size`` with advantages normalised per
mini-batch (as ``PPO.train``); the mini-batch-Hessian batch is all of them together, each row keeping
its mini-batch normalisation, so its loss is exactly the mean of the mini-batch losses.
GAE uses the agent's gamma and lambda (the authors' mini-batch buffer used 0.99 and 1.0: pass
``minibatch_gamma=0.99, minibatch_gae_lambda=1.0`` to reproduce that quirk).

SAC: the precise sample is every transition in the replay buffer (a uniform subsample without
replacement of ``profile.n_precise`` rows if it holds more); at an empty buffer (step 0),
``profile.n_random`` random-action transitions (uniform actions, as SAC's warm-up) instead.
Mini-batches: ``profile.sac_minibatch_samples // batch_size`` mini-batches of ``batch_size`` rows drawn
uniformly with replacement (as ``ReplayBuffer.sample``) from the same rows; the mini-batch-Hessian
batch is all of them together.

Step 0 of a PPO run with VecNormalize: the statistics saved there hold a single observation, so
frozen they would clip about half of the observation entries to +-10. By default they are warmed
over one rollout of the initial policy (as training's first rollout does) and frozen there for the
step-0 analysis; ``warm_step0_normalization=False`` keeps the saved ones. ``info["vecnormalize"]``
records which.

The independent precise sample (``AnalysisData.independent``) gives the cross-fitted gradient: with the
gradient of the Hessian's own rows, S_frac is biased upwards where N is not much larger than the
parameter count. PPO: a second fresh rollout of N steps; SAC: N replay rows disjoint from the precise
ones, with their own noise (none when the buffer holds fewer than 2N rows).

Everything random comes from ``seed`` through independent streams (``numpy.random.SeedSequence``):
the same checkpoint and seed give identical batches.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.vec_env import VecNormalize

from gradsub import NETWORKS
from gradsub.agents import Checkpoint, entropy_coefficient
from gradsub.profiles import SAC_MINIBATCH_SAMPLES, Profile

__all__ = ["Batch", "AnalysisData", "RowPool", "analysis_data", "precise_batch", "minibatches", "concat_batches",
           "row_pool"]

Batch = dict[str, torch.Tensor]
PAPER_SAC_RANDOM_TRANSITIONS = 50_000  # the paper, Section 4


@dataclasses.dataclass(frozen=True)
class AnalysisData:
    """Per-network batches of one checkpoint's analysis.

    precise[network]: the precise sample. minibatches[network]: the mini-batches (list of Batch).
    minibatch_hessian[network]: all mini-batch rows together (the "mini-batch Hessian" data).
    independent[network]: a second precise sample of the same size, independent of the first, for the
    cross-fitted gradient; None where the SAC buffer holds too few rows besides the precise ones.
    info: how they were made (sources, sizes, gamma/lambda, seed), for the record.
    """

    precise: dict[str, Batch]
    minibatches: dict[str, list[Batch]]
    minibatch_hessian: dict[str, Batch]
    info: dict[str, Any]
    independent: dict[str, Batch] | None = None


def concat_batches(batches: list[Batch]) -> Batch:
    """Rows of all ``batches`` stacked (same keys)."""
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def _streams(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds derived from ``seed``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(int(seed)).spawn(n)]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def _scratch(checkpoint: Checkpoint, seed: int) -> Iterator[None]:
    """Use the checkpoint's model and env for data collection without changing the model's
    counters or the global random state; env, action space and torch sampling seeded by ``seed``."""
    model = checkpoint.model
    saved = {name: getattr(model, name, None) for name in (
        "num_timesteps", "_total_timesteps", "_episode_num", "_current_progress_remaining", "_last_obs",
        "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer", "gamma")}
    env = checkpoint.vec_env
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        env.seed(seed)
        model.action_space.seed(seed)
        model._last_obs = env.reset()
        model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
        if isinstance(env, VecNormalize):
            model._last_original_obs = env.get_original_obs()
        model.ep_info_buffer = deque(maxlen=100)
        model.ep_success_buffer = deque(maxlen=100)
        model._total_timesteps = max(int(model._total_timesteps or 0), 1)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(model, name, value)


@contextlib.contextmanager
def _step0_normalization(checkpoint: Checkpoint, seed: int, enabled: bool) -> Iterator[str]:
    """At the step-0 checkpoint of a VecNormalize run, warm the statistics for the analysis.

    The statistics saved at step 0 hold one observation (variance ~1e-4), so frozen they would clip
    about half of all observation entries to +-10. Instead, warm them over one rollout of the agent's
    ``n_steps`` with the initial policy (updating as in training) and freeze them there: the
    statistics the agent's first update is made with. The checkpoint's own statistics are restored
    afterwards. Yields how the statistics were set (recorded in ``AnalysisData.info``).
    """
    env = checkpoint.vec_env
    if not (enabled and checkpoint.step == 0 and isinstance(env, VecNormalize) and isinstance(checkpoint.model, PPO)):
        yield "checkpoint" if isinstance(env, VecNormalize) else "none"
        return
    saved = copy.deepcopy(env.obs_rms), copy.deepcopy(env.ret_rms)
    model = checkpoint.model
    with _scratch(checkpoint, seed):
        env.training = True
        try:
            buffer = RolloutBuffer(model.n_steps, model.observation_space, model.action_space, device="cpu",
                                   gamma=model.gamma, gae_lambda=model.gae_lambda, n_envs=env.num_envs)
            model.collect_rollouts(env, _callback(model), buffer, n_rollout_steps=model.n_steps)
        finally:
            env.training = False
    try:
        yield f"step 0: warmed over {model.n_steps} steps of the initial policy"
    finally:
        env.obs_rms, env.ret_rms = saved


class _Continue(BaseCallback):
    def _on_step(self) -> bool:
        return True


def _callback(model) -> BaseCallback:
    callback = _Continue()
    callback.init_callback(model)
    return callback


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)


# --- PPO ------------------------------------------------------------------------------------------


def _ppo_rows(checkpoint: Checkpoint, n: int, seed: int, gamma: float, gae_lambda: float) -> dict[str, np.ndarray]:
    """The first ``n`` rows of consecutive fresh rollouts of the agent's ``n_steps`` (time order)."""
    model = checkpoint.model
    assert isinstance(model, PPO)
    env = checkpoint.vec_env
    if isinstance(env, VecNormalize) and env.training:
        raise ValueError("VecNormalize must be frozen (training=False) for analysis: use agents.load_checkpoint")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("observations", "actions", "log_probs",
                                                          "advantages", "returns")}
    collected = 0
    with _scratch(checkpoint, seed):
        model.gamma = gamma  # the timeout bootstrap inside collect_rollouts uses model.gamma
        buffer = RolloutBuffer(model.n_steps, model.observation_space, model.action_space, device="cpu",
                               gamma=gamma, gae_lambda=gae_lambda, n_envs=env.num_envs)
        callback = _callback(model)
        while collected < n:
            model.collect_rollouts(env, callback, buffer, n_rollout_steps=model.n_steps)
            for key in parts:
                values = getattr(buffer, key)
                parts[key].append(values.swapaxes(0, 1).reshape(-1, *values.shape[2:]).copy())
            collected += model.n_steps * env.num_envs
    return {key: np.concatenate(v)[:n] for key, v in parts.items()}


def _ppo_batch(rows: dict[str, np.ndarray], normalize: bool = True) -> Batch:
    from gradsub.losses import normalize_advantages

    advantages = _tensor(rows["advantages"])
    return {"observations": _tensor(rows["observations"]), "actions": _tensor(rows["actions"]),
            "old_log_prob": _tensor(rows["log_probs"]),
            "advantages": normalize_advantages(advantages) if normalize else advantages,
            "returns": _tensor(rows["returns"])}


def _ppo_precise(checkpoint: Checkpoint, n: int, seed: int) -> Batch:
    model = checkpoint.model
    rows = _ppo_rows(checkpoint, n, seed, model.gamma, model.gae_lambda)
    return _ppo_batch(rows)  # normalised once over all N (as the precise loss of the paper, Section 4)


# --- SAC ------------------------------------------------------------------------------------------


def _random_transitions(checkpoint: Checkpoint, n: int, seed: int) -> ReplayBuffer:
    """A buffer of ``n`` transitions with uniform random actions (SAC's warm-up), stored by SB3's code."""
    model = checkpoint.model
    assert isinstance(model, SAC)
    buffer = ReplayBuffer(n, model.observation_space, model.action_space, device="cpu", n_envs=1,
                          handle_timeout_termination=True)
    with _scratch(checkpoint, seed):
        model.num_timesteps = 0
        model.collect_rollouts(checkpoint.vec_env, _callback(model), TrainFreq(n, TrainFrequencyUnit.STEP),
                               buffer, action_noise=None, learning_starts=n + 1, log_interval=None)
    return buffer


def _buffer_rows(buffer: ReplayBuffer, idx: np.ndarray) -> dict[str, np.ndarray]:
    return {"observations": buffer.observations[idx, 0], "actions": buffer.actions[idx, 0],
            "next_observations": buffer.next_observations[idx, 0], "rewards": buffer.rewards[idx, 0],
            # terminal transitions only: a time-limit end is bootstrapped (as SB3's sample())
            "dones": buffer.dones[idx, 0] * (1.0 - buffer.timeouts[idx, 0])}


def _replay_indices(buffer: ReplayBuffer) -> np.ndarray:
    """Buffer indices of the transitions held, oldest first."""
    size = buffer.buffer_size if buffer.full else buffer.pos
    start = buffer.pos if buffer.full else 0
    return (start + np.arange(size)) % buffer.buffer_size


@dataclasses.dataclass(frozen=True)
class _SacSource:
    buffer: ReplayBuffer
    indices: np.ndarray  # the buffer rows the analysis may use
    source: str  # "replay" or "random"


def _sac_source(checkpoint: Checkpoint, n_random: int, seed: int) -> _SacSource:
    """The replay buffer at the checkpoint, or random-action transitions if it is empty (step 0)."""
    if checkpoint.replay_buffer is None:
        raise ValueError("a SAC checkpoint without a replay buffer: load it with agents.load_checkpoint")
    idx = _replay_indices(checkpoint.replay_buffer)
    if len(idx) > 0:
        return _SacSource(checkpoint.replay_buffer, idx, "replay")
    buffer = _random_transitions(checkpoint, int(n_random), seed)
    return _SacSource(buffer, _replay_indices(buffer), "random")


def _sac_precise_rows(src: _SacSource, n_precise: int, seed: int) -> tuple[np.ndarray, str]:
    """Buffer indices of all rows of the source, or of a uniform subsample of ``n_precise`` without
    replacement."""
    idx, source = src.indices, src.source
    if len(idx) > n_precise:
        pick = np.random.default_rng(seed).choice(len(idx), size=int(n_precise), replace=False)
        idx = idx[np.sort(pick)]
        source += "_subsample"
    return idx, source


def _sac_independent_rows(src: _SacSource, taken: np.ndarray, seed: int) -> np.ndarray | None:
    """Buffer indices of as many rows as ``taken``, drawn uniformly from the rows NOT taken (None when
    fewer remain: the precise sample holds most of the buffer)."""
    rest = np.setdiff1d(src.indices, taken)
    if len(rest) < len(taken):
        return None
    return np.sort(np.random.default_rng(seed).choice(rest, size=len(taken), replace=False))


def _normalize(checkpoint: Checkpoint, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Observations and rewards as SAC's training saw them (VecNormalize, if any, frozen)."""
    env = checkpoint.vec_env
    if not isinstance(env, VecNormalize):
        return rows
    return {**rows, "observations": env.normalize_obs(rows["observations"]),
            "next_observations": env.normalize_obs(rows["next_observations"]),
            "rewards": env.normalize_reward(rows["rewards"])}


def _sac_batches(checkpoint: Checkpoint, rows: dict[str, np.ndarray], seed: int) -> dict[str, Batch]:
    """Critic batch (with fixed targets) and actor batch (with fixed noise) of the same rows."""
    from gradsub.losses import sac_critic_targets

    model = checkpoint.model
    rows = _normalize(checkpoint, rows)
    n = len(rows["rewards"])
    act_dim = int(np.prod(model.action_space.shape))
    generator = _generator(seed)
    target_noise = torch.randn(n, act_dim, generator=generator)
    actor_noise = torch.randn(n, act_dim, generator=generator)
    observations = _tensor(rows["observations"])
    next_observations = _tensor(rows["next_observations"])
    rewards, dones = _tensor(rows["rewards"]), _tensor(rows["dones"])
    alpha = entropy_coefficient(model)
    target_q = sac_critic_targets(model.policy, next_observations, rewards, dones, target_noise,
                                  gamma=float(model.gamma), alpha=alpha)
    return {"critic": {"observations": observations, "actions": _tensor(rows["actions"]),
                       "target_q": target_q.detach().float()},
            "actor": {"observations": observations, "noise": actor_noise}}


def _sac_minibatch_rows(src: _SacSource, n_batches: int, batch_size: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    # uniform with replacement over everything the buffer holds, as ReplayBuffer.sample
    return [_buffer_rows(src.buffer, src.indices[rng.integers(0, len(src.indices), size=batch_size)])
            for _ in range(n_batches)]


# --- public API -----------------------------------------------------------------------------------
# Random streams of seed: 0 rollouts / random transitions, 1 subsample, 2 SAC precise noise,
# 3 mini-batch rollout or draws, 4 mini-batch permutation / noise, 5 step-0 normalisation warm-up,
# 6 the independent precise sample (PPO rollouts; SAC rows and their noise). Spawned children are fixed by
# their index, so adding a stream leaves the others' draws unchanged.
_N_STREAMS = 7


def _check_algo(checkpoint: Checkpoint) -> str:
    if isinstance(checkpoint.model, PPO):
        return "ppo"
    if isinstance(checkpoint.model, SAC):
        return "sac"
    raise TypeError(f"expected a PPO or SAC checkpoint, got {type(checkpoint.model).__name__}")


def _precise(checkpoint: Checkpoint, streams: list[int], n_precise: int, src: _SacSource | None):
    if _check_algo(checkpoint) == "ppo":
        batch = _ppo_precise(checkpoint, int(n_precise), streams[0])
        return {"actor": batch, "critic": batch}, {"precise_source": "rollouts", "n_precise": int(n_precise)}
    idx, source = _sac_precise_rows(src, n_precise, streams[1])
    info = {"precise_source": source, "n_precise": int(len(idx)), "replay_size": int(checkpoint.replay_size)}
    return _sac_batches(checkpoint, _buffer_rows(src.buffer, idx), streams[2]), info


def _independent(checkpoint: Checkpoint, streams: list[int], n_precise: int, src: _SacSource | None):
    """A second precise sample of the same size, independent of the first (cross-fitting): PPO a fresh
    rollout of N steps, SAC N replay rows disjoint from the precise ones (None when the buffer has too few)."""
    if _check_algo(checkpoint) == "ppo":
        batch = _ppo_precise(checkpoint, int(n_precise), streams[6])
        return {"actor": batch, "critic": batch}
    taken, _ = _sac_precise_rows(src, n_precise, streams[1])
    choose, noise = _streams(streams[6], 2)
    idx = _sac_independent_rows(src, taken, choose)
    return None if idx is None else _sac_batches(checkpoint, _buffer_rows(src.buffer, idx), noise)


def _minibatches(checkpoint: Checkpoint, streams: list[int], src: _SacSource | None, sac_minibatch_samples: int,
                 minibatch_gamma: float | None, minibatch_gae_lambda: float | None):
    model = checkpoint.model
    if _check_algo(checkpoint) == "ppo":
        gamma = model.gamma if minibatch_gamma is None else float(minibatch_gamma)
        lam = model.gae_lambda if minibatch_gae_lambda is None else float(minibatch_gae_lambda)
        rows = _ppo_rows(checkpoint, model.n_steps, streams[3], gamma, lam)
        order = np.random.default_rng(streams[4]).permutation(model.n_steps)
        batches = []
        for start in range(0, model.n_steps, model.batch_size):
            idx = order[start:start + model.batch_size]
            # PPO.train normalises per mini-batch, and only when it has more than one row
            batches.append(_ppo_batch({k: v[idx] for k, v in rows.items()}, normalize=len(idx) > 1))
        info = {"minibatch_gamma": float(gamma), "minibatch_gae_lambda": float(lam),
                "n_minibatches": len(batches), "minibatch_size": int(model.batch_size),
                "minibatch_advantages": "normalised per mini-batch"}
        return {"actor": batches, "critic": batches}, info
    n_batches = max(int(sac_minibatch_samples) // model.batch_size, 1)
    parts = _sac_minibatch_rows(src, n_batches, model.batch_size, streams[3])
    made = [_sac_batches(checkpoint, part, s) for part, s in zip(parts, _streams(streams[4], n_batches))]
    info = {"n_minibatches": n_batches, "minibatch_size": int(model.batch_size)}
    return {net: [m[net] for m in made] for net in NETWORKS}, info


def _source(checkpoint: Checkpoint, streams: list[int], n_random: int) -> _SacSource | None:
    return _sac_source(checkpoint, n_random, streams[0]) if _check_algo(checkpoint) == "sac" else None


def precise_batch(checkpoint: Checkpoint, seed: int, n: int, *, n_random: int = PAPER_SAC_RANDOM_TRANSITIONS,
                  warm_step0_normalization: bool = True) -> dict[str, Batch]:
    """The precise sample per network. PPO: ``n`` fresh on-policy steps; SAC: the replay buffer
    (at most ``n`` rows; ``n_random`` random-action transitions if it is empty).
    Equal to ``analysis_data(...).precise`` for the same seed and sizes."""
    streams = _streams(seed, _N_STREAMS)
    with _step0_normalization(checkpoint, streams[5], warm_step0_normalization):
        return _precise(checkpoint, streams, n, _source(checkpoint, streams, n_random))[0]


def minibatches(checkpoint: Checkpoint, seed: int, *, n_random: int = PAPER_SAC_RANDOM_TRANSITIONS,
                sac_minibatch_samples: int = SAC_MINIBATCH_SAMPLES, minibatch_gamma: float | None = None,
                minibatch_gae_lambda: float | None = None, warm_step0_normalization: bool = True
                ) -> dict[str, list[Batch]]:
    """The mini-batches per network (see the module docstring).
    Equal to ``analysis_data(...).minibatches`` for the same seed and sizes."""
    streams = _streams(seed, _N_STREAMS)
    with _step0_normalization(checkpoint, streams[5], warm_step0_normalization):
        return _minibatches(checkpoint, streams, _source(checkpoint, streams, n_random), sac_minibatch_samples,
                            minibatch_gamma, minibatch_gae_lambda)[0]


def analysis_data(checkpoint: Checkpoint, profile: Profile, seed: int, *, minibatch_gamma: float | None = None,
                  minibatch_gae_lambda: float | None = None, warm_step0_normalization: bool = True) -> AnalysisData:
    """Precise sample (and an independent one), mini-batches and mini-batch-Hessian data of one checkpoint
    (the paper, Section 4).

    profile: supplies n_precise, n_random and sac_minibatch_samples. seed: fixes every random draw.
    minibatch_gamma / minibatch_gae_lambda: PPO mini-batch GAE settings (default: the agent's; the
    authors used 0.99 and 1.0). warm_step0_normalization: at step 0 of a VecNormalize run, use
    statistics warmed over one rollout instead of the one-observation statistics saved there
    (see ``_step0_normalization``); False keeps the saved ones.
    """
    algo = _check_algo(checkpoint)
    model = checkpoint.model
    streams = _streams(seed, _N_STREAMS)
    with _step0_normalization(checkpoint, streams[5], warm_step0_normalization) as normalization:
        src = _source(checkpoint, streams, profile.n_random)
        precise, info = _precise(checkpoint, streams, profile.n_precise, src)
        independent = _independent(checkpoint, streams, profile.n_precise, src)
        mini, extra = _minibatches(checkpoint, streams, src, profile.sac_minibatch_samples, minibatch_gamma,
                                   minibatch_gae_lambda)
    info = {"seed": int(seed), "algo": algo, "step": int(checkpoint.step), "gamma": float(model.gamma),
            "vecnormalize": normalization, **info, **extra}
    if algo == "ppo":
        info.update(gae_lambda=float(model.gae_lambda), n_steps=int(model.n_steps))
        shared = concat_batches(mini["actor"])  # one batch serves both networks
        hessian = {net: shared for net in NETWORKS}
    else:
        info.update(alpha=entropy_coefficient(model))
        hessian = {net: concat_batches(mini[net]) for net in NETWORKS}
    info["independent"] = "none: too few rows besides the precise ones" if independent is None else "yes"
    return AnalysisData(precise=precise, minibatches=mini, minibatch_hessian=hessian, info=info,
                        independent=independent)


@dataclasses.dataclass(frozen=True)
class RowPool:
    """The rows of one precise sample, from which nested sub-samples are cut.

    PPO: ``rows`` holds consecutive on-policy rows in time order with raw GAE advantages;
    ``take(start, stop)`` normalises the advantages over the rows taken, as the precise loss does over
    its whole sample, and serves both networks. SAC: ``rows[network]`` holds the replay buffer's rows in
    a random order, each with its own fixed target and noise; ``take`` cuts them, so disjoint ranges are
    independent samples of the buffer.
    """

    algo: str
    rows: dict

    def __len__(self) -> int:
        first = self.rows["advantages"] if self.algo == "ppo" else self.rows["critic"]["target_q"]
        return int(first.shape[0])

    def take(self, start: int, stop: int) -> dict[str, Batch]:
        """The batch of each network on rows [start, stop)."""
        if not 0 <= start < stop <= len(self):
            raise ValueError(f"rows [{start}, {stop}) are outside the pool's {len(self)} rows")
        if self.algo == "ppo":
            batch = _ppo_batch({key: values[start:stop] for key, values in self.rows.items()})
            return {net: batch for net in NETWORKS}
        return {net: {key: t[start:stop] for key, t in batch.items()} for net, batch in self.rows.items()}


def row_pool(checkpoint: Checkpoint, seed: int, n: int | None = None, *,
             n_random: int = PAPER_SAC_RANDOM_TRANSITIONS) -> RowPool:
    """A pool of precise rows of the checkpoint. PPO: ``n`` fresh on-policy steps, drawn exactly as
    ``precise_batch`` draws them (``row_pool(c, s, n).take(0, n) == precise_batch(c, s, n)``).
    SAC: the replay buffer's rows (at most ``n``; ``None``: all of them) in a random order fixed by
    ``seed`` (``n_random`` random-action transitions at an empty buffer)."""
    streams = _streams(seed, _N_STREAMS)
    model = checkpoint.model
    if _check_algo(checkpoint) == "ppo":
        if n is None or n < 1:
            raise ValueError(f"a PPO pool needs a number of rows n >= 1, got {n!r}")
        with _step0_normalization(checkpoint, streams[5], True):
            return RowPool("ppo", _ppo_rows(checkpoint, int(n), streams[0], model.gamma, model.gae_lambda))
    src = _sac_source(checkpoint, n_random, streams[0])
    order = np.random.default_rng(streams[1]).permutation(len(src.indices))[:n]
    rows = _buffer_rows(src.buffer, src.indices[order])
    return RowPool("sac", _sac_batches(checkpoint, rows, streams[2]))
