"""The task registry: the single source of truth for the 12 tasks, their hyperparameters and scales.

Every task of the paper (FACTS §2) with today's environment, its PPO and SAC hyperparameters
(FACTS §3, stable-baselines3 names) and three scale profiles:

- ``smoke``: seconds, for tests (a few hundred steps, tiny samples, small algorithm settings).
- ``cpu``: what the book's data is made with on the 2-core machine (each job < 45 min).
- ``paper``: the paper's steps and sample sizes (for a GPU or a cluster).

Names are matched case-insensitively (``get_task("halfcheetah")``); an unknown task, algorithm or
profile raises ``ValueError`` listing the valid values. This module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

__all__ = [
    "ALGOS",
    "PROFILES",
    "SUITES",
    "TASKS",
    "PPOConfig",
    "SACConfig",
    "Task",
    "Profile",
    "ParameterCounts",
    "CPU_THROUGHPUT",
    "check_algo",
    "check_profile",
    "get_task",
    "get_profile",
    "algo_config",
    "parameter_counts",
    "format_task_table",
]

ALGOS = ("ppo", "sac")
PROFILES = ("smoke", "cpu", "paper")
SUITES = ("dm_control", "mujoco", "classic", "box2d", "robotics")


# --- hyperparameters ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (stable-baselines3 names; defaults = FACTS §3 "PPO defaults").

    net_arch: hidden sizes of the actor and of the (separate) critic MLP.
    activation: "tanh" or "relu".
    normalize: wrap the env in VecNormalize (observations and rewards, clip 10, gamma 0.99, eps 1e-8).
    paper_steps: training steps of the paper's runs.
    source: where the values come from.
    """

    learning_rate: float = 3e-4
    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    use_sde: bool = False
    sde_sample_freq: int = -1
    normalize: bool = False
    paper_steps: int = 1_000_000
    source: str = "FACTS §3 PPO table (the paper's appendix; rl-baselines3-zoo tuned values)"


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters (stable-baselines3 names; defaults = FACTS §3 "SAC defaults").

    ent_coef "auto" and target_entropy "auto" (-dim(A)) throughout; twin Q-nets; ReLU.
    """

    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    net_arch: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    use_sde: bool = False
    log_std_init: float = -3.0
    paper_steps: int = 1_000_000
    source: str = "FACTS §3 SAC table (the paper's appendix; rl-baselines3-zoo tuned values)"


# VecNormalize settings wherever PPO normalises (FACTS §3).
VEC_NORMALIZE = {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0, "clip_reward": 10.0,
                 "gamma": 0.99, "epsilon": 1e-8}


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the paper on today's stack.

    name: the paper's name. env_id / env_kwargs: ``gymnasium.make(env_id, **dict(env_kwargs))``.
    flatten: the observation is a Dict and is flattened (``gymnasium.wrappers.FlattenObservation``,
    keys in sorted order). obs_dim / act_dim: of today's (flattened) env, checked by the tests.
    max_episode_steps: episode length limit (truncation). paper_env / paper_obs_dim: what the paper used.
    """

    name: str
    env_id: str
    suite: str
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    ppo: PPOConfig
    sac: SACConfig
    paper_env: str
    paper_obs_dim: int
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    flatten: bool = False
    notes: str = ""


_PPO_ZOO = "FACTS §3 PPO table (paper appendix, rl-baselines3-zoo values); net [256,256] ReLU, " \
           "log_std_init -2, ortho_init False as listed there"


def _ppo(**kw) -> PPOConfig:
    return PPOConfig(**kw)


def _sac(**kw) -> SACConfig:
    return SACConfig(**kw)


_MUJOCO_SAC = dict(learning_starts=10_000)
_V5_NOTE = ("Gymnasium MuJoCo v5 on mujoco 3.11 instead of gym {v} on mujoco-py/MuJoCo 1.50: "
            "same model and reward terms, different simulator version")

