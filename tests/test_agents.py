"""Training, checkpoints, resumption, loading, the actor/critic split and the losses glue."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3.common.vec_env import VecNormalize

from gradsub import NETWORKS, agents, envs, profiles, tasks

# One task of each suite (the paper, Section 4), cheap ones.
SUITE_TASKS = ["Pendulum", "LunarLanderContinuous", "Reacher", "FetchReach", "Ball_in_cup"]


def _params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def _same_params(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _model(name, algo):
    config = tasks.algo_config(name, algo)
    env = envs.make_vec_env(name, algo, seed=0)
    return agents.build_model(name, algo, config, env, seed=0, buffer_size=1_000 if algo == "sac" else None)


@pytest.mark.parametrize("algo", tasks.ALGOS)
@pytest.mark.parametrize("name", list(tasks.TASKS))
def test_parameter_counts_and_split_match_built_policies(name, algo):
    model = _model(name, algo)
    names = agents.network_parameter_names(model)
    trainable = {n for n, p in model.policy.named_parameters() if p.requires_grad}
    if algo == "sac":
        trainable = {n for n in trainable if not n.startswith("critic_target.")}
    # every trainable parameter exactly once
    assert set(names["actor"]).isdisjoint(names["critic"])
    assert set(names["actor"]) | set(names["critic"]) == trainable
    assert len(names["actor"]) == len(set(names["actor"])) and len(names["critic"]) == len(set(names["critic"]))
    sizes = {net: sum(model.policy.get_parameter(n).numel() for n in names[net]) for net in names}
    counts = tasks.parameter_counts(name)
    assert sizes["actor"] == getattr(counts, f"{algo}_actor")
    assert sizes["critic"] == getattr(counts, f"{algo}_critic")


def test_sac_split_excludes_targets_and_entropy_coefficient():
    model = _model("Pendulum", "sac")
    names = agents.network_parameter_names(model)
    assert all(n.startswith("actor.") for n in names["actor"])
    assert all(n.startswith("critic.q") or n.startswith("critic.") for n in names["critic"])
    assert any("qf0" in n for n in names["critic"]) and any("qf1" in n for n in names["critic"])
    assert not any("log_ent_coef" in n or "critic_target" in n for n in names["actor"] + names["critic"])


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Smoke-train PPO and SAC on one task of each suite (256 steps each)."""
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for name in SUITE_TASKS:
        for algo in tasks.ALGOS:
            run_dir = root / f"{name}_{algo}"
            paths = agents.train(name, algo, "smoke", 0, run_dir)
            runs[(name, algo)] = (run_dir, paths)
    return runs


@pytest.mark.parametrize("algo", tasks.ALGOS)
@pytest.mark.parametrize("name", SUITE_TASKS)
def test_smoke_training_checkpoints_and_loads(smoke_runs, name, algo):
    run_dir, paths = smoke_runs[(name, algo)]
    profile = profiles.get_profile(name, algo, "smoke")
    assert [p.name for p in paths] == [f"step{s:09d}" for s in profile.checkpoint_steps]
    assert agents.checkpoint_steps(run_dir) == list(profile.checkpoint_steps)
    first = agents.load_checkpoint(run_dir, 0)
    last = agents.load_checkpoint(run_dir)
    assert last.step == profile.total_steps and last.model.num_timesteps == profile.total_steps
    assert last.task.name == name and last.algo == algo and last.seed == 0
    assert not _same_params(_params(first.model), _params(last.model))  # it learned something
    if envs.uses_vec_normalize(name, algo):
        assert isinstance(last.vec_env, VecNormalize) and not last.vec_env.training
        assert last.vec_env.norm_reward
    if algo == "sac":
        assert first.replay_size == 0
        assert last.replay_size == profile.total_steps  # saved once the last transition is stored
    curve = agents.learning_curve(run_dir)
    assert list(curve.columns) == ["kind", "step", "episode_return"]
    assert set(curve[curve.kind == "eval"].step) == {0, profile.total_steps}
    assert not curve.duplicated(["kind", "step"]).any()
    with pytest.raises(ValueError, match="no checkpoint at step 7"):
        agents.load_checkpoint(run_dir, 7)


