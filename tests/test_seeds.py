"""Seeds are replicates: every figure and table reduces each seed's rows to one value first, then takes
the mean and standard deviation over seeds; error bars and bands appear with two seeds and not with one.

Hand-made frames whose seeds have different numbers of rows tell the per-seed-then-across-seeds result
from the pooled one; two smoke runs (seeds 0 and 1) check the same end to end on real tables.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from gradsub import NETWORKS, plots, results  # noqa: E402
from gradsub.report import claims, data, figures, provenance  # noqa: E402

PRECISE = plots.VARIANT_LABELS[("precise", "precise")]
# Figure values are drawn in float64 from the frames; 1e-9 only absorbs summation order.
TOL = 1e-9


def _run(task="Hopper", algo="ppo", seed=0) -> dict:
    return {"task": task, "algo": algo, "seed": seed, "profile": "cpu"}


def _fraction_rows(seed, steps, values, *, task="Hopper", algo="ppo", network="actor", k=100, n=10_000,
                   gradient="precise", hessian="precise") -> list[dict]:
    return [{**_run(task, algo, seed), "step": s, "network": network, "k": k, "gradient": gradient,
             "hessian": hessian, "value": v, "random_baseline": k / n, "n_params": n} for s, v in zip(steps, values)]


def _overlap_rows(seed, t2s, values, *, task="Hopper", algo="ppo", network="actor", t1=100_000, k=100,
                  n=10_000) -> list[dict]:
    return [{**_run(task, algo, seed), "network": network, "k": k, "t1": t1, "t2": t2, "value": v,
             "random_baseline": k / n, "n_params": n} for t2, v in zip(t2s, values)]


def _close(figure):
    plt.close(figure)


def _bands(figure) -> list[np.ndarray]:
    """The vertices of every non-empty band (fill_between) of the figure."""
    return [c.get_paths()[0].vertices for ax in figure.axes for c in ax.collections
            if isinstance(c, PolyCollection) and c.get_paths() and len(c.get_paths()[0].vertices)]


def _line(figure, x) -> np.ndarray | None:
    """The y data of the first drawn line with x data ``x``."""
    for ax in figure.axes:
        for line in ax.lines:
            if len(line.get_xdata()) == len(x) and np.allclose(line.get_xdata(), x):
                return np.asarray(line.get_ydata(), dtype=float)
    return None


def _band_spans(band: np.ndarray, x) -> np.ndarray:
    """The band's lower and upper edge at each of ``x``, shape [len(x), 2]."""
    return np.array([(band[np.isclose(band[:, 0], xi), 1].min(), band[np.isclose(band[:, 0], xi), 1].max())
                     for xi in x])


# --- the per-seed reduction itself -----------------------------------------------------------------


def test_seed_means_weighs_every_seed_once_and_across_seeds_refuses_pooled_rows():
    # seed 0: two checkpoints; seed 1: five. Pooled, seed 1 would weigh 5/7.
    rows = pd.DataFrame(_fraction_rows(0, [1, 2], [0.2, 0.4]) + _fraction_rows(1, [1, 2, 3, 4, 5], [0.8] * 5))
    per_seed = plots.seed_means(rows, ["task", "network"])
    assert per_seed["seed"].tolist() == [0, 1] and per_seed["value"].tolist() == pytest.approx([0.3, 0.8])
    stats = figures.across_seeds(per_seed, ["task", "network"]).iloc[0]
    assert (stats["mean"], stats["seeds"]) == (pytest.approx(0.55), 2)
    assert stats["std"] == pytest.approx(np.std([0.3, 0.8], ddof=1))
    with pytest.raises(ValueError, match="several rows of one seed"):
        figures.across_seeds(rows, ["task", "network"])


# --- Figure 2 and its table -------------------------------------------------------------------------


