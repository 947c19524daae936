"""The losses whose gradients and Hessians the paper analyses (Section 2), as pure functions of theta.

Each network ("actor" or "critic") is analysed on its own: its parameters form ONE flat vector theta
(1-D, length n, in the order of ``param_names``) and its loss is a function ``fn(theta, batch) -> scalar``
built with ``torch.func.functional_call``. The parameters of the other network (and SAC's target nets)
are the module's own, read as constants. Every random quantity the loss needs (SAC's noise, the
normalised PPO advantages, SAC's TD targets) is drawn or computed once and passed in the batch, so
``fn`` is deterministic: every Hessian-vector product sees the same function.

Conventions:
- ``Batch = dict[str, Tensor]``, the sample dimension first (N rows). Every loss is a MEAN over the
  rows, so for row chunks c: L(batch) = sum_c (rows_c / N) * L(chunk_c) (``gradsub.hessian`` relies on
  it). Batch-level constants (clip range, coefficients, alpha) live in the loss object.
- ``policy`` is an SB3 model's ``model.policy``, used by duck typing (this module imports neither
  stable-baselines3 nor gymnasium): a PPO ``ActorCriticPolicy`` or a ``SACPolicy`` (``.actor``,
  ``.critic``, ``.critic_target``). ``param_names`` are names from ``policy.named_parameters()``.
- Dtype and device follow theta: floating batch tensors and the module's other parameters are cast to
  theta's dtype and device (``model.policy.to(torch.float64)`` keeps the float64 analysis exact; a
  float32 theta then evaluates the same losses in float32).
  One deliberate difference from SB3: SB3's ``preprocess_obs`` casts Box observations with
  ``obs.float()`` (always float32); here they are cast to theta's dtype, so a float64 policy works.
  Only flat, non-image ``Box`` observation spaces are supported (every task of the paper, Section 4,
  has one once dict observations are flattened).
- The modules are never modified: each loss evaluates its own shallow copy of the policy's action
  distribution object (SB3 distributions keep the last distribution as state).

Batch keys:
- PPO actor (``ppo_actor_loss``): observations [N, obs], actions [N, act], old_log_prob [N],
  advantages [N] (already normalised as the variant requires, see ``normalize_advantages``).
- PPO critic (``ppo_critic_loss``): observations [N, obs], returns [N].
- SAC critic (``sac_critic_loss``): observations [N, obs], actions [N, act] (as stored in SB3's replay
  buffer, i.e. scaled to [-1, 1]), target_q [N] (from ``sac_critic_targets``).
- SAC actor (``sac_actor_loss``): observations [N, obs], noise [N, act] (standard normal).
Per-row scalars may also be given as [N, 1]. Extra keys are ignored.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "ADVANTAGE_EPS",
    "Batch",
    "LossFn",
    "NetworkLoss",
    "SAC_LOG_STD_MAX",
    "SAC_LOG_STD_MIN",
    "flatten_parameters",
    "normalize_advantages",
    "ppo_actor_loss",
    "ppo_critic_loss",
    "ppo_log_prob",
    "sac_actor_loss",
    "sac_critic_loss",
    "sac_critic_targets",
    "unflatten",
]

Batch = Mapping[str, Tensor]
LossFn = Callable[[Tensor, Batch], Tensor]

# SB3's PPO.train: (A - mean) / (std + 1e-8).
ADVANTAGE_EPS = 1e-8
# SB3 sac/policies.py clamps the (non-gSDE) SAC actor's log-std to [LOG_STD_MIN, LOG_STD_MAX];
# tests/test_losses.py checks these against SB3's own constants.
SAC_LOG_STD_MIN = -20.0
SAC_LOG_STD_MAX = 2.0

_GAUSSIAN = "DiagGaussianDistribution"
_GSDE = "StateDependentNoiseDistribution"
_SQUASHED_GAUSSIAN = "SquashedDiagGaussianDistribution"


@dataclass(frozen=True)
class NetworkLoss:
    """One network's loss at the analysed point.

    fn: ``fn(theta [n], batch) -> scalar``, the mean loss over the batch's rows; pure (functional_call
        with theta swapped in for ``param_names``; everything else is the module's own, constant).
    theta: the current flat parameters [n] (detached copy): the point the Hessian is analysed at.
    param_names: names (relative to ``policy``) of the parameters in theta, in order.
    network: "actor" or "critic".
    """

    fn: LossFn
    theta: Tensor
    param_names: tuple[str, ...]
    network: str


# ---------------------------------------------------------------------------------------------------
# Flat parameter vectors


def _parameters(module: nn.Module, param_names: Sequence[str]) -> list[nn.Parameter]:
    if isinstance(param_names, str) or not isinstance(param_names, Sequence):
        raise TypeError(f"param_names must be a sequence of parameter names, "
                        f"got {type(param_names).__name__}")
    if len(param_names) == 0:
        raise ValueError("param_names is empty: a network needs at least one parameter")
    duplicates = sorted({name for name in param_names if list(param_names).count(name) > 1})
    if duplicates:
        raise ValueError(f"param_names lists these parameters more than once: {duplicates}")
    named = dict(module.named_parameters())
    unknown = [name for name in param_names if name not in named]
    if unknown:
        raise ValueError(f"{len(unknown)} of {len(param_names)} param_names are not parameters of "
                         f"{type(module).__name__}: {unknown[:5]}; known names: {sorted(named)}")
    return [named[name] for name in param_names]


def flatten_parameters(module: nn.Module, param_names: Sequence[str]) -> Tensor:
    """The named parameters of ``module`` as one flat vector [n] (a detached copy), in the given order."""
    params = _parameters(module, param_names)
    return torch.cat([p.detach().reshape(-1) for p in params]).clone()


def unflatten(theta: Tensor, module: nn.Module, param_names: Sequence[str]) -> dict[str, Tensor]:
    """Split a flat vector theta [n] into ``{name: tensor shaped like that parameter}``.

    The pieces are views of theta, so gradients (and torch.func transforms) flow through them.
    Raises ValueError unless theta is 1-D with exactly as many entries as the named parameters.
    """
    params = _parameters(module, param_names)
    sizes = [p.numel() for p in params]
    _check_theta(theta, sum(sizes), f"{len(sizes)} parameter tensors of {type(module).__name__}")
    pieces = torch.split(theta, sizes)
    return {name: piece.view(p.shape) for name, piece, p in zip(param_names, pieces, params)}


def _check_theta(theta: Any, n: int, what: str) -> None:
    if not isinstance(theta, Tensor):
        raise TypeError(f"theta must be a torch.Tensor, got {type(theta).__name__}")
    if theta.dim() != 1 or theta.numel() != n:
        raise ValueError(f"theta must be a 1-D tensor of n = {n} entries ({what}), "
                         f"got shape {tuple(theta.shape)}")
    if not theta.is_floating_point():
        raise ValueError(f"theta must be a floating-point tensor, got {theta.dtype}")


# ---------------------------------------------------------------------------------------------------
# Batches


def _check_batch(batch: Any, spec: Mapping[str, tuple[int, ...]], theta: Tensor,
                 what: str) -> dict[str, Tensor]:
    """Validate ``batch`` against ``spec`` (key -> shape after the row dimension; () is one scalar per
    row, also accepted as [N, 1]) and return the needed tensors cast to theta's dtype and device."""
    if not isinstance(batch, Mapping):
        raise TypeError(f"{what}: batch must be a dict of tensors, got {type(batch).__name__}")
    missing = [key for key in spec if key not in batch]
    if missing:
        raise ValueError(f"{what}: batch is missing keys {missing}; it needs {list(spec)} "
                         f"(got {sorted(batch)})")
    out: dict[str, Tensor] = {}
    rows: dict[str, int] = {}
    for key, tail in spec.items():
        value = batch[key]
        if not isinstance(value, Tensor):
            raise TypeError(f"{what}: batch[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
        shape = tuple(value.shape)
        if tail == () and len(shape) == 2 and shape[1] == 1:
            value = value.reshape(-1)
            shape = tuple(value.shape)
        if len(shape) == 0 or shape[1:] != tail:
            expected = "[N]" if tail == () else f"[N, {', '.join(map(str, tail))}]"
            raise ValueError(f"{what}: batch[{key!r}] must have shape {expected}, got {list(shape)}")
        rows[key] = shape[0]
        if not _all_finite(value):
            bad = ~torch.isfinite(value.reshape(shape[0], -1)).all(dim=1)
            first = int(bad.nonzero()[0, 0])
            raise ValueError(f"{what}: batch[{key!r}] (shape {list(shape)}) has NaN or infinite values "
                             f"in {int(bad.sum())} of {shape[0]} rows (first: row {first})")
        out[key] = value.to(device=theta.device, dtype=theta.dtype) if value.is_floating_point() else value
    if len(set(rows.values())) != 1:
        sizes = ", ".join(f"{key}: {n}" for key, n in rows.items())
        raise ValueError(f"{what}: batch tensors disagree on the number of rows N: {sizes}")
    if next(iter(rows.values())) == 0:
        raise ValueError(f"{what}: batch has 0 rows; a mean loss needs at least one")
    return out


def _all_finite(value: Tensor) -> bool:
    if not value.is_floating_point():
        return True
    try:
        return bool(torch.isfinite(value).all())
    except RuntimeError:
        # Under torch.func.vmap over the batch itself the check is data-dependent control flow,
        # which vmap refuses; the data were checked when they were plain tensors.
        return True


def _check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  hint: str = "") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}{hint}") from None
    too_low = low is not None and number < low
    too_high = high is not None and number > high
    if not math.isfinite(number) or too_low or too_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be a finite number in [{lo}, {hi}], got {value!r}")
    return number


