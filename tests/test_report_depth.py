"""The cpu-against-long comparison of the scale page, on hand-made fractions with known answers."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from gradsub import plots, results
from gradsub.report import depth


def _fractions() -> pd.DataFrame:
    rows = []
    # HalfCheetah SAC actor, two seeds: cpu to 40k, long to 300k; the long run ends 0.1 higher
    for seed, shift in ((0, -0.01), (1, 0.01)):
        for profile, steps in (("cpu", (0, 40_000)), ("long", (0, 100_000, 300_000))):
            for step in steps:
                for gradient, value in (("same sample", 0.9), ("cross-fitted", 0.8)):
                    end = profile == "long" and step == 300_000
                    rows.append({"task": "HalfCheetah", "algo": "sac", "network": "actor", "gradient": gradient,
                                 "profile": profile, "seed": seed, "step": step, "k": 100,
                                 "value": value + shift + (0.1 if end else 0.0)})
    return pd.DataFrame(rows)


def test_depth_table_averages_seeds_per_checkpoint_and_compares_the_ends():
    table = depth.depth_table(_fractions())
    assert list(table.columns) == ["task", "algo", "network", "gradient", "cpu 0", "cpu 40k", "long 0", "long 100k",
                                   "long 300k", "long - cpu at the end"]
    same = table[table["gradient"] == "same sample"].iloc[0]
    assert same["cpu 40k"] == pytest.approx(0.9)  # the two seeds' shifts cancel
    assert same["long 300k"] == pytest.approx(1.0)
    assert same["long - cpu at the end"] == pytest.approx(0.1)
    assert depth.largest_gap(table) == pytest.approx(0.1)


def test_no_paired_job_gives_an_empty_table_and_a_placeholder_figure():
    empty = _fractions().iloc[:0]
    assert depth.depth_table(empty).empty and depth.largest_gap(depth.depth_table(empty)) is None
    assert plots.fraction_at_length(empty) is not None
    assert plots.fraction_at_length(_fractions()) is not None


def _overlaps(task, algo, profile, t1, values_by_network) -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "algo": algo, "seed": 0, "profile": profile, "network": network, "k": 100,
                          "t1": t1, "t2": t1 + 100_000 * (i + 1), "value": v, "random_baseline": 0.001,
                          "n_params": 100_000}
                         for network, values in values_by_network.items() for i, v in enumerate(values)])


def _profile_tables(overlaps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    tables = {name: pd.DataFrame(columns=[c.name for c in results.SCHEMAS[name]]) for name in results.SCHEMAS}
    runs = overlaps[["task", "algo", "seed", "profile"]].drop_duplicates()
    return tables | {"subspace_overlap": overlaps, "manifest": runs.assign(params="{}", status="ok")}


def test_claims_at_length_sets_the_long_runs_beside_the_cpu_runs_of_the_same_jobs():
    # HalfCheetah SAC: the cpu run stops before t1 = 100k, the long run reaches it and holds near 0.4 with
    # the critic above the actor. Hopper PPO has a cpu run only (overlaps far under the paper's): left out.
    cpu = pd.concat([_overlaps("HalfCheetah", "sac", "cpu", 10_000, {"actor": [0.5], "critic": [0.6]}),
                     _overlaps("Hopper", "ppo", "cpu", 100_000, {"actor": [0.01], "critic": [0.02]})])
    long = _overlaps("HalfCheetah", "sac", "long", 100_000, {"actor": [0.45, 0.4], "critic": [0.5, 0.45]})
    by_profile = {"cpu": _profile_tables(cpu), "long": _profile_tables(long)}

    table = depth.claims_at_length(by_profile).set_index("claim")
    assert list(table.columns) == [f"{p}: {c}" for p in ("cpu", "long")
                                   for c in ("verdict", "comparisons passing", "gap to the paper")]
    assert table.loc["C6", "cpu: verdict"] == "untested at our scale"  # Hopper PPO would have made it fail
    assert table.loc["C6", "long: verdict"] == "consistent"
    assert table.loc["C6", "long: gap to the paper"].startswith(f"{(0.4 + 0.45) / 2 - 0.4:+.2f}")

    by_profile["long"] = _profile_tables(long.iloc[:0])
    assert depth.claims_at_length(by_profile).empty
