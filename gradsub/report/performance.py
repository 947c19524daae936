"""The eigensolver benchmark (``benchmarks/eigensolver.py``) as the tables of the performance page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gradsub.report.data import data_dir

__all__ = ["BENCHMARK_COLUMNS", "BENCHMARK_TARGETS", "BENCHMARK_TARGET_N", "MEMORY_PROJECTED", "MEMORY_TARGET_N",
           "OPERATOR_TOLERANCE", "OUR_METHODS", "PEER_METHODS", "SOLVER_TOL", "benchmark_memory", "benchmark_missing",
           "benchmark_peers", "benchmark_results", "benchmark_table", "operator_verdict", "peers_missing",
           "peers_summary", "sample_decade"]

# The benchmark's method names (its rows; benchmarks/eigensolver.py, a test keeps them equal): ours, and
# the peer libraries measured beside the paper's method.
OUR_METHODS = ("block cold", "block warm")
PEER_METHODS = ("curvlinops", "hessian-eigenthings")
# The relative residual every method is asked to reach (the eigsh tolerance of the paper's appendix).
SOLVER_TOL = 1e-4
# The project's rule: a peer's Hessian-vector product replaces ours if it is at most this much slower
# (relative) at no more memory.
OPERATOR_TOLERANCE = 0.10

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


# N the project's memory target reaches (peak memory flat from N = 10^4 to 10^6).
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


# --- the peers beside ours ------------------------------------------------------------------------------

# The operator race's columns (peer's seconds per product over ours'): single vectors, and blocks (a
# peer without a block product pays one call per vector there).
PEER_RACE = {"matvec_ratio_float32": "per product / ours, float32 vector",
             "block_ratio_float32": "per product / ours, float32 block",
             "matvec_ratio_float64": "per product / ours, float64 vector",
             "block_ratio_float64": "per product / ours, float64 block"}


def benchmark_peers(folder: Path | None = None) -> pd.DataFrame:
    """Each peer against ours and the paper's method, one row per (configuration, peer).

    "time / paper", "time / ours cold", "time / ours warm": the peer's solve time over each (above 1:
    the peer is slower); "products / ours cold", "passes / ours cold", "peak / ours cold": likewise
    for products, data passes and the worker's peak memory. The "per product / ours" columns come
    from the benchmark's operator race: the peer's Hessian-vector product against our
    ``HessianOperator`` on the same vectors and chunks, side by side in one process (single vectors
    and blocks, in float32 and float64; NaN where a row predates a column). Accuracy: the
    float64 residual and the overlap at the gap, as in the main table. Empty when no peer was run."""
    raw = benchmark_results(folder)
    if raw is None or not raw["method"].isin(PEER_METHODS).any():
        return pd.DataFrame()
    keys = ["task", "algo", "network", "n_samples", "k"]
    rows = []
    for key, group in raw.groupby(keys, sort=False):
        by = group.set_index("method")
        for peer in PEER_METHODS:
            if peer not in by.index or by.loc[peer, "status"] != "ok":
                continue
            r = by.loc[peer]
            row = dict(zip(["task", "algo", "network", "N", "k"], key), peer=peer,
                       **{"time / paper": r["seconds_ratio"]})
            for ours, label in (("block cold", "ours cold"), ("block warm", "ours warm")):
                row[f"time / {label}"] = r["seconds"] / by.loc[ours, "seconds"] if ours in by.index else np.nan
            cold = by.loc["block cold"] if "block cold" in by.index else None
            for column, label in (("n_products", "products"), ("n_data_passes", "passes"), ("peak_mib", "peak")):
                row[f"{label} / ours cold"] = r[column] / cold[column] if cold is not None else np.nan
            row["max residual"] = r["max_residual_float64"]
            row["overlap at gap"] = r["overlap_at_gap"]
            row.update({label: r.get(column, np.nan) for column, label in PEER_RACE.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def peers_missing(folder: Path | None = None) -> list[str]:
    """Measured target configurations without a row of every peer, as "<algo> <network> at 10^<d>"."""
    raw = benchmark_results(folder)
    if raw is None:
        return []
    out = []
    for algo, network in BENCHMARK_TARGETS:
        for n in BENCHMARK_TARGET_N:
            rows = raw[(raw["algo"] == algo) & (raw["network"] == network)
                       & (raw["n_samples"].map(sample_decade) == sample_decade(n))]
            if len(rows) and not set(PEER_METHODS) <= set(rows.loc[rows["status"] == "ok", "method"]):
                out.append(f"{algo} {network} at 10^{sample_decade(n)}")
    return out


def operator_verdict(folder: Path | None = None, peer: str = "curvlinops") -> dict:
    """Whether ``peer``'s Hessian-vector product may replace ours, by the project's rule: at most
    ``OPERATOR_TOLERANCE`` slower per product in EVERY measured configuration and race column, with a
    worker peak memory at most that much above our cold solve's.

    Returns {"measured": configurations with a race, "slowest"/"fastest": the largest and smallest
    per-product ratio (peer over ours), "peak_low"/"peak_high": the range of its peak memory over
    ours (cold), "replace": the verdict (False when nothing was measured)}.
    """
    table = benchmark_peers(folder)
    rows = table[table["peer"] == peer] if len(table) else table
    ratios = rows[list(PEER_RACE.values())].to_numpy(dtype=float).ravel() if len(rows) else np.array([])
    ratios = ratios[np.isfinite(ratios)]
    peaks = rows["peak / ours cold"].to_numpy(dtype=float) if len(rows) else np.array([])
    peaks = peaks[np.isfinite(peaks)]
    if ratios.size == 0:
        return {"measured": 0, "slowest": np.nan, "fastest": np.nan, "peak_low": np.nan, "peak_high": np.nan,
                "replace": False}
    limit = 1 + OPERATOR_TOLERANCE
    return {"measured": int(len(rows)), "slowest": float(ratios.max()), "fastest": float(ratios.min()),
            "peak_low": float(peaks.min()) if peaks.size else np.nan,
            "peak_high": float(peaks.max()) if peaks.size else np.nan,
            "replace": bool(ratios.max() <= limit and (peaks.size == 0 or peaks.max() <= limit))}


def _span(values) -> str:
    """"1.23x" or "1.23x to 4.56x" over the finite values; "n/a" when there are none."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    lo, hi = values.min(), values.max()
    return f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}x to {hi:.2f}x"


