"""The job pipeline end to end: papermill, the CLI, resumption, determinism, parameter
validation and the Dask sweep, on Pendulum at the ``smoke`` profile in temporary folders.

Cost: every run with the registry's PPO networks computes the full Hessian spectrum of its last
checkpoint (~4.5k Hessian-vector products per network, ~40 s here), so there is one such run: the
module-scoped sweep, whose jobs are the papermill executions of the notebook. The CLI runs SAC
(k = 2), and the resumption and determinism tests use a "small" job: the smoke profile with 16x16
networks (its spectrum is cheap) and four checkpoints, so that a run can stop between them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gradsub import agents, cli, profiles, results, sweep, tasks
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
        assert len(left) == (len(results.JOB_TABLES) - 1) * len(run_ids)
    different = [name for name in left if left[name] != right[name]]
    assert not different, f"tables differ between {a} and {b}: {different}"


def _assert_tables_valid(data_dir: Path, run_ids) -> None:
    """Every schema's table reads back validated, with one file per run (spectrum may be empty)."""
    for table in results.JOB_TABLES:
        frame = results.read_table(data_dir, table)
        for run_id in run_ids:
            task, algo, profile, seed = _parse_run_id(run_id)
            assert results.table_path(data_dir, table, results.RunKey(task, algo, seed, profile)).exists()
            mine = frame[(frame["algo"] == algo) & (frame["seed"] == seed)]
            if table != "spectrum":  # SAC's networks are too large for a dense spectrum
                assert len(mine) > 0, f"{table} has no rows for {run_id}"
            if table == "timings":  # a run with a spectrum also timed it
                spectra = results.read_table(data_dir, "spectrum")
                has_spectrum = ((spectra["algo"] == algo) & (spectra["seed"] == seed)).any()
                assert mine["stage"].str.startswith("spectrum/").any() == has_spectrum


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
    smoke = profiles.get_profile(TASK, algo, "smoke")
    return _job(root, algo, total_steps=SMALL_STEPS[-1], checkpoint_steps=SMALL_STEPS,
                algo_overrides=smoke.algo_overrides + (("net_arch", (16, 16)),))


def _failing_template(folder: Path) -> Path:
    """The notebook template with one cell inserted after the parameters: seed 1 raises."""
    template = nbformat.read(sweep.TEMPLATE, as_version=4)
    where = next(i for i, c in enumerate(template.cells) if "parameters" in c.metadata.get("tags", []))
    template.cells.insert(where + 1, nbformat.v4.new_code_cell('if seed == 1:\n    raise RuntimeError("boom")'))
    path = folder / "experiment_boom.ipynb"
    nbformat.write(template, path)
    return path


