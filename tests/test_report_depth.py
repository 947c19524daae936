"""The cpu-against-long comparison of the scale page, on hand-made fractions with known answers."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from gradsub import plots
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
