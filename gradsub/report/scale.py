"""The scale page: how the paper's metrics depend on the sample size N and the solver's tolerance.

Reads the ``sample_size`` table written by ``gradsub scale`` (one run per network class) and derives
the page's conclusions, per network at the run's last analysed checkpoint:

- the smallest N from which the cross-fitted S_frac at the largest k is within ``FRACTION_MARGIN`` of
  its value at the largest N that has a cross-fitted value (at that N and every larger one);
- the smallest N from which the top-k subspace overlaps the largest-N one by at least
  ``OVERLAP_FLOOR`` (below it, overlaps between checkpoints measure sampling noise as much as drift);
- how much the same-sample S_frac exceeds the cross-fitted one at the ``cpu`` profile's N.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gradsub import profiles, results, tasks
from gradsub.report.data import data_dir, import_quietly

__all__ = ["FRACTION_MARGIN", "OVERLAP_FLOOR", "sample_size", "network_class", "conclusions",
           "tolerance_table", "cost_table", "grid_coverage", "summary"]

# A difference in S_frac of 0.05 is a twentieth of its range: small beside the gaps the paper's claims
# rest on (k/n is at most 0.02 for k = 100, and its S_frac values lie mostly between 0.5 and 1).
FRACTION_MARGIN = 0.05
# An overlap of 0.9 leaves a tenth of the subspace to sampling noise: below it, an overlap between two
# checkpoints cannot tell drift from noise (the paper's plotted overlaps are about 0.4 to 0.9).
OVERLAP_FLOOR = 0.9
REFERENCE_TOL = 1e-4


def sample_size(folder: Path | None = None) -> pd.DataFrame:
    """The committed ``sample_size`` table (empty with its columns when none is committed)."""
    return results.read_table(folder or data_dir(), "sample_size")


def network_class(task: str, algo: str, network: str) -> str:
    """A label such as "PPO actor [64, 64]": what the grid's conclusions generalise over."""
    arch = ", ".join(str(w) for w in tasks.algo_config(task, algo).net_arch)
    twin = " x2" if (algo, network) == ("sac", "critic") else ""
    return f"{algo.upper()} {network} [{arch}]{twin}"


def _reference(table: pd.DataFrame) -> pd.DataFrame:
    """Rows at tol 1e-4 and the largest k, at every analysed step."""
    rows = table[table["tol"] == REFERENCE_TOL]
    return rows[rows["k"] == rows.groupby(["task", "algo", "network"])["k"].transform("max")]


def _smallest_from(ok: pd.Series) -> int | None:
    """The smallest N below the largest (the reference, where ``ok`` holds trivially) from which ``ok``
    holds at every larger N; None when none does."""
    ok = ok.sort_index().iloc[:-1]
    failing = ok[~ok]
    holding = ok.index if failing.empty else ok.index[ok.index > failing.index[-1]]
    return int(holding[0]) if len(holding) else None


def conclusions(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, network, analysed step): the smallest sufficient N for S_frac and for the
    subspace, and the same-sample inflation at the cpu profile's N. Empty when the table is."""
    rows = []
    for (task, algo, network, _), group in _reference(table).groupby(["task", "algo", "network", "step"]):
        same = group[group["gradient_sample"] == "same"].set_index("n_samples").sort_index()
        crossed = group[group["gradient_sample"] == "independent"].set_index("n_samples").sort_index()
        cpu_n = profiles.get_profile(task, algo, "cpu").n_precise
        row = {"network class": network_class(task, algo, network), "task": task, "step": int(group["step"].iloc[0]),
               "n_params": int(group["n_params"].iloc[0]), "k": int(group["k"].iloc[0]),
               "largest N": int(same.index.max())}
        if not crossed.empty:
            reference = crossed["s_frac"].iloc[-1]
            row["largest cross-fitted N"] = int(crossed.index[-1])
            row["S_frac cross-fitted at largest N"] = reference
            row["N for S_frac within margin"] = _smallest_from(
                (crossed["s_frac"] - reference).abs() <= FRACTION_MARGIN)
        row["N for subspace overlap"] = _smallest_from(same["overlap_with_largest"] >= OVERLAP_FLOOR)
        row["cpu N"] = int(cpu_n)
        if cpu_n in same.index and cpu_n in crossed.index:
            row["same at cpu N"] = same.loc[cpu_n, "s_frac"]
            row["cross-fitted at cpu N"] = crossed.loc[cpu_n, "s_frac"]
            row["inflation at cpu N"] = row["same at cpu N"] - row["cross-fitted at cpu N"]
            row["overlap at cpu N"] = same.loc[cpu_n, "overlap_with_largest"]
        rows.append(row)
    return pd.DataFrame(rows)