def _phase_fractions():
    """S_frac at k = 100 in the training phase: seed 0 at two checkpoints, seed 1 at five."""
    fractions = pd.DataFrame(_fraction_rows(0, [10, 20], [0.2, 0.4])
                             + _fraction_rows(1, [10, 20, 30, 40, 50], [0.6, 0.7, 0.8, 0.9, 1.0]))
    phases = fractions[data.RUN + ["step"]].drop_duplicates().assign(phase="training")
    return fractions, phases


def test_figure_2_table_is_the_mean_over_seeds_of_each_seeds_phase_mean():
    fractions, phases = _phase_fractions()
    by_phase = figures.fraction_by_phase(fractions, phases)
    assert by_phase["seed"].tolist() == [0, 1] and by_phase["value"].tolist() == pytest.approx([0.3, 0.8])
    stats = figures.phase_statistics(by_phase).iloc[0]
    pooled = fractions["value"].mean()  # 0.657: what pooling the seven checkpoints would say
    assert stats["mean"] == pytest.approx(0.55) and abs(stats["mean"] - pooled) > 0.1
    assert stats["std"] == pytest.approx(np.std([0.3, 0.8], ddof=1)) and stats["seeds"] == 2
    assert figures.phase_table(by_phase).iloc[0]["training"] == f"0.550 ± {np.std([0.3, 0.8], ddof=1):.3f} (2)"


@pytest.mark.parametrize("seeds", [(0,), (0, 1)])
def test_figure_2_bar_is_the_mean_over_seeds_with_one_sd_error_bar_only_for_two(seeds):
    fractions, phases = _phase_fractions()
    fractions = fractions[fractions["seed"].isin(seeds)]
    by_phase = figures.fraction_by_phase(fractions, phases)
    per_seed = [0.3, 0.8][:len(seeds)]
    # also the checkpoints themselves: the figure reduces each seed to one value before it draws
    by_checkpoint = fractions.merge(phases, on=data.RUN + ["step"]).assign(variant=PRECISE)
    for frame in (by_phase, by_checkpoint):
        figure = plots.subspace_fraction_bars(frame)
        ax = figure.axes[0]
        heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
        assert heights == pytest.approx([np.mean(per_seed)])
        error_bars = [line.get_ydata() for line in ax.lines if np.isfinite(line.get_ydata()).all()
                      and line.get_xdata()[0] == line.get_xdata()[-1]]  # vertical: an error bar
        if len(seeds) == 1:
            assert not error_bars
        else:
            sd = np.std(per_seed, ddof=1)
            assert [sorted(e) for e in error_bars] == [pytest.approx([np.mean(per_seed) - sd, np.mean(per_seed) + sd])]
        _close(figure)


# --- the line figures: mean over seeds, band = one sd over seeds, none for one seed -----------------


STEPS = [0, 100_000, 200_000]
SEED_VALUES = {0: [0.2, 0.3, 0.5], 1: [0.4, 0.6, 0.6]}


def _fractions_frame(seeds):
    return pd.DataFrame([row for seed in seeds for network in NETWORKS for k in (1, 10, 100)
                         for row in _fraction_rows(seed, STEPS, SEED_VALUES[seed], network=network, k=k)])


def _overlaps_frame(seeds, t1=0):
    return pd.DataFrame([row for seed in seeds for network in NETWORKS for k in (10, 100)
                         for row in _overlap_rows(seed, STEPS, SEED_VALUES[seed], network=network, t1=t1, k=k)])


def _eigenvalues_frame(seeds):
    return pd.DataFrame([{**_run(seed=seed), "step": s, "network": network, "hessian": "precise", "rank": rank,
                          "eigenvalue": v * rank} for seed in seeds for network in NETWORKS for rank in (1, 10)
                         for s, v in zip(STEPS, SEED_VALUES[seed])])


def _curve_frame(seeds):
    evals = [{**_run(seed=seed), "kind": "eval", "step": s, "episode_return": v}
             for seed in seeds for s, v in zip(STEPS, SEED_VALUES[seed])]
    train = [{**_run(seed=seed), "kind": "train", "step": 1_000 * (i + 1) + seed, "episode_return": -float(i)}
             for seed in seeds for i in range(4)]
    return pd.DataFrame(evals + train)


