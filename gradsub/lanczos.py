"""Top-k eigenpairs of a symmetric operator (the Hessian of one network's loss).

"Top" means the k LARGEST ALGEBRAIC eigenvalues (paper, FACTS.md §6): large negative curvature
is never returned unless fewer than k eigenvalues exceed it. Three methods, registered in
:data:`METHODS`, share one interface, :func:`top_eigenpairs`, and accept any symmetric
``scipy.sparse.linalg.LinearOperator`` of shape ``(n, n)``:

``"arpack"``
    ``eigsh(op, k, which="LA", tol=1e-4, maxiter=500)`` with ARPACK's default ``ncv`` and a start
    vector drawn from ``np.random.default_rng(seed)`` so that a run repeats exactly. One vector per
    operator call; ARPACK's arithmetic in float64. ``benchmarks/eigensolver.py`` runs it on the
    paper's operator (``gradsub.hessian.GraphHessianOperator``: one float32 autograd graph over all
    rows) as the baseline the fast method is measured against.
``"dense"``
    Materialise the matrix (``op @ I`` in column blocks) and call ``numpy.linalg.eigh``. Small n
    only; :func:`full_spectrum` gives every eigenvalue this way (for the spectrum figure).
``"block"``
    The fast method: block Krylov-Davidson (block Lanczos in residual form) with Rayleigh-Ritz on
    the whole basis, "+k" thick restart and soft locking, multiplying a BLOCK of vectors per
    operator call (one pass over the data for a Hessian). On top of that, three things that pay on
    real Hessians (measured in ``benchmarks/eigensolver.py``, ``data/benchmarks/``):

    - mixed precision (``precision="auto"``): float32 products for the iteration, which cost about
      0.43 of float64 ones on CPU; their error is measured on a row subsample and the result is
      accepted only if residual + 2 * error meets tol, else refined in the operator's dtype (also
      when the float32 phase stalls: ``_STALL_PASSES`` passes without a new converged pair);
    - block-diagonal operators (``blocks="auto"``): the SAC critic's Hessian is exactly
      block-diagonal (two independent Q-nets). One probe product finds the blocks; each block gets
      its own Krylov space, and every operator column carries one vector of EACH block, so a
      product serves all blocks at once (about half the products for the two Q-nets);
    - warm starts (``warm_start``): the first block is drawn from the span of the given vectors;
      if the operator maps it into that span to within ``WARM_LEAK`` (a near-exact guess), every
      given vector joins the basis and all unconverged pairs are expanded at once (few passes).
      Otherwise the solve continues as a Krylov method from that start: a mediocre guess in the
      basis costs more than it saves (below).

Tolerance (all methods, ARPACK's meaning of ``tol``): a pair (theta, x), ||x|| = 1, is converged
when ``||H x - theta x|| <= tol * max(|theta|, eps**(2/3) * ||H||)``, ||H|| estimated by the
largest |Ritz value| seen. ARPACK tests its own residual estimate with the absolute floor
eps**(2/3); the relative floor here only matters for eigenvalues within ~1e-11 ||H|| of zero.
:class:`SolverStats` records the TRUE relative residual of every returned pair, by default from
one extra block product after the solve in the operator's dtype, counted apart from the solver's.

What bounds the cost (measured on a trained PPO actor Hessian, Walker2D, n = 5,708, dense, k = 100,
tol 1e-4; its top-100 eigenvalues fall only from 1.5 to 0.084, so the end of the top k sits in a
flat part of the spectrum):

    ARPACK (ncv 201)                               457 products
    single-vector Lanczos, never restarted         405
    "block", b = 4 / 8 / 16 / 40                   456 / 488 / 560 / 801 products,
                                                   114 / 61 / 35 / 23 passes
    cold start from a 1/8 (1/2) row subsample's    1,200 (1,300) products-equivalent in all
      top-100 eigenvectors (overlap 0.49, 0.71)
    warm start, previous checkpoint (50k steps     same as cold when drawn from their span;
      earlier, overlap 0.42)                       1,129 products as a basis
    warm basis capturing 99.99 / 99.9999 % of      547 / 330 products
      the top-100 subspace

So a Krylov method needs about 4-5 k products whatever its start, unless the start is nearly
exact, and the cheapest block size minimises products + passes * c0 / c1 (c0: a pass's fixed cost,
c1: one more vector; c0 ~ c1 for ``HessianOperator`` in float32): b = 6-8, the default 8.
Fewer passes need larger blocks and more products (b = 40: 23 passes, 1.7x the products).

All solver arithmetic is float64 numpy. An operator of another dtype is called with blocks cast to
its dtype and its results are cast back; a float32 operator limits the attainable residual to about
1e-7 * ||H||.
"""