def test_training_again_returns_the_existing_checkpoints(smoke_runs):
    run_dir, paths = smoke_runs[("Pendulum", "ppo")]
    before = (paths[-1] / "meta.json").read_text()
    assert agents.train("Pendulum", "ppo", "smoke", 0, run_dir) == paths
    assert (paths[-1] / "meta.json").read_text() == before


def test_a_run_dir_refuses_a_different_run(smoke_runs):
    run_dir, _ = smoke_runs[("Pendulum", "ppo")]
    with pytest.raises(ValueError, match="holds a different run .*seed"):
        agents.train("Pendulum", "ppo", "smoke", 1, run_dir)
    with pytest.raises(ValueError, match="holds a different run .*config"):
        agents.train("Pendulum", "ppo", "smoke", 0, run_dir, learning_rate=1e-4)
    later = profiles.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(0, 100, 256))
    with pytest.raises(ValueError, match=r"without checkpoints at \[100\]"):
        agents.train("Pendulum", "ppo", later, 0, run_dir)


@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_same_seed_trains_identically(tmp_path, algo):
    a = agents.train("Pendulum", algo, "smoke", 5, tmp_path / "a")
    b = agents.train("Pendulum", algo, "smoke", 5, tmp_path / "b")
    assert _same_params(_params(agents.load_checkpoint(tmp_path / "a").model),
                        _params(agents.load_checkpoint(tmp_path / "b").model))
    assert json.loads((a[-1] / "curves.json").read_text()) == json.loads((b[-1] / "curves.json").read_text())


def _killed_at(step: int):
    """agents._save_checkpoint, but the run is killed (KeyboardInterrupt) when it reaches ``step``."""
    original = agents._save_checkpoint

    def save(run_dir, model, env, at, *args):
        if at == step:
            raise KeyboardInterrupt("killed")
        return original(run_dir, model, env, at, *args)

    return save


@pytest.mark.parametrize("name,algo", [("Pendulum", "ppo"), ("Pendulum", "sac"), ("Reacher", "ppo")])
def test_interrupted_run_resumes_bit_identical_to_an_uninterrupted_one(tmp_path, monkeypatch, name, algo):
    profile = profiles.get_profile(name, algo, "smoke", checkpoint_steps=(0, 128, 256))
    monkeypatch.setattr(agents, "_save_checkpoint", _killed_at(256))
    with pytest.raises(KeyboardInterrupt):
        agents.train(name, algo, profile, 0, tmp_path / "resumed")
    (tmp_path / "resumed" / "checkpoints" / ".tmp-step000000200-1").mkdir()  # a half-written checkpoint
    monkeypatch.undo()
    paths = agents.train(name, algo, profile, 0, tmp_path / "resumed")
    agents.train(name, algo, profile, 0, tmp_path / "straight")
    assert [p.name for p in paths] == ["step000000000", "step000000128", "step000000256"]
    assert not list((tmp_path / "resumed" / "checkpoints").glob(".tmp-*"))
    for step in (128, 256):
        resumed = agents.load_checkpoint(tmp_path / "resumed", step)
        straight = agents.load_checkpoint(tmp_path / "straight", step)
        assert resumed.model.num_timesteps == straight.model.num_timesteps >= step
        assert _same_params(_params(resumed.model), _params(straight.model))
        if algo == "sac":
            assert resumed.replay_size == straight.replay_size
            np.testing.assert_array_equal(resumed.replay_buffer.observations, straight.replay_buffer.observations)
            np.testing.assert_array_equal(resumed.replay_buffer.actions, straight.replay_buffer.actions)
        if envs.uses_vec_normalize(name, algo):
            np.testing.assert_array_equal(resumed.vec_env.obs_rms.mean, straight.vec_env.obs_rms.mean)
            assert resumed.vec_env.obs_rms.count == straight.vec_env.obs_rms.count
    pd.testing.assert_frame_equal(agents.learning_curve(tmp_path / "resumed"),
                                  agents.learning_curve(tmp_path / "straight"))


