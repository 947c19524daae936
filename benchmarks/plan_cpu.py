"""Propose the ``cpu`` profile's table from measured costs: one row per (task, algo).

The package's ``cpu`` profile is a literal table (``gradsub.profiles.CPU_TABLE``) that changes only
by a reviewed commit. This script is the cost model that proposes it: for each job it picks the
precise sample size N, the checkpoints and the training steps that fit the budget, and prints the
rows as Python to paste into ``gradsub/profiles.py``, with each job's planned minutes and the mean.

Budget (``gradsub.profiles.CPU_JOB_MAX_MINUTES`` and ``CPU_MEAN_MINUTES``): each job is planned to
``PLAN_MIN``; a job whose shortest form (checkpoints 0 and the end, the least steps) does not fit that
plan gets its shortest form, and the script names every job over the maximum. The mean over all jobs
is printed.

Inputs, all measured, read from ``data/benchmarks/plan_inputs.csv`` (``--measure`` writes it from the
committed tables, with the commit of the data it read; ``measure`` says how each number is made):
- training steps/s: ``data/benchmarks/throughput.csv`` (``benchmarks/throughput.py``) where it has
  the (task, algo), else ``SHORT_WINDOW_RATES``; times ``WHOLE_RUN``, the share of the short-window
  rate a whole two-job sweep reached;
- a checkpoint's analysis: Hessian-vector products per solve (the committed runs' ``solver_stats``)
  times the share of products the profile's tolerance needs (``data/results/sample_size``) times
  seconds per product, linear in rows and parameters (our solver's cold rows of
  ``data/benchmarks/eigensolver.csv``); PPO's on-policy samples cost their env steps at the training rate;
- the dense spectra of small networks: n products on their rows.

The sample sizes are decisions, not measurements: ``N_PRECISE`` (see its comment).

    python benchmarks/plan_cpu.py                # the proposed table and its plan
    python benchmarks/plan_cpu.py --check        # exit 1 if gradsub.profiles' tables differ
    python benchmarks/plan_cpu.py --measure      # rewrite the inputs from data/ (then review the table)
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np
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

# Precise sample size N (decisions, from the scale page's conclusions), the largest candidate whose job
# keeps MIN_CHECKPOINTS checkpoints within the plan (fewer would leave no S_frac over training and no
# overlap from a t1), else the last:
# - PPO: 10^5 rows, the smallest N whose cross-fitted S_frac at k = 100 stays within 0.05 of the 10^6
#   value (Pendulum's actor and critic); else 10^4 (at 2,048 rows a [256, 256] network's top-100
#   subspace shares less than half of the 10^4 one);
# - SAC: 8 x the 2,048 mini-batch Hessian rows, so that precise and mini-batch estimates differ and C5
#   can be tested for SAC (the SAC actor's S_frac and top-100 subspace are within 0.05 and 0.9 of the
#   whole buffer's from 10^4 rows).
N_CANDIDATES = {"ppo": (100_000, 10_000), "sac": (8 * profiles.SAC_MINIBATCH_SAMPLES,)}
MIN_CHECKPOINTS = 4
# t1 values of the paper's overlap figures, in the order checkpoints are added: 100k first (Figure 3's
# t1), then the early phase, then the rest.
T1_PRIORITY = (100_000, 10_000, 50_000, 200_000, 500_000, 1_000_000)


# The plan reads its measured inputs from this table, not from the growing data: the committed tables
# stay the plan of the committed inputs while new runs land (``--measure`` rewrites it, a reviewed change).
INPUTS = DATA / "benchmarks" / "plan_inputs.csv"
INPUT_COLUMNS = ["quantity", "task", "algo", "network", "checkpoint", "tol", "value"]


def measure(data: Path) -> pd.DataFrame:
    """The plan's inputs measured from the tables under ``data``, one row per number (``INPUT_COLUMNS``):
    - ``rate``: short-window training steps/s per (task, algo);
    - ``seconds_per_product_row`` (checkpoint "slope" per graph parameter, "intercept"): seconds of one
      Hessian-vector product per row = slope x parameters in its graph + intercept, a least-squares fit
      to our solver's cold solves in the eigensolver benchmark;
    - ``tolerance_share`` per (algo, tol): the most products a solve at tol needs as a share of one at
      the paper's tolerance, over the scale grid's tolerance cells;
    - ``solve_products`` per (algo, network, first or later checkpoint): the most products one solve of
      the committed runs took at the paper's tolerance (a run solved at a looser one counts its products
      over that tolerance's share; the first checkpoint is solved cold, later ones warm-started)."""
    rows = [{"quantity": "rate", "task": task, "algo": algo, "value": value}
            for (task, algo), value in _measured_rates(data).items()]
    slope, intercept = _product_seconds(data)
    rows += [{"quantity": "seconds_per_product_row", "checkpoint": "slope", "value": slope},
             {"quantity": "seconds_per_product_row", "checkpoint": "intercept", "value": intercept}]
    shares = _tolerance_shares(data)
    rows += [{"quantity": "tolerance_share", "algo": algo, "tol": tol, "value": value}
             for (algo, tol), value in shares.items()]
    rows += [{"quantity": "solve_products", "algo": algo, "network": network,
              "checkpoint": "first" if first else "later", "value": value}
             for (algo, network, first), value in _solve_products(data, shares).items()]
    return pd.DataFrame(rows).reindex(columns=INPUT_COLUMNS)


