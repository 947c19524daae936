"""Result tables: schemas, validation, atomic writes, reading, and the provenance manifest.

Every table is tidy long-format CSV, one file per (table, run) under ``<data_dir>/results/<table>/``,
with a fixed column order, a fixed float format and sorted rows, so the same job with the same seed
on the same machine writes byte-identical files. Wall-clock seconds are the one thing that never
repeats: they live in the ``timings`` table and the manifest, nowhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from gradsub import NETWORKS, profiles, tasks

__all__ = [
    "RUN_COLUMNS",
    "SCALE_PROFILE",
    "SCHEMAS",
    "MANIFEST_COLUMNS",
    "Column",
    "JOB_TABLES",
    "KEYS",
    "RunKey",
    "atomic_write_bytes",
    "atomic_write_text",
    "data_readme",
    "git_commit",
    "machine_description",
    "params_hash",
    "read_manifest",
    "read_table",
    "record_run",
    "table_path",
    "validate",
    "write_table",
]

FLOAT_FORMAT = "%.9g"  # 9 significant digits round-trip any float32 (the analysis precision) exactly


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "str", "int", "float", "bool"
    doc: str
    allowed: tuple | None = None  # allowed values for categorical columns
    lower: float | None = None  # inclusive numeric bounds
    upper: float | None = None


@dataclasses.dataclass(frozen=True)
class RunKey:
    """Identity of one job: a (task, algo, seed, profile) combination."""

    task: str
    algo: str
    seed: int
    profile: str

    @property
    def run_id(self) -> str:
        return f"{self.task}_{self.algo}_{self.profile}_seed{self.seed}"


_NETWORK = Column("network", "str", f"which network's loss: {' or '.join(NETWORKS)}", NETWORKS)
_ESTIMATE = ("precise", "minibatch")
_STEP = Column("step", "int", "environment steps of training at the checkpoint", lower=0)
_K = Column("k", "int", "subspace dimension (number of top eigenvectors)", lower=1)
_BASELINE = Column(
    "random_baseline", "float", "expected value for a random k-dim subspace: k / n_params", lower=0, upper=1
)
_N_PARAMS = Column("n_params", "int", "number of parameters of the network", lower=1)

# The profile column's value for the scale-validation grid (gradsub.scale), beside the scale profiles.
SCALE_PROFILE = "scale"

RUN_COLUMNS: tuple[Column, ...] = (
    Column("task", "str", "task name as in the paper (gradsub.tasks)"),
    Column("algo", "str", " or ".join(tasks.ALGOS), tasks.ALGOS),
    Column("seed", "int", "training seed", lower=0),
    Column("profile", "str", "scale profile (gradsub.tasks); scale: the scale-validation grid (gradsub.scale)",
           profiles.PROFILES + (SCALE_PROFILE,)),
)

SCHEMAS: dict[str, tuple[Column, ...]] = {
    "learning_curve": RUN_COLUMNS
    + (
        Column(
            "kind",
            "str",
            "train: return of a training episode (stochastic policy), recorded at the step it "
            "ended; eval: mean return of deterministic evaluation episodes",
            ("train", "eval"),
        ),
        Column("step", "int", "environment steps when the episode ended or the evaluation ran", lower=0),
        Column("episode_return", "float", "undiscounted episode return (raw reward, not normalised)"),
    ),
    "eigenvalues": RUN_COLUMNS
    + (
        _STEP,
        _NETWORK,
        Column("hessian", "str", "data the Hessian is estimated on", _ESTIMATE),
        Column("rank", "int", "1 = largest algebraic eigenvalue", lower=1),
        Column("eigenvalue", "float", "Hessian eigenvalue of the network's loss"),
    ),
    "gradient_subspace_fraction": RUN_COLUMNS
    + (
        _STEP,
        _NETWORK,
        _K,
        Column("gradient", "str", "data the gradient is estimated on: precise (the precise Hessian's own rows), "
                                  "independent (N other rows: cross-fitted, with the precise Hessian only), "
                                  "minibatch", _ESTIMATE + ("independent",)),
        Column("hessian", "str", "data the Hessian eigenvectors come from", _ESTIMATE),
        Column(
            "value",
            "float",
            "S_frac = ||V_k^T g||^2 / ||g||^2 (mean over mini-batches for mini-batch gradients)",
            lower=0,
            upper=1,
        ),
        _BASELINE,
        _N_PARAMS,
    ),
    "subspace_overlap": RUN_COLUMNS
    + (
        _NETWORK,
        _K,
        Column("t1", "int", "earlier checkpoint step", lower=0),
        Column("t2", "int", "later checkpoint step (t2 >= t1)", lower=0),
        Column("value", "float", "S_overlap = ||V_k(t1)^T V_k(t2)||_F^2 / k (precise Hessians)",
               lower=0, upper=1),
        _BASELINE,
        _N_PARAMS,
    ),
    "spectrum": RUN_COLUMNS
    + (
        _STEP,
        _NETWORK,
        Column("index", "int", "0 = largest algebraic eigenvalue", lower=0),
        Column("eigenvalue", "float", "eigenvalue of the dense precise Hessian"),
    ),
    "solver_stats": RUN_COLUMNS
    + (
        _STEP,
        _NETWORK,
        Column("hessian", "str", "data the Hessian is estimated on", _ESTIMATE),
        Column("method", "str", "eigensolver (gradsub.lanczos)"),
        _K,
        _N_PARAMS,
        Column("n_samples", "int", "rows of data the Hessian averages over", lower=1),
        Column("n_products", "int", "Hessian-vector products the solver used", lower=0),
        Column("n_data_passes", "int", "passes over the data (a block of products is one)", lower=0),
        Column("max_residual", "float", "max over pairs of ||Hv - lambda v|| / |lambda|", lower=0),
        Column("warm_start", "bool", "started from the previous checkpoint's eigenvectors"),
    ),
    "timings": RUN_COLUMNS
    + (
        Column("stage", "str", "what was timed (train: all sessions that trained the run; samples, "
                               "solve/<network>/<hessian>, spectrum/<network>: when the checkpoint was "
                               "analysed)"),
        Column("step", "int", "checkpoint step the stage belongs to (-1: whole run)", lower=-1),
        Column("seconds", "float", "wall-clock seconds (never byte-identical between runs)", lower=0),
    ),
    "sample_size": RUN_COLUMNS
    + (
        _STEP,
        _NETWORK,
        _N_PARAMS,
        Column("n_samples", "int", "rows N of the precise sample the Hessian is estimated on", lower=1),
        Column("tol", "float", "relative residual tolerance of the eigensolver (the paper: 1e-4)", lower=0),
        _K,
        Column("gradient_sample", "str", "same: the gradient of the Hessian's own N rows; independent: of "
                                         "N other rows (cross-fitted)", ("same", "independent")),
        Column("s_frac", "float", "S_frac = ||V_k^T g||^2 / ||g||^2 of the precise gradient", lower=0, upper=1),
        _BASELINE,
        Column("overlap_with_largest", "float", "S_overlap of the top-k subspace with the one at the largest N "
                                                "solved for the step and network (tol 1e-4)", lower=0, upper=1),
        Column("reference_n_samples", "int", "that largest N (the grid's largest once it is solved)", lower=1),
        Column("overlap_with_tight_tol", "float", "S_overlap of the top-k subspace with the one at the same N "
                                                  "and tol 1e-4", lower=0, upper=1),
        Column("n_products", "int", "Hessian-vector products of the solve", lower=0),
        Column("n_data_passes", "int", "passes over the N rows (a block of products is one)", lower=0),
        Column("seconds", "float", "wall-clock seconds of the solve (never byte-identical between runs)",
               lower=0),
        Column("peak_mib", "float", "peak resident memory of the process during the solve (data included)",
               lower=0),
        Column("solve_mib", "float", "what the solve added to the resident memory it started with", lower=0),
        Column("machine", "str", "platform, processor and core count of the solve"),
        Column("git_commit", "str", "commit of the code that solved this cell"),
    ),
}

# The tables one (task, algo, seed, profile) job writes (sample_size is the scale grid's, gradsub.scale).
JOB_TABLES = tuple(table for table in SCHEMAS if table != "sample_size")

_RUN_KEY = ("task", "algo", "seed", "profile")
# Columns that identify a row of each table: rows are sorted by them and must be unique.
KEYS: dict[str, tuple[str, ...]] = {
    "learning_curve": _RUN_KEY + ("kind", "step"),
    "eigenvalues": _RUN_KEY + ("step", "network", "hessian", "rank"),
    "gradient_subspace_fraction": _RUN_KEY + ("step", "network", "k", "gradient", "hessian"),
    "subspace_overlap": _RUN_KEY + ("network", "k", "t1", "t2"),
    "spectrum": _RUN_KEY + ("step", "network", "index"),
    "solver_stats": _RUN_KEY + ("step", "network", "hessian"),
    "timings": _RUN_KEY + ("stage", "step"),
    "sample_size": _RUN_KEY + ("step", "network", "n_samples", "tol", "k", "gradient_sample"),
}


def _schema(table: str) -> tuple[Column, ...]:
    if table not in SCHEMAS:
        raise ValueError(f"unknown table {table!r}; known tables: {', '.join(SCHEMAS)}")
    return SCHEMAS[table]


def validate(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against the table's schema; return it with canonical dtypes, order and sorting.

    Raises ValueError naming the table, the column and the offending values.
    """
    schema = _schema(table)
    names = [c.name for c in schema]
    missing = [n for n in names if n not in frame.columns]
    extra = [c for c in frame.columns if c not in names]
    if missing or extra:
        raise ValueError(f"table {table!r}: missing columns {missing}, unexpected columns {extra}")
    out = pd.DataFrame(index=range(len(frame)))
    for col in schema:
        series = frame[col.name].reset_index(drop=True)
        if series.isna().any():
            raise ValueError(f"table {table!r}: column {col.name!r} has {int(series.isna().sum())} missing values")
        try:
            if col.dtype == "str":
                series = series.astype(str)
            elif col.dtype == "int":
                as_float = series.astype(float)
                if not np.all(np.equal(np.mod(as_float, 1), 0)):
                    raise ValueError("non-integer values")
                series = as_float.astype(np.int64)
            elif col.dtype == "float":
                series = series.astype(np.float64)
                if not np.isfinite(series).all():
                    raise ValueError(f"non-finite values {series[~np.isfinite(series)].head(3).tolist()}")
            elif col.dtype == "bool":
                if series.dtype != bool:
                    series = series.astype(str).str.lower().map({"true": True, "false": False})
                    if series.isna().any():
                        raise ValueError("values other than True/False")
                series = series.astype(bool)
        except (TypeError, ValueError) as err:
            raise ValueError(f"table {table!r}: column {col.name!r} ({col.dtype}): {err}") from None
        if col.allowed is not None:
            bad = sorted(set(series) - set(col.allowed))
            if bad:
                raise ValueError(
                    f"table {table!r}: column {col.name!r} has values {bad[:5]}; allowed: {list(col.allowed)}"
                )
        # 1e-9 slack: fractions computed in float32 may exceed 1 by rounding.
        if col.lower is not None and (series < col.lower - 1e-9).any():
            raise ValueError(f"table {table!r}: column {col.name!r} below {col.lower}: {series[series < col.lower].head(3).tolist()}")
        if col.upper is not None and (series > col.upper + 1e-9).any():
            raise ValueError(f"table {table!r}: column {col.name!r} above {col.upper}: {series[series > col.upper].head(3).tolist()}")
        out[col.name] = series
    keys = list(KEYS[table])
    dup = out.duplicated(subset=keys)
    if dup.any():
        raise ValueError(f"table {table!r}: {int(dup.sum())} duplicate rows for key columns {keys}")
    return out.sort_values(keys, kind="mergesort").reset_index(drop=True)


