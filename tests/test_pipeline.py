"""The job pipeline end to end (issue #4): papermill, the CLI, resumption, determinism, parameter
validation and the Dask sweep, on Pendulum at the ``smoke`` profile in temporary folders.

Cost: every run with the registry's PPO networks computes the full Hessian spectrum of its last
checkpoint (~4.5k Hessian-vector products per network, ~40 s here), so those runs are few and shared
through module-scoped fixtures (papermill, sweep). The resumption and determinism tests use a
"small" job instead: the smoke profile with 16x16 networks (its spectrum is cheap) and four
checkpoints, so that a run can stop between them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gradsub import agents, cli, results, sweep, tasks
from gradsub import job as job_module
from gradsub.job import Job, run_job

TASK = "Pendulum"
K = 2  # the notebook's `k` parameter: SAC's k=5 critic solves at step 0 take ~30 s each here
SMALL_STEPS = (0, 128, 256, 384)


# --- helpers ----------------------------------------------------------------------------------------


def _csv_bytes(data_dir: Path) -> dict[str, bytes]:
    """Every result CSV but ``timings`` (wall-clock seconds), by path relative to ``data_dir``."""
    files = sorted((data_dir / "results").glob("*/*.csv"))
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in files if p.parent.name != "timings"}


def _assert_same_tables(a: Path, b: Path, run_ids=None) -> None:
    left, right = _csv_bytes(a), _csv_bytes(b)
    if run_ids is not None:
        keep = {f"{r}.csv" for r in run_ids}
        left = {k: v for k, v in left.items() if Path(k).name in keep}
        right = {k: v for k, v in right.items() if Path(k).name in keep}
    assert sorted(left) == sorted(right)
    if run_ids is not None:  # every table but timings, for every run
        assert len(left) == (len(results.SCHEMAS) - 1) * len(run_ids)
    different = [name for name in left if left[name] != right[name]]
    assert not different, f"tables differ between {a} and {b}: {different}"


def _assert_tables_valid(data_dir: Path, run_ids) -> None:
    """Every schema's table reads back validated, with one file per run (spectrum may be empty)."""
    for table in results.SCHEMAS:
        frame = results.read_table(data_dir, table)
        for run_id in run_ids:
            task, algo, profile, seed = _parse_run_id(run_id)
            assert results.table_path(data_dir, table, results.RunKey(task, algo, seed, profile)).exists()
            mine = frame[(frame["algo"] == algo) & (frame["seed"] == seed)]
            if table != "spectrum":  # SAC's networks are too large for a dense spectrum
                assert len(mine) > 0, f"{table} has no rows for {run_id}"


def _parse_run_id(run_id: str) -> tuple[str, str, str, int]:
    task, algo, profile, seed = run_id.rsplit("_", 3)
    return task, algo, profile, int(seed.removeprefix("seed"))


def _manifest_row(data_dir: Path, run_id: str) -> pd.Series:
    manifest = results.read_manifest(data_dir)
    rows = manifest[manifest["run_id"] == run_id]
    assert len(rows) == 1, f"{run_id}: {len(rows)} manifest rows"
    return rows.iloc[0]


def _job(root: Path, algo: str, seed: int = 0, **overrides) -> Job:
    return Job.create(TASK, algo, seed, "smoke", data_dir=root / "data", artifacts_dir=root / "artifacts",
                      **overrides)


def _small_job(root: Path, algo: str = "ppo") -> Job:
    """Smoke profile, 16x16 networks, four checkpoints (training can stop between them)."""
    smoke = tasks.get_profile(TASK, algo, "smoke")
    return _job(root, algo, total_steps=SMALL_STEPS[-1], checkpoint_steps=SMALL_STEPS,
                algo_overrides=smoke.algo_overrides + (("net_arch", (16, 16)),))


def _run_papermill(root: Path, algo: str, seed: int = 0) -> Path:
    import papermill

    output = root / f"{TASK}_{algo}_seed{seed}.ipynb"
    papermill.execute_notebook(
        str(sweep.TEMPLATE), str(output), progress_bar=False,
        parameters={"task": TASK, "algo": algo, "seed": seed, "profile": "smoke", "k": K,
                    "data_dir": str(root / "data"), "artifacts_dir": str(root / "artifacts")})
    return output