TASKS: dict[str, Task] = {t.name: t for t in (
    Task("Finger-spin", "dm_control/finger-spin-v0", "dm_control", 9, 2, 1000,
         _ppo(learning_rate=1e-3, n_steps=4096, batch_size=128, n_epochs=10, gamma=0.92, gae_lambda=0.96,
              ent_coef=2e-6, net_arch=(128, 128), paper_steps=1_000_000),
         _sac(learning_rate=4e-3, learning_starts=1_000, batch_size=128, tau=0.01, gamma=0.995,
              train_freq=64, gradient_steps=64, paper_steps=1_000_000),
         "dm_control finger/spin", 9, flatten=True,
         notes="dm_control through shimmy; dict observation (position 4, touch 2, velocity 3) "
               "flattened; episodes end by truncation at 1000 steps."),
    Task("Ball_in_cup", "dm_control/ball_in_cup-catch-v0", "dm_control", 8, 2, 1000,
         _ppo(learning_rate=1e-3, n_steps=4096, batch_size=32, n_epochs=20, gamma=0.98, gae_lambda=0.96,
              net_arch=(128, 128), paper_steps=1_000_000),
         _sac(learning_rate=6e-3, learning_starts=10_000, batch_size=256, tau=0.02, gamma=0.96,
              train_freq=64, gradient_steps=64, net_arch=(128, 128), paper_steps=1_000_000),
         "dm_control ball_in_cup/catch", 8, flatten=True,
         notes="dm_control through shimmy; dict observation (position 4, velocity 4) flattened; "
               "episodes end by truncation at 1000 steps."),
    Task("Ant", "Ant-v5", "mujoco", 105, 8, 1000,
         _ppo(normalize=True, paper_steps=3_000_000),
         _sac(**_MUJOCO_SAC, paper_steps=1_000_000),
         "Ant-v3", 111,
         notes=_V5_NOTE.format(v="Ant-v3") + "; observation 105 instead of 111: v5 drops the 6 "
               "contact-force entries of the world body, which were always zero."),
    Task("HalfCheetah", "HalfCheetah-v5", "mujoco", 17, 6, 1000,
         _ppo(learning_rate=2.0633e-5, n_steps=512, batch_size=64, n_epochs=20, gamma=0.98, gae_lambda=0.92,
              clip_range=0.1, ent_coef=4.01762e-4, vf_coef=0.58096, max_grad_norm=0.8, net_arch=(256, 256),
              activation="relu", ortho_init=False, log_std_init=-2.0, normalize=True,
              paper_steps=3_000_000, source=_PPO_ZOO),
         _sac(**_MUJOCO_SAC, paper_steps=1_000_000),
         "HalfCheetah-v3", 17, notes=_V5_NOTE.format(v="HalfCheetah-v3") + "."),
    Task("Hopper", "Hopper-v5", "mujoco", 11, 3, 1000,
         _ppo(learning_rate=9.80828e-5, n_steps=512, batch_size=32, n_epochs=5, gamma=0.999, gae_lambda=0.99,
              clip_range=0.2, ent_coef=2.29519e-3, vf_coef=0.835671, max_grad_norm=0.7, net_arch=(256, 256),
              activation="relu", ortho_init=False, log_std_init=-2.0, normalize=True,
              paper_steps=1_500_000, source=_PPO_ZOO),
         _sac(**_MUJOCO_SAC, paper_steps=1_000_000),
         "Hopper-v3", 11, notes=_V5_NOTE.format(v="Hopper-v3") + "."),
    Task("Walker2D", "Walker2d-v5", "mujoco", 17, 6, 1000,
         _ppo(learning_rate=5.05041e-5, n_steps=512, batch_size=32, n_epochs=20, gamma=0.99, gae_lambda=0.95,
              clip_range=0.1, ent_coef=5.85045e-4, vf_coef=0.871923, max_grad_norm=1.0, normalize=True,
              paper_steps=3_000_000),
         _sac(**_MUJOCO_SAC, paper_steps=1_000_000),
         "Walker2d-v3", 17, notes=_V5_NOTE.format(v="Walker2d-v3") + "."),
    Task("Swimmer", "Swimmer-v5", "mujoco", 8, 2, 1000,
         _ppo(learning_rate=6e-4, n_steps=4096, batch_size=256, n_epochs=10, gamma=0.9999, gae_lambda=0.98,
              paper_steps=1_000_000),
         _sac(learning_starts=10_000, gamma=0.9999, paper_steps=1_000_000),
         "Swimmer-v3", 8, notes=_V5_NOTE.format(v="Swimmer-v3") + "."),
    Task("Reacher", "Reacher-v5", "mujoco", 10, 2, 50,
         _ppo(learning_rate=1.04019e-4, n_steps=512, batch_size=32, n_epochs=5, gamma=0.9, gae_lambda=1.0,
              clip_range=0.3, ent_coef=7.52585e-8, vf_coef=0.950368, max_grad_norm=0.9, normalize=True,
              paper_steps=500_000),
         _sac(**_MUJOCO_SAC, paper_steps=500_000),
         "Reacher-v2", 11,
         notes=_V5_NOTE.format(v="Reacher-v2") + "; observation 10 instead of 11: v5 drops the "
               "fingertip-to-target z distance, which was always zero."),
    Task("Pendulum", "Pendulum-v1", "classic", 3, 1, 200,
         _ppo(learning_rate=3e-3, n_steps=4096, batch_size=64, n_epochs=10, gamma=0.9, gae_lambda=0.95,
              use_sde=True, sde_sample_freq=4, paper_steps=300_000),
         _sac(learning_rate=1e-3, learning_starts=100, paper_steps=300_000),
         "Pendulum-v1", 3,
         notes="Same environment version as the paper (gymnasium port). PPO uses gSDE (sde_sample_freq 4), "
               "whose log_std is a [64 x 1] matrix."),
    Task("LunarLanderContinuous", "LunarLander-v3", "box2d", 8, 2, 1000,
         _ppo(learning_rate=3e-4, n_steps=16384, batch_size=64, n_epochs=4, gamma=0.999, gae_lambda=0.98,
              ent_coef=0.01, paper_steps=1_000_000),
         _sac(learning_rate=1e-4, learning_starts=10_000, tau=0.01, net_arch=(400, 300), paper_steps=1_000_000),
         "LunarLanderContinuous-v2", 8, env_kwargs=(("continuous", True),),
         notes="LunarLander-v3 with continuous=True replaces LunarLanderContinuous-v2 (v3 fixes "
               "determinism and wind bugs of v2)."),
    Task("BipedalWalker", "BipedalWalker-v3", "box2d", 24, 4, 1600,
         _ppo(learning_rate=3e-4, n_steps=65536, batch_size=64, n_epochs=10, gamma=0.999, gae_lambda=0.95,
              clip_range=0.18, normalize=True, paper_steps=3_000_000),
         _sac(learning_rate=7.3e-4, buffer_size=300_000, learning_starts=10_000, tau=0.02, gamma=0.98,
              train_freq=64, gradient_steps=64, net_arch=(400, 300), use_sde=True, log_std_init=-3.0,
              paper_steps=1_000_000),
         "BipedalWalker-v3", 24,
         notes="Same environment version (gymnasium port of Box2D). SAC uses gSDE (log_std_init -3), "
               "whose log_std is a [300 x 4] matrix."),
    Task("FetchReach", "FetchReach-v4", "robotics", 16, 4, 50,
         _ppo(learning_rate=3e-4, n_steps=4096, batch_size=128, n_epochs=20, gamma=0.91, gae_lambda=0.91,
              clip_range=0.1, ent_coef=4e-3, net_arch=(128, 128), paper_steps=500_000),
         _sac(learning_rate=2e-4, learning_starts=10_000, batch_size=128, tau=0.005, gamma=0.91,
              net_arch=(128, 128), paper_steps=500_000),
         "FetchReach-v1", 16, flatten=True,
         notes="gymnasium-robotics FetchReach-v4 (mujoco bindings) instead of gym FetchReach-v1 "
               "(mujoco-py); dict observation flattened in sorted key order (achieved_goal 3, "
               "desired_goal 3, observation 10); plain SAC without hindsight relabelling, as the paper."),
)}


