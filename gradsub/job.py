"""One job end to end: train (or resume) a task/algorithm/seed, analyse every checkpoint, write tables.

    job = Job.create(task="Pendulum", algo="ppo", seed=0, profile="smoke")
    run_job(job)

Parameters are validated by ``Job.create`` before any compute. Training resumes from its last
checkpoint; each checkpoint's analysis is cached under the artifacts folder, so an interrupted job
rerun with the same parameters continues where it stopped and writes the same tables.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pickle
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from gradsub import NETWORKS, agents, profiles, results, samples, tasks
from gradsub.analysis import AnalysisSettings, CheckpointAnalysis, analyse_checkpoint, overlap_frame
from gradsub.lanczos import DEFAULT_METHOD, SCALABLE_METHODS

__all__ = ["Job", "run_job"]


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated (task, algo, seed, profile) job with its folders and profile overrides.

    overrides: profile fields replaced for this job (names of ``gradsub.profiles.Profile`` fields),
    stored sorted so that equal jobs hash equally.
    """

    task: str
    algo: str
    seed: int
    profile: str
    data_dir: Path
    artifacts_dir: Path
    method: str = DEFAULT_METHOD
    overrides: tuple[tuple[str, object], ...] = ()

    @classmethod
    def create(cls, task: str, algo: str, seed: int, profile: str, *, data_dir="data",
               artifacts_dir="artifacts", method: str = DEFAULT_METHOD, **overrides) -> "Job":
        """Validate every parameter (before any compute) and return the job.

        Raises ValueError naming the parameter and its allowed values.
        """
        task_name = tasks.get_task(task).name
        algo = tasks.check_algo(algo)
        profile = profiles.check_profile(profile)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if method not in SCALABLE_METHODS:
            raise ValueError(f"method must be one of {', '.join(SCALABLE_METHODS)}, got {method!r}")
        overrides = {name: value for name, value in overrides.items() if value is not None}
        job = cls(task_name, algo, int(seed), profile, Path(data_dir), Path(artifacts_dir), method,
                  tuple(sorted(overrides.items())))
        agents.resolve_config(job.task, job.algo, job.settings())  # validates profile fields and hyperparameters
        for folder, name in ((job.data_dir, "data_dir"), (job.artifacts_dir, "artifacts_dir")):
            _check_writable(folder, name)
        return job

    @classmethod
    def from_params(cls, params: dict, *, data_dir="data", artifacts_dir="artifacts") -> "Job":
        """The job whose ``params()`` were ``params`` (as stored in the manifest), not validated: its
        ``params()`` under today's registry differ from ``params`` when the profile has changed since."""
        return cls(params["task"], params["algo"], int(params["seed"]), params["profile"], Path(data_dir),
                   Path(artifacts_dir), params["method"], tuple(sorted(params["overrides"].items())))

    @property
    def key(self) -> results.RunKey:
        return results.RunKey(self.task, self.algo, self.seed, self.profile)

    @property
    def run_dir(self) -> Path:
        return self.artifacts_dir / self.key.run_id

    def settings(self) -> profiles.Profile:
        return profiles.get_profile(self.task, self.algo, self.profile, **dict(self.overrides))

    def analysis_settings(self) -> AnalysisSettings:
        profile = self.settings()
        return AnalysisSettings(k=profile.k, method=self.method, chunk_size=profile.chunk_size,
                                tol=profile.tol, seed=self.seed)

    def params(self) -> dict:
        """Everything that determines the job's numbers (hashed for the manifest and the sweep)."""
        return {
            "task": self.task, "algo": self.algo, "seed": self.seed, "profile": self.profile,
            "method": self.method, "overrides": dict(self.overrides),
            "settings": {name: value for name, value in dataclasses.asdict(self.settings()).items()
                         if name != "notes"},  # prose: editing it changes no number
            "analysis": dataclasses.asdict(self.analysis_settings()),
        }


