"""The scale profiles as literal tables of decisions: looking one up computes nothing.

- ``smoke``: seconds, for tests (a few hundred steps, tiny samples, shrunken algorithm settings).
- ``cpu``: the book's data on the 2-core machine, two one-thread jobs at a time. One row per (task,
  algo) in ``CPU_TABLE``, each with its reason; ``benchmarks/plan_cpu.py`` proposes the rows from
  measured costs and a reviewed commit adopts them.
- ``long``: a depth slice towards the paper's training length for a few (task, algo) (``LONG_TABLE``):
  does the ``cpu`` answer hold at length?
- ``paper``: the paper's scale (its steps; checkpoints 0, 10k and every 50k; N = 10^6 on-policy steps
  for PPO, the whole replay buffer for SAC; 10 seeds), for a GPU or a cluster.

A (task, algo) with no row in a table profile is refused with an error that names the missing row.
Names are matched case-insensitively; an unknown profile raises ``ValueError`` listing the valid ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gradsub import tasks

__all__ = ["PROFILES", "SAC_MINIBATCH_SAMPLES", "PAPER_TOL", "TABLE_TOL", "TABLE_PROFILES", "Profile", "ScaleRow", "CPU_TABLE",
           "LONG_TABLE", "CPU_JOB_MAX_MINUTES", "CPU_MEAN_MINUTES", "check_profile", "defines", "get_profile",
           "table_row", "planned_minutes", "task_rows", "format_task_table"]

PROFILES = ("smoke", "cpu", "long", "paper")
# SAC's mini-batch data: 2048 // batch_size mini-batches of batch_size rows (the paper, Section 4).
SAC_MINIBATCH_SAMPLES = 2048
# The cpu profile's budget, two one-thread jobs side by side on the 2-core machine: each job at most
# an hour, and 45 minutes on average over the (task, algo) jobs, so that a seed of all 24 takes a night.
CPU_JOB_MAX_MINUTES = 60
CPU_MEAN_MINUTES = 45
# The eigensolver's relative residual: the paper's eigsh tol of 1e-4 (its appendix) for smoke and paper;
# 1e-2 for the table profiles, where the scale page measures S_frac within 1e-5 of tol 1e-4 and the
# top-100 subspaces overlapping by more than 0.9999, for a fifth to two fifths fewer products.
PAPER_TOL = 1e-4
TABLE_TOL = 1e-2


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much of the paper's experiment one (task, algo, seed) job does.

    total_steps: environment steps of training.
    checkpoint_steps: steps at which the agent is saved and analysed (sorted, from 0 to total_steps).
    n_precise: size of the "precise" sample (the paper, Section 4): PPO = fresh on-policy steps N; SAC = the most
        replay-buffer rows used (uniform subsample, with the run's seed, if the buffer holds more).
    n_random: SAC at step 0 (empty buffer): random-action transitions used instead (the paper: 50,000;
        twice N here, so that an independent sample of N rows exists beside the precise one).
    sac_minibatch_samples: SAC mini-batch data = sac_minibatch_samples // batch_size mini-batches
        (paper 2048). PPO's mini-batch data is one fresh rollout of the agent's n_steps.
    k: number of top Hessian eigenvectors (the paper: 100).
    tol: relative residual the eigensolver aims for.
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
    tol: float
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
        if not 0 < self.tol < 1:
            raise ValueError(f"profile field tol must lie in (0, 1), got {self.tol}")


@dataclasses.dataclass(frozen=True)
class ScaleRow:
    """One (task, algo) row of a table profile: training steps, the analysed checkpoints, the precise
    sample size N, the evaluation interval, the job's wall minutes as planned from measured costs
    (two jobs side by side; ``benchmarks/plan_cpu.py``), and why."""

    total_steps: int
    checkpoint_steps: tuple[int, ...]
    n_precise: int
    eval_every: int
    planned_minutes: float
    reason: str


_SMOKE_STEPS = 256
_SMOKE = {"ppo": dict(n_precise=256, algo_overrides=(("n_steps", 64), ("batch_size", 32), ("n_epochs", 2))),
          # 96 rows: the smoke buffer (255 rows at the end, 2 x 96 random ones at step 0) holds an
          # independent sample of the same size beside the precise one
          "sac": dict(n_precise=96, algo_overrides=(("learning_starts", 64), ("batch_size", 32), ("train_freq", 1),
                                                    ("gradient_steps", 1)))}

# Proposed by `python benchmarks/plan_cpu.py` (which also checks it: --check).
CPU_TABLE: dict[tuple[str, str], ScaleRow] = {
    ('Finger-spin', 'ppo'): ScaleRow(
        1_000_000, (0, 10000, 50000, 100000, 200000, 500000, 1000000), 10_000, 100_000, 34.2,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "7 checkpoints and 1,000,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Finger-spin', 'sac'): ScaleRow(
        50_000, (0, 50000), 16_384, 5_000, 42.8,
        "N = 8 x the mini-batch Hessian's rows; "
        "2 checkpoints and 50,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Ball_in_cup', 'ppo'): ScaleRow(
        610_000, (0, 10000, 50000, 100000, 200000, 610000), 10_000, 61_000, 43.8,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 610,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Ball_in_cup', 'sac'): ScaleRow(
        130_000, (0, 50000, 100000, 130000), 16_384, 13_000, 43.8,
        "N = 8 x the mini-batch Hessian's rows; "
        "4 checkpoints and 130,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Ant', 'ppo'): ScaleRow(
        1_010_000, (0, 10000, 50000, 100000, 200000, 500000, 1010000), 10_000, 101_000, 43.9,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "7 checkpoints and 1,010,000 of the paper's 3,000,000 steps fit 44 min"),
    ('Ant', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 54.7,
        "N = 8 x the mini-batch Hessian's rows; "
        'the shortest job (checkpoints 0 and 40,000) plans 55 min, over the 44-min plan'),
    ('HalfCheetah', 'ppo'): ScaleRow(
        440_000, (0, 10000, 50000, 100000, 200000, 440000), 10_000, 44_000, 43.7,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 440,000 of the paper's 3,000,000 steps fit 44 min"),
    ('HalfCheetah', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 43.5,
        "N = 8 x the mini-batch Hessian's rows; "
        "2 checkpoints and 40,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Hopper', 'ppo'): ScaleRow(
        650_000, (0, 10000, 50000, 100000, 200000, 650000), 10_000, 65_000, 43.8,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 650,000 of the paper's 1,500,000 steps fit 44 min"),
    ('Hopper', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 43.1,
        "N = 8 x the mini-batch Hessian's rows; "
        "2 checkpoints and 40,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Walker2D', 'ppo'): ScaleRow(
        610_000, (0, 10000, 50000, 100000, 200000, 610000), 10_000, 61_000, 43.9,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 610,000 of the paper's 3,000,000 steps fit 44 min"),
    ('Walker2D', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 52.6,
        "N = 8 x the mini-batch Hessian's rows; "
        'the shortest job (checkpoints 0 and 40,000) plans 53 min, over the 44-min plan'),
    ('Swimmer', 'ppo'): ScaleRow(
        1_000_000, (0, 10000, 50000, 100000, 200000, 500000, 1000000), 10_000, 100_000, 30.2,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "7 checkpoints and 1,000,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Swimmer', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 42.1,
        "N = 8 x the mini-batch Hessian's rows; "
        "2 checkpoints and 40,000 of the paper's 1,000,000 steps fit 44 min"),
    ('Reacher', 'ppo'): ScaleRow(
        500_000, (0, 10000, 50000, 100000, 200000, 500000), 10_000, 50_000, 23.1,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 500,000 of the paper's 500,000 steps fit 44 min"),
    ('Reacher', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 41.4,
        "N = 8 x the mini-batch Hessian's rows; "
        "2 checkpoints and 40,000 of the paper's 500,000 steps fit 44 min"),
    ('Pendulum', 'ppo'): ScaleRow(
        300_000, (0, 10000, 50000, 100000, 200000, 300000), 10_000, 30_000, 20.5,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 300,000 of the paper's 300,000 steps fit 44 min"),
    ('Pendulum', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 44.6,
        "N = 8 x the mini-batch Hessian's rows; "
        'the shortest job (checkpoints 0 and 40,000) plans 45 min, over the 44-min plan'),
    ('LunarLanderContinuous', 'ppo'): ScaleRow(
        1_000_000, (0, 10000, 50000, 100000, 200000, 500000, 1000000), 10_000, 100_000, 35.6,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "7 checkpoints and 1,000,000 of the paper's 1,000,000 steps fit 44 min"),
    ('LunarLanderContinuous', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 70.0,
        "N = 8 x the mini-batch Hessian's rows; "
        'the shortest job (checkpoints 0 and 40,000) plans 70 min, over the 44-min plan'),
    ('BipedalWalker', 'ppo'): ScaleRow(
        530_000, (0, 100000, 530000), 10_000, 53_000, 43.8,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "3 checkpoints and 530,000 of the paper's 3,000,000 steps fit 44 min"),
    ('BipedalWalker', 'sac'): ScaleRow(
        40_000, (0, 40000), 16_384, 4_000, 77.1,
        "N = 8 x the mini-batch Hessian's rows; "
        'the shortest job (checkpoints 0 and 40,000) plans 77 min, over the 44-min plan'),
    ('FetchReach', 'ppo'): ScaleRow(
        500_000, (0, 10000, 50000, 100000, 200000, 500000), 10_000, 50_000, 39.4,
        "N = 10,000 (at 100,000, the scale page's N, fewer than 4 checkpoints fit); "
        "6 checkpoints and 500,000 of the paper's 500,000 steps fit 44 min"),
    ('FetchReach', 'sac'): ScaleRow(
        140_000, (0, 50000, 100000, 140000), 16_384, 14_000, 43.5,
        "N = 8 x the mini-batch Hessian's rows; "
        "4 checkpoints and 140,000 of the paper's 500,000 steps fit 44 min"),
}

LONG_TABLE: dict[tuple[str, str], ScaleRow] = {
    ('HalfCheetah', 'sac'): ScaleRow(
        300_000, (0, 100000, 200000, 300000), 16_384, 10_000, 181.2,
        'the depth slice: 300,000 steps (the paper: 1,000,000); '
        "checkpoints at the paper's t1 values; "
        'N as in cpu; '
        '3.0 h, resumable across sessions'),
    ('Finger-spin', 'sac'): ScaleRow(
        300_000, (0, 100000, 200000, 300000), 16_384, 10_000, 136.3,
        'the depth slice: 300,000 steps (the paper: 1,000,000); '
        "checkpoints at the paper's t1 values; "
        'N as in cpu; '
        '2.3 h, resumable across sessions'),
    ('Walker2D', 'ppo'): ScaleRow(
        3_000_000, (0, 10000, 100000, 200000, 500000, 1000000, 2000000, 3000000), 10_000, 100_000, 157.0,
        'the depth slice: 3,000,000 steps (the paper: 3,000,000); '
        "checkpoints at the paper's t1 values; "
        'N as in cpu; '
        '2.6 h, resumable across sessions'),
}

_NOTES = {
    "smoke": "For tests: a few hundred steps, checkpoints at 0 and the end, tiny samples; PPO's n_steps "
             "and SAC's learning_starts/batch are shrunk so that an update happens.",
    "cpu": "The book's data on the 2-core machine, two one-thread jobs side by side: each job at most an "
           "hour, 45 min on average, as planned by benchmarks/plan_cpu.py from measured costs; every row "
           "says why (gradsub.profiles.CPU_TABLE). k = 100, the paper's 2048 SAC mini-batch samples, "
           "3 seeds.",
    "long": "A depth slice at or towards the paper's training length (gradsub.profiles.LONG_TABLE): SAC to "
            "300k steps or more with checkpoints at 100k and 200k, a PPO task to the paper's steps; one seed.",
    "paper": "The paper's scale: its steps, checkpoints 0, 10k and every 50k, N = 10^6 on-policy steps "
             "for PPO, the whole replay buffer (up to 10^6) for SAC, 50,000 random transitions at step 0, "
             "k = 100, 10 seeds. For a GPU or a cluster.",
}
_TABLES = {"cpu": CPU_TABLE, "long": LONG_TABLE}
TABLE_PROFILES = tuple(_TABLES)  # the profiles whose jobs are rows of a literal table


def check_profile(profile: str) -> str:
    """The canonical profile name; ValueError listing ``PROFILES`` otherwise."""
    value = str(profile).lower()
    if value not in PROFILES:
        raise ValueError(f"unknown profile; valid profiles: {', '.join(PROFILES)} (got {profile!r})")
    return value


def defines(task: str | tasks.Task, algo: str, profile: str) -> bool:
    """Whether ``profile`` has settings for (task, algo): always, except where a table has no row."""
    name = check_profile(profile)
    return name not in _TABLES or (tasks.get_task(task).name, tasks.check_algo(algo)) in _TABLES[name]


def table_row(task: str | tasks.Task, algo: str, profile: str) -> ScaleRow | None:
    """The job's row in a table profile (None for smoke and paper, which are rules)."""
    name = check_profile(profile)
    return _row(name, tasks.get_task(task), tasks.check_algo(algo)) if name in _TABLES else None


