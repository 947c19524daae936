"""The scale page's conclusions, from hand-made sample_size tables with known answers."""

import pandas as pd
import pytest

from gradsub import profiles, results
from gradsub.report import scale


def _rows(network: str, sizes, crossed, same, overlap, tol: float = 1e-4, step: int = 300_000) -> list[dict]:
    rows = []
    for n, c, s, o in zip(sizes, crossed, same, overlap):
        for sample, value in (("same", s), ("independent", c)):
            rows.append({"task": "Pendulum", "algo": "ppo", "seed": 0, "profile": "scale", "step": step,
                         "network": network, "n_params": 4545, "n_samples": n, "tol": tol, "k": 100,
                         "gradient_sample": sample, "s_frac": value, "random_baseline": 100 / 4545,
                         "overlap_with_largest": o, "overlap_with_tight_tol": 1.0,
                         "reference_n_samples": max(sizes), "n_products": 400, "n_data_passes": 40,
                         "seconds": 1.0, "peak_mib": 500.0, "solve_mib": 50.0, "machine": "test",
                         "git_commit": "test"})
    return rows


@pytest.fixture
def table() -> pd.DataFrame:
    sizes = (2_048, 10_000, 100_000, 1_000_000)
    rows = _rows("actor", sizes, crossed=(0.5, 0.90, 0.96, 0.97), same=(0.9, 0.95, 0.97, 0.97),
                 overlap=(0.4, 0.95, 0.85, 1.0))
    rows += _rows("critic", sizes, crossed=(0.97, 0.98, 0.99, 0.99), same=(0.99, 0.99, 0.99, 0.99),
                  overlap=(0.92, 0.95, 0.99, 1.0))
    return results.validate("sample_size", pd.DataFrame(rows))


def test_conclusions_need_the_condition_at_every_larger_n(table):
    found = scale.conclusions(table).set_index("network class")
    actor, critic = found.loc["PPO actor [64, 64]"], found.loc["PPO critic [64, 64]"]
    # actor: 0.90 is 0.07 from 0.97 at 10^4, so S_frac is within 0.05 from 10^5 on
    assert actor["N for S_frac within margin"] == 100_000
    # actor: the overlap reaches 0.95 at 10^4 but falls to 0.85 at 10^5: no N below 10^6 suffices
    assert pd.isna(actor["N for subspace overlap"])
    assert critic["N for S_frac within margin"] == 2_048 and critic["N for subspace overlap"] == 2_048
    cpu_n = profiles.get_profile("Pendulum", "ppo", "cpu").n_precise
    assert actor["cpu N"] == cpu_n == 10_000
    assert actor["inflation at cpu N"] == pytest.approx(0.95 - 0.90)
    assert actor["overlap at cpu N"] == pytest.approx(0.95)
    text = scale.summary(table)
    assert "PPO actor [64, 64]" in text and "no N below 1,000,000" in text and "by 0.050" in text


def test_conclusions_are_drawn_at_every_analysed_step(table):
    early = _rows("actor", (2_048, 10_000, 1_000_000), crossed=(0.32, 0.33, 0.35), same=(0.6, 0.3, 0.34),
                  overlap=(0.6, 0.97, 1.0), step=10_000)
    both = results.validate("sample_size", pd.concat([table, pd.DataFrame(early)], ignore_index=True))
    found = scale.conclusions(both).set_index(["network class", "step"])
    assert list(found.index) == [("PPO actor [64, 64]", 10_000), ("PPO actor [64, 64]", 300_000),
                                 ("PPO critic [64, 64]", 300_000)]
    first = found.loc[("PPO actor [64, 64]", 10_000)]
    assert first["N for S_frac within margin"] == 2_048 and first["N for subspace overlap"] == 10_000
    assert first["inflation at cpu N"] == pytest.approx(0.3 - 0.33)
    assert found.loc[("PPO actor [64, 64]", 300_000), "N for S_frac within margin"] == 100_000
    assert "step 10,000" in scale.summary(both) and "step 300,000" in scale.summary(both)


def test_cost_table_has_every_analysed_step(table):
    early = _rows("actor", (2_048, 1_000_000), crossed=(0.3, 0.3), same=(0.3, 0.3), overlap=(0.6, 1.0), step=10_000)
    both = results.validate("sample_size", pd.concat([table, pd.DataFrame(early)], ignore_index=True))
    cost = scale.cost_table(both)
    assert sorted(set(zip(cost["network class"], cost["step"]))) == [
        ("PPO actor [64, 64]", 10_000), ("PPO actor [64, 64]", 300_000), ("PPO critic [64, 64]", 300_000)]
    assert len(cost) == 2 + 4 + 4  # one row per (step, network, N): the same-sample solve
    assert list(cost.loc[cost["step"] == 10_000, "N"]) == [2_048, 1_000_000]


def test_tolerance_table_compares_with_the_papers_tolerance(table):
    loose = pd.DataFrame(_rows("actor", (10_000,), crossed=(0.90 + 2e-6,), same=(0.95,), overlap=(0.95,),
                               tol=1e-2)).assign(overlap_with_tight_tol=0.999)
    both = results.validate("sample_size", pd.concat([table, loose], ignore_index=True))
    tolerance = scale.tolerance_table(both)
    row = tolerance[tolerance["tol"] == 1e-2].iloc[0]
    assert row["max |dS_frac|"] == pytest.approx(2e-6) and row["overlap with tol 1e-4"] == 0.999
    assert set(tolerance["tol"]) == {1e-2, 1e-4}


def test_an_empty_table_gives_empty_conclusions():
    empty = results.validate("sample_size", pd.DataFrame({c.name: [] for c in results.SCHEMAS["sample_size"]}))
    assert scale.conclusions(empty).empty and "no committed results" in scale.summary(empty)