# ---------------------------------------------------------------------------------------------------
# Evaluating an SB3 module with theta swapped in


class _Bound(nn.Module):
    """``forward(*args) = fn(policy, *args)``: lets functional_call swap parameters for any method."""

    def __init__(self, policy: nn.Module, fn: Callable[..., Any]):
        super().__init__()
        self.policy = policy
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(self.policy, *args)


def _call(policy: nn.Module, param_names: tuple[str, ...], theta: Tensor, fn: Callable[..., Any],
          *args: Any) -> Any:
    """fn(policy, *args) with the named parameters replaced by the pieces of theta and every other
    parameter by a detached copy of itself in theta's dtype (constants: no gradient can reach the
    module's ``.grad``; a float32 theta evaluates a float64 policy in float32, as mixed-precision
    solvers need)."""
    params = unflatten(theta, policy, param_names)
    swapped = {f"policy.{k}": p.detach().to(theta.dtype) for k, p in policy.named_parameters()
               if k not in params}
    swapped.update({f"policy.{k}": v for k, v in params.items()})
    return functional_call(_Bound(policy, fn), swapped, args)


def _check_observation_space(module: Any, what: str) -> int:
    """Return the observation size; NotImplementedError unless a flat, non-image Box."""
    space = getattr(module, "observation_space", None)
    shape = tuple(getattr(space, "shape", None) or ())
    if type(space).__name__ != "Box" or len(shape) != 1 or str(getattr(space, "dtype", "")) == "uint8":
        raise NotImplementedError(
            f"{what}: only flat (1-D), non-image Box observation spaces are supported, got {space!r}; "
            f"flatten dict observations in the environment (as gradsub.envs does)")
    return shape[0]


