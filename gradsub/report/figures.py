"""The tables behind Figures 1-3 and the "beyond" page: phases, per-phase fractions, spectra, overlaps.

Seeds are replicates: a statistic over seeds is taken over one value per seed (``across_seeds``), each
seed's value computed from that seed's rows alone, never over the pooled rows of several seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradsub import metrics, plots
from gradsub.metrics import PHASES
from gradsub.report.data import RUN, last_checkpoint

__all__ = ["PHASE_WINDOW", "across_seeds", "checkpoint_phases", "common_t1", "final_spectra", "fraction_by_phase",
           "overlap_table", "phase_statistics", "phase_table", "runs_without_spectrum", "runs_without_t1", "spectrum_summary"]

# The paper's phase split behind Figure 2 smooths the return with a centred 20,000-step window:
# 10,000 steps either side of each point.
PHASE_WINDOW = 10_000


def checkpoint_phases(curves: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Training phase (initial / training / convergence) of every analysed checkpoint of every run.

    curves: the ``learning_curve`` table (its ``train`` rows define the phases).
    steps: any frame with the run columns and ``step`` (e.g. the ``gradient_subspace_fraction`` table).
    Returns the run columns, ``step`` and ``phase``; runs without training episodes are left out.
    """
    out = []
    checkpoints = steps[RUN + ["step"]].drop_duplicates()
    for run, ckpt in checkpoints.groupby(RUN, sort=True):
        train = curves[(curves[RUN] == pd.Series(run, index=RUN)).all(axis=1) & (curves["kind"] == "train")]
        if len(train) < 2:
            continue
        train = train.sort_values("step")
        phase = metrics.training_phases(train["step"].to_numpy(), train["episode_return"].to_numpy(),
                                        window=PHASE_WINDOW, at=ckpt["step"].to_numpy())
        out.append(ckpt.assign(phase=phase))
    columns = RUN + ["step", "phase"]
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def across_seeds(per_seed: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``value`` per combination of ``keys``.

    per_seed: at most one row per seed and combination of ``keys`` (e.g. ``plots.seed_means``); a
    ValueError otherwise, since a second row of a seed would count as another seed.
    Returns ``keys``, ``mean``, ``std`` (ddof 1, as the figures' error bars; NaN for one seed) and
    ``seeds`` (how many).
    """
    if per_seed.duplicated(keys + ["seed"]).any():
        raise ValueError(f"per_seed has several rows of one seed for some {keys}: reduce each seed to one "
                         "value first (plots.seed_means)")
    stats = per_seed.groupby(keys)[value].agg(["mean", "std", "count"]).rename(columns={"count": "seeds"})
    return stats.reset_index()


def fraction_by_phase(fractions: pd.DataFrame, phases: pd.DataFrame, k: int = 100) -> pd.DataFrame:
    """S_frac at ``k`` per seed, network, phase and plotted variant: the mean over that seed's checkpoints
    in the phase (Figure 2's bars average these over seeds).

    Returns task, algo, network, phase, variant, seed, value, random_baseline.
    """
    part = fractions[fractions["k"] == k].merge(phases, on=RUN + ["step"])
    labels = [plots.VARIANT_LABELS.get(pair) for pair in zip(part["gradient"], part["hessian"])]
    part = part.assign(variant=labels).dropna(subset=["variant"])
    return plots.seed_means(part, ["task", "algo", "network", "phase", "variant"], ["value", "random_baseline"])


def final_spectra(spectrum: pd.DataFrame) -> pd.DataFrame:
    """Full spectra at each run's last checkpoint with one (Figure 1)."""
    return last_checkpoint(spectrum) if len(spectrum) else spectrum


def spectrum_summary(spectra: pd.DataFrame) -> pd.DataFrame:
    """Per run and network: size, largest eigenvalue, median |eigenvalue|, their ratio, share negative."""
    rows = []
    for (task, algo, seed, network), grp in spectra.groupby(["task", "algo", "seed", "network"]):
        values = grp["eigenvalue"].to_numpy()
        median_abs = float(np.median(np.abs(values)))
        rows.append({"task": task, "algo": algo, "seed": seed, "network": network, "n_params": len(values),
                     "largest": values.max(), "median_abs": median_abs,
                     "top_over_median": values.max() / median_abs if median_abs > 0 else np.inf,
                     "share_negative": float((values < 0).mean())})
    columns = ["task", "algo", "seed", "network", "n_params", "largest", "median_abs", "top_over_median",
               "share_negative"]
    return pd.DataFrame(rows, columns=columns)


def runs_without_spectrum(solver_stats: pd.DataFrame, spectrum: pd.DataFrame) -> pd.DataFrame:
    """PPO runs with data but no full spectrum (their networks exceed the dense limit of the analysis):
    one row per run and network with its parameter count."""
    columns = ["task", "algo", "seed", "network", "n_params"]
    run = ["task", "algo", "seed", "profile", "network"]
    ppo = solver_stats[solver_stats["algo"] == "ppo"][run + ["n_params"]].drop_duplicates()
    have = spectrum[run].drop_duplicates().assign(_has=True)
    missing = ppo.merge(have, on=run, how="left")
    missing = missing[missing["_has"].isna()]
    return missing[columns].sort_values(columns).reset_index(drop=True)


_VARIANT_SHORT = {label: " / ".join(part.replace("minibatch", "mini-batch") for part in pair)
                  for pair, label in plots.VARIANT_LABELS.items()}


_PHASE_KEYS = ["task", "algo", "network", "variant", "phase"]


def phase_statistics(by_phase: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's bars as numbers: per (task, algo, network, variant, phase) the mean, standard deviation
    and number of seeds (``across_seeds``) of ``fraction_by_phase``'s per-seed values, and the random
    level k/n (``random_baseline``)."""
    stats = across_seeds(by_phase, _PHASE_KEYS)
    return stats.merge(by_phase.groupby(_PHASE_KEYS, as_index=False)["random_baseline"].mean(), on=_PHASE_KEYS)


def phase_table(by_phase: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind Figure 2, one row per (task, algo, network, variant) and one column per phase:
    "mean ± std (seeds)" over seeds ("mean (1)" for one seed; ``phase_statistics``), and the random
    level k/n. The variant is written "gradient / Hessian" (e.g. "mini-batch / precise")."""
    keys = ["task", "algo", "network", "gradient / Hessian"]
    if by_phase.empty:
        return pd.DataFrame(columns=keys + list(PHASES) + ["k/n"])
    stats = phase_statistics(by_phase)
    stats = stats.assign(**{"gradient / Hessian": stats["variant"].map(_VARIANT_SHORT)})
    stats["cell"] = [f"{m:.3f} ± {sd:.3f} ({n})" if n > 1 else f"{m:.3f} (1)"
                     for m, sd, n in zip(stats["mean"], stats["std"], stats["seeds"])]
    wide = stats.pivot(index=keys, columns="phase", values="cell")
    wide = wide.reindex(columns=list(PHASES), fill_value="").fillna("")
    wide["k/n"] = stats.groupby(keys)["random_baseline"].mean().map(lambda v: f"{v:.2g}")
    wide.columns.name = None
    return wide.reset_index()


def common_t1(overlaps: pd.DataFrame) -> int:
    """The earliest t1 > 0 analysed in every run (the smallest positive t1 if none is common)."""
    positive = overlaps[overlaps["t1"] > 0]
    if positive.empty:
        return 0
    per_run = [set(g["t1"]) for _, g in positive.groupby(RUN)]
    common = set.intersection(*per_run)
    return int(min(common) if common else positive["t1"].min())


def runs_without_t1(overlaps: pd.DataFrame, t1: int) -> pd.DataFrame:
    """The runs of ``overlaps`` (run columns) without an overlap from ``t1`` to a later checkpoint: their
    runs stop before ``t1``, or do not analyse it."""
    runs = overlaps[RUN].drop_duplicates()
    reach = overlaps[(overlaps["t1"] == t1) & (overlaps["t2"] > t1)][RUN].drop_duplicates()
    short = runs.merge(reach, how="left", indicator=True)
    return short[short["_merge"] == "left_only"][RUN].reset_index(drop=True)


def overlap_table(overlaps: pd.DataFrame, t1s, k: int) -> pd.DataFrame:
    """Overlap with the subspace at each t1 at each seed's last t2: mean and std over seeds (std empty for
    one seed; ``across_seeds``), the number of seeds, the last t2 of any seed and the random level k/n."""
    keys = ["task", "algo", "network", "t1"]
    part = overlaps[overlaps["t1"].isin(t1s) & (overlaps["k"] == k) & (overlaps["t2"] > overlaps["t1"])]
    last = part[part["t2"] == part.groupby(RUN + ["network", "t1"])["t2"].transform("max")]
    table = across_seeds(plots.seed_means(last, keys), keys).set_index(keys)
    grouped = last.groupby(keys)
    table["last t2"] = grouped["t2"].max()
    table["k/n"] = grouped["random_baseline"].mean()
    return table.reset_index()
