"""The paper's claims checked against our numbers by matched comparisons.

Each claim is tested by comparisons inside one task and one seed, at matched training stages: the
same checkpoint where both sides come from one run (critic against actor, an estimator against
another), the same training phase where PPO meets SAC (their checkpoints differ; the phases are
those of the paper's Figure 2). Every comparison tests one condition and passes or fails. Per task,
and then over the tasks, the verdict is "consistent" (every comparison passes), "inconsistent" (none
does), "mixed", or "untested at our scale" (our data allow no such comparison).

S_frac uses the precise-gradient estimate named by ``gradient`` (a value of the table's ``gradient``
column): "precise" is the gradient of the Hessian's own sample (same-sample), biased upwards where
N is not much larger than the parameter count.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from gradsub import NETWORKS, results, tasks
from gradsub.plots import steps_label
from gradsub.report import provenance
from gradsub.report.data import RUN, last_checkpoint
from gradsub.report.figures import across_seeds, checkpoint_phases, runs_without_t1

__all__ = ["CLAIMS", "Claim", "THRESHOLDS", "VERDICTS", "claim_comparisons", "claims_check", "claims_markdown",
           "estimator_label", "precise_gradient_estimates", "styled_claims", "task_verdicts"]

VERDICTS = ("consistent", "inconsistent", "mixed", "untested at our scale")

# The paper's k for every claim (its Figures 2 and 3).
K = 100
# The paper's reference point for the overlap (Figure 3) and its plotted value there ("about 0.4").
T1 = 100_000
PAPER_OVERLAP = 0.4

# The thresholds, stated once: the paper states its claims qualitatively (except the overlap's plotted
# value), so each is our reading of its words; THRESHOLDS gives each one's reason, for the book.
FAR_ABOVE = 10  # "far above k/n": at least this many times k/n
MOSTLY = 0.5  # "lies mostly in": S_frac above this
LARGE = 10  # a "large" eigenvalue: |eigenvalue| within this factor of the largest
HANDFUL = 0.01  # "a handful": at most this share of all eigenvalues large
BULK = 100  # "the bulk near zero": the largest eigenvalue at least this many times the median |eigenvalue|
PAPER_FACTOR = 2  # agreement with a number of the paper: within this factor
PRECISE_OVER_MINIBATCH = 8  # estimators compared only where the precise sample has this many times the rows

THRESHOLDS = pd.DataFrame([
    ("far above k/n", f"at least {FAR_ABOVE} x k/n", "an order of magnitude above a random subspace"),
    ("lies mostly in", f"S_frac above {MOSTLY}", "more than half of the gradient's squared norm"),
    ("a handful of large eigenvalues", f"at most {HANDFUL:.0%} of the eigenvalues within a factor {LARGE} "
                                       "of the largest, all of them positive", "few outliers, and positive ones"),
    ("bulk near zero", f"largest eigenvalue at least {BULK} x the median |eigenvalue|",
     "the bulk two orders of magnitude below the outliers"),
    ("agrees with the paper's number", f"within a factor {PAPER_FACTOR}",
     "the paper's number is read off a plot; our runs are shorter and our samples smaller"),
    ("estimators compared", f"precise sample at least {PRECISE_OVER_MINIBATCH} x the mini-batch side's rows",
     "otherwise the precise estimate is not the better one"),
    ("matched", "same task and seed; same checkpoint within a run, same training phase across algorithms",
     "differences of task, seed or training stage must not decide a comparison"),
], columns=["reading", "threshold", "why"])

_COMPARISON_COLUMNS = ["claim", "task", "algo", "seed", "comparison", "ours", "passes"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One claim's result: its comparisons, the checkpoints they use, a summary of our numbers, and the
    number compared with the paper's (None where the paper gives none)."""

    comparisons: pd.DataFrame  # _COMPARISON_COLUMNS without "claim"
    used: pd.DataFrame  # RUN + ["step"]
    ours: str
    number: float | None = None


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    paper: str
    paper_number: float | None  # the paper's value, where it gives one
    check: Callable[[dict[str, pd.DataFrame], str], Outcome]  # (tables, gradient estimate) -> Outcome


