"""Training throughput (env steps/s) of SB3 PPO and SAC, with several training processes side by side.

The cpu profile's plan (``benchmarks/plan_cpu.py``) sizes its training runs from steps/s measured per
task (this script's table, else the plan's ``SHORT_WINDOW_RATES``) and assumes two one-thread jobs share
the machine's two cores. This script measures that situation: for each (task, algo) and each count in
``--parallel`` it starts that many processes at once, each one thread, each building the registry's
model (cpu-profile hyperparameters) and timing ``--steps`` steps of ``learn``: for SAC after its
``learning_starts`` random steps (not timed, as the profile counts them free), for PPO whole rollouts
with their updates. The processes start each timed window together (a barrier), so that the rates are
those of processes side by side, not of one alone while another is still starting. Every process reports
its own rate; the table has one row per process.

With ``--whole-steps S`` each process then runs the job's own training (``agents.train`` at the cpu
profile, to S steps after SAC's warm-up: evaluations at the job's interval, at step 0 and at the end,
checkpoints and the replay buffer saved with them) and reports its rate the way the plan counts it,
steps after the warm-up over the whole wall time; the table's ``window`` column says which ("short" or
"whole"), and ``whole_over_short`` is each process's ratio. ``--profile-whole`` runs process 0's whole
run (of each count) under cProfile and writes its functions with the most own time, and those with the
most cumulative time, beside the table (``<out>.profile.txt``). ``--envs`` measures everything once per
environment setting, in turn, with the setting in the ``env`` column: "" is the inherited environment,
"MALLOC_TRIM_THRESHOLD_=65536" the one Dask's workers give the sweep's notebooks (glibc reads it when a
process starts, so each setting gets new processes). ``--parallel 1 2`` measures one process alone and
then two side by side, in one run: what sharing the machine costs each job.

    python benchmarks/throughput.py --tasks HalfCheetah Finger-spin --algos sac --parallel 2
    python benchmarks/throughput.py --tasks HalfCheetah --algos sac --whole-steps 10000 --profile-whole
    python benchmarks/throughput.py --tasks HalfCheetah --algos sac --envs "" MALLOC_TRIM_THRESHOLD_=65536
    python benchmarks/throughput.py --tasks Swimmer --algos ppo --parallel 1 2 --whole-steps 100000

Writes ``data/benchmarks/throughput.csv`` (or ``--out``) and a ``.json`` sidecar (command, machine,
commit). Run it on an otherwise idle machine: any other process changes the rates.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import multiprocessing
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from gradsub.tasks import ALGOS

ROOT = Path(__file__).resolve().parents[1]
PROFILE_LINES = 40  # functions listed in the profile report, by own and by cumulative time
# Timed steps per process by default: SAC about half a minute; PPO ten or more rollouts of most tasks
# (a window of one rollout lasts 1-3 s, shorter than the processes take to start).
DEFAULT_STEPS = {"ppo": 20_480, "sac": 2_048}

_start_together = None  # the pool's barrier: every process starts a timed window at the same moment


def _join(barrier) -> None:
    global _start_together
    _start_together = barrier


def measure(spec: dict) -> list[dict]:
    """One process: build the task's model and time ``steps`` training steps (the short window), then,
    with ``whole_steps``, the job's own training (``_measure_whole``)."""
    import torch

    from gradsub import agents, envs, profiles, tasks

    torch.set_num_threads(1)
    task, algo, steps = tasks.get_task(spec["task"]), spec["algo"], spec["steps"]
    profile = profiles.get_profile(task, algo, "cpu")
    config = agents.resolve_config(task, algo, profile)
    env = envs.make_vec_env(task, algo, seed=spec["process"])
    try:
        model = agents.build_model(task, algo, config, env, spec["process"],
                                   buffer_size=config.learning_starts + steps if algo == "sac" else None)
        if algo == "sac":
            model.learn(total_timesteps=config.learning_starts)
        # (PPO's learn ends after the rollout and update that reach ``steps``: whole rollouts)
        _start_together.wait()
        start, before = time.perf_counter(), model.num_timesteps
        model.learn(total_timesteps=steps, reset_num_timesteps=False)
        seconds = time.perf_counter() - start
        done = model.num_timesteps - before
    finally:
        env.close()
    short = {**spec, "window": "short", "steps": done, "seconds": seconds, "steps_per_s": done / seconds}
    if not spec.get("whole_steps"):
        return [short]
    return [short, _measure_whole(spec)]