def _action_dim(module: Any, what: str) -> int:
    space = getattr(module, "action_space", None)
    shape = tuple(getattr(space, "shape", None) or ())
    if type(space).__name__ != "Box" or len(shape) != 1:
        raise NotImplementedError(f"{what}: only 1-D continuous (Box) action spaces are supported, "
                                  f"got {space!r}")
    return shape[0]


def _observations(obs: Tensor, like: Tensor) -> Tensor:
    # SB3's preprocess_obs does obs.float() for a non-image Box; keep the analysis dtype instead.
    return obs.to(device=like.device, dtype=like.dtype)


# ---------------------------------------------------------------------------------------------------
# PPO (SB3's PPO.train and ActorCriticPolicy.evaluate_actions; the paper, Section 2)


def _ppo_distribution(policy: Any, what: str) -> Any:
    dist = getattr(policy, "action_dist", None)
    name = type(dist).__name__
    if name not in (_GAUSSIAN, _GSDE):
        raise NotImplementedError(f"{what}: action distribution {name} is not supported; PPO losses "
                                  f"handle {_GAUSSIAN} and {_GSDE} (gSDE), i.e. continuous actions")
    return copy.copy(dist)


def _ppo_log_prob_entropy(policy: Any, dist: Any, obs: Tensor,
                          actions: Tensor) -> tuple[Tensor, Tensor | None]:
    """As ActorCriticPolicy.evaluate_actions (actor part): log pi(a|s) [N] and entropy [N] or None."""
    features = policy.pi_features_extractor(obs)
    latent_pi = policy.mlp_extractor.forward_actor(features)
    mean_actions = policy.action_net(latent_pi)
    if type(dist).__name__ == _GSDE:
        dist.proba_distribution(mean_actions, policy.log_std, latent_pi)
    else:
        dist.proba_distribution(mean_actions, policy.log_std)
    return dist.log_prob(actions), dist.entropy()


