"""Mixed precision for the "block" method: iterate with float32 products, certify in the operator's dtype.

float32 products cost about 0.43 of float64 ones on CPU (package notes). Their error is measured on a
row subsample, and the float32 result is accepted only if residual + 2 * error meets tol; otherwise
(also when the float32 phase stalls, ``iteration.STALL_PASSES``) every pair is refined in the
operator's own dtype, starting from the float32 Ritz vectors as a basis.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from gradsub.lanczos.eigenpairs import EPS23
from gradsub.lanczos.iteration import IterationResult
from gradsub.lanczos.operators import CountingOperator

__all__ = ["PRECISIONS", "Precisions", "solve_in_phases"]

PRECISIONS = ("auto", "operator")


class Precisions:
    """The operator of one "block" solve in the precisions it is multiplied in, with their counts.

    ``high`` (the caller's operator, its own dtype) and ``low`` (its float32 twin, when ``precision``
    is "auto" and the operator offers ``with_dtype``; else None) are CountingOperators;
    ``n_products``/``n_data_passes``/``seconds`` are their sums (full data passes only), the counter
    protocol of CountingOperator. Products on a row subsample (the float32 error estimate) are
    counted apart, in ``probe_products`` / ``probe_rows``.
    """

    def __init__(self, counting: CountingOperator, precision: str):
        self.high = counting
        low = _float32_twin(counting.operator) if precision == "auto" else None
        self.low = CountingOperator(low) if low is not None else None
        self.probe_products = 0
        self.probe_rows = 0

    @property
    def n_products(self) -> int:
        return self.high.n_products + (self.low.n_products if self.low is not None else 0)

    @property
    def n_data_passes(self) -> int:
        return self.passes()

    def passes(self) -> int:
        return self.high.n_data_passes + (self.low.n_data_passes if self.low is not None else 0)

    @property
    def seconds(self) -> float:
        return self.high.seconds + (self.low.seconds if self.low is not None else 0.0)

    def matmat(self, X):  # the residual check after the solve: in the operator's own dtype
        return self.high.matmat(X)

    def call_fast(self, fn, *args, **kwargs):
        """Run ``fn(op, ...)`` on the float32 operator; if its loss cannot run in float32 (a module
        held in float64 that theta does not replace), fall back to the caller's operator for good."""
        if self.low is None:
            return fn(self.high, *args, **kwargs)
        try:
            return fn(self.low, *args, **kwargs)
        except RuntimeError as err:
            if "dtype" not in str(err) and "scalar type" not in str(err):
                raise
            warnings.warn(
                "precision='auto': the operator's float32 twin failed with a dtype error "
                f"({str(err).splitlines()[0][:120]}); using the operator's own dtype",
                RuntimeWarning,
                stacklevel=5,  # the caller of top_eigenpairs
            )
            self.low = None
            return fn(self.high, *args, **kwargs)

    def float32_error(self, vectors: np.ndarray) -> float:
        """Largest ||H32 x - H x|| over a few unit vectors (first, middle and last column), on a
        subsample of chunk_size rows."""
        op = self.high.operator
        k = vectors.shape[1]
        X = vectors[:, sorted({0, k // 2, k - 1})]
        if hasattr(op, "subsample"):
            rows = int(getattr(op, "chunk_size", 4096))
            sub = op.subsample(min(rows, int(getattr(op, "n_rows", rows))), seed=0)
            self.probe_rows = int(getattr(sub, "n_rows", 0))
        else:
            sub = op
        high = CountingOperator(sub)
        low = CountingOperator(sub.with_dtype(np.float32))
        diff = high.matmat(X) - low.matmat(X)
        self.probe_products += high.n_products + low.n_products
        return float(np.max(np.linalg.norm(diff, axis=0)))


def solve_in_phases(ops: Precisions, iterate: Callable[..., IterationResult], sizes, warm_start, *,
                    tol: float, max_passes: int, rng) -> IterationResult:
    """The solve, in float32 first when ``ops`` has a float32 twin, then refined if needed.

    ``iterate(op, sizes, warm_start, *, tol, basis=False, floor=0.0)``: ``iteration.iterate`` with
    the solve's settings bound.
    """
    if ops.low is not None:
        result = ops.call_fast(_float32_phase, ops, iterate, sizes, warm_start, tol=tol, rng=rng)
    else:
        result = iterate(ops.high, sizes, warm_start, tol=tol)
    if ops.low is None:  # (also: float32 failed and fell back)
        return result
    error = ops.float32_error(result.vectors)
    norm = max(float(np.max(np.abs(result.values))), np.finfo(float).tiny)
    denom = np.maximum(np.abs(result.values), EPS23 * norm)
    if np.all(result.residual_norms + 2.0 * error <= tol * denom):
        # Met tol with float32's error included (also when the float32 phase ran out of passes
        # short of its own tol / 2).
        return dataclasses.replace(result, float32_error=error, converged=True)
    if not result.converged and ops.passes() >= max_passes:  # the pass budget is spent
        return dataclasses.replace(result, float32_error=error)
    # float32 cannot resolve some pairs (or stalled): refine all of them in the operator's dtype.
    refined = iterate(ops.high, sizes, result.guard_vectors(), tol=tol, basis=True)
    return dataclasses.replace(refined, float32_error=error,
                               iterations=result.iterations + refined.iterations)


def _float32_phase(op, ops: Precisions, iterate, sizes, warm_start, *, tol, rng) -> IterationResult:
    """Iterate with float32 products to tol / 2 (the other half is left for their rounding), but
    no pair below four times the float32 error of a product, measured first on random unit
    vectors: float32 cannot certify residuals below its own error (a spectrum spanning more than
    ~3 decades in its top k), and the refinement in ``solve_in_phases`` takes those pairs from there."""
    if op is ops.high:  # the float32 twin failed: the operator's own dtype throughout
        return iterate(op, sizes, warm_start, tol=tol)
    unit = rng.standard_normal((op.shape[0], 3))
    floor = 4.0 * ops.float32_error(unit / np.linalg.norm(unit, axis=0))
    return iterate(op, sizes, warm_start, tol=0.5 * tol, floor=floor)


def _float32_twin(operator):
    """The operator in float32 if it offers ``with_dtype`` and is not float32 already, else None."""
    if not hasattr(operator, "with_dtype") or np.dtype(operator.dtype) == np.float32:
        return None
    return operator.with_dtype(np.float32)
