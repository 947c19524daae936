"""The registry of eigensolvers and the one entry point, :func:`top_eigenpairs`."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gradsub.lanczos.arpack import solve_arpack
from gradsub.lanczos.block import solve_block
from gradsub.lanczos.dense import solve_dense
from gradsub.lanczos.eigenpairs import Eigenpairs
from gradsub.lanczos.operators import CountingOperator, check_square
from gradsub.lanczos.options import SolveOptions
from gradsub.lanczos.precision import PRECISIONS

__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "SCALABLE_METHODS", "top_eigenpairs"]

# The method of top_eigenpairs and of an experiment's analysis unless one is named (a key of METHODS).
DEFAULT_METHOD = "block"


@dataclass(frozen=True)
class Method:
    """An eigensolver behind :func:`top_eigenpairs`.

    Attributes:
        name: the ``method`` argument that selects it.
        solve: ``solve(counting, k, rng, options) -> Eigenpairs``: ``counting`` the caller's operator
            wrapped in a :class:`CountingOperator`, 1 <= k <= n already checked, ``rng`` seeded by
            ``seed``, ``options`` the validated keyword arguments.
        summary: one line for help texts.
        scalable: needs memory linear in n (False: materialises the n x n matrix, small networks
            only); only scalable methods are offered for an experiment's analysis (``gradsub.job``).
    """

    name: str
    solve: Callable[[CountingOperator, int, np.random.Generator, SolveOptions], Eigenpairs]
    summary: str
    scalable: bool


# The one list of eigensolvers: adding or swapping a method is one entry here (read-only mapping).
METHODS: Mapping[str, Method] = types.MappingProxyType({m.name: m for m in (
    Method("block", solve_block, "fast: warm-started block Krylov-Davidson, mixed precision", True),
    Method("arpack", solve_arpack, "the paper's baseline: scipy eigsh, one vector per product", True),
    Method("dense", solve_dense, "small n only: numpy.linalg.eigh of the materialised matrix", False),
)})

# Methods an experiment's analysis may use (``gradsub.job``, the CLI, the notebook).
SCALABLE_METHODS: tuple[str, ...] = tuple(name for name, m in METHODS.items() if m.scalable)


def top_eigenpairs(
    operator,
    k: int,
    *,
    method: str = DEFAULT_METHOD,
    tol: float = 1e-4,
    seed: int = 0,
    warm_start: np.ndarray | None = None,
    verify: bool = True,
    block_size: int | None = None,
    max_passes: int | None = None,
    max_basis: int | None = None,
    maxiter: int = 500,
    precision: str = "auto",
    blocks: str | Sequence[int] | None = "auto",
) -> Eigenpairs:
    """The k largest algebraic eigenvalues of a symmetric operator and their eigenvectors.

    Args:
        operator: symmetric ``scipy.sparse.linalg.LinearOperator`` of shape (n, n) (any dtype;
            solver arithmetic in float64). ``matmat`` of a block is taken to be one data pass.
        k: number of eigenpairs, 1 <= k <= n (k < n for "arpack").
        method: a name in :data:`METHODS`: "block" (fast, default), "arpack" (the paper's
            baseline) or "dense" (small n).
        tol: relative residual tolerance, ARPACK's meaning (package notes in ``gradsub.lanczos``).
        seed: seeds every random vector (``np.random.default_rng(seed)``): same seed, same
            operator -> the same result.
        warm_start: [n, k'] (or [n]) vectors spanning a guess of the top eigenspace, 1 <= k' <= n,
            need not be orthonormal: e.g. the previous checkpoint's eigenvectors. "block" only
            ("arpack", the authors' cold start, and "dense" ignore it; ``stats.warm_mode`` says how
            it was used): the first block is drawn from their span, and if the operator maps that
            span into itself to within ``WARM_LEAK`` (a near-exact guess) all of them join the basis.
        verify: spend one extra block product of k vectors, in the operator's own dtype, to measure
            the true residuals (``stats.check_*``). With False, "block" reports residuals from its
            own products (float32 ones when ``precision`` chose float32: see
            ``stats.float32_error``). "arpack" always checks; "dense" never needs to.
        block_size: "block" only: vectors per operator call and diagonal block (default
            ``DEFAULT_BLOCK_SIZE`` = 8; package notes). In the warm "basis" mode every unconverged
            pair is expanded, up to k + guard vectors per call.
        max_passes: "block" only: give up after this many operator calls (then warns and returns
            ``converged=False``); default ``max(200, ceil(4000 / block_size))``.
        max_basis: "block" only: most basis vectors per diagonal block before a restart (default
            ``max(4 (k + guard), k + guard + 3 * block)``, at most the block's size). Memory is
            at most ``16 n max_basis`` bytes (1.1 GB for n = 144k, k = 100), touched only as the
            basis grows.
        maxiter: "arpack" only: ARPACK's restart limit (paper: 500).
        precision: "block" only. "auto": when the operator has ``with_dtype`` (as
            ``gradsub.hessian.HessianOperator``) and is not float32 itself, iterate with float32
            products (about 2.3x cheaper on CPU) to tol / 2, estimate the float32 error of a product
            on a row subsample (``subsample``) in both dtypes, and accept a pair when its residual
            plus twice that error meets tol; pairs that do not are refined with the operator's own
            dtype. "operator": the operator's own dtype throughout.
        blocks: "block" only. "auto": detect an exactly block-diagonal operator (e.g. the SAC
            critic's two independent Q-nets) with one probe product per block and solve the blocks
            side by side, one vector of each packed into every column; None: one block; a sequence
            of block sizes summing to n: those blocks (checked by one probe product).

    Returns:
        :class:`Eigenpairs`: values descending, orthonormal vectors [n, k], :class:`SolverStats`.

    Raises:
        ValueError: non-square operator, k out of range, unknown method/precision/blocks, bad
            warm_start shape, NaN/inf from the operator, given blocks the operator couples.
        RuntimeError: "arpack" did not converge within ``maxiter`` (``scipy``'s ArpackNoConvergence
            is chained).
    """
    n = check_square(operator)
    solver = METHODS.get(method) if isinstance(method, str) else None
    if solver is None:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    k = _check_k(k, n)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if warm_start is not None:
        warm_start = np.asarray(warm_start, dtype=np.float64)
        if warm_start.ndim == 1:
            warm_start = warm_start[:, None]
        if warm_start.ndim != 2 or warm_start.shape[0] != n or not 1 <= warm_start.shape[1] <= n:
            raise ValueError(
                f"warm_start must have shape (n, k') = ({n}, 1..{n}), got {warm_start.shape}"
            )
        if not np.all(np.isfinite(warm_start)):
            raise ValueError("warm_start contains NaN or inf")
    if block_size is not None and (isinstance(block_size, bool) or int(block_size) < 1):
        raise ValueError(f"block_size must be >= 1, got {block_size}")

    counting = CountingOperator(operator)
    options = SolveOptions(tol=tol, warm_start=warm_start, verify=verify, block_size=block_size,
                           max_passes=max_passes, max_basis=max_basis, maxiter=maxiter,
                           precision=precision, blocks=blocks)
    return solver.solve(counting, k, np.random.default_rng(seed), options)


def _check_k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k}")
    if k > n:
        raise ValueError(f"k={k} eigenpairs asked of an operator of size n={n}: k must be <= n")
    return k