def _ppo_values(policy: Any, obs: Tensor) -> Tensor:
    """As ActorCriticPolicy.predict_values, flattened to [N]."""
    features = policy.vf_features_extractor(obs)
    return policy.value_net(policy.mlp_extractor.forward_critic(features)).flatten()


def normalize_advantages(advantages: Tensor) -> Tensor:
    """SB3's advantage normalisation: (A - mean(A)) / (std(A) + 1e-8), std unbiased (torch default).

    advantages: [N] (or [N, 1]); returns [N]. Normalise over the whole batch the loss is evaluated on
    (for the precise loss: all N samples once, never per chunk). As in SB3, a single row
    (N = 1) is returned unchanged.
    """
    if not isinstance(advantages, Tensor):
        raise TypeError(f"advantages must be a torch.Tensor, got {type(advantages).__name__}")
    if advantages.dim() == 2 and advantages.shape[1] == 1:
        advantages = advantages.reshape(-1)
    if advantages.dim() != 1 or advantages.numel() == 0:
        raise ValueError(f"advantages must have shape [N] with N >= 1, got {list(advantages.shape)}")
    if not _all_finite(advantages):
        raise ValueError(f"advantages ([{advantages.numel()}]) contain NaN or infinite values "
                         f"({int((~torch.isfinite(advantages)).sum())} of them)")
    if advantages.numel() == 1:  # SB3: "Normalization does not make sense if mini batchsize == 1"
        return advantages.clone()
    return (advantages - advantages.mean()) / (advantages.std() + ADVANTAGE_EPS)


def ppo_actor_loss(policy: nn.Module, param_names: Sequence[str], *, clip_range: float,
                   ent_coef: float) -> NetworkLoss:
    """PPO's actor loss (the paper, Section 2), the actor terms of SB3's ``PPO.train``:

        ratio = exp(log pi(a|s) - old_log_prob)
        L = -mean(min(A * ratio, A * clip(ratio, 1 - clip_range, 1 + clip_range)))
            + ent_coef * (-mean(entropy))          [entropy -> -log pi(a|s) where SB3 has no closed form]

    policy: a PPO ``ActorCriticPolicy`` (Gaussian or gSDE action distribution).
    param_names: the actor's parameters (e.g. mlp_extractor.policy_net.*, action_net.*, log_std).
    clip_range: a number (SB3 stores a schedule: pass ``model.clip_range(progress_remaining)``).
    Batch: observations [N, obs], actions [N, act], old_log_prob [N], advantages [N] (already
    normalised, see ``normalize_advantages``). At the analysed point old_log_prob should be the
    current policy's log-probability (``ppo_log_prob``), so ratio = 1 and the clip is inactive.
    """
    what = "ppo_actor_loss"
    names = tuple(param_names)
    theta = flatten_parameters(policy, names)
    len_theta = theta.numel()
    obs_dim = _check_observation_space(policy, what)
    act_dim = _action_dim(policy, what)
    dist = _ppo_distribution(policy, what)
    hint = "; SB3 stores clip_range as a schedule: pass model.clip_range(model._current_progress_remaining)"
    clip = _check_number("clip_range", clip_range, low=0.0, hint=hint if callable(clip_range) else "")
    ent = _check_number("ent_coef", ent_coef)
    spec = {"observations": (obs_dim,), "actions": (act_dim,), "old_log_prob": (), "advantages": ()}

    def actor_terms(pol: Any, obs: Tensor, actions: Tensor, old_log_prob: Tensor,
                    advantages: Tensor) -> Tensor:
        log_prob, entropy = _ppo_log_prob_entropy(pol, dist, obs, actions)
        ratio = torch.exp(log_prob - old_log_prob)
        surrogate = advantages * ratio
        clipped = advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
        policy_loss = -torch.min(surrogate, clipped).mean()
        entropy_loss = -torch.mean(-log_prob) if entropy is None else -torch.mean(entropy)
        return policy_loss + ent * entropy_loss

    def fn(theta: Tensor, batch: Batch) -> Tensor:
        _check_theta(theta, len_theta, f"PPO actor, {len(names)} parameter tensors")
        b = _check_batch(batch, spec, theta, what)
        return _call(policy, names, theta, actor_terms, _observations(b["observations"], theta),
                     b["actions"], b["old_log_prob"], b["advantages"])

    return NetworkLoss(fn=fn, theta=theta, param_names=names, network="actor")