def _measured_rates(data: Path) -> dict[tuple[str, str], float]:
    rates = dict(SHORT_WINDOW_RATES)
    path = data / "benchmarks" / "throughput.csv"
    if path.exists():
        frame = pd.read_csv(path)
        frame = frame[frame["parallel"] == 2]  # two jobs side by side, as the sweep runs them
        if "window" in frame:  # the short window, in the inherited environment
            inherited = frame["env"].astype(object).fillna("") == "" if "env" in frame else True
            frame = frame[(frame["window"] == "short") & inherited]
        for (task, algo), group in frame.groupby(["task", "algo"]):
            rates[(task, algo)] = float(group["steps_per_s"].min())
    return rates


def _product_seconds(data: Path) -> tuple[float, float]:
    bench = pd.read_csv(data / "benchmarks" / "eigensolver.csv")
    ours = bench[(bench["method"] == "block cold") & (bench["status"] == "ok")]
    per_row = ours["seconds"] / ours["n_products"] / ours["n_samples"]
    graph = [_graph_params(r.task, r.algo, r.network) for r in ours.itertuples()]
    slope, intercept = np.polyfit(np.asarray(graph, float), per_row.to_numpy(), 1)
    return float(slope), float(intercept)


def _tolerance_shares(data: Path) -> dict[tuple[str, float], float]:
    grid = results.read_table(data, "sample_size")
    grid = grid[grid["gradient_sample"] == "same"].drop_duplicates(["algo", "task", "step", "network", "n_samples", "tol"])
    keys = ["algo", "task", "step", "network", "n_samples"]
    ref = grid[np.isclose(grid["tol"], profiles.PAPER_TOL)].set_index(keys)["n_products"]
    shares = {}
    for tol in sorted(set(grid["tol"]) - {profiles.PAPER_TOL}):
        share = (grid[np.isclose(grid["tol"], tol)].set_index(keys)["n_products"] / ref).dropna()
        shares.update({(algo, float(tol)): value for algo, value in share.groupby(level="algo").max().items()})
    return shares


def _solve_products(data: Path, shares) -> dict[tuple[str, str, bool], float]:
    stats = results.read_table(data, "solver_stats")
    manifest = results.read_manifest(data)
    tol = {(r.task, r.algo, int(r.seed), r.profile): json.loads(r.params).get("analysis", {}).get("tol", profiles.PAPER_TOL)
           for r in manifest.itertuples()}
    run_tol = [tol.get((r.task, r.algo, int(r.seed), r.profile), profiles.PAPER_TOL) for r in stats.itertuples()]
    share = [1.0 if np.isclose(t, profiles.PAPER_TOL) else shares[(algo, float(t))] for t, algo in zip(run_tol, stats["algo"])]
    stats = stats.assign(first=stats["step"] == 0, n_products=stats["n_products"] / np.asarray(share))
    return stats.groupby(["algo", "network", "first"])["n_products"].max().to_dict()


@functools.lru_cache(maxsize=None)
def inputs() -> pd.DataFrame:
    if not INPUTS.exists():
        raise FileNotFoundError(f"{INPUTS} is missing: run `python benchmarks/plan_cpu.py --measure`")
    return pd.read_csv(INPUTS, dtype={"task": str, "algo": str, "network": str, "checkpoint": str})


def _inputs(quantity: str) -> pd.DataFrame:
    return inputs()[inputs()["quantity"] == quantity]


