"""Where the data come from: the manifest, which runs cover which tasks, what each job cost, versions."""

from __future__ import annotations

import json

import pandas as pd

from gradsub import results, tasks
from gradsub.report.data import RUN

__all__ = ["at_current_settings", "coverage", "job_costs", "job_plans", "manifest_view", "package_versions"]


def at_current_settings(manifest: pd.DataFrame) -> pd.Series:
    """Whether each run's parameters hash is the one its job has under today's registry (a run made
    with an earlier profile, or other settings, is not; the sweep would redo it)."""
    from gradsub.job import Job

    current = [results.params_hash(Job.from_params(json.loads(params)).params()) == stored
               for params, stored in zip(manifest["params"], manifest["params_hash"])]
    return pd.Series(current, index=manifest.index, dtype=bool)


def coverage(manifest: pd.DataFrame) -> pd.DataFrame:
    """Which task x algo has finished runs in ``data/``: one row per registered task and algorithm,
    with how many of them were made at the registry's current settings."""
    ok = manifest[manifest["status"] == "ok"]
    ok = ok.assign(current=at_current_settings(ok))
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            runs = ok[(ok["task"] == name) & (ok["algo"] == algo)]
            rows.append({"task": name, "algo": algo, "runs": len(runs),
                         "at current settings": int(runs["current"].sum()),
                         "profiles": ", ".join(sorted(set(runs["profile"]))) or "-",
                         "seeds": ", ".join(sorted(set(runs["seed"]), key=int)) or "-"})
    return pd.DataFrame(rows)


def manifest_view(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest without its long JSON columns (the file has them)."""
    columns = ["run_id", "status", "params_hash", "git_commit", "finished_utc", "wall_seconds", "machine", "error"]
    view = manifest[columns].copy()
    view["git_commit"] = view["git_commit"].str.slice(0, 12)
    return view


def job_costs(timings: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Minutes per job and stage: training (every session), sampling, eigensolves, full spectra, their
    total, and the wall time of the job's last invocation (the manifest's ``wall_seconds``).

    A job that resumed or reused cached analyses still counts each stage's time when it was done, so
    the stage total is the job's cost, unlike the last invocation's wall time. The stages leave out
    loading checkpoints, gradient fractions, overlaps and writing caches and tables; for a job that
    trained and analysed in one invocation the wall time includes them (it is the whole job).
    """
    columns = ["train_minutes", "samples_minutes", "solve_minutes", "spectrum_minutes"]
    if timings.empty:
        return pd.DataFrame(columns=RUN + columns + ["total_minutes", "last_run_minutes"])
    stage = timings["stage"].str.split("/").str[0]
    minutes = timings.assign(stage=stage).pivot_table(index=RUN, columns="stage", values="seconds",
                                                     aggfunc="sum", fill_value=0.0) / 60
    minutes = minutes.rename(columns=lambda c: f"{c}_minutes").reindex(columns=columns, fill_value=0.0)
    costs = minutes.assign(total_minutes=minutes.sum(axis=1)).rename_axis(columns=None).reset_index()
    # one manifest row per run, read as text
    wall = manifest[RUN + ["wall_seconds"]].astype({"seed": "int64", "wall_seconds": "float64"})
    costs = costs.merge(wall, on=RUN, how="left", validate="one_to_one")
    return costs.assign(last_run_minutes=costs.pop("wall_seconds") / 60).round(1)


def job_plans(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per run: whether it was made at the registry's current settings and, for such ``cpu`` runs, the
    minutes the cpu plan gives its job (``tasks.cpu_job_seconds``; NaN otherwise)."""
    runs = manifest[RUN].astype({"seed": "int64"}).assign(current=at_current_settings(manifest).to_numpy())
    planned = [tasks.cpu_job_seconds(task, algo) / 60 if profile == "cpu" and current else float("nan")
               for task, algo, profile, current in runs[["task", "algo", "profile", "current"]].itertuples(index=False)]
    return runs.assign(planned_minutes=planned).round(1)


def package_versions(manifest: pd.DataFrame) -> pd.DataFrame:
    """Package versions recorded with the runs: one row per package, one column per distinct set."""
    sets = sorted(set(manifest["packages"]))
    if not sets:
        return pd.DataFrame(columns=["package"])
    frames = {f"set {i + 1}": pd.Series(json.loads(s)) for i, s in enumerate(sets)}
    return pd.DataFrame(frames).rename_axis("package").reset_index()
