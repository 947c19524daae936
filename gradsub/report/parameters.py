"""The registry (``gradsub.tasks``) as the tables of the parameters page."""

from __future__ import annotations

import dataclasses

import pandas as pd

from gradsub import profiles, tasks
from gradsub.plots import steps_label

__all__ = ["checkpoint_text", "hyperparameters", "profiles_table", "task_table"]


def task_table() -> pd.DataFrame:
    """The task registry as printed by ``gradsub tasks``."""
    return pd.DataFrame(profiles.task_rows())


def hyperparameters(algo: str) -> pd.DataFrame:
    """One row per task: the paper's hyperparameters for ``algo`` as used here (gradsub.tasks)."""
    rows = []
    for name in tasks.TASKS:
        config = dataclasses.asdict(tasks.algo_config(name, algo))
        config.pop("source", None)
        rows.append({"task": name, **config})
    return pd.DataFrame(rows)


def profiles_table() -> pd.DataFrame:
    """Steps, checkpoints, sample sizes, k and the solver's tolerance of every profile, task and
    algorithm, and the minutes the table profiles plan for each job (``profiles.planned_minutes``)."""
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            for profile in [p for p in profiles.PROFILES if profiles.defines(name, algo, p)]:
                p = profiles.get_profile(name, algo, profile)
                steps = p.checkpoint_steps
                rows.append({"task": name, "algo": algo, "profile": profile, "total_steps": p.total_steps,
                             "checkpoints": len(steps),
                             "checkpoint steps": checkpoint_text(steps),
                             "n_precise": p.n_precise, "k": p.k, "tol": p.tol, "seeds": p.n_seeds,
                             "planned minutes": profiles.planned_minutes(name, algo, profile),
                             "why": getattr(profiles.table_row(name, algo, profile), "reason", "")})
    return pd.DataFrame(rows)


def checkpoint_text(steps) -> str:
    """Checkpoint steps in full and short: "0, 10k, 100k, 350k", or, where they end in a regular run of
    at least four, "0, 10k, 50k, then every 50k to 3M"."""
    steps = list(steps)
    labels = [steps_label(s) for s in steps]
    for i in range(len(steps) - 3):
        gaps = {b - a for a, b in zip(steps[i:], steps[i + 1:])}
        if len(gaps) == 1:
            return ", ".join(labels[:i + 1]) + f", then every {steps_label(gaps.pop())} to {labels[-1]}"
    return ", ".join(labels)