LINE_FIGURES = {
    "subspace_fraction_over_training": lambda seeds: plots.subspace_fraction_over_training(_fractions_frame(seeds)),
    "subspace_fraction_by_task": lambda seeds: plots.subspace_fraction_by_task(_fractions_frame(seeds)),
    "overlap_over_training": lambda seeds: plots.overlap_over_training(_overlaps_frame(seeds), t1=0, k=100),
    "overlap_panels": lambda seeds: plots.overlap_panels(_overlaps_frame(seeds), 0, 100),
    "overlap_by_k": lambda seeds: plots.overlap_by_k(_overlaps_frame(seeds), 0),
    "top_eigenvalues": lambda seeds: plots.top_eigenvalues(_eigenvalues_frame(seeds)),
    "learning_curve": lambda seeds: plots.learning_curve(_curve_frame(seeds)),
}


@pytest.mark.parametrize("name", list(LINE_FIGURES))
def test_line_figure_draws_the_mean_over_seeds_and_a_sd_band_only_for_two_seeds(name):
    expected = np.mean([SEED_VALUES[0], SEED_VALUES[1]], axis=0)
    sd = np.std([SEED_VALUES[0], SEED_VALUES[1]], axis=0, ddof=1)
    figure = LINE_FIGURES[name]((0, 1))
    line = _line(figure, STEPS)
    assert line is not None, "no line at the checkpoints"
    assert line == pytest.approx(expected, abs=TOL)
    bands = _bands(figure)
    assert bands, "two seeds: a band is drawn"
    np.testing.assert_allclose(_band_spans(bands[0], STEPS), np.column_stack([expected - sd, expected + sd]),
                               atol=TOL)
    _close(figure)
    figure = LINE_FIGURES[name]((0,))
    assert _line(figure, STEPS) == pytest.approx(SEED_VALUES[0], abs=TOL)
    assert not _bands(figure), "one seed: no band"
    _close(figure)


def test_fraction_against_k_is_the_mean_over_seeds_at_each_seeds_last_checkpoint():
    # seed 0 stops at 100k, seed 1 runs to 200k: each seed contributes its own last checkpoint
    rows = [row for k, a, b in ((1, 0.1, 0.3), (10, 0.4, 0.8))
            for row in _fraction_rows(0, [0, 100_000], [0.9, a], k=k)
            + _fraction_rows(1, [0, 100_000, 200_000], [0.9, 0.9, b], k=k)]
    figure = plots.subspace_fraction_vs_k(pd.DataFrame(rows))
    assert _line(figure, [1, 10]) == pytest.approx([0.2, 0.6])
    sd = [np.std([0.1, 0.3], ddof=1), np.std([0.4, 0.8], ddof=1)]
    np.testing.assert_allclose(_band_spans(_bands(figure)[0], [1, 10]),
                               [[0.2 - sd[0], 0.2 + sd[0]], [0.6 - sd[1], 0.6 + sd[1]]], atol=TOL)
    _close(figure)


def test_learning_curve_shows_each_seeds_training_episodes_apart():
    figure = plots.learning_curve(_curve_frame((0, 1)))
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "training episodes, seed 0" in labels and "training episodes, seed 1" in labels
    assert any("mean of 2 seeds" in label for label in labels)
    _close(figure)


# --- Figure 1: the spectrum per seed ---------------------------------------------------------------


def _spectrum(seed, values) -> pd.DataFrame:
    return pd.DataFrame({**_run(seed=seed), "step": 300_000, "network": "actor", "index": np.arange(len(values)),
                         "eigenvalue": values})


