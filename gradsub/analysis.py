"""One checkpoint in, every metric of the paper out (the paper, Section 3), with no file I/O.

For each network (actor, critic) the Hessian of its loss is estimated on two data sets, the precise
sample and the mini-batch sample (the paper, Section 4); its top-k eigenvectors span the subspaces, and the
gradient subspace fraction is measured for the four (gradient, Hessian) combinations at every k level,
and with the gradient of an independent precise sample (cross-fitted) against the precise Hessian.
Subspace overlaps between checkpoints are computed after the run from the precise eigenvectors.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from gradsub import NETWORKS
from gradsub.hessian import HessianOperator, gradient
from gradsub.lanczos import Eigenpairs, full_spectrum, top_eigenpairs
from gradsub.losses import NetworkLoss
from gradsub.metrics import (
    gradient_subspace_fraction,
    mean_gradient_subspace_fraction,
    random_baseline,
    subspace_overlap,
)

__all__ = ["AnalysisSettings", "CheckpointAnalysis", "analyse_checkpoint", "overlap_frame", "K_LEVELS"]

ESTIMATES = ("precise", "minibatch")
K_LEVELS = (1, 2, 5, 10, 20, 50, 100)
# Networks up to this size get their full spectrum (Figure 1) at the last checkpoint, on the first
# SPECTRUM_ROWS precise rows (the paper's explicit Hessians are of the small PPO networks).
SPECTRUM_MAX_PARAMS = 6_000
SPECTRUM_ROWS = 10_000


@dataclasses.dataclass(frozen=True)
class AnalysisSettings:
    """How a checkpoint is analysed.

    k: eigenpairs computed per Hessian (the paper: 100).
    method: eigensolver of ``gradsub.lanczos.top_eigenpairs`` ("block" fast default, "arpack" = paper).
    chunk_size: rows per chunk of the Hessian operator (memory, not results, depends on it).
    dense_max_params: networks up to this size also get their full spectrum (Figure 1) when asked.
    spectrum_rows: the full spectrum uses the first this many precise rows (it costs n products).
    tol: relative residual the eigensolver aims for (the paper's eigsh tol).
    """

    k: int = 100
    method: str = "block"
    chunk_size: int = 4096
    dense_max_params: int = SPECTRUM_MAX_PARAMS
    spectrum_rows: int = SPECTRUM_ROWS
    tol: float = 1e-4
    seed: int = 0

    def k_levels(self, n_params: int) -> tuple[int, ...]:
        top = min(self.k, n_params)
        return tuple(k for k in K_LEVELS if k <= top) or (top,)


@dataclasses.dataclass(frozen=True)
class CheckpointAnalysis:
    """Everything measured at one checkpoint.

    subspaces[(network, hessian)]: the top-k eigenpairs (vectors n x k, float64, orthonormal).
    frames[table]: rows for the tables ``eigenvalues``, ``gradient_subspace_fraction``, ``spectrum``,
    ``solver_stats`` and ``timings`` without the run columns (task, algo, seed, profile).
    """

    step: int
    subspaces: dict[tuple[str, str], Eigenpairs]
    frames: dict[str, pd.DataFrame]


def analyse_checkpoint(
    step: int,
    losses: Mapping[str, NetworkLoss],
    precise: Mapping[str, dict],
    minibatches: Mapping[str, Sequence[dict]],
    minibatch_hessian: Mapping[str, dict],
    settings: AnalysisSettings,
    warm_start: Mapping[tuple[str, str], np.ndarray] | None = None,
    spectrum: bool = False,
    independent: Mapping[str, dict] | None = None,
) -> CheckpointAnalysis:
    """Analyse one checkpoint.

    losses[network]: the network's loss at the checkpoint's parameters.
    precise[network]: the precise sample (PPO: N on-policy steps; SAC: the replay buffer).
    minibatches[network]: the mini-batches (each with its own advantage normalisation for PPO).
    minibatch_hessian[network]: all mini-batch samples together (the "mini-batch Hessian" of the paper, Section 4).
    warm_start[(network, hessian)]: eigenvectors of the previous checkpoint (n x k), if any.
    independent[network]: a second precise sample of the same size (None: none): its gradient gives the
    cross-fitted S_frac (gradient "independent", precise Hessian), free of the upward bias the precise
    gradient has from sharing the Hessian's rows.
    spectrum: also compute the full spectrum of the precise Hessian of networks up to
    ``settings.dense_max_params`` parameters, on its first ``settings.spectrum_rows`` rows.
    Products are computed in the dtype of ``loss.theta`` (the job uses float64: tol = 1e-4 on the
    smallest of the top-k eigenvalues is out of float32's reach).
    """
    warm_start = warm_start or {}
    subspaces: dict[tuple[str, str], Eigenpairs] = {}
    rows: dict[str, list[dict]] = {t: [] for t in ("eigenvalues", "gradient_subspace_fraction",
                                                   "spectrum", "solver_stats", "timings")}
    for network in NETWORKS:
        loss = losses[network]
        n_params = int(loss.theta.numel())
        hessian_data = {"precise": precise[network], "minibatch": minibatch_hessian[network]}
        for hessian, batch in hessian_data.items():
            operator = HessianOperator(loss, batch, chunk_size=settings.chunk_size, dtype=loss.theta.dtype)
            warm = warm_start.get((network, hessian))
            pairs = top_eigenpairs(operator, min(settings.k, n_params), method=settings.method,
                                   tol=settings.tol, seed=settings.seed, warm_start=warm)
            subspaces[(network, hessian)] = pairs
            rows["eigenvalues"] += [
                {"step": step, "network": network, "hessian": hessian, "rank": i + 1, "eigenvalue": v}
                for i, v in enumerate(pairs.values)
            ]
            stats = pairs.stats
            rows["solver_stats"].append({
                "step": step, "network": network, "hessian": hessian, "method": stats.method,
                "k": len(pairs.values), "n_params": n_params, "n_samples": _rows(batch),
                "n_products": stats.n_products, "n_data_passes": stats.n_data_passes,
                "max_residual": float(np.max(stats.residuals)), "warm_start": stats.warm_started,
            })
            rows["timings"].append({"stage": f"solve/{network}/{hessian}", "step": step,
                                    "seconds": stats.seconds})
            if spectrum and hessian == "precise" and n_params <= settings.dense_max_params:
                rows_used = {key: t[:settings.spectrum_rows] for key, t in batch.items()}
                dense = HessianOperator(loss, rows_used, chunk_size=settings.chunk_size, dtype=loss.theta.dtype)
                started = time.perf_counter()
                values = full_spectrum(dense)
                rows["timings"].append({"stage": f"spectrum/{network}", "step": step,
                                        "seconds": time.perf_counter() - started})
                rows["spectrum"] += [{"step": step, "network": network, "index": i, "eigenvalue": v}
                                     for i, v in enumerate(values)]

        chunk = settings.chunk_size
        gradients = {
            "precise": gradient(loss, precise[network], chunk_size=chunk).double().numpy(),
            "minibatch": np.stack([gradient(loss, b, chunk_size=chunk).double().numpy()
                                   for b in minibatches[network]]),
        }
        pairs_measured = list(itertools.product(ESTIMATES, ESTIMATES))
        if independent is not None:
            gradients["independent"] = gradient(loss, independent[network], chunk_size=chunk).double().numpy()
            pairs_measured.append(("independent", "precise"))
        for k, (g_name, h_name) in itertools.product(settings.k_levels(n_params), pairs_measured):
            basis = subspaces[(network, h_name)].vectors[:, :k]
            g = gradients[g_name]
            value = (mean_gradient_subspace_fraction(g, basis) if g_name == "minibatch"
                     else gradient_subspace_fraction(g, basis))
            rows["gradient_subspace_fraction"].append({
                "step": step, "network": network, "k": k, "gradient": g_name, "hessian": h_name,
                "value": float(value), "random_baseline": random_baseline(k, n_params),
                "n_params": n_params,
            })
    frames = {table: pd.DataFrame(r) for table, r in rows.items()}
    return CheckpointAnalysis(step=step, subspaces=subspaces, frames=frames)


def overlap_frame(vectors: Mapping[int, Mapping[str, np.ndarray]], k_levels: Sequence[int]) -> pd.DataFrame:
    """S_overlap for every pair of analysed steps t1 <= t2, network and k level.

    vectors[step][network]: precise-Hessian eigenvectors (n x k, columns by descending eigenvalue).
    """
    rows = []
    steps = sorted(vectors)
    for t1, t2 in itertools.combinations_with_replacement(steps, 2):
        for network in NETWORKS:
            v1, v2 = vectors[t1][network], vectors[t2][network]
            n_params = v1.shape[0]
            for k in k_levels:
                if k > min(v1.shape[1], v2.shape[1]):
                    continue
                rows.append({"network": network, "k": k, "t1": t1, "t2": t2,
                             "value": float(subspace_overlap(v1[:, :k], v2[:, :k])),
                             "random_baseline": random_baseline(k, n_params), "n_params": n_params})
    return pd.DataFrame(rows)


def _rows(batch: Mapping[str, torch.Tensor]) -> int:
    return int(next(iter(batch.values())).shape[0])
