"""One function per figure: a tidy DataFrame (from ``gradsub.results.read_table``) in, a Figure out.

Seeds are replicates, never pooled: every figure first reduces each seed's rows to one value per point
it draws (``seed_means``), then draws the mean over seeds with one standard deviation over seeds as its
error bar or band (none for one seed).
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter
import numpy as np
import pandas as pd
import seaborn as sns

from gradsub.metrics import PHASES

# Figure 1's x-axis is linear within this fraction of the largest |eigenvalue| (the bulk near zero).
SPECTRUM_LINEAR = 1e-4
# Figure 2's groups (task x algorithm) per row of panels: more would shrink the labels below legibility
# at a page's width.
BARS_PER_ROW = 8

__all__ = [
    "learning_curve",
    "subspace_fraction_over_training",
    "subspace_fraction_by_task",
    "overlap_over_training",
    "spectrum_histogram",
    "subspace_fraction_bars",
    "overlap_panels",
    "subspace_fraction_vs_k",
    "overlap_by_k",
    "top_eigenvalues",
    "steps_label",
    "fraction_against_n",
    "overlap_against_n",
    "cost_against_n",
    "fraction_at_length",
    "VARIANT_LABELS",
    "seed_means",
]

# The paper's three plotted estimator variants, (gradient, hessian) -> label.
VARIANT_LABELS = {
    ("precise", "precise"): "precise grad, precise Hessian",
    ("minibatch", "precise"): "mini-batch grad, precise Hessian",
    ("minibatch", "minibatch"): "mini-batch grad, mini-batch Hessian",
}
_CURVE_NAMES = {("ppo", "actor"): "PPO actor", ("ppo", "critic"): "PPO critic",
                ("sac", "actor"): "SAC actor", ("sac", "critic"): "SAC critic"}


def _with_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``curve`` column: its (algo, network) as a figure names it ("PPO actor")."""
    return frame.assign(curve=[_CURVE_NAMES[(a, n)] for a, n in zip(frame["algo"], frame["network"])])


def _line_legend(fig: plt.Figure, colours, labels, fontsize: int = 9) -> None:
    """One legend row below the panels: a marked line per colour, labelled."""
    handles = [plt.Line2D([], [], color=c, marker="o") for c in colours]
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=fontsize, frameon=False)


def _with_variant(frame: pd.DataFrame) -> pd.DataFrame:
    labels = [VARIANT_LABELS.get(pair) for pair in zip(frame["gradient"], frame["hessian"])]
    out = frame.assign(variant=labels)
    return out[out["variant"].notna()]


def seed_means(frame: pd.DataFrame, keys, values=("value",)) -> pd.DataFrame:
    """One row per seed and combination of ``keys``: the mean of ``values`` over that seed's rows (e.g.
    its checkpoints in one training phase). Returns ``keys``, ``seed`` and ``values``.

    Seaborn's estimate and ``errorbar="sd"`` (standard deviation with ddof 1, so none for one seed) over
    these rows are then the mean and spread over seeds: a seed with more rows weighs no more than one
    with fewer.
    """
    keys = list(keys)
    return frame.groupby(keys + ["seed"], as_index=False, sort=True)[list(values)].mean()


def learning_curve(curve: pd.DataFrame) -> plt.Figure:
    """Episode returns against environment steps for one task and algorithm.

    Training episodes are points, a colour per seed (their steps differ between seeds, so they are not
    averaged). Deterministic evaluations are a line: at each evaluation step the mean over seeds of each
    seed's evaluation return, with a band of one standard deviation over seeds (none for one seed).
    """
    if curve.empty:
        return _no_data("no learning curve yet")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    train = curve[curve["kind"] == "train"]
    evals = seed_means(curve[curve["kind"] == "eval"], ["step"], ["episode_return"])
    seeds = sorted(set(curve["seed"]))
    # the evaluation line is C1; the seeds' points take the palette's other colours
    colours = dict(zip(seeds, itertools.cycle(c for i, c in enumerate(sns.color_palette()) if i != 1)))
    for seed in seeds:
        points = train[train["seed"] == seed]
        ax.scatter(points["step"], points["episode_return"], s=4, alpha=0.4, color=colours[seed],
                   label="training episodes" + (f", seed {seed}" if len(seeds) > 1 else ""))
    if len(evals):
        label = "deterministic evaluation" + (f", mean of {evals['seed'].nunique()} seeds ± sd"
                                              if evals["seed"].nunique() > 1 else "")
        sns.lineplot(data=evals, x="step", y="episode_return", ax=ax, color="C1", marker="o", label=label,
                     errorbar="sd")
    ax.set(xlabel="environment steps", ylabel="episode return")
    _step_axis(ax)
    ax.legend(loc="best", fontsize=8, markerscale=2)
    fig.tight_layout()
    return fig


