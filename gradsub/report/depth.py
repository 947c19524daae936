"""Does the ``cpu`` profile's answer hold at length? The ``long`` runs beside the ``cpu`` runs of the
same jobs: S_frac at the largest k over training, same-sample and cross-fitted, per profile, and the
paper's claims checked on each profile's runs of those jobs."""

from __future__ import annotations

import pandas as pd

from gradsub.plots import steps_label
from gradsub.report import claims
from gradsub.report.data import RUN
from gradsub.report.provenance import BOOK_PROFILE, book_tables

__all__ = ["DEPTH_PROFILE", "GRADIENTS", "claims_at_length", "depth_fractions", "depth_table", "largest_gap",
           "profile_tables"]

DEPTH_PROFILE = "long"
# The precise Hessian's S_frac with the gradient of its own rows and of an independent sample.
GRADIENTS = {"precise": "same sample", "independent": "cross-fitted"}
_JOB = ["task", "algo", "network", "gradient"]
# What the claims' side by side shows of each profile's ``claims_check`` row.
_CLAIM_COLUMNS = ["verdict", "comparisons passing", "gap to the paper"]


def profile_tables(folder=None) -> dict[str, dict[str, pd.DataFrame]]:
    """The book's tables (``provenance.book_tables``) of each profile compared here, read once."""
    return {profile: book_tables(folder, profile) for profile in (BOOK_PROFILE, DEPTH_PROFILE)}


def depth_fractions(tables: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """S_frac at each run's largest k (precise Hessian) for the jobs with runs of both profiles, per
    profile, seed and checkpoint: task, algo, network, gradient, profile, seed, step, k, value.
    ``tables`` is ``profile_tables()``."""
    parts = []
    for profile in (BOOK_PROFILE, DEPTH_PROFILE):
        frame = tables[profile]["gradient_subspace_fraction"]
        frame = frame[(frame["hessian"] == "precise") & frame["gradient"].isin(list(GRADIENTS))]
        frame = frame[frame["k"] == frame.groupby(RUN)["k"].transform("max")]
        parts.append(frame.assign(gradient=frame["gradient"].map(GRADIENTS)))
    both = pd.concat(parts, ignore_index=True)
    profiles_per_job = both.groupby(["task", "algo"])["profile"].transform("nunique")
    return both.loc[profiles_per_job == 2, _JOB + ["profile", "seed", "step", "k", "value"]].reset_index(drop=True)


def depth_table(fractions: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, algo, network, gradient): the mean over seeds of S_frac at each checkpoint of
    each profile (columns "cpu 40k", "long 100k", ...), and the long run's last value minus the cpu
    run's last ("long - cpu at the end")."""
    columns = _JOB + ["long - cpu at the end"]
    if fractions.empty:
        return pd.DataFrame(columns=columns)
    means = fractions.groupby(_JOB + ["profile", "step"], as_index=False)["value"].mean()
    last = means[means["step"] == means.groupby(_JOB + ["profile"])["step"].transform("max")]
    ends = last.pivot_table(index=_JOB, columns="profile", values="value")
    means = means.assign(column=[f"{p} {steps_label(s)}" for p, s in zip(means["profile"], means["step"])])
    order = means.sort_values(["profile", "step"], key=_profile_order)["column"].drop_duplicates().tolist()
    wide = means.pivot_table(index=_JOB, columns="column", values="value")[order]
    wide["long - cpu at the end"] = ends[DEPTH_PROFILE] - ends[BOOK_PROFILE]
    wide.columns.name = None
    return wide.reset_index()


def largest_gap(table: pd.DataFrame) -> float | None:
    """The largest |long - cpu| at the end over the table's rows (None without rows)."""
    return float(table["long - cpu at the end"].abs().max()) if len(table) else None


def claims_at_length(tables: dict[str, dict[str, pd.DataFrame]], gradient: str = "precise") -> pd.DataFrame:
    """The claims (``claims.claims_check``) on the ``long`` runs and on the ``cpu`` runs of the same jobs,
    side by side: per claim and profile, the verdict, the comparisons passing and the gap to the paper's
    number. Empty (with these columns) while no job has a long run. ``tables`` is ``profile_tables()``."""
    columns = ["claim"] + [f"{p}: {c}" for p in (BOOK_PROFILE, DEPTH_PROFILE) for c in _CLAIM_COLUMNS]
    at_length = tables[DEPTH_PROFILE]
    jobs = at_length["manifest"][["task", "algo"]].drop_duplicates()
    if jobs.empty:
        return pd.DataFrame(columns=columns)
    short = {name: frame.merge(jobs, on=["task", "algo"]) for name, frame in tables[BOOK_PROFILE].items()}
    parts = [claims.claims_check(runs, gradient).set_index("claim")[_CLAIM_COLUMNS].add_prefix(f"{profile}: ")
             for profile, runs in ((BOOK_PROFILE, short), (DEPTH_PROFILE, at_length))]
    return pd.concat(parts, axis=1).reset_index()[columns]


def _profile_order(column: pd.Series) -> pd.Series:
    return column.map({BOOK_PROFILE: 0, DEPTH_PROFILE: 1}) if column.name == "profile" else column