def _choices(kind: str, valid) -> str:
    return f"unknown {kind}; valid {kind}s: {', '.join(valid)}"


def get_task(name: str | Task) -> Task:
    """The task called ``name`` (case-insensitive; '-' and '_' are interchangeable)."""
    if isinstance(name, Task):
        return name
    key = str(name).lower().replace("_", "-")
    for task in TASKS.values():
        if task.name.lower().replace("_", "-") == key:
            return task
    raise ValueError(f"{_choices('task', TASKS)} (got {name!r})")


def check_algo(algo: str) -> str:
    """The canonical (lower-case) algorithm name; ValueError listing ``ALGOS`` otherwise."""
    value = str(algo).lower()
    if value not in ALGOS:
        raise ValueError(f"{_choices('algo', ALGOS)} (got {algo!r})")
    return value


def check_profile(profile: str) -> str:
    """The canonical profile name; ValueError listing ``PROFILES`` otherwise."""
    value = str(profile).lower()
    if value not in PROFILES:
        raise ValueError(f"{_choices('profile', PROFILES)} (got {profile!r})")
    return value


def algo_config(task: str | Task, algo: str) -> PPOConfig | SACConfig:
    """The task's PPO or SAC hyperparameters."""
    task = get_task(task)
    return task.ppo if check_algo(algo) == "ppo" else task.sac