from __future__ import annotations

import dataclasses
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla

__all__ = [
    "Eigenpairs",
    "SolverStats",
    "CountingOperator",
    "DEFAULT_METHOD",
    "METHODS",
    "Method",
    "SCALABLE_METHODS",
    "SolveOptions",
    "top_eigenpairs",
    "full_spectrum",
    "materialise",
    "DENSE_MAX_N",
    "DEFAULT_BLOCK_SIZE",
    "PRECISIONS",
    "WARM_LEAK",
]

# The method of top_eigenpairs and of an experiment's analysis unless one is named (a key of METHODS).
DEFAULT_METHOD = "block"

# eps**(2/3): ARPACK's floor for relative convergence tests near a zero eigenvalue.
_EPS23 = np.finfo(np.float64).eps ** (2.0 / 3.0)

# Largest n that "dense" and full_spectrum materialise by default (8 n^2 bytes = 6.7 GiB).
DENSE_MAX_N = 30_000

# Vectors per operator call (per diagonal block) of "block": minimises products + passes * c0/c1
# for c0/c1 ~ 0.6-1.2 (HessianOperator, float32, PPO and SAC networks; module notes).
DEFAULT_BLOCK_SIZE = 8

PRECISIONS = ("auto", "operator")

# A warm start is used as a basis when H maps vectors of its span into it up to this relative part.
# On the PPO actor Hessian (module notes) a basis with leak 1e-2 needed 547 products (cold: 488),
# 3e-3: 433, 1e-3: 330; above ~5e-3 a Krylov start from the span is cheaper.
WARM_LEAK = 3e-3

# Relative size of an off-block image still counted as zero when detecting blocks: structurally
# independent parameters give exact zeros, so anything visibly nonzero means coupling.
_BLOCK_LEAK = 1e-12

# At most this many diagonal blocks are told apart (one probe product each); the rest of the
# operator is one block. Networks give a few blocks (two Q-nets); a diagonal operator would give
# n / 16 and spend the whole pass budget on probes.
_MAX_BLOCKS = 8

# The float32 phase hands over to the operator's dtype after this many iterations without a new
# converged pair among the top k (once the basis holds k + guard vectors): a few pairs at the end of a
# flat tail can stall there for hundreds of passes (Finger-spin SAC critic, 2,048 rows, step 10k: 190
# passes with 4 pairs left per Q-net at 3034fec; with the hand-over 80 passes, 104 s instead of 550 s).
_STALL_PASSES = 25


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


class CountingOperator(spla.LinearOperator):
    """Wrap a LinearOperator: count products and calls, compute in float64, reject NaN/inf.

    ``n_products`` counts operator-vector products (a block of b counts b) and ``n_data_passes``
    counts calls (a block counts one), whatever the wrapped operator counts itself; ``seconds`` is
    the wall time spent inside the wrapped operator.
    """

    def __init__(self, operator: spla.LinearOperator):
        _check_square(operator)
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


def _check_square(operator) -> int:
    shape = getattr(operator, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"operator must be a 2-D LinearOperator, got shape {shape!r}")
    if shape[0] != shape[1]:
        raise ValueError(
            f"operator must be square and symmetric, got shape {tuple(shape)} "
            f"({shape[0]} != {shape[1]})"
        )
    return int(shape[0])


def _check_k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k}")
    if k > n:
        raise ValueError(f"k={k} eigenpairs asked of an operator of size n={n}: k must be <= n")
    return k


def materialise(operator, *, block_size: int = 256, max_n: int = DENSE_MAX_N) -> np.ndarray:
    """The operator as a dense symmetric float64 [n, n] array, from ``op @ I`` in column blocks.

    Each block is one operator call. The result is symmetrised, ``(H + H^T) / 2`` (a Hessian from
    double backward is symmetric only up to rounding). Refuses n > ``max_n`` (8 n^2 bytes).
    """
    n = _check_square(operator)
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
        tol: relative residual tolerance, ARPACK's meaning (module docstring).
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
            ``DEFAULT_BLOCK_SIZE`` = 8; module notes). In the warm "basis" mode every unconverged
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
    n = _check_square(operator)
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


