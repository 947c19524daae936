"""``python -m gradsub.report``: write the per-task book pages into ``book/tasks``."""

from pathlib import Path

from gradsub.report.task_pages import write_task_pages

write_task_pages(Path(__file__).resolve().parents[2] / "book" / "tasks")
