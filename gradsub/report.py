"""The book's derived tables, computed from the committed result tables (never typed by hand).

Every function takes tidy frames as returned by ``gradsub.results.read_table`` and returns a frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gradsub import metrics, plots, results, tasks
from gradsub.metrics import PHASES

__all__ = ["Claim", "CLAIMS", "checkpoint_phases", "claims_check", "coverage", "data_dir", "fraction_by_phase",
           "load_tables", "PHASE_WINDOW"]

RUN = ["task", "algo", "seed", "profile"]
# FACTS §6: "a centred 20,000-step window" = 10,000 steps either side of each point.
PHASE_WINDOW = 10_000


def data_dir() -> Path:
    """The data folder the book reads: ``$GRADSUB_DATA_DIR`` if set, else the repository's ``data/``."""
    return Path(os.environ.get("GRADSUB_DATA_DIR", Path(__file__).resolve().parents[1] / "data"))


def load_tables(folder: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every result table (validated) and the manifest, by name."""
    folder = folder or data_dir()
    tables = {name: results.read_table(folder, name) for name in results.SCHEMAS}
    tables["manifest"] = results.read_manifest(folder)
    return tables


def checkpoint_phases(curves: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Training phase (initial / training / convergence) of every analysed checkpoint of every run.

    curves: the ``learning_curve`` table (its ``train`` rows define the phases, FACTS §6).
    steps: any frame with the run columns and ``step`` (e.g. the ``gradient_subspace_fraction`` table).
    Returns the run columns, ``step`` and ``phase``; runs without training episodes are left out.
    """
    out = []
    checkpoints = steps[RUN + ["step"]].drop_duplicates()
    for run, ckpt in checkpoints.groupby(RUN, sort=True):
        train = curves[(curves[RUN] == pd.Series(run, index=RUN)).all(axis=1) & (curves["kind"] == "train")]
        if len(train) < 2:
            continue
        train = train.sort_values("step")
        phase = metrics.training_phases(train["step"].to_numpy(), train["episode_return"].to_numpy(),
                                        window=PHASE_WINDOW, at=ckpt["step"].to_numpy())
        out.append(ckpt.assign(phase=phase))
    columns = RUN + ["step", "phase"]
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def fraction_by_phase(fractions: pd.DataFrame, phases: pd.DataFrame, k: int = 100) -> pd.DataFrame:
    """S_frac at ``k`` averaged per run, network, phase and plotted variant (Figure 2's bars).

    Returns task, algo, seed, network, phase, variant, value, random_baseline.
    """
    part = fractions[fractions["k"] == k].merge(phases, on=RUN + ["step"])
    labels = [plots.VARIANT_LABELS.get(pair) for pair in zip(part["gradient"], part["hessian"])]
    part = part.assign(variant=labels).dropna(subset=["variant"])
    keys = ["task", "algo", "seed", "network", "phase", "variant"]
    return part.groupby(keys, as_index=False)[["value", "random_baseline"]].mean()


def at_current_settings(manifest: pd.DataFrame) -> pd.Series:
    """Whether each run's parameters hash is the one its job has under today's registry (a run made
    with an earlier profile, or other settings, is not; the sweep would redo it)."""
    from gradsub.job import Job

    current = [results.params_hash(Job.from_params(json.loads(params)).params()) == stored
               for params, stored in zip(manifest["params"], manifest["params_hash"])]
    return pd.Series(current, index=manifest.index, dtype=bool)


def coverage(manifest: pd.DataFrame) -> pd.DataFrame:
    """Which task x algo has finished runs in ``data/``: one row per registered task and algorithm,
    with how many of them were made at the registry's current settings."""
    ok = manifest[manifest["status"] == "ok"]
    ok = ok.assign(current=at_current_settings(ok))
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            runs = ok[(ok["task"] == name) & (ok["algo"] == algo)]
            rows.append({"task": name, "algo": algo, "runs": len(runs),
                         "at current settings": int(runs["current"].sum()),
                         "profiles": ", ".join(sorted(set(runs["profile"]))) or "-",
                         "seeds": ", ".join(sorted(set(runs["seed"]), key=int)) or "-"})
    return pd.DataFrame(rows)


# --- the claims of FACTS §1 ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    paper: str
    check: Callable[[dict[str, pd.DataFrame]], tuple[str, str]]  # tables -> (our numbers, verdict)


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows at each run's last analysed checkpoint."""
    last = frame.groupby(RUN)["step"].transform("max")
    return frame[frame["step"] == last]


def _precise(fractions: pd.DataFrame, k: int = 100) -> pd.DataFrame:
    top = fractions[(fractions["gradient"] == "precise") & (fractions["hessian"] == "precise")]
    return top[top["k"] == top.groupby(RUN + ["network"])["k"].transform("max").clip(upper=k)]


def _no_data(*frames: pd.DataFrame) -> bool:
    return any(f.empty for f in frames)


def _c1(t):
    spectrum = _final(t["spectrum"])
    if _no_data(spectrum):
        return "no full spectrum yet", "not enough data"
    parts, ok = [], True
    for (task, algo, network), grp in spectrum.groupby(["task", "algo", "network"]):
        values = np.sort(grp["eigenvalue"].to_numpy())[::-1]
        top, median_abs = values[0], np.median(np.abs(values))
        n_outliers = int((values > 0.1 * top).sum())  # "large": within a factor 10 of the largest
        ratio = top / median_abs if median_abs > 0 else np.inf
        ok &= ratio > 100 and n_outliers <= 0.01 * len(values)
        parts.append(f"{task} {algo.upper()} {network}: λ_max/median|λ| = {ratio:.3g}, "
                     f"{n_outliers} of {len(values)} eigenvalues above λ_max/10")
    return "; ".join(parts), "holds" if ok else "does not hold"


def _c2(t):
    top = _final(_precise(t["gradient_subspace_fraction"]))
    if _no_data(top):
        return "no data", "not enough data"
    ratio = top["value"] / top["random_baseline"]
    worst = top.loc[ratio.idxmin()]
    text = (f"smallest S_frac / (k/n) over {len(top)} run-networks at the last checkpoint: "
            f"{ratio.min():.3g} ({worst.task} {worst.algo.upper()} {worst.network}: "
            f"{worst.value:.3f} vs {worst.random_baseline:.4f})")
    return text, "holds" if ratio.min() > 10 else "does not hold"


def _c3(t):
    top = _precise(t["gradient_subspace_fraction"])
    overlaps = t["subspace_overlap"]
    if _no_data(top):
        return "no data", "not enough data"
    means = top.groupby(["algo", "network"])["value"].mean()
    pairs = [(algo, means.get((algo, "critic")), means.get((algo, "actor"))) for algo in tasks.ALGOS]
    pairs = [p for p in pairs if p[1] is not None and p[2] is not None]
    text = "; ".join(f"{a.upper()} mean S_frac critic {c:.3f} vs actor {a_:.3f}" for a, c, a_ in pairs)
    frac_ok = all(c > a_ for _, c, a_ in pairs)
    stable = overlaps[(overlaps["t1"] > 0) & (overlaps["t2"] > overlaps["t1"])]
    if len(stable):
        ov = stable.groupby("network")["value"].mean()
        text += f"; mean overlap critic {ov.get('critic', np.nan):.3f} vs actor {ov.get('actor', np.nan):.3f}"
        frac_ok &= ov.get("critic", -1) > ov.get("actor", np.inf)
    return text, "holds" if frac_ok else "does not hold"


def _c4(t):
    top = _precise(t["gradient_subspace_fraction"])
    if top["algo"].nunique() < 2:
        return "needs both algorithms", "not enough data"
    means = top.groupby(["algo", "network"])["value"].mean()
    text = ", ".join(f"{a.upper()} {n} {v:.3f}" for (a, n), v in means.items())
    sac_higher = all(means[("sac", n)] > means[("ppo", n)] for n in ("actor", "critic")
                     if ("sac", n) in means and ("ppo", n) in means)
    lowest = means.idxmin() == ("ppo", "actor")
    return f"mean S_frac (k = 100, precise): {text}", "holds" if sac_higher and lowest else "does not hold"


def _c5(t):
    frac = t["gradient_subspace_fraction"]
    frac = frac[frac["k"] == frac.groupby(RUN + ["network"])["k"].transform("max")]
    if _no_data(frac):
        return "no data", "not enough data"
    means = frac.groupby(["gradient", "hessian"])["value"].mean()
    base = frac["random_baseline"].max()
    text = ", ".join(f"{g} grad + {h} Hessian {v:.3f}" for (g, h), v in means.items())
    precise = means.get(("precise", "precise"))
    others = [means.get(p) for p in [("minibatch", "precise"), ("minibatch", "minibatch")] if p in means]
    ok = precise is not None and all(o < precise and o > 10 * base for o in others)
    return f"mean S_frac: {text}; largest k/n {base:.4f}", "holds" if ok else "does not hold"


def _c6(t):
    overlaps = t["subspace_overlap"]
    k = overlaps["k"].max() if len(overlaps) else None
    later = overlaps[(overlaps["k"] == k) & (overlaps["t2"] > overlaps["t1"]) & (overlaps["t1"] == 100_000)]
    at = "t1 = 100,000"
    if later.empty:
        positive = overlaps[(overlaps["t1"] > 0) & (overlaps["t2"] > overlaps["t1"]) & (overlaps["k"] == k)]
        if positive.empty:
            return "no overlap after t1 > 0 yet", "not enough data"
        t1 = positive["t1"].min()
        later, at = positive[positive["t1"] == t1], f"t1 = {t1:,} (no run reaches 100,000)"
    last = later[later["t2"] == later.groupby(RUN + ["network"])["t2"].transform("max")]
    ratio = last["value"] / last["random_baseline"]
    by_net = last.groupby("network")["value"].mean()
    text = (f"{at}, k = {k}, at the last t2: mean overlap "
            + ", ".join(f"{n} {v:.3f}" for n, v in by_net.items())
            + f"; smallest overlap / (k/n) {ratio.min():.3g}")
    ok = ratio.min() > 10 and by_net.get("critic", -1) > by_net.get("actor", np.inf)
    return text, "holds" if ok else "does not hold"


CLAIMS = (
    Claim("C1", "A handful of large positive eigenvalues; the bulk near zero (actor and critic).", _c1),
    Claim("C2", "S_frac at k = 100 far above k/n for every task, algorithm and network.", _c2),
    Claim("C3", "The critic's S_frac is higher than the actor's, and its subspace more stable.", _c3),
    Claim("C4", "SAC shows higher S_frac than PPO; PPO's actor is lowest.", _c4),
    Claim("C5", "Mini-batch estimates lower S_frac, but it stays far above k/n.", _c5),
    Claim("C6", "Overlap of the t1 = 100,000 subspace with later ones stays far above k/n "
                "(about 0.4 in the plotted case), higher for the critic.", _c6),
)


def claims_check(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim: the paper's statement, our numbers and the verdict, from ``tables``.

    tables: ``gradient_subspace_fraction``, ``subspace_overlap`` and ``spectrum`` frames.
    Verdicts: holds / does not hold / not enough data; the thresholds are stated in each check.
    """
    rows = []
    for claim in CLAIMS:
        ours, verdict = claim.check(tables)
        rows.append({"claim": claim.name, "paper": claim.paper, "ours": ours, "verdict": verdict})
    return pd.DataFrame(rows)


# --- tables shown beside the figures --------------------------------------------------------------

def final_spectra(spectrum: pd.DataFrame) -> pd.DataFrame:
    """Full spectra at each run's last checkpoint with one (Figure 1)."""
    return _final(spectrum) if len(spectrum) else spectrum


def spectrum_summary(spectra: pd.DataFrame) -> pd.DataFrame:
    """Per run and network: size, largest eigenvalue, median |eigenvalue|, their ratio, share negative."""
    rows = []
    for (task, algo, seed, network), grp in spectra.groupby(["task", "algo", "seed", "network"]):
        values = grp["eigenvalue"].to_numpy()
        median_abs = float(np.median(np.abs(values)))
        rows.append({"task": task, "algo": algo, "seed": seed, "network": network, "n_params": len(values),
                     "largest": values.max(), "median_abs": median_abs,
                     "top_over_median": values.max() / median_abs if median_abs > 0 else np.inf,
                     "share_negative": float((values < 0).mean())})
    columns = ["task", "algo", "seed", "network", "n_params", "largest", "median_abs", "top_over_median",
               "share_negative"]
    return pd.DataFrame(rows, columns=columns)


def runs_without_spectrum(solver_stats: pd.DataFrame, spectrum: pd.DataFrame) -> pd.DataFrame:
    """PPO runs with data but no full spectrum (their networks exceed the dense limit of the analysis):
    one row per run and network with its parameter count."""
    columns = ["task", "algo", "seed", "network", "n_params"]
    run = ["task", "algo", "seed", "profile", "network"]
    ppo = solver_stats[solver_stats["algo"] == "ppo"][run + ["n_params"]].drop_duplicates()
    have = spectrum[run].drop_duplicates().assign(_has=True)
    missing = ppo.merge(have, on=run, how="left")
    missing = missing[missing["_has"].isna()]
    return missing[columns].sort_values(columns).reset_index(drop=True)


_VARIANT_SHORT = {label: " / ".join(part.replace("minibatch", "mini-batch") for part in pair)
                  for pair, label in plots.VARIANT_LABELS.items()}


def phase_table(by_phase: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind Figure 2, one row per (task, algo, network, variant) and one column per phase:
    "mean ± std (seeds)" over seeds ("mean (1)" for one seed), and the random level k/n. The variant
    is written "gradient / Hessian" (e.g. "mini-batch / precise")."""
    keys = ["task", "algo", "network", "gradient / Hessian"]
    if by_phase.empty:
        return pd.DataFrame(columns=keys + list(PHASES) + ["k/n"])
    by_phase = by_phase.assign(**{"gradient / Hessian": by_phase["variant"].map(_VARIANT_SHORT)})
    grouped = by_phase.groupby(keys + ["phase"])["value"]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    stats["cell"] = [f"{m:.3f} ± {sd:.3f} ({n})" if n > 1 else f"{m:.3f} (1)"
                     for m, sd, n in zip(stats["mean"], stats["std"], stats["count"])]
    wide = stats.pivot(index=keys, columns="phase", values="cell")
    wide = wide.reindex(columns=list(PHASES), fill_value="").fillna("")
    wide["k/n"] = by_phase.groupby(keys)["random_baseline"].mean().map(lambda v: f"{v:.2g}")
    wide.columns.name = None
    return wide.reset_index()


def common_t1(overlaps: pd.DataFrame) -> int:
    """The earliest t1 > 0 analysed in every run (the smallest positive t1 if none is common)."""
    positive = overlaps[overlaps["t1"] > 0]
    if positive.empty:
        return 0
    per_run = [set(g["t1"]) for _, g in positive.groupby(RUN)]
    common = set.intersection(*per_run)
    return int(min(common) if common else positive["t1"].min())


def overlap_table(overlaps: pd.DataFrame, t1s, k: int) -> pd.DataFrame:
    """Overlap with the subspace at each t1 at every run's last t2: mean and std over seeds."""
    part = overlaps[overlaps["t1"].isin(t1s) & (overlaps["k"] == k) & (overlaps["t2"] > overlaps["t1"])]
    last = part[part["t2"] == part.groupby(RUN + ["network", "t1"])["t2"].transform("max")]
    grouped = last.groupby(["task", "algo", "network", "t1"])
    table = grouped["value"].agg(["mean", "std", "count"]).rename(columns={"count": "seeds"})
    table["last_t2"] = grouped["t2"].max()
    table["random_baseline"] = grouped["random_baseline"].mean()
    return table.reset_index()


def styled_claims(claims: pd.DataFrame):
    """The claims table for HTML: wrapped text, verdicts coloured."""
    colours = {"holds": "#d8f0d8", "does not hold": "#f6d5d5", "not enough data": "#eeeeee"}
    return (claims.style.hide(axis="index")
            .map(lambda v: f"background-color: {colours.get(v, '')}", subset=["verdict"])
            .set_properties(**{"text-align": "left", "white-space": "normal"}))


# --- parameters and pages generated from the registry ---------------------------------------------

def task_table() -> pd.DataFrame:
    """The task registry as printed by ``gradsub tasks``."""
    return pd.DataFrame(tasks.task_rows())


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
# The configurations issue 6's targets name: (algo, network) at each N.
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


def hyperparameters(algo: str) -> pd.DataFrame:
    """One row per task: the paper's hyperparameters for ``algo`` as used here (gradsub.tasks)."""
    rows = []
    for name in tasks.TASKS:
        config = dataclasses.asdict(tasks.algo_config(name, algo))
        config.pop("source", None)
        rows.append({"task": name, **config})
    return pd.DataFrame(rows)


def profiles_table() -> pd.DataFrame:
    """Steps, checkpoints, sample sizes and k of every profile, task and algorithm, and the minutes the
    cpu plan gives each cpu job (``tasks.cpu_job_seconds``)."""
    rows = []
    for name in tasks.TASKS:
        for algo in tasks.ALGOS:
            for profile in tasks.PROFILES:
                p = tasks.get_profile(name, algo, profile)
                steps = p.checkpoint_steps
                rows.append({"task": name, "algo": algo, "profile": profile, "total_steps": p.total_steps,
                             "checkpoints": len(steps),
                             "first checkpoints": ", ".join(f"{s:,}" for s in steps[:4])
                             + (", ..." if len(steps) > 4 else ""),
                             "n_precise": p.n_precise, "k": p.k, "seeds": p.n_seeds,
                             "planned minutes": round(tasks.cpu_job_seconds(name, algo) / 60, 1)
                             if profile == "cpu" else float("nan")})
    return pd.DataFrame(rows)


def task_slug(name: str) -> str:
    return name.lower().replace("-", "_")


def task_page(name: str) -> str:
    """The MyST notebook of one task's book page (``python -m gradsub.report`` writes them all)."""
    task = tasks.get_task(name)
    slug = task_slug(task.name)
    return f'''---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---

# {task.name}

`{task.env_id}` ({task.suite}; the paper: `{task.paper_env}`). Generated by `python -m gradsub.report`.

```{{code-cell}} ipython3
:tags: [remove-input]
from myst_nb import glue
from gradsub import plots, report

page = report.TaskPage.load("{task.name}")
glue("{slug}_status", page.status, display=False)
for algo in ("ppo", "sac"):
    report.glue_figure(f"{slug}_curve_{{algo}}", plots.learning_curve(page.rows("learning_curve", algo)))
    report.glue_figure(f"{slug}_fraction_{{algo}}", plots.subspace_fraction_over_training(page.rows("gradient_subspace_fraction", algo)))
report.glue_figure("{slug}_eigenvalues", plots.top_eigenvalues(page.tables["eigenvalues"]))
page.hyperparameters()
```

Data: {{glue:text}}`{slug}_status`. The table above lists this task's hyperparameters (the
paper's, from `gradsub.tasks`).

```{{glue:figure}} {slug}_curve_ppo
:name: fig-{slug}-curve-ppo

PPO learning curve: training episodes (points) and deterministic evaluations (line).
```

```{{glue:figure}} {slug}_curve_sac
:name: fig-{slug}-curve-sac

SAC learning curve.
```

```{{glue:figure}} {slug}_fraction_ppo
:name: fig-{slug}-fraction-ppo

PPO: gradient subspace fraction over training (k = 1, 10, 100); dashed: k/n.
```

```{{glue:figure}} {slug}_fraction_sac
:name: fig-{slug}-fraction-sac

SAC: gradient subspace fraction over training (k = 1, 10, 100); dashed: k/n.
```

```{{glue:figure}} {slug}_eigenvalues
:name: fig-{slug}-eigenvalues

Top eigenvalues of the precise Hessian at each checkpoint (rank 1, 10 and the last computed).
```
'''


@dataclasses.dataclass(frozen=True)
class TaskPage:
    """The data of one task's book page."""

    task: str
    tables: dict

    @classmethod
    def load(cls, name: str, folder: Path | None = None) -> "TaskPage":
        tables = load_tables(folder)
        name = tasks.get_task(name).name
        return cls(name, {t: f[f["task"] == name] for t, f in tables.items()})

    @property
    def status(self) -> str:
        runs = self.tables["manifest"]
        ok = runs[runs["status"] == "ok"]
        if ok.empty:
            return "no finished runs yet (the figures below are empty)"
        return "; ".join(f"{algo.upper()}: {len(g)} run(s), profile {', '.join(sorted(set(g['profile'])))}"
                         for algo, g in ok.groupby("algo"))

    def rows(self, table: str, algo: str) -> pd.DataFrame:
        frame = self.tables[table]
        return frame[frame["algo"] == algo]

    def hyperparameters(self) -> pd.DataFrame:
        rows = {algo: dataclasses.asdict(tasks.algo_config(self.task, algo)) for algo in tasks.ALGOS}
        return pd.DataFrame({algo: pd.Series(v, dtype=object) for algo, v in rows.items()}).fillna("")


def write_task_pages(folder: Path) -> list[Path]:
    paths = []
    for name in tasks.TASKS:
        path = folder / f"{task_slug(name)}.md"
        results.atomic_write_text(path, task_page(name))
        paths.append(path)
    return paths



def glue_figure(name: str, figure) -> None:
    """Glue ``figure`` for ``{glue:figure}`` and close it, so the page does not show it twice."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, figure, display=False)
    plt.close(figure)


# --- provenance and cost ----------------------------------------------------------------------------

def manifest_view(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest without its long JSON columns (the file has them)."""
    columns = ["run_id", "status", "params_hash", "git_commit", "finished_utc", "wall_seconds", "machine", "error"]
    view = manifest[columns].copy()
    view["git_commit"] = view["git_commit"].str.slice(0, 12)
    return view


def job_costs(timings: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Minutes per job and stage: training (every session), sampling, eigensolves, full spectra, their
    total, and the wall time of the job's last invocation (the manifest's ``wall_seconds``).

    A job that resumed or reused cached analyses still counts each stage's time when it was done, so
    the stage total is the job's cost, unlike the last invocation's wall time. The stages leave out
    loading checkpoints, gradient fractions, overlaps and writing caches and tables; for a job that
    trained and analysed in one invocation the wall time includes them (it is the whole job).
    """
    columns = ["train_minutes", "samples_minutes", "solve_minutes", "spectrum_minutes"]
    if timings.empty:
        return pd.DataFrame(columns=RUN + columns + ["total_minutes", "last_run_minutes"])
    stage = timings["stage"].str.split("/").str[0]
    minutes = timings.assign(stage=stage).pivot_table(index=RUN, columns="stage", values="seconds",
                                                     aggfunc="sum", fill_value=0.0) / 60
    minutes = minutes.rename(columns=lambda c: f"{c}_minutes").reindex(columns=columns, fill_value=0.0)
    costs = minutes.assign(total_minutes=minutes.sum(axis=1)).rename_axis(columns=None).reset_index()
    # one manifest row per run, read as text
    wall = manifest[RUN + ["wall_seconds"]].astype({"seed": "int64", "wall_seconds": "float64"})
    costs = costs.merge(wall, on=RUN, how="left", validate="one_to_one")
    return costs.assign(last_run_minutes=costs.pop("wall_seconds") / 60).round(1)


def job_plans(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per run: whether it was made at the registry's current settings and, for such ``cpu`` runs, the
    minutes the cpu plan gives its job (``tasks.cpu_job_seconds``; NaN otherwise)."""
    runs = manifest[RUN].astype({"seed": "int64"}).assign(current=at_current_settings(manifest).to_numpy())
    planned = [tasks.cpu_job_seconds(task, algo) / 60 if profile == "cpu" and current else float("nan")
               for task, algo, profile, current in runs[["task", "algo", "profile", "current"]].itertuples(index=False)]
    return runs.assign(planned_minutes=planned).round(1)


def package_versions(manifest: pd.DataFrame) -> pd.DataFrame:
    """Package versions recorded with the runs: one row per package, one column per distinct set."""
    sets = sorted(set(manifest["packages"]))
    if not sets:
        return pd.DataFrame(columns=["package"])
    frames = {f"set {i + 1}": pd.Series(json.loads(s)) for i, s in enumerate(sets)}
    return pd.DataFrame(frames).rename_axis("package").reset_index()


if __name__ == "__main__":
    write_task_pages(Path(__file__).resolve().parents[1] / "book" / "tasks")