@dataclass(frozen=True)
class SolveOptions:
    """The keyword arguments of :func:`top_eigenpairs` after validation; each solver reads the ones
    it uses (see there)."""

    tol: float
    warm_start: np.ndarray | None
    verify: bool
    block_size: int | None
    max_passes: int | None
    max_basis: int | None
    maxiter: int
    precision: str
    blocks: str | Sequence[int] | None


def _solve_dense(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
    start = time.perf_counter()
    H = materialise(counting)
    w, U = np.linalg.eigh(H)
    values, vectors = w[::-1][:k].copy(), U[:, ::-1][:, :k].copy()
    seconds = time.perf_counter() - start
    HV = H @ vectors
    return _finish(values, vectors, HV, counting, seconds, "dense", options.tol, True, 0, check=(0, 0))


def _solve_arpack(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
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
    return _finish(values, vectors, None, counting, seconds, "arpack", options.tol, True, 0)


def _solve_block(counting: CountingOperator, k: int, rng, options: SolveOptions) -> Eigenpairs:
    tol, warm_start = options.tol, options.warm_start
    start = time.perf_counter()
    block_size = DEFAULT_BLOCK_SIZE if options.block_size is None else int(options.block_size)
    max_passes = options.max_passes
    if max_passes is None:
        max_passes = max(200, int(np.ceil(4000 / block_size)))
    solve = _BlockSolve(counting, k, tol=tol, rng=rng, block_size=block_size,
                        max_passes=max_passes, max_basis=options.max_basis, precision=options.precision)
    sizes = solve.block_sizes(options.blocks)
    result = solve.run(sizes, warm_start)
    seconds = time.perf_counter() - start
    if not result.converged:
        warnings.warn(
            f"method='block' did not reach tol={tol} for all k={k} pairs within "
            f"{solve.passes()} operator calls (max_passes); "
            "returning the best approximations (see stats.residuals)",
            RuntimeWarning,
            stacklevel=3,  # the caller of top_eigenpairs
        )
    extra = dict(
        n_products_float32=solve.low.n_products if solve.low is not None else 0,
        float32_error=result.float32_error,
        n_blocks=len(sizes),
        warm_mode=result.warm_mode,
        probe_products=solve.probe_products,
        probe_rows=solve.probe_rows,
    )
    return _finish(
        result.values, result.vectors, None, solve, seconds, "block", tol,
        result.converged, result.iterations, warm=warm_start is not None, extra=extra,
        check_op=counting, residual_norms=None if options.verify else result.residual_norms,
    )


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
    Method("block", _solve_block, "fast: warm-started block Krylov-Davidson, mixed precision", True),
    Method("arpack", _solve_arpack, "the paper's baseline: scipy eigsh, one vector per product", True),
    Method("dense", _solve_dense, "small n only: numpy.linalg.eigh of the materialised matrix", False),
)})

# Methods an experiment's analysis may use (``gradsub.job``, the CLI, the notebook).
SCALABLE_METHODS: tuple[str, ...] = tuple(name for name, m in METHODS.items() if m.scalable)


