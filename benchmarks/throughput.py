"""Training throughput (env steps/s) of SB3 PPO and SAC, with several training processes side by side.

The cpu profile's plan (``benchmarks/plan_cpu.py``) sizes its training runs from steps/s measured per
task (this script's table, else the plan's ``SHORT_WINDOW_RATES``) and assumes two one-thread jobs share
the machine's two cores. This script measures that situation:
for each (task, algo) it starts ``--parallel`` processes at once, each one thread, each building the
registry's model (cpu-profile hyperparameters) and timing ``--steps`` steps of ``learn``: for SAC after
its ``learning_starts`` random steps (not timed, as the profile counts them free), for PPO whole
rollouts with their updates. Every process reports its own rate; the table has one row per process.

A short window overstates whole runs (the rate falls as a run goes on), so the plan multiplies it by
``WHOLE_RUN``, the whole-run share measured in a clean two-job sweep. Use this script to compare
machines and settings.

    python benchmarks/throughput.py --tasks HalfCheetah Finger-spin --algos sac --parallel 2

Writes ``data/benchmarks/throughput.csv`` (or ``--out``) and a ``.json`` sidecar (command, machine,
commit). Run it on an otherwise idle machine: any other process changes the rates.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

from gradsub.tasks import ALGOS

ROOT = Path(__file__).resolve().parents[1]


def measure(spec: dict) -> dict:
    """One process: build the task's model and time ``steps`` training steps."""
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
        start, before = time.perf_counter(), model.num_timesteps
        model.learn(total_timesteps=steps, reset_num_timesteps=False)
        seconds = time.perf_counter() - start
        done = model.num_timesteps - before
    finally:
        env.close()
    return {**spec, "steps": done, "seconds": seconds, "steps_per_s": done / seconds}


def run(task_names, algos, parallel: int, steps: int) -> list[dict]:
    rows = []
    context = multiprocessing.get_context("spawn")
    for task in task_names:
        for algo in algos:
            specs = [{"task": task, "algo": algo, "parallel": parallel, "process": p, "steps": steps}
                     for p in range(parallel)]
            with context.Pool(parallel) as pool:
                measured = pool.map(measure, specs)
            rows += measured
            rates = ", ".join(f"{r['steps_per_s']:.1f}" for r in measured)
            print(f"{task} {algo}: {rates} steps/s ({parallel} side by side)", flush=True)
    return rows


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", required=True, help="task names (see `gradsub tasks`)")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--parallel", type=int, default=2, help="training processes side by side (default 2)")
    parser.add_argument("--steps", type=int, default=2048, help="timed steps per process (PPO: whole rollouts)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks" / "throughput.csv")
    args = parser.parse_args(argv)
    if args.parallel < 1 or args.steps < 1:
        parser.error(f"--parallel and --steps must be at least 1, got {args.parallel} and {args.steps}")
    from gradsub import results, tasks

    names = [tasks.get_task(t).name for t in args.tasks]  # unknown names fail here, before any work
    rows = run(names, args.algos, args.parallel, args.steps)

    import pandas as pd

    frame = pd.DataFrame(rows).assign(machine=results.machine_description())
    results.write_benchmark(args.out, frame, [str(Path(__file__).relative_to(ROOT)), *argv])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