def table_path(data_dir: str | os.PathLike, table: str, key: RunKey) -> Path:
    _schema(table)
    return Path(data_dir) / "results" / table / f"{key.run_id}.csv"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_table(data_dir: str | os.PathLike, table: str, key: RunKey, frame: pd.DataFrame) -> Path:
    """Validate ``frame`` and write it atomically as the run's file of ``table``."""
    frame = validate(table, frame)
    own = frame[["task", "algo", "seed", "profile"]].drop_duplicates()
    if len(own) > 1 or (len(own) == 1 and tuple(own.iloc[0]) != dataclasses.astuple(key)):
        raise ValueError(f"table {table!r}: rows belong to runs {own.to_dict('records')}, not to {key}")
    path = table_path(data_dir, table, key)
    atomic_write_text(path, frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    return path


def read_table(data_dir: str | os.PathLike, table: str) -> pd.DataFrame:
    """All runs' files of ``table`` concatenated and validated (an empty frame with the columns if none)."""
    schema = _schema(table)
    files = sorted((Path(data_dir) / "results" / table).glob("*.csv"))
    if not files:
        return validate(table, pd.DataFrame({c.name: [] for c in schema}))
    frames = []
    for path in files:
        try:
            frames.append(validate(table, pd.read_csv(path, dtype={"task": str})))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    return validate(table, pd.concat(frames, ignore_index=True))


# --- provenance -------------------------------------------------------------------------------

MANIFEST_COLUMNS: tuple[Column, ...] = RUN_COLUMNS + (
    Column("run_id", "str", "<task>_<algo>_<profile>_seed<seed>: the name of the run's files"),
    Column("params_hash", "str", "sha256 (first 16 hex) of the canonical JSON of params"),
    Column("params", "str", "JSON of every parameter of the job, profile resolved"),
    Column("git_commit", "str", "commit of the code that ran ('-dirty' if uncommitted changes to code, outside data/)"),
    Column("packages", "str", "JSON of the versions of the packages that shape the numbers"),
    Column("machine", "str", "platform, processor and core count"),
    Column("finished_utc", "str", "when the run ended (UTC, ISO 8601)"),
    Column("wall_seconds", "float", "wall-clock time of the job's last invocation (stage costs: timings)",
           lower=0),
    Column("status", "str", "ok, or failed", ("ok", "failed")),
    Column("error", "str", "the error of a failed run (empty if ok)"),
)
_PACKAGES = ("gradsub", "torch", "numpy", "scipy", "stable-baselines3", "gymnasium", "mujoco",
             "dm-control", "shimmy", "gymnasium-robotics", "pandas")


def params_hash(params: Mapping) -> str:
    """Stable hash of a job's parameters: the sweep skips a job whose hash has finished."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def checkout_commit(folder: str | os.PathLike) -> str:
    """Commit of the git checkout holding ``folder``, '-dirty' with uncommitted changes to tracked files
    outside its ``data/`` (the results the runs write there are not code), 'unknown' outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(top,exclude)data"], cwd=folder, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


# Read when the package is imported: the code this process runs, even if the checkout moves on later.
_IMPORTED_COMMIT = checkout_commit(Path(__file__).resolve().parent)


def git_commit() -> str:
    """Commit of the code this process imported (see ``checkout_commit``)."""
    return _IMPORTED_COMMIT


def _package_versions() -> str:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return json.dumps(versions, sort_keys=True)


def machine_description() -> str:
    """Platform, processor and core count of this machine."""
    return f"{platform.platform()}; {platform.processor() or platform.machine()}; {os.cpu_count()} cores"


def write_benchmark(out: str | os.PathLike, frame: pd.DataFrame, command: list[str], *,
                    float_format: str | None = "%.6g", **extra) -> None:
    """Write a benchmark's table to ``out`` (CSV, numbers in ``float_format``; None: the shortest exact
    form) and its sidecar beside it (``.json``): the command, machine, Python and torch versions, commit,
    finish time, and ``extra``."""
    import shlex
    import time

    import torch

    out = Path(out)
    sidecar = {"command": shlex.join(["python", *command]), "machine": machine_description(),
               "python": platform.python_version(), "torch": torch.__version__, "git_commit": git_commit(),
               "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    atomic_write_text(out, frame.to_csv(index=False, float_format=float_format, lineterminator="\n"))
    atomic_write_text(out.with_suffix(".json"), json.dumps(sidecar, indent=1, default=float) + "\n")


def _manifest_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "manifest.csv"


def read_manifest(data_dir: str | os.PathLike) -> pd.DataFrame:
    path = _manifest_path(data_dir)
    names = [c.name for c in MANIFEST_COLUMNS]
    if not path.exists():
        return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != names:
        raise ValueError(f"{path}: columns {list(frame.columns)}, expected {names}")
    for col in MANIFEST_COLUMNS:
        if col.allowed is not None and not set(frame[col.name]) <= set(col.allowed):
            raise ValueError(f"{path}: column {col.name!r} has values outside {list(col.allowed)}")
    return frame


def record_run(data_dir: str | os.PathLike, key: RunKey, params: Mapping, *, wall_seconds: float,
               status: str, error: str = "", finished_utc: str, commit: str | None = None) -> dict:
    """Insert or replace the run's row in ``<data_dir>/manifest.csv`` (atomic rewrite).

    A failure never replaces an ``ok`` row: the tables that row describes are still in ``data/`` (a job
    writes its tables only when it has finished), so the failed rerun is left to the caller's error,
    and the row returned says so in ``error``. commit: the code's commit when the run started (default: now).
    """
    row = {
        **dataclasses.asdict(key),
        "run_id": key.run_id,
        "params_hash": params_hash(params),
        "params": json.dumps(params, sort_keys=True, default=str),
        "git_commit": commit or git_commit(),
        "packages": _package_versions(),
        "machine": machine_description(),
        "finished_utc": finished_utc,
        "wall_seconds": f"{wall_seconds:.1f}",
        "status": status,
        "error": error.replace("\n", " | ")[:2000],
    }
    if status not in ("ok", "failed"):
        raise ValueError(f"status must be 'ok' or 'failed', got {status!r}")
    with _manifest_lock(data_dir):
        manifest = read_manifest(data_dir)
        if status == "failed" and ((manifest["run_id"] == key.run_id) & (manifest["status"] == "ok")).any():
            return {**row, "error": f"not recorded: the manifest keeps the finished run. {row['error']}"}
        manifest = manifest[manifest["run_id"] != key.run_id]
        new = pd.DataFrame([{k: str(v) for k, v in row.items()}])
        manifest = pd.concat([manifest, new], ignore_index=True).sort_values("run_id", kind="mergesort")
        atomic_write_text(_manifest_path(data_dir), manifest.to_csv(index=False, lineterminator="\n"))
    return row


@contextlib.contextmanager
def _manifest_lock(data_dir: str | os.PathLike):
    """Serialise read-modify-write of the manifest between concurrent sweep workers."""
    path = Path(data_dir) / ".manifest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def data_readme() -> str:
    """The text of ``data/README.md``, generated from the schemas (``python -m gradsub.results``)."""
    lines = [
        "# data/: result tables and provenance",
        "",
        "Generated from `gradsub.results` by `python -m gradsub.results`; do not edit by hand.",
        "The tables under `results/` and `manifest.csv` were written by `gradsub run` (directly or",
        "through `gradsub sweep`), and `benchmarks/` by the scripts in `benchmarks/` (each CSV with a",
        "`.json` sidecar: command, machine, commit); nothing here is typed by hand.",
        "Tables are tidy long-format CSV, one file per (table, run) under",
        "`results/<table>/<task>_<algo>_<profile>_seed<seed>.csv`, rows sorted by the key columns,",
        f"floats written as `{FLOAT_FORMAT}`. Rerunning a job with the same seed on the same machine",
        "rewrites every table byte for byte, except `timings` (wall-clock seconds).",
        "",
    ]
    for table, columns in SCHEMAS.items():
        lines += [f"## {table}", "", f"Key columns: {', '.join(KEYS[table])}.", "",
                  "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.dtype} | {_describe(c)} |" for c in columns]
        lines.append("")
    lines += ["## manifest.csv", "", "One row per run (the latest attempt).", "",
              "| column | type | meaning |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.dtype} | {_describe(c)} |" for c in MANIFEST_COLUMNS]
    return "\n".join(lines) + "\n"


def _describe(column: Column) -> str:
    text = column.doc
    if column.allowed is not None:
        text += f" (one of: {', '.join(map(str, column.allowed))})"
    if column.lower is not None or column.upper is not None:
        text += f" (range [{column.lower if column.lower is not None else '-inf'}, " \
                f"{column.upper if column.upper is not None else 'inf'}])"
    return text


if __name__ == "__main__":
    atomic_write_text(Path(__file__).resolve().parents[1] / "data" / "README.md", data_readme())
