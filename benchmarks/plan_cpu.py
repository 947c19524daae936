"""Propose the ``cpu`` profile's table from measured costs: one row per (task, algo).

The package's ``cpu`` profile is a literal table (``gradsub.profiles.CPU_TABLE``) that changes only
by a reviewed commit. This script is the cost model that proposes it: for each job it picks the
precise sample size N, the checkpoints and the training steps that fit the budget, and prints the
rows as Python to paste into ``gradsub/profiles.py``, with each job's planned minutes and the mean.

Budget (``gradsub.profiles.CPU_JOB_MAX_MINUTES`` and ``CPU_MEAN_MINUTES``): each job is planned to
``PLAN_MIN``; a job whose shortest form (checkpoints 0 and the end, the least steps) does not fit that
plan gets its shortest form, and the script names every job over the maximum. The mean over all jobs
is printed.

Inputs, all measured (the comments say where):
- training steps/s: ``data/benchmarks/throughput.csv`` (``benchmarks/throughput.py``) where it has
  the (task, algo), else ``SHORT_WINDOW_RATES``; times ``WHOLE_RUN``, the share of the short-window
  rate a whole two-job sweep reached;
- a checkpoint's analysis: the committed runs' ``timings`` at their own N (``data/results/timings``),
  scaled linearly in rows; else minutes per 10^9 (parameters x rows) of the dearest measured job;
- the dense spectra of small networks: minutes per 10^12 (n^2 x rows).

The sample sizes are decisions, not measurements: ``N_PRECISE`` (see its comment).

    python benchmarks/plan_cpu.py                # the proposed table and its plan
    python benchmarks/plan_cpu.py --check        # exit 1 if gradsub.profiles' tables differ
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import pandas as pd

from gradsub import profiles, results, tasks
from gradsub.analysis import AnalysisSettings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

JOB_MAX_MIN = profiles.CPU_JOB_MAX_MINUTES
PLAN_MIN = profiles.CPU_MEAN_MINUTES - 1  # a minute's margin below the mean the budget allows
EVAL_MIN = 2.0  # evaluations, checkpoint saves and loading (1-2 min per job in the measured sweeps)
ANALYSIS_MIN = 27.0  # checkpoints are added while their analyses fit this (or what training leaves)

# Short-window training steps/s (agents.build_model + learn, one thread, about one core each: two jobs
# side by side), measured per task before data/benchmarks/throughput.csv existed; PPO: two rollouts of
# min(n_steps, 2048) steps with their updates; SAC: 640 steps after learning_starts. A row of
# throughput.csv for the (task, algo) replaces its value here.
SHORT_WINDOW_RATES: dict[tuple[str, str], float] = {
    ("Finger-spin", "ppo"): 1720.0, ("Ball_in_cup", "ppo"): 679.7, ("Ant", "ppo"): 998.0,
    ("HalfCheetah", "ppo"): 750.9, ("Hopper", "ppo"): 1111.7, ("Walker2D", "ppo"): 656.1,
    ("Swimmer", "ppo"): 2070.9, ("Reacher", "ppo"): 1500.8, ("Pendulum", "ppo"): 1700.6,
    ("LunarLanderContinuous", "ppo"): 2313.9, ("BipedalWalker", "ppo"): 941.7, ("FetchReach", "ppo"): 677.2,
    ("Finger-spin", "sac"): 102.8, ("Ball_in_cup", "sac"): 142.7, ("Ant", "sac"): 59.0,
    ("HalfCheetah", "sac"): 60.2, ("Hopper", "sac"): 68.2, ("Walker2D", "sac"): 41.4,
    ("Swimmer", "sac"): 71.1, ("Reacher", "sac"): 76.5, ("Pendulum", "sac"): 63.4,
    ("LunarLanderContinuous", "sac"): 45.8, ("BipedalWalker", "sac"): 37.6, ("FetchReach", "sac"): 162.9,
}
# Whole-run rate over the short-window rate, two cpu jobs side by side on the idle machine (a clean
# two-job SAC sweep of HalfCheetah and Finger-spin: 0.67 and 0.55, the lower kept).
WHOLE_RUN = 0.55
# Minutes per 10^9 (parameters of actor and critic) x (rows of the precise and mini-batch Hessians) of
# one checkpoint (first, later), the dearest of the committed jobs: for tasks without committed timings.
MIN_PER_GIGA = {"ppo": (17.0, 17.0), "sac": (13.9, 8.7)}
SPECTRUM_MIN_PER_TERA = 28.0  # a dense spectrum: Pendulum PPO 5.6 min for 4,545 parameters, 10^4 rows

# Precise sample size N (decisions). PPO: 10^4 on-policy rows for networks up to 20k parameters, 2,048
# above (10^4 would cost five times the analysis the budget allows there). SAC: 8 x the 2,048 mini-batch
# Hessian rows, so that precise and mini-batch estimates differ and C5 can be tested for SAC (or the
# whole buffer where it holds fewer rows).
SMALL_NETWORK = 20_000
N_PRECISE = {"small": {"ppo": 10_000, "sac": 8 * profiles.SAC_MINIBATCH_SAMPLES},
             "large": {"ppo": 2_048, "sac": 8 * profiles.SAC_MINIBATCH_SAMPLES}}
# t1 values of the paper's overlap figures, in the order checkpoints are added: 100k first (Figure 3's
# t1), then the early phase, then the rest.
T1_PRIORITY = (100_000, 10_000, 50_000, 200_000, 500_000, 1_000_000)


@functools.lru_cache(maxsize=None)
def measured_rates() -> dict[tuple[str, str], float]:
    rates = dict(SHORT_WINDOW_RATES)
    path = DATA / "benchmarks" / "throughput.csv"
    if path.exists():
        frame = pd.read_csv(path)
        for (task, algo), group in frame.groupby(["task", "algo"]):
            rates[(task, algo)] = float(group["steps_per_s"].min())
    return rates


@functools.lru_cache(maxsize=None)
def checkpoint_minutes() -> dict[tuple[str, str], tuple[float, float, int]]:
    """(first, later, N) minutes of one checkpoint's analysis per committed cpu job, without spectra."""
    timings = results.read_table(DATA, "timings")
    manifest = results.read_manifest(DATA)
    n_of = {(r.task, r.algo): int(json.loads(r.params)["settings"]["n_precise"])
            for r in manifest.itertuples() if r.profile == "cpu" and r.status == "ok"}
    out = {}
    stages = timings[(timings["profile"] == "cpu") & (timings["step"] >= 0)
                     & ~timings["stage"].str.startswith("spectrum")]
    for (task, algo), group in stages.groupby(["task", "algo"]):
        per_step = group.groupby("step")["seconds"].sum() / 60
        if (task, algo) in n_of and len(per_step) > 1:
            out[(task, algo)] = (float(per_step.iloc[0]), float(per_step.iloc[1:].max()), n_of[(task, algo)])
    return out


