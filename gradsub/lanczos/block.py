"""The "block" method: warm-started block Krylov-Davidson in mixed precision (package notes).

One solve puts the concerns together: the operator in its precisions (``precision``), its diagonal
blocks (``diagonal_blocks``), the start (``warm_start``) and the iteration (``iteration``).
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from gradsub.lanczos.diagonal_blocks import block_sizes
from gradsub.lanczos.eigenpairs import Eigenpairs, finish
from gradsub.lanczos.iteration import BlockSettings, iterate
from gradsub.lanczos.operators import CountingOperator
from gradsub.lanczos.options import SolveOptions
from gradsub.lanczos.precision import Precisions, solve_in_phases

__all__ = ["DEFAULT_BLOCK_SIZE", "solve_block"]

# Vectors per operator call (per diagonal block) of "block": minimises products + passes * c0/c1
# for c0/c1 ~ 0.6-1.2 (HessianOperator, float32, PPO and SAC networks; package notes).
DEFAULT_BLOCK_SIZE = 8


def solve_block(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
    tol, warm_start = options.tol, options.warm_start
    start = time.perf_counter()
    block_size = DEFAULT_BLOCK_SIZE if options.block_size is None else int(options.block_size)
    max_passes = options.max_passes
    if max_passes is None:
        max_passes = max(200, int(np.ceil(4000 / block_size)))
    ops = Precisions(counting, options.precision)
    settings = BlockSettings(k=k, block_size=block_size, max_passes=max_passes,
                             max_basis=options.max_basis)
    sizes = block_sizes(ops, options.blocks, rng)
    run = functools.partial(iterate, settings=settings, rng=rng, passes=ops.passes)
    result = solve_in_phases(ops, run, sizes, warm_start, tol=tol, max_passes=max_passes, rng=rng)
    seconds = time.perf_counter() - start
    if not result.converged:
        warnings.warn(
            f"method='block' did not reach tol={tol} for all k={k} pairs within "
            f"{ops.passes()} operator calls (max_passes); "
            "returning the best approximations (see stats.residuals)",
            RuntimeWarning,
            stacklevel=3,  # the caller of top_eigenpairs
        )
    extra = dict(
        n_products_float32=ops.low.n_products if ops.low is not None else 0,
        float32_error=result.float32_error,
        n_blocks=len(sizes),
        warm_mode=result.warm_mode,
        probe_products=ops.probe_products,
        probe_rows=ops.probe_rows,
    )
    return finish(
        result.values, result.vectors, None, ops, seconds, "block", tol,
        result.converged, result.iterations, warm=warm_start is not None, extra=extra,
        check_op=counting, residual_norms=None if options.verify else result.residual_norms,
    )
