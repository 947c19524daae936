"""The registry (``gradsub.tasks``) as the tables of the parameters page."""

from __future__ import annotations

import dataclasses

import pandas as pd

from gradsub import tasks

__all__ = ["hyperparameters", "profiles_table", "task_table"]


def task_table() -> pd.DataFrame:
    """The task registry as printed by ``gradsub tasks``."""
    return pd.DataFrame(tasks.task_rows())


def hyperparameters(algo: str) -> pd.DataFrame:
    """One row per task: the paper's hyperparameters for ``algo`` as used here (gradsub.tasks)."""
    rows = []
    for name in tasks.TASKS:
        config = dataclasses.asdict(tasks.algo_config(name, algo))
        config.pop("source", None)
        rows.append({"task": name, **config})
    return pd.DataFrame(rows)


def profiles_table() -> pd.DataFrame:
    """Steps, checkpoints, sample sizes and k of every profile, task and algorithm, and the minutes the
    cpu plan gives each cpu job (``tasks.cpu_job_seconds``)."""
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            for profile in tasks.PROFILES:
                p = tasks.get_profile(name, algo, profile)
                steps = p.checkpoint_steps
                rows.append({"task": name, "algo": algo, "profile": profile, "total_steps": p.total_steps,
                             "checkpoints": len(steps),
                             "first checkpoints": ", ".join(f"{s:,}" for s in steps[:4])
                             + (", ..." if len(steps) > 4 else ""),
                             "n_precise": p.n_precise, "k": p.k, "seeds": p.n_seeds,
                             "planned minutes": round(tasks.cpu_job_seconds(name, algo) / 60, 1)
                             if profile == "cpu" else float("nan")})
    return pd.DataFrame(rows)