def _params(task, algo) -> tuple[int, int]:
    counts = tasks.parameter_counts(task)
    return (counts.ppo_actor, counts.ppo_critic) if algo == "ppo" else (counts.sac_actor, counts.sac_critic)


def _minibatch_rows(task, algo) -> int:
    return tasks.algo_config(task, algo).n_steps if algo == "ppo" else profiles.SAC_MINIBATCH_SAMPLES


def n_precise(task, algo) -> int:
    actor = _params(task, algo)[0]
    return N_PRECISE["small" if actor <= SMALL_NETWORK else "large"][algo]


def free_steps(task, algo) -> int:
    """SAC's random warm-up (learning_starts): it steps the env, nearly free, and updates nothing."""
    return tasks.algo_config(task, algo).learning_starts if algo == "sac" else 0


def least_steps(task, algo) -> int:
    """The shortest run: 10k steps after SAC's warm-up or PPO's first rollout (rounded up to 10k)."""
    before = free_steps(task, algo) if algo == "sac" else tasks.algo_config(task, algo).n_steps
    return -(-before // 10_000) * 10_000 + 10_000


def train_minutes(task, algo, total: int) -> float:
    rate = measured_rates()[(task.name, algo)] * WHOLE_RUN
    return max(0, total - free_steps(task, algo)) / rate / 60


def analysis_minutes(task, algo, checkpoints: tuple[int, ...], n: int) -> float:
    """The analyses of ``checkpoints`` at N = n: committed timings scaled in rows (an independent
    precise sample doubles the PPO rollouts, a small part of the cost), else the per-size model; plus
    the dense spectra of small networks at the last checkpoint."""
    params = _params(task, algo)
    rows = n + _minibatch_rows(task, algo)
    measured = checkpoint_minutes().get((task.name, algo))
    if measured is not None:
        first, later, n_then = measured
        scale = rows / (n_then + _minibatch_rows(task, algo))
        first, later = first * scale, later * scale
    else:
        work = sum(params) * rows / 1e9
        first, later = (rate * work for rate in MIN_PER_GIGA[algo])
    minutes = first + later * (len(checkpoints) - 1)
    settings = AnalysisSettings()
    spectrum_rows = min(settings.spectrum_rows, n)
    minutes += sum(SPECTRUM_MIN_PER_TERA * p * p * spectrum_rows / 1e12 for p in params
                   if p <= settings.dense_max_params)
    return minutes


def checkpoints(task, algo, total: int, n: int) -> tuple[int, ...]:
    """0, the end, then the paper's t1 values below 80 % of ``total`` (in ``T1_PRIORITY`` order) while
    the analyses fit; a midpoint when no t1 value lies there. SAC skips steps up to learning_starts:
    SB3 has updated nothing there, so such a checkpoint repeats step 0's parameters."""
    budget = max(ANALYSIS_MIN, PLAN_MIN - EVAL_MIN - train_minutes(task, algo, total))
    first = free_steps(task, algo)
    candidates = [s for s in T1_PRIORITY if first < s < total * 0.8]
    middle = int(round(total / 2 / 10_000)) * 10_000
    if not candidates and first < middle < total:
        candidates.append(middle)
    steps = [0, total]
    for step in candidates:
        if analysis_minutes(task, algo, tuple(sorted(steps + [step])), n) <= budget:
            steps.append(step)
    return tuple(sorted(steps))


def job_minutes(task, algo, total: int, n: int) -> float:
    return (train_minutes(task, algo, total) + EVAL_MIN
            + analysis_minutes(task, algo, checkpoints(task, algo, total, n), n))


def propose(task, algo) -> tuple[profiles.ScaleRow, float]:
    """The row for (task, algo) and its planned minutes."""
    task = tasks.get_task(task)
    n = n_precise(task, algo)
    paper = tasks.algo_config(task, algo).paper_steps
    least = min(paper, least_steps(task, algo))
    fits = [t for t in range(least, paper + 1, 10_000) if job_minutes(task, algo, t, n) <= PLAN_MIN]
    total = max(fits, default=least)
    minutes = job_minutes(task, algo, total, n)
    steps = checkpoints(task, algo, total, n)
    reason = (f"{len(steps)} checkpoints and {total:,} of the paper's {paper:,} steps fit "
              f"{PLAN_MIN:g} min" if fits else
              f"the shortest job (checkpoints 0 and {total:,}) plans {minutes:.0f} min, over the "
              f"{PLAN_MIN:g}-min plan")
    n_why = ("N = 8 x the mini-batch Hessian's rows" if algo == "sac" else
             f"N = {n:,} rows for a network of {_params(task, algo)[0]:,} parameters")
    row = profiles.ScaleRow(total_steps=total, checkpoint_steps=steps, n_precise=n,
                            eval_every=max(total // 10, 1_000), planned_minutes=round(minutes, 1),
                            reason=f"{n_why}; {reason}")
    return row, minutes


# The long profile's decisions (training steps, checkpoints): SAC to 300k steps with the paper's t1 =
# 100k and 200k, on a Gym MuJoCo and a DeepMind Control task; a PPO task to the paper's 3M steps.
LONG_RUNS = {
    ("HalfCheetah", "sac"): (300_000, (0, 100_000, 200_000, 300_000)),
    ("Finger-spin", "sac"): (300_000, (0, 100_000, 200_000, 300_000)),
    ("Walker2D", "ppo"): (3_000_000, (0, 10_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 3_000_000)),
}


def propose_long(task, algo) -> profiles.ScaleRow:
    """The long row: its decided steps and checkpoints at the cpu N, with the planned minutes."""
    task = tasks.get_task(task)
    total, steps = LONG_RUNS[(task.name, algo)]
    n = n_precise(task, algo)
    minutes = train_minutes(task, algo, total) + EVAL_MIN + analysis_minutes(task, algo, steps, n)
    return profiles.ScaleRow(total_steps=total, checkpoint_steps=steps, n_precise=n, eval_every=total // 30,
                             planned_minutes=round(minutes, 1),
                             reason=f"the depth slice: {total:,} steps (the paper: "
                                    f"{tasks.algo_config(task, algo).paper_steps:,}), checkpoints at the paper's t1 "
                                    f"values, N as in cpu; {minutes / 60:.1f} h, resumable across sessions")


def _literal(name: str, rows: dict) -> str:
    out = [f"{name}: dict[tuple[str, str], ScaleRow] = {{"]
    for (task, algo), row in rows.items():
        out.append(f"    ({task!r}, {algo!r}): ScaleRow({row.total_steps:_}, {row.checkpoint_steps!r}, "
                   f"{row.n_precise:_}, {row.eval_every:_}, {row.planned_minutes},\n        {row.reason!r}),")
    return "\n".join(out + ["}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with gradsub.profiles.CPU_TABLE")
    args = parser.parse_args(argv)
    rows, plan = {}, []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            row, minutes = propose(name, algo)
            if minutes > JOB_MAX_MIN:
                print(f"{name} {algo}: planned {minutes:.0f} min, over the {JOB_MAX_MIN:g}-min limit",
                      file=sys.stderr)
            rows[(name, algo)] = row
            plan.append({"task": name, "algo": algo, "total_steps": row.total_steps, "n_precise": row.n_precise,
                         "checkpoints": len(row.checkpoint_steps), "planned_minutes": row.planned_minutes})
    frame = pd.DataFrame(plan)
    long_rows = {key: propose_long(*key) for key in LONG_RUNS}
    if args.check:
        differ = [("cpu", key) for key, row in rows.items() if profiles.CPU_TABLE.get(key) != row]
        differ += [("long", key) for key, row in long_rows.items() if profiles.LONG_TABLE.get(key) != row]
        print(f"{len(differ)} row(s) differ from gradsub.profiles: {differ}" if differ else
              "gradsub.profiles.CPU_TABLE and LONG_TABLE are the proposed tables")
        return 1 if differ else 0
    print(_literal("CPU_TABLE", rows))
    print()
    print(_literal("LONG_TABLE", long_rows))
    print(frame.to_string(index=False), file=sys.stderr)
    print(f"mean planned minutes over {len(frame)} jobs: {frame['planned_minutes'].mean():.1f}; "
          f"most: {frame['planned_minutes'].max():.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
