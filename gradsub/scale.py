"""Does the analysis's scale change the answer? The sample-size and tolerance grid.

The paper estimates each precise Hessian on 10^6 samples (Section 4 and its appendix); a reduced N changes
two things. The top-k subspace itself is a noisier estimate, and S_frac, measured with the gradient
of the SAME sample as the Hessian, is biased upwards when N is not much larger than the parameter
count n (the top eigenvectors partly fit the sample's own gradient noise). This module measures both
on fixed checkpoints:

- for each N of a run's grid: the top-k eigenpairs of the precise-Hessian loss on N rows; S_frac at
  k in ``K_LEVELS`` with the gradient of the same N rows (``same``) and of an independent sample of
  N rows (``independent``, cross-fitted: a second rollout for PPO, disjoint replay rows for SAC); the
  overlap of the top-k subspace with the one at the run's largest N (while that is not solved yet,
  the largest solved); the solver's products, passes, seconds and peak memory;
- at one N per run (``tol_samples``): the solver's tolerance in ``TOLERANCES``, against the paper's
  1e-4.

Samples are nested: the rows for N are the first N of the rows for the largest N (PPO: consecutive
rollouts in time order; SAC: a random permutation of the replay buffer), so every N shares its data
with the largest one, as a subsample does. PPO advantages are normalised over the N rows used.

Every cell (run, step, network, N, tol) is cached in ``artifacts_dir`` as soon as it is solved, and the
table ``sample_size`` is rewritten after each cell: an interrupted grid resumes where it stopped.

    gradsub scale                       # the whole grid, resumable
    gradsub scale --runs Pendulum-ppo   # one run of it
"""

from __future__ import annotations

import dataclasses
import gc
import pickle
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gradsub import NETWORKS, agents, profiles, results, samples
from gradsub.hessian import HessianOperator, gradient
from gradsub.lanczos import DEFAULT_METHOD, top_eigenpairs
from gradsub.metrics import gradient_subspace_fraction, random_baseline, subspace_overlap

__all__ = ["ScaleRun", "Cell", "SCALE_RUNS", "TOLERANCES", "K_LEVELS", "get_run", "grid_cells", "measure",
           "run_grid", "sample_size_frame"]

K_LEVELS = (1, 10, 100)
TOLERANCES = (1e-2, 1e-3, 1e-4)
REFERENCE_TOL = profiles.PAPER_TOL
SEED = 0
CHUNK_SIZE = 4096  # rows per chunk of the Hessian operator: memory, not results, depends on it
PROFILE = results.SCALE_PROFILE  # the profile column of the manifest row and the table's run id


@dataclasses.dataclass(frozen=True)
class ScaleRun:
    """One trained run of the grid.

    total_steps: training steps (the paper's hyperparameters, seed ``SEED``).
    steps: the analysed checkpoints.
    sizes: the sample sizes N, ascending; ``None`` stands for the whole replay buffer (SAC).
    tol_samples: the N at which the solver tolerance is varied.
    reason: why this run is in the grid.
    base_profile: the profile whose hyperparameters train the agent ("cpu": the paper's; "smoke": the
        shrunken ones of the tests).
    k: eigenpairs per solve (the paper's 100).
    """

    task: str
    algo: str
    total_steps: int
    steps: tuple[int, ...]
    sizes: tuple[int | None, ...]
    tol_samples: int
    reason: str
    base_profile: str = "cpu"
    k: int = 100

    @property
    def name(self) -> str:
        return f"{self.task}-{self.algo}"

    @property
    def key(self) -> results.RunKey:
        return results.RunKey(self.task, self.algo, SEED, PROFILE)

    def profile(self) -> profiles.Profile:
        checkpoints = tuple(sorted({0, *self.steps}))
        return profiles.get_profile(self.task, self.algo, self.base_profile, total_steps=self.total_steps,
                                 checkpoint_steps=checkpoints, eval_every=min(10_000, self.total_steps),
                                 n_eval_episodes=5)


