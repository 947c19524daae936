"""The paper's eigensolver against ours and two peer libraries, side by side in one run, on real
checkpoints.

Five methods find the top-k eigenpairs of one network's loss Hessian on a checkpoint's frozen
analysis data (the precise sample of the paper, Section 4, drawn exactly as the analysis draws it):

``paper``
    Appendix: ``gradsub.hessian.GraphHessianOperator`` (ONE autograd graph over all N rows, float32
    policy, double backward per vector) + ``gradsub.lanczos.top_eigenpairs(method="arpack")``
    (``eigsh`` which="LA", tol=1e-4, maxiter=500, ncv default).
``block cold``
    Ours: ``gradsub.hessian.HessianOperator`` (float64 policy, chunks of ``--chunk-size`` rows: memory
    flat in N) + ``top_eigenpairs(method="block")`` with its defaults (mixed precision "auto",
    block-diagonal detection "auto").
``block warm``
    The same, warm-started from the "block" eigenvectors of the PREVIOUS checkpoint of the same run,
    solved on that checkpoint's own data: the warm start ``gradsub.job`` passes in the analysis.
``curvlinops``
    A peer (the optional extra ``bench``): ``curvlinops.HessianLinearOperator`` over the same chunks of
    ``--chunk-size`` rows, in the policy's float32 like the paper, as a scipy operator
    (``.to_scipy()``) solved exactly as the paper's row (``top_eigenpairs(method="arpack")``, the
    paper's eigsh settings).
``hessian-eigenthings``
    A peer (``bench``): ``hessian_eigenthings.HessianOperator`` over the same chunks, float32, and its
    top-k method ``hessian_eigenthings.lanczos`` (which="LA", tol=1e-4, full reorthogonalisation) at
    the fewest Lanczos steps, doubled from its default 2k, whose Ritz pairs all meet tol by the
    library's own residual estimate (``lanczos_steps``; the shorter runs before it are not in
    ``seconds`` but in ``tuning_products`` and the sidecar's ``tuning_seconds``).

How our losses are wrapped for the peers (``benchmarks/peers.py``): a ``torch.nn.Module`` whose only
parameter is the flat theta and whose forward pass on a chunk of rows is the chunk's mean loss
(``loss.fn(theta, chunk)``); curvlinops gets the chunks as mini-batches ``(chunk, dummy labels)`` with
a pass-through loss function of reduction "mean" (it weighs each chunk by rows / N), and
hessian-eigenthings a loss function that scales each chunk's mean by rows * n_chunks / N (it
averages the chunks with equal weights). ``tests/test_peers.py`` checks both against the dense
float64 Hessian. Without the extra the peers are left out (and the run says so).

The operator race (in the curvlinops worker, after its measurement): our ``HessianOperator``,
curvlinops' and hessian-eigenthings' operators multiply the same random vectors, interleaved, in
float32 and in float64 (``RACE_VECTORS`` single vectors each, median time kept; ours and curvlinops'
also one block of ``RACE_BLOCK`` vectors in one call). ``matvec_ratio_<dtype>`` /
``block_ratio_<dtype>``: the peer's seconds per product over ours, for single vectors and for a block
(hessian-eigenthings has no block product: its block costs one call per vector, so its block ratio is
its single-vector time over our per-product time in a block); the race's raw times and the products'
largest relative difference are in the sidecar (``race_float32``, ``race_float64``).

Each (network, N, method) runs in a fresh interpreter (``--worker``) that loads the checkpoint,
collects the data, then times the solve and reports its own peak memory; the warm start's vectors
come from the same computation at the previous checkpoint, run in the parent process (not a
measurement; its numbers are kept in the sidecar JSON).

What is measured, per method:

- ``seconds``: wall time of building the operator plus the solve (``SolverStats.seconds``), NOT the
  sample collection and NOT the residual check after the solve (``seconds_with_check`` includes it).
  The paper's operator build is its forward pass and first backward pass over all N rows.
- ``n_products`` / ``n_data_passes``: the solver's operator products and calls (``SolverStats``); a
  call of ``GraphHessianOperator`` is one vector and reads no data, but counts as a pass.
- ``peak_mib``: the worker's peak resident memory read right after the solve (whole process:
  interpreter, torch, checkpoint, data), from /proc/self/status VmHWM: on Linux
  ``getrusage(RUSAGE_SELF).ru_maxrss`` starts at the spawning parent's peak (kept in the sidecar as
  ``ru_maxrss_kib``); ``before_mib`` is the same read after the data were collected, so
  ``peak_mib - before_mib`` is what the operator and the solve added.
- ``max_residual``: the largest relative residual of ``SolverStats.residuals`` (computed in the
  operator's dtype: float32 for the paper); ``max_residual_float64``: the same residuals recomputed
  with float64 products (for the paper and the peers one more block of k float64 products of our
  operator after the timing; for "block" they already are float64).
- Accuracy against the paper (float64 numpy in this process, ``gradsub.metrics``): ``max_dfrac`` =
  max over k levels (1, 2, 5, 10, 20, 50, 100 up to k) of |S_frac - S_frac(paper)|, the gradient
  being the float64 gradient of the loss on the same data (``gradsub.hessian.gradient``);
  ``overlap_at_gap`` = S_overlap with the paper's top-k' subspace, k' = ``k_gap``, the largest
  k' < k whose relative gap (lambda_k' - lambda_k'+1) / |lambda_k'| in the paper's spectrum exceeds
  1e-3 (within a near-degenerate cluster the individual vectors are not determined, only the
  cluster's span); ``max_rel_eig_error`` = max_i |lambda_i - lambda_i(paper)| / |lambda_i(paper)|.
- ``gradient_mismatch``: ||g_method - g_paper|| / ||g_paper|| of the float64 gradients the workers
  computed: 0 when every worker drew the same data (they must).
- ``seconds_ratio``, ``products_ratio``, ``passes_ratio``, ``peak_ratio``: the method's number divided
  by the paper's (time, products, passes, peak memory).
- For the float32 methods (the paper and the peers) ``max_residual`` is in float32 (the peers': their
  own residual check, ARPACK's by ``top_eigenpairs``, hessian-eigenthings' by its estimate).

Checkpoints (training seed 0, resumed or reused from ``--artifacts``, default ``artifacts/bench``,
git-ignored): the paper's hyperparameters (SAC with train_freq 8, see ``FULL_OVERRIDES``; the
sidecar records each run's ``run.json``), trained to 100,000 steps with checkpoints at 0, the warm
start's step (PPO 50,000, SAC 80,000) and 100,000; the analysed checkpoint is the last. The SAC
precise data is the replay buffer (at most N rows, a uniform subsample if it holds more): at
100,000 steps it holds 99,999 transitions, at 80,000 (the warm start's data) 79,999 (stable-baselines3
calls the checkpoint callback before it stores the step's own transition). ``--quick``:
Pendulum, the ``smoke`` profile (its shrunken hyperparameters) trained to 512 steps, N = 256, k = 5.

Usage (``make bench`` installs the peers' extra, then runs the full configuration):

    python benchmarks/eigensolver.py                    # the full configuration
    python benchmarks/eigensolver.py --networks ppo-actor --n 10000
    python benchmarks/eigensolver.py --quick --out /tmp/bench.csv

Defaults: PPO actor on Walker2D (5,708 parameters) and SAC critic on HalfCheetah (both Q-nets,
144,386 parameters), N in {10^4, 10^5}, k = 100. Writes ``data/benchmarks/eigensolver.csv`` (atomic)
and beside it ``eigensolver.json`` (machine, torch, git commit, command line, every worker's raw
report). A run replaces the rows of the configurations (task, network, N, k) it measured and keeps the
others, so the configurations may be measured one command at a time (the sidecar's ``earlier`` lists the
earlier commands; every row carries its own machine, torch and commit). Run one benchmark at a time on an otherwise idle machine: the ratios
compare wall times.

Cost (the 2-core CPU machine, one thread per process, measured while two sweep jobs shared the
cores; an idle machine is faster): PPO actor, Walker2D, N = 10^4, k = 100: the whole
command 2.5 min (per worker 11 s to collect the sample, 13-20 s to solve, 2-7 s to check the residuals);
SAC critic, HalfCheetah, N = 2,048, k = 100: 3.5 min (solves 24-27 s; the residual check that
``top_eigenpairs`` makes after the solve, k products in the operator's dtype, took 8 s for the paper's
float32 graph and 18-20 s for our float64 chunks). Per product the cost grows about linearly in N, so
the full configuration takes about 1.5-2 h. On the idle machine: ``--networks ppo-actor --n 100000``
12 min (737 s), ``--networks sac-critic --n 100000`` 70 min (4,184 s: the warm start's vectors 12 min,
then the three workers; each method spends k = 100 float64 products on its float64 residual check).
Training the two runs from scratch adds about 4 min (PPO) and 10 min (SAC) (``artifacts/bench`` keeps
them). The two peers make a configuration take two to three times as long (curvlinops' dearer products,
hessian-eigenthings' unconverged shorter Lanczos runs, and a float64 residual check for each); the
commits of ``data/benchmarks/eigensolver.csv`` give each command's time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS = ("block cold", "block warm")
PEERS = ("curvlinops", "hessian-eigenthings")  # benchmarks/peers.py; the optional extra "bench"
METHODS = ("paper", *OURS, *PEERS)
# The operator race (module docstring): single vectors per operator, and one block's width.
RACE_VECTORS, RACE_BLOCK = 4, 8
NETWORKS = ("ppo-actor", "ppo-critic", "sac-actor", "sac-critic")
RESULT_PREFIX = "BENCHMARK-RESULT "
GAP = 1e-3  # relative eigenvalue gap that separates the compared subspaces (module docstring)
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MUJOCO_GL": "disable"}


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """Where one algorithm's checkpoints come from.

    task: task name (``gradsub.tasks``). algo: "ppo" or "sac". profile: the profile whose training
    settings are used (``smoke``: one evaluation, one episode). total_steps: the analysed checkpoint.
    previous_step: the checkpoint the warm start's vectors are computed at.
    algo_overrides: hyperparameters replaced; () keeps the paper's, None keeps the profile's own
    (the smoke profile's shrunken n_steps / learning_starts, for --quick).
    """

    task: str
    algo: str
    profile: str
    total_steps: int
    previous_step: int
    algo_overrides: tuple | None = ()

    def profile_settings(self):
        """The training profile (its sample sizes are not used: workers pass N themselves)."""
        from gradsub import profiles

        steps = (0, self.previous_step, self.total_steps) if self.previous_step else (0, self.total_steps)
        overrides = dict(total_steps=self.total_steps, checkpoint_steps=steps)
        if self.algo_overrides is not None:
            overrides["algo_overrides"] = self.algo_overrides
        return profiles.get_profile(self.task, self.algo, self.profile, **overrides)

    def run_dir(self, artifacts: Path, quick: bool) -> Path:
        return artifacts / f"{'quick-' if quick else ''}{self.algo}-{self.task}"


FULL_TASKS = {"ppo": "Walker2D", "sac": "HalfCheetah"}
FULL_PREVIOUS = {"ppo": 50_000, "sac": 80_000}
# SAC trains with train_freq 8 (one gradient step per 8 env steps instead of the paper's 1): 100k
# steps in about 10 min instead of 25. The benchmark needs a trained critic, not the paper's exact one.
FULL_OVERRIDES = {"ppo": (), "sac": (("train_freq", 8),)}
FULL = dict(n=(10_000, 100_000), k=100, networks=("ppo-actor", "sac-critic"))
QUICK = dict(n=(256,), k=5, networks=("ppo-actor", "sac-critic"), task="Pendulum")


def run_setup(algo: str, task: str | None, quick: bool) -> RunSetup:
    if quick:
        return RunSetup(task or QUICK["task"], algo, "smoke", 512, 256, None)
    return RunSetup(task or FULL_TASKS[algo], algo, "smoke", 100_000, FULL_PREVIOUS[algo], FULL_OVERRIDES[algo])


# --- the worker: one measurement in its own interpreter --------------------------------------------


def _peak_rss_kib() -> int:
    """This process's peak resident memory in KiB: VmHWM of /proc/self/status where there is one.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss`` alone: on Linux a child starts with its PARENT's peak
    there (fork copies the memory map's high-water mark and exec keeps the larger), so a worker
    spawned by a parent that holds 800 MB reports at least 800 MB. VmHWM belongs to the memory map
    that exec made, so it is the worker's own. Elsewhere, ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return _ru_maxrss_kib()


def _ru_maxrss_kib() -> int:
    scale = 1024 if sys.platform == "darwin" else 1  # bytes on macOS, KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) // scale


def worker(spec: dict) -> dict:
    """Load the checkpoint, collect its precise sample, time one solve; write vectors and gradient.

    spec: run_dir, step, algo, network, n, k, method, seed, chunk_size, out (folder for .npy files),
    warm (path of the warm start's vectors or None), tag (file name stem).
    """
    import torch

    torch.set_num_threads(1)
    from gradsub import agents, hessian, lanczos, samples
    from gradsub.job import _sample_seed  # the analysis's data seed of a checkpoint

    method = spec["method"]
    float32 = method not in OURS  # the paper and the peers run in the policy's own float32
    if method in PEERS:
        import peers  # benchmarks/peers.py, beside this script
    t0 = time.perf_counter()
    checkpoint = agents.load_checkpoint(spec["run_dir"], spec["step"])
    batch = samples.precise_batch(checkpoint, _sample_seed(spec["seed"], spec["step"]), spec["n"],
                                  n_random=spec["n"])[spec["network"]]
    n_rows = hessian.batch_rows(batch)
    sample_seconds = time.perf_counter() - t0
    if not float32:  # ours runs in float64 (its float32 twin is made by the solver)
        checkpoint.model.policy.to(torch.float64)
    loss = agents.network_losses(checkpoint.model)[spec["network"]]
    warm = np.load(spec["warm"]) if spec.get("warm") else None
    k = min(spec["k"], int(loss.theta.numel()) - 1)
    chunk = spec["chunk_size"]
    before = _peak_rss_kib()

    start = time.perf_counter()
    if method == "paper":
        operator = hessian.GraphHessianOperator(loss, batch, dtype=torch.float32)
    elif method == "curvlinops":
        operator = peers.curvlinops_operator(loss, batch, chunk_size=chunk, dtype=torch.float32)
    elif method == "hessian-eigenthings":
        operator = peers.eigenthings_operator(loss, batch, chunk_size=chunk, dtype=torch.float32)
    else:
        operator = hessian.HessianOperator(loss, batch, chunk_size=chunk)
    built = time.perf_counter()
    extra = {}
    if method == "hessian-eigenthings":
        found = peers.eigenthings_top_eigenpairs(operator, k, tol=1e-4, seed=spec["seed"])
        values, vectors = found.values, found.vectors
        wall = time.perf_counter() - start
        stats = dict(seconds=found.seconds, operator_seconds=found.operator_seconds,
                     n_products=found.n_products, n_data_passes=found.n_data_passes, check_products=0,
                     n_products_float32=found.n_products, probe_products=0, n_blocks=1, warm_mode="",
                     converged=found.converged, residuals=found.residuals)
        extra = {"lanczos_steps": found.max_iter, "tuning_products": found.tuning_products,
                 "tuning_seconds": found.tuning_seconds}
    else:
        if method in ("paper", "curvlinops"):
            pairs = lanczos.top_eigenpairs(operator, k, method="arpack", tol=1e-4, maxiter=500,
                                           seed=spec["seed"])
        else:
            pairs = lanczos.top_eigenpairs(operator, k, method="block", seed=spec["seed"], warm_start=warm)
        wall = time.perf_counter() - start
        values, vectors = pairs.values, pairs.vectors
        stats = {key: getattr(pairs.stats, key) for key in (
            "seconds", "operator_seconds", "n_products", "n_data_passes", "check_products",
            "n_products_float32", "probe_products", "n_blocks", "warm_mode", "converged", "residuals")}
    peak, ru_maxrss = _peak_rss_kib(), _ru_maxrss_kib()

    def race(dtype):  # operators side by side on the same vectors (after the measurement)
        ops = {"ours": hessian.HessianOperator(loss, batch, chunk_size=chunk, dtype=dtype),
               "curvlinops": peers.curvlinops_operator(loss, batch, chunk_size=chunk, dtype=dtype),
               "hessian-eigenthings": peers.EigenthingsScipyView(
                   peers.eigenthings_operator(loss, batch, chunk_size=chunk, dtype=dtype))}
        return peers.operator_race(ops, int(loss.theta.numel()), np.dtype(str(dtype).split(".")[-1]),
                                   vectors=RACE_VECTORS, block=RACE_BLOCK, seed=spec["seed"])

    if method == "curvlinops":
        extra["race_float32"] = race(torch.float32)
    del operator

    # After the measurement: the float64 gradient (and, for float32 methods, float64 residuals).
    if float32:
        checkpoint.model.policy.to(torch.float64)
        loss = agents.network_losses(checkpoint.model)[spec["network"]]
    if method == "curvlinops":
        extra["race_float64"] = race(torch.float64)
    grad = hessian.gradient(loss, batch, chunk_size=chunk).double().numpy()
    if float32:
        check = hessian.HessianOperator(loss, batch, chunk_size=chunk)
        HV = check.matmat(vectors)
        floor = np.finfo(np.float64).eps ** (2 / 3) * np.max(np.abs(values))
        residual64 = np.linalg.norm(HV - vectors * values, axis=0) / np.maximum(np.abs(values), floor)
    else:
        residual64 = stats["residuals"]
    out = Path(spec["out"])
    np.save(out / f"{spec['tag']}-vectors.npy", vectors)
    np.save(out / f"{spec['tag']}-gradient.npy", grad)
    return {
        "n_samples": n_rows, "n_params": int(loss.theta.numel()), "k": k,
        "sample_seconds": sample_seconds, "build_seconds": built - start,
        "seconds": built - start + stats["seconds"], "seconds_with_check": wall,
        "operator_seconds": stats["operator_seconds"],
        "n_products": stats["n_products"], "n_data_passes": stats["n_data_passes"],
        "check_products": stats["check_products"], "n_products_float32": stats["n_products_float32"],
        "probe_products": stats["probe_products"], "n_blocks": stats["n_blocks"],
        "warm_mode": stats["warm_mode"], "converged": bool(stats["converged"]),
        "max_residual": float(np.max(stats["residuals"])),
        "max_residual_float64": float(np.max(residual64)),
        "before_kib": before, "peak_kib": peak, "ru_maxrss_kib": ru_maxrss,
        "values": [float(v) for v in values], **extra,
    }


# --- the parent: checkpoints, workers, comparison -------------------------------------------------


def ensure_checkpoints(setup: RunSetup, run_dir: Path) -> None:
    """Train (or resume, or reuse) the run in the parent: workers only read its checkpoints."""
    from gradsub import agents

    profile = setup.profile_settings()
    agents.train(setup.task, setup.algo, profile, 0, run_dir, progress=None)


def run_worker(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter; its report, or {"error": ...} if it failed."""
    env = {**os.environ, **ONE_THREAD}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"error": f"worker exited {done.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def top_gap(values: np.ndarray, gap: float = GAP) -> int:
    """Largest k' < len(values) with (values[k'-1] - values[k']) / |values[k'-1]| > gap; 0 if none."""
    for kk in range(len(values) - 1, 0, -1):
        if values[kk - 1] - values[kk] > gap * abs(values[kk - 1]):
            return kk
    return 0


def compare(reports: dict[str, dict], folder: Path, tags: dict[str, str]) -> dict[str, dict]:
    """Accuracy and ratios of every method against the paper's (module docstring)."""
    from gradsub.analysis import K_LEVELS
    from gradsub.metrics import gradient_subspace_fraction, subspace_overlap

    paper = reports.get("paper", {})
    out: dict[str, dict] = {}
    if "error" in paper or not paper:
        return {m: {} for m in reports}
    V0 = np.load(folder / f"{tags['paper']}-vectors.npy")
    g = np.load(folder / f"{tags['paper']}-gradient.npy")
    values0 = np.asarray(paper["values"])
    k = len(values0)
    levels = [level for level in K_LEVELS if level <= k]
    k_gap = top_gap(values0)
    frac0 = {level: gradient_subspace_fraction(g, V0[:, :level]) for level in levels}
    for method, report in reports.items():
        if "error" in report:
            out[method] = {}
            continue
        V = np.load(folder / f"{tags[method]}-vectors.npy")
        g_m = np.load(folder / f"{tags[method]}-gradient.npy")
        values = np.asarray(report["values"])
        row = {
            "max_dfrac": max(abs(gradient_subspace_fraction(g, V[:, :level]) - frac0[level])
                             for level in levels),
            "frac_at_k": gradient_subspace_fraction(g, V),
            "k_gap": k_gap,
            "overlap_at_gap": subspace_overlap(V0[:, :k_gap], V[:, :k_gap]) if k_gap else math.nan,
            "max_rel_eig_error": float(np.max(np.abs(values - values0) / np.abs(values0))),
            # the same data in every worker: the float64 gradients must agree
            "gradient_mismatch": float(np.linalg.norm(g_m - g) / np.linalg.norm(g)),
        }
        for name, key in (("seconds", "seconds"), ("products", "n_products"), ("passes", "n_data_passes"),
                          ("peak", "peak_kib")):
            row[f"{name}_ratio"] = report[key] / paper[key]
        out[method] = row
    return out


COLUMNS = ["task", "algo", "network", "step", "warm_from", "n_requested", "n_samples", "n_params", "k", "method",
           "status", "seconds", "seconds_ratio", "n_products", "products_ratio", "n_data_passes", "passes_ratio",
           "peak_mib", "peak_ratio", "before_mib", "max_residual", "max_residual_float64", "max_dfrac",
           "frac_at_k", "k_gap", "overlap_at_gap", "max_rel_eig_error", "gradient_mismatch", "warm_mode",
           "n_products_float32", "n_blocks", "sample_seconds", "seconds_with_check", "lanczos_steps",
           "tuning_products", "matvec_ratio_float32", "block_ratio_float32", "matvec_ratio_float64",
           "block_ratio_float64", "machine", "torch", "git_commit"]


def available_methods() -> tuple[str, ...]:
    """METHODS, less the peers when the optional extra ``bench`` is not installed."""
    import importlib.util

    missing = [name for name in ("curvlinops", "hessian_eigenthings") if importlib.util.find_spec(name) is None]
    return tuple(m for m in METHODS if m not in PEERS) if missing else METHODS


def race_ratios(reports: dict[str, dict]) -> dict[str, dict]:
    """Per peer: its seconds per product over ours (``HessianOperator``) in the operator race, which
    the curvlinops worker runs for all three operators side by side (module docstring)."""
    out: dict[str, dict] = {}
    for dtype in ("float32", "float64"):
        race = reports.get("curvlinops", {}).get(f"race_{dtype}")
        if not race:
            continue
        ours = race["ours"]
        for peer in PEERS:
            row = out.setdefault(peer, {})
            row[f"matvec_ratio_{dtype}"] = race[peer]["matvec_seconds"] / ours["matvec_seconds"]
            # A peer without a block product multiplies a block one vector per call (and data pass).
            seconds = race[peer].get("block_seconds_per_product", race[peer]["matvec_seconds"])
            row[f"block_ratio_{dtype}"] = seconds / ours["block_seconds_per_product"]
    return out


def benchmark(networks, ns, k, *, task=None, quick=False, artifacts=ROOT / "artifacts" / "bench",
              chunk_size=4096, seed=0, log=print):
    """Run every (network, N, method); returns (rows for the CSV, {"runs", "workers"} for the sidecar)."""
    import torch

    from gradsub import results

    machine, commit = results.machine_description(), results.git_commit()
    methods = available_methods()
    if methods != METHODS:
        log("the peers (curvlinops, hessian-eigenthings) are left out: install the extra "
            "(pip install -e '.[bench]', or make bench)")
    rows, raw, runs = [], [], []
    for name in networks:
        algo, network = name.split("-")
        setup = run_setup(algo, task, quick)
        run_dir = setup.run_dir(Path(artifacts), quick)
        log(f"{name}: checkpoints of {setup.task} {algo} in {run_dir} (training if missing)")
        ensure_checkpoints(setup, run_dir)
        runs.append({"network": name, "run_dir": str(run_dir),
                     "run": json.loads((run_dir / "run.json").read_text())})
        for n in ns:
            with tempfile.TemporaryDirectory(prefix="eigensolver-bench-") as tmp:
                base = dict(run_dir=str(run_dir), algo=algo, network=network, n=int(n), k=int(k), seed=seed,
                            chunk_size=chunk_size, out=tmp, warm=None)
                tags = {m: m.replace(" ", "-") for m in methods}
                # The warm start's vectors, in this process (not a measurement; saves an interpreter).
                try:
                    prep = worker({**base, "step": setup.previous_step, "method": "block cold",
                                   "tag": "previous"})
                except Exception as err:  # reported in the table as a failed warm start
                    prep = {"error": f"{type(err).__name__}: {err}"}
                raw.append({"network": name, "n": n, "method": "block cold (warm start's vectors)",
                            "step": setup.previous_step, **prep})
                if "error" in prep:
                    log(f"  N={n}: warm start's solve at step {setup.previous_step} failed: {prep['error']}")
                reports = {}
                for method in methods:
                    warm = str(Path(tmp) / "previous-vectors.npy") if method == "block warm" else None
                    if method == "block warm" and "error" in prep:
                        reports[method] = {"error": "no warm start (its solve failed)"}
                        continue
                    reports[method] = run_worker({**base, "step": setup.total_steps, "method": method,
                                                  "warm": warm, "tag": tags[method]})
                    r = reports[method]
                    log(f"  N={n} {method}: " + (r["error"] if "error" in r else
                        f"{r['seconds']:.1f} s, {r['n_products']} products, {r['n_data_passes']} passes, "
                        f"peak {r['peak_kib'] / 1024:.0f} MiB, residual {r['max_residual_float64']:.1e}"))
                    raw.append({"network": name, "n": n, "method": method, "step": setup.total_steps, **r})
                accuracy = compare(reports, Path(tmp), tags)
                races = race_ratios(reports)
            for method, r in reports.items():
                row = {"task": setup.task, "algo": algo, "network": network, "step": setup.total_steps,
                       "warm_from": setup.previous_step if method == "block warm" else -1, "n_requested": n,
                       "method": method, "status": "ok" if "error" not in r else "failed",
                       "machine": machine, "torch": torch.__version__, "git_commit": commit}
                if "error" not in r:
                    row.update({key: r[key] for key in ("n_samples", "n_params", "k", "seconds", "n_products",
                                                       "n_data_passes", "max_residual", "max_residual_float64",
                                                       "warm_mode", "n_products_float32", "n_blocks",
                                                       "sample_seconds", "seconds_with_check")})
                    row.update({key: r[key] for key in ("lanczos_steps", "tuning_products") if key in r})
                    row.update(races.get(method, {}))
                    row.update(peak_mib=r["peak_kib"] / 1024, before_mib=r["before_kib"] / 1024)
                    row.update(accuracy.get(method, {}))
                else:
                    row.update(n_samples=n, k=k)
                rows.append(row)
    return rows, {"runs": runs, "workers": raw}


# A row's configuration: a new run replaces the rows (and the sidecar's reports) of the same one. It
# names the N asked for: the rows a solve gets can fall short of it (a SAC buffer checkpointed at step
# 100,000 holds 99,999 transitions).
CONFIG = ["task", "algo", "network", "n_requested", "k"]


def _requested(frame):
    """``n_requested``, filled for rows written before the column existed: every N the benchmark was
    asked for then was a power of ten (the sidecar's commands), the one ``sample_decade`` names."""
    from gradsub.report.performance import sample_decade

    fallback = frame["n_samples"].map(lambda n: 10 ** sample_decade(n))
    return frame.assign(n_requested=frame["n_requested"].fillna(fallback).astype("int64"))


def write_outputs(rows, raw, out: Path, argv) -> None:
    """Write the table and its sidecar; configurations already in ``out`` and not run again are kept,
    with their workers' reports; the earlier commands go into the sidecar's ``earlier``."""
    import pandas as pd

    from gradsub import results

    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    earlier = []
    if out.exists():
        previous = _requested(pd.read_csv(out).reindex(columns=COLUMNS))
        rerun = previous[CONFIG].apply(tuple, axis=1).isin(set(frame[CONFIG].apply(tuple, axis=1)))
        kept = previous[~rerun]
        if not kept.empty:
            sidecar = json.loads(out.with_suffix(".json").read_text())
            pairs = set(zip(kept["algo"] + "-" + kept["network"], kept["n_requested"]))
            raw = {"runs": raw["runs"] + [r for r in sidecar.get("runs", [])
                                          if r["network"] not in {x["network"] for x in raw["runs"]}],
                   "workers": raw["workers"] + [w for w in sidecar.get("workers", [])
                                                if (w["network"], w["n"]) in pairs]}
            earlier = sidecar.get("earlier", []) + [{key: sidecar[key] for key in ("command", "git_commit",
                                                                                    "finished_utc")}]
            order = {m: i for i, m in enumerate(METHODS)}
            frame = (pd.concat([kept, frame], ignore_index=True)
                     .sort_values(["algo", "network", "n_requested", "method"], kind="stable",
                                  key=lambda c: c.map(order) if c.name == "method" else c)
                     .reset_index(drop=True))
    results.write_benchmark(out, frame, list(argv), **raw, earlier=earlier)


def summary(rows) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    shown = ["network", "n_samples", "k", "method", "seconds", "seconds_ratio", "products_ratio", "passes_ratio",
             "peak_mib", "peak_ratio", "max_residual_float64", "max_dfrac", "k_gap", "overlap_at_gap",
             "matvec_ratio_float32", "matvec_ratio_float64", "block_ratio_float64"]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        return frame[shown].to_string(index=False, float_format=lambda v: f"{v:.3g}")


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (N, k and the chunk size; 0 would fail every worker or, for k,
    silently fall back to the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (>= 1), got {value}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", help="one task for every network (default: PPO Walker2D, SAC HalfCheetah; "
                                       "--quick: Pendulum)")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, help="default: ppo-actor sac-critic")
    parser.add_argument("--n", nargs="+", type=_positive_int, help="precise sample sizes N (default: 10000 100000; "
                                                         "--quick: 256)")
    parser.add_argument("--k", type=_positive_int, help="eigenpairs (default 100; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="tiny configuration for a test (Pendulum, "
                                                             "smoke checkpoints, N = 256, k = 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks" / "eigensolver.csv",
                        help="CSV to write (a .json sidecar beside it)")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts" / "bench",
                        help="folder of the checkpoints (trained if missing)")
    parser.add_argument("--chunk-size", type=_positive_int, default=4096, help="rows per chunk of our operator")
    parser.add_argument("--seed", type=int, default=0, help="solver and data seed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    for name, value in ONE_THREAD.items():
        os.environ.setdefault(name, value)
    if args.worker:
        report = worker(json.loads(args.worker))
        print(RESULT_PREFIX + json.dumps(report), flush=True)
        return 0
    import torch

    torch.set_num_threads(1)
    defaults = QUICK if args.quick else FULL
    networks = args.networks or defaults["networks"]
    ns = args.n or defaults["n"]
    k = defaults["k"] if args.k is None else args.k
    started = time.perf_counter()
    rows, raw = benchmark(networks, ns, k, task=args.task, quick=args.quick, artifacts=args.artifacts,
                          chunk_size=args.chunk_size, seed=args.seed, log=lambda s: print(s, flush=True))
    write_outputs(rows, raw, args.out, [str(Path(__file__).relative_to(ROOT))] + list(argv))
    print(summary(rows))
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name} ({time.perf_counter() - started:.0f} s)")
    failed = [f"{r['network']} N={r['n_samples']} {r['method']}" for r in rows if r["status"] != "ok"]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