# --- helpers --------------------------------------------------------------------------------------

def _fractions(tables: dict[str, pd.DataFrame], gradient: str, hessian: str = "precise") -> pd.DataFrame:
    frac = tables["gradient_subspace_fraction"]
    return frac[(frac["k"] == K) & (frac["gradient"] == gradient) & (frac["hessian"] == hessian)]


def _row(task, algo, seed, comparison: str, ours: str, passes: bool) -> dict:
    return {"task": task, "algo": algo, "seed": seed, "comparison": comparison, "ours": ours,
            "passes": bool(passes)}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_COMPARISON_COLUMNS[1:])


def _used(frame: pd.DataFrame, step: str = "step") -> pd.DataFrame:
    return frame[RUN + [step]].rename(columns={step: "step"}).drop_duplicates()


def _empty_used() -> pd.DataFrame:
    return pd.DataFrame(columns=RUN + ["step"])


def _summary(comparisons: pd.DataFrame) -> str:
    return f"{int(comparisons['passes'].sum())} of {len(comparisons)} comparisons pass"


# --- the claims -----------------------------------------------------------------------------------

def _c1(t, gradient):
    """Per run and network at its last checkpoint with a full spectrum (never pooled across seeds)."""
    spectrum = last_checkpoint(t["spectrum"]) if len(t["spectrum"]) else t["spectrum"]
    rows, negatives = [], []
    for (task, algo, seed, network), grp in spectrum.groupby(["task", "algo", "seed", "network"]):
        values = np.sort(grp["eigenvalue"].to_numpy())[::-1]
        top, median_abs = values[0], float(np.median(np.abs(values)))
        large = values[np.abs(values) >= top / LARGE]
        ratio = top / median_abs if median_abs > 0 else np.inf
        negative = max(-values[-1], 0.0) / top if top > 0 else np.inf  # 0: no negative eigenvalue
        negatives.append(negative)
        what = f"{algo.upper()} {network}, step {grp['step'].iloc[0]:,}"
        rows += [
            _row(task, algo, seed, f"{what}: bulk near zero", f"largest / median |eigenvalue| = {ratio:.3g}",
                 ratio >= BULK),
            _row(task, algo, seed, f"{what}: a handful of large eigenvalues",
                 f"{len(large)} of {len(values)} within a factor {LARGE} of the largest",
                 len(large) <= HANDFUL * len(values)),
            _row(task, algo, seed, f"{what}: the large ones positive",
                 f"most negative = {negative:.2f} x the largest in magnitude", bool((large > 0).all())),
        ]
    comparisons = _frame(rows)
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), "no full Hessian spectrum in the data")
    ours = (f"{_summary(comparisons)}; the most negative eigenvalue is {min(negatives):.2f}-{max(negatives):.2f} "
            "times the largest in magnitude")
    return Outcome(comparisons, _used(spectrum), ours)


def _c2(t, gradient):
    """Per run and network: the mean S_frac over its analysed checkpoints against k/n and against 1/2."""
    frac = _fractions(t, gradient)
    rows = []
    for (task, algo, seed, network), grp in frac.groupby(["task", "algo", "seed", "network"]):
        value, level = grp["value"].mean(), grp["random_baseline"].mean()
        what = f"{algo.upper()} {network}, mean over {len(grp)} checkpoints"
        rows += [_row(task, algo, seed, f"{what}: far above k/n", f"{value:.3f} = {value / level:.3g} x k/n",
                      value >= FAR_ABOVE * level),
                 _row(task, algo, seed, f"{what}: lies mostly in the subspace", f"{value:.3f}", value > MOSTLY)]
    comparisons = _frame(rows)
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), f"no S_frac at k = {K}")
    mostly = comparisons[comparisons["comparison"].str.endswith("mostly in the subspace")]
    ours = (f"{_summary(comparisons)}; far above k/n in {int((comparisons['passes'].sum() - mostly['passes'].sum()))}"
            f" of {len(mostly)} run-networks, above {MOSTLY} in {int(mostly['passes'].sum())}")
    return Outcome(comparisons, _used(frac), ours)