def planned_minutes(task: str | tasks.Task, algo: str, profile: str) -> float | None:
    """The planned wall minutes of the job in a table profile's row (None for smoke and paper)."""
    row = table_row(task, algo, profile)
    return None if row is None else row.planned_minutes


def _paper_checkpoints(total: int) -> tuple[int, ...]:
    """0, 10k, then every 50k, and the final step (the paper, Section 4)."""
    steps = [0, 10_000] + list(range(50_000, total, 50_000))
    return tuple(sorted({s for s in steps if s < total} | {total}))


def _row(name: str, task: tasks.Task, algo: str) -> ScaleRow:
    table = _TABLES[name]
    row = table.get((task.name, algo))
    if row is None:
        have = sorted({t for t, _ in table})
        raise ValueError(
            f"the {name} profile has no row for ({task.name!r}, {algo!r}): add one to "
            f"gradsub.profiles.{name.upper()}_TABLE" + (" (`python benchmarks/plan_cpu.py` proposes it)"
                                                       if name == "cpu" else "")
            + f"; it has rows for {', '.join(have) or 'no task'}")
    return row


def _base(task: tasks.Task, algo: str, name: str) -> dict:
    if name == "smoke":
        return dict(total_steps=_SMOKE_STEPS, checkpoint_steps=(0, _SMOKE_STEPS), n_random=2 * _SMOKE[algo]["n_precise"],
                    sac_minibatch_samples=128, k=5, tol=PAPER_TOL, chunk_size=4096, n_seeds=1, eval_every=_SMOKE_STEPS,
                    n_eval_episodes=1, **_SMOKE[algo])
    if name == "paper":
        total = tasks.algo_config(task, algo).paper_steps
        return dict(total_steps=total, checkpoint_steps=_paper_checkpoints(total), n_precise=1_000_000,
                    n_random=50_000, sac_minibatch_samples=SAC_MINIBATCH_SAMPLES, k=100, tol=PAPER_TOL,
                    chunk_size=4096, n_seeds=10, eval_every=10_000, n_eval_episodes=10)
    row = _row(name, task, algo)
    return dict(total_steps=row.total_steps, checkpoint_steps=row.checkpoint_steps, n_precise=row.n_precise,
                n_random=2 * row.n_precise, sac_minibatch_samples=SAC_MINIBATCH_SAMPLES, k=100, tol=TABLE_TOL,
                chunk_size=4096,
                n_seeds=3 if name == "cpu" else 1, eval_every=row.eval_every, n_eval_episodes=5)