def subspace_fraction_over_training(fractions: pd.DataFrame, k_levels=(1, 10, 100)) -> plt.Figure:
    """S_frac against training steps for one task and algorithm: columns = network, rows = k, one curve
    per estimator variant (band: one standard deviation over seeds, none for one seed). The dashed grey
    line is the random-subspace level k/n."""
    data = _with_variant(fractions[fractions["k"].isin(k_levels)])
    hue_order = list(VARIANT_LABELS.values())
    if data.empty:
        return _no_data("no gradient subspace fractions yet")
    data = seed_means(data, ["k", "network", "variant", "step"], ["value", "random_baseline"])
    ks = sorted(data["k"].unique())
    networks = [n for n in ("actor", "critic") if n in set(data["network"])]
    fig, axes = plt.subplots(len(ks), len(networks), figsize=(4.5 * len(networks), 2.6 * len(ks) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    for (i, k), (j, network) in itertools.product(enumerate(ks), enumerate(networks)):
        ax = axes[i][j]
        part = data[(data["k"] == k) & (data["network"] == network)]
        sns.lineplot(data=part, x="step", y="value", hue="variant", hue_order=hue_order,
                     ax=ax, errorbar="sd", marker="o", legend=False)
        baseline = part.groupby("step")["random_baseline"].mean()
        ax.plot(baseline.index, baseline.values, ls="--", color="grey", lw=1)
        ax.set(title=f"{network}, k = {k}", ylim=(0, 1.02), xlabel="environment steps", ylabel="S_frac")
        _step_axis(ax)
    _line_legend(fig, sns.color_palette(n_colors=len(hue_order)), hue_order, fontsize=8)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    return fig


def subspace_fraction_by_task(fractions: pd.DataFrame, k_levels=(1, 10, 100)) -> plt.Figure:
    """S_frac (precise gradient, precise Hessian) against training steps: a row of panels per task, a
    column per algorithm and network (tasks never pooled, and SAC's shorter runs on their own axes), a
    curve per k (band: one standard deviation over seeds, none for one seed); dashed: k/n per k."""
    data = fractions[fractions["k"].isin(k_levels) & (fractions["gradient"] == "precise")
                     & (fractions["hessian"] == "precise")]
    if data.empty:
        return _no_data("no gradient subspace fractions yet")
    data = _with_curve(data)
    data = seed_means(data, ["task", "curve", "k", "step"], ["value", "random_baseline"])
    task_names = sorted(data["task"].unique())
    curves = [c for c in _CURVE_NAMES.values() if c in set(data["curve"])]
    ks = sorted(data["k"].unique())
    colours = dict(zip(ks, sns.color_palette("viridis", len(ks))))
    fig, axes = plt.subplots(len(task_names), len(curves), figsize=(2.7 * len(curves), 2.3 * len(task_names) + 0.7),
                             squeeze=False, sharey=True)
    for (i, task), (j, curve) in itertools.product(enumerate(task_names), enumerate(curves)):
        ax = axes[i][j]
        sub = data[(data["task"] == task) & (data["curve"] == curve)]
        if sub.empty:
            ax.text(0.5, 0.5, "no run", transform=ax.transAxes, ha="center", color="0.4")
            ax.set_xticks([])
        else:
            sns.lineplot(data=sub, x="step", y="value", hue="k", palette=colours, errorbar="sd", marker="o",
                         ax=ax, legend=False)
            for k, level in sub.groupby("k")["random_baseline"].mean().items():
                ax.axhline(level, color=colours[k], ls="--", lw=1)
            _step_axis(ax)
        ax.set(ylim=(0, 1.02), xlabel="steps" if i == len(task_names) - 1 else "",
               ylabel="S_frac" if j == 0 else "")
        ax.set_title(f"{task}: {curve}", fontsize=9)
    _line_legend(fig, [colours[k] for k in ks], [f"k = {k}" for k in ks])
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1))
    return fig