def _critic_vs_actor(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Critic and actor side by side at the same run and ``keys`` (e.g. the checkpoint)."""
    wide = frame.pivot_table(index=RUN + keys, columns="network", values="value")
    if not set(NETWORKS) <= set(wide.columns):
        return wide.iloc[:0]
    return wide.dropna(subset=list(NETWORKS))


def _c3(t, gradient):
    """Per run: critic against actor at the same checkpoints (S_frac) and the same (t1, t2) (overlap)."""
    frac = _fractions(t, gradient)
    ov = t["subspace_overlap"]
    ov = ov[(ov["k"] == K) & (ov["t1"] > 0) & (ov["t2"] > ov["t1"])]
    rows, gaps = [], []
    pairs = _critic_vs_actor(frac, ["step"])
    for (task, algo, seed, _), grp in pairs.groupby(level=RUN):
        gap = float((grp["critic"] - grp["actor"]).mean())
        gaps.append(gap)
        rows.append(_row(task, algo, seed, f"{algo.upper()} S_frac, critic vs actor at {len(grp)} checkpoints",
                         f"critic {grp['critic'].mean():.3f} vs actor {grp['actor'].mean():.3f}", gap > 0))
    stable = _critic_vs_actor(ov, ["t1", "t2"])
    for (task, algo, seed, _), grp in stable.groupby(level=RUN):
        rows.append(_row(task, algo, seed, f"{algo.upper()} overlap, critic vs actor at {len(grp)} (t1, t2) pairs",
                         f"critic {grp['critic'].mean():.3f} vs actor {grp['actor'].mean():.3f}",
                         grp["critic"].mean() > grp["actor"].mean()))
    comparisons = _frame(rows)
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), "no run with both networks analysed")
    used = pd.concat([_used(frac), _used(ov, "t2")]).drop_duplicates()
    ours = _summary(comparisons) + (f"; S_frac critic - actor: {min(gaps):+.3f} to {max(gaps):+.3f}" if gaps else "")
    return Outcome(comparisons, used, ours)


def _c4(t, gradient):
    """Per task, seed, network and training phase: SAC against PPO; and PPO's actor the lowest of four."""
    frac = _fractions(t, gradient)
    phases = checkpoint_phases(t["learning_curve"], frac)
    part = frac.merge(phases, on=RUN + ["step"])
    means = part.groupby(["task", "seed", "phase", "algo", "network"])["value"].mean().unstack(["algo", "network"])
    rows = []
    for (task, seed, phase), row in means.iterrows():
        for network in NETWORKS:
            ppo, sac = row.get(("ppo", network), np.nan), row.get(("sac", network), np.nan)
            if np.isnan(ppo) or np.isnan(sac):
                continue
            rows.append(_row(task, "ppo, sac", seed, f"{network}, {phase} phase: SAC above PPO",
                             f"SAC {sac:.3f} vs PPO {ppo:.3f}", sac > ppo))
        present = row.dropna()
        if len(present) == 4:
            lowest = present.idxmin()
            rows.append(_row(task, "ppo, sac", seed, f"{phase} phase: PPO's actor the lowest of four",
                             f"lowest: {lowest[0].upper()} {lowest[1]} ({present.min():.3f})",
                             lowest == ("ppo", "actor")))
    comparisons = _frame(rows)
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), "no task with both algorithms in a common training phase")
    matched = {(task, int(seed)) for task, seed in comparisons[["task", "seed"]].itertuples(index=False)}
    used = part[[(task, int(seed)) in matched for task, seed in part[["task", "seed"]].itertuples(index=False)]]
    return Outcome(comparisons, _used(used), _summary(comparisons) + " (training phases matched)")