@pytest.mark.parametrize("seeds", [(0,), (0, 1)])
def test_spectrum_histogram_averages_the_seeds_counts_on_common_bins(seeds):
    rng = np.random.default_rng(0)
    spectra = {0: np.concatenate([[50.0, 20.0], 1e-3 * rng.standard_normal(998)]),
               1: np.concatenate([[30.0, -5.0], 1e-2 * rng.standard_normal(998)])}
    frame = pd.concat([_spectrum(seed, spectra[seed]) for seed in seeds])
    edges, counts, _ = plots.spectrum_counts(frame)
    assert counts.shape == (len(seeds), len(edges) - 1)
    assert counts.sum(axis=1).tolist() == [1000] * len(seeds)  # every eigenvalue of every seed, once
    figure = plots.spectrum_histogram(frame)
    ax = figure.axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    per_seed = np.array([np.histogram(spectra[seed], bins=edges)[0] for seed in seeds])
    assert heights == pytest.approx(per_seed.mean(axis=0))  # pooled, a bin would count every seed's sum
    assert heights.sum() == pytest.approx(1000)
    error_bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert bool(error_bars) == (len(seeds) > 1)
    if len(seeds) > 1:
        assert "mean of 2 seeds" in ax.get_title()
    _close(figure)


# --- Figure 3's table, the claims' number and the coverage sentence ---------------------------------


def test_overlap_table_averages_each_seeds_last_t2():
    # seed 0 reaches t2 = 300k, seed 1 only 200k: each seed's own last value, once
    overlaps = pd.DataFrame(_overlap_rows(0, [200_000, 300_000], [0.9, 0.5])
                            + _overlap_rows(1, [200_000], [0.3]))
    row = figures.overlap_table(overlaps, [100_000], 100).iloc[0]
    assert (row["mean"], row["seeds"], row["last t2"]) == (pytest.approx(0.4), 2, 300_000)
    assert row["std"] == pytest.approx(np.std([0.5, 0.3], ddof=1))


def test_c6_number_averages_seeds_per_curve_before_the_curves():
    # Hopper's actor: two seeds (0.2, 0.4); Walker2D's actor: one seed (0.9). Per curve first: 0.6;
    # pooling the three runs would give 0.5.
    overlaps = pd.DataFrame(_overlap_rows(0, [200_000], [0.2]) + _overlap_rows(1, [200_000], [0.4])
                            + _overlap_rows(0, [200_000], [0.9], task="Walker2D"))
    tables = {name: pd.DataFrame(columns=[c.name for c in results.SCHEMAS[name]]) for name in results.SCHEMAS}
    tables |= {"subspace_overlap": overlaps,
               "manifest": pd.DataFrame(columns=["task", "algo", "seed", "profile", "params"])}
    row = claims.claims_check(tables).set_index("claim").loc["C6"]
    assert row["gap to the paper"].startswith(f"{0.6 - claims.PAPER_OVERLAP:+.2f}")


def test_coverage_sentence_says_where_spreads_are_drawn_when_seed_counts_differ():
    used = pd.DataFrame([{**_run(task, seed=seed), "step": 0} for task, seeds in (("Hopper", (0, 1)), ("Walker2D", (0,)))
                         for seed in seeds])
    stats = pd.DataFrame(columns=[c.name for c in results.SCHEMAS["solver_stats"]])
    text = provenance.evidence_line(used, stats)
    assert "1-2 seeds per task and algorithm" in text
    assert "drawn only where a task and algorithm has two seeds or more" in text
    assert "no error bars" not in text


# --- end to end: two smoke runs, seeds 0 and 1 -------------------------------------------------------


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """The tables of Pendulum PPO smoke runs of seeds 0 and 1 (about a minute each). Seed 1 analyses four
    checkpoints, seed 0 two, and the training is long enough for three episodes, so that the seeds
    differ in how many checkpoints fall in a phase."""
    from gradsub.job import Job, run_job

    folder = tmp_path_factory.mktemp("two_seeds")
    for seed, checkpoints in ((0, (0, 640)), (1, (0, 128, 384, 640))):
        run_job(Job.create("Pendulum", "ppo", seed, "smoke", data_dir=folder / "data",
                           artifacts_dir=folder / "artifacts", total_steps=640, checkpoint_steps=checkpoints),
                progress=False)
    return folder / "data"