def get_profile(task: str | tasks.Task, algo: str, profile: str | Profile, **overrides) -> Profile:
    """The scale settings of ``profile`` for (task, algo), with fields replaced by ``overrides``.

    Overriding ``total_steps`` alone keeps the profile's checkpoints below it and adds the new end
    (the paper profile: its schedule up to the new end), and sets about ten evaluations. Unknown field
    names raise ValueError listing the fields. A ``Profile`` instance is returned as is (with
    overrides applied).
    """
    if isinstance(profile, Profile):
        return dataclasses.replace(profile, **overrides) if overrides else profile
    task = tasks.get_task(task)
    algo = tasks.check_algo(algo)
    name = check_profile(profile)
    fields = [f.name for f in dataclasses.fields(Profile) if f.name not in ("name", "notes")]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown profile field(s) {unknown}; valid fields: {', '.join(fields)}")
    values = _base(task, algo, name)
    if "total_steps" in overrides:
        total = int(overrides["total_steps"])
        values["checkpoint_steps"] = (_paper_checkpoints(total) if name == "paper" else
                                      tuple(s for s in values["checkpoint_steps"] if s < total) + (total,))
        if name != "paper":
            values["eval_every"] = max(total // 10, 1) if name != "smoke" else total
    values.update(overrides)
    values["checkpoint_steps"] = tuple(int(s) for s in values["checkpoint_steps"])
    values["algo_overrides"] = tuple(values.get("algo_overrides", ()))
    return Profile(name=name, notes=_NOTES[name], **values)




def _fmt_steps(n: int) -> str:
    if n >= 1_000_000 and n % 10_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def task_rows() -> list[dict[str, str]]:
    """One row per task (column -> text): what ``gradsub tasks`` prints and the book's task table."""
    rows = []
    for task in tasks.TASKS.values():
        counts = tasks.parameter_counts(task)
        steps = {p: "/".join(_fmt_steps(get_profile(task, algo, p).total_steps) if defines(task, algo, p) else "-"
                             for algo in tasks.ALGOS) for p in PROFILES}
        rows.append({
            "task": task.name, "suite": task.suite,
            "env id": task.env_id + "".join(f" {k}={v}" for k, v in task.env_kwargs),
            "obs": str(task.obs_dim), "act": str(task.act_dim),
            "PPO actor": f"{counts.ppo_actor:,}", "PPO critic": f"{counts.ppo_critic:,}",
            "SAC actor": f"{counts.sac_actor:,}", "SAC critic": f"{counts.sac_critic:,}",
            "steps smoke": steps["smoke"].split("/")[0], "steps cpu (ppo/sac)": steps["cpu"],
            "steps long (ppo/sac)": steps["long"], "steps paper (ppo/sac)": steps["paper"],
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
