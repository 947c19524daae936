"""gradsub.losses against stable-baselines3's own gradients, in float64, on tiny Pendulum-v1 agents.

How SB3's gradients are captured (the oracle): a real SB3 model (PPO or SAC, tiny nets) is cast to
float64 with ``model.policy.double()`` and its ``train()`` is run for exactly one gradient step on our
batch, with
- the rollout buffer's ``get`` (PPO) or replay buffer's ``sample`` (SAC) patched to return our batch
  (one mini-batch holding all N rows, so SB3 sees exactly the rows our loss sees);
- every optimizer's ``step`` patched to record each parameter's ``.grad`` and change nothing;
- grad clipping made a no-op: ``max_grad_norm`` = 1e12, so clip_grad_norm_ multiplies by exactly 1.0;
- SAC's noise made identical: ``torch.distributions.normal._standard_normal`` (which Normal.rsample
  and SB3's gSDE exploration matrix draw from) patched to hand out our recorded noise, in SB3's order;
- SB3's ``preprocess_obs`` patched to keep float64 observations (SB3 casts with ``obs.float()``).
Observations come from a seeded random-action Pendulum-v1 rollout; actions, advantages and returns are
seeded random numbers (old_log_prob is the policy's log-probability perturbed, so some ratios clip).
"""

from __future__ import annotations

import ast
import inspect
import os
from collections.abc import Iterator

os.environ.setdefault("MUJOCO_GL", "disable")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import stable_baselines3.common.policies as sb3_policies  # noqa: E402
import stable_baselines3.sac.policies as sb3_sac_policies  # noqa: E402
import torch  # noqa: E402
import torch.distributions.normal as torch_normal  # noqa: E402
from stable_baselines3 import PPO, SAC  # noqa: E402
from stable_baselines3.common.logger import Logger  # noqa: E402
from stable_baselines3.common.type_aliases import ReplayBufferSamples, RolloutBufferSamples  # noqa: E402

import gradsub.losses as losses  # noqa: E402
from gradsub import NETWORKS  # noqa: E402
from gradsub.hessian import HessianOperator, dense_hessian, gradient  # noqa: E402
from gradsub.lanczos import top_eigenpairs  # noqa: E402
from gradsub.metrics import gradient_subspace_fraction, subspace_overlap  # noqa: E402
from gradsub.losses import (  # noqa: E402
    NetworkLoss,
    flatten_parameters,
    normalize_advantages,
    ppo_actor_loss,
    ppo_critic_loss,
    ppo_log_prob,
    sac_actor_loss,
    sac_critic_loss,
    sac_critic_targets,
    unflatten,
)

torch.set_num_threads(1)
# torch's forward-mode AD (torch.func.jvp) scripts its own decompositions on first use.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

ENV_ID = "Pendulum-v1"
N_ROWS = 37  # prime: no chunk size used below divides it
CLIP_RANGE = 0.2
ENT_COEF = 0.01
VF_COEF = 0.5
GAMMA = 0.99
# Float64 throughout; ours and SB3's differ at most in the order of a few float operations, so the
# gradients agree to ~1e-15 relative. 1e-9 leaves room for that and still catches any wrong term
# (a missing entropy term, clip or factor changes the gradient by >= 1e-3 relative here).
REL_TOL = 1e-9
# Chunked sums reorder float64 additions only.
CHUNK_TOL = 1e-12


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _keep_dtype(obs, observation_space, normalize_images=True):
    # SB3's preprocess_obs for a flat Box is obs.float(); keep float64 instead.
    return obs


@pytest.fixture
def sb3_float64(monkeypatch):
    monkeypatch.setattr(sb3_policies, "preprocess_obs", _keep_dtype)


def _observations(n: int, seed: int) -> torch.Tensor:
    env = gym.make(ENV_ID)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(n + 1):
        rows.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return torch.as_tensor(np.array(rows), dtype=torch.float64)


def _record_step(optimizer, module: torch.nn.Module, prefix: str, record: dict) -> None:
    def step(*args, **kwargs):
        for name, p in module.named_parameters():
            if p.grad is not None:
                record[prefix + name] = p.grad.detach().clone()

    optimizer.step = step