def _c5(t, gradient):
    """Per run, network and mini-batch variant: against the precise estimate at the same checkpoints,
    where the precise sample has at least PRECISE_OVER_MINIBATCH times the mini-batch side's rows."""
    key = RUN + ["step", "network"]
    precise = _fractions(t, gradient)[key + ["value"]].rename(columns={"value": "precise"})
    n = (t["solver_stats"].pivot_table(index=key, columns="hessian", values="n_samples")
         .rename(columns=lambda h: f"n_{h}").rename_axis(columns=None).reset_index())
    rows, used, left_out = [], [], 0
    for hessian in ("precise", "minibatch"):
        variant = _fractions(t, "minibatch", hessian).merge(precise, on=key).merge(n, on=key, how="left")
        if variant.empty:
            continue
        # the mini-batch side's rows: a mini-batch gradient's batch, or the mini-batch Hessian's sample
        side = variant["n_minibatch"] if hessian == "minibatch" else pd.Series(
            [tasks.algo_config(task, algo).batch_size for task, algo in zip(variant["task"], variant["algo"])],
            index=variant.index, dtype=float)
        enough = variant.get("n_precise", pd.Series(np.nan, index=variant.index)) >= PRECISE_OVER_MINIBATCH * side
        left_out += variant[~enough].groupby(["task", "algo", "seed", "network"]).ngroups
        variant = variant[enough]
        used.append(_used(variant))
        label = f"mini-batch gradient, {'mini-batch' if hessian == 'minibatch' else 'precise'} Hessian"
        for (task, algo, seed, network), grp in variant.groupby(["task", "algo", "seed", "network"]):
            value, reference, level = grp["value"].mean(), grp["precise"].mean(), grp["random_baseline"].mean()
            what = f"{algo.upper()} {network}, {label}, {len(grp)} checkpoints"
            rows += [_row(task, algo, seed, f"{what}: below the precise estimate",
                          f"{value:.3f} vs {reference:.3f}", value < reference),
                     _row(task, algo, seed, f"{what}: far above k/n", f"{value / level:.3g} x k/n",
                          value >= FAR_ABOVE * level)]
    comparisons = _frame(rows)
    note = (f"; {left_out} run-network-variants left out (precise sample under {PRECISE_OVER_MINIBATCH} x the "
            "mini-batch side's rows)") if left_out else ""
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), "no matched mini-batch and precise estimates" + note)
    return Outcome(comparisons, pd.concat(used).drop_duplicates(), _summary(comparisons) + note)


def _c6(t, gradient):
    """Per run and network: the overlap with the subspace at t1 = T1 at every later t2 against k/n, and
    at the last t2 against the paper's plotted value; per run, critic against actor at the same t2. The
    number compared with the paper's: the last-t2 overlap averaged over seeds per task, algorithm and
    network, then over those curves (a task with more seeds weighs no more)."""
    ov = t["subspace_overlap"]
    ov = ov[(ov["k"] == K) & (ov["t2"] > ov["t1"])]
    at = ov[ov["t1"] == T1].sort_values("t2")
    rows, last_values = [], []  # last_values: one row per run and network
    for (task, algo, seed, network), grp in at.groupby(["task", "algo", "seed", "network"]):
        last = grp.iloc[-1]
        lowest = float((grp["value"] / grp["random_baseline"]).min())
        last_values.append({"task": task, "algo": algo, "network": network, "seed": seed, "value": last["value"]})
        what = f"{algo.upper()} {network}"
        rows += [_row(task, algo, seed, f"{what}: far above k/n at every t2 ({len(grp)})",
                      f"lowest {lowest:.3g} x k/n", lowest >= FAR_ABOVE),
                 _row(task, algo, seed, f"{what}: near the paper's value at the last t2",
                      f"{last['value']:.3f} at t2 = {steps_label(last['t2'])}",
                      PAPER_OVERLAP / PAPER_FACTOR <= last["value"] <= PAPER_OVERLAP * PAPER_FACTOR)]
    for (task, algo, seed, _), grp in _critic_vs_actor(at, ["t1", "t2"]).groupby(level=RUN):
        rows.append(_row(task, algo, seed, f"{algo.upper()} critic vs actor at {len(grp)} t2",
                         f"critic {grp['critic'].mean():.3f} vs actor {grp['actor'].mean():.3f}",
                         grp["critic"].mean() > grp["actor"].mean()))
    comparisons = _frame(rows)
    short = runs_without_t1(t["subspace_overlap"][t["subspace_overlap"]["k"] == K], T1)
    note = (f"; runs without t1 = {steps_label(T1)} and a later checkpoint: "
            + ", ".join(sorted({f"{task} {algo.upper()}" for task, algo in zip(short["task"], short["algo"])}))
            ) if len(short) else ""
    if comparisons.empty:
        return Outcome(comparisons, _empty_used(), f"no run reaches t1 = {T1:,} and a later checkpoint" + note)
    number = float(across_seeds(pd.DataFrame(last_values), ["task", "algo", "network"])["mean"].mean()) \
        if last_values else None
    ours = f"{_summary(comparisons)}; mean overlap at the last t2 {number:.3f} (over seeds, then curves)" + note
    return Outcome(comparisons, _used(at, "t2"), ours, number)


