"""The paper's claims, as its results state them, checked against our numbers: one verdict per claim."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from gradsub import tasks
from gradsub.report.data import RUN, last_checkpoint

__all__ = ["CLAIMS", "Claim", "claims_check", "styled_claims"]


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    paper: str
    check: Callable[[dict[str, pd.DataFrame]], tuple[str, str]]  # tables -> (our numbers, verdict)


def _precise(fractions: pd.DataFrame, k: int = 100) -> pd.DataFrame:
    top = fractions[(fractions["gradient"] == "precise") & (fractions["hessian"] == "precise")]
    return top[top["k"] == top.groupby(RUN + ["network"])["k"].transform("max").clip(upper=k)]


def _no_data(*frames: pd.DataFrame) -> bool:
    return any(f.empty for f in frames)


def _c1(t):
    spectrum = last_checkpoint(t["spectrum"])
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
    top = last_checkpoint(_precise(t["gradient_subspace_fraction"]))
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


def styled_claims(claims: pd.DataFrame):
    """The claims table for HTML: wrapped text, verdicts coloured."""
    colours = {"holds": "#d8f0d8", "does not hold": "#f6d5d5", "not enough data": "#eeeeee"}
    return (claims.style.hide(axis="index")
            .map(lambda v: f"background-color: {colours.get(v, '')}", subset=["verdict"])
            .set_properties(**{"text-align": "left", "white-space": "normal"}))