def overlap_over_training(overlaps: pd.DataFrame, t1: int | None = None, k: int | None = None) -> plt.Figure:
    """S_overlap(t1, t2) against t2 for one task, algorithm, t1 and k (defaults: the first t1 > 0, the
    largest k), a curve per network (band: one standard deviation over seeds, none for one seed)."""
    t1 = t1 if t1 is not None else _default_t1(overlaps)
    k = k if k is not None else int(overlaps["k"].max())
    part = overlaps[(overlaps["t1"] == t1) & (overlaps["k"] == k)]
    if part.empty:
        return _no_data(f"no overlaps from t1 = {t1:,} yet")
    part = seed_means(part, ["network", "t2"], ["value", "random_baseline"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(data=part, x="t2", y="value", hue="network", marker="o", errorbar="sd", ax=ax)
    baseline = part.groupby("t2")["random_baseline"].mean()
    ax.plot(baseline.index, baseline.values, ls="--", color="grey", lw=1, label="random k/n")
    ax.set(xlabel="t2 (environment steps)", ylabel="S_overlap", ylim=(0, 1.02),
           title=f"overlap with the subspace at t1 = {t1:,}, k = {k}")
    _step_axis(ax)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _default_t1(overlaps: pd.DataFrame) -> int:
    positive = sorted(t for t in overlaps["t1"].unique() if t > 0)
    return int(positive[0]) if positive else int(overlaps["t1"].min())


def spectrum_histogram(spectrum: pd.DataFrame) -> plt.Figure:
    """Figure 1: histogram of all Hessian eigenvalues, symmetric-log x-axis, log counts.

    One panel per (task, algo, network) present in ``spectrum`` (one checkpoint per run expected, e.g.
    ``gradsub.report.figures.final_spectra``). Each seed's spectrum is counted on the panel's common bins
    (``spectrum_counts``); a bar is the mean count over seeds, its error bar one standard deviation over
    seeds (none for one seed). Pooling the seeds' eigenvalues into one histogram would count a network
    once per seed.
    """
    panels = spectrum[["task", "algo", "network"]].drop_duplicates().sort_values(["task", "network"])
    if panels.empty:
        return _no_data("no full Hessian spectrum yet")
    ncols = min(2, len(panels))  # two per row: legible at a page's width
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (_, row) in zip(axes.flat, panels.iterrows()):
        panel = spectrum[(spectrum["task"] == row.task) & (spectrum["algo"] == row.algo)
                         & (spectrum["network"] == row.network)]
        edges, counts, linthresh = spectrum_counts(panel)
        mean = counts.mean(axis=0)
        ax.bar(edges[:-1], mean, width=np.diff(edges), align="edge", color="C0")
        if len(counts) > 1:
            centres = (edges[:-1] + edges[1:]) / 2
            shown = mean > 0
            ax.errorbar(centres[shown], mean[shown], yerr=counts.std(axis=0, ddof=1)[shown], fmt="none",
                        ecolor="0.2", elinewidth=0.8, capsize=1.5)
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xticks(_symlog_ticks(linthresh, max(float(panel["eigenvalue"].abs().max()), 1e-12)))
        ax.set_yscale("log")
        seeds = f" (mean of {len(counts)} seeds)" if len(counts) > 1 else ""
        ax.set(title=f"{row.task} {row.algo.upper()} {row.network}{seeds}", xlabel="eigenvalue",
               ylabel="count")
    fig.tight_layout()
    return fig


def spectrum_counts(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float]:
    """Every seed's eigenvalue counts on common bins: the bins of Figure 1's panel for one task,
    algorithm and network (one spectrum per seed in ``panel``).

    Returns (edges, counts, linthresh): bin edges (ascending, symmetric about 0), counts of shape
    (seeds, bins) in seed order, and the symmetric-log axis's linear threshold: the mean over seeds of
    the median |eigenvalue| (the bulk), at least ``SPECTRUM_LINEAR`` times the largest |eigenvalue|.
    """
    per_seed = [grp["eigenvalue"].to_numpy() for _, grp in panel.groupby("seed", sort=True)]
    top = max(max(float(np.abs(v).max()) for v in per_seed), 1e-12)
    median = float(np.mean([np.median(np.abs(v)) for v in per_seed]))
    linthresh = max(median, SPECTRUM_LINEAR * top, 1e-12)
    edges = _symlog_edges(top, linthresh)
    return edges, np.array([np.histogram(v, bins=edges)[0] for v in per_seed]), linthresh


def _symlog_ticks(linthresh: float, top: float, per_side: int = 2) -> list[float]:
    """0 and at most ``per_side`` powers of ten on each side, from ten times linthresh (closer to 0 the
    labels would collide with 0's) to about top; more would collide where the axis is short."""
    low, high = int(np.floor(np.log10(linthresh))) + 1, int(np.ceil(np.log10(top)))
    step = max(1, int(np.ceil((high - low) / per_side)))
    powers = [10.0 ** d for d in range(high, min(low, high) - 1, -step)][:per_side]
    return [-p for p in powers] + [0.0] + powers[::-1]


def _symlog_edges(top: float, linthresh: float, per_side: int = 25) -> np.ndarray:
    """Bin edges: ``per_side`` logarithmic bins on each side from linthresh to just past top (the largest
    |eigenvalue|), four linear ones within linthresh of 0."""
    top = max(top, linthresh * 1.01)
    positive = np.geomspace(linthresh, top * 1.0001, per_side)
    return np.concatenate([-positive[::-1], np.linspace(-linthresh, linthresh, 5)[1:-1], positive])


def subspace_fraction_bars(by_phase: pd.DataFrame) -> plt.Figure:
    """Figure 2: S_frac at k = 100 by phase and variant; a panel per network, groups = task x algo.

    by_phase: rows (task, algo, network, phase, variant, seed, value, random_baseline), e.g. from
    ``gradsub.report.figures.fraction_by_phase`` (one row per seed: the mean over that seed's checkpoints
    in the phase; several rows of a seed are averaged first). A bar is the mean over seeds, its error
    bar one standard deviation over seeds (none for one seed). The random level k/n of each group is a red bar, and its value is written under the
    group's name: on the 0-1 axis it is too low to read otherwise. The legend sits below the panels, a
    column per phase.
    """
    if by_phase.empty:
        return _no_data("no per-phase fractions yet")
    data = seed_means(by_phase, ["task", "algo", "network", "phase", "variant"], ["value", "random_baseline"])
    data = data.assign(group=data["task"] + "\n" + data["algo"].str.upper(),
                       hue=data["phase"] + ": " + data["variant"])
    hue_order = [f"{p}: {v}" for p in PHASES for v in VARIANT_LABELS.values() if f"{p}: {v}" in set(data["hue"])]
    palette = _phase_palette(hue_order)
    networks = [n for n in ("actor", "critic") if n in set(data["network"])]
    groups = sorted(data["group"].unique())
    # at most BARS_PER_ROW groups side by side, so that a page's width keeps the labels legible
    rows = [(network, groups[i:i + BARS_PER_ROW]) for network in networks
            for i in range(0, len(groups), BARS_PER_ROW)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 3.3 * len(rows) + 1.2), squeeze=False)
    for ax, (network, row_groups) in zip(axes[:, 0], rows):
        part = data[data["network"] == network]
        sns.barplot(data=part, x="group", y="value", hue="hue", order=row_groups, hue_order=hue_order,
                    palette=palette, errorbar="sd", ax=ax, legend=False)
        levels = [part[part["group"] == group]["random_baseline"].mean() for group in row_groups]
        for i, level in enumerate(levels):
            if not np.isnan(level):
                ax.hlines(level, i - 0.45, i + 0.45, colors="red", lw=2.5, zorder=5)
        ax.set_xticks(range(len(row_groups)),
                      [g if np.isnan(v) else f"{g}\nk/n = {v:.2g}" for g, v in zip(row_groups, levels)], fontsize=9)
        ax.set(title=f"{network}: S_frac at k = 100 (red: random level k/n)", xlabel="", ylabel="S_frac",
               ylim=(0, 1.02))
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[h]) for h in hue_order]
    fig.legend(handles, hue_order, loc="lower center", ncol=len({h.split(": ")[0] for h in hue_order}),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 1.0 / (3.3 * len(rows) + 1.2), 1, 1))
    return fig


