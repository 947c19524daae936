"""The scale profiles: literal tables with a row per job, sound estimators, clear errors, the schedule
rules of smoke and paper, and the `gradsub tasks` table."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from gradsub import profiles, tasks
from gradsub.job import Job, run_job


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: smoke, cpu, long, paper"):
        profiles.check_profile("huge")
    with pytest.raises(ValueError, match="valid profiles"):
        profiles.get_profile("Pendulum", "ppo", "huge")
    with pytest.raises(ValueError, match="valid algos"):
        profiles.get_profile("Pendulum", "a2c", "cpu")
    assert profiles.check_profile("CPU") == "cpu"


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_every_profile_row_is_a_valid_schedule(profile, algo):
    for name in tasks.TASKS:
        if not profiles.defines(name, algo, profile):
            continue
        p = profiles.get_profile(name, algo, profile)
        assert p.checkpoint_steps[0] == 0 and p.checkpoint_steps[-1] == p.total_steps
        assert list(p.checkpoint_steps) == sorted(set(p.checkpoint_steps))
        assert p.total_steps <= tasks.algo_config(name, algo).paper_steps
        assert p.n_precise >= 1 and p.k >= 1 and p.n_seeds >= 1


def test_cpu_table_has_a_row_for_every_job_and_lookup_returns_it():
    assert set(profiles.CPU_TABLE) == {(t, a) for t in tasks.TASKS for a in tasks.ALGOS}
    for (name, algo), row in profiles.CPU_TABLE.items():
        p = profiles.get_profile(name, algo, "cpu")
        assert (p.total_steps, p.checkpoint_steps, p.n_precise, p.eval_every) == (
            row.total_steps, row.checkpoint_steps, row.n_precise, row.eval_every)
        assert p.k == 100 and row.reason and row.planned_minutes > 0
        assert profiles.planned_minutes(name, algo, "cpu") == row.planned_minutes
        if algo == "sac":  # SB3 updates nothing up to learning_starts: no checkpoint there but 0
            first = tasks.algo_config(name, algo).learning_starts
            assert all(s == 0 or s > first for s in p.checkpoint_steps), name


def test_the_committed_tables_are_the_plan_of_the_committed_inputs(capsys):
    """benchmarks/plan_cpu.py, on data/benchmarks/plan_inputs.csv, proposes exactly CPU_TABLE and LONG_TABLE."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "plan_cpu.py"
    spec = importlib.util.spec_from_file_location("plan_cpu", path)
    plan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plan)
    assert plan.main(["--check"]) == 0, capsys.readouterr().out


def test_sac_precise_sample_is_eight_times_the_minibatch_hessian():
    # so that the precise and mini-batch estimates differ and C5 can be tested for SAC
    for name in tasks.TASKS:
        for profile in ("cpu", "long", "paper"):
            if profiles.defines(name, "sac", profile):
                p = profiles.get_profile(name, "sac", profile)
                assert p.n_precise >= 8 * p.sac_minibatch_samples, (name, profile)
                assert p.n_random >= min(2 * p.n_precise, 50_000), (name, profile)


def test_every_table_checkpoint_holds_an_independent_sample_for_the_cross_fitted_fraction():
    # SAC draws the independent sample from replay rows disjoint from the precise ones: the buffer
    # (one row per step) must hold 2N rows; step 0 uses n_random = 2N random transitions
    for table in ("cpu", "long"):
        for name in tasks.TASKS:
            if profiles.defines(name, "sac", table):
                p = profiles.get_profile(name, "sac", table)
                assert p.n_random == 2 * p.n_precise
                assert all(s == 0 or s >= 2 * p.n_precise for s in p.checkpoint_steps), (name, table)


def test_table_profiles_solve_at_the_measured_tolerance_and_the_others_at_the_papers():
    assert profiles.get_profile("Pendulum", "ppo", "cpu").tol == profiles.TABLE_TOL == 1e-2
    assert profiles.get_profile("HalfCheetah", "sac", "long").tol == profiles.TABLE_TOL
    for name in ("smoke", "paper"):
        assert profiles.get_profile("Pendulum", "sac", name).tol == profiles.PAPER_TOL == 1e-4
    with pytest.raises(ValueError, match="tol must lie in"):
        profiles.get_profile("Pendulum", "ppo", "smoke", tol=0.0)


