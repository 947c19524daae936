"""The scale-validation grid: the cross-fitted estimator against a closed-form case, nested row pools,
and a tiny grid end to end (table, manifest, resume)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gradsub import agents, results, samples, scale
from gradsub.cli import main


def _least_squares(n: int, rows: int, rng: np.random.Generator):
    """Loss 0.5 * mean((x^T theta - y)^2) at theta = 0 with x ~ N(0, diag(sigma)), y = x^T 1.

    Population Hessian diag(sigma), population gradient -sigma (elementwise): the top-5 eigenvectors
    are e_1..e_5 (sigma has a gap after the fifth entry), so the population S_frac at k = 5 is
    sum(sigma[:5]^2) / sum(sigma^2).
    """
    sigma = np.r_[np.arange(10.0, 5.0, -1.0), np.ones(n - 5)]
    x = rng.standard_normal((rows, n)) * np.sqrt(sigma)
    batch = {"x": torch.tensor(x), "y": torch.tensor(x.sum(axis=1))}
    loss = SimpleNamespace(fn=lambda theta, b: 0.5 * torch.mean((b["x"] @ theta - b["y"]) ** 2),
                           theta=torch.zeros(n, dtype=torch.float64))
    return loss, batch, float(np.sum(sigma[:5] ** 2) / np.sum(sigma ** 2))


def _fractions(n: int, rows: int, seed: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    loss, own, population = _least_squares(n, rows, rng)
    _, independent, _ = _least_squares(n, rows, rng)
    out = scale.measure(loss, own, independent, k=5, tol=1e-8)
    return out["fractions"]["same"][-1], out["fractions"]["independent"][-1], population


def test_cross_fitted_fraction_removes_the_same_sample_bias():
    # N = 8 rows for n = 60 parameters: the sample's own gradient lies in the span of its 8 rows,
    # which is the Hessian's column space, so its top-5 subspace holds more of it than of a fresh one.
    small = np.array([_fractions(60, 8, seed)[:2] for seed in range(8)])
    assert small[:, 0].mean() > small[:, 1].mean() + 0.15
    assert (small[:, 0] > small[:, 1]).mean() >= 0.75
    # N = 20,000 >> n: both estimators agree with each other and with the population value
    # (sampling error of the top-5 subspace and the gradient is O(1/sqrt(N)) ~ 1e-2).
    same, independent, population = _fractions(60, 20_000, seed=0)
    assert abs(same - independent) < 0.02
    assert abs(same - population) < 0.03 and abs(independent - population) < 0.03


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A tiny grid of the smoke profile (k = 5): PPO at N in {64, 256}, SAC at 64 rows and the whole
    512-row buffer (too few rows for an independent half: no cross-fitted rows there)."""
    root = tmp_path_factory.mktemp("scale")
    runs = [scale.ScaleRun("Pendulum", "ppo", 512, (512,), (64, 256), 64, "test", "smoke", k=5),
            scale.ScaleRun("Pendulum", "sac", 512, (512,), (64, None), 64, "test", "smoke", k=5)]
    logged = []
    table = scale.run_grid(runs, data_dir=root / "data", artifacts_dir=root / "artifacts", log=logged.append)
    return SimpleNamespace(root=root, runs=runs, table=table, logged=logged)


def test_grid_writes_a_valid_table_and_manifest(grid):
    stored = results.read_table(grid.root / "data", "sample_size")
    assert len(stored) == len(grid.table) > 0
    manifest = results.read_manifest(grid.root / "data")
    assert sorted(manifest["run_id"]) == sorted(run.key.run_id for run in grid.runs)
    assert set(manifest["status"]) == {"ok"} and set(manifest["profile"]) == {"scale"}
    # every cell of the grid was solved and logged once
    assert len(grid.logged) == sum(len(scale.grid_cells(run)) for run in grid.runs)
    assert set(stored["k"]) == {1, 5}


def test_grid_reference_cells_and_cross_fitting(grid):
    table = grid.table
    tight = table[table["tol"] == scale.REFERENCE_TOL]
    largest = tight.groupby(["algo", "network"])["n_samples"].transform("max") == tight["n_samples"]
    assert np.allclose(tight.loc[largest, "overlap_with_largest"], 1.0)
    assert (table["reference_n_samples"] == table.groupby(["algo", "network"])["n_samples"].transform("max")).all()
    assert np.allclose(tight["overlap_with_tight_tol"], 1.0)
    loose = table[table["tol"] != scale.REFERENCE_TOL]
    assert set(loose["n_samples"]) == {64} and set(loose["tol"]) == {1e-2, 1e-3}
    ppo = table[table["algo"] == "ppo"]
    assert set(ppo["gradient_sample"]) == {"same", "independent"}
    sac = table[table["algo"] == "sac"]
    whole = sac[sac["n_samples"] == sac["n_samples"].max()]
    buffer = agents.load_checkpoint(scale.train_dir(grid.runs[1], grid.root / "artifacts"), 512).replay_size
    assert whole["n_samples"].iloc[0] == buffer > 64
    assert set(whole["gradient_sample"]) == {"same"}  # no disjoint half of the same size
    assert set(sac.loc[sac["n_samples"] == 64, "gradient_sample"]) == {"same", "independent"}
    assert (table["peak_mib"] >= table["solve_mib"]).all() and (table["n_products"] > 0).all()


def test_grid_resumes_without_solving_again(grid):
    path = results.table_path(grid.root / "data", "sample_size", grid.runs[0].key)
    before = path.read_bytes()
    logged = []
    scale.run_grid(grid.runs[:1], data_dir=grid.root / "data", artifacts_dir=grid.root / "artifacts",
                   log=logged.append)
    assert logged == [] and path.read_bytes() == before
    path.unlink()  # --write-only: the table again from the solved cells, nothing solved
    scale.run_grid(grid.runs[:1], data_dir=grid.root / "data", artifacts_dir=grid.root / "artifacts",
                   log=logged.append, solve=False)
    assert logged == [] and path.read_bytes() == before


def test_row_pool_prefix_is_the_precise_sample(grid):
    run = grid.runs[0]
    checkpoint = agents.load_checkpoint(scale.train_dir(run, grid.root / "artifacts"), 512)
    pool = samples.row_pool(checkpoint, seed=3, n=200)
    batch = samples.precise_batch(checkpoint, seed=3, n=150)
    taken = pool.take(0, 150)["actor"]
    for key, values in batch["actor"].items():
        torch.testing.assert_close(taken[key], values, rtol=0, atol=0)
    with pytest.raises(ValueError, match="outside the pool's 200 rows"):
        pool.take(100, 201)


def test_cli_refuses_an_unknown_run(capsys):
    assert main(["scale", "--runs", "Nope-ppo"]) == 2
    err = capsys.readouterr().err
    assert "unknown scale run 'Nope-ppo'" in err and "Pendulum-ppo" in err