def _phase_palette(hue_order: list[str]) -> dict[str, tuple]:
    colours = {"initial": sns.color_palette("Blues", 4)[1:], "training": sns.color_palette("Oranges", 4)[1:],
               "convergence": sns.color_palette("Greens", 4)[1:]}
    palette = {}
    for label in hue_order:
        phase, variant = label.split(": ", 1)
        palette[label] = colours[phase][list(VARIANT_LABELS.values()).index(variant)]
    return palette


def overlap_panels(overlaps: pd.DataFrame, t1: int, k: int) -> plt.Figure:
    """Figure 3: S_overlap(t1, t2) against t2, one panel per task, four curves (algo x network).

    Every task of ``overlaps`` gets a panel; a curve without t1 (its run stops before it) is named in
    its panel instead of being dropped. The legend lists only the curves drawn. A curve is the mean over
    seeds at each t2, its band one standard deviation over seeds (none for one seed).
    """
    if overlaps.empty:
        return _no_data("no subspace overlaps yet")
    overlaps = _with_curve(overlaps)
    part = overlaps[(overlaps["t1"] == t1) & (overlaps["k"] == k) & (overlaps["t2"] >= t1)]
    part = seed_means(part, ["task", "algo", "curve", "t2"], ["value", "random_baseline"])
    task_names = sorted(overlaps["task"].unique())
    drawn = [c for c in _CURVE_NAMES.values() if c in set(part["curve"])]
    colours = dict(zip(_CURVE_NAMES.values(), sns.color_palette(n_colors=len(_CURVE_NAMES))))
    ncols = min(2, len(task_names))
    nrows = -(-len(task_names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.3 * nrows + 0.8), squeeze=False, sharey=True)
    flat = list(axes.flat)
    for ax, task in zip(flat, task_names):
        sub = part[part["task"] == task]
        if len(sub):
            sns.lineplot(data=sub, x="t2", y="value", hue="curve",
                         hue_order=[c for c in drawn if c in set(sub["curve"])],
                         palette=colours, errorbar="sd", marker="o", ax=ax, legend=False)
        for algo, style in (("ppo", "--"), ("sac", ":")):
            level = sub[sub["algo"] == algo]["random_baseline"]
            if len(level):
                ax.axhline(level.max(), color="grey", ls=style, lw=1)
        missing = sorted(set(overlaps[overlaps["task"] == task]["curve"]) - set(sub["curve"]),
                         key=list(_CURVE_NAMES.values()).index)
        title = task + (f"\n(no t1 = {steps_label(t1)}: {', '.join(missing)})" if missing else "")
        ax.set(title=title, xlabel="t2 (environment steps)", ylabel="S_overlap", ylim=(0, 1.02))
        if sub.empty:
            ax.set_xticks([])
        _step_axis(ax)
    for ax in flat[len(task_names):]:
        ax.set_visible(False)
    if drawn:
        _line_legend(fig, [colours[c] for c in drawn], drawn)
    fig.suptitle(f"t1 = {t1:,}, k = {k}; grey: random k/n (dashed PPO, dotted SAC)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if nrows > 1 else 0.1, 1, 1))
    return fig


def steps_label(x: float) -> str:
    """Environment steps as 40k / 1.5M (the axes' ticks; the book's prose writes them the same way)."""
    return f"{x / 1e6:g}M" if abs(x) >= 1e6 else (f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}")


def _step_axis(ax) -> None:
    """Environment steps as 50k / 1.2M, at most five ticks."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: steps_label(x)))


def subspace_fraction_vs_k(fractions: pd.DataFrame) -> plt.Figure:
    """S_frac (precise gradient, precise Hessian) against k (log axis) at the last checkpoint of each run:
    a panel per task, a curve per algorithm and network (band: one standard deviation over seeds, none
    for one seed), and dashed in the curve's colour its random level k/n."""
    last = fractions.groupby(["task", "algo", "seed"])["step"].transform("max") == fractions["step"]
    data = _with_variant(fractions[last])
    data = data[data["variant"] == VARIANT_LABELS[("precise", "precise")]]
    if data.empty:
        return _no_data("no gradient subspace fractions yet")
    data = _with_curve(data)
    data = seed_means(data, ["task", "curve", "k"], ["value", "random_baseline"])
    task_names = sorted(data["task"].unique())
    curves = [c for c in _CURVE_NAMES.values() if c in set(data["curve"])]
    colours = dict(zip(_CURVE_NAMES.values(), sns.color_palette(n_colors=len(_CURVE_NAMES))))
    ncols = min(2, len(task_names))
    nrows = -(-len(task_names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows + 0.6), squeeze=False, sharey=True)
    for ax, task in zip(axes.flat, task_names):
        sub = data[data["task"] == task]
        sns.lineplot(data=sub, x="k", y="value", hue="curve", hue_order=[c for c in curves if c in set(sub["curve"])],
                     palette=colours, errorbar="sd", marker="o", ax=ax, legend=False)
        for curve, part in sub.groupby("curve"):
            level = part.groupby("k")["random_baseline"].mean()
            ax.plot(level.index, level.values, ls="--", lw=1, color=colours[curve])
        ax.set(xscale="log", ylim=(0, 1.02), title=task, xlabel="k", ylabel="S_frac (precise)")
    for ax in axes.flat[len(task_names):]:
        ax.set_visible(False)
    _line_legend(fig, [colours[c] for c in curves], curves)
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    return fig


def overlap_by_k(overlaps: pd.DataFrame, t1: int) -> plt.Figure:
    """S_overlap(t1, t2) against t2 for every k level: a row of panels per task, a column per algorithm
    and network (tasks are never pooled); a panel without data says so. Bands: one standard deviation
    over seeds (none for one seed)."""
    part = overlaps[(overlaps["t1"] == t1) & (overlaps["t2"] >= t1)]
    if part.empty:
        return _no_data(f"no overlaps from t1 = {t1:,} yet")
    part = _with_curve(part)
    part = seed_means(part, ["task", "curve", "k", "t2"], ["value"])
    task_names = sorted(part["task"].unique())
    curves = [c for c in _CURVE_NAMES.values() if c in set(part["curve"])]
    ks = sorted(part["k"].unique())
    colours = dict(zip(ks, sns.color_palette("viridis", len(ks))))
    fig, axes = plt.subplots(len(task_names), len(curves), figsize=(2.7 * len(curves), 2.3 * len(task_names) + 0.7),
                             squeeze=False, sharey=True)
    for (i, task), (j, curve) in itertools.product(enumerate(task_names), enumerate(curves)):
        ax = axes[i][j]
        sub = part[(part["task"] == task) & (part["curve"] == curve)]
        if sub.empty:
            ran = ((overlaps["task"] == task) & (overlaps["algo"] == curve.split()[0].lower())).any()
            ax.text(0.5, 0.5, f"no t1 = {steps_label(t1)}" if ran else "no run", transform=ax.transAxes,
                    ha="center", color="0.4")
            ax.set_xticks([])
        else:
            sns.lineplot(data=sub, x="t2", y="value", hue="k", palette=colours, errorbar="sd", marker="o", ax=ax,
                         legend=False)
            _step_axis(ax)
        ax.set(ylim=(0, 1.02), xlabel="t2 (steps)" if i == len(task_names) - 1 else "",
               ylabel="S_overlap" if j == 0 else "")
        ax.set_title(f"{task}: {curve}", fontsize=9)
    _line_legend(fig, [colours[k] for k in ks], [f"k = {k}" for k in ks])
    fig.suptitle(f"t1 = {t1:,}", fontsize=10)
    fig.tight_layout(rect=(0, 0.5 / (2.6 * len(task_names) + 0.7), 1, 1))
    return fig


def _no_data(message: str) -> plt.Figure:
    """A small placeholder figure saying what is missing (pages build before all data exist)."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.3")
    ax.set_axis_off()
    return fig


def top_eigenvalues(eigenvalues: pd.DataFrame) -> plt.Figure:
    """Eigenvalues of rank 1, 10 and the largest computed rank against training steps (precise Hessian)
    for one task: a panel per algorithm and network, two per row, each with its own axes (SAC's runs are
    much shorter than PPO's, and the networks' curvatures differ by orders of magnitude). A curve is the
    mean over seeds at each step, its band one standard deviation over seeds (none for one seed)."""
    data = eigenvalues[eigenvalues["hessian"] == "precise"]
    if data.empty:
        return _no_data("no eigenvalues yet")
    ranks = sorted({1, 10, int(data["rank"].max())} & set(data["rank"]))
    data = data[data["rank"].isin(ranks)]
    data = data.assign(curve=[f"{a.upper()} {n}" for a, n in zip(data["algo"], data["network"])])
    data = seed_means(data, ["curve", "rank", "step"], ["eigenvalue"])
    grid = sns.relplot(data=data, x="step", y="eigenvalue", hue="rank", col="curve", kind="line",
                       marker="o", errorbar="sd", palette="viridis", height=3.2, aspect=1.4,
                       col_wrap=min(2, data["curve"].nunique()), facet_kws={"sharey": False, "sharex": False})
    grid.set(xlabel="environment steps")
    grid.set_titles("{col_name}")
    for ax, (_, panel) in zip(grid.axes.flat, data.groupby("curve", sort=False)):
        _step_axis(ax)
        _symlog_decades(ax, panel["eigenvalue"].to_numpy())
    grid.tight_layout()
    return grid.figure


def _symlog_decades(ax, values: np.ndarray, most: int = 6) -> None:
    """A symmetric-log y-axis, linear below the smallest |value| > 0, with ticks at 0 and at powers of
    ten only (at most ``most`` per side), so that no two tick labels collide."""
    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return
    low, high = int(np.floor(np.log10(nonzero.min()))), int(np.ceil(np.log10(nonzero.max())))
    ax.set_yscale("symlog", linthresh=10.0 ** low)
    step = max(1, -(-(high - low) // most))
    powers = [10.0 ** d for d in range(low + 1, high + 1, step)]
    ticks = [0.0] + powers + ([-p for p in powers if p <= -values.min()] if values.min() < 0 else [])
    ax.set_yticks(sorted(ticks))
    if values.min() >= 0:
        ax.set_ylim(bottom=0)


# --- the scale page -------------------------------------------------------------------------------


def _scale_rows(table: pd.DataFrame, tol: float = 1e-4) -> pd.DataFrame:
    """The grid's rows at ``tol``, each with its network's class label and checkpoint."""
    from gradsub.report.scale import network_class

    rows = table[table["tol"] == tol]
    labels = [network_class(t, a, n) for t, a, n in zip(rows["task"], rows["algo"], rows["network"])]
    return rows.assign(panel=[f"{label}\n{task}" for label, task in zip(labels, rows["task"])],
                       checkpoint=[steps_label(s) for s in rows["step"]])


def _log_axes(grid, *, y: bool = False) -> None:
    """Log axes labelled at powers of ten only (labelled minor ticks would collide)."""
    for ax in grid.axes.flat:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if y:
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())


def fraction_against_n(table: pd.DataFrame) -> plt.Figure:
    """S_frac against N (log axis), same-sample and cross-fitted: a row of panels per network, a column
    per k level, the random level k/n dashed; line style: the checkpoint."""
    rows = _scale_rows(table)
    if rows.empty:
        return _no_data("no scale grid yet")
    rows = rows.assign(gradient=rows["gradient_sample"].map({"same": "same sample", "independent": "cross-fitted"}))
    grid = sns.relplot(data=rows, x="n_samples", y="s_frac", hue="gradient", style="checkpoint", row="panel",
                       col="k", kind="line", marker="o", height=2.4, aspect=1.3,
                       hue_order=["same sample", "cross-fitted"], facet_kws={"sharex": "row", "margin_titles": True})
    _log_axes(grid)
    grid.set(ylim=(-0.02, 1.02), xlabel="N (rows)", ylabel="S_frac")
    grid.set_titles(col_template="k = {col_name}", row_template="{row_name}")
    for (panel, k), ax in grid.axes_dict.items():
        baseline = rows[(rows["k"] == k) & (rows["panel"] == panel)]["random_baseline"]
        if not baseline.empty:
            ax.axhline(baseline.iloc[0], color="0.4", ls="--", lw=1)
    grid.tight_layout()
    return grid.figure


def overlap_against_n(table: pd.DataFrame, floor: float) -> plt.Figure:
    """The top-k subspace's overlap with the largest-N one against N, a panel per network, a curve per
    k level; the dotted line marks ``floor``."""
    rows = _scale_rows(table)
    rows = rows[(rows["gradient_sample"] == "same") & (rows["k"] > 1)]
    if rows.empty:
        return _no_data("no scale grid yet")
    grid = sns.relplot(data=rows, x="n_samples", y="overlap_with_largest", hue="k", style="checkpoint",
                       col="panel", kind="line", marker="o", height=2.8, aspect=1.1, palette="viridis",
                       col_wrap=min(3, rows["panel"].nunique()), facet_kws={"sharex": False})
    _log_axes(grid)
    grid.set(ylim=(-0.02, 1.02), xlabel="N (rows)", ylabel="overlap with largest N")
    grid.set_titles("{col_name}")
    for ax in grid.axes.flat:
        ax.axhline(floor, color="0.4", ls=":", lw=1)
    grid.tight_layout()
    return grid.figure


def cost_against_n(cost: pd.DataFrame) -> plt.Figure:
    """Products, seconds and peak memory of one solve against N (log-log), a curve per network and
    analysed step."""
    if cost.empty:
        return _no_data("no scale grid yet")
    long = cost.melt(id_vars=["network class", "task", "step", "N"], value_vars=["products", "seconds", "peak MiB"],
                     var_name="cost", value_name="value")
    long = long.assign(network=[f"{c} ({t}, step {s:,})"
                                for c, t, s in zip(long["network class"], long["task"], long["step"])])
    grid = sns.relplot(data=long, x="N", y="value", hue="network", col="cost", kind="line", marker="o",
                       height=3.0, aspect=1.0, facet_kws={"sharey": False})
    _log_axes(grid, y=True)
    grid.set_titles("{col_name}")
    grid.set(xlabel="N (rows)", ylabel="")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.45, -0.02), ncol=2, title=None, frameon=False)
    grid.tight_layout(rect=(0, 0.14, 1, 1))
    return grid.figure


def fraction_at_length(fractions: pd.DataFrame) -> plt.Figure:
    """S_frac at the largest k over training, a run of each profile side by side (``report.depth``): a
    row of panels per task and algorithm, a column per network; colour: the profile, line style: the
    gradient's sample. Each point is the mean over seeds; each row has its own step axis (jobs train for
    different lengths)."""
    if fractions.empty:
        return _no_data("no job has runs of both profiles yet")
    rows = fractions.assign(job=fractions["task"] + " " + fractions["algo"].str.upper())
    means = rows.groupby(["job", "network", "profile", "gradient", "step"], as_index=False)["value"].mean()
    grid = sns.relplot(data=means, x="step", y="value", hue="profile", style="gradient", row="job", col="network",
                       kind="line", marker="o", height=2.4, aspect=1.5, hue_order=sorted(set(means["profile"])),
                       style_order=[g for g in ("same sample", "cross-fitted") if g in set(means["gradient"])],
                       facet_kws={"margin_titles": True, "sharex": "row"})
    grid.set(ylim=(-0.02, 1.02), ylabel=f"S_frac (k = {int(fractions['k'].max())})")
    grid.set_titles(col_template="{col_name}", row_template="{row_name}")
    for ax in grid.axes.flat:
        _step_axis(ax)
    grid.tight_layout()
    return grid.figure