def tolerance_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (run, network, tol) at the N where the tolerance was varied: the solve's products and
    seconds, the largest |S_frac - S_frac(tol 1e-4)| over k levels and both gradient samples, and the
    top-k subspace's overlap with the tol 1e-4 one at the largest k."""
    varied = table.groupby(["task", "algo", "step", "network", "n_samples"])["tol"].transform("nunique") > 1
    rows = []
    for (task, algo, step, network, n), group in table[varied].groupby(
            ["task", "algo", "step", "network", "n_samples"]):
        tight = group[group["tol"] == REFERENCE_TOL].set_index(["k", "gradient_sample"])["s_frac"]
        top = group["k"].max()
        for tol, at in group.groupby("tol"):
            delta = (at.set_index(["k", "gradient_sample"])["s_frac"] - tight).abs()
            rows.append({"network class": network_class(task, algo, network), "task": task, "step": step,
                         "N": n, "tol": tol, "products": int(at["n_products"].iloc[0]),
                         "seconds": at["seconds"].iloc[0], "max |dS_frac|": delta.max(),
                         "overlap with tol 1e-4": at.loc[at["k"] == top, "overlap_with_tight_tol"].iloc[0]})
    return pd.DataFrame(rows).sort_values(["network class", "tol"], ascending=[True, False], ignore_index=True) \
        if rows else pd.DataFrame()


def cost_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (run, analysed step, network, N) at tol 1e-4: products, passes, seconds, peak memory."""
    rows = _reference(table)
    rows = rows[rows["gradient_sample"] == "same"]
    out = pd.DataFrame({
        "network class": [network_class(t, a, n) for t, a, n in zip(rows["task"], rows["algo"], rows["network"])],
        "task": rows["task"], "step": rows["step"], "N": rows["n_samples"], "products": rows["n_products"],
        "passes": rows["n_data_passes"], "seconds": rows["seconds"], "peak MiB": rows["peak_mib"],
        "solve MiB": rows["solve_mib"]})
    return out.sort_values(["network class", "task", "step", "N"], ignore_index=True)


def grid_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Per run of ``gradsub.scale.SCALE_RUNS``: the cells solved against the cells of its grid."""
    scale = import_quietly("gradsub.scale")
    rows = []
    for run in scale.SCALE_RUNS:
        own = table[(table["task"] == run.task) & (table["algo"] == run.algo)]
        solved = own[["step", "network", "n_samples", "tol"]].drop_duplicates()
        rows.append({"run": run.name, "steps": ", ".join(f"{s:,}" for s in sorted(run.steps)),
                     "cells solved": len(solved), "cells in the grid": len(scale.grid_cells(run)),
                     "why": run.reason})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    """One sentence per network class of what the grid found (for the pages that cite it)."""
    found = conclusions(table)
    if found.empty:
        return "The scale-validation grid has no committed results yet (run `gradsub scale`)."

    parts = []
    for row in found.to_dict("records"):
        def n_text(value, largest) -> str:
            return (f"no N below {largest:,}" if value is None or pd.isna(value) else f"N = {int(value):,}")

        text = (f"{row['network class']} ({row['task']}, step {row['step']:,}, largest N {row['largest N']:,}): "
                f"cross-fitted S_frac within {FRACTION_MARGIN:g} of its value at N = "
                f"{row.get('largest cross-fitted N', row['largest N']):,} from "
                f"{n_text(row.get('N for S_frac within margin'), row.get('largest cross-fitted N', row['largest N']))}; "
                f"top-{row['k']} subspace overlap with the largest N's >= {OVERLAP_FLOOR:g} from "
                f"{n_text(row.get('N for subspace overlap'), row['largest N'])}")
        if not pd.isna(row.get("inflation at cpu N", float("nan"))):
            text += (f"; at the cpu profile's N = {row['cpu N']:,} the same-sample S_frac exceeds the "
                     f"cross-fitted one by {row['inflation at cpu N']:.3f}")
        parts.append(text)
    return "; ".join(parts) + "."
