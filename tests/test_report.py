"""gradsub.report: the book's derived tables and the claims verdicts, on small frames with known answers."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradsub import results, tasks
from gradsub.report import claims, figures, performance, provenance

RUN = {"seed": 0, "profile": "cpu"}


def _fractions(values: dict[tuple[str, str], float], *, k: int = 100, n: int = 10_000, step: int = 50_000,
               gradient: str = "precise", hessian: str = "precise") -> pd.DataFrame:
    """A gradient_subspace_fraction frame: one row per (algo, network) -> S_frac, on task T-<algo>."""
    columns = ["task", "algo", "seed", "profile", "step", "network", "k", "gradient", "hessian", "value",
               "random_baseline", "n_params"]
    return pd.DataFrame(columns=columns, data=[
        {"task": f"T-{algo}", "algo": algo, **RUN, "step": step, "network": network, "k": k,
         "gradient": gradient, "hessian": hessian, "value": value, "random_baseline": k / n, "n_params": n}
        for (algo, network), value in values.items()
    ])


def _check(name: str, tables: dict[str, pd.DataFrame]) -> tuple[str, str]:
    verdicts = claims.claims_check(tables).set_index("claim")
    return verdicts.loc[name, "ours"], verdicts.loc[name, "verdict"]


def _tables(fractions=None, overlaps=None, spectrum=None) -> dict[str, pd.DataFrame]:
    empty_overlap = pd.DataFrame(columns=["task", "algo", "seed", "profile", "network", "k", "t1", "t2",
                                          "value", "random_baseline"])
    empty_spectrum = pd.DataFrame(columns=["task", "algo", "seed", "profile", "step", "network", "index",
                                           "eigenvalue"])
    return {"gradient_subspace_fraction": fractions if fractions is not None else _fractions({}),
            "subspace_overlap": overlaps if overlaps is not None else empty_overlap,
            "spectrum": spectrum if spectrum is not None else empty_spectrum}


def test_every_claim_says_not_enough_data_without_data():
    verdicts = claims.claims_check(_tables())
    assert list(verdicts["claim"]) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert set(verdicts["verdict"]) == {"not enough data"}


@pytest.mark.parametrize("value, verdict", [(0.5, "holds"), (0.05, "does not hold")])
def test_c2_compares_the_smallest_fraction_with_ten_times_the_random_level(value, verdict):
    # k/n = 0.01: 0.5 is 50x the random level (holds), 0.05 only 5x (does not hold).
    fractions = _fractions({("ppo", "actor"): value, ("ppo", "critic"): 0.9})
    ours, got = _check("C2", _tables(fractions))
    assert got == verdict
    assert f"{value / 0.01:.3g}" in ours


def test_c4_needs_both_algorithms_and_checks_the_ordering():
    ppo_only = _fractions({("ppo", "actor"): 0.3, ("ppo", "critic"): 0.6})
    assert _check("C4", _tables(ppo_only))[1] == "not enough data"
    paper_like = _fractions({("ppo", "actor"): 0.3, ("ppo", "critic"): 0.6,
                             ("sac", "actor"): 0.5, ("sac", "critic"): 0.8})
    assert _check("C4", _tables(paper_like))[1] == "holds"
    sac_lower = _fractions({("ppo", "actor"): 0.3, ("ppo", "critic"): 0.6,
                            ("sac", "actor"): 0.2, ("sac", "critic"): 0.8})
    assert _check("C4", _tables(sac_lower))[1] == "does not hold"


def test_c1_wants_a_few_outliers_over_a_bulk_near_zero():
    rng = np.random.default_rng(0)
    bulk = 1e-3 * rng.standard_normal(995)

    def spectrum(values):
        return pd.DataFrame({"task": "T", "algo": "ppo", **RUN, "step": 10, "network": "actor",
                             "index": np.arange(len(values)), "eigenvalue": values})

    outliers = spectrum(np.concatenate([[50.0, 20.0, 8.0, 3.0, 1.0], bulk]))
    assert _check("C1", _tables(spectrum=outliers))[1] == "holds"
    flat = spectrum(np.linspace(1.0, 2.0, 1000))  # no bulk near zero: largest / median = 1.3
    assert _check("C1", _tables(spectrum=flat))[1] == "does not hold"


def test_runs_without_spectrum_lists_ppo_networks_with_data_but_no_spectrum():
    stats = pd.DataFrame([
        {"task": task, "algo": algo, **RUN, "step": 0, "network": net, "n_params": n}
        for task, algo, n in [("Small", "ppo", 4_000), ("Big", "ppo", 70_000), ("Big", "sac", 70_000)]
        for net in ("actor", "critic")
    ])
    spectrum = pd.DataFrame([{"task": "Small", "algo": "ppo", **RUN, "step": 0, "network": net, "index": 0,
                              "eigenvalue": 1.0} for net in ("actor", "critic")])
    missing = figures.runs_without_spectrum(stats, spectrum)
    assert missing[["task", "network", "n_params"]].values.tolist() == [["Big", "actor", 70_000],
                                                                       ["Big", "critic", 70_000]]


def test_phase_table_has_one_row_per_curve_and_mean_sd_over_seeds():
    by_phase = pd.DataFrame([
        {"task": "T", "algo": "ppo", "network": "actor", "variant": "mini-batch grad, precise Hessian",
         "phase": phase, "seed": seed,
         "value": value, "random_baseline": 0.01}
        for phase, seed, value in [("initial", 0, 0.2), ("initial", 1, 0.4), ("convergence", 0, 0.7)]
    ])
    table = figures.phase_table(by_phase)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["gradient / Hessian"] == "mini-batch / precise"
    assert row["initial"] == f"0.300 ± {np.std([0.2, 0.4], ddof=1):.3f} (2)"
    assert row["convergence"] == "0.700 (1)"
    assert row["training"] == ""
    assert row["k/n"] == "0.01"


def test_job_costs_sum_every_stage_per_run():
    run = {"task": "Pendulum", "algo": "sac", "seed": 0, "profile": "cpu"}
    timings = pd.DataFrame([
        {**run, "stage": "train", "step": -1, "seconds": 600.0},
        {**run, "stage": "samples", "step": 0, "seconds": 6.0},
        {**run, "stage": "solve/actor/precise", "step": 0, "seconds": 60.0},
        {**run, "stage": "solve/critic/minibatch", "step": 10, "seconds": 120.0},
        {**run, "stage": "spectrum/actor", "step": 10, "seconds": 90.0},
        {**run, "seed": 1, "stage": "train", "step": -1, "seconds": 30.0},
    ])
    manifest = pd.DataFrame([{**run, "seed": "0", "wall_seconds": "900.0"},  # read as text
                             {**run, "seed": "1", "wall_seconds": "42.0"}])
    costs = provenance.job_costs(timings, manifest).set_index("seed")
    assert costs.loc[0, ["train_minutes", "samples_minutes", "solve_minutes", "spectrum_minutes",
                         "total_minutes", "last_run_minutes"]].tolist() == [10.0, 0.1, 3.0, 1.5, 14.6, 15.0]
    assert costs.loc[1, ["solve_minutes", "spectrum_minutes", "total_minutes", "last_run_minutes"]].tolist() \
        == [0.0, 0.0, 0.5, 0.7]
    assert provenance.job_costs(timings.iloc[:0], manifest).empty


def test_job_plans_give_the_cpu_plan_of_current_runs_only():
    from gradsub.job import Job

    rows = []
    for seed, profile, stale in ((0, "cpu", False), (1, "cpu", True), (2, "smoke", False)):
        params = Job("HalfCheetah", "sac", seed, profile, Path("data"), Path("artifacts")).params()
        if stale:
            params["settings"]["total_steps"] += 10_000
        rows.append({"task": "HalfCheetah", "algo": "sac", "seed": str(seed), "profile": profile,
                     "params": json.dumps(params, sort_keys=True, default=str),
                     "params_hash": results.params_hash(params)})
    plans = provenance.job_plans(pd.DataFrame(rows)).set_index("seed")
    assert plans["current"].tolist() == [True, False, True]
    assert plans.loc[0, "planned_minutes"] == round(tasks.cpu_job_seconds("HalfCheetah", "sac") / 60, 1)
    assert plans.loc[[1, 2], "planned_minutes"].isna().all()


def test_coverage_counts_runs_at_the_registrys_current_settings():
    from gradsub.job import Job

    rows = []
    for seed, stale in ((0, False), (1, True)):
        job = Job("Pendulum", "sac", seed, "smoke", Path("data"), Path("artifacts"))
        params = job.params()
        if stale:  # as if made when the profile asked for other steps
            params["settings"]["total_steps"] += 1
        rows.append({"task": "Pendulum", "algo": "sac", "seed": str(seed), "profile": "smoke",
                     "params": json.dumps(params, sort_keys=True, default=str),
                     "params_hash": results.params_hash(params), "status": "ok"})
    manifest = pd.DataFrame(rows)
    assert provenance.at_current_settings(manifest).tolist() == [True, False]
    assert Job.from_params(json.loads(rows[0]["params"])) == Job("Pendulum", "sac", 0, "smoke", Path("data"),
                                                                 Path("artifacts"))
    row = provenance.coverage(manifest).set_index(["task", "algo"]).loc[("Pendulum", "sac")]
    assert (row["runs"], row["at current settings"], row["seeds"]) == (2, 1, "0, 1")


def _benchmark(folder: Path, rows: list[dict]) -> Path:
    (folder / "benchmarks").mkdir()
    base = {"task": "T", "algo": "ppo", "network": "actor", "k": 5, "warm_from": -1, "n_params": 10,
            "status": "ok", "passes_ratio": 1.0, "peak_ratio": 1.0, "max_residual_float64": 1e-6,
            "max_dfrac": 0.0, "k_gap": 4, "overlap_at_gap": 1.0, "warm_mode": ""}
    pd.DataFrame([{**base, **row} for row in rows]).to_csv(folder / "benchmarks" / "eigensolver.csv",
                                                            index=False)
    return folder


def test_benchmark_table_splits_the_time_ratio_into_products_and_cost_per_product(tmp_path):
    folder = _benchmark(tmp_path, [
        {"method": "paper", "n_samples": 100, "seconds_ratio": 1.0, "products_ratio": 1.0,
         "peak_mib": 1.0, "before_mib": 0.0},
        {"method": "block cold", "n_samples": 100, "seconds_ratio": 0.6, "products_ratio": 0.8,
         "peak_mib": 1.0, "before_mib": 0.0}])
    table = performance.benchmark_table(folder)
    assert table["time per product ratio"].tolist() == pytest.approx([1.0, 0.75])
    columns = list(table.columns)
    assert columns.index("time per product ratio") == columns.index("products ratio") + 1


def test_benchmark_memory_gives_peak_and_solve_memory_per_n_and_projects_linearly(tmp_path):
    folder = _benchmark(tmp_path, [
        {"method": m, "n_samples": n, "seconds_ratio": 1.0, "products_ratio": 1.0,
         "peak_mib": peak, "before_mib": before}
        for m, n, peak, before in [("paper", 1_000, 300.0, 100.0), ("paper", 10_000, 1200.0, 110.0),
                                   ("block cold", 10_000, 500.0, 110.0), ("block warm", 1_000, 400.0, 100.0),
                                   ("block warm", 10_000, 440.0, 110.0)]])
    memory = performance.benchmark_memory(folder).set_index("method")
    paper, block = memory.loc["paper"], memory.loc["block cold"]
    assert paper["peak at N = 10^3"] == 300.0 and paper["solve at N = 10^4"] == 1090.0
    assert paper["growth"] == pytest.approx(3.0)
    # 900 MiB per 9,000 rows: 1200 + 0.1 * 990,000 at N = 10^6.
    assert paper[performance.MEMORY_PROJECTED] == pytest.approx(1200.0 + 99_000.0)
    # One N measured: no growth, no projection, and no number for the N it lacks (and ours is never
    # projected).
    assert np.isnan(block["growth"]) and np.isnan(block[performance.MEMORY_PROJECTED])
    assert np.isnan(block["peak at N = 10^3"]) and block["solve at N = 10^4"] == 390.0
    warm = memory.loc["block warm"]
    assert warm["growth"] == pytest.approx(0.1) and np.isnan(warm[performance.MEMORY_PROJECTED])
    assert performance.benchmark_memory(tmp_path / "nothing").empty


def test_a_sample_of_99999_rows_stands_for_n_10_to_the_5():
    assert [performance.sample_decade(n) for n in (10_000, 99_999, 100_000, 1_000_000)] == [4, 5, 5, 6]


def test_benchmark_missing_lists_the_target_configurations_without_a_row(tmp_path):
    every = [f"{a} {n} at 10^{d}" for a, n in performance.BENCHMARK_TARGETS for d in (4, 5, 6)]
    assert performance.benchmark_missing(tmp_path) == every  # nothing committed
    folder = _benchmark(tmp_path, [
        {"method": "paper", "n_samples": n, "algo": algo, "network": net, "seconds_ratio": 1.0,
         "products_ratio": 1.0, "peak_mib": 1.0, "before_mib": 0.0}
        for algo, net, n in [("ppo", "actor", 10_000), ("sac", "critic", 99_999), ("sac", "actor", 10_000)]])
    assert performance.benchmark_missing(folder) == ["ppo actor at 10^5", "ppo actor at 10^6", "sac critic at 10^4",
                                                "sac critic at 10^6"]
