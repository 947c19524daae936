"""The task registry: the single source of truth for the 12 tasks and their hyperparameters.

Every task of the paper (Section 4) with today's environment and its PPO and SAC hyperparameters (the
paper's appendix, stable-baselines3 names). How much of the experiment a job does (its scale profile)
is ``gradsub.profiles``.

Names are matched case-insensitively (``get_task("halfcheetah")``); an unknown task or algorithm
raises ``ValueError`` listing the valid values. This module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "ALGOS",
    "SUITES",
    "TASKS",
    "PPOConfig",
    "SACConfig",
    "Task",
    "ParameterCounts",
    "check_algo",
    "get_task",
    "algo_config",
    "parameter_counts",
]

ALGOS = ("ppo", "sac")
SUITES = ("dm_control", "mujoco", "classic", "box2d", "robotics")


# --- hyperparameters ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (stable-baselines3 names; defaults: the paper's appendix, "PPO defaults").

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
    source: str = "the paper's appendix, PPO table (rl-baselines3-zoo tuned values)"


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters (stable-baselines3 names; defaults: the paper's appendix, "SAC defaults").

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
    source: str = "the paper's appendix, SAC table (rl-baselines3-zoo tuned values)"


# VecNormalize settings wherever PPO normalises (the paper's appendix).
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


_PPO_ZOO = "the paper's appendix, PPO table (rl-baselines3-zoo values); net [256,256] ReLU, " \
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


def algo_config(task: str | Task, algo: str) -> PPOConfig | SACConfig:
    """The task's PPO or SAC hyperparameters."""
    task = get_task(task)
    return task.ppo if check_algo(algo) == "ppo" else task.sac


def warmup_steps(task: str | Task, algo: str) -> int:
    """Steps that update nothing: SAC's random warm-up (``learning_starts``; it steps the env, nearly
    free), none for PPO. Training rates count the steps after it."""
    return algo_config(task, algo).learning_starts if check_algo(algo) == "sac" else 0


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
