"""The operator as the solvers see it: square, counted, computed in float64, finite."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse.linalg as spla

__all__ = ["CountingOperator", "check_square"]


class CountingOperator(spla.LinearOperator):
    """Wrap a LinearOperator: count products and calls, compute in float64, reject NaN/inf.

    ``n_products`` counts operator-vector products (a block of b counts b) and ``n_data_passes``
    counts calls (a block counts one), whatever the wrapped operator counts itself; ``seconds`` is
    the wall time spent inside the wrapped operator.
    """

    def __init__(self, operator: spla.LinearOperator):
        check_square(operator)
        super().__init__(dtype=np.dtype(np.float64), shape=operator.shape)
        self.operator = operator
        self.n_products = 0
        self.n_data_passes = 0
        self.seconds = 0.0

    def _apply(self, block: np.ndarray) -> np.ndarray:
        op_dtype = getattr(self.operator, "dtype", None)  # (a np.dtype is falsy: no `or` here)
        x = np.asarray(block, dtype=np.float64 if op_dtype is None else op_dtype)
        tic = time.perf_counter()
        y = self.operator.matmat(x) if x.ndim == 2 else self.operator.matvec(x)
        y = np.asarray(y, dtype=np.float64).reshape(block.shape)
        self.seconds += time.perf_counter() - tic
        self.n_products += 1 if block.ndim == 1 else block.shape[1]
        self.n_data_passes += 1
        if not np.all(np.isfinite(y)):
            raise ValueError(
                f"the operator returned non-finite values (NaN or inf) on call "
                f"{self.n_data_passes}: check the loss and the parameters at this checkpoint"
            )
        return y

    def _matvec(self, x):
        return self._apply(np.asarray(x, dtype=np.float64).reshape(-1))

    def _matmat(self, X):
        return self._apply(np.asarray(X, dtype=np.float64))

    def _rmatvec(self, x):  # symmetric
        return self._matvec(x)

    def _adjoint(self):
        return self


def check_square(operator) -> int:
    shape = getattr(operator, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"operator must be a 2-D LinearOperator, got shape {shape!r}")
    if shape[0] != shape[1]:
        raise ValueError(
            f"operator must be square and symmetric, got shape {tuple(shape)} "
            f"({shape[0]} != {shape[1]})"
        )
    return int(shape[0])