@functools.lru_cache(maxsize=None)
def measured_rates() -> dict[tuple[str, str], float]:
    return {(r.task, r.algo): r.value for r in _inputs("rate").itertuples()}


@functools.lru_cache(maxsize=None)
def product_seconds() -> tuple[float, float]:
    """(slope, intercept) of the seconds of one product per row against the parameters in its graph."""
    fit = _inputs("seconds_per_product_row").set_index("checkpoint")["value"]
    return float(fit["slope"]), float(fit["intercept"])


@functools.lru_cache(maxsize=None)
def tolerance_share(tol: float) -> dict[str, float]:
    shares = _inputs("tolerance_share")
    return {r.algo: r.value for r in shares[np.isclose(shares["tol"], tol)].itertuples()}


@functools.lru_cache(maxsize=None)
def solve_products() -> dict[tuple[str, str, bool], float]:
    return {(r.algo, r.network, r.checkpoint == "first"): r.value for r in _inputs("solve_products").itertuples()}


def _graph_params(task, algo, network) -> int:
    """Parameters the network's loss differentiates through: SAC's actor loss runs through the critic."""
    counts = tasks.parameter_counts(task)
    if algo == "ppo":
        return counts.ppo_actor if network == "actor" else counts.ppo_critic
    return counts.sac_actor + counts.sac_critic if network == "actor" else counts.sac_critic


def _params(task, algo) -> tuple[int, int]:
    counts = tasks.parameter_counts(task)
    return (counts.ppo_actor, counts.ppo_critic) if algo == "ppo" else (counts.sac_actor, counts.sac_critic)


def _minibatch_rows(task, algo) -> int:
    return tasks.algo_config(task, algo).n_steps if algo == "ppo" else profiles.SAC_MINIBATCH_SAMPLES


