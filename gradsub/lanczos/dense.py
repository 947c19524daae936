"""The "dense" method: materialise the matrix and call ``numpy.linalg.eigh`` (small n only)."""

from __future__ import annotations

import time

import numpy as np

from gradsub.lanczos.eigenpairs import Eigenpairs, finish
from gradsub.lanczos.operators import CountingOperator, check_square
from gradsub.lanczos.options import SolveOptions

__all__ = ["DENSE_MAX_N", "full_spectrum", "materialise", "solve_dense"]

# Largest n that "dense" and full_spectrum materialise by default (8 n^2 bytes = 6.7 GiB).
DENSE_MAX_N = 30_000


def materialise(operator, *, block_size: int = 256, max_n: int = DENSE_MAX_N) -> np.ndarray:
    """The operator as a dense symmetric float64 [n, n] array, from ``op @ I`` in column blocks.

    Each block is one operator call. The result is symmetrised, ``(H + H^T) / 2`` (a Hessian from
    double backward is symmetric only up to rounding). Refuses n > ``max_n`` (8 n^2 bytes).
    """
    n = check_square(operator)
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if n > max_n:
        raise ValueError(
            f"a dense {n} x {n} matrix needs {8 * n * n / 2**30:.1f} GiB (n > max_n={max_n}); "
            "use method='block' for top eigenpairs, or raise max_n if the memory is there"
        )
    counting = operator if isinstance(operator, CountingOperator) else CountingOperator(operator)
    H = np.empty((n, n), dtype=np.float64)
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        E = np.zeros((n, stop - start), dtype=np.float64)
        E[np.arange(start, stop), np.arange(stop - start)] = 1.0
        H[:, start:stop] = counting.matmat(E)
    H += H.T
    H *= 0.5
    return H


def full_spectrum(operator, *, block_size: int = 256, max_n: int = DENSE_MAX_N) -> np.ndarray:
    """Every eigenvalue of a symmetric operator, DESCENDING (largest algebraic first), float64 [n].

    Materialises the matrix (n/block_size operator calls, n products, 8 n^2 bytes): small networks
    only (the paper's Figure 1 uses PPO networks, n ~ 5-6k).
    """
    H = materialise(operator, block_size=block_size, max_n=max_n)
    return np.linalg.eigvalsh(H)[::-1].copy()


def solve_dense(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
    start = time.perf_counter()
    H = materialise(counting)
    w, U = np.linalg.eigh(H)
    values, vectors = w[::-1][:k].copy(), U[:, ::-1][:, :k].copy()
    seconds = time.perf_counter() - start
    HV = H @ vectors
    return finish(values, vectors, HV, counting, seconds, "dense", options.tol, True, 0, check=(0, 0))
