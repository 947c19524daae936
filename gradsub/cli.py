"""The ``gradsub`` command: tasks, run, sweep, scale."""

from __future__ import annotations

import argparse
import ast
import sys

from gradsub import NETWORKS

__all__ = ["main"]


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    from gradsub.lanczos import DEFAULT_METHOD, METHODS, SCALABLE_METHODS
    from gradsub.profiles import PROFILES

    parser.add_argument("--profile", required=True, help=f"scale profile: {', '.join(PROFILES)}")
    parser.add_argument("--data-dir", default="data", help="where tables and the manifest go (default: data)")
    parser.add_argument("--artifacts-dir", default="artifacts",
                        help="checkpoints, eigenvector caches, executed notebooks (default: artifacts)")
    methods = ", ".join(f"{name} ({METHODS[name].summary})" for name in SCALABLE_METHODS)
    parser.add_argument("--method", default=DEFAULT_METHOD,
                        help=f"eigensolver: {methods}; default: {DEFAULT_METHOD}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=_override,
                        metavar="FIELD=VALUE",
                        help="replace a field of the profile for this job, e.g. --set k=20 --set "
                             "checkpoint_steps=[0,5000]; VALUE is a Python literal (repeatable)")


def _override(text: str) -> tuple[str, object]:
    """One ``--set FIELD=VALUE``: VALUE read as a Python literal, a bare word as a string. Job.create
    checks the field's name and value."""
    field, sep, value = text.partition("=")
    if not sep or not field.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, e.g. k=20, got {text!r}")
    try:
        return field.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return field.strip(), value.strip()


def _job_arguments(args: argparse.Namespace) -> dict:
    """The arguments of ``Job.create`` besides task, algo and seed, the same for run and sweep."""
    return dict(profile=args.profile, data_dir=args.data_dir, artifacts_dir=args.artifacts_dir,
                method=args.method, **dict(args.overrides))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradsub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("tasks", help="print the task registry: envs, dimensions, parameter counts, steps")

    run = commands.add_parser("run", help="train (or resume) and analyse one task/algo/seed")
    run.add_argument("--task", required=True, help="task name (see `gradsub tasks`)")
    run.add_argument("--algo", required=True, help="ppo or sac")
    run.add_argument("--seed", type=int, required=True, help="training seed (>= 0)")
    _add_job_arguments(run)

    sweep = commands.add_parser("sweep", help="run many jobs as papermill notebooks on Dask")
    sweep.add_argument("--tasks", nargs="+", help="task names (default: all)")
    sweep.add_argument("--algos", nargs="+", help="ppo and/or sac (default: both)")
    sweep.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the profile's n_seeds)")
    sweep.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default: 2)")
    sweep.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    _add_job_arguments(sweep)

    scale = commands.add_parser("scale", help="the scale-validation grid: S_frac, subspaces and cost against N "
                                              "and the solver tolerance (resumable)")
    scale.add_argument("--runs", nargs="+", help="runs of the grid (default: all; see gradsub.scale.SCALE_RUNS)")
    scale.add_argument("--data-dir", default="data", help="where the table and the manifest go (default: data)")
    scale.add_argument("--artifacts-dir", default="artifacts",
                       help="checkpoints, row pools and solved cells (default: artifacts)")
    scale.add_argument("--write-only", action="store_true",
                       help="rewrite the tables from the cells solved so far, solving nothing")
    scale.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS),
                       help="solve only these networks' cells (two processes can share a run; default: both)")

    args = parser.parse_args(argv)
    try:
        if args.command == "tasks":
            from gradsub.profiles import format_task_table

            print(format_task_table())
        elif args.command == "run":
            from gradsub.job import Job, run_job

            job = Job.create(args.task, args.algo, args.seed, **_job_arguments(args))
            tables = run_job(job, progress=None)
            print(f"{job.key.run_id}: wrote " + ", ".join(f"{t} ({len(f)} rows)" for t, f in tables.items()))
        elif args.command == "sweep":
            from gradsub import sweep as sweeps

            jobs = sweeps.plan(task_names=args.tasks, algos=args.algos, seeds=args.seeds,
                               **_job_arguments(args))
            summary = sweeps.sweep(jobs, workers=args.workers, scheduler=args.scheduler)
            print(summary.drop(columns="notebook").to_string(index=False))
            return 0 if (summary["status"] != "failed").all() else 1
        elif args.command == "scale":
            from gradsub import scale as grid

            runs = [grid.get_run(name) for name in args.runs] if args.runs else grid.SCALE_RUNS
            table = grid.run_grid(runs, data_dir=args.data_dir, artifacts_dir=args.artifacts_dir,
                                  solve=not args.write_only, networks=args.networks)
            print(f"sample_size: {len(table)} rows for {len(runs)} run(s)")
    except ValueError as err:
        print(f"gradsub: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