SCALE_RUNS = (
    ScaleRun("Pendulum", "ppo", 300_000, (300_000, 10_000), (2_048, 10_000, 100_000, 1_000_000), 10_000,
             "a [64, 64] PPO network (n about 4.5k) at the paper's N = 10^6, early and at the end of "
             "the paper's 300k steps"),
    ScaleRun("HalfCheetah", "ppo", 100_000, (100_000,), (2_048, 10_000, 100_000), 10_000,
             "a [256, 256] PPO network (n about 72k) up to N = 10^5"),
    # 99,999 transitions at 100k steps: half of them give the largest cross-fitted pair.
    ScaleRun("HalfCheetah", "sac", 100_000, (100_000,), (2_048, 10_000, 49_999, None), 10_000,
             "SAC [256, 256] networks (actor n about 73k, critic 144k) at the paper's t1 = 100k, up to "
             "the whole replay buffer"),
)


def get_run(name: str) -> ScaleRun:
    for run in SCALE_RUNS:
        if run.name.lower() == str(name).lower():
            return run
    raise ValueError(f"unknown scale run {name!r}; known runs: {', '.join(r.name for r in SCALE_RUNS)}")


def train_dir(run: ScaleRun, artifacts_dir: str | Path) -> Path:
    return Path(artifacts_dir) / "scale" / run.key.run_id / "train"


def train_run(run: ScaleRun, artifacts_dir: str | Path, progress: bool | None = None) -> None:
    """Train (or resume) the run's agent to ``total_steps``; a no-op when its checkpoints exist."""
    agents.train(run.task, run.algo, run.profile(), SEED, train_dir(run, artifacts_dir), progress=progress)


# --- the grid -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cell:
    """One eigensolve of the grid: a network's precise Hessian at a checkpoint, on N rows, at a tol."""

    step: int
    network: str
    n_samples: int | None  # None: the whole replay buffer
    tol: float

    @property
    def name(self) -> str:
        n = "all" if self.n_samples is None else str(self.n_samples)
        return f"step{self.step:09d}-{self.network}-n{n}-tol{self.tol:.0e}"


def grid_cells(run: ScaleRun, networks: Sequence[str] = NETWORKS) -> list[Cell]:
    """The run's cells (of ``networks``) in the order they are solved: per step, the smaller N ascending
    (and the looser tolerances at ``tol_samples`` of the first step), then the largest N, the dearest
    solves: an interrupted grid has the most cells done."""
    cells = []
    for i, step in enumerate(run.steps):
        for network in networks:
            cells += [Cell(step, network, n, REFERENCE_TOL) for n in run.sizes[:-1]]
            if i == 0:
                cells += [Cell(step, network, run.tol_samples, tol) for tol in TOLERANCES if tol != REFERENCE_TOL]
        cells += [Cell(step, network, run.sizes[-1], REFERENCE_TOL) for network in networks]
    return cells


def _pool_seed(step: int, which: int) -> int:
    """Seed of a checkpoint's row pool: 0 for the Hessian's own rows, 1 for the independent PPO rollouts."""
    return int(np.random.SeedSequence([SEED, step, which]).generate_state(1)[0])


class _Checkpoint:
    """A checkpoint's losses (float64) and its row pools, loaded once for all cells at that step."""

    def __init__(self, run: ScaleRun, step: int, artifacts_dir: Path):
        checkpoint = agents.load_checkpoint(train_dir(run, artifacts_dir), step)
        largest = max((n for n in run.sizes if n is not None), default=None)
        if run.algo == "ppo":
            cache = train_dir(run, artifacts_dir).parent / "pools"
            self.pools = [_ppo_pool(checkpoint, _pool_seed(step, i), largest, cache / f"step{step:09d}-{i}.npz")
                          for i in (0, 1)]
        else:
            whole = samples.row_pool(checkpoint, _pool_seed(step, 0))
            self.pools = [whole, whole]
        self.algo = run.algo
        # Rows are drawn in float32 (SB3's rollouts); the analysis runs in float64.
        checkpoint.model.policy.to(torch.float64)
        self.losses = agents.network_losses(checkpoint.model)

    def rows(self, n: int | None) -> int:
        return len(self.pools[0]) if n is None else int(n)

    def batches(self, network: str, n: int | None) -> tuple[dict, dict | None]:
        """The Hessian's N rows and the independent N rows (None where the pool has too few)."""
        n = self.rows(n)
        own = self.pools[0].take(0, n)[network]
        if self.algo == "ppo":
            return own, self.pools[1].take(0, n)[network]
        # SAC: disjoint rows of the same buffer
        return own, (self.pools[1].take(n, 2 * n)[network] if 2 * n <= len(self.pools[1]) else None)