def peers_summary(folder: Path | None = None) -> dict[str, str]:
    """Sentences for the performance page, from ``benchmark_peers`` and ``operator_verdict``.

    One per peer (keyed by its name): its solve time against ours and the paper's, its peak memory
    against ours and its cost per product against ours, each as the range over the measured
    configurations; "short": the peer rows whose float64 residual misses ``SOLVER_TOL`` (with the
    residual they reached), or "none"; and "verdict": the project's decision on curvlinops' product."""
    table = benchmark_peers(folder)
    out = {}
    for peer in PEER_METHODS:
        rows = table[table["peer"] == peer] if len(table) else table
        if not len(rows):
            out[peer] = f"{peer}: not measured yet"
            continue
        vectors = _span(rows[[PEER_RACE["matvec_ratio_float32"], PEER_RACE["matvec_ratio_float64"]]])
        blocks = _span(rows[[PEER_RACE["block_ratio_float32"], PEER_RACE["block_ratio_float64"]]])
        race = " and ".join([f"{vectors} for single vectors"] * (vectors != "n/a")
                            + [f"{blocks} in blocks"] * (blocks != "n/a"))
        out[peer] = (f"{peer} took {_span(rows['time / ours cold'])} the time of our cold solve, "
                     f"{_span(rows['time / ours warm'])} that of our warm one and {_span(rows['time / paper'])} "
                     f"that of the paper's method, with {_span(rows['peak / ours cold'])} our cold solve's peak "
                     f"memory" + (f"; per Hessian-vector product, against ours, it took {race}" if race else ""))
    short = table[table["max residual"] > SOLVER_TOL] if len(table) else table
    out["short"] = "; ".join(
        f"{r['peer']}, {r['algo']} {r['network']} at 10^{sample_decade(r['N'])}: {r['max residual']:.1e}"
        for _, r in short.iterrows()) or "none"
    verdict = operator_verdict(folder, "curvlinops")
    if not verdict["measured"]:
        out["verdict"] = "curvlinops' product has not been raced against ours yet"
    elif verdict["replace"]:
        out["verdict"] = (f"curvlinops' product took {_span([verdict['fastest'], verdict['slowest']])} our "
                          f"time per product at {_span([verdict['peak_low'], verdict['peak_high']])} our peak "
                          f"memory, within the project's {OPERATOR_TOLERANCE:.0%}: gradsub.hessian should use it")
    else:
        out["verdict"] = (f"curvlinops' product took {_span([verdict['fastest'], verdict['slowest']])} our "
                          f"time per product, with {_span([verdict['peak_low'], verdict['peak_high']])} our "
                          f"cold solve's peak memory, in {verdict['measured']} measured "
                          f"configuration{'s' if verdict['measured'] > 1 else ''}: more than the project's "
                          f"{OPERATOR_TOLERANCE:.0%} slower, so gradsub.hessian keeps its own product")
    return out
