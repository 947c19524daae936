"""What every solver returns: the eigenpairs, the solve's cost and the true residuals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EPS23", "Eigenpairs", "SolverStats", "finish"]

# eps**(2/3): ARPACK's floor for relative convergence tests near a zero eigenvalue.
EPS23 = np.finfo(np.float64).eps ** (2.0 / 3.0)


@dataclass(frozen=True)
class SolverStats:
    """What a solve cost and how accurate it is.

    Attributes:
        method: the solver's name in :data:`METHODS`.
        n_products: operator-vector products the SOLVER used (a block of b vectors counts b).
        n_data_passes: operator calls the solver made (a block counts ONE; for a Hessian operator
            each call is one pass over the samples).
        seconds: wall time of the solve (materialising, iterating), without the residual check.
        residuals: [k] true relative residuals ``||H v_i - lambda_i v_i|| / max(|lambda_i|, floor)``
            (floor = eps**(2/3) * max|lambda|), in the order of ``Eigenpairs.values``.
        check_products: products spent on the residual check (k, or 0 when the residuals come from
            products the solver already had: "dense" and ``verify=False``).
        check_passes: operator calls spent on the residual check (1 or 0).
        converged: every returned pair met ``tol`` (for "block": by the solver's own test; the
            residuals above say how the independent check saw it).
        n_iterations: Rayleigh-Ritz steps ("block"), ARPACK restarts are not exposed (0), "dense" 0.
        tol: the tolerance asked for.
        operator_seconds: part of ``seconds`` spent inside the operator (the rest is the solver's
            own linear algebra).
        warm_started: the solve started from ``warm_start`` vectors ("block" given some).
        n_products_float32: part of ``n_products`` done in float32 ("block", precision "auto").
        float32_error: largest measured ||H32 x - H x|| of a unit Ritz vector on a row subsample
            (0 when no float32 products were used); pairs were accepted with residual + 2 * this.
        n_blocks: diagonal blocks "block" solved side by side (1: the whole operator).
        warm_mode: "" (cold), "combination" (start drawn from the warm vectors' span), "basis"
            (every warm vector joined the basis).
        probe_products: products on a row subsample (the float32 error estimate), not counted in
            ``n_products``; ``probe_rows``: that subsample's rows.
    """

    method: str
    n_products: int
    n_data_passes: int
    seconds: float
    residuals: np.ndarray
    check_products: int = 0
    check_passes: int = 0
    converged: bool = True
    n_iterations: int = 0
    tol: float = 1e-4
    operator_seconds: float = 0.0
    warm_started: bool = False
    n_products_float32: int = 0
    float32_error: float = 0.0
    n_blocks: int = 1
    warm_mode: str = ""
    probe_products: int = 0
    probe_rows: int = 0


@dataclass(frozen=True)
class Eigenpairs:
    """Top-k eigenpairs.

    Attributes:
        values: [k] float64, largest algebraic first (descending).
        vectors: [n, k] float64 with orthonormal columns; column i belongs to ``values[i]``.
        stats: cost and accuracy of the solve.
    """

    values: np.ndarray
    vectors: np.ndarray
    stats: SolverStats

    @property
    def k(self) -> int:
        return int(self.values.shape[0])


def finish(
    values, vectors, HV, counting, seconds, method, tol, converged, iters, check=None, warm=False,
    extra=None, check_op=None, residual_norms=None,
):
    """Residuals (from ``residual_norms`` or HV if given, else one extra counted block product)
    and the result object."""
    products, passes = counting.n_products, counting.n_data_passes
    operator_seconds = counting.seconds
    if residual_norms is not None:
        check = (0, 0)
    elif HV is None:
        check_op = counting if check_op is None else check_op
        before = (check_op.n_products, check_op.n_data_passes)
        HV = check_op.matmat(vectors)
        check = (check_op.n_products - before[0], check_op.n_data_passes - before[1])
    elif check is None:
        check = (0, 0)
    norm = max(float(np.max(np.abs(values))), np.finfo(float).tiny)
    denom = np.maximum(np.abs(values), EPS23 * norm)
    if residual_norms is None:
        residual = vectors * values  # one [n, k] temporary: HV - V diag(values) written into it
        residual_norms = np.linalg.norm(np.subtract(HV, residual, out=residual), axis=0)
    residuals = residual_norms / denom
    stats = SolverStats(
        method=method,
        n_products=products,
        n_data_passes=passes,
        seconds=seconds,
        residuals=residuals,
        check_products=check[0],
        check_passes=check[1],
        converged=bool(converged),
        n_iterations=iters,
        tol=tol,
        operator_seconds=operator_seconds,
        warm_started=warm,
        **(extra or {}),
    )
    return Eigenpairs(values=values, vectors=vectors, stats=stats)
