"""What every book page needs: the data folder, its tables, and a way to glue a figure."""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from gradsub import results

__all__ = ["RUN", "data_dir", "glue_figure", "import_quietly", "last_checkpoint", "load_tables", "table"]

# The columns that name one run.
RUN = ["task", "algo", "seed", "profile"]


def import_quietly(name: str) -> ModuleType:
    """Import a gradsub module that trains or analyses (``gradsub.job``, ``gradsub.scale``): their
    progress bars come from tqdm.auto, which warns on stderr in a kernel without ipywidgets, and the book
    draws no progress bar."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        return importlib.import_module(name)


def data_dir() -> Path:
    """The data folder the book reads: ``$GRADSUB_DATA_DIR`` if set, else the repository's ``data/``."""
    return Path(os.environ.get("GRADSUB_DATA_DIR", Path(__file__).resolve().parents[2] / "data"))


def load_tables(folder: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every result table (validated) and the manifest, by name."""
    folder = folder or data_dir()
    tables = {name: results.read_table(folder, name) for name in results.SCHEMAS}
    tables["manifest"] = results.read_manifest(folder)
    return tables


def last_checkpoint(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows at each run's last analysed checkpoint."""
    last = frame.groupby(RUN)["step"].transform("max")
    return frame[frame["step"] == last]


def glue_figure(name: str, figure) -> None:
    """Glue ``figure`` for ``{glue:figure}`` and close it, so the page does not show it twice."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, figure, display=False)
    plt.close(figure)


def table(frame: pd.DataFrame, *, precision: int | None = None, formats: dict | None = None, wrap: bool = False):
    """``frame`` for a page: every row and column (pandas would elide some of a large frame), no index,
    an empty cell for a missing value, integers with thousands separators, floats to six significant
    digits (or ``precision`` decimals). formats: per-column format strings or functions (they win);
    wrap: let long text wrap (else a cell stays on one line and a wide table scrolls)."""
    def cell(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, (float, np.floating)):
            return f"{value:.6g}" if precision is None else f"{value:.{precision}f}"
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return f"{value:,}"
        return value

    style = frame.style.hide(axis="index").format(cell)
    if formats:
        style = style.format(formats, na_rep="")
    if wrap:
        style = style.set_properties(**{"text-align": "left", "white-space": "normal"})
    return style