def _ppo_pool(checkpoint, seed: int, n: int, path: Path) -> samples.RowPool:
    """A PPO row pool, cached on disk: 10^6 on-policy rows take minutes to collect."""
    if path.exists():
        with np.load(path) as stored:
            return samples.RowPool("ppo", {key: stored[key] for key in stored.files})
    pool = samples.row_pool(checkpoint, seed, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **pool.rows)
    tmp.replace(path)
    return pool


def _memory_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}: peak memory is measured on Linux only")


def _reset_peak_memory() -> None:
    """Set VmHWM to the current resident size (proc(5), clear_refs "5"), so the next peak is the solve's."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(loss, own: dict, independent: dict | None, *, k: int, tol: float) -> dict:
    """Top-k eigenpairs of ``loss``'s Hessian on the rows ``own``, and S_frac at each k level with the
    gradient of ``own`` ("same") and of ``independent`` ("independent", cross-fitted; skipped if None).

    loss: a ``gradsub.losses.NetworkLoss`` (``fn(theta, batch)``, ``theta`` [n]); products in float64.
    Returns the vectors [n, k], values [k], fractions {gradient sample: [S_frac per k level]}, the
    solver's cost and the process's peak resident memory during the solve.
    """
    n_params = int(loss.theta.numel())
    operator = HessianOperator(loss, own, chunk_size=CHUNK_SIZE, dtype=torch.float64)
    gc.collect()
    _reset_peak_memory()
    before = _memory_mib("VmRSS")
    pairs = top_eigenpairs(operator, min(k, n_params), method=DEFAULT_METHOD, tol=tol, seed=SEED)
    peak = _memory_mib("VmHWM")
    gradients = {"same": own, "independent": independent}
    fractions = {}
    for name, rows in gradients.items():
        if rows is None:
            continue
        g = gradient(loss, rows, chunk_size=CHUNK_SIZE, dtype=torch.float64).numpy()
        fractions[name] = [gradient_subspace_fraction(g, pairs.vectors[:, :level])
                           for level in _k_levels(k, n_params)]
    stats = pairs.stats
    return {"vectors": pairs.vectors, "values": pairs.values, "n_params": n_params, "fractions": fractions,
            "n_products": stats.n_products, "n_data_passes": stats.n_data_passes, "seconds": stats.seconds,
            "max_residual": float(np.max(stats.residuals)), "peak_mib": peak, "solve_mib": max(peak - before, 0.0),
            "machine": results.machine_description(), "git_commit": results.git_commit()}


def _solve(cell: Cell, data: _Checkpoint, k: int) -> dict:
    own, independent = data.batches(cell.network, cell.n_samples)
    out = measure(data.losses[cell.network], own, independent, k=k, tol=cell.tol)
    return {**out, "n_samples": data.rows(cell.n_samples)}


def _k_levels(k: int, n_params: int) -> list[int]:
    """The k levels of ``K_LEVELS`` below the solve's k, and k itself."""
    top = min(k, n_params)
    return [level for level in K_LEVELS if level < top] + [top]


def cell_path(run: ScaleRun, cell: Cell, artifacts_dir: str | Path) -> Path:
    return Path(artifacts_dir) / "scale" / run.key.run_id / "cells" / f"{cell.name}.pkl"


def _load_cells(run: ScaleRun, artifacts_dir: str | Path) -> dict[Cell, dict]:
    done = {}
    for cell in grid_cells(run):
        path = cell_path(run, cell, artifacts_dir)
        if path.exists():
            done[cell] = pickle.loads(path.read_bytes())
    return done