CLAIMS = (
    Claim("C1", "A handful of large positive eigenvalues; the bulk near zero (actor and critic).", None, _c1),
    Claim("C2", "The gradient lies mostly in the top-k subspace (k = 100), far above k/n, for every task, "
                "algorithm and network.", None, _c2),
    Claim("C3", "The critic's S_frac is higher than the actor's, and its subspace more stable.", None, _c3),
    Claim("C4", "SAC shows higher S_frac than PPO; PPO's actor is lowest.", None, _c4),
    Claim("C5", "Mini-batch estimates lower S_frac, but it stays far above k/n.", None, _c5),
    Claim("C6", "The overlap of the t1 = 100,000 subspace with later ones stays far above k/n "
                "(about 0.4 in the plotted case), higher for the critic.", PAPER_OVERLAP, _c6),
)


_ESTIMATOR_LABELS = {"precise": "same-sample precise gradient (the Hessian's own N rows)"}


def estimator_label(gradient: str) -> str:
    """How the book names a precise-gradient estimate (a value of the ``gradient`` column)."""
    return _ESTIMATOR_LABELS.get(gradient, f"precise gradient estimate {gradient!r}")


def precise_gradient_estimates() -> tuple[str, ...]:
    """The values of the S_frac table's ``gradient`` column that estimate the precise gradient."""
    column = next(c for c in results.SCHEMAS["gradient_subspace_fraction"] if c.name == "gradient")
    return tuple(v for v in column.allowed if v != "minibatch")


def _outcomes(tables: dict[str, pd.DataFrame], gradient: str) -> dict[str, Outcome]:
    allowed = precise_gradient_estimates()
    if gradient not in allowed:
        raise ValueError(f"gradient must be one of {allowed} (the precise-gradient estimates of the "
                         f"gradient_subspace_fraction table), got {gradient!r}")
    return {claim.name: claim.check(tables, gradient) for claim in CLAIMS}


def _verdict(passes) -> str:
    passes = list(passes)
    if not passes:
        return "untested at our scale"
    return "consistent" if all(passes) else "inconsistent" if not any(passes) else "mixed"


def claim_comparisons(tables: dict[str, pd.DataFrame], gradient: str = "precise") -> pd.DataFrame:
    """Every matched comparison of every claim: claim, task, algo, seed, comparison, ours, passes.

    tables: as ``data.load_tables`` returns (the result tables; the manifest is not needed).
    gradient: the precise-gradient estimate S_frac uses (``precise_gradient_estimates``).
    """
    outcomes = _outcomes(tables, gradient)
    frames = [o.comparisons.assign(claim=name) for name, o in outcomes.items() if len(o.comparisons)]
    return pd.concat(frames, ignore_index=True)[_COMPARISON_COLUMNS] if frames \
        else pd.DataFrame(columns=_COMPARISON_COLUMNS)


