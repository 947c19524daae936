"""The task registry: names, validation, hyperparameters, parameter counts."""

import dataclasses
import subprocess
import sys

import pytest

from gradsub import tasks

PAPER_NAMES = ["Finger-spin", "Ball_in_cup", "Ant", "HalfCheetah", "Hopper", "Walker2D", "Swimmer", "Reacher",
               "Pendulum", "LunarLanderContinuous", "BipedalWalker", "FetchReach"]


def test_registry_has_the_papers_twelve_tasks_in_order():
    assert list(tasks.TASKS) == PAPER_NAMES
    assert {t.suite for t in tasks.TASKS.values()} == set(tasks.SUITES)


@pytest.mark.parametrize("query,name", [("halfcheetah", "HalfCheetah"), ("FINGER-SPIN", "Finger-spin"),
                                        ("ball_in_cup", "Ball_in_cup"), ("ball-in-cup", "Ball_in_cup"),
                                        ("walker2d", "Walker2D")])
def test_task_lookup_is_case_insensitive(query, name):
    assert tasks.get_task(query).name == name


def test_unknown_names_list_the_valid_values():
    with pytest.raises(ValueError, match="valid tasks: Finger-spin, Ball_in_cup, .*FetchReach"):
        tasks.get_task("CartPole")
    with pytest.raises(ValueError, match="valid algos: ppo, sac"):
        tasks.check_algo("td3")
    assert tasks.check_algo("PPO") == "ppo"


def test_configs_are_frozen_and_match_facts_spot_checks():
    hc = tasks.get_task("HalfCheetah").ppo
    with pytest.raises(dataclasses.FrozenInstanceError):
        hc.learning_rate = 1.0
    assert (hc.learning_rate, hc.n_steps, hc.n_epochs, hc.gamma, hc.gae_lambda) == (2.0633e-5, 512, 20, 0.98, 0.92)
    assert hc.net_arch == (256, 256) and hc.activation == "relu" and not hc.ortho_init and hc.normalize
    assert tasks.get_task("Pendulum").ppo.use_sde and tasks.get_task("Pendulum").ppo.sde_sample_freq == 4
    bw = tasks.get_task("BipedalWalker").sac
    assert (bw.buffer_size, bw.train_freq, bw.gradient_steps, bw.net_arch, bw.use_sde) == (300_000, 64, 64, (400, 300), True)
    assert tasks.get_task("Finger-spin").sac.learning_starts == 1_000
    normalized = {t.name for t in tasks.TASKS.values() if t.ppo.normalize}
    assert normalized == {"Ant", "HalfCheetah", "Hopper", "Walker2D", "Reacher", "BipedalWalker"}
    for task in tasks.TASKS.values():
        assert task.ppo.source and task.sac.source and task.notes
        assert task.ppo.n_steps % task.ppo.batch_size == 0


def test_warmup_steps_are_sacs_learning_starts_and_none_for_ppo():
    assert tasks.warmup_steps("Finger-spin", "sac") == 1_000 and tasks.warmup_steps("HalfCheetah", "sac") == 10_000
    assert tasks.warmup_steps("HalfCheetah", "ppo") == 0
    with pytest.raises(ValueError, match="valid algos"):
        tasks.warmup_steps("HalfCheetah", "td3")


def test_parameter_counts_match_the_papers_orders_of_magnitude():
    # the paper: PPO ~5k, SAC actor ~70k, SAC critic ~140k for the default widths
    hc = tasks.parameter_counts("HalfCheetah")
    assert (hc.sac_actor, hc.sac_critic) == (73_484, 144_386)
    walker = tasks.parameter_counts("Walker2D")
    assert (walker.ppo_actor, walker.ppo_critic) == (5_708, 5_377)
    for task in tasks.TASKS.values():
        c = tasks.parameter_counts(task)
        ppo_scale = 5_000 * (task.ppo.net_arch[0] / 64) ** 2
        sac_scale = 70_000 * (task.sac.net_arch[0] / 256) ** 2
        assert ppo_scale / 3 < c.ppo_actor < ppo_scale * 3, task.name
        assert sac_scale / 3 < c.sac_actor < sac_scale * 3, task.name
        assert 1.9 * c.sac_actor < c.sac_critic < 2.2 * c.sac_actor, task.name


def test_tasks_module_imports_only_the_standard_library():
    code = ("import sys, gradsub.tasks; heavy = [m for m in ('numpy', 'torch', 'gymnasium', "
            "'stable_baselines3') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