def sample_size_frame(run: ScaleRun, done: dict[Cell, dict]) -> pd.DataFrame:
    """The ``sample_size`` rows of every solved cell whose tol 1e-4 sibling is solved too. Subspaces are
    compared with the one at the largest N solved for their step and network (tol 1e-4): the grid's
    largest N once it is solved (``reference_n_samples`` says which)."""
    rows = []
    for cell, out in done.items():
        tight = done.get(Cell(cell.step, cell.network, cell.n_samples, REFERENCE_TOL))
        if tight is None:
            continue
        solved = [c for c in done if (c.step, c.network, c.tol) == (cell.step, cell.network, REFERENCE_TOL)]
        reference = done[max(solved, key=lambda c: done[c]["n_samples"])]
        for i, k in enumerate(_k_levels(run.k, out["n_params"])):
            overlaps = {"overlap_with_largest": subspace_overlap(out["vectors"][:, :k], reference["vectors"][:, :k]),
                        "overlap_with_tight_tol": subspace_overlap(out["vectors"][:, :k], tight["vectors"][:, :k])}
            for gradient_sample, values in out["fractions"].items():
                rows.append({
                    "task": run.task, "algo": run.algo, "seed": SEED, "profile": PROFILE, "step": cell.step,
                    "network": cell.network, "n_params": out["n_params"], "n_samples": out["n_samples"],
                    "tol": cell.tol, "k": k, "gradient_sample": gradient_sample, "s_frac": values[i],
                    "random_baseline": random_baseline(k, out["n_params"]), **overlaps,
                    "reference_n_samples": reference["n_samples"],
                    **{name: out[name] for name in ("n_products", "n_data_passes", "seconds", "peak_mib",
                                                     "solve_mib", "machine", "git_commit")},
                })
    columns = [c.name for c in results.SCHEMAS["sample_size"]]
    return pd.DataFrame(rows, columns=columns)


def params(run: ScaleRun) -> dict:
    """Everything that determines the run's numbers (the manifest's params)."""
    grid = {name: value for name, value in dataclasses.asdict(run).items() if name != "reason"}
    return {"grid": grid, "k_levels": list(K_LEVELS), "tolerances": list(TOLERANCES), "seed": SEED,
            "method": DEFAULT_METHOD, "chunk_size": CHUNK_SIZE,
            "training": {name: value for name, value in dataclasses.asdict(run.profile()).items()
                         if name not in ("notes", "n_precise", "n_random", "sac_minibatch_samples", "k",
                                         "chunk_size", "n_seeds")}}



def _write(run: ScaleRun, artifacts_dir: Path, data_dir: Path, started: float, commit: str) -> None:
    """The run's table and manifest row from every cell solved so far (read back from the cache, so that
    processes solving other cells of the same run side by side all land)."""
    frame = sample_size_frame(run, _load_cells(run, artifacts_dir))
    if frame.empty:
        return
    results.write_table(data_dir, "sample_size", run.key, frame)
    results.record_run(data_dir, run.key, params(run), wall_seconds=time.perf_counter() - started, status="ok",
                       finished_utc=_now(), commit=commit)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def run_grid(runs: Sequence[ScaleRun] = SCALE_RUNS, *, data_dir: str | Path = "data",
             artifacts_dir: str | Path = "artifacts", progress: bool | None = None,
             log=print, solve: bool = True, networks: Sequence[str] = NETWORKS) -> pd.DataFrame:
    """Train (or reuse) each run, solve every cell of its grid not solved yet, and rewrite its
    ``sample_size`` table and manifest row after each cell. ``solve=False`` only rewrites the tables
    and manifest rows from the cells solved so far; ``networks`` limits the cells solved (two processes
    may solve a run's actor and critic side by side). Returns every run's table."""
    data_dir, artifacts_dir = Path(data_dir), Path(artifacts_dir)
    frames = []
    for run in runs:
        started, commit = time.perf_counter(), results.git_commit()
        done = _load_cells(run, artifacts_dir)
        if not solve:
            _write(run, artifacts_dir, data_dir, started, commit)
            frames.append(sample_size_frame(run, done))
            continue
        train_run(run, artifacts_dir, progress=progress)
        loaded: dict[int, _Checkpoint] = {}
        for cell in grid_cells(run, networks):
            if cell in done:
                continue
            if cell.step not in loaded:
                loaded.clear()  # one checkpoint's pools in memory at a time
                loaded[cell.step] = _Checkpoint(run, cell.step, artifacts_dir)
            out = _solve(cell, loaded[cell.step], run.k)
            path = cell_path(run, cell, artifacts_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            results.atomic_write_bytes(path, pickle.dumps(out))
            done[cell] = out
            log(f"{run.name} {cell.name}: N={out['n_samples']} {out['n_products']} products "
                f"{out['seconds']:.0f} s peak {out['peak_mib']:.0f} MiB")
            _write(run, artifacts_dir, data_dir, started, commit)
        frames.append(sample_size_frame(run, _load_cells(run, artifacts_dir)))
    return pd.concat(frames, ignore_index=True)
