"""The book's backend: tables and figures derived from the committed results, never typed by hand.

One module per concern:
``data`` (reading ``data/``, gluing figures), ``claims`` (the paper's claims against our numbers),
``figures`` (the tables behind Figures 1-3), ``parameters`` (the registry as tables),
``performance`` (the eigensolver benchmark), ``provenance`` (runs, coverage, costs, versions) and
``task_pages`` (the generated per-task pages; ``python -m gradsub.report`` writes them).
Every function takes tidy frames as returned by ``gradsub.results.read_table`` and returns a frame.
"""

from gradsub.report import claims, data, figures, parameters, performance, provenance, task_pages

__all__ = ["claims", "data", "figures", "parameters", "performance", "provenance", "task_pages"]