def _check_writable(folder: Path, name: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(f"{name} {str(folder)!r} cannot be written: {err.strerror or err}") from None


def run_job(job: Job, *, progress: bool | None = None) -> dict[str, pd.DataFrame]:
    """Train, analyse and write every table of ``job``; record it in the manifest.

    Returns the written tables by name. On failure the manifest records the error and the
    exception propagates; checkpoints and cached analyses stay for the rerun.
    """
    started, commit = time.perf_counter(), results.git_commit()
    try:
        frames = _run(job, progress)
    except BaseException as err:
        results.record_run(job.data_dir, job.key, job.params(), wall_seconds=time.perf_counter() - started,
                           status="failed", error="".join(traceback.format_exception_only(err)).strip(),
                           finished_utc=_now(), commit=commit)
        raise
    results.record_run(job.data_dir, job.key, job.params(), wall_seconds=time.perf_counter() - started,
                       status="ok", finished_utc=_now(), commit=commit)
    return frames


def _run(job: Job, progress: bool | None) -> dict[str, pd.DataFrame]:
    profile = job.settings()
    agents.train(job.task, job.algo, profile, job.seed, job.run_dir / "train", progress=progress)
    # every session's training time, also when this invocation found the run trained or resumed it
    timings = [{"stage": "train", "step": -1, "seconds": agents.train_seconds(job.run_dir / "train")}]

    settings = job.analysis_settings()
    analyses: list[CheckpointAnalysis] = []
    warm = None
    last = profile.checkpoint_steps[-1]
    for step in tqdm(profile.checkpoint_steps, desc=f"analyse {job.key.run_id}", unit="ckpt",
                     disable=_quiet(progress)):
        result = _analyse_cached(job, step, settings, warm, spectrum=step == last)
        analyses.append(result)
        warm = {key: pairs.vectors for key, pairs in result.subspaces.items()}

    vectors = {a.step: {net: a.subspaces[(net, "precise")].vectors for net in NETWORKS}
               for a in analyses}
    k_levels = sorted({k for a in analyses
                       for k in a.frames["gradient_subspace_fraction"]["k"].unique()})
    frames = {table: pd.concat([a.frames[table] for a in analyses], ignore_index=True)
              for table in ("eigenvalues", "gradient_subspace_fraction", "spectrum", "solver_stats")}
    frames["subspace_overlap"] = overlap_frame(vectors, k_levels)
    frames["learning_curve"] = agents.learning_curve(job.run_dir / "train")
    frames["timings"] = pd.concat([pd.DataFrame(timings)] + [a.frames["timings"] for a in analyses],
                                  ignore_index=True)
    written = {}
    for table, frame in frames.items():
        if frame.empty:  # e.g. no spectrum for networks too large for a dense Hessian
            frame = pd.DataFrame(columns=[c.name for c in results.SCHEMAS[table]])
        frame = frame.assign(**dataclasses.asdict(job.key))
        results.write_table(job.data_dir, table, job.key, frame)
        written[table] = results.validate(table, frame)
    return written


def _analyse_cached(job: Job, step: int, settings: AnalysisSettings, warm, *, spectrum: bool) -> CheckpointAnalysis:
    """Analyse one checkpoint, or load the cached result of an earlier (interrupted) run."""
    cache = analysis_cache(job, step)
    if cache.exists():
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    started = time.perf_counter()
    checkpoint = agents.load_checkpoint(job.run_dir / "train", step)
    data = samples.analysis_data(checkpoint, job.settings(), seed=_sample_seed(job.seed, step))
    sampled = time.perf_counter()
    # Samples are drawn in float32 (SB3's rollouts need it); the analysis runs in float64.
    checkpoint.model.policy.to(torch.float64)
    losses = agents.network_losses(checkpoint.model)
    result = analyse_checkpoint(step, losses, data.precise, data.minibatches, data.minibatch_hessian,
                                settings, warm_start=warm, spectrum=spectrum, independent=data.independent)
    extra = pd.DataFrame([{"stage": "samples", "step": step, "seconds": sampled - started}])
    result = dataclasses.replace(
        result, frames={**result.frames, "timings": pd.concat([extra, result.frames["timings"]],
                                                              ignore_index=True)})
    results.atomic_write_bytes(cache, pickle.dumps(result))
    return result


def analysis_cache(job: Job, step: int) -> Path:
    """Where one checkpoint's analysis is cached: a folder named by the hash of the job's parameters,
    so that a run with other settings (k, N, method, ...) never reuses it."""
    return job.run_dir / "analysis" / results.params_hash(job.params()) / f"step{step:09d}.pkl"


def _sample_seed(seed: int, step: int) -> int:
    """Seed of a checkpoint's analysis samples: fixed by the run's seed and the step."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def _quiet(progress: bool | None) -> bool:
    return not progress if progress is not None else not os.isatty(2)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
