"""The per-task book pages: generated from ``templates/task_page.md`` and the registry, and their data."""

from __future__ import annotations

import dataclasses
import string
from importlib import resources
from pathlib import Path

import pandas as pd

from gradsub import results, tasks
from gradsub.report import provenance

__all__ = ["TaskPage", "task_page", "task_slug", "write_task_pages"]


def task_slug(name: str) -> str:
    return name.lower().replace("-", "_")


def task_page(name: str) -> str:
    """The MyST notebook of one task's book page (``python -m gradsub.report`` writes them all)."""
    task = tasks.get_task(name)
    template = string.Template(resources.files("gradsub.report").joinpath("templates/task_page.md").read_text())
    return template.substitute(name=task.name, slug=task_slug(task.name), env_id=task.env_id, suite=task.suite,
                               paper_env=task.paper_env)


@dataclasses.dataclass(frozen=True)
class TaskPage:
    """The data of one task's book page."""

    task: str
    tables: dict

    @classmethod
    def load(cls, name: str, folder: Path | None = None) -> "TaskPage":
        tables = provenance.book_tables(folder)
        name = tasks.get_task(name).name
        return cls(name, {t: f[f["task"] == name] for t, f in tables.items()})

    @property
    def coverage(self) -> str:
        """What the page's figures rest on (``provenance.evidence_line``)."""
        return provenance.evidence_line(self.tables["gradient_subspace_fraction"], self.tables["solver_stats"])

    def rows(self, table: str, algo: str) -> pd.DataFrame:
        frame = self.tables[table]
        return frame[frame["algo"] == algo]

    def hyperparameters(self) -> pd.DataFrame:
        """One row per hyperparameter, one column per algorithm (empty where it has none)."""
        rows = {}
        for algo in tasks.ALGOS:
            config = dataclasses.asdict(tasks.algo_config(self.task, algo))
            config.pop("source", None)
            rows[algo] = pd.Series(config, dtype=object)
        return pd.DataFrame(rows).fillna("").rename_axis("parameter").reset_index()


def write_task_pages(folder: Path) -> list[Path]:
    """Write every registered task's page into ``folder``; returns the paths written."""
    paths = []
    for name in tasks.TASKS:
        path = folder / f"{task_slug(name)}.md"
        results.atomic_write_text(path, task_page(name))
        paths.append(path)
    return paths
