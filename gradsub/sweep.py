"""Many jobs as papermill executions of ``notebooks/experiment.ipynb`` on Dask.

A LocalCluster (one single-threaded worker process per job slot) by default; any running Dask
scheduler when given its address, for example one started on a Slurm cluster with dask-jobqueue::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="12:00:00")
    cluster.scale(jobs=40)
    print(cluster.scheduler_address)   # pass to: gradsub sweep --scheduler tcp://...

Workers need the repository (for the notebook template) and the package installed, and must see
the same data and artifacts folders (a shared file system). Jobs whose parameters hash already
finished ``ok`` in the manifest are skipped; a failing job is recorded with its error (unless the
manifest holds a finished run of it, whose row and tables stay) and the others go on; each executed
notebook is kept under ``<artifacts>/notebooks/``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gradsub import profiles, results, tasks
from gradsub.job import Job, _now

__all__ = ["TEMPLATE", "notebook_parameters", "plan", "sweep"]

TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "experiment.ipynb"


def plan(profile: str, *, task_names: Sequence[str] | None = None, algos: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, data_dir="data", artifacts_dir="artifacts",
         method: str = "block", **overrides) -> list[Job]:
    """The validated job matrix task x algo x seed (every parameter checked before any compute).

    Defaults: all tasks, both algorithms, and the profile's number of seeds (0, 1, ...). Where tasks or
    algorithms are left to their defaults, a table profile's pairs without a row are left out (the
    ``long`` profile has a few); pairs named in full must have one (``profiles.table_row``'s error).
    """
    profile = profiles.check_profile(profile)
    named = bool(task_names) and bool(algos)
    task_names = list(task_names) if task_names else list(tasks.TASKS)
    algos = list(algos) if algos else list(tasks.ALGOS)
    pairs = [(t, a) for t, a in itertools.product(task_names, algos) if named or profiles.defines(t, a, profile)]
    if not pairs:
        raise ValueError(f"the {profile} profile has no row for any of tasks {task_names} and algorithms {algos}")
    jobs = []
    for task, algo in pairs:
        job_seeds = seeds if seeds else range(profiles.get_profile(task, algo, profile).n_seeds)
        for seed in job_seeds:
            jobs.append(Job.create(task, algo, seed, profile, data_dir=data_dir,
                                   artifacts_dir=artifacts_dir, method=method, **overrides))
    return jobs


def _finished(job: Job) -> bool:
    manifest = results.read_manifest(job.data_dir)
    done = manifest[(manifest["run_id"] == job.key.run_id) & (manifest["status"] == "ok")]
    return bool((done["params_hash"] == results.params_hash(job.params())).any())


def notebook_parameters(job: Job) -> dict:
    """The template's parameters for ``job``: the arguments of ``Job.create`` that make it again.

    As JSON values: papermill writes a tuple as its string, a list as a list, and both hash alike in
    ``results.params_hash``, so the notebook's job has the parameters hash of ``job``.
    """
    return json.loads(json.dumps({
        "task": job.task, "algo": job.algo, "seed": job.seed, "profile": job.profile,
        "data_dir": str(job.data_dir.resolve()), "artifacts_dir": str(job.artifacts_dir.resolve()),
        "method": job.method, "overrides": dict(job.overrides),
    }))


# Dask's workers set MALLOC_TRIM_THRESHOLD_ to 64 KiB for themselves (distributed's pre-spawn-environ); a
# notebook's kernel would inherit it, and glibc would then hand freed memory back to the OS at every
# large free, which slows the kernel's PyTorch training (benchmarks/throughput.py --envs measures it).
# Kernels get glibc's default.
KERNEL_ENV_DROPPED = ("MALLOC_TRIM_THRESHOLD_",)


def execute(job: Job, template: Path = TEMPLATE) -> dict:
    """Run one job as a papermill execution of ``template``; never raises (errors are returned)."""
    import papermill

    for name in KERNEL_ENV_DROPPED:  # the kernel inherits this process's environment
        os.environ.pop(name, None)

    output = job.artifacts_dir / "notebooks" / f"{job.key.run_id}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(str(template), str(output), parameters=notebook_parameters(job),
                                   progress_bar=False)
        status, error = "ok", ""
    except Exception as err:  # a failed job is recorded; the sweep goes on
        status, error = "failed", "".join(traceback.format_exception_only(err)).strip()
        results.record_run(job.data_dir, job.key, job.params(), wall_seconds=time.perf_counter() - started,
                           status="failed", error=error, finished_utc=_now())
    return {"run_id": job.key.run_id, "status": status, "minutes": (time.perf_counter() - started) / 60,
            "notebook": str(output), "error": error[-300:]}


def sweep(jobs: Sequence[Job], *, workers: int = 2, scheduler: str | None = None,
          template: Path = TEMPLATE) -> pd.DataFrame:
    """Run ``jobs`` on Dask and return the summary (run_id, status, minutes, notebook, error).

    status is ``skipped`` for a job already finished with the same parameters hash.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    summary = [{"run_id": j.key.run_id, "status": "skipped", "minutes": 0.0, "notebook": "", "error": ""}
               for j in jobs if _finished(j)]
    todo = [j for j in jobs if not _finished(j)]
    if todo:
        cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1,
                                                      processes=True, dashboard_address=None)
        with Client(scheduler or cluster) as client:
            futures = [client.submit(execute, job, template, key=f"job-{job.key.run_id}", pure=False)
                       for job in todo]
            for future in as_completed(futures):
                row = future.result()
                summary.append(row)
                print(f"{row['status']:>7}  {row['run_id']}  {row['minutes']:.1f} min", flush=True)
        if cluster is not None:
            cluster.close()
    frame = pd.DataFrame(summary, columns=["run_id", "status", "minutes", "notebook", "error"])
    return frame.sort_values("run_id", kind="mergesort").reset_index(drop=True)