# --- shared runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One sweep on a two-worker LocalCluster: PPO and SAC seed 0, and PPO seed 1, which fails.

    Each job is ``papermill.execute_notebook`` of the template with the job's parameters (task, algo,
    seed, profile, data_dir, artifacts_dir, method, overrides): these are also the papermill end-to-end
    runs.
    The template is a copy of notebooks/experiment.ipynb with one inserted cell that raises for seed 1
    (one sweep instead of two: a PPO smoke job costs ~40 s here, most of it the dense spectrum).
    """
    root = tmp_path_factory.mktemp("sweep")
    folders = dict(data_dir=root / "data", artifacts_dir=root / "artifacts", k=K)
    ok = sweep.plan("smoke", task_names=[TASK], algos=list(tasks.ALGOS), seeds=[0], **folders)
    failing = sweep.plan("smoke", task_names=[TASK], algos=["ppo"], seeds=[1], **folders)
    summary = sweep.sweep(ok + failing, workers=2, template=_failing_template(root))
    return root, ok, failing[0], summary


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


# --- papermill --------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", tasks.ALGOS)
def test_smoke_job_through_papermill_writes_valid_tables_and_manifest(swept, algo):
    root, jobs, _, summary = swept
    job = next(j for j in jobs if j.algo == algo)
    run_id = job.key.run_id
    notebook = Path(summary.set_index("run_id").loc[run_id, "notebook"])
    assert notebook == (root / "artifacts" / "notebooks" / f"{run_id}.ipynb").resolve()
    executed = nbformat.read(notebook, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    parameters: dict = {}
    exec(injected[0].source, parameters)  # papermill's injected cell: plain assignments
    assert {name: parameters[name] for name in ("task", "algo", "seed", "profile", "overrides", "data_dir",
                                                "artifacts_dir")} == {
        "task": TASK, "algo": algo, "seed": 0, "profile": "smoke", "overrides": {"k": K},
        "data_dir": str((root / "data").resolve()), "artifacts_dir": str((root / "artifacts").resolve())}
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    _assert_tables_valid(root / "data", [run_id])
    row = _manifest_row(root / "data", run_id)
    assert row["status"] == "ok" and row["error"] == ""
    assert row["params_hash"] == results.params_hash(job.params())
    assert (row["task"], row["algo"], row["seed"], row["profile"]) == (TASK, algo, "0", "smoke")
    checkpoints = profiles.get_profile(TASK, algo, "smoke").checkpoint_steps
    fractions = results.read_table(root / "data", "gradient_subspace_fraction")
    assert sorted(fractions.loc[fractions["algo"] == algo, "step"].unique()) == list(checkpoints)
    assert sorted(fractions.loc[fractions["algo"] == algo, "k"].unique()) == [1, K]
    # the cross-fitted S_frac (gradient of an independent precise sample) at every checkpoint
    crossed = fractions[(fractions["algo"] == algo) & (fractions["gradient"] == "independent")]
    assert sorted(crossed["step"].unique()) == list(checkpoints) and set(crossed["hessian"]) == {"precise"}


# --- CLI --------------------------------------------------------------------------------------------


def test_cli_run_smoke_job_returns_0_and_matches_the_notebook(swept, tmp_path, capsys):
    data, artifacts = tmp_path / "data", tmp_path / "artifacts"
    code = cli.main(["run", "--task", TASK, "--algo", "sac", "--seed", "0", "--profile", "smoke",
                     "--set", f"k={K}", "--data-dir", str(data), "--artifacts-dir", str(artifacts)])
    assert code == 0
    run_id = f"{TASK}_sac_smoke_seed0"
    assert run_id in capsys.readouterr().out
    _assert_tables_valid(data, [run_id])
    assert _manifest_row(data, run_id)["status"] == "ok"
    # the same job through the sweep (a papermill kernel on a Dask worker) wrote the same bytes
    _assert_same_tables(data, swept[0] / "data", [run_id])


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
    with pytest.raises(SystemExit) as exit_info:  # argparse: --set needs FIELD=VALUE
        cli.main(base + ["--task", TASK, "--set", "k"])
    assert exit_info.value.code == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert cli.main(base + ["--task", TASK, "--set", "no_such_field=3"]) == 2
    err = capsys.readouterr().err
    assert "no_such_field" in err and "n_precise" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "artifacts").exists()


# --- resume after a kill ----------------------------------------------------------------------------


def test_analysis_cache_is_shared_only_by_jobs_with_the_same_parameters(tmp_path):
    same = [Job.create(TASK, "ppo", 0, "smoke", data_dir=tmp_path / d, artifacts_dir=tmp_path / "a")
            for d in ("d1", "d2")]  # the data folder is not a parameter of the numbers
    other = Job.create(TASK, "ppo", 0, "smoke", data_dir=tmp_path / "d1", artifacts_dir=tmp_path / "a", k=2)
    assert job_module.analysis_cache(same[0], 256) == job_module.analysis_cache(same[1], 256)
    assert job_module.analysis_cache(other, 256) != job_module.analysis_cache(same[0], 256)
    assert job_module.analysis_cache(other, 256).parent.parent == other.run_dir / "analysis"


def test_the_profiles_notes_are_not_a_parameter(tmp_path, monkeypatch):
    """Rewording a profile's notes changes no number, so no job's hash (finished jobs stay finished)."""
    job = Job.create(TASK, "ppo", 0, "cpu", data_dir=tmp_path / "d", artifacts_dir=tmp_path / "a")
    before = results.params_hash(job.params())
    monkeypatch.setitem(profiles._NOTES, "cpu", "reworded")
    assert job.settings().notes == "reworded"
    assert results.params_hash(job.params()) == before
    assert results.params_hash(Job.create(TASK, "ppo", 0, "cpu", data_dir=tmp_path / "d",
                                          artifacts_dir=tmp_path / "a", k=7).params()) != before


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
    "algo": (dict(algo="dqn"), ["algo", *tasks.ALGOS]),
    "profile": (dict(profile="huge"), ["profile", *profiles.PROFILES]),
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


def test_a_sweep_of_a_table_profile_plans_its_rows_and_refuses_a_named_pair_without_one(tmp_path):
    folders = dict(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")
    jobs = sweep.plan("long", seeds=[0], **folders)
    assert sorted((j.task, j.algo) for j in jobs) == sorted(profiles.LONG_TABLE)
    assert [(j.task, j.algo) for j in sweep.plan("long", task_names=["HalfCheetah"], seeds=[0], **folders)] == [
        ("HalfCheetah", "sac")]
    with pytest.raises(ValueError, match="no row for"):
        sweep.plan("long", task_names=["HalfCheetah"], algos=["ppo"], seeds=[0], **folders)


# --- sweep ------------------------------------------------------------------------------------------


def test_sweep_runs_jobs_on_a_local_cluster_and_records_a_failing_one(swept):
    root, jobs, failing, summary = swept
    assert list(summary.columns) == ["run_id", "status", "minutes", "notebook", "error"]
    assert sorted(summary["run_id"]) == sorted(j.key.run_id for j in jobs + [failing])
    status = dict(zip(summary["run_id"], summary["status"]))
    assert [status[j.key.run_id] for j in jobs] == ["ok", "ok"], summary.to_dict("records")
    for path in summary["notebook"]:  # kept for every job, the failed one included
        assert Path(path).exists() and Path(path).parent == (root / "artifacts" / "notebooks").resolve()
    _assert_tables_valid(root / "data", [j.key.run_id for j in jobs])
    for job in jobs:
        row = _manifest_row(root / "data", job.key.run_id)
        assert row["status"] == "ok" and row["params_hash"] == results.params_hash(job.params())

    failed = summary.set_index("run_id").loc[failing.key.run_id]
    assert failed["status"] == "failed" and "boom" in failed["error"]
    row = _manifest_row(root / "data", failing.key.run_id)
    assert row["status"] == "failed" and "boom" in row["error"]
    assert row["params_hash"] == results.params_hash(failing.params())
    assert not any(results.table_path(root / "data", t, failing.key).exists() for t in results.SCHEMAS)


def test_sweep_again_skips_finished_jobs_only(swept):
    root, jobs, failing, _ = swept
    manifest = (root / "data" / "manifest.csv").read_bytes()
    again = sweep.sweep(jobs, workers=2)
    assert sorted(again["run_id"]) == sorted(j.key.run_id for j in jobs)
    assert (again["status"] == "skipped").all()
    assert (root / "data" / "manifest.csv").read_bytes() == manifest
    # a failed job, or the same job with other parameters, is not finished: a sweep would run it
    assert not sweep._finished(failing)
    changed = Job.create(TASK, "ppo", 0, "smoke", data_dir=root / "data", artifacts_dir=root / "artifacts", k=1)
    assert not sweep._finished(changed)


def test_every_override_the_sweep_accepts_reaches_the_notebook(tmp_path):
    """A sweep job's profile overrides must be the notebook's too, or the notebook runs another job
    (other settings, another params_hash: the sweep would never see it finished)."""
    try:
        jobs = sweep.plan("smoke", task_names=[TASK], algos=["sac"], seeds=[0], data_dir=tmp_path / "data",
                          artifacts_dir=tmp_path / "artifacts", k=3, n_random=64)
    except ValueError as err:  # also fine: the sweep refuses what the notebook cannot take
        assert "n_random" in str(err)
        return
    # The template up to the cell that creates the job, then a cell that reports the job's params.
    template = nbformat.read(sweep.TEMPLATE, as_version=4)
    last = next(i for i, c in enumerate(template.cells) if "Job.create" in c.source)
    template.cells = template.cells[:last + 1] + [nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "pathlib.Path(data_dir, 'notebook_params.json').write_text(json.dumps(job.params(), default=str))")]
    head = tmp_path / "head.ipynb"
    nbformat.write(template, head)
    row = sweep.execute(jobs[0], head)
    assert row["status"] == "ok", row["error"]
    seen = json.loads((tmp_path / "data" / "notebook_params.json").read_text())
    assert seen["overrides"] == {"k": 3, "n_random": 64}
    assert results.params_hash(seen) == results.params_hash(jobs[0].params())


def test_a_notebooks_kernel_does_not_inherit_dasks_malloc_trim_threshold(tmp_path, monkeypatch):
    """Dask's workers set MALLOC_TRIM_THRESHOLD_ for themselves; it slows a kernel's training."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    job = sweep.plan("smoke", task_names=[TASK], algos=["ppo"], seeds=[0], data_dir=tmp_path / "data",
                     artifacts_dir=tmp_path / "artifacts")[0]
    template = nbformat.read(sweep.TEMPLATE, as_version=4)
    first = next(i for i, c in enumerate(template.cells) if "parameters" in c.metadata.get("tags", []))
    template.cells = template.cells[:first + 1] + [nbformat.v4.new_code_cell(
        "import os, pathlib\n"
        "pathlib.Path(data_dir).mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path(data_dir, 'env.txt').write_text(os.environ.get('MALLOC_TRIM_THRESHOLD_', 'unset'))")]
    head = tmp_path / "head.ipynb"
    nbformat.write(template, head)
    row = sweep.execute(job, head)
    assert row["status"] == "ok", row["error"]
    assert (tmp_path / "data" / "env.txt").read_text() == "unset"