def task_verdicts(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per claim and task: how many of its comparisons pass, and the task's verdict."""
    rows = [{"claim": claim, "task": task, "comparisons passing": f"{int(g['passes'].sum())} of {len(g)}",
             "verdict": _verdict(g["passes"])}
            for (claim, task), g in comparisons.groupby(["claim", "task"], sort=True)]
    return pd.DataFrame(rows, columns=["claim", "task", "comparisons passing", "verdict"])


def _summarise(task_rows: pd.DataFrame) -> str:
    """A claim's verdict over its tasks: the tasks' common verdict, else mixed."""
    verdicts = set(task_rows["verdict"])
    return "untested at our scale" if not verdicts else verdicts.pop() if len(verdicts) == 1 else "mixed"


def _evidence(outcome: Outcome, tables: dict[str, pd.DataFrame], gradient: str | None) -> str:
    if outcome.used.empty:
        return "none"
    e = provenance.evidence(outcome.used, tables["solver_stats"])
    text = f"{e['tasks']}; {e['runs']}; {e['seeds']}; {e['steps']}; {e['n']}"
    return text + (f"; S_frac: {estimator_label(gradient)}, k = {K}"
                   if gradient else "")


def _spectrum_rows(tables: dict[str, pd.DataFrame], used: pd.DataFrame) -> str:
    """The rows a full spectrum is computed on (the analysis's ``spectrum_rows`` of each run used)."""
    runs = tables["manifest"].astype({"seed": "int64"}).merge(used[RUN].drop_duplicates().astype({"seed": "int64"}),
                                                             on=RUN)
    rows = sorted({json.loads(p)["analysis"]["spectrum_rows"] for p in runs["params"]})
    return f"; full spectra on at most {', '.join(f'{r:,}' for r in rows)} rows of that sample" if rows else ""


def claims_check(tables: dict[str, pd.DataFrame], gradient: str = "precise") -> pd.DataFrame:
    """One row per claim: the verdict over the tasks (``VERDICTS``), how many comparisons pass, the
    paper's number and our gap to it, the paper's statement, our summary, what the check rests on.

    tables: as ``data.load_tables`` returns. gradient: the precise-gradient estimate S_frac uses.
    """
    outcomes = _outcomes(tables, gradient)
    comparisons = claim_comparisons(tables, gradient)
    by_task = task_verdicts(comparisons)
    rows = []
    for claim in CLAIMS:
        outcome = outcomes[claim.name]
        evidence = _evidence(outcome, tables, gradient if claim.name in ("C2", "C3", "C4", "C5") else None)
        if claim.name == "C1" and not outcome.used.empty:
            evidence += _spectrum_rows(tables, outcome.used)
        if claim.paper_number is None:
            paper_number, gap = "none (stated qualitatively)", "none"
        else:
            paper_number = f"about {claim.paper_number:g}"
            gap = "no number of ours" if outcome.number is None else \
                f"{outcome.number - claim.paper_number:+.2f} ({outcome.number / claim.paper_number:.2f} x the paper's)"
        passing = outcome.comparisons["passes"]
        rows.append({"claim": claim.name, "verdict": _summarise(by_task[by_task["claim"] == claim.name]),
                     "comparisons passing": f"{int(passing.sum())} of {len(passing)}",
                     "paper's number": paper_number, "gap to the paper": gap, "paper": claim.paper,
                     "ours": outcome.ours, "evidence": evidence})
    return pd.DataFrame(rows)


def claims_markdown(table: pd.DataFrame) -> str:
    """``claims_check``'s long texts as Markdown, a paragraph per claim (a table of eight columns of
    prose is unreadable at a page's width)."""
    return "\n\n".join(f"**{row['claim']}** ({row['verdict']}). *The paper:* {row['paper']} *Ours:* {row['ours']}. "
                         f"*Evidence:* {row['evidence']}." for _, row in table.iterrows())


_VERDICT_COLOURS = {"consistent": "#d8f0d8", "inconsistent": "#f6d5d5", "mixed": "#fbeccb",
                    "untested at our scale": "#eeeeee"}


def styled_claims(table: pd.DataFrame):
    """A table of this module (``claims_check``, ``task_verdicts``, ``claim_comparisons``, ``THRESHOLDS``)
    or of ``depth.claims_at_length`` for HTML: no index, text wrapped, verdicts coloured, a comparison's
    pass or fail in words."""
    if "passes" in table:
        table = table.assign(passes=table["passes"].map({True: "passes", False: "fails"}))
    style = table.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "normal"})
    verdicts = [c for c in table.columns if c == "verdict" or c.endswith(": verdict")]
    if verdicts:
        style = style.map(lambda v: f"background-color: {_VERDICT_COLOURS.get(v, '')}", subset=verdicts)
    return style