def test_an_exception_mid_run_keeps_the_completed_checkpoints(tmp_path, monkeypatch):
    profile = profiles.get_profile("Pendulum", "sac", "smoke", checkpoint_steps=(0, 128, 256))
    monkeypatch.setattr(agents, "_save_checkpoint", _killed_at(256))
    with pytest.raises(KeyboardInterrupt):
        agents.train("Pendulum", "sac", profile, 0, tmp_path)
    assert agents.checkpoint_steps(tmp_path) == [0, 128]
    monkeypatch.undo()
    agents.train("Pendulum", "sac", profile, 0, tmp_path)
    assert agents.checkpoint_steps(tmp_path) == [0, 128, 256]


def test_training_time_adds_up_over_the_sessions_of_a_resumed_run(tmp_path, monkeypatch):
    profile = profiles.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(0, 128, 256))
    monkeypatch.setattr(agents, "_save_checkpoint", _killed_at(256))
    with pytest.raises(KeyboardInterrupt):
        agents.train("Pendulum", "ppo", profile, 0, tmp_path)
    first = agents.train_seconds(tmp_path)  # the first session's time up to step 128
    monkeypatch.undo()
    agents.train("Pendulum", "ppo", profile, 0, tmp_path)
    meta = json.loads((tmp_path / "checkpoints" / "step000000256" / "meta.json").read_text())
    assert first > 0 and meta["wall_seconds_this_session"] > 0
    assert agents.train_seconds(tmp_path) == pytest.approx(first + meta["wall_seconds_this_session"], abs=2e-3)
    assert agents.train_seconds(tmp_path, 128) == first
    meta.pop("train_seconds")  # a checkpoint written before the field existed
    (tmp_path / "checkpoints" / "step000000256" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no train_seconds.*new run_dir"):
        agents.train_seconds(tmp_path)


def test_network_losses_evaluate_at_the_checkpoint(smoke_runs):
    for key in [("Pendulum", "ppo"), ("Pendulum", "sac")]:
        run_dir, _ = smoke_runs[key]
        ckpt = agents.load_checkpoint(run_dir)
        losses = agents.network_losses(ckpt.model)
        names = agents.network_parameter_names(ckpt.model)
        for net in NETWORKS:
            assert losses[net].network == net and losses[net].param_names == names[net]
            size = sum(ckpt.model.policy.get_parameter(n).numel() for n in names[net])
            assert losses[net].theta.shape == (size,)


def test_replay_buffer_that_wraps_is_rebuilt_in_stream_order(tmp_path):
    """A buffer smaller than the run (BipedalWalker's 300k buffer in the paper) keeps the last
    buffer_size transitions; consecutive stored transitions chain (next_obs[t] == obs[t + 1])."""
    profile = profiles.get_profile("Pendulum", "sac", "smoke", checkpoint_steps=(0, 128, 256))
    agents.train("Pendulum", "sac", profile, 0, tmp_path, buffer_size=100)
    for step, stream in [(128, 128), (256, 256)]:
        ckpt = agents.load_checkpoint(tmp_path, step)
        buffer = ckpt.replay_buffer
        assert ckpt.replay_stream == stream and ckpt.replay_size == 100 and buffer.full
        order = np.arange(stream - 100, stream) % 100
        obs, nxt = buffer.observations[order, 0], buffer.next_observations[order, 0]
        ends = (buffer.dones[order, 0] + buffer.timeouts[order, 0]) > 0
        assert not ends[:-1].all()
        np.testing.assert_array_equal(nxt[:-1][~ends[:-1]], obs[1:][~ends[:-1]])