def _measure_whole(spec: dict) -> dict:
    """The job's own training of ``whole_steps`` steps after the warm-up, timed whole (optionally under
    cProfile: its report goes in the row's ``profile_report`` field)."""
    from gradsub import agents, profiles, tasks

    task, algo = tasks.get_task(spec["task"]), spec["algo"]
    job = profiles.get_profile(task, algo, "cpu")
    # evaluations at the job's own interval: a shortened profile would evaluate ten times per run
    profile = profiles.get_profile(task, algo, "cpu", total_steps=tasks.warmup_steps(task, algo) + spec["whole_steps"],
                                   eval_every=job.eval_every)
    profiler = cProfile.Profile() if spec.get("profiled") else None
    with tempfile.TemporaryDirectory() as run_dir:
        _start_together.wait()
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        agents.train(task, algo, profile, spec["process"], run_dir)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - start
    row = {**spec, "window": "whole", "steps": spec["whole_steps"], "seconds": seconds,
           "steps_per_s": spec["whole_steps"] / seconds}
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(PROFILE_LINES)
        stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
        row["profile_report"] = text.getvalue()
    return row


def run(task_names, algos, parallels: tuple[int, ...], steps: int, whole_steps: int = 0, profile: bool = False,
        envs: tuple[str, ...] = ("",)) -> list[dict]:
    """One row per environment setting, process count, process and window (``steps`` 0:
    ``DEFAULT_STEPS``); with ``whole_steps`` the processes run their whole runs side by side right after
    their short windows."""
    rows = []
    context = multiprocessing.get_context("spawn")
    for env, task, algo, parallel in itertools.product(envs, task_names, algos, parallels):
        specs = [{"task": task, "algo": algo, "parallel": parallel, "process": p,
                  "steps": steps or DEFAULT_STEPS[algo], "whole_steps": whole_steps,
                  "profiled": profile and p == 0} for p in range(parallel)]
        with _environment(env), context.Pool(parallel, _join, (context.Barrier(parallel),)) as pool:
            measured = [{**row, "env": env} for rows_of_process in pool.map(measure, specs)
                        for row in rows_of_process]
        rows += measured
        for window in ("short", "whole"):
            rates = ", ".join(f"{r['steps_per_s']:.1f}" for r in measured if r["window"] == window)
            if rates:
                print(f"{task} {algo} {window} [{env or 'inherited env'}]: {rates} steps/s "
                      f"({parallel} side by side)", flush=True)
    return rows


@contextlib.contextmanager
def _environment(setting: str):
    """``setting`` ("NAME=VALUE NAME=VALUE", or "") in os.environ while processes are spawned."""
    pairs = dict(item.split("=", 1) for item in setting.split())
    before = {name: os.environ.get(name) for name in pairs}
    os.environ.update(pairs)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", required=True, help="task names (see `gradsub tasks`)")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--parallel", type=int, nargs="+", default=[2],
                        help="training processes side by side, each count in turn (default 2)")
    parser.add_argument("--steps", type=int, default=0,
                        help=f"timed steps per process (PPO: whole rollouts; default {DEFAULT_STEPS})")
    parser.add_argument("--whole-steps", type=int, default=0,
                        help="then time the job's own training of this many steps after the warm-up (0: none)")
    parser.add_argument("--profile-whole", action="store_true", help="profile process 0's whole run (cProfile)")
    parser.add_argument("--envs", nargs="+", default=[""],
                        help='environment settings measured in turn, each "NAME=VALUE ..." ("" inherits)')
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks" / "throughput.csv")
    args = parser.parse_args(argv)
    if min(args.parallel) < 1 or args.steps < 0 or args.whole_steps < 0:
        parser.error(f"--parallel must be at least 1 and --steps and --whole-steps at least 0 (--steps 0: the "
                     f"default), got {args.parallel}, {args.steps} and {args.whole_steps}")
    if args.profile_whole and not args.whole_steps:
        parser.error("--profile-whole profiles a whole run: give --whole-steps")
    bad = [e for e in args.envs if any("=" not in item for item in e.split())]
    if bad:
        parser.error(f"--envs takes settings of the form NAME=VALUE (space-separated), got {bad}")
    from gradsub import results, tasks

    names = [tasks.get_task(t).name for t in args.tasks]  # unknown names fail here, before any work
    rows = run(names, args.algos, tuple(args.parallel), args.steps, args.whole_steps, args.profile_whole,
               tuple(args.envs))

    import pandas as pd

    reports = [f"# {r['task']} {r['algo']} process {r['process']} of {r['parallel']} "
               f"[{r['env'] or 'inherited env'}]: whole run of "
               f"{r['steps']} steps, by own time, then by cumulative time\n"
               f"{r.pop('profile_report')}" for r in rows if "profile_report" in r]
    frame = pd.DataFrame(rows).drop(columns=["whole_steps"]).assign(machine=results.machine_description())
    process = ["env", "task", "algo", "parallel", "process"]
    short = frame.loc[frame["window"] == "short", process + ["steps_per_s"]].rename(columns={"steps_per_s": "short"})
    frame = frame.merge(short, on=process, how="left")
    frame["whole_over_short"] = (frame["steps_per_s"] / frame.pop("short")).where(frame["window"] == "whole")
    results.write_benchmark(args.out, frame, [str(Path(__file__).relative_to(ROOT)), *argv])
    if reports:
        results.atomic_write_text(Path(args.out).with_suffix(".profile.txt"), "\n".join(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