def ppo_critic_loss(policy: nn.Module, param_names: Sequence[str], *, vf_coef: float) -> NetworkLoss:
    """PPO's critic loss (the paper, Section 2), SB3's ``vf_coef * F.mse_loss(returns, V(s))`` without value clipping.

    L = vf_coef * mean((returns - V(s))^2).
    param_names: the critic's parameters (e.g. mlp_extractor.value_net.*, value_net.*).
    Batch: observations [N, obs], returns [N] (GAE returns stored with the data).
    """
    what = "ppo_critic_loss"
    names = tuple(param_names)
    theta = flatten_parameters(policy, names)
    len_theta = theta.numel()
    obs_dim = _check_observation_space(policy, what)
    coef = _check_number("vf_coef", vf_coef)
    spec = {"observations": (obs_dim,), "returns": ()}

    def critic_terms(pol: Any, obs: Tensor, returns: Tensor) -> Tensor:
        values = _ppo_values(pol, obs)
        return coef * torch.mean((returns - values) ** 2)

    def fn(theta: Tensor, batch: Batch) -> Tensor:
        _check_theta(theta, len_theta, f"PPO critic, {len(names)} parameter tensors")
        b = _check_batch(batch, spec, theta, what)
        return _call(policy, names, theta, critic_terms, _observations(b["observations"], theta),
                     b["returns"])

    return NetworkLoss(fn=fn, theta=theta, param_names=names, network="critic")


def ppo_log_prob(policy: nn.Module, observations: Tensor, actions: Tensor) -> Tensor:
    """log pi(a|s) [N] under the policy's current parameters, in the policy's dtype, without gradient.

    Use it for ``old_log_prob`` when the analysis runs in another dtype than the data were collected
    in (SB3's rollout buffer holds float32 log-probabilities), so that ratio = 1 to rounding.
    """
    what = "ppo_log_prob"
    obs_dim = _check_observation_space(policy, what)
    act_dim = _action_dim(policy, what)
    like = next(policy.parameters()).detach()
    b = _check_batch({"observations": observations, "actions": actions},
                     {"observations": (obs_dim,), "actions": (act_dim,)}, like, what)
    dist = _ppo_distribution(policy, what)
    with torch.no_grad():
        log_prob, _ = _ppo_log_prob_entropy(policy, dist, b["observations"], b["actions"])
    return log_prob


# ---------------------------------------------------------------------------------------------------
# SAC (SB3's SAC.train, sac/policies.py Actor, ContinuousCritic; the paper, Section 2)


def _sac_parts(policy: Any, what: str) -> tuple[Any, Any, Any]:
    for attr in ("actor", "critic", "critic_target"):
        if not isinstance(getattr(policy, attr, None), nn.Module):
            raise TypeError(f"{what}: policy must be an SB3 SACPolicy with .actor, .critic and "
                            f".critic_target modules; {type(policy).__name__} has no module .{attr}")
    dist = getattr(policy.actor, "action_dist", None)
    name = type(dist).__name__
    if name not in (_SQUASHED_GAUSSIAN, _GSDE):
        raise NotImplementedError(f"{what}: SAC actor distribution {name} is not supported "
                                  f"(expected {_SQUASHED_GAUSSIAN} or {_GSDE})")
    if name == _GSDE and getattr(dist, "bijector", None) is None:
        raise NotImplementedError(f"{what}: a gSDE SAC actor without tanh squashing is not supported")
    return policy.actor, policy.critic, copy.copy(dist)


def _check_prefix(names: tuple[str, ...], prefix: str, what: str) -> None:
    wrong = [name for name in names if not name.startswith(prefix)]
    if wrong:
        raise ValueError(f"{what}: every parameter must belong to the network analysed (names starting "
                         f"with {prefix!r}); got {len(wrong)} others: {wrong[:5]}")