def least_steps(task, algo, n: int) -> int:
    """The shortest run: 10k steps after SAC's warm-up or PPO's first rollout (rounded up to 10k), and
    for SAC at least ``first_analysable``."""
    before = tasks.warmup_steps(task, algo) if algo == "sac" else tasks.algo_config(task, algo).n_steps
    return max(-(-before // 10_000) * 10_000 + 10_000, -(-first_analysable(task, algo, n) // 10_000) * 10_000)


def first_analysable(task, algo, n: int) -> int:
    """The first step after 0 that may be analysed. SAC: past learning_starts (SB3 has updated
    nothing before: such a checkpoint repeats step 0's parameters) and with 2N rows in the buffer, so
    that an independent sample of N rows gives the cross-fitted S_frac."""
    return max(tasks.warmup_steps(task, algo) + 1, 2 * n) if algo == "sac" else 1


def train_minutes(task, algo, total: int) -> float:
    rate = measured_rates()[(task.name, algo)] * WHOLE_RUN
    return max(0, total - tasks.warmup_steps(task, algo)) / rate / 60


def analysis_minutes(task, algo, checkpoints: tuple[int, ...], n: int, tol: float) -> float:
    """The analyses of ``checkpoints`` at N = n: per checkpoint, each network's precise Hessian on n
    rows and its mini-batch Hessian, solved at ``tol``; PPO's on-policy rows (the precise, the
    independent and the mini-batch sample) collected at the training rate; the dense spectra of small
    networks at the last checkpoint."""
    a, b = product_seconds()
    share = tolerance_share(tol)[algo]
    rows = n + _minibatch_rows(task, algo)
    seconds = 0.0
    for step in checkpoints:
        for network in ("actor", "critic"):
            products = solve_products()[(algo, network, step == 0)] * share
            seconds += products * rows * (a * _graph_params(task, algo, network) + b)
        if algo == "ppo":
            seconds += (2 * n + _minibatch_rows(task, algo)) / measured_rates()[(task.name, algo)]
    settings = AnalysisSettings()
    spectrum_rows = min(settings.spectrum_rows, n)
    seconds += sum(p * spectrum_rows * (a * _graph_params(task, algo, network) + b)
                   for network, p in zip(("actor", "critic"), _params(task, algo)) if p <= settings.dense_max_params)
    return seconds / 60


def checkpoints(task, algo, total: int, n: int) -> tuple[int, ...]:
    """0, the end, then the paper's t1 values below 80 % of ``total`` (in ``T1_PRIORITY`` order) while
    the analyses fit; a midpoint when no t1 value lies there; none before ``first_analysable``."""
    budget = max(ANALYSIS_MIN, PLAN_MIN - EVAL_MIN - train_minutes(task, algo, total))
    first = first_analysable(task, algo, n)
    candidates = [s for s in T1_PRIORITY if first <= s < total * 0.8]
    middle = int(round(total / 2 / 10_000)) * 10_000
    if not candidates and first <= middle < total:
        candidates.append(middle)
    steps = [0, total]
    for step in candidates:
        if analysis_minutes(task, algo, tuple(sorted(steps + [step])), n, profiles.TABLE_TOL) <= budget:
            steps.append(step)
    return tuple(sorted(steps))


def job_minutes(task, algo, total: int, n: int) -> float:
    return (train_minutes(task, algo, total) + EVAL_MIN
            + analysis_minutes(task, algo, checkpoints(task, algo, total, n), n, profiles.TABLE_TOL))


def propose(task, algo) -> tuple[profiles.ScaleRow, float]:
    """The row for (task, algo) and its planned minutes: N the first of ``N_CANDIDATES`` whose job
    keeps ``MIN_CHECKPOINTS`` checkpoints, the most training steps that fit the plan at that N."""
    task = tasks.get_task(task)
    paper = tasks.algo_config(task, algo).paper_steps
    for n in N_CANDIDATES[algo]:
        least = min(paper, least_steps(task, algo, n))
        fits = [t for t in range(least, paper + 1, 10_000) if job_minutes(task, algo, t, n) <= PLAN_MIN]
        total = max(fits, default=least)
        steps = checkpoints(task, algo, total, n)
        if len(steps) >= MIN_CHECKPOINTS:
            break
    minutes = job_minutes(task, algo, total, n)
    reason = (f"{len(steps)} checkpoints and {total:,} of the paper's {paper:,} steps fit "
              f"{PLAN_MIN:g} min" if fits else
              f"the shortest job (checkpoints 0 and {total:,}) plans {minutes:.0f} min, over the "
              f"{PLAN_MIN:g}-min plan")
    largest = N_CANDIDATES[algo][0]
    n_why = ("N = 8 x the mini-batch Hessian's rows" if algo == "sac" else
             f"N = {n:,}" + ("" if n == largest else
                             f" (at {largest:,}, the scale page's N, fewer than {MIN_CHECKPOINTS} checkpoints fit)"))
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
    n = profiles.table_row(task, algo, "cpu").n_precise
    minutes = (train_minutes(task, algo, total) + EVAL_MIN
               + analysis_minutes(task, algo, steps, n, profiles.TABLE_TOL))
    return profiles.ScaleRow(total_steps=total, checkpoint_steps=steps, n_precise=n, eval_every=total // 30,
                             planned_minutes=round(minutes, 1),
                             reason=f"the depth slice: {total:,} steps (the paper: "
                                    f"{tasks.algo_config(task, algo).paper_steps:,}); checkpoints at the paper's t1 "
                                    f"values; N as in cpu; {minutes / 60:.1f} h, resumable across sessions")


def _literal(name: str, rows: dict) -> str:
    """The table as Python for ``gradsub/profiles.py``: a row's numbers on one line, its reason on one
    line per clause."""
    out = [f"{name}: dict[tuple[str, str], ScaleRow] = {{"]
    for (task, algo), row in rows.items():
        out.append(f"    ({task!r}, {algo!r}): ScaleRow(")
        out.append(f"        {row.total_steps:_}, {row.checkpoint_steps!r}, {row.n_precise:_}, {row.eval_every:_}, "
                   f"{row.planned_minutes},")
        clauses = row.reason.split("; ")
        out += [f"        {clause + '; ' if i < len(clauses) - 1 else clause!r}" for i, clause in enumerate(clauses)]
        out[-1] += "),"
    return "\n".join(out + ["}"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with gradsub.profiles.CPU_TABLE")
    parser.add_argument("--measure", action="store_true",
                        help=f"measure the inputs from --data-dir's tables and write {INPUTS.relative_to(ROOT)}")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="the data --measure reads (default: data)")
    args = parser.parse_args(argv)
    if args.measure:
        results.write_benchmark(INPUTS, measure(args.data_dir), [str(Path(__file__).relative_to(ROOT)), *argv],
                                float_format=None, data_commit=results.checkout_commit(args.data_dir))
        print(f"wrote {INPUTS} from {args.data_dir}")
        return 0
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