# --- scale profiles -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much of the paper's experiment one (task, algo, seed) job does.

    total_steps: environment steps of training.
    checkpoint_steps: steps at which the agent is saved and analysed (sorted, from 0 to total_steps).
    n_precise: size of the "precise" sample (FACTS §5): PPO = fresh on-policy steps N; SAC = the most
        replay-buffer rows used (uniform subsample, with the run's seed, if the buffer holds more).
    n_random: SAC at step 0 (empty buffer): random-action transitions used instead (paper 50,000).
    sac_minibatch_samples: SAC mini-batch data = sac_minibatch_samples // batch_size mini-batches
        (paper 2048). PPO's mini-batch data is one fresh rollout of the agent's n_steps.
    k: number of top Hessian eigenvectors (the paper: 100).
    chunk_size: rows per chunk in Hessian-vector products (memory only, not results).
    n_seeds: seeds per (task, algo) in a sweep.
    eval_every: deterministic evaluation every this many steps (and at 0 and the end).
    n_eval_episodes: episodes per evaluation.
    algo_overrides: hyperparameters replaced for this profile (smoke only), as (name, value) pairs.
    notes: why these numbers.
    """

    name: str
    total_steps: int
    checkpoint_steps: tuple[int, ...]
    n_precise: int
    n_random: int
    sac_minibatch_samples: int
    k: int
    chunk_size: int
    n_seeds: int
    eval_every: int
    n_eval_episodes: int
    algo_overrides: tuple[tuple[str, Any], ...] = ()
    notes: str = ""

    def __post_init__(self):
        steps = self.checkpoint_steps
        if (not steps or steps[0] != 0 or steps[-1] != self.total_steps
                or any(b <= a for a, b in zip(steps, steps[1:]))):
            raise ValueError(f"checkpoint_steps must increase strictly from 0 to total_steps="
                             f"{self.total_steps}, got {steps}")
        for name in ("total_steps", "n_precise", "k", "chunk_size", "n_seeds", "eval_every",
                     "n_eval_episodes", "sac_minibatch_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"profile field {name} must be >= 1, got {getattr(self, name)}")


# Training throughput (env steps/s) of SB3 with the registry's hyperparameters on this 2-core machine,
# measured 2026-11-23 with agents.build_model + learn, torch.set_num_threads(1), one process at a time
# while other helpers' jobs kept the load average at 1.8-2.7 (so about one core each: the same
# situation as two cpu jobs side by side). PPO: two rollouts of min(n_steps, 2048) steps with their
# updates (per-step cost does not depend on n_steps); SAC: 640 steps after learning_starts with the
# task's train_freq/gradient_steps. Short windows: expect +-25 % (ENVIRONMENT.md). Four tasks were
# measured twice (the comment gives both; the table keeps the lower). A third pass, taken while this
# helper's own tests also ran (load ~3: more processes than cores), gave 1.5-4x lower rates (e.g.
# HalfCheetah PPO 184, SAC 31 steps/s): the cpu budget holds only with at most two jobs at a time.
CPU_THROUGHPUT: dict[tuple[str, str], float] = {
    ("Finger-spin", "ppo"): 1720.0,
    ("Ball_in_cup", "ppo"): 679.7,
    ("Ant", "ppo"): 998.0,
    ("HalfCheetah", "ppo"): 750.9,  # passes: 779.1, 750.9
    ("Hopper", "ppo"): 1111.7,
    ("Walker2D", "ppo"): 656.1,  # passes: 656.1, 677.5
    ("Swimmer", "ppo"): 2070.9,
    ("Reacher", "ppo"): 1500.8,
    ("Pendulum", "ppo"): 1700.6,  # passes: 1783.7, 1700.6
    ("LunarLanderContinuous", "ppo"): 2313.9,
    ("BipedalWalker", "ppo"): 941.7,  # passes: 1244.1, 941.7
    ("FetchReach", "ppo"): 677.2,
    ("Finger-spin", "sac"): 102.8,
    ("Ball_in_cup", "sac"): 142.7,
    ("Ant", "sac"): 59.0,
    ("HalfCheetah", "sac"): 60.2,  # passes: 70.5, 60.2
    ("Hopper", "sac"): 68.2,
    ("Walker2D", "sac"): 41.4,  # passes: 48.0, 41.4
    ("Swimmer", "sac"): 71.1,
    ("Reacher", "sac"): 76.5,
    ("Pendulum", "sac"): 63.4,  # passes: 74.4, 63.4
    ("LunarLanderContinuous", "sac"): 45.8,
    ("BipedalWalker", "sac"): 37.6,  # passes: 42.1, 37.6
    ("FetchReach", "sac"): 162.9,
}

# --- the cpu plan: what one job may cost, what the analysis of a checkpoint costs, what is left to train

CPU_JOB_BUDGET_S = 45 * 60  # one (task, algo, seed) job, training and analysis (issue: at most 45 min)
# What the plan fills: 4 min of the budget held back for a slower day (the same products ran 1.5x faster
# on one day than the next: Pendulum PPO's two dense spectra took 5.1 min, then 11.0; the plan's
# checkpoint costs are already the most each job's checkpoints cost).
CPU_PLAN_S = 41 * 60
CPU_EVAL_S = 2 * 60  # evaluations, checkpoint saves, samples and loading (measured: 1-2 min per job)
CPU_ANALYSIS_BUDGET_S = 27 * 60  # checkpoints are added while their analyses fit this (3 for most SAC jobs)
# Whole-run training rate over the short-window rate of CPU_THROUGHPUT, for two cpu jobs side by side
# on the idle machine. Measured in a clean two-job sweep (`gradsub sweep --profile cpu --tasks
# HalfCheetah Finger-spin --algos sac --seeds 0 --workers 2` at 970bf41 into scratch folders, 2026-11-24,
# times from its checkpoints' train_seconds): after learning_starts HalfCheetah SAC trained 40.2 steps/s
# (60k steps in 1,491 s; 41.3 over 10k-50k, 38.2 over 50k-70k) against 60.2, Finger-spin SAC 56
# (100k in 1,786 s; 62 then 52.5) against 102.8: 0.67 and 0.55, the lower kept. The rate falls as a run
# goes on: benchmarks/throughput.py with two HalfCheetah SAC processes gave 72 steps/s over 2,048 steps
# and 62 over 8,000 (2026-11-24). The sweep at 707ce5d then trained at 0.63-0.64 of CPU_THROUGHPUT
# (HalfCheetah SAC 37-39 steps/s, PPO 480).
CPU_WHOLE_RUN = 0.55

# Wall minutes of one checkpoint's analysis (samples, four eigensolves, gradients, metrics, cache write;
# k = 100, tol 1e-4), as (first checkpoint, any later one), the most each cost in the sweep at 707ce5d
# (two jobs alone on the idle machine, 2026-11-24, from the analysis caches' times and the timings
# table). The first SAC checkpoint is the dear one where the untrained networks see random-action data:
# flat spectra, ~1,000 products per actor solve instead of ~400 (HalfCheetah SAC 12.4 min at step 0 and
# 11.8 at 10k, which then still had step 0's parameters; 3.6 and 4.2 at 20k and 50k). Dense spectra
# (the last checkpoint) come on top: CPU_SPECTRUM_MIN_PER_TERA.
CPU_CHECKPOINT_MINUTES: dict[tuple[str, str], tuple[float, float]] = {
    ("HalfCheetah", "sac"): (12.4, 4.2),
    ("HalfCheetah", "ppo"): (6.2, 6.2),  # 4.5-6.2 (N = 2,048, n_steps 512)
    ("Pendulum", "sac"): (6.9, 7.2),  # 4.6-7.2
    ("Pendulum", "ppo"): (1.6, 1.6),  # 1.4-1.6 (N = 10,000) + 10.9 of spectra at the last
    ("Finger-spin", "ppo"): (4.2, 4.2),  # 3.6-4.2 (N = 10,000, n_steps 4096)
}
# Other tasks: minutes per 10^9 (parameters of actor and critic) x (rows of the precise and the mini-batch
# Hessians), the largest of the measured tasks above (as (first, later)): PPO HalfCheetah 6.2 min over
# 142,605 x 2,560; SAC Pendulum 7.2 over 201,988 x 4,096 later, HalfCheetah 12.4 over 217,870 x 4,096 first.
CPU_CHECKPOINT_MIN_PER_GIGA = {"ppo": (17.0, 17.0), "sac": (13.9, 8.7)}
# A dense spectrum (every eigenvalue, n products of an n-parameter network on SPECTRUM_ROWS rows): minutes
# per 10^12 n^2 x rows. Pendulum PPO: 5.6 min for the actor (4,545 parameters), 5.3 for the critic (4,481).
CPU_SPECTRUM_MIN_PER_TERA = 28.0
# Networks up to this size get their full spectrum (Figure 1) at the last checkpoint, on the first
# SPECTRUM_ROWS precise rows (gradsub.analysis.AnalysisSettings reads both).
SPECTRUM_MAX_PARAMS = 6_000
SPECTRUM_ROWS = 10_000

# t1 values of the paper's overlap figures (FACTS §6), in the order the cpu profile adds them as
# checkpoints: 100k first (the main overlap figure's t1), then the early phase, then the rest.
_CPU_T1_PRIORITY = (100_000, 10_000, 50_000, 200_000, 500_000, 1_000_000)


def _paper_checkpoints(task: Task, algo: str, total: int) -> tuple[int, ...]:
    """0, 10k, then every 50k (FACTS §3), and the final step."""
    steps = [0, 10_000] + list(range(50_000, total, 50_000))
    return tuple(sorted({s for s in steps if s < total} | {total}))


def _cpu_checkpoints(task: Task, algo: str, total: int) -> tuple[int, ...]:
    """0, the end, then the paper's overlap t1 values below 80 % of ``total`` in _CPU_T1_PRIORITY order
    while the analyses fit the budget left after training (at least CPU_ANALYSIS_BUDGET_S); a midpoint
    (rounded to 10k) when no t1 value lies there. SAC skips steps up to learning_starts: SB3 updates
    nothing before then, so such a checkpoint repeats step 0's parameters on the same random-action data."""
    budget = max(CPU_ANALYSIS_BUDGET_S, CPU_PLAN_S - CPU_EVAL_S - _cpu_train_seconds(task, algo, total))
    first = _cpu_free_steps(task, algo)
    candidates = [s for s in _CPU_T1_PRIORITY if first < s < total * 0.8]
    middle = int(round(total / 2 / 10_000)) * 10_000
    if not candidates and first < middle < total:
        candidates.append(middle)
    n_precise = _cpu_n_precise(task, algo)
    steps = [0, total]
    for step in candidates:
        if _cpu_analysis_seconds(task, algo, tuple(sorted(steps + [step])), n_precise) <= budget:
            steps.append(step)
    return tuple(sorted(steps))


def _smoke_checkpoints(task: Task, algo: str, total: int) -> tuple[int, ...]:
    return (0, total)


def _cpu_free_steps(task: Task, algo: str) -> int:
    """SAC's random warm-up (learning_starts): it only steps the env, nearly free, and updates nothing."""
    return algo_config(task, algo).learning_starts if algo == "sac" else 0


def _cpu_least_steps(task: Task, algo: str) -> int:
    """The shortest cpu run: 10k steps after SAC's warm-up or PPO's first rollout (rounded up to 10k)."""
    before = _cpu_free_steps(task, algo) if algo == "sac" else algo_config(task, algo).n_steps
    return -(-before // 10_000) * 10_000 + 10_000


def _cpu_train_seconds(task: Task, algo: str, total: int) -> float:
    """Planned training time of ``total`` steps at CPU_THROUGHPUT x CPU_WHOLE_RUN (warm-up free)."""
    learning = max(0, total - _cpu_free_steps(task, algo))
    return learning / (CPU_THROUGHPUT[(task.name, algo)] * CPU_WHOLE_RUN)


def _cpu_analysis_seconds(task: Task, algo: str, checkpoints: tuple[int, ...], n_precise: int) -> float:
    """Planned analysis time of ``checkpoints`` (CPU_CHECKPOINT_MINUTES, else the per-size model) and of
    the dense spectra at the last one."""
    counts = parameter_counts(task)
    params = (counts.ppo_actor, counts.ppo_critic) if algo == "ppo" else (counts.sac_actor, counts.sac_critic)
    minibatch = algo_config(task, algo).n_steps if algo == "ppo" else _SAC_MINIBATCH_SAMPLES
    measured = CPU_CHECKPOINT_MINUTES.get((task.name, algo))
    if measured is None or n_precise != _CPU_N_PRECISE[_cpu_size(task, algo)][algo]:
        work = sum(params) * (n_precise + minibatch) / 1e9
        measured = tuple(rate * work for rate in CPU_CHECKPOINT_MIN_PER_GIGA[algo])
    first, later = measured
    minutes = first + later * (len(checkpoints) - 1)
    rows = min(SPECTRUM_ROWS, n_precise)
    minutes += sum(CPU_SPECTRUM_MIN_PER_TERA * n * n * rows / 1e12 for n in params if n <= SPECTRUM_MAX_PARAMS)
    return 60 * minutes


def _cpu_job_seconds(task: Task, algo: str, total: int) -> float:
    return (_cpu_train_seconds(task, algo, total) + CPU_EVAL_S
            + _cpu_analysis_seconds(task, algo, _cpu_checkpoints(task, algo, total), _cpu_n_precise(task, algo)))


@functools.lru_cache(maxsize=None)
def _cpu_total_steps(task: Task, algo: str) -> int:
    """The most steps (10k units, at most the paper's) whose planned job (training, the analyses of their
    checkpoints, CPU_EVAL_S) fits CPU_PLAN_S; never below _cpu_least_steps."""
    paper = algo_config(task, algo).paper_steps
    least = min(paper, _cpu_least_steps(task, algo))
    fits = [t for t in range(least, paper + 1, 10_000) if _cpu_job_seconds(task, algo, t) <= CPU_PLAN_S]
    return max(fits, default=least)


def cpu_job_seconds(task: str | Task, algo: str) -> float:
    """Planned wall seconds of one cpu job: training, the analysis of its checkpoints, CPU_EVAL_S."""
    task = get_task(task)
    algo = check_algo(algo)
    return _cpu_job_seconds(task, algo, _cpu_total_steps(task, algo))


_SMOKE_STEPS = 256
_SAC_MINIBATCH_SAMPLES = 2048  # SAC mini-batch data: 2048 // batch_size mini-batches (FACTS §5)

_PROFILE_NOTES = {
    "smoke": "For tests: a few hundred steps, checkpoints at 0 and the end, tiny samples; PPO's n_steps "
             "and SAC's learning_starts/batch are shrunk so that an update happens.",
    "cpu": "The book's data on the 2-core machine, two one-thread jobs at a time: each job (training + "
           "analysis) within 45 min (CPU_JOB_BUDGET_S), planned to 41 (CPU_PLAN_S; cpu_job_seconds gives "
           "each job's plan). Analysis first: N = 10,000 on-policy steps for PPO and 5,000 replay rows for "
           "SAC where the actor has at most 20k parameters, else 2,048 (halved where even two checkpoints "
           "would not fit); the paper's 2048 SAC mini-batch samples, k = 100. Checkpoints: 0, the end, and "
           "the paper's overlap t1 values (100k first, then 10k, 50k, 200k, ...) below 80 % of the run while "
           "their analyses fit 27 min (CPU_ANALYSIS_BUDGET_S), each costed at the most a checkpoint of that "
           "job cost in a measured sweep (CPU_CHECKPOINT_MINUTES; other tasks scaled by network size and "
           "rows from the dearest measured one); SAC skips steps up to learning_starts, where SB3 has not "
           "updated the agent yet. Training gets the rest, less 2 min for evaluations and saving "
           f"(CPU_EVAL_S), at the short-window throughput measured per task (CPU_THROUGHPUT) times "
           f"{CPU_WHOLE_RUN}, the whole-run share measured in a clean two-job sweep (CPU_WHOLE_RUN), in 10k "
           "steps, capped at the paper's steps. PPO thus reaches 0.2-1M steps (the paper: 0.3-3M), SAC "
           "20k-130k (the paper: 0.3-1M). 3 seeds (72 jobs: about 25 h at two at a time). Measured job "
           "costs: the book's reproducibility page.",
    "paper": "The paper's scale: its steps, checkpoints 0, 10k and every 50k, N = 10^6 on-policy steps "
             "for PPO, the whole replay buffer (up to 10^6) for SAC, 50,000 random transitions at step 0, "
             "k = 100, 10 seeds. For a GPU or a cluster.",
}

# Profile fields that follow total_steps when only total_steps is overridden.
_SCHEDULES = {"smoke": _smoke_checkpoints, "cpu": _cpu_checkpoints, "paper": _paper_checkpoints}


# Analysis sample size N of the cpu profile (precise rows), by actor size: PPO on-policy steps, SAC replay
# rows. Per vector per 10,000 rows (2026-11-24, one thread, idle, float64; float32 about 0.45 of it):
# Pendulum PPO actor (4.5k parameters) 43 ms, critic 30 ms; HalfCheetah PPO actor (72k) 294 ms, critic (71k)
# 273 ms; HalfCheetah SAC actor (73k) about 0.5 s, critic (144k) about 0.7 s. So small networks get
# 10,000 (PPO) or 5,000 (SAC) rows and the rest 2,048; halved (down to 1,024) where even the shortest job
# (checkpoints 0 and the end, _cpu_least_steps) would not fit CPU_PLAN_S.
_CPU_SMALL_NETWORK = 20_000  # parameters of the PPO or SAC actor
_CPU_N_PRECISE = {"small": {"ppo": 10_000, "sac": 5_000}, "large": {"ppo": 2_048, "sac": 2_048}}


def _cpu_size(task: Task, algo: str) -> str:
    counts = parameter_counts(task)
    actor = counts.ppo_actor if algo == "ppo" else counts.sac_actor
    return "small" if actor <= _CPU_SMALL_NETWORK else "large"


@functools.lru_cache(maxsize=None)
def _cpu_n_precise(task: Task, algo: str) -> int:
    n = _CPU_N_PRECISE[_cpu_size(task, algo)][algo]
    least = _cpu_least_steps(task, algo)
    while n > 1_024 and (_cpu_train_seconds(task, algo, least) + CPU_EVAL_S
                         + _cpu_analysis_seconds(task, algo, (0, least), n)) > CPU_PLAN_S:
        n = max(1_024, n // 2)
    return n


def _cpu_eval_every(total: int) -> int:
    """About ten evaluations per run (each n_eval_episodes deterministic episodes)."""
    return max(total // 10, 1_000)


def _base_profile(task: Task, algo: str, name: str) -> dict:
    config = algo_config(task, algo)
    if name == "smoke":
        total = _SMOKE_STEPS
        overrides = (("n_steps", 64), ("batch_size", 32), ("n_epochs", 2)) if algo == "ppo" else \
                    (("learning_starts", 64), ("batch_size", 32), ("train_freq", 1), ("gradient_steps", 1))
        return dict(total_steps=total, n_precise=256, n_random=128, sac_minibatch_samples=128, k=5,
                    chunk_size=4096, n_seeds=1, eval_every=total, n_eval_episodes=1,
                    algo_overrides=overrides)
    if name == "cpu":
        total = _cpu_total_steps(task, algo)
        n_precise = _cpu_n_precise(task, algo)
        return dict(total_steps=total, n_precise=n_precise, n_random=min(50_000, n_precise),
                    sac_minibatch_samples=_SAC_MINIBATCH_SAMPLES, k=100, chunk_size=4096, n_seeds=3,
                    eval_every=_cpu_eval_every(total), n_eval_episodes=5)
    total = config.paper_steps
    return dict(total_steps=total, n_precise=1_000_000, n_random=50_000, sac_minibatch_samples=_SAC_MINIBATCH_SAMPLES,
                k=100, chunk_size=4096, n_seeds=10, eval_every=10_000, n_eval_episodes=10)


def get_profile(task: str | Task, algo: str, profile: str | Profile, **overrides) -> Profile:
    """The scale settings of ``profile`` for (task, algo), with fields replaced by ``overrides``.

    Overriding ``total_steps`` alone recomputes ``checkpoint_steps`` (and the smoke/cpu evaluation
    interval) with the profile's rule. Unknown field names raise ValueError listing the fields.
    A ``Profile`` instance is returned as is (with overrides applied).
    """
    if isinstance(profile, Profile):
        return dataclasses.replace(profile, **overrides) if overrides else profile
    task = get_task(task)
    algo = check_algo(algo)
    name = check_profile(profile)
    fields = [f.name for f in dataclasses.fields(Profile) if f.name not in ("name", "notes")]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown profile field(s) {unknown}; valid fields: {', '.join(fields)}")
    values = _base_profile(task, algo, name)
    values.update(overrides)
    total = values["total_steps"]
    if "checkpoint_steps" not in overrides:
        values["checkpoint_steps"] = _SCHEDULES[name](task, algo, total)
    if "total_steps" in overrides and "eval_every" not in overrides and name != "paper":
        values["eval_every"] = total if name == "smoke" else _cpu_eval_every(total)
    values["checkpoint_steps"] = tuple(int(s) for s in values["checkpoint_steps"])
    values["algo_overrides"] = tuple(values.get("algo_overrides", ()))
    return Profile(name=name, notes=_PROFILE_NOTES[name], **values)


# --- parameter counts ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParameterCounts:
    """Trainable parameters of the four analysed networks (SAC critic = both Q-nets, no targets)."""

    ppo_actor: int
    ppo_critic: int
    sac_actor: int
    sac_critic: int


def _mlp(n_in: int, hidden: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, output width) of a stack of Linear layers with biases."""
    count, width = 0, n_in
    for h in hidden:
        count += width * h + h
        width = h
    return count, width


def parameter_counts(task: str | Task) -> ParameterCounts:
    """Closed-form parameter counts of the SB3 networks built for ``task`` (checked in the tests
    against policies actually built).

    PPO actor: MLP + mean layer + log_std (a vector of act_dim; with gSDE a [last x act] matrix).
    PPO critic: MLP + value layer. SAC actor: MLP + mean layer + log_std layer (gSDE: mean layer +
    [last x act] matrix). SAC critic: two Q-nets, each an MLP on (obs, action) + output layer.
    """
    task = get_task(task)
    ppo, sac = task.ppo, task.sac
    o, a = task.obs_dim, task.act_dim
    body, last = _mlp(o, ppo.net_arch)
    ppo_actor = body + last * a + a + (last * a if ppo.use_sde else a)
    vbody, vlast = _mlp(o, ppo.net_arch)
    ppo_critic = vbody + vlast + 1
    body, last = _mlp(o, sac.net_arch)
    sac_actor = body + last * a + a + (last * a if sac.use_sde else last * a + a)
    qbody, qlast = _mlp(o + a, sac.net_arch)
    sac_critic = 2 * (qbody + qlast + 1)
    return ParameterCounts(ppo_actor, ppo_critic, sac_actor, sac_critic)


PARAMETER_COUNT_NOTES = (
    "The paper quotes about 5,000 parameters per PPO network, about 70,000 for the SAC actor and about "
    "140,000 for the SAC critic (both Q-nets): those are the [64,64] PPO and [256,256] SAC networks on a "
    "mid-sized task (HalfCheetah: PPO actor 5,708, critic 5,377; SAC actor 73,484, critic 144,386). "
    "Tasks differ from these round numbers because the counts scale with observation and action sizes "
    "and because several tuned configurations use other widths: PPO [256,256] on HalfCheetah and Hopper "
    "(~70k), PPO [128,128] on FetchReach, Ball_in_cup and Finger-spin (~18k), SAC [400,300] on "
    "LunarLanderContinuous and BipedalWalker (~125k actor, ~250k critic), SAC [128,128] on FetchReach "
    "and Ball_in_cup (~19k actor, ~38k critic). Ant's counts use today's 105-dim observation "
    "(the paper's Ant-v3 had 111)."
)


# --- the `gradsub tasks` table -------------------------------------------------------------------


def _fmt_steps(n: int) -> str:
    if n >= 1_000_000 and n % 10_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def task_rows() -> list[dict[str, str]]:
    """One row per task (column -> text): what ``gradsub tasks`` prints and the book's task table."""
    rows = []
    for task in TASKS.values():
        counts = parameter_counts(task)
        steps = {p: "/".join(_fmt_steps(get_profile(task, algo, p).total_steps) for algo in ALGOS)
                 for p in PROFILES}
        rows.append({
            "task": task.name, "suite": task.suite,
            "env id": task.env_id + "".join(f" {k}={v}" for k, v in task.env_kwargs),
            "obs": str(task.obs_dim), "act": str(task.act_dim),
            "PPO actor": f"{counts.ppo_actor:,}", "PPO critic": f"{counts.ppo_critic:,}",
            "SAC actor": f"{counts.sac_actor:,}", "SAC critic": f"{counts.sac_critic:,}",
            "steps smoke": steps["smoke"].split("/")[0], "steps cpu (ppo/sac)": steps["cpu"],
            "steps paper (ppo/sac)": steps["paper"],
        })
    return rows


def format_task_table() -> str:
    """The text table printed by ``gradsub tasks``: one row per task."""
    rows = task_rows()
    header = list(rows[0])
    cells = [list(r.values()) for r in rows]
    widths = [max(len(c[i]) for c in cells + [header]) for i in range(len(header))]
    numeric = set(range(3, 9))

    def line(values):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(values, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])] + [line(c) for c in cells]
    out.append("")
    out.append("Parameter counts: trainable parameters of the SB3 networks (SAC critic = both Q-nets; "
               "target nets and the entropy coefficient excluded).")
    return "\n".join(out)
