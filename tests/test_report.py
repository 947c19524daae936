"""gradsub.report: the book's derived tables and the claims verdicts, on small frames with known answers."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradsub import NETWORKS, profiles, results, tasks
from gradsub.report import claims, figures, performance, provenance

RUN = {"seed": 0, "profile": "cpu"}


# --- the claims check: hand-made tables with known verdicts ----------------------------------------

def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[c.name for c in results.SCHEMAS[table]])


def _tables(**frames) -> dict[str, pd.DataFrame]:
    """Every table the check reads: the given frames, the others empty."""
    tables = {name: _empty(name) for name in results.SCHEMAS}
    tables["manifest"] = pd.DataFrame(columns=["task", "algo", "seed", "profile", "params"])
    return tables | frames


def _fraction_rows(task, algo, network, values, *, seed=0, k=100, n=10_000, gradient="precise",
                   hessian="precise", steps=(10_000, 50_000)) -> list[dict]:
    """S_frac rows of one run and network: ``values`` at ``steps`` (one value: the same at every step)."""
    values = values if isinstance(values, (list, tuple)) else [values] * len(steps)
    return [{"task": task, "algo": algo, "seed": seed, "profile": "cpu", "step": step, "network": network,
             "k": k, "gradient": gradient, "hessian": hessian, "value": v, "random_baseline": k / n,
             "n_params": n} for step, v in zip(steps, values)]


def _fractions(*row_lists) -> pd.DataFrame:
    return pd.DataFrame([row for rows in row_lists for row in rows])


def _verdicts(tables) -> pd.Series:
    return claims.claims_check(tables).set_index("claim")["verdict"]


def _comparisons(tables, claim) -> pd.DataFrame:
    found = claims.claim_comparisons(tables)
    return found[found["claim"] == claim]


def test_without_data_every_claim_is_untested_and_says_why():
    table = claims.claims_check(_tables())
    assert list(table["claim"]) == [c.name for c in claims.CLAIMS] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert set(table["verdict"]) == {"untested at our scale"}
    assert set(table["evidence"]) == {"none"}
    assert not table["ours"].str.contains("comparisons pass").any()
    assert set(table["verdict"]) <= set(claims.VERDICTS)


@pytest.mark.parametrize("value, verdict", [
    (0.9, "consistent"),      # 900 x k/n and mostly in the subspace
    (0.3, "mixed"),           # 300 x k/n, but not "mostly": the paper's wording is tested, not only k/n
    (0.005, "inconsistent"),  # 5 x k/n and far from "mostly"
])
def test_c2_tests_far_above_k_over_n_and_lies_mostly_in(value, verdict):
    # n = 100,000 parameters: k/n = 0.001, so 10 x k/n is easy to pass for a large network
    fractions = _fractions(_fraction_rows("Hopper", "sac", "actor", value, n=100_000))
    assert _verdicts(_tables(gradient_subspace_fraction=fractions))["C2"] == verdict
    found = _comparisons(_tables(gradient_subspace_fraction=fractions), "C2")
    assert sorted(found["comparison"].str.split(": ").str[-1]) == ["far above k/n", "lies mostly in the subspace"]


def _spectrum(values, *, seed=0, task="Pendulum", network="actor") -> pd.DataFrame:
    return pd.DataFrame({"task": task, "algo": "ppo", "seed": seed, "profile": "cpu", "step": 300_000,
                         "network": network, "index": np.arange(len(values)), "eigenvalue": values})


def test_c1_counts_negative_curvature_and_keeps_seeds_apart():
    rng = np.random.default_rng(0)
    bulk = 1e-3 * rng.standard_normal(995)
    outliers = np.concatenate([[50.0, 20.0, 8.0, 3.0, 1.0], bulk])
    assert _verdicts(_tables(spectrum=_spectrum(outliers)))["C1"] == "consistent"
    # the same with its most negative eigenvalue at half the largest: a large outlier that is not positive
    negative = np.concatenate([[50.0, 20.0, 8.0, -25.0, 1.0], bulk])
    found = _comparisons(_tables(spectrum=_spectrum(negative)), "C1").set_index("comparison")["passes"]
    assert found.filter(like="the large ones positive").tolist() == [False]
    assert found.filter(like="bulk near zero").tolist() == [True]
    assert _verdicts(_tables(spectrum=_spectrum(negative)))["C1"] == "mixed"
    # no bulk near zero, no handful, and half the large ones negative: every comparison fails
    assert _verdicts(_tables(spectrum=_spectrum(np.linspace(-2.0, 2.0, 1000))))["C1"] == "inconsistent"
    # two seeds: judged one by one (pooled, seed 1's flat spectrum would hide in seed 0's bulk)
    two = pd.concat([_spectrum(outliers, seed=0), _spectrum(np.linspace(1.0, 2.0, 1000), seed=1)])
    found = _comparisons(_tables(spectrum=two), "C1")
    assert found.groupby("seed")["passes"].all().to_dict() == {0: True, 1: False}


def _overlap_rows(task, algo, network, values, *, t1=100_000, k=100, n=10_000, seed=0) -> list[dict]:
    t2s = [t1 + 100_000 * (i + 1) for i in range(len(values))]
    return [{"task": task, "algo": algo, "seed": seed, "profile": "cpu", "network": network, "k": k, "t1": t1,
             "t2": t2, "value": v, "random_baseline": k / n, "n_params": n} for t2, v in zip(t2s, values)]


def test_c3_compares_critic_and_actor_at_k_100_only():
    fractions = _fractions(_fraction_rows("Walker2D", "ppo", "actor", 0.4),
                           _fraction_rows("Walker2D", "ppo", "critic", 0.7))
    # at k = 100 the critic's subspace is the more stable; at k = 10 the actor's is, by far (averaging
    # over every k would say the actor's)
    overlaps = pd.DataFrame(_overlap_rows("Walker2D", "ppo", "critic", [0.30]) +
                            _overlap_rows("Walker2D", "ppo", "actor", [0.25]) +
                            _overlap_rows("Walker2D", "ppo", "critic", [0.05], k=10) +
                            _overlap_rows("Walker2D", "ppo", "actor", [0.95], k=10))
    tables = _tables(gradient_subspace_fraction=fractions, subspace_overlap=overlaps)
    found = _comparisons(tables, "C3")
    assert len(found) == 2 and found["passes"].all()
    assert _verdicts(tables)["C3"] == "consistent"
    reverse = _fractions(_fraction_rows("Walker2D", "ppo", "actor", 0.7),
                         _fraction_rows("Walker2D", "ppo", "critic", 0.4))
    assert _verdicts(_tables(gradient_subspace_fraction=reverse, subspace_overlap=overlaps))["C3"] == "mixed"


def _curve(task, algo, steps, *, seed=0) -> pd.DataFrame:
    """A learning curve that rises linearly: initial, training and convergence phases in order."""
    steps = np.asarray(steps)
    return pd.DataFrame({"task": task, "algo": algo, "seed": seed, "profile": "cpu", "kind": "train",
                         "step": steps, "episode_return": steps / steps.max()})


def test_c4_matches_task_seed_and_phase_and_refuses_unmatched_groups():
    steps = np.arange(0, 1_000_001, 5_000)
    curves = pd.concat([_curve("Hopper", "ppo", steps), _curve("Hopper", "sac", steps),
                        _curve("Reacher", "sac", steps)])
    ppo_hopper = _fractions(_fraction_rows("Hopper", "ppo", "actor", 0.2, steps=(500_000,)),
                            _fraction_rows("Hopper", "ppo", "critic", 0.5, steps=(500_000,)))
    # SAC only on another task: no matched comparison, whatever the means
    unmatched = pd.concat([ppo_hopper,
                           _fractions(_fraction_rows("Reacher", "sac", "actor", 0.9, steps=(500_000,)),
                                      _fraction_rows("Reacher", "sac", "critic", 0.9, steps=(500_000,)))])
    tables = _tables(gradient_subspace_fraction=unmatched, learning_curve=curves)
    assert _verdicts(tables)["C4"] == "untested at our scale"
    assert _comparisons(tables, "C4").empty
    # the same task and seed in the same (training) phase: SAC above PPO, PPO's actor the lowest
    matched = pd.concat([ppo_hopper, _fractions(_fraction_rows("Hopper", "sac", "actor", 0.6, steps=(500_000,)),
                                                _fraction_rows("Hopper", "sac", "critic", 0.8, steps=(500_000,)))])
    tables = _tables(gradient_subspace_fraction=matched, learning_curve=curves)
    found = _comparisons(tables, "C4")
    assert len(found) == 3 and found["comparison"].str.contains("training phase").all()
    assert _verdicts(tables)["C4"] == "consistent"


def _solver_rows(task, algo, *, precise, minibatch, steps=(10_000, 50_000)) -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "algo": algo, "seed": 0, "profile": "cpu", "step": s, "network": net,
                          "hessian": h, "method": "block", "k": 100, "n_params": 10_000, "n_samples": n,
                          "n_products": 1, "n_data_passes": 1, "max_residual": 0.0, "warm_start": False}
                         for s in steps for net in NETWORKS
                         for h, n in (("precise", precise), ("minibatch", minibatch))])


def test_c5_compares_estimators_only_where_the_precise_sample_is_much_larger():
    fractions = _fractions(_fraction_rows("Walker2D", "ppo", "actor", 0.6),
                           _fraction_rows("Walker2D", "ppo", "actor", 0.4, gradient="minibatch"),
                           _fraction_rows("Walker2D", "ppo", "actor", 0.3, gradient="minibatch",
                                          hessian="minibatch"))
    large = _solver_rows("Walker2D", "ppo", precise=10_000, minibatch=512)  # 19.5 x; batch 32: 312 x
    tables = _tables(gradient_subspace_fraction=fractions, solver_stats=large)
    assert len(_comparisons(tables, "C5")) == 4 and _verdicts(tables)["C5"] == "consistent"
    # precise N = 2 x the mini-batch Hessian's rows: only the mini-batch gradient (batch 32) is compared
    small = _solver_rows("Walker2D", "ppo", precise=1_024, minibatch=512)
    found = _comparisons(_tables(gradient_subspace_fraction=fractions, solver_stats=small), "C5")
    assert found["comparison"].str.contains("precise Hessian").all() and len(found) == 2
    assert "left out" in claims.claims_check(_tables(gradient_subspace_fraction=fractions,
                                                     solver_stats=small)).set_index("claim").loc["C5", "ours"]


def test_c6_compares_with_the_papers_value_and_names_runs_short_of_t1():
    # far above k/n (k/n = 0.001) but under half of the paper's 0.4: mixed, with the gap stated
    overlaps = pd.DataFrame(_overlap_rows("Hopper", "ppo", "actor", [0.25, 0.17], n=100_000) +
                            _overlap_rows("Hopper", "ppo", "critic", [0.3, 0.18], n=100_000) +
                            _overlap_rows("Hopper", "sac", "critic", [0.9], t1=10_000, n=100_000))
    row = claims.claims_check(_tables(subspace_overlap=overlaps)).set_index("claim").loc["C6"]
    assert row["verdict"] == "mixed"
    assert row["paper's number"] == "about 0.4"
    assert row["gap to the paper"].startswith(f"{(0.17 + 0.18) / 2 - 0.4:+.2f}")
    assert "Hopper SAC" in row["ours"]  # its run stops before t1 = 100,000
    near = pd.DataFrame(_overlap_rows("Hopper", "ppo", "actor", [0.45, 0.4], n=100_000) +
                        _overlap_rows("Hopper", "ppo", "critic", [0.5, 0.45], n=100_000))
    assert _verdicts(_tables(subspace_overlap=near))["C6"] == "consistent"
    short = pd.DataFrame(_overlap_rows("Hopper", "sac", "critic", [0.9], t1=10_000))
    assert _verdicts(_tables(subspace_overlap=short))["C6"] == "untested at our scale"


def test_verdicts_summarise_tasks_and_evidence_names_the_estimator():
    fractions = _fractions(_fraction_rows("Hopper", "sac", "actor", 0.9, n=100_000),
                           _fraction_rows("Walker2D", "sac", "actor", 0.005, n=100_000))
    tables = _tables(gradient_subspace_fraction=fractions)
    by_task = claims.task_verdicts(claims.claim_comparisons(tables)).set_index(["claim", "task"])["verdict"]
    assert by_task[("C2", "Hopper")] == "consistent" and by_task[("C2", "Walker2D")] == "inconsistent"
    row = claims.claims_check(tables).set_index("claim").loc["C2"]
    assert row["verdict"] == "mixed"
    assert "2 of 12 tasks (Hopper, Walker2D)" in row["evidence"]
    assert claims.estimator_label("precise") in row["evidence"]


def test_the_gradient_estimate_is_a_checked_parameter():
    with pytest.raises(ValueError, match="gradient must be one of .*'precise'.*got 'minibatch'"):
        claims.claims_check(_tables(), gradient="minibatch")
    assert "precise" in claims.precise_gradient_estimates()
def test_runs_without_spectrum_lists_ppo_networks_with_data_but_no_spectrum():
    stats = pd.DataFrame([
        {"task": task, "algo": algo, **RUN, "step": 0, "network": net, "n_params": n}
        for task, algo, n in [("Small", "ppo", 4_000), ("Big", "ppo", 70_000), ("Big", "sac", 70_000)]
        for net in NETWORKS
    ])
    spectrum = pd.DataFrame([{"task": "Small", "algo": "ppo", **RUN, "step": 0, "network": net, "index": 0,
                              "eigenvalue": 1.0} for net in NETWORKS])
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


def test_cache_megabytes_count_every_solves_float64_eigenvectors():
    run = {"task": "Pendulum", "algo": "sac", "seed": 0, "profile": "cpu"}
    stats = pd.DataFrame([{**run, "step": step, "network": network, "hessian": hessian, "k": 100,
                           "n_params": 2**17 if network == "actor" else 2**16}
                          for step in (0, 10_000) for network in ("actor", "critic")
                          for hessian in ("precise", "minibatch")])
    # per checkpoint and Hessian: 100 x (2^17 + 2^16) x 8 bytes = 150 MiB; 2 checkpoints x 2 Hessians
    assert provenance.cache_megabytes(stats).to_dict("records") == [{**run, "cache_mb": 600.0}]


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
    assert plans.loc[0, "planned_minutes"] == profiles.planned_minutes("HalfCheetah", "sac", "cpu")
    assert plans.loc[[1, 2], "planned_minutes"].isna().all()


def test_training_rates_count_learning_steps_after_the_warmup_against_the_short_window(tmp_path):
    from gradsub.job import Job

    rows, timings = [], []
    for seed, profile, stale in ((0, "cpu", False), (1, "cpu", True), (2, "smoke", False)):
        params = Job("HalfCheetah", "sac", seed, profile, Path("data"), Path("artifacts")).params()
        if stale:
            params["settings"]["total_steps"] += 10_000
        rows.append({"task": "HalfCheetah", "algo": "sac", "seed": str(seed), "profile": profile, "status": "ok",
                     "params": json.dumps(params, sort_keys=True, default=str),
                     "params_hash": results.params_hash(params)})
        # two sessions trained seed 0
        timings += [{"task": "HalfCheetah", "algo": "sac", "seed": seed, "profile": profile, "stage": "train",
                     "step": -1, "seconds": 300.0} for _ in range(2)]
    (tmp_path / "benchmarks").mkdir()
    pd.DataFrame([{"quantity": "rate", "task": "HalfCheetah", "algo": "sac", "value": 50.0},
                  {"quantity": "rate", "task": "HalfCheetah", "algo": "ppo", "value": 900.0}]).to_csv(
        tmp_path / "benchmarks" / "plan_inputs.csv", index=False)
    rates = provenance.training_rates(pd.DataFrame(timings), pd.DataFrame(rows), tmp_path)
    assert rates["seed"].tolist() == [0]  # the stale cpu run and the smoke run are left out
    learning = profiles.get_profile("HalfCheetah", "sac", "cpu").total_steps - tasks.algo_config(
        "HalfCheetah", "sac").learning_starts
    row = rates.iloc[0]
    assert row["learning_steps"] == learning and row["train_minutes"] == 10.0
    assert row["steps_per_s"] == round(learning / 600, 1) and row["ratio"] == round(learning / 600 / 50, 2)


def test_campaign_hours_add_the_current_runs_of_the_profile():
    run = {"task": "HalfCheetah", "algo": "sac"}
    costs = pd.DataFrame([{**run, "seed": 0, "profile": "cpu", "total_minutes": 50.0, "last_run_minutes": 40.0},
                          {**run, "seed": 1, "profile": "cpu", "total_minutes": 20.0, "last_run_minutes": 70.0},
                          {**run, "seed": 2, "profile": "cpu", "total_minutes": 99.0, "last_run_minutes": 99.0},
                          {**run, "seed": 0, "profile": "long", "total_minutes": 600.0, "last_run_minutes": 0.0}])
    plans = costs[["task", "algo", "seed", "profile"]].assign(current=[True, True, False, True])
    assert provenance.campaign_hours(costs, plans) == {"runs": 2, "job_hours": 2.0, "machine_hours": 1.0}
    assert provenance.campaign_hours(costs, plans, "long")["job_hours"] == 10.0


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


# --- what a page rests on ------------------------------------------------------------------------------

def _used(seeds, task="Hopper", algo="ppo", steps=(0, 100_000)) -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "algo": algo, "seed": seed, "profile": "cpu", "step": step}
                         for seed in seeds for step in steps])


def test_evidence_line_states_runs_seeds_steps_and_n_against_the_papers():
    stats = _solver_rows("Hopper", "ppo", precise=10_000, minibatch=512, steps=(0, 100_000))
    one = provenance.evidence_line(_used([0]), stats)
    paper = profiles.get_profile("Hopper", "ppo", "paper")
    assert one.startswith("This page rests on 1 runs (PPO 1) on 1 of 12 tasks (Hopper)")
    assert f"1 seed per task and algorithm (the paper: {paper.n_seeds})" in one
    paper_steps = tasks.algo_config("Hopper", "ppo").paper_steps
    assert f"checkpoints up to 100k steps (the paper trains these to {paper_steps / 1e6:g}M)" in one
    assert f"N = 10,000 (the paper: {paper.n_precise:,})" in one
    assert "no error bars or bands are drawn" in one
    two = provenance.evidence_line(_used([0, 1]), stats)
    assert "2 seeds per task and algorithm" in two and "one standard deviation over seeds" in two
    assert "no error bars" not in provenance.evidence_line(_used([0]), stats, spread=False)
    assert provenance.evidence_line(_used([]), stats).startswith("No analysed runs yet")


def test_figure_2_draws_error_bars_with_two_seeds_and_none_with_one():
    import matplotlib.pyplot as plt
    from gradsub import plots

    def bars(seeds):
        return pd.DataFrame([{"task": "Hopper", "algo": "ppo", "seed": seed, "network": "actor", "phase": "initial",
                              "variant": plots.VARIANT_LABELS[("precise", "precise")], "value": 0.5 + 0.1 * seed,
                              "random_baseline": 0.01} for seed in seeds])

    for seeds, drawn in (([0], False), ([0, 1], True)):
        figure = plots.subspace_fraction_bars(bars(seeds))
        error_bars = [line for line in figure.axes[0].lines if np.isfinite(line.get_ydata()).all()]  # NaN: none
        assert bool(error_bars) == drawn, f"{len(seeds)} seed(s)"
        plt.close(figure)


def test_manifest_rows_of_other_profiles_than_the_registrys_are_not_jobs():
    # a scale-validation grid records its own manifest row, whose parameters are not a job's
    manifest = pd.DataFrame([{"task": "Pendulum", "algo": "ppo", "seed": "0", "profile": "scale",
                              "params": json.dumps({"grid": [1, 2]}), "params_hash": "x", "status": "ok"}])
    assert provenance.at_current_settings(manifest).tolist() == [False]
    row = provenance.coverage(manifest).set_index(["task", "algo"]).loc[("Pendulum", "ppo")]
    assert (row["runs"], row["at current settings"]) == (1, 0)
    assert provenance.job_plans(manifest)["planned_minutes"].isna().all()


def test_throughput_windows_pair_each_window_and_leave_the_profiled_whole_run_out(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    rows = []
    for parallel, short, whole in ((1, [100.0], [90.0]), (2, [80.0, 60.0], [40.0, 54.0])):
        for process in range(parallel):
            rows += [{"task": "Swimmer", "algo": "ppo", "parallel": parallel, "process": process, "steps": steps,
                      "window": window, "steps_per_s": rate, "env": None,
                      "whole_over_short": None if window == "short" else whole[process] / short[process]}
                     for window, steps, rate in (("short", 2048, short[process]), ("whole", 8000, whole[process]))]
    pd.DataFrame(rows).to_csv(folder / "throughput_x.csv", index=False)
    (folder / "throughput_x.json").write_text(json.dumps({"command": "benchmarks/throughput.py --profile-whole"}))
    pd.DataFrame(rows).drop(columns="whole_over_short").query("window == 'short'").to_csv(
        folder / "throughput.csv", index=False)  # short windows only: not a whole-run benchmark
    table = provenance.throughput_windows(tmp_path).set_index("processes")
    # process 0 of each count ran under the profiler: its whole run is left out, so the lone process
    # has no row and the pair's whole-run columns are process 1's
    assert table["benchmark"].tolist() == ["throughput_x"] and table.index.tolist() == [2]
    assert table.loc[2, "short_steps_per_s"] == 70.0 and table.loc[2, "whole_steps_per_s"] == 54.0
    assert table.loc[2, "ratio"] == 0.9 and table.loc[2, "short_steps"] == 2048 and table.loc[2, "whole_steps"] == 8000