def _flat(record: dict, names: tuple[str, ...]) -> torch.Tensor:
    missing = [n for n in names if n not in record]
    assert not missing, f"SB3 produced no gradient for {missing}"
    return torch.cat([record[n].reshape(-1) for n in names])


# ---------------------------------------------------------------------------------------------------
# PPO


def _ppo(use_sde: bool = False):
    model = PPO("MlpPolicy", ENV_ID, n_steps=N_ROWS, batch_size=N_ROWS, n_epochs=1, ent_coef=ENT_COEF,
                vf_coef=VF_COEF, clip_range=CLIP_RANGE, max_grad_norm=1e12, use_sde=use_sde,
                policy_kwargs=dict(net_arch=dict(pi=[8, 8], vf=[8, 8])), seed=0, device="cpu")
    model.policy.double()
    model.set_logger(Logger(folder=None, output_formats=[]))
    names = [n for n, _ in model.policy.named_parameters()]
    critic = tuple(n for n in names if n.startswith(("mlp_extractor.value_net.", "value_net.")))
    actor = tuple(n for n in names if n not in critic)
    return model, actor, critic


def _ppo_batch(model, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    obs = _observations(N_ROWS, seed)[:N_ROWS]
    actions = 2.5 * torch.rand(N_ROWS, 1, generator=gen, dtype=torch.float64) - 1.25
    log_prob = ppo_log_prob(model.policy, obs, actions)
    # Perturb so that ratios spread over [0.6, 1.6]: some rows clip on each side.
    old_log_prob = log_prob + 0.25 * torch.randn(N_ROWS, generator=gen, dtype=torch.float64)
    return {
        "observations": obs,
        "actions": actions,
        "old_log_prob": old_log_prob,
        "raw_advantages": torch.randn(N_ROWS, generator=gen, dtype=torch.float64) * 3 + 0.5,
        "returns": torch.randn(N_ROWS, generator=gen, dtype=torch.float64) * 2,
    }


def _ppo_losses(model, actor, critic, batch):
    ours = dict(batch, advantages=normalize_advantages(batch["raw_advantages"]))
    return (ppo_actor_loss(model.policy, actor, clip_range=CLIP_RANGE, ent_coef=ENT_COEF),
            ppo_critic_loss(model.policy, critic, vf_coef=VF_COEF), ours)


def _sb3_ppo_gradients(model, batch, monkeypatch) -> dict[str, torch.Tensor]:
    samples = RolloutBufferSamples(
        observations=batch["observations"], actions=batch["actions"],
        old_values=torch.zeros(N_ROWS, dtype=torch.float64), old_log_prob=batch["old_log_prob"],
        advantages=batch["raw_advantages"], returns=batch["returns"])
    monkeypatch.setattr(model.rollout_buffer, "get", lambda batch_size=None: iter([samples]))
    record: dict[str, torch.Tensor] = {}
    _record_step(model.policy.optimizer, model.policy, "", record)
    with np.errstate(all="ignore"):  # explained_variance of the unused buffer
        model.train()
    return record


@pytest.mark.parametrize("use_sde", [False, True], ids=["gaussian", "gsde"])
def test_ppo_gradients_match_sb3(use_sde, sb3_float64, monkeypatch):
    model, actor, critic = _ppo(use_sde)
    batch = _ppo_batch(model)
    actor_loss, critic_loss, ours = _ppo_losses(model, actor, critic, batch)
    ratio = torch.exp(ppo_log_prob(model.policy, batch["observations"], batch["actions"]) - batch["old_log_prob"])
    assert (ratio > 1 + CLIP_RANGE).any() and (ratio < 1 - CLIP_RANGE).any()  # the clip is exercised

    record = _sb3_ppo_gradients(model, batch, monkeypatch)
    assert set(record) == set(actor) | set(critic)
    for loss, names in ((actor_loss, actor), (critic_loss, critic)):
        ours_grad = torch.func.grad(loss.fn)(loss.theta, ours)
        assert ours_grad.dtype == torch.float64
        assert _rel_err(ours_grad, _flat(record, names)) <= REL_TOL, loss.network


def test_ppo_entropy_term_and_at_point(sb3_float64):
    """At old_log_prob = current log-prob the actor loss is -mean(A) + ent_coef * (-mean(entropy))."""
    model, actor, _ = _ppo()
    batch = _ppo_batch(model)
    batch["old_log_prob"] = ppo_log_prob(model.policy, batch["observations"], batch["actions"])
    loss = ppo_actor_loss(model.policy, actor, clip_range=CLIP_RANGE, ent_coef=ENT_COEF)
    adv = normalize_advantages(batch["raw_advantages"])
    value = loss.fn(loss.theta, dict(batch, advantages=adv))
    with torch.no_grad():
        _, _, entropy = model.policy.evaluate_actions(batch["observations"], batch["actions"])
    expected = -adv.mean() - ENT_COEF * entropy.mean()
    assert abs(float(value - expected)) <= 1e-12


def test_normalize_advantages_matches_sb3_formula():
    adv = torch.tensor([1.0, -2.0, 3.5, 0.25], dtype=torch.float64)
    expected = (adv - adv.mean()) / (adv.std(unbiased=True) + 1e-8)
    assert torch.equal(normalize_advantages(adv), expected)
    assert torch.equal(normalize_advantages(adv[:, None]), expected)
    one = torch.tensor([2.0], dtype=torch.float64)
    assert torch.equal(normalize_advantages(one), one)  # SB3 skips normalisation for one row
    with pytest.raises(ValueError, match="NaN"):
        normalize_advantages(torch.tensor([1.0, float("nan")]))


# ---------------------------------------------------------------------------------------------------
# SAC


def _sac(use_sde: bool = False):
    model = SAC("MlpPolicy", ENV_ID, buffer_size=N_ROWS, learning_starts=0, batch_size=N_ROWS,
                gamma=GAMMA, use_sde=use_sde, policy_kwargs=dict(net_arch=[16, 16]), seed=0, device="cpu")
    model.policy.double()
    model.set_logger(Logger(folder=None, output_formats=[]))
    names = [n for n, _ in model.policy.named_parameters()]
    actor = tuple(n for n in names if n.startswith("actor."))
    critic = tuple(n for n in names if n.startswith("critic."))
    alpha = float(torch.exp(model.log_ent_coef.detach()))
    return model, actor, critic, alpha


def _sac_batch(n: int, seed: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rollout = _observations(n, seed)
    return {
        "observations": rollout[:n],
        "next_observations": rollout[1:],
        "actions": 2 * torch.rand(n, 1, generator=gen, dtype=torch.float64) - 1,
        "rewards": torch.randn(n, generator=gen, dtype=torch.float64),
        "dones": (torch.rand(n, generator=gen, dtype=torch.float64) < 0.2).to(torch.float64),
        "noise": torch.randn(n, 1, generator=gen, dtype=torch.float64),
        "next_noise": torch.randn(n, 1, generator=gen, dtype=torch.float64),
    }


def _sb3_sac_gradients(model, batch, draws: list[torch.Tensor], monkeypatch) -> dict[str, torch.Tensor]:
    samples = ReplayBufferSamples(
        observations=batch["observations"], actions=batch["actions"],
        next_observations=batch["next_observations"], dones=batch["dones"][:, None],
        rewards=batch["rewards"][:, None])
    monkeypatch.setattr(model.replay_buffer, "sample", lambda batch_size, env=None: samples)
    queue = list(draws)

    def standard_normal(shape, dtype, device):
        eps = queue.pop(0)
        assert tuple(eps.shape) == tuple(shape)
        return eps.to(dtype=dtype, device=device)

    monkeypatch.setattr(torch_normal, "_standard_normal", standard_normal)
    record: dict[str, torch.Tensor] = {}
    _record_step(model.actor.optimizer, model.actor, "actor.", record)
    _record_step(model.critic.optimizer, model.critic, "critic.", record)
    model.ent_coef_optimizer.step = lambda *a, **k: None
    model.train(gradient_steps=1, batch_size=len(batch["rewards"]))
    assert not queue, "SB3 drew less noise than expected"
    return record


def test_sac_gradients_match_sb3(sb3_float64, monkeypatch):
    model, actor, critic, alpha = _sac()
    batch = _sac_batch(N_ROWS)
    target_q = sac_critic_targets(model.policy, batch["next_observations"], batch["rewards"], batch["dones"],
                                  batch["next_noise"], gamma=GAMMA, alpha=alpha)
    actor_loss = sac_actor_loss(model.policy, actor, alpha=alpha)
    critic_loss = sac_critic_loss(model.policy, critic)
    ours = dict(batch, target_q=target_q)
    ours_grads = {loss.network: torch.func.grad(loss.fn)(loss.theta, ours) for loss in (actor_loss, critic_loss)}

    # SB3 draws the actor's noise first (actions for s), then the target's (actions for s').
    record = _sb3_sac_gradients(model, batch, [batch["noise"], batch["next_noise"]], monkeypatch)
    assert _rel_err(ours_grads["actor"], _flat(record, actor)) <= REL_TOL
    assert _rel_err(ours_grads["critic"], _flat(record, critic)) <= REL_TOL


def test_sac_gsde_gradients_match_sb3_on_one_row(sb3_float64, monkeypatch):
    """gSDE: SB3 shares one exploration matrix W per step; we draw per-row noise z with
    u = mu + sqrt(latent^2 @ std^2) * z. For one row, W_jk = z_k latent_j std_jk / s_k (s_k the
    sqrt) gives SB3 the same action and the same first derivatives, so the gradients must agree."""
    model, actor, critic, alpha = _sac(use_sde=True)
    batch = _sac_batch(1, seed=3)
    pol = model.policy
    with torch.no_grad():
        std = pol.actor.get_std()  # [latent, act]
        latent = pol.actor.latent_pi(batch["observations"])[0]
        s = torch.sqrt((latent[:, None] ** 2 * std**2).sum(0))
        assert (s > 0).all()
        matrix = batch["noise"][0] * latent[:, None] * std / s  # W / std = the standard-normal draw
        next_latent = pol.actor.latent_pi(batch["next_observations"])[0]
        next_s = torch.sqrt((next_latent[:, None] ** 2 * std**2).sum(0))
        next_noise = (next_latent @ (matrix * std) / next_s)[None, :]  # same a' as SB3's W
    target_q = sac_critic_targets(pol, batch["next_observations"], batch["rewards"], batch["dones"],
                                  next_noise, gamma=GAMMA, alpha=alpha)
    ours = dict(batch, target_q=target_q)
    actor_loss = sac_actor_loss(pol, actor, alpha=alpha)
    critic_loss = sac_critic_loss(pol, critic)
    ours_grads = {loss.network: torch.func.grad(loss.fn)(loss.theta, ours) for loss in (actor_loss, critic_loss)}

    # reset_noise draws exploration_mat, then exploration_matrices (one per env, unused here).
    draws = [matrix, torch.zeros(1, *matrix.shape, dtype=torch.float64)]
    record = _sb3_sac_gradients(model, batch, draws, monkeypatch)
    assert _rel_err(ours_grads["actor"], _flat(record, actor)) <= REL_TOL
    assert _rel_err(ours_grads["critic"], _flat(record, critic)) <= REL_TOL


@pytest.mark.parametrize("use_sde", [False, True], ids=["gaussian", "gsde"])
def test_sac_actor_without_grad_through_q_is_the_entropy_term(use_sde, sb3_float64, monkeypatch):
    """grad_through_q=False (an earlier version of the authors' code): same value, and the gradient of
    mean(alpha * log pi(a~|s)) alone, computed here by SB3's own actor.action_log_prob."""
    model, actor, _, alpha = _sac(use_sde)
    batch = _sac_batch(1 if use_sde else N_ROWS, seed=4)
    correct = sac_actor_loss(model.policy, actor, alpha=alpha)
    historical = sac_actor_loss(model.policy, actor, alpha=alpha, grad_through_q=False)
    assert torch.equal(correct.fn(correct.theta, batch), historical.fn(historical.theta, batch))
    ours = torch.func.grad(historical.fn)(historical.theta, batch)

    if use_sde:  # one row, exploration matrix aligned with our noise (see the test above)
        with torch.no_grad():
            std = model.actor.get_std()
            latent = model.actor.latent_pi(batch["observations"])[0]
            s = torch.sqrt((latent[:, None] ** 2 * std**2).sum(0))
            matrix = batch["noise"][0] * latent[:, None] * std / s
            draws = [matrix, torch.zeros(1, *matrix.shape, dtype=torch.float64)]
        monkeypatch.setattr(torch_normal, "_standard_normal", lambda shape, dtype, device: draws.pop(0))
        model.actor.reset_noise()
    else:
        draws = [batch["noise"]]
        monkeypatch.setattr(torch_normal, "_standard_normal", lambda shape, dtype, device: draws.pop(0))
    _, log_prob = model.actor.action_log_prob(batch["observations"])
    params = [dict(model.policy.named_parameters())[n] for n in actor]
    sb3 = torch.autograd.grad((alpha * log_prob).mean(), params, allow_unused=True)
    sb3 = torch.cat([torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for g, p in zip(sb3, params)])
    assert _rel_err(ours, sb3) <= REL_TOL
    assert _rel_err(ours, torch.func.grad(correct.fn)(correct.theta, batch)) > 1e-3  # Q does matter


def test_sac_log_std_bounds_are_sb3s():
    assert losses.SAC_LOG_STD_MIN == sb3_sac_policies.LOG_STD_MIN
    assert losses.SAC_LOG_STD_MAX == sb3_sac_policies.LOG_STD_MAX


def test_sac_critic_targets_chunking_and_shapes():
    model, _, _, alpha = _sac()
    batch = _sac_batch(N_ROWS)
    args = (model.policy, batch["next_observations"], batch["rewards"], batch["dones"], batch["next_noise"])
    y = sac_critic_targets(*args, gamma=GAMMA, alpha=alpha)
    assert y.shape == (N_ROWS,) and y.dtype == torch.float64
    assert torch.allclose(sac_critic_targets(*args, gamma=GAMMA, alpha=alpha, chunk_size=5), y,
                          rtol=0, atol=1e-12)
    column = sac_critic_targets(model.policy, batch["next_observations"], batch["rewards"][:, None],
                                batch["dones"][:, None], batch["next_noise"], gamma=GAMMA, alpha=alpha)
    assert torch.equal(column, y)


# ---------------------------------------------------------------------------------------------------
# Properties of every loss


def _all_losses() -> Iterator[tuple[NetworkLoss, dict[str, torch.Tensor]]]:
    sb3_policies.preprocess_obs, original = _keep_dtype, sb3_policies.preprocess_obs
    try:
        for use_sde in (False, True):
            model, actor, critic = _ppo(use_sde)
            actor_loss, critic_loss, batch = _ppo_losses(model, actor, critic, _ppo_batch(model))
            yield actor_loss, batch
            yield critic_loss, batch
            model, actor, critic, alpha = _sac(use_sde)
            batch = _sac_batch(N_ROWS)
            batch["target_q"] = sac_critic_targets(model.policy, batch["next_observations"], batch["rewards"],
                                                   batch["dones"], batch["next_noise"], gamma=GAMMA, alpha=alpha)
            yield sac_actor_loss(model.policy, actor, alpha=alpha), batch
            yield sac_actor_loss(model.policy, actor, alpha=alpha, grad_through_q=False), batch
            yield sac_critic_loss(model.policy, critic), batch
    finally:
        sb3_policies.preprocess_obs = original


@pytest.fixture(scope="module")
def every_loss() -> list[tuple[NetworkLoss, dict[str, torch.Tensor]]]:
    return list(_all_losses())


def test_loss_is_row_weighted_sum_over_chunks(every_loss):
    for loss, batch in every_loss:
        whole = loss.fn(loss.theta, batch)
        grad = torch.func.grad(loss.fn)(loss.theta, batch)
        chunked, chunked_grad = 0.0, torch.zeros_like(grad)
        for start in range(0, N_ROWS, 10):
            chunk = {k: v[start:start + 10] for k, v in batch.items()}
            weight = len(chunk["observations"]) / N_ROWS
            chunked = chunked + weight * loss.fn(loss.theta, chunk)
            chunked_grad += weight * torch.func.grad(loss.fn)(loss.theta, chunk)
        assert abs(float(chunked - whole)) <= CHUNK_TOL * max(1.0, abs(float(whole))), loss.network
        assert _rel_err(chunked_grad, grad) <= CHUNK_TOL, loss.network


def test_float32_theta_evaluates_a_float64_policy_in_float32(every_loss):
    # What mixed-precision solvers do (gradsub.lanczos precision="auto"): the policy stays float64,
    # theta and hence every parameter and the batch are float32; the result is float32 and close.
    for loss, batch in every_loss:
        assert loss.theta.dtype == torch.float64
        low = loss.fn(loss.theta.float(), batch)
        assert low.dtype == torch.float32, loss.network
        assert abs(float(low) - float(loss.fn(loss.theta, batch))) <= 1e-5 * max(1.0, abs(float(low)))
        grad = torch.func.grad(loss.fn)
        assert _rel_err(grad(loss.theta.float(), batch).double(), grad(loss.theta, batch)) <= 1e-4, loss.network


def test_repeated_evaluation_is_bit_identical(every_loss):
    for loss, batch in every_loss:
        assert torch.equal(loss.fn(loss.theta, batch), loss.fn(loss.theta, batch))
        grad = torch.func.grad(loss.fn)
        assert torch.equal(grad(loss.theta, batch), grad(loss.theta, batch))


def test_hessian_by_torch_func_matches_double_backward(every_loss):
    """The losses compose with torch.func transforms (forward-over-reverse, as gradsub.hessian can use)."""
    for loss, batch in every_loss:
        v = torch.randn(loss.theta.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        forward = torch.func.jvp(torch.func.grad(lambda t: loss.fn(t, batch)), (loss.theta,), (v,))[1]
        theta = loss.theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss.fn(theta, batch), theta, create_graph=True)
        (backward,) = torch.autograd.grad(g, theta, grad_outputs=v)
        assert _rel_err(forward, backward) <= 1e-10, loss.network  # two AD modes, float64 rounding
        assert torch.isfinite(forward).all()


def test_block_eigensolver_matches_eigh_and_arpack_on_every_real_loss(every_loss):
    """Issue 6's accuracy on real networks' Hessians (stable-baselines3 policies, all four losses and the
    historical SAC actor loss): the analysis default ("block", mixed precision, block-diagonal detection)
    against ``numpy.linalg.eigh`` of the dense float64 Hessian and against the paper's ARPACK."""
    tol, k = 1e-4, 10
    for loss, batch in every_loss:
        H = dense_hessian(loss, batch, chunk_size=10).numpy()
        lam, U = np.linalg.eigh((H + H.T) / 2)
        lam, U = lam[::-1], U[:, ::-1]
        operator = HessianOperator(loss, batch, chunk_size=10)
        block = top_eigenpairs(operator, k, method="block", seed=0)
        arpack = top_eigenpairs(operator, k, method="arpack", seed=0)
        g = gradient(loss, batch, chunk_size=10).numpy()
        for pairs in (block, arpack):
            name = f"{loss.network} {pairs.stats.method}"
            assert pairs.stats.residuals.max() <= tol, name
            # Residual <= tol |theta| puts theta within tol |theta| of an eigenvalue; all top k found.
            np.testing.assert_allclose(pairs.values, lam[:k], rtol=1.01 * tol, atol=1e-12, err_msg=name)
            # Compared at a spectral gap (inside a cluster single vectors are not defined).
            gaps = [j for j in range(1, k) if (lam[j - 1] - lam[j]) > 1e-3 * abs(lam[j - 1])]
            assert subspace_overlap(pairs.vectors[:, :gaps[-1]], U[:, :gaps[-1]]) >= 0.99, name
            for level in (1, 2, 5, k):
                exact = gradient_subspace_fraction(g, U[:, :level])
                assert abs(gradient_subspace_fraction(g, pairs.vectors[:, :level]) - exact) <= 1e-3, (name, level)


def test_loss_theta_is_a_detached_copy_and_modules_untouched(every_loss):
    for loss, batch in every_loss:
        assert loss.network in NETWORKS
        assert not loss.theta.requires_grad
        assert loss.theta.dim() == 1 and loss.theta.dtype == torch.float64
    model, actor, critic = _ppo()
    before = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    loss = ppo_critic_loss(model.policy, critic, vf_coef=VF_COEF)
    loss.theta.add_(1.0)
    batch = {"observations": torch.zeros(3, 3, dtype=torch.float64), "returns": torch.zeros(3, dtype=torch.float64)}
    torch.func.grad(loss.fn)(loss.theta, batch)
    assert all(torch.equal(p, before[n]) for n, p in model.policy.named_parameters())
    # The other network's parameters are constants: backward() leaves every module .grad alone.
    model, actor, _, alpha = _sac()
    loss = sac_actor_loss(model.policy, actor, alpha=alpha)
    batch = _sac_batch(5)
    theta = loss.theta.clone().requires_grad_(True)
    loss.fn(theta, batch).backward()
    assert theta.grad is not None and theta.grad.norm() > 0
    assert all(p.grad is None for p in model.policy.parameters())


def test_flatten_unflatten_round_trip():
    model, actor, _ = _ppo()
    theta = flatten_parameters(model.policy, actor)
    assert theta.numel() == sum(dict(model.policy.named_parameters())[n].numel() for n in actor)
    pieces = unflatten(theta, model.policy, actor)
    assert list(pieces) == list(actor)
    for name, p in model.policy.named_parameters():
        if name in pieces:
            assert torch.equal(pieces[name], p.detach())
    with pytest.raises(ValueError, match="not parameters"):
        flatten_parameters(model.policy, ("no.such.weight",))
    with pytest.raises(ValueError, match="more than once"):
        flatten_parameters(model.policy, (actor[0], actor[0]))


def test_float32_policy_runs_in_float32():
    model = PPO("MlpPolicy", ENV_ID, n_steps=N_ROWS, batch_size=N_ROWS,
                policy_kwargs=dict(net_arch=dict(pi=[8, 8], vf=[8, 8])), seed=0, device="cpu")
    critic = tuple(n for n, _ in model.policy.named_parameters() if "value" in n)
    loss = ppo_critic_loss(model.policy, critic, vf_coef=VF_COEF)
    batch = {"observations": torch.zeros(4, 3, dtype=torch.float64), "returns": torch.ones(4, dtype=torch.float64)}
    assert loss.theta.dtype == torch.float32
    assert loss.fn(loss.theta, batch).dtype == torch.float32


# ---------------------------------------------------------------------------------------------------
# Bad input


def test_bad_inputs_raise_clear_errors(every_loss):
    loss, batch = every_loss[0]  # PPO actor
    n = loss.theta.numel()
    with pytest.raises(ValueError, match=rf"n = {n}.*got shape \({n - 1},\)"):
        loss.fn(loss.theta[:-1], batch)
    with pytest.raises(ValueError, match="missing keys.*old_log_prob"):
        loss.fn(loss.theta, {k: v for k, v in batch.items() if k != "old_log_prob"})
    bad = dict(batch, advantages=batch["advantages"].clone())
    bad["advantages"][5] = float("nan")
    with pytest.raises(ValueError, match=rf"advantages.*NaN.*1 of {N_ROWS} rows.*row 5"):
        loss.fn(loss.theta, bad)
    with pytest.raises(ValueError, match=r"observations.*shape \[N, 3\].*\[37, 2\]"):
        loss.fn(loss.theta, dict(batch, observations=batch["observations"][:, :2]))
    with pytest.raises(ValueError, match="disagree on the number of rows"):
        loss.fn(loss.theta, dict(batch, actions=batch["actions"][:-1]))


def test_bad_construction_raises_clear_errors():
    model, actor, critic = _ppo()
    with pytest.raises(ValueError, match="clip_range must be a number.*schedule"):
        ppo_actor_loss(model.policy, actor, clip_range=model.clip_range, ent_coef=0.0)
    with pytest.raises(ValueError, match="param_names is empty"):
        ppo_critic_loss(model.policy, (), vf_coef=0.5)
    model, actor, critic, alpha = _sac()
    with pytest.raises(ValueError, match="starting with 'actor.'"):
        sac_actor_loss(model.policy, actor + critic[:1], alpha=alpha)
    with pytest.raises(ValueError, match="starting with 'critic.'"):
        sac_critic_loss(model.policy, ("critic_target.qf0.0.weight",))
    with pytest.raises(TypeError, match="SACPolicy"):
        sac_actor_loss(_ppo()[0].policy, actor, alpha=alpha)


def test_module_imports_neither_sb3_nor_gymnasium():
    tree = ast.parse(inspect.getsource(losses))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"stable_baselines3", "gymnasium", "gym"}
