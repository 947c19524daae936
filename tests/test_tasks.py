"""The task registry: names, validation, profiles, parameter counts, the `gradsub tasks` table."""

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
    with pytest.raises(ValueError, match="valid profiles: smoke, cpu, paper"):
        tasks.check_profile("huge")
    with pytest.raises(ValueError, match="valid profiles"):
        tasks.get_profile("Pendulum", "ppo", "huge")
    with pytest.raises(ValueError, match="valid algos"):
        tasks.get_profile("Pendulum", "a2c", "cpu")
    assert tasks.check_algo("PPO") == "ppo" and tasks.check_profile("CPU") == "cpu"


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


@pytest.mark.parametrize("profile", tasks.PROFILES)
@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_every_profile_is_valid_for_every_task(profile, algo):
    for name in tasks.TASKS:
        p = tasks.get_profile(name, algo, profile)
        assert p.checkpoint_steps[0] == 0 and p.checkpoint_steps[-1] == p.total_steps
        assert list(p.checkpoint_steps) == sorted(set(p.checkpoint_steps))
        assert p.total_steps <= tasks.algo_config(name, algo).paper_steps
        assert p.n_precise >= 1 and p.k >= 1 and p.n_seeds >= 1


def test_paper_profile_is_the_papers_scale():
    p = tasks.get_profile("Hopper", "ppo", "paper")
    assert p.total_steps == 1_500_000 and p.n_precise == 1_000_000 and p.k == 100 and p.n_seeds == 10
    assert p.checkpoint_steps[:4] == (0, 10_000, 50_000, 100_000)
    assert all(b - a == 50_000 for a, b in zip(p.checkpoint_steps[2:], p.checkpoint_steps[3:]))
    s = tasks.get_profile("Hopper", "sac", "paper")
    assert s.total_steps == 1_000_000 and s.n_random == 50_000 and s.sac_minibatch_samples == 2048


def test_every_cpu_job_is_planned_within_the_budget():
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            p = tasks.get_profile(name, algo, "cpu")
            assert tasks.cpu_job_seconds(name, algo) <= tasks.CPU_JOB_BUDGET_S, (name, algo)
            assert p.k == 100 and len(p.checkpoint_steps) >= 2
            if algo == "sac":  # SB3 updates nothing up to learning_starts: no checkpoint there but 0
                first = tasks.algo_config(name, algo).learning_starts
                assert all(s == 0 or s > first for s in p.checkpoint_steps), name
    assert tasks.CPU_PLAN_S <= tasks.CPU_JOB_BUDGET_S


def test_cpu_n_is_halved_only_where_two_checkpoints_would_not_fit_the_plan():
    plan = tasks.CPU_PLAN_S - tasks.CPU_EVAL_S
    for name, halved in (("LunarLanderContinuous", True), ("HalfCheetah", False)):
        task = tasks.get_task(name)
        least = tasks._cpu_least_steps(task, "sac")
        train = tasks._cpu_train_seconds(task, "sac", least)
        assert (train + tasks._cpu_analysis_seconds(task, "sac", (0, least), 2_048) > plan) is halved
        assert tasks.get_profile(name, "sac", "cpu").n_precise == (1_024 if halved else 2_048)


def test_cpu_plan_adds_up_training_analysis_and_evaluation():
    # HalfCheetah SAC: measured checkpoint costs (first, later), training at the planned rate
    task, p = tasks.get_task("HalfCheetah"), tasks.get_profile("HalfCheetah", "sac", "cpu")
    first, later = tasks.CPU_CHECKPOINT_MINUTES[("HalfCheetah", "sac")]
    rate = tasks.CPU_THROUGHPUT[("HalfCheetah", "sac")] * tasks.CPU_WHOLE_RUN
    train = (p.total_steps - task.sac.learning_starts) / rate
    analysis = 60 * (first + later * (len(p.checkpoint_steps) - 1))
    assert tasks.cpu_job_seconds(task, "sac") == pytest.approx(train + analysis + tasks.CPU_EVAL_S)
    # 10k more steps would not fit the plan
    assert train + (10_000 / rate) + analysis + tasks.CPU_EVAL_S > tasks.CPU_PLAN_S


def test_overriding_total_steps_recomputes_the_schedule():
    p = tasks.get_profile("Pendulum", "ppo", "smoke", total_steps=128)
    assert p.checkpoint_steps == (0, 128) and p.eval_every == 128
    p = tasks.get_profile("Pendulum", "sac", "paper", total_steps=120_000)
    assert p.checkpoint_steps == (0, 10_000, 50_000, 100_000, 120_000)
    p = tasks.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(0, 100, 256))
    assert p.checkpoint_steps == (0, 100, 256)
    with pytest.raises(ValueError, match="valid fields: total_steps"):
        tasks.get_profile("Pendulum", "ppo", "smoke", total_step=3)
    with pytest.raises(ValueError, match="checkpoint_steps must increase"):
        tasks.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(10, 256))


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


def test_task_table_lists_every_task_with_its_numbers():
    table = tasks.format_task_table()
    lines = table.splitlines()
    for name in PAPER_NAMES:
        assert any(line.startswith(name + " ") for line in lines)
    assert "HalfCheetah-v5" in table and "144,386" in table and "LunarLander-v3 continuous=True" in table


def test_tasks_module_imports_only_the_standard_library():
    code = ("import sys, gradsub.tasks; heavy = [m for m in ('numpy', 'torch', 'gymnasium', "
            "'stable_baselines3') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
