"""The "arpack" method, the paper's baseline: scipy's ``eigsh`` (which="LA"), one vector per product."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse.linalg as spla

from gradsub.lanczos.eigenpairs import Eigenpairs, finish
from gradsub.lanczos.operators import CountingOperator
from gradsub.lanczos.options import SolveOptions

__all__ = ["solve_arpack"]


def solve_arpack(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
    n = counting.shape[0]
    if k >= n:
        raise ValueError(
            f"method='arpack' needs k < n, got k={k}, n={n}; use method='dense' for k == n"
        )
    start = time.perf_counter()
    v0 = rng.standard_normal(n)
    try:
        w, U = spla.eigsh(counting, k=k, which="LA", tol=options.tol, maxiter=options.maxiter, v0=v0)
    except spla.ArpackNoConvergence as err:
        raise RuntimeError(
            f"ARPACK found {len(err.eigenvalues)} of k={k} eigenpairs within maxiter={options.maxiter} "
            f"({counting.n_products} products); raise maxiter or use method='block'"
        ) from err
    order = np.argsort(w)[::-1]
    values, vectors = w[order], U[:, order]
    seconds = time.perf_counter() - start
    return finish(values, vectors, None, counting, seconds, "arpack", options.tol, True, 0)