def test_long_rows_reach_the_papers_t1_values():
    sac = [key for key in profiles.LONG_TABLE if key[1] == "sac"]
    assert len(sac) >= 2 and any(tasks.get_task(t).suite == "dm_control" for t, _ in sac)
    for (name, algo), row in profiles.LONG_TABLE.items():
        paper = tasks.algo_config(name, algo).paper_steps
        if algo == "sac":
            assert row.total_steps >= min(300_000, paper) and {100_000, 200_000} <= set(row.checkpoint_steps)
        else:
            assert row.total_steps == paper and 100_000 in row.checkpoint_steps


def test_paper_profile_is_the_papers_scale():
    p = profiles.get_profile("Hopper", "ppo", "paper")
    assert p.total_steps == 1_500_000 and p.n_precise == 1_000_000 and p.k == 100 and p.n_seeds == 10
    assert p.checkpoint_steps[:4] == (0, 10_000, 50_000, 100_000)
    assert all(b - a == 50_000 for a, b in zip(p.checkpoint_steps[2:], p.checkpoint_steps[3:]))
    s = profiles.get_profile("Hopper", "sac", "paper")
    assert s.total_steps == 1_000_000 and s.n_random == 50_000 and s.sac_minibatch_samples == 2048
    assert profiles.planned_minutes("Hopper", "sac", "paper") is None


def test_overriding_total_steps_keeps_the_schedule_below_it():
    p = profiles.get_profile("Pendulum", "ppo", "smoke", total_steps=128)
    assert p.checkpoint_steps == (0, 128) and p.eval_every == 128
    p = profiles.get_profile("Pendulum", "sac", "paper", total_steps=120_000)
    assert p.checkpoint_steps == (0, 10_000, 50_000, 100_000, 120_000)
    cpu = profiles.CPU_TABLE[("Pendulum", "ppo")]
    p = profiles.get_profile("Pendulum", "ppo", "cpu", total_steps=60_000)
    assert p.checkpoint_steps == tuple(s for s in cpu.checkpoint_steps if s < 60_000) + (60_000,)
    p = profiles.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(0, 100, 256))
    assert p.checkpoint_steps == (0, 100, 256)
    with pytest.raises(ValueError, match="valid fields: total_steps"):
        profiles.get_profile("Pendulum", "ppo", "smoke", total_step=3)
    with pytest.raises(ValueError, match="checkpoint_steps must increase"):
        profiles.get_profile("Pendulum", "ppo", "smoke", checkpoint_steps=(10, 256))


def test_a_new_task_without_a_cpu_row_gets_a_clear_error_and_runs_its_smoke_job(tmp_path, monkeypatch):
    new = dataclasses.replace(tasks.get_task("Pendulum"), name="Pendulum-twin")
    monkeypatch.setitem(tasks.TASKS, new.name, new)
    with pytest.raises(ValueError, match=r"the cpu profile has no row for \('Pendulum-twin', 'ppo'\): add one to "
                                         r"gradsub.profiles.CPU_TABLE \(`python benchmarks/plan_cpu.py`"):
        profiles.get_profile(new.name, "ppo", "cpu")
    assert "Pendulum-twin" in profiles.format_task_table()  # its cpu steps show as "-"
    tables = run_job(Job.create(new.name, "ppo", 0, "smoke", data_dir=tmp_path / "data",
                                artifacts_dir=tmp_path / "artifacts"), progress=False)
    assert set(tables["gradient_subspace_fraction"]["task"]) == {"Pendulum-twin"}
    monkeypatch.setitem(profiles.CPU_TABLE, (new.name, "ppo"), profiles.CPU_TABLE[("Pendulum", "ppo")])
    assert profiles.get_profile(new.name, "ppo", "cpu").n_precise == profiles.CPU_TABLE[("Pendulum", "ppo")].n_precise


def test_task_table_lists_every_task_with_its_numbers():
    table = profiles.format_task_table()
    lines = table.splitlines()
    for name in tasks.TASKS:
        assert any(line.startswith(name + " ") for line in lines)
    assert "HalfCheetah-v5" in table and "144,386" in table and "LunarLander-v3 continuous=True" in table
    assert "steps long (ppo/sac)" in table