def _sac_sample(actor: Any, dist: Any, obs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
    """a~ = tanh(u), u reparameterised from standard normal ``noise`` [N, act]; returns (a~, log pi(a~|s)).

    Gaussian actor (SquashedDiagGaussianDistribution): u = mu + noise * std, exactly SB3's rsample,
    and log pi is SB3's ``log_prob(a~, u)`` (Gaussian log-density of u minus sum log(1 - a~^2 + 1e-6)).

    gSDE actor: SB3 draws ONE exploration matrix W ~ N(0, std^2) per gradient step, shared by all rows,
    and u = mu + z(s) W. Here each row has its own noise with the same per-row law:
    u = mu + sqrt(z(s)^2 @ std^2) * noise (z(s) the gSDE latent, detached unless learn_features).
    The expected loss, hence its expected gradient and Hessian, is the same; a single draw is not
    (rows are independent here, which the precise loss needs). Its log pi is SB3's ``log_prob(a~)``.
    """
    features = actor.features_extractor(obs)
    latent_pi = actor.latent_pi(features)
    mean_actions = actor.mu(latent_pi)
    if type(dist).__name__ == _GSDE:
        log_std = actor.log_std
        dist.proba_distribution(mean_actions, log_std, latent_pi)
        latent = latent_pi if dist.learn_features else latent_pi.detach()
        # The sample has no +epsilon (SB3's get_noise), unlike the distribution's scale.
        variance = torch.mm(latent**2, dist.get_std(log_std) ** 2)
        positive = variance > 0
        # sqrt has an infinite derivative at 0 (a row of dead ReLU units): use 0 there, as SB3's linear noise
        scale = torch.where(positive, torch.where(positive, variance, 1.0).sqrt(), 0.0)
        actions = dist.bijector.forward(mean_actions + scale * noise)
        return actions, dist.log_prob(actions)
    log_std = torch.clamp(actor.log_std(latent_pi), SAC_LOG_STD_MIN, SAC_LOG_STD_MAX)
    dist.proba_distribution(mean_actions, log_std)
    gaussian = dist.distribution.loc + noise * dist.distribution.scale
    actions = torch.tanh(gaussian)
    return actions, dist.log_prob(actions, gaussian)


def _q_values(critic: Any, obs: Tensor, actions: Tensor) -> Tensor:
    """As SB3's ContinuousCritic.forward, stacked: [N, n_critics]."""
    features = critic.features_extractor(obs)
    if critic.share_features_extractor:  # SB3 computes these features without gradient
        features = features.detach()
    q_input = torch.cat([features, actions], dim=1)
    return torch.cat([q_net(q_input) for q_net in critic.q_networks], dim=1)


def sac_actor_loss(policy: nn.Module, param_names: Sequence[str], *, alpha: float,
                   grad_through_q: bool = True) -> NetworkLoss:
    """SAC's actor loss (the paper, Section 2), SB3's ``(ent_coef * log_prob - min_qf_pi).mean()``:

        a~ = tanh(mu(s) + std(s) * noise)       (reparameterised; see _sac_sample for gSDE)
        L = mean(alpha * log pi(a~|s) - min_j Q_j(s, a~))

    The critic's parameters are constants; the gradient flows through Q with respect to a~.
    grad_through_q=False reproduces an earlier version of the authors' code: min Q without gradient, so
    only the entropy term acts (same value, gradient = that of mean(alpha * log pi(a~|s))).
    alpha: exp(log_ent_coef) at the checkpoint, a constant.
    param_names: the actor's parameters, all starting with "actor.".
    Batch: observations [N, obs], noise [N, act] (standard normal, drawn once per analysis).
    """
    what = "sac_actor_loss"
    names = tuple(param_names)
    actor, _, dist = _sac_parts(policy, what)
    _check_prefix(names, "actor.", what)
    theta = flatten_parameters(policy, names)
    len_theta = theta.numel()
    obs_dim = _check_observation_space(actor, what)
    act_dim = _action_dim(actor, what)
    a = _check_number("alpha", alpha, low=0.0)
    through_q = bool(grad_through_q)
    spec = {"observations": (obs_dim,), "noise": (act_dim,)}

    def actor_terms(pol: Any, obs: Tensor, noise: Tensor) -> Tensor:
        actions, log_prob = _sac_sample(pol.actor, dist, obs, noise)
        min_q = _q_values(pol.critic, obs, actions).min(dim=1).values
        if not through_q:
            min_q = min_q.detach()
        return (a * log_prob - min_q).mean()

    def fn(theta: Tensor, batch: Batch) -> Tensor:
        _check_theta(theta, len_theta, f"SAC actor, {len(names)} parameter tensors")
        b = _check_batch(batch, spec, theta, what)
        return _call(policy, names, theta, actor_terms, _observations(b["observations"], theta),
                     b["noise"])

    return NetworkLoss(fn=fn, theta=theta, param_names=names, network="actor")


def sac_critic_loss(policy: nn.Module, param_names: Sequence[str]) -> NetworkLoss:
    """SAC's critic loss (the paper, Section 2), SB3's ``0.5 * sum_j F.mse_loss(Q_j(s, a), y)``:

        L = 0.5 * sum_j mean((Q_j(s, a) - y)^2)      over all Q-nets together ("the critic")

    param_names: the critic's parameters, all starting with "critic." (target nets excluded).
    Batch: observations [N, obs], actions [N, act] (replay-buffer actions, in [-1, 1]), target_q [N]
    (y from ``sac_critic_targets``, a constant).
    """
    what = "sac_critic_loss"
    names = tuple(param_names)
    _, critic, _ = _sac_parts(policy, what)
    _check_prefix(names, "critic.", what)
    theta = flatten_parameters(policy, names)
    len_theta = theta.numel()
    obs_dim = _check_observation_space(critic, what)
    act_dim = _action_dim(critic, what)
    spec = {"observations": (obs_dim,), "actions": (act_dim,), "target_q": ()}

    def critic_terms(pol: Any, obs: Tensor, actions: Tensor, target_q: Tensor) -> Tensor:
        q = _q_values(pol.critic, obs, actions)
        return 0.5 * sum(torch.mean((q[:, j] - target_q) ** 2) for j in range(q.shape[1]))

    def fn(theta: Tensor, batch: Batch) -> Tensor:
        _check_theta(theta, len_theta, f"SAC critic, {len(names)} parameter tensors")
        b = _check_batch(batch, spec, theta, what)
        return _call(policy, names, theta, critic_terms, _observations(b["observations"], theta),
                     b["actions"], b["target_q"])

    return NetworkLoss(fn=fn, theta=theta, param_names=names, network="critic")


def sac_critic_targets(policy: nn.Module, next_observations: Tensor, rewards: Tensor, dones: Tensor,
                       noise: Tensor, *, gamma: float, alpha: float, chunk_size: int = 65536) -> Tensor:
    """SAC's TD targets y [N] (the paper, Section 2), as in SB3's ``SAC.train`` (no gradient):

        a' = tanh(mu(s') + std(s') * noise)      (the actor at its current parameters; gSDE: _sac_sample)
        y  = r + (1 - done) * gamma * (min_j Qtarget_j(s', a') - alpha * log pi(a'|s'))

    next_observations [N, obs], rewards [N], dones [N] (SB3's replay-buffer ``dones``, which are
    already 0 for time-limit truncations), noise [N, act] standard normal (drawn once).
    Computed in the policy's dtype, ``chunk_size`` rows at a time (memory only).
    """
    what = "sac_critic_targets"
    actor, _, dist = _sac_parts(policy, what)
    obs_dim = _check_observation_space(actor, what)
    act_dim = _action_dim(actor, what)
    g = _check_number("gamma", gamma, low=0.0, high=1.0)
    a = _check_number("alpha", alpha, low=0.0)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    like = next(actor.parameters()).detach()
    b = _check_batch({"next_observations": next_observations, "rewards": rewards, "dones": dones,
                      "noise": noise},
                     {"next_observations": (obs_dim,), "rewards": (), "dones": (), "noise": (act_dim,)},
                     like, what)
    n_rows = b["rewards"].shape[0]
    out = []
    with torch.no_grad():
        for start in range(0, n_rows, chunk_size):
            rows = slice(start, start + chunk_size)
            next_obs = b["next_observations"][rows]
            next_actions, next_log_prob = _sac_sample(policy.actor, dist, next_obs, b["noise"][rows])
            next_q = _q_values(policy.critic_target, next_obs, next_actions).min(dim=1).values
            next_q = next_q - a * next_log_prob
            out.append(b["rewards"][rows] + (1 - b["dones"][rows]) * g * next_q)
    return torch.cat(out)
