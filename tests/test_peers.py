"""The peer libraries' wrappers (benchmarks/peers.py) against our dense float64 Hessian.

Each peer's Hessian operator, built from a real stable-baselines3 loss of a tiny Pendulum-v1 agent
(PPO actor and critic, SAC actor and critic) in float64, must reproduce the products of
``gradsub.hessian.dense_hessian``; each peer's solver path must return the top eigenpairs of
``numpy.linalg.eigh`` of that dense Hessian. Skipped when the ``bench`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "disable")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("curvlinops", reason="the bench extra (pip install -e '.[bench]')")
pytest.importorskip("hessian_eigenthings", reason="the bench extra (pip install -e '.[bench]')")

from stable_baselines3 import PPO, SAC  # noqa: E402

from gradsub import agents, hessian, lanczos, losses  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_ROWS = 37  # not a multiple of the chunk size: the last chunk is short, which weights must handle
CHUNK = 16


def _peers_module():
    spec = importlib.util.spec_from_file_location("benchmark_peers", ROOT / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _peers_module()


def _observations(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    angle = 2 * np.pi * torch.rand(n + 1, generator=gen, dtype=torch.float64)
    speed = 8 * torch.rand(n + 1, 1, generator=gen, dtype=torch.float64) - 4
    return torch.cat([torch.cos(angle)[:, None], torch.sin(angle)[:, None], speed], dim=1)


def _ppo_case(network: str):
    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=64,
                policy_kwargs=dict(net_arch=dict(pi=[8, 8], vf=[8, 8])), seed=0, device="cpu")
    model.policy.double()
    gen = torch.Generator().manual_seed(1)
    obs = _observations(N_ROWS, 1)[:N_ROWS]
    actions = 2.5 * torch.rand(N_ROWS, 1, generator=gen, dtype=torch.float64) - 1.25
    old_log_prob = losses.ppo_log_prob(model.policy, obs, actions) + 0.25 * torch.randn(
        N_ROWS, generator=gen, dtype=torch.float64)  # ratios spread out: some rows clip
    batch = {"observations": obs, "actions": actions, "old_log_prob": old_log_prob.detach(),
             "advantages": losses.normalize_advantages(torch.randn(N_ROWS, generator=gen, dtype=torch.float64)),
             "returns": torch.randn(N_ROWS, generator=gen, dtype=torch.float64)}
    return agents.network_losses(model)[network], batch


def _sac_case(network: str):
    model = SAC("MlpPolicy", "Pendulum-v1", buffer_size=64, learning_starts=0,
                policy_kwargs=dict(net_arch=[8, 8]), seed=0, device="cpu")
    model.policy.double()
    gen = torch.Generator().manual_seed(2)
    rollout = _observations(N_ROWS, 2)
    loss = agents.network_losses(model)[network]
    batch = {"observations": rollout[:N_ROWS], "actions": 2 * torch.rand(N_ROWS, 1, generator=gen,
                                                                          dtype=torch.float64) - 1,
             "noise": torch.randn(N_ROWS, 1, generator=gen, dtype=torch.float64)}
    if network == "critic":
        targets = losses.sac_critic_targets(
            model.policy, rollout[1:], torch.randn(N_ROWS, generator=gen, dtype=torch.float64),
            (torch.rand(N_ROWS, generator=gen, dtype=torch.float64) < 0.2).to(torch.float64),
            torch.randn(N_ROWS, 1, generator=gen, dtype=torch.float64),
            alpha=agents.entropy_coefficient(model), gamma=0.99)
        batch = {"observations": batch["observations"], "actions": batch["actions"], "target_q": targets}
    return loss, batch


CASES = {"ppo-actor": lambda: _ppo_case("actor"), "ppo-critic": lambda: _ppo_case("critic"),
         "sac-actor": lambda: _sac_case("actor"), "sac-critic": lambda: _sac_case("critic")}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    loss, batch = CASES[request.param]()
    dense = hessian.dense_hessian(loss, batch, chunk_size=CHUNK).numpy()
    assert np.abs(dense).max() > 1e-6  # a Hessian with curvature, not a trivial zero
    return loss, batch, dense


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _vectors(n: int, b: int) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((n, b))


# Products agree to rounding: float64 sums of a few hundred terms over 37 rows, far below 1e-10.
PRODUCT_TOL = 1e-10


def test_curvlinops_products_match_dense_hessian(case):
    loss, batch, dense = case
    operator = peers.curvlinops_operator(loss, batch, chunk_size=CHUNK, dtype=torch.float64)
    X = _vectors(dense.shape[0], 5)
    assert _rel(operator.matmat(X), dense @ X) <= PRODUCT_TOL
    assert _rel(operator.matvec(X[:, 0]), dense @ X[:, 0]) <= PRODUCT_TOL


def test_eigenthings_products_match_dense_hessian(case):
    loss, batch, dense = case
    operator = peers.CountingEigenthingsOperator(
        peers.eigenthings_operator(loss, batch, chunk_size=CHUNK, dtype=torch.float64))
    X = _vectors(dense.shape[0], 5)
    assert _rel(operator.matmat(X), dense @ X) <= PRODUCT_TOL


def _top(dense: np.ndarray, k: int):
    w, U = np.linalg.eigh(dense)
    return w[::-1][:k], U[:, ::-1][:, :k]


def _check_pairs(values, vectors, dense, k):
    w, U = _top(dense, k)
    scale = np.abs(w).max()
    # tol = 1e-4 relative residual: eigenvalues then agree to about tol^2 * scale / gap, far below 1e-6.
    assert np.allclose(values, w, rtol=1e-6, atol=1e-8 * scale)
    residual = np.linalg.norm(dense @ vectors - vectors * values, axis=0) / np.abs(values)
    assert residual.max() <= 1e-4
    # Each returned vector spans the same line as eigh's (the tiny cases' top eigenvalues are simple).
    assert np.allclose(np.abs(np.sum(vectors * U, axis=0)), 1.0, atol=1e-6)


def test_curvlinops_solver_path_matches_eigh(case):
    loss, batch, dense = case
    k = 5
    operator = peers.curvlinops_operator(loss, batch, chunk_size=CHUNK, dtype=torch.float64)
    pairs = lanczos.top_eigenpairs(operator, k, method="arpack", tol=1e-4, maxiter=500, seed=0)
    _check_pairs(pairs.values, pairs.vectors, dense, k)
    assert pairs.stats.n_products > 0


def test_eigenthings_solver_path_matches_eigh(case):
    loss, batch, dense = case
    k = 5
    operator = peers.eigenthings_operator(loss, batch, chunk_size=CHUNK, dtype=torch.float64)
    pairs = peers.eigenthings_top_eigenpairs(operator, k, tol=1e-4, seed=0)
    assert pairs.converged
    _check_pairs(pairs.values, pairs.vectors, dense, k)
    assert pairs.n_products == pairs.max_iter  # one product per Lanczos step


def test_operator_race_reports_every_operator():
    loss, batch = _ppo_case("actor")
    ours = hessian.HessianOperator(loss, batch, chunk_size=CHUNK)
    theirs = peers.curvlinops_operator(loss, batch, chunk_size=CHUNK, dtype=torch.float64)
    other = peers.EigenthingsScipyView(peers.eigenthings_operator(loss, batch, chunk_size=CHUNK,
                                                                  dtype=torch.float64))
    race = peers.operator_race({"ours": ours, "curvlinops": theirs, "hessian-eigenthings": other},
                               ours.shape[0], np.float64, vectors=2, block=3)
    assert set(race) == {"ours", "curvlinops", "hessian-eigenthings"}
    assert all(r["matvec_seconds"] > 0 for r in race.values())
    # the same Hessian: products agree to float64 rounding
    assert max(race[name]["max_rel_difference"] for name in race) <= PRODUCT_TOL
    assert "block_seconds_per_product" in race["curvlinops"] and "block_seconds_per_product" in race["ours"]
