"""The eigensolver benchmark (``benchmarks/eigensolver.py``) as the tables of the performance page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gradsub.report.data import data_dir

__all__ = ["BENCHMARK_COLUMNS", "BENCHMARK_TARGETS", "BENCHMARK_TARGET_N", "MEMORY_PROJECTED", "MEMORY_TARGET_N",
           "benchmark_memory", "benchmark_missing", "benchmark_results", "benchmark_table", "sample_decade"]

# The benchmark's columns the book shows (the CSV has more: raw times, memory, the sidecar's details).
BENCHMARK_COLUMNS = {
    "task": "task", "algo": "algo", "network": "network", "n_params": "n", "n_samples": "N", "k": "k",
    "method": "method", "warm_mode": "warm start", "seconds_ratio": "time ratio",
    "products_ratio": "products ratio", "passes_ratio": "passes ratio", "peak_ratio": "peak memory ratio",
    "max_residual_float64": "max residual", "max_dfrac": "max |dS_frac|", "k_gap": "k at gap",
    "overlap_at_gap": "overlap at gap",
}


def benchmark_results(folder: Path | None = None) -> pd.DataFrame | None:
    """The eigensolver benchmark's committed results (``benchmarks/eigensolver.py``), or None."""
    path = (folder or data_dir()) / "benchmarks" / "eigensolver.csv"
    return pd.read_csv(path) if path.exists() else None


def benchmark_table(folder: Path | None = None) -> pd.DataFrame:
    """The benchmark's ratios to the paper's method and its accuracy, one row per measurement.

    "time per product ratio" = time ratio / products ratio: what one product costs against one of the
    paper's (the time ratio is the product of the two)."""
    raw = benchmark_results(folder)
    if raw is None:
        return pd.DataFrame({"status": ["no benchmark results committed yet: run `make bench`"]})
    table = raw[list(BENCHMARK_COLUMNS)].rename(columns=BENCHMARK_COLUMNS)
    table.insert(table.columns.get_loc("products ratio") + 1, "time per product ratio",
                 raw["seconds_ratio"] / raw["products_ratio"])
    return table.astype(object).where(table.notna(), "")


def sample_decade(n: int) -> int:
    """The power of ten a benchmark's N stands for: a SAC replay buffer checkpointed at 100,000 steps
    holds 99,999 transitions (SB3 calls the checkpoint callback before it stores the step's own)."""
    return int(round(np.log10(n)))


# N the memory target reaches (peak memory flat from N = 10^4 to 10^6).
MEMORY_TARGET_N = 1_000_000
MEMORY_PROJECTED = f"paper's peak projected to N = 10^{sample_decade(MEMORY_TARGET_N)}"
# The configurations the benchmark's targets name: (algo, network) at each N.
BENCHMARK_TARGETS = (("ppo", "actor"), ("sac", "critic"))
BENCHMARK_TARGET_N = (10_000, 100_000, MEMORY_TARGET_N)


def benchmark_missing(folder: Path | None = None) -> list[str]:
    """The target configurations without a committed measurement, as "<algo> <network> at 10^<d>"."""
    raw = benchmark_results(folder)
    done = set() if raw is None else set(zip(raw["algo"], raw["network"], raw["n_samples"].map(sample_decade)))
    return [f"{algo} {network} at 10^{sample_decade(n)}" for algo, network in BENCHMARK_TARGETS
            for n in BENCHMARK_TARGET_N if (algo, network, sample_decade(n)) not in done]


def benchmark_memory(folder: Path | None = None) -> pd.DataFrame:
    """Peak memory (MiB) of every method at every measured N, and its linear extrapolation in N.

    "peak": the whole worker process (interpreter, torch, checkpoint, data); "solve": what the operator
    and the solve added to it (peak_mib - before_mib, the data being collected before). Columns are
    per power of ten of N (``sample_decade``). "growth": the peak's relative growth from the smallest
    to the largest measured N. Only the paper's method is projected to N = ``MEMORY_TARGET_N`` (linear
    through those two N, at their exact values): its graph holds every row's intermediates, so its
    memory is linear in N; ours is not (its data collection works in bounded chunks), and a line through
    two points would not describe it. One row per (task, algo, network, k, method); an empty frame when
    nothing is committed."""
    raw = benchmark_results(folder)
    if raw is None:
        return pd.DataFrame()
    keys = ["task", "algo", "network", "k", "method"]
    decades = sorted({sample_decade(n) for n in raw["n_samples"]})
    columns = keys + [f"{what} at N = 10^{d}" for d in decades for what in ("peak", "solve")] \
        + ["growth", MEMORY_PROJECTED]
    rows = []
    for key, group in raw.groupby(keys, sort=False):
        group = group.set_index("n_samples").sort_index()
        row = dict(zip(keys, key))
        for n, measured in group.iterrows():
            row[f"peak at N = 10^{sample_decade(n)}"] = measured["peak_mib"]
            row[f"solve at N = 10^{sample_decade(n)}"] = measured["peak_mib"] - measured["before_mib"]
        peak = group["peak_mib"]
        lo, hi = peak.index[0], peak.index[-1]
        if hi > lo:
            row["growth"] = peak[hi] / peak[lo] - 1
        if hi > lo and row["method"] == "paper":
            row[MEMORY_PROJECTED] = peak[hi] + (peak[hi] - peak[lo]) / (hi - lo) * (MEMORY_TARGET_N - hi)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=columns)