def _finish(
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
    denom = np.maximum(np.abs(values), _EPS23 * norm)
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


def _orthonormal_complement(D: np.ndarray, V: np.ndarray | None, rng, *, drop: float = 1e-8,
                            fill: bool = True):
    """Orthonormal basis of span(D) minus span(V) (V orthonormal), rank-revealing.

    Columns of D are normalised first, projected out of V (classical Gram-Schmidt, twice when
    needed), and directions whose singular value falls under ``drop`` are discarded (they are
    already in the basis); with ``fill`` the count lost is replaced by random directions so the
    block keeps its size (this also restarts the iteration when the basis spans an invariant
    subspace).
    """
    n, b = D.shape
    D = D / np.maximum(np.linalg.norm(D, axis=0), np.finfo(float).tiny)
    if V is not None and V.shape[1]:
        # Classical Gram-Schmidt, repeated only when a column lost more than 1 - 1/sqrt(2) of its
        # norm (Kahan's "twice is enough" test): Ritz residuals are orthogonal to V already, so
        # one pass (two reads of V instead of four) usually suffices.
        D = D - V @ (V.T @ D)
        if np.min(np.linalg.norm(D, axis=0), initial=1.0) < 1 / np.sqrt(2):
            D = D - V @ (V.T @ D)
    U, s, _ = scipy.linalg.svd(D, full_matrices=False, check_finite=False)
    keep = s > drop * max(1.0, s[0] if s.size else 1.0)
    Q = U[:, keep]
    if V is not None and V.shape[1] and Q.shape[1] and s[keep][-1] < 1e-2 * s[0]:
        # A direction kept with a small singular value s carries D's rounding in span(V) amplified
        # by 1/s: project once more, or the basis loses orthogonality and Ritz residuals stall at
        # ~||H|| eps / s.
        Q, _ = np.linalg.qr(Q - V @ (V.T @ Q))
    m = 0 if V is None else V.shape[1]
    missing = min(b, n - m) - Q.shape[1]
    if fill and missing > 0:
        basis = Q if V is None else np.hstack([V, Q])
        R = rng.standard_normal((n, missing))
        for _ in range(2):
            R = R - basis @ (basis.T @ R)
        Qr, _ = np.linalg.qr(R)
        Q = np.hstack([Q, Qr])
    return Q


class _Subspace:
    """Rayleigh-Ritz state of one diagonal block (coordinates lo:hi) of the operator.

    Keeps an orthonormal basis V [n_b, m] and its image AV = H_bb V in reserved buffers (no
    copies as the basis grows), the projected matrix G = V^T H V, the previous step's Ritz
    coefficients (for the "+k" restart), and the Ritz values of soft-locked pairs.
    """

    def __init__(self, lo: int, hi: int, max_basis: int):
        self.lo, self.hi = lo, hi
        self.n = hi - lo
        self.max_basis = min(self.n, max_basis)
        # Reserved, not written: only the columns in use are ever touched (read as [:, :m]), so
        # memory grows with the basis up to 16 n max_basis bytes.
        self.V = np.empty((self.n, self.max_basis), order="F")
        self.AV = np.empty((self.n, self.max_basis), order="F")
        self.m = 0
        self.G = np.zeros((0, 0))
        self.M = np.zeros((0, 0))  # AV^T AV: residual norms without forming the residuals
        self.locked = np.zeros(0)  # Ritz values of pairs found converged from the vectors
        self.gram_error = 0.0  # largest |r^2 (Gram) - r^2 (vectors)| seen: the Gram estimate's error
        self.S_prev: np.ndarray | None = None
        self.theta = np.zeros(0)
        self.S = np.zeros((0, 0))

    def add(self, Q: np.ndarray, AQ: np.ndarray) -> None:
        m, q = self.m, Q.shape[1]
        # G = V^T AV is kept unsymmetrised: with float32 products AV^T V differs from V^T AV by
        # ~1e-7 ||H||, and only the exact G keeps the Gram residual formula exact.
        C = self.V[:, :m].T @ AQ
        DE = self.AV[:, :m].T @ np.hstack([AQ, Q])
        D, E = DE[:, :q], DE[:, q:]
        self.G = np.block([[self.G, C], [E.T, Q.T @ AQ]])
        self.M = np.block([[self.M, D], [D.T, AQ.T @ AQ]])
        self.V[:, m : m + q] = Q
        self.AV[:, m : m + q] = AQ
        self.m = m + q
        if self.S_prev is not None:
            self.S_prev = np.vstack([self.S_prev, np.zeros((q, self.S_prev.shape[1]))])

    def rayleigh_ritz(self) -> None:
        theta, S = np.linalg.eigh(0.5 * (self.G + self.G.T))
        self.theta, self.S = theta[::-1], S[:, ::-1]

    def residuals(self, idx) -> np.ndarray:
        """Residuals H x_j - theta_j x_j of the Ritz pairs ``idx`` (block coordinates)."""
        S = self.S[:, idx]
        R = self.AV[:, : self.m] @ S
        R -= self.V[:, : self.m] @ (S * self.theta[idx])
        return R

    def explicit_residual_norms(self, count: int, group: int = 16) -> np.ndarray:
        """||H x_j - theta_j x_j|| from the vectors, ``group`` columns at a time (bounded memory)."""
        out = np.empty(count)
        for lo in range(0, count, group):
            out[lo : lo + group] = np.linalg.norm(self.residuals(slice(lo, min(count, lo + group))), axis=0)
        return out

    def gram_residual_norms(self, count: int) -> np.ndarray:
        """||H x_j - theta_j x_j|| for the first ``count`` Ritz pairs from the Gram matrix:
        s^T M s - theta^2 (V orthonormal, s^T G s = theta). O(m^2 count), no n-sized work, but the
        difference cancels: its error is about sqrt(m eps) ||H|| (``screened_residual_norms``)."""
        S = self.S[:, :count]
        r2 = np.einsum("ij,ij->j", S, self.M @ S) - self.theta[:count] ** 2
        return np.sqrt(np.maximum(r2, 0.0))

    def screened_residual_norms(self, count: int, bound: np.ndarray, norm: float) -> np.ndarray:
        """Residual norms good enough to decide ``r <= bound`` for the first ``count`` pairs.

        The Gram estimate decides the pairs it leaves clearly above their bound; "clearly" means by
        more than its error, which is measured: every pair computed from the vectors compares the two,
        and the margin is twice the largest difference seen (before any, the rounding bound
        ~sqrt(m eps) ||H||). The rest are computed from the vectors, except soft-locked pairs: a pair
        the vectors found at most half its bound, whose Ritz value is still there to within the
        bound, counts as converged without recomputing (a converged Ritz value moves by O(r^2)). The
        margin only decides what is recomputed: the solve ends only after every returned pair is
        checked from the vectors.
        """
        r = self.gram_residual_norms(count)
        if self.gram_error > 0:
            margin = 2.0 * np.sqrt(self.gram_error)
        else:
            margin = 10.0 * np.sqrt(max(self.m, 1) * np.finfo(float).eps) * norm
        theta = self.theta[:count]
        locked = np.zeros(count, dtype=bool)
        if self.locked.size:
            locked = np.min(np.abs(theta[:, None] - self.locked[None, :]), axis=1) <= bound
        near = np.flatnonzero(~locked & (r <= bound + margin))
        gram = r[near]
        for lo in range(0, near.size, 16):
            idx = near[lo : lo + 16]
            r[idx] = np.linalg.norm(self.residuals(idx), axis=0)
        if near.size:
            floor = np.finfo(float).eps * norm**2
            self.gram_error = max(self.gram_error, floor, float(np.max(np.abs(gram**2 - r[near] ** 2))))
        r[locked] = 0.0
        fresh = near[r[near] <= 0.5 * bound[near]]
        self.locked = np.concatenate([self.locked, theta[fresh]]) if fresh.size else self.locked
        return r

    def restart(self, incoming: int, nw: int, nwant: int) -> None:
        """Shrink the basis to the leading Ritz vectors plus the previous step's ("+k") so that
        ``incoming`` new vectors fit."""
        room_total = self.max_basis - incoming
        keep = max(nw, min(self.m, room_total, nwant + (self.max_basis - nwant) // 2))
        Z = self.S[:, :keep]
        room = room_total - keep
        if self.S_prev is not None and room > 0:
            P = self.S_prev[:, :room]
            for _ in range(2):
                P = P - Z @ (Z.T @ P)
            U, sv, _ = np.linalg.svd(P, full_matrices=False)
            Z = np.hstack([Z, U[:, sv > 1e-8]])
        m = Z.shape[1]
        self.V[:, :m] = self.V[:, : self.m] @ Z
        self.AV[:, :m] = self.AV[:, : self.m] @ Z
        self.G = Z.T @ self.G @ Z
        self.M = Z.T @ self.M @ Z
        self.S_prev = Z.T @ self.S[:, :nw]  # the current Ritz vectors, for the next restart
        self.m = m

    def remember(self, count: int) -> None:
        self.S_prev = self.S[:, :count].copy()


@dataclass(frozen=True)
class _Result:
    values: np.ndarray
    vectors: np.ndarray
    residual_norms: np.ndarray  # from the solver's own products
    converged: bool
    iterations: int
    warm_mode: str
    float32_error: float = 0.0
    guard_vectors: Callable[[], np.ndarray] | None = None  # the k + guard Ritz vectors, on demand


class _BlockSolve:
    """The "block" method: counted operators, block detection, precision phases, and the iteration.

    Counts: ``self.high`` (the caller's operator, its own dtype) and ``self.low`` (float32, when
    ``precision`` chose it) are CountingOperators; ``n_products``/``n_data_passes`` are their sums
    (full data passes only); products on a row subsample (the float32 error estimate) are counted in
    ``probe_products`` / ``probe_rows``.
    """

    def __init__(self, counting, k, *, tol, rng, block_size, max_passes, max_basis, precision):
        self.high = counting
        self.k, self.tol, self.rng = k, tol, rng
        self.block_size, self.max_passes, self.max_basis = block_size, max_passes, max_basis
        self.low = _float32_twin(counting.operator) if precision == "auto" else None
        self.low = CountingOperator(self.low) if self.low is not None else None
        self.probe_products = 0
        self.probe_rows = 0

    # Counter protocol of CountingOperator, summed over both precisions (for _finish).
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

    def matmat(self, X):  # only used by _finish when verify=True: goes to high
        return self.high.matmat(X)

    def _fast(self):
        return self.low if self.low is not None else self.high

    def _call_fast(self, fn, *args, **kwargs):
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
                stacklevel=4,
            )
            self.low = None
            return fn(self.high, *args, **kwargs)

    # --- block structure --------------------------------------------------------------------------

    def block_sizes(self, blocks) -> list[int]:
        n = self.high.shape[0]
        if blocks is None:
            return [n]
        if isinstance(blocks, str):
            if blocks != "auto":
                raise ValueError(f"blocks must be 'auto', None or a sequence of sizes, got {blocks!r}")
            return self._call_fast(self._detect_blocks)
        sizes = [int(s) for s in blocks]
        if any(s < 1 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"blocks must be positive sizes summing to n={n}, got {sizes}")
        if len(sizes) > 1:
            self._call_fast(self._check_blocks, sizes)
        return sizes

    def _detect_blocks(self, op) -> list[int]:
        """Split points of an exactly block-diagonal operator, found with products.

        A random vector on the first few coordinates of the remaining range maps to a vector whose
        last nonzero entry ends its block (a parameter couples with every parameter of its own
        network); the split is kept only if a random vector on everything after it has no image
        before it (checked in the next call). One call per block, with two columns.
        """
        n = op.shape[0]
        splits: list[int] = []
        lo = 0
        pending: int | None = None  # a split to verify
        while True:
            cols = []
            if pending is not None:
                v = np.zeros(n)
                v[pending:] = self.rng.standard_normal(n - pending)
                cols.append(v)
            probe = None
            if lo < n:
                probe = np.zeros(n)
                width = min(16, n - lo)
                probe[lo : lo + width] = self.rng.standard_normal(width)
                cols.append(probe)
            Y = op.matmat(np.stack(cols, axis=1))
            col = 0
            if pending is not None:
                y = Y[:, 0]
                col = 1
                leak = np.max(np.abs(y[:pending]), initial=0.0)
                if leak > _BLOCK_LEAK * max(np.max(np.abs(y)), np.finfo(float).tiny):
                    return _sizes(splits, n)  # coupled after all: stop at the verified splits
                splits.append(pending)
                pending = None
            if probe is None:
                return _sizes(splits, n)
            nonzero = np.flatnonzero(Y[:, col])
            last = int(nonzero[-1]) if nonzero.size else n - 1
            end = max(last + 1, lo + min(16, n - lo))
            if end >= n or len(splits) + 1 >= _MAX_BLOCKS:
                return _sizes(splits, n)
            pending, lo = end, end

    def _check_blocks(self, op, sizes) -> None:
        n = op.shape[0]
        bounds = np.cumsum([0] + list(sizes))
        X = np.zeros((n, len(sizes)))
        for j in range(len(sizes)):
            X[bounds[j] : bounds[j + 1], j] = self.rng.standard_normal(sizes[j])
        Y = op.matmat(X)
        for j in range(len(sizes)):
            outside = np.concatenate([Y[: bounds[j], j], Y[bounds[j + 1] :, j]])
            if np.max(np.abs(outside), initial=0.0) > _BLOCK_LEAK * max(np.max(np.abs(Y[:, j])), 1e-300):
                raise ValueError(
                    f"blocks={list(sizes)}: the operator couples block {j} "
                    f"(coordinates {bounds[j]}:{bounds[j + 1]}) with others; it is not block-diagonal "
                    "with these sizes (use blocks='auto' or None)"
                )

    # --- the solve --------------------------------------------------------------------------------

    def run(self, sizes, warm_start) -> _Result:
        tol = self.tol
        if self.low is not None:
            result = self._call_fast(self._float32_phase, sizes, warm_start)
        else:
            result = self._iterate(self.high, sizes, warm_start, tol=tol)
        if self.low is None:  # (also: float32 failed and fell back)
            return result
        error = self._float32_error(result.vectors)
        norm = max(float(np.max(np.abs(result.values))), np.finfo(float).tiny)
        denom = np.maximum(np.abs(result.values), _EPS23 * norm)
        if np.all(result.residual_norms + 2.0 * error <= tol * denom):
            # Met tol with float32's error included (also when the float32 phase ran out of passes
            # short of its own tol / 2).
            return dataclasses.replace(result, float32_error=error, converged=True)
        if not result.converged and self.passes() >= self.max_passes:  # the pass budget is spent
            return dataclasses.replace(result, float32_error=error)
        # float32 cannot resolve some pairs (or stalled): refine all of them in the operator's dtype.
        refined = self._iterate(self.high, sizes, result.guard_vectors(), tol=tol, basis=True)
        return dataclasses.replace(refined, float32_error=error,
                                   iterations=result.iterations + refined.iterations)

    def _float32_phase(self, op, sizes, warm_start) -> _Result:
        """Iterate with float32 products to tol / 2 (the other half is left for their rounding), but
        no pair below four times the float32 error of a product, measured first on random unit
        vectors: float32 cannot certify residuals below its own error (a spectrum spanning more than
        ~3 decades in its top k), and the refinement in ``run`` takes those pairs from there."""
        if op is self.high:  # the float32 twin failed: the operator's own dtype throughout
            return self._iterate(op, sizes, warm_start, tol=self.tol)
        unit = self.rng.standard_normal((op.shape[0], 3))
        floor = 4.0 * self._float32_error(unit / np.linalg.norm(unit, axis=0))
        return self._iterate(op, sizes, warm_start, tol=0.5 * self.tol, floor=floor)

    def _float32_error(self, vectors: np.ndarray) -> float:
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

    def _iterate(self, op, sizes, warm_start, *, tol, basis=False, floor=0.0) -> _Result:
        """Block Krylov-Davidson on every diagonal block at once (module notes). A pair converges
        when its residual is at most max(tol * max(|theta|, eps^(2/3) ||H||), floor)."""
        k, rng = self.k, self.rng
        n = op.shape[0]
        guard = min(n - k, max(5, int(np.ceil(0.15 * k))))
        nwant = k + guard
        b = self.block_size
        max_basis = self.max_basis
        if max_basis is None:
            max_basis = max(4 * nwant, nwant + 3 * b)
        bounds = np.cumsum([0] + list(sizes))
        subs = [_Subspace(int(lo), int(hi), max(max_basis, min(nwant, hi - lo) + 2 * b))
                for lo, hi in zip(bounds[:-1], bounds[1:])]

        # Start: random blocks, or vectors from the warm start's span (module notes).
        warm_bases = [None] * len(subs)
        starts = []
        for i, s in enumerate(subs):
            Wb = None
            if warm_start is not None:
                Wb = _orthonormal_complement(warm_start[s.lo : s.hi], None, rng, fill=False,
                                             drop=1e-6)
                if Wb.shape[1] == 0:
                    Wb = None
            warm_bases[i] = Wb
            if Wb is not None and basis:
                starts.append(Wb)
            elif Wb is not None:
                starts.append(Wb @ rng.standard_normal((Wb.shape[1], min(b, Wb.shape[1]))))
            else:
                starts.append(rng.standard_normal((s.n, min(b, s.n))))
        mode = "" if warm_start is None else ("basis" if basis else "combination")
        self._expand(op, subs, starts)

        if mode == "combination":
            leak = 0.0
            for s, Wb in zip(subs, warm_bases):
                if Wb is None:
                    continue
                AY = s.AV[:, : s.m]
                outside = AY - Wb @ (Wb.T @ AY)
                leak = max(leak, np.linalg.norm(outside) / max(np.linalg.norm(AY), 1e-300))
            if leak <= WARM_LEAK:
                mode = "basis"
                self._expand(op, subs, [Wb if Wb is not None else None for Wb in warm_bases])

        norm_est = 0.0
        iters = 0
        fewest_left, progress_at = k, 0  # stall watch of the float32 phase (floor > 0)
        while True:
            iters += 1
            ranked = []
            for i, s in enumerate(subs):
                s.rayleigh_ritz()
                ranked += [(s.theta[j], i, j) for j in range(min(s.m, nwant))]
            ranked.sort(key=lambda t: -t[0])
            top = ranked[:nwant]
            counts = [0] * len(subs)
            kcounts = [0] * len(subs)
            for rank, (_, i, _) in enumerate(top):
                counts[i] += 1
                kcounts[i] += rank < k
            norm_est = max(norm_est, max(float(np.max(np.abs(s.theta))) for s in subs if s.m))
            limits = [np.maximum(tol * np.maximum(np.abs(s.theta[:c]), _EPS23 * norm_est), floor)
                      for s, c in zip(subs, counts)]

            def finished(conv):
                return len(top) >= k and all(bool(np.all(cv[:kc])) for cv, kc in zip(conv, kcounts))

            rnorms = [s.screened_residual_norms(c, bd, norm_est) for s, c, bd in zip(subs, counts, limits)]
            conv = [r <= bd for r, bd in zip(rnorms, limits)]
            done = finished(conv)
            complete = all(s.m >= s.n for s in subs)
            left = sum(int(np.count_nonzero(~cv[:kc])) for cv, kc in zip(conv, kcounts))
            if left < fewest_left or any(s.m < min(nwant, s.n) for s in subs):
                # (a basis smaller than the wanted pairs is still building up, not stalled)
                fewest_left, progress_at = left, iters
            stalled = floor > 0 and iters - progress_at >= _STALL_PASSES
            if done or complete or stalled or self.passes() >= self.max_passes:
                # The answer's residuals always come from the vectors, every returned pair at once.
                rnorms = [s.explicit_residual_norms(c) for s, c in zip(subs, counts)]
                conv = [r <= bd for r, bd in zip(rnorms, limits)]
                done = finished(conv)
                if done or complete or stalled or self.passes() >= self.max_passes:
                    return self._assemble(subs, top, rnorms, k, n, done or complete, iters, mode)
                for s in subs:  # a soft-locked pair moved: check every pair again
                    s.locked = np.zeros(0)

            cap = nwant if mode == "basis" else b
            wanted = []
            for cv, kc, c in zip(conv, kcounts, counts):
                wanted.append(np.concatenate([np.flatnonzero(~cv[:kc]), kc + np.flatnonzero(~cv[kc:c])]))
            cols = min(cap, max(len(w) for w in wanted))
            blocks_D = []
            for s, w, c in zip(subs, wanted, counts):
                take = min(cols, s.n - s.m)
                if take <= 0:
                    blocks_D.append(None)
                    continue
                # Residuals of the chosen pairs; spare columns (free in a packed product) take the
                # next Ritz pairs of this block, then random directions.
                idx = list(w[:take])
                idx += list(range(c, min(s.m, c + take - len(idx))))
                D = s.residuals(idx)
                if D.shape[1] < take:
                    D = np.hstack([D, rng.standard_normal((s.n, take - D.shape[1]))])
                if s.m + D.shape[1] > s.max_basis:
                    s.restart(D.shape[1], c, nwant)
                else:
                    s.remember(c)
                blocks_D.append(D)
            self._expand(op, subs, blocks_D)

    def _expand(self, op, subs, blocks_D) -> None:
        """Orthonormalise each block's new directions against its basis, multiply all blocks'
        directions in ONE packed operator call, and add them to the bases."""
        Qs = []
        for s, D in zip(subs, blocks_D):
            if D is None or D.shape[1] == 0 or s.m >= s.n:
                Qs.append(None)
                continue
            Q = _orthonormal_complement(D, s.V[:, : s.m] if s.m else None, self.rng)
            Qs.append(Q if Q.shape[1] else None)
        cols = max((Q.shape[1] for Q in Qs if Q is not None), default=0)
        if cols == 0:
            return
        n = op.shape[0]
        X = np.zeros((n, cols))
        for s, Q in zip(subs, Qs):
            if Q is not None:
                X[s.lo : s.hi, : Q.shape[1]] = Q
        Y = op.matmat(X)
        for s, Q in zip(subs, Qs):
            if Q is not None:
                s.add(Q, Y[s.lo : s.hi, : Q.shape[1]])

    @staticmethod
    def _assemble(subs, top, rnorms, k, n, converged, iters, mode) -> _Result:
        def gather(count):
            vectors = np.zeros((n, count))
            for i, s in enumerate(subs):
                ranks = [r for r, (_, b, _) in enumerate(top[:count]) if b == i]
                if ranks:
                    cols = [top[r][2] for r in ranks]
                    vectors[s.lo : s.hi, ranks] = s.V[:, : s.m] @ s.S[:, cols]
            return vectors

        kk = min(k, len(top))
        values = np.array([t[0] for t in top[:kk]])
        norms = np.array([rnorms[i][j] for _, i, j in top[:kk]])
        return _Result(values=values, vectors=gather(kk), residual_norms=norms, converged=converged,
                       iterations=iters, warm_mode=mode, guard_vectors=lambda: gather(len(top)))


def _sizes(splits: list[int], n: int) -> list[int]:
    points = [0] + splits + [n]
    return [b - a for a, b in zip(points[:-1], points[1:])]


def _float32_twin(operator):
    """The operator in float32 if it offers ``with_dtype`` and is not float32 already, else None."""
    if not hasattr(operator, "with_dtype") or np.dtype(operator.dtype) == np.float32:
        return None
    return operator.with_dtype(np.float32)