def test_the_book_rests_on_the_runs_of_its_profile_at_todays_settings(two_seeds):
    every = data.load_tables(two_seeds)
    smoke = provenance.book_tables(two_seeds, "smoke")
    assert len(smoke["manifest"]) == 2 and smoke["gradient_subspace_fraction"].equals(
        every["gradient_subspace_fraction"].astype({"seed": "int64"}))
    cpu = provenance.book_tables(two_seeds)  # the book's profile: no cpu run here
    assert all(frame.empty for frame in cpu.values())


def test_two_smoke_seeds_aggregate_per_seed_in_every_book_table_and_figure(two_seeds):
    tables = data.load_tables(two_seeds)
    fractions, overlaps = tables["gradient_subspace_fraction"], tables["subspace_overlap"]
    assert sorted(fractions["seed"].unique()) == [0, 1]
    k = int(fractions["k"].max())  # the smoke profile's largest k

    # Figure 2: each seed's phase mean over its own checkpoints, then mean and sd over the two seeds
    phases = figures.checkpoint_phases(tables["learning_curve"], fractions)
    by_phase = figures.fraction_by_phase(fractions, phases, k=k)
    stats = figures.phase_statistics(by_phase)
    assert len(stats) and (stats["seeds"] == 2).all()
    merged = fractions[fractions["k"] == k].merge(phases, on=data.RUN + ["step"])
    merged = merged.assign(variant=[plots.VARIANT_LABELS.get(pair) for pair in zip(merged["gradient"],
                                                                                   merged["hessian"])])
    merged = merged.dropna(subset=["variant"])
    checkpoints = merged.groupby(["seed", "phase"])["step"].nunique()
    assert checkpoints.loc[0].to_dict() != checkpoints.loc[1].to_dict()  # pooling would weigh seed 1 more
    keys = ["network", "phase", "variant"]
    per_seed = merged.groupby(keys + ["seed"])["value"].mean().groupby(keys)
    got = stats.set_index(keys)
    assert got["mean"].to_numpy() == pytest.approx(per_seed.mean().loc[got.index].to_numpy())
    assert got["std"].to_numpy() == pytest.approx(per_seed.std().loc[got.index].to_numpy())
    figure = plots.subspace_fraction_bars(by_phase)
    assert any(np.isfinite(line.get_ydata()).all() for line in figure.axes[0].lines), "error bars with two seeds"
    _close(figure)

    # Figure 1: one spectrum per seed, averaged on common bins
    final = figures.final_spectra(tables["spectrum"])
    assert set(final["step"]) == {640}
    panel = final[final["network"] == "actor"]
    _, counts, _ = plots.spectrum_counts(panel)
    assert counts.shape[0] == 2 and (counts.sum(axis=1) == panel.groupby("seed").size().to_numpy()).all()
    assert len(figures.spectrum_summary(final)) == 2 * len(NETWORKS)  # per seed and network, never pooled

    # Figure 3's table: one value per seed at its last t2
    table = figures.overlap_table(overlaps, [0], k)
    assert len(table) == len(NETWORKS) and (table["seeds"] == 2).all() and table["std"].notna().all()

    # every figure the book draws accepts the two seeds and draws their spread
    for figure in (plots.spectrum_histogram(final), plots.overlap_panels(overlaps, 0, k),
                   plots.overlap_by_k(overlaps, 0), plots.subspace_fraction_vs_k(fractions),
                   plots.subspace_fraction_by_task(fractions), plots.subspace_fraction_over_training(fractions),
                   plots.learning_curve(tables["learning_curve"]), plots.top_eigenvalues(tables["eigenvalues"])):
        spread = _bands(figure) or [c for ax in figure.axes for c in ax.containers
                                    if isinstance(c, ErrorbarContainer)]
        assert spread, f"{figure.axes[0].get_title()}: no spread drawn for two seeds"
        _close(figure)
    assert "one standard deviation over seeds" in provenance.evidence_line(fractions, tables["solver_stats"])