# --- shared runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def papermill_runs(tmp_path_factory):
    """PPO and SAC smoke jobs executed through papermill into one data folder."""
    root = tmp_path_factory.mktemp("papermill")
    notebooks = {algo: _run_papermill(root, algo) for algo in tasks.ALGOS}
    return root, notebooks


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    """Uninterrupted runs of the small job (per algorithm), made on first use."""
    refs = {}

    def get(algo: str) -> Path:
        if algo not in refs:
            root = tmp_path_factory.mktemp(f"reference_{algo}")
            run_job(_small_job(root, algo), progress=False)
            refs[algo] = root
        return refs[algo]

    return get


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A sweep of PPO and SAC (seed 0) on a two-worker LocalCluster."""
    root = tmp_path_factory.mktemp("sweep")
    jobs = sweep.plan("smoke", task_names=[TASK], algos=["ppo", "sac"], seeds=[0], data_dir=root / "data",
                      artifacts_dir=root / "artifacts", k=K)
    return root, jobs, sweep.sweep(jobs, workers=2)


# --- papermill --------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_smoke_job_through_papermill_writes_valid_tables_and_manifest(papermill_runs, algo):
    root, notebooks = papermill_runs
    job = _job(root, algo, k=K)
    run_id = job.key.run_id
    assert notebooks[algo].exists()
    executed = nbformat.read(notebooks[algo], as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    _assert_tables_valid(root / "data", [run_id])
    row = _manifest_row(root / "data", run_id)
    assert row["status"] == "ok" and row["error"] == ""
    assert row["params_hash"] == results.params_hash(job.params())
    assert (row["task"], row["algo"], row["seed"], row["profile"]) == (TASK, algo, "0", "smoke")
    checkpoints = tasks.get_profile(TASK, algo, "smoke").checkpoint_steps
    fractions = results.read_table(root / "data", "gradient_subspace_fraction")
    assert sorted(fractions.loc[fractions["algo"] == algo, "step"].unique()) == list(checkpoints)


# --- CLI --------------------------------------------------------------------------------------------


def test_cli_run_smoke_job_returns_0_and_matches_the_notebook(papermill_runs, tmp_path, capsys):
    data, artifacts = tmp_path / "data", tmp_path / "artifacts"
    code = cli.main(["run", "--task", TASK, "--algo", "sac", "--seed", "0", "--profile", "smoke",
                     "--k", str(K), "--data-dir", str(data), "--artifacts-dir", str(artifacts)])
    assert code == 0
    run_id = f"{TASK}_sac_smoke_seed0"
    assert run_id in capsys.readouterr().out
    _assert_tables_valid(data, [run_id])
    assert _manifest_row(data, run_id)["status"] == "ok"
    # the same job through papermill (another process) wrote the same bytes
    _assert_same_tables(data, papermill_runs[0] / "data", [run_id])


def test_cli_tasks_prints_every_task(capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert len(tasks.TASKS) == 12
    for name in tasks.TASKS:
        assert name in out


def test_gradsub_console_script_prints_every_task():
    script = Path(sys.executable).with_name("gradsub")
    if not script.exists():
        pytest.skip("the gradsub console script is not installed next to this Python")
    out = subprocess.run([str(script), "tasks"], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in tasks.TASKS)


def test_cli_bad_parameters_exit_2_before_any_compute(tmp_path, capsys):
    base = ["run", "--algo", "ppo", "--seed", "0", "--profile", "smoke",
            "--data-dir", str(tmp_path / "data"), "--artifacts-dir", str(tmp_path / "artifacts")]
    assert cli.main(base + ["--task", "NoSuchTask"]) == 2
    err = capsys.readouterr().err
    assert "task" in err and all(name in err for name in tasks.TASKS)
    with pytest.raises(SystemExit) as exit_info:  # argparse: --seed must be an int
        cli.main(base + ["--task", TASK, "--seed", "1.5"])
    assert exit_info.value.code == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "data").exists() and not (tmp_path / "artifacts").exists()


# --- resume after a kill ----------------------------------------------------------------------------


def test_resume_after_analysis_killed_reuses_cached_checkpoints(small_reference, tmp_path, monkeypatch):
    reference = small_reference("ppo")
    job = _small_job(tmp_path, "ppo")
    assert job.settings().checkpoint_steps == SMALL_STEPS
    original = job_module.analyse_checkpoint
    calls = []

    def dies_on_second(step, *args, **kwargs):
        calls.append(step)
        if len(calls) == 2:
            raise RuntimeError("analysis killed")
        return original(step, *args, **kwargs)

    monkeypatch.setattr(job_module, "analyse_checkpoint", dies_on_second)
    with pytest.raises(RuntimeError, match="analysis killed"):
        run_job(job, progress=False)
    row = _manifest_row(job.data_dir, job.key.run_id)
    assert row["status"] == "failed" and "RuntimeError: analysis killed" in row["error"]
    assert row["params_hash"] == results.params_hash(job.params())
    assert not list((job.data_dir / "results").glob("*/*.csv"))  # no partial tables

    calls.clear()

    def spy(step, *args, **kwargs):
        calls.append(step)
        return original(step, *args, **kwargs)

    monkeypatch.setattr(job_module, "analyse_checkpoint", spy)
    run_job(job, progress=False)
    assert calls == list(SMALL_STEPS[1:])  # step 0's analysis came from the cache
    row = _manifest_row(job.data_dir, job.key.run_id)
    assert row["status"] == "ok" and row["error"] == ""
    _assert_same_tables(job.data_dir, reference / "data", [job.key.run_id])


@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_resume_after_training_killed_gives_the_same_tables(small_reference, tmp_path, monkeypatch, algo):
    reference = small_reference(algo)
    job = _small_job(tmp_path, algo)
    original = agents._save_checkpoint
    saves = []

    def dies_on_third(*args, **kwargs):  # checkpoints 0 and 128 are saved, training dies at 256
        saves.append(1)
        if len(saves) == 3:
            raise RuntimeError("training killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(agents, "_save_checkpoint", dies_on_third)
    with pytest.raises(RuntimeError, match="training killed"):
        run_job(job, progress=False)
    assert agents.checkpoint_steps(job.run_dir / "train") == list(SMALL_STEPS[:2])
    row = _manifest_row(job.data_dir, job.key.run_id)
    assert row["status"] == "failed" and "training killed" in row["error"]

    monkeypatch.setattr(agents, "_save_checkpoint", original)
    run_job(job, progress=False)
    assert agents.checkpoint_steps(job.run_dir / "train") == list(SMALL_STEPS)
    assert _manifest_row(job.data_dir, job.key.run_id)["status"] == "ok"
    _assert_same_tables(job.data_dir, reference / "data", [job.key.run_id])


def test_same_job_in_two_fresh_folders_gives_identical_tables(small_reference, tmp_path):
    reference = small_reference("ppo")
    job = _small_job(tmp_path, "ppo")
    run_job(job, progress=False)
    _assert_same_tables(job.data_dir, reference / "data", [job.key.run_id])
    assert (_manifest_row(job.data_dir, job.key.run_id)["params_hash"]
            == _manifest_row(reference / "data", job.key.run_id)["params_hash"])
    # a rerun in the same folders finds everything done and rewrites the same bytes
    before = _csv_bytes(job.data_dir)
    run_job(job, progress=False)
    assert _csv_bytes(job.data_dir) == before


# --- parameter validation ---------------------------------------------------------------------------

_BAD = {
    "task": (dict(task="NoSuchTask"), ["task", *tasks.TASKS]),
    "algo": (dict(algo="dqn"), ["algo", "ppo", "sac"]),
    "profile": (dict(profile="huge"), ["profile", *tasks.PROFILES]),
    "negative seed": (dict(seed=-1), ["seed", "non-negative integer"]),
    "float seed": (dict(seed=1.5), ["seed", "non-negative integer"]),
    "string seed": (dict(seed="0"), ["seed", "non-negative integer"]),
    "bool seed": (dict(seed=True), ["seed", "non-negative integer"]),
    "method": (dict(method="lobpcg"), ["method", "block", "arpack"]),
    "override field": (dict(no_such_field=3), ["no_such_field", "total_steps", "n_precise", "k"]),
    "override value": (dict(k=0), ["k", ">= 1"]),
    "total_steps": (dict(total_steps=0), ["total_steps"]),
    "hyperparameter": (dict(algo_overrides=(("no_such_hyperparameter", 1),)),
                       ["no_such_hyperparameter", "learning_rate"]),
}


@pytest.mark.parametrize("case", list(_BAD))
def test_bad_parameters_fail_before_any_compute(tmp_path, case):
    changes, words = _BAD[case]
    params = {"task": TASK, "algo": "ppo", "seed": 0, "profile": "smoke", **changes}
    data, artifacts = tmp_path / "data", tmp_path / "artifacts"
    with pytest.raises(ValueError) as info:
        Job.create(params.pop("task"), params.pop("algo"), params.pop("seed"), params.pop("profile"),
                   data_dir=data, artifacts_dir=artifacts, **params)
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"{message!r} does not name {missing}"
    assert not data.exists() and not artifacts.exists()


@pytest.mark.parametrize("which", ["data_dir", "artifacts_dir"])
def test_unwritable_folder_fails_before_any_compute(tmp_path, which):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    folders = {"data_dir": tmp_path / "data", "artifacts_dir": tmp_path / "artifacts"}
    folders[which] = blocker / "sub"  # root can write anywhere, but not below a regular file
    with pytest.raises(ValueError) as info:
        Job.create(TASK, "ppo", 0, "smoke", **folders)
    assert which in str(info.value) and str(blocker / "sub") in str(info.value)
    assert not (tmp_path / "artifacts").exists()
    assert not (tmp_path / "data" / "manifest.csv").exists()
    if which == "data_dir":
        assert not (tmp_path / "data").exists()


def test_sweep_plan_validates_every_job_first(tmp_path):
    with pytest.raises(ValueError, match="valid tasks"):
        sweep.plan("smoke", task_names=[TASK, "NoSuchTask"], data_dir=tmp_path / "data",
                   artifacts_dir=tmp_path / "artifacts")
    with pytest.raises(ValueError, match="valid profiles"):
        sweep.plan("huge", task_names=[TASK], data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")
    with pytest.raises(ValueError, match="workers"):
        sweep.sweep(sweep.plan("smoke", task_names=[TASK], algos=["ppo"], seeds=[0], data_dir=tmp_path / "data",
                               artifacts_dir=tmp_path / "artifacts"), workers=0)
    assert not (tmp_path / "data" / "manifest.csv").exists()
    assert not list(tmp_path.glob("**/*.csv")) and not list(tmp_path.glob("**/*.ipynb"))


# --- sweep ------------------------------------------------------------------------------------------


def test_sweep_runs_two_jobs_on_a_local_cluster(swept, papermill_runs):
    root, jobs, summary = swept
    run_ids = [j.key.run_id for j in jobs]
    assert list(summary.columns) == ["run_id", "status", "minutes", "notebook", "error"]
    assert sorted(summary["run_id"]) == sorted(run_ids)
    assert (summary["status"] == "ok").all(), summary.to_dict("records")
    for path in summary["notebook"]:
        assert Path(path).exists() and Path(path).parent == (root / "artifacts" / "notebooks").resolve()
    _assert_tables_valid(root / "data", run_ids)
    for job in jobs:
        row = _manifest_row(root / "data", job.key.run_id)
        assert row["status"] == "ok" and row["params_hash"] == results.params_hash(job.params())
    # the direct papermill runs of the same jobs wrote the same bytes
    _assert_same_tables(root / "data", papermill_runs[0] / "data", run_ids)


def test_sweep_again_skips_finished_jobs(swept):
    root, jobs, _ = swept
    manifest = (root / "data" / "manifest.csv").read_bytes()
    again = sweep.sweep(jobs, workers=2)
    assert sorted(again["run_id"]) == sorted(j.key.run_id for j in jobs)
    assert (again["status"] == "skipped").all()
    assert (root / "data" / "manifest.csv").read_bytes() == manifest
    # other parameters are another job: not skipped
    changed = Job.create(TASK, "ppo", 0, "smoke", data_dir=root / "data", artifacts_dir=root / "artifacts", k=1)
    assert not sweep._finished(changed)


def test_sweep_records_a_failing_job_and_runs_the_others(tmp_path):
    template = nbformat.read(sweep.TEMPLATE, as_version=4)
    where = next(i for i, c in enumerate(template.cells) if "parameters" in c.metadata.get("tags", []))
    template.cells.insert(where + 1, nbformat.v4.new_code_cell(
        'if algo == "ppo":\n    raise RuntimeError("boom")'))
    failing = tmp_path / "failing.ipynb"
    nbformat.write(template, failing)

    jobs = sweep.plan("smoke", task_names=[TASK], algos=["ppo", "sac"], seeds=[1], data_dir=tmp_path / "data",
                      artifacts_dir=tmp_path / "artifacts", k=K)
    summary = sweep.sweep(jobs, workers=2, template=failing).set_index("run_id")
    ppo, sac = f"{TASK}_ppo_smoke_seed1", f"{TASK}_sac_smoke_seed1"
    assert summary.loc[ppo, "status"] == "failed" and "boom" in summary.loc[ppo, "error"]
    assert summary.loc[sac, "status"] == "ok", summary.loc[sac].to_dict()
    assert Path(summary.loc[ppo, "notebook"]).exists()  # kept for inspection
    failed = _manifest_row(tmp_path / "data", ppo)
    assert failed["status"] == "failed" and "boom" in failed["error"]
    assert failed["params_hash"] == results.params_hash(jobs[0].params())
    assert _manifest_row(tmp_path / "data", sac)["status"] == "ok"
    assert not results.table_path(tmp_path / "data", "eigenvalues", jobs[0].key).exists()
    _assert_tables_valid(tmp_path / "data", [sac])
    # the failed job is not finished: a second sweep runs it again (and only it)
    assert not sweep._finished(jobs[0]) and sweep._finished(jobs[1])

