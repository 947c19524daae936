"""Analysis data at a checkpoint (the paper, Section 4): shapes, normalisation, sources, determinism."""

import numpy as np
import pytest
import torch

from gradsub import NETWORKS, agents, profiles, samples, tasks
from gradsub.losses import ppo_log_prob


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Smoke runs: PPO with VecNormalize and time-limit truncations (Reacher), PPO with gSDE
    (Pendulum), SAC (Pendulum) and SAC with gSDE (BipedalWalker, its replay buffer kept short)."""
    root = tmp_path_factory.mktemp("sample_runs")
    out = {}
    for name, algo in [("Reacher", "ppo"), ("Pendulum", "ppo"), ("Pendulum", "sac")]:
        agents.train(name, algo, "smoke", 0, root / f"{name}_{algo}")
        out[(name, algo)] = root / f"{name}_{algo}"
    profile = profiles.get_profile("BipedalWalker", "sac", "smoke", total_steps=96)
    agents.train("BipedalWalker", "sac", profile, 0, root / "bw")
    out[("BipedalWalker", "sac")] = root / "bw"
    return out


def _equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _profile(name, algo, **kw):
    return profiles.get_profile(name, algo, "smoke", **kw)


@pytest.mark.parametrize("key", [("Reacher", "ppo"), ("Pendulum", "sac")])
def test_same_seed_gives_identical_samples(runs, key):
    ckpt = agents.load_checkpoint(runs[key])
    profile = _profile(*key)
    a = samples.analysis_data(ckpt, profile, seed=11)
    b = samples.analysis_data(agents.load_checkpoint(runs[key]), profile, seed=11)
    c = samples.analysis_data(ckpt, profile, seed=12)
    for net in NETWORKS:
        _equal(a.precise[net], b.precise[net])
        _equal(a.minibatch_hessian[net], b.minibatch_hessian[net])
        for x, y in zip(a.minibatches[net], b.minibatches[net]):
            _equal(x, y)
    differs = [not torch.equal(a.precise[net][k], c.precise[net][k]) for net in NETWORKS
               for k in a.precise[net]]
    assert any(differs)
    assert a.info == b.info


def test_ppo_precise_sample(runs):
    ckpt = agents.load_checkpoint(runs[("Reacher", "ppo")])
    stats = ckpt.vec_env.obs_rms.mean.copy(), ckpt.vec_env.ret_rms.var.copy()
    counters = ckpt.model.num_timesteps
    n = 300  # not a multiple of the smoke n_steps (64): the last rollout is cut
    batch = samples.precise_batch(ckpt, seed=1, n=n)
    assert batch["actor"] is batch["critic"]
    b = batch["actor"]
    assert {k: tuple(v.shape) for k, v in b.items()} == {
        "observations": (n, 10), "actions": (n, 2), "old_log_prob": (n,), "advantages": (n,), "returns": (n,)}
    assert all(v.dtype == torch.float32 for v in b.values())
    # advantages normalised once over all N
    assert abs(float(b["advantages"].mean())) < 1e-5 and float(b["advantages"].std()) == pytest.approx(1, abs=1e-4)
    # old_log_prob is the checkpoint policy's own log-probability: ratio = 1
    current = ppo_log_prob(ckpt.model.policy, b["observations"], b["actions"])
    torch.testing.assert_close(current, b["old_log_prob"], rtol=0, atol=1e-5)  # float32 recomputation
    # analysis leaves the checkpoint's statistics and counters alone
    np.testing.assert_array_equal(ckpt.vec_env.obs_rms.mean, stats[0])
    np.testing.assert_array_equal(ckpt.vec_env.ret_rms.var, stats[1])
    assert ckpt.model.num_timesteps == counters


def test_ppo_minibatches_follow_ppo_train(runs):
    ckpt = agents.load_checkpoint(runs[("Pendulum", "ppo")])  # gSDE policy
    data = samples.analysis_data(ckpt, _profile("Pendulum", "ppo"), seed=3)
    n_steps, batch_size = ckpt.model.n_steps, ckpt.model.batch_size  # smoke: 64 and 32
    mini = data.minibatches["actor"]
    assert len(mini) == n_steps // batch_size
    for b in mini:
        assert b["advantages"].shape == (batch_size,)
        assert float(b["advantages"].std()) == pytest.approx(1, abs=1e-4)
    hessian = data.minibatch_hessian["critic"]
    assert hessian["observations"].shape[0] == n_steps
    torch.testing.assert_close(hessian["advantages"], torch.cat([b["advantages"] for b in mini]))
    assert data.info["minibatch_gamma"] == ckpt.model.gamma == 0.9
    quirk = samples.minibatches(ckpt, seed=3, minibatch_gamma=0.99, minibatch_gae_lambda=1.0)
    assert not torch.equal(quirk["actor"][0]["returns"], mini[0]["returns"])
    assert ckpt.model.gamma == 0.9  # restored


def test_sac_precise_sample_from_the_replay_buffer(runs):
    ckpt = agents.load_checkpoint(runs[("Pendulum", "sac")])
    assert ckpt.replay_size == 256
    data = samples.analysis_data(ckpt, _profile("Pendulum", "sac", n_precise=1_000), seed=0)
    assert data.info["precise_source"] == "replay" and data.info["n_precise"] == 256
    critic, actor = data.precise["critic"], data.precise["actor"]
    assert set(critic) == {"observations", "actions", "target_q"} and set(actor) == {"observations", "noise"}
    assert critic["target_q"].shape == (256,) and actor["noise"].shape == (256, 1)
    np.testing.assert_array_equal(critic["observations"].numpy(),
                                  ckpt.replay_buffer.observations[:256, 0].astype(np.float32))
    assert critic["actions"].abs().max() <= 1  # scaled actions, as stored
    # capped: a uniform subsample without replacement
    sub = samples.analysis_data(ckpt, _profile("Pendulum", "sac", n_precise=100), seed=0)
    assert sub.info["precise_source"] == "replay_subsample" and sub.precise["critic"]["observations"].shape[0] == 100
    assert len(torch.unique(sub.precise["critic"]["observations"], dim=0)) == 100
    # mini-batches: sac_minibatch_samples // batch_size of batch_size rows (smoke: 128 // 32)
    assert len(data.minibatches["critic"]) == 4
    assert all(b["target_q"].shape == (32,) for b in data.minibatches["critic"])
    assert data.minibatch_hessian["actor"]["noise"].shape == (128, 1)


def test_sac_step_zero_uses_random_transitions(runs):
    ckpt = agents.load_checkpoint(runs[("Pendulum", "sac")], 0)
    assert ckpt.replay_size == 0
    data = samples.analysis_data(ckpt, _profile("Pendulum", "sac", n_random=150, n_precise=200), seed=0)
    assert data.info["precise_source"] == "random" and data.info["n_precise"] == 150
    assert data.precise["critic"]["observations"].shape == (150, 3)
    assert torch.isfinite(data.precise["critic"]["target_q"]).all()
    assert data.independent is None  # every row is in the precise sample: none left to cross-fit with
    assert ckpt.model.num_timesteps == 0


def test_sac_independent_sample_is_disjoint_from_the_precise_one(runs):
    ckpt = agents.load_checkpoint(runs[("Pendulum", "sac")], 0)
    data = samples.analysis_data(ckpt, _profile("Pendulum", "sac", n_random=150, n_precise=64), seed=0)
    assert data.info["precise_source"] == "random_subsample" and data.info["independent"] == "yes"
    precise, other = (d["critic"]["observations"] for d in (data.precise, data.independent))
    assert precise.shape == other.shape == (64, 3)
    shared = {tuple(row) for row in precise.tolist()} & {tuple(row) for row in other.tolist()}
    assert not shared  # random-action transitions from continuous states: no row twice


def test_ppo_independent_sample_is_a_second_rollout(runs):
    ckpt = agents.load_checkpoint(runs[("Pendulum", "ppo")])
    data = samples.analysis_data(ckpt, _profile("Pendulum", "ppo"), seed=0)
    precise, other = data.precise["actor"], data.independent["actor"]
    assert precise["observations"].shape == other["observations"].shape
    assert not torch.equal(precise["observations"], other["observations"])
    again = samples.analysis_data(ckpt, _profile("Pendulum", "ppo"), seed=0)
    torch.testing.assert_close(again.independent["actor"]["advantages"], other["advantages"], rtol=0, atol=0)


def test_sac_gsde_batches_evaluate(runs):
    ckpt = agents.load_checkpoint(runs[("BipedalWalker", "sac")])
    data = samples.analysis_data(ckpt, _profile("BipedalWalker", "sac", total_steps=96), seed=0)
    losses = agents.network_losses(ckpt.model)
    for net in NETWORKS:
        value = losses[net].fn(losses[net].theta, data.precise[net])
        assert torch.isfinite(value)


def test_losses_accept_every_batch(runs):
    for key in [("Reacher", "ppo"), ("Pendulum", "ppo"), ("Pendulum", "sac")]:
        ckpt = agents.load_checkpoint(runs[key])
        data = samples.analysis_data(ckpt, _profile(*key), seed=0)
        losses = agents.network_losses(ckpt.model)
        for net in NETWORKS:
            for batch in [data.precise[net], data.minibatch_hessian[net], data.minibatches[net][0]]:
                assert torch.isfinite(losses[net].fn(losses[net].theta, batch))


def test_step0_vecnormalize_statistics_are_warmed_then_restored(runs):
    ckpt = agents.load_checkpoint(runs[("Reacher", "ppo")], 0)
    saved = ckpt.vec_env.obs_rms.count, ckpt.vec_env.obs_rms.var.copy()
    assert saved[0] < 2  # only the first observation
    profile = _profile("Reacher", "ppo")
    warm = samples.analysis_data(ckpt, profile, seed=0)
    cold = samples.analysis_data(ckpt, profile, seed=0, warm_step0_normalization=False)
    assert warm.info["vecnormalize"].startswith("step 0: warmed") and cold.info["vecnormalize"] == "checkpoint"
    clipped = lambda d: float((d.precise["actor"]["observations"].abs() >= 9.999).float().mean())
    assert clipped(cold) > 0.2 and clipped(warm) < 0.05
    assert ckpt.vec_env.obs_rms.count == saved[0] and not ckpt.vec_env.training
    np.testing.assert_array_equal(ckpt.vec_env.obs_rms.var, saved[1])
    _equal(warm.precise["actor"], samples.precise_batch(ckpt, seed=0, n=profile.n_precise)["actor"])
