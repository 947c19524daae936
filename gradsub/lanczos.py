"""Top-k eigenpairs of a symmetric operator (the Hessian of one network's loss).

"Top" means the k LARGEST ALGEBRAIC eigenvalues (paper, FACTS.md §6): large negative curvature
is never returned unless fewer than k eigenvalues exceed it. Three methods share one interface,
:func:`top_eigenpairs`, and accept any symmetric ``scipy.sparse.linalg.LinearOperator`` of shape
``(n, n)``:

``"arpack"``
    The authors' solver, exactly (FACTS.md §7): ``eigsh(op, k, which="LA", tol=1e-4,
    maxiter=500)`` with ARPACK's default ``ncv`` and a start vector drawn from
    ``np.random.default_rng(seed)`` so that a run repeats exactly. One vector per operator call.
    ARPACK runs in float64 here (the authors' operator was float32, so theirs ran in single
    precision).
``"dense"``
    Materialise the matrix (``op @ I`` in column blocks) and call ``numpy.linalg.eigh``. Small n
    only; :func:`full_spectrum` gives every eigenvalue this way (for the spectrum figure).
``"block"``
    The fast method: a block Krylov-Davidson iteration (block Lanczos in residual form) with
    Rayleigh-Ritz on the whole basis, "+k" thick restart and soft locking. Every operator call
    applies the operator to a BLOCK of vectors, which for a Hessian is one pass over the data, so
    it needs far fewer data passes than ARPACK. It accepts ``warm_start`` vectors (e.g. the
    previous checkpoint's eigenvectors, or those of a Hessian on a subsample), which cut the
    passes further when they are close.

Tolerance (all methods, ARPACK's meaning of ``tol``): a pair (theta, x), ||x|| = 1, is converged
when ``||H x - theta x|| <= tol * max(|theta|, eps**(2/3) * ||H||)``, ||H|| estimated by the
largest |Ritz value| seen. ARPACK tests its own residual estimate with the absolute floor
eps**(2/3); the relative floor here only matters for eigenvalues within ~1e-11 ||H|| of zero.
:class:`SolverStats` records the TRUE relative residual of every returned pair, by default from
one extra block product after the solve, counted apart from the solver's own products.

Choosing ``block_size`` (the one knob): a call with b vectors costs about c0 + b c1 (c0: the pass
over the data, c1: one more vector). Larger b means fewer passes but more products, because a block
Krylov space of b*q vectors has polynomial degree q only. Measured for k = 100 on synthetic spectra
(n = 2000; "easy": outliers + power-law tail, ARPACK 302 products; "hard": top-k at a dense bulk
edge, ARPACK 783), passes / products:

    b       4         8         16        23 (default)   40         115
    easy    77/308    41/328    24/383    18/411         13/496     12/856
    hard    210/840   119/952   67/1066   50/1144        35/1370    40/3725

So b = 4 matches ARPACK's products with ~4x fewer passes, and the default trades ~1.4-1.7x the
products for ~15x fewer passes. Pick b from the operator's measured c0/c1. For
``gradsub.hessian.HessianOperator`` (double backward, CPU, 1 thread, 5.7k-parameter MLP, 2*10^4
rows) c0 ~ 2 c1 and a vector in a block of >= 16 costs ~0.4 of a lone vector; with those costs
the counts above put the default at ~0.6x ARPACK's operator time on both spectra (an estimate
from the counts, not a timed run), and any b in 8..23 within ~5 % of that.

All solver arithmetic is float64 numpy. An operator of another dtype is called with blocks cast to
its dtype and its results are cast back; a float32 operator limits the attainable residual to about
1e-7 * ||H||, i.e. tol = 1e-4 is out of reach for eigenvalues below ~1e-3 * ||H||: use float64.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla

__all__ = [
    "Eigenpairs",
    "SolverStats",
    "CountingOperator",
    "METHODS",
    "top_eigenpairs",
    "full_spectrum",
    "materialise",
    "DENSE_MAX_N",
]

METHODS = ("arpack", "dense", "block")

# eps**(2/3): ARPACK's floor for relative convergence tests near a zero eigenvalue.
_EPS23 = np.finfo(np.float64).eps ** (2.0 / 3.0)

# Largest n that "dense" and full_spectrum materialise by default (8 n^2 bytes = 6.7 GiB).
DENSE_MAX_N = 30_000


@dataclass(frozen=True)
class SolverStats:
    """What a solve cost and how accurate it is.

    Attributes:
        method: "arpack", "dense" or "block".
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


def _check_k(k, n: int, method: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k}")
    if k > n:
        raise ValueError(f"k={k} eigenpairs asked of an operator of size n={n}: k must be <= n")
    if method == "arpack" and k >= n:
        raise ValueError(
            f"method='arpack' needs k < n, got k={k}, n={n}; use method='dense' for k == n"
        )
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
    method: str = "block",
    tol: float = 1e-4,
    seed: int = 0,
    warm_start: np.ndarray | None = None,
    verify: bool = True,
    block_size: int | None = None,
    max_passes: int | None = None,
    max_basis: int | None = None,
    maxiter: int = 500,
) -> Eigenpairs:
    """The k largest algebraic eigenvalues of a symmetric operator and their eigenvectors.

    Args:
        operator: symmetric ``scipy.sparse.linalg.LinearOperator`` of shape (n, n) (any dtype;
            computed in float64). ``matmat`` of a block is taken to be one data pass.
        k: number of eigenpairs, 1 <= k <= n (k < n for "arpack").
        method: "block" (fast, default), "arpack" (the paper's baseline) or "dense" (small n).
        tol: relative residual tolerance, ARPACK's meaning (module docstring).
        seed: seeds every random start vector (``np.random.default_rng(seed)``): same seed, same
            operator -> the same result.
        warm_start: [n, k'] (or [n]) vectors spanning a guess of the top eigenspace, 1 <= k' <= n,
            need not be orthonormal: e.g. the previous checkpoint's eigenvectors, or those of a
            Hessian on a subsample. Used by "block" only: "arpack" (the authors' cold start) and
            "dense" ignore it, and ``stats.warm_started`` says whether it was used.
        verify: spend one extra block product of k vectors to measure the true residuals
            (``stats.check_*``). With False, "block" reports residuals from the products it already
            has (the same quantity up to rounding). "arpack" always checks (it keeps no products);
            "dense" never needs to (it has the matrix).
        block_size: "block" only: vectors per operator call on a cold start (default
            ``max(8, ceil((k + guard) / 5))``, guard = ``max(5, ceil(0.15 k))``: 23 for k = 100).
            Larger blocks need fewer passes but more products (see the module notes). A warm
            start always expands every unconverged pair, up to k + guard vectors per call.
        max_passes: "block" only: give up after this many operator calls (then warns and returns
            ``converged=False``); default ``max(200, ceil(4000 / block_size))``.
        max_basis: "block" only: most basis vectors kept before a restart (default
            ``max(4 (k + guard), k + guard + 3 * block)``, at most n). Memory is about
            ``8 n (2 max_basis + 3 (k + guard))`` bytes: 1.1 GB for n = 144k, k = 100.
        maxiter: "arpack" only: ARPACK's restart limit (paper: 500).

    Returns:
        :class:`Eigenpairs`: values descending, orthonormal vectors [n, k], :class:`SolverStats`.

    Raises:
        ValueError: non-square operator, k out of range, unknown method, bad warm_start shape,
            NaN/inf from the operator.
        RuntimeError: "arpack" did not converge within ``maxiter`` (``scipy``'s ArpackNoConvergence
            is chained).
    """
    n = _check_square(operator)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    k = _check_k(k, n, method)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
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

    counting = CountingOperator(operator)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    if method == "dense":
        H = materialise(counting)
        w, U = np.linalg.eigh(H)
        values, vectors = w[::-1][:k].copy(), U[:, ::-1][:, :k].copy()
        seconds = time.perf_counter() - start
        HV = H @ vectors
        return _finish(values, vectors, HV, counting, seconds, "dense", tol, True, 0, check=(0, 0))
    if method == "arpack":
        v0 = rng.standard_normal(n)
        try:
            w, U = spla.eigsh(counting, k=k, which="LA", tol=tol, maxiter=maxiter, v0=v0)
        except spla.ArpackNoConvergence as err:
            raise RuntimeError(
                f"ARPACK found {len(err.eigenvalues)} of k={k} eigenpairs within maxiter={maxiter} "
                f"({counting.n_products} products); raise maxiter or use method='block'"
            ) from err
        order = np.argsort(w)[::-1]
        values, vectors = w[order], U[:, order]
        seconds = time.perf_counter() - start
        return _finish(values, vectors, None, counting, seconds, "arpack", tol, True, 0)
    values, vectors, HV, converged, iters = _block_krylov_davidson(
        counting, k, tol=tol, rng=rng, warm_start=warm_start, block_size=block_size,
        max_passes=max_passes, max_basis=max_basis,
    )
    seconds = time.perf_counter() - start
    if not converged:
        warnings.warn(
            f"method='block' did not reach tol={tol} for all k={k} pairs within "
            f"{counting.n_data_passes} operator calls (max_passes); "
            "returning the best approximations (see stats.residuals)",
            RuntimeWarning,
            stacklevel=2,
        )
    return _finish(
        values, vectors, None if verify else HV, counting, seconds, "block", tol, converged, iters,
        warm=warm_start is not None,
    )


def _finish(
    values, vectors, HV, counting, seconds, method, tol, converged, iters, check=None, warm=False
):
    """Residuals (from HV if given, else one extra counted block product) and the result object."""
    products, passes = counting.n_products, counting.n_data_passes
    operator_seconds = counting.seconds
    if HV is None:
        HV = counting.matmat(vectors)
        check = (counting.n_products - products, counting.n_data_passes - passes)
    elif check is None:
        check = (0, 0)
    norm = max(float(np.max(np.abs(values))), np.finfo(float).tiny)
    denom = np.maximum(np.abs(values), _EPS23 * norm)
    residuals = np.linalg.norm(HV - vectors * values, axis=0) / denom
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
    )
    return Eigenpairs(values=values, vectors=vectors, stats=stats)


def _orthonormal_complement(D: np.ndarray, V: np.ndarray | None, rng, *, drop: float = 1e-8):
    """Orthonormal basis of span(D) minus span(V) (V orthonormal), rank-revealing.

    Columns of D are normalised first, projected out of V twice (classical Gram-Schmidt: twice is
    enough), and directions whose singular value falls under ``drop`` are discarded (they are
    already in the basis); the count lost is replaced by random directions so the block keeps its
    size (this also restarts the iteration when the basis spans an invariant subspace).
    """
    n, b = D.shape
    D = D / np.maximum(np.linalg.norm(D, axis=0), np.finfo(float).tiny)
    for _ in range(2):
        if V is not None and V.shape[1]:
            D = D - V @ (V.T @ D)
    U, s, _ = scipy.linalg.svd(D, full_matrices=False, check_finite=False)
    keep = s > drop * max(1.0, s[0] if s.size else 1.0)
    Q = U[:, keep]
    m = 0 if V is None else V.shape[1]
    missing = min(b, n - m) - Q.shape[1]
    if missing > 0:
        basis = Q if V is None else np.hstack([V, Q])
        R = rng.standard_normal((n, missing))
        for _ in range(2):
            R = R - basis @ (basis.T @ R)
        Qr, _ = np.linalg.qr(R)
        Q = np.hstack([Q, Qr])
    return Q


def _block_krylov_davidson(op, k, *, tol, rng, warm_start, block_size, max_passes, max_basis):
    """Block residual-expansion Lanczos (Krylov-Davidson) with +k thick restart and soft locking.

    Keeps an orthonormal basis V [n, m] and its image AV = H V, so every Ritz residual is exact
    without new products. Each step: Rayleigh-Ritz on G = V^T H V; keep the LARGEST ALGEBRAIC
    Ritz values (the i-th largest Ritz value never exceeds the i-th largest eigenvalue, so a
    negative eigenvalue is only selected when it truly is among the top k: no shift is needed for
    indefinite Hessians); test the first k; expand V with the residuals of the leading unconverged
    Ritz pairs (converged pairs stay in the basis but are no longer expanded: soft locking), one
    block per operator call. Without restarts the basis
    spans the block Krylov space of the start block (block Lanczos). When it would exceed
    ``max_basis`` the basis restarts to the leading Ritz vectors plus the previous step's Ritz
    vectors (the "+k" of GD+k/LOBPCG, which keeps restarts from slowing convergence).

    Returns (values [k], vectors [n, k], H vectors [n, k], converged, iterations).
    """
    n = op.shape[0]
    guard = min(n - k, max(5, int(np.ceil(0.15 * k))))  # extra Ritz pairs: a gap past the k-th
    nwant = k + guard
    if block_size is None:
        block_size = max(8, int(np.ceil(nwant / 5)))
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if max_passes is None:
        max_passes = max(200, int(np.ceil(4000 / block_size)))
    if warm_start is None:
        block_cap = min(n, block_size)
        start = rng.standard_normal((n, block_cap))
    else:
        # A warm start is usually close in every direction at once: expand all unconverged pairs.
        block_cap = min(n, max(block_size, nwant))
        extra = min(n - warm_start.shape[1], max(guard, nwant - warm_start.shape[1]))
        start = np.hstack([warm_start, rng.standard_normal((n, extra))])
    if max_basis is None:
        max_basis = max(4 * nwant, nwant + 3 * block_cap)
    max_basis = min(n, max(max_basis, start.shape[1] + block_cap, nwant + 2 * block_cap))

    # Preallocated basis and image: columns [0, m) are live (no copies as the basis grows).
    Vbuf = np.empty((n, max_basis), order="F")
    AVbuf = np.empty((n, max_basis), order="F")
    Q = _orthonormal_complement(start, None, rng)
    m = Q.shape[1]
    Vbuf[:, :m] = Q
    AVbuf[:, :m] = op.matmat(Q)
    G = Q.T @ AVbuf[:, :m]
    norm_est = 0.0
    iters = 0
    S_prev = None  # previous step's Ritz coefficients in the current basis (for the +k restart)
    while True:
        iters += 1
        V, AV = Vbuf[:, :m], AVbuf[:, :m]
        G = 0.5 * (G + G.T)
        theta, S = np.linalg.eigh(G)
        theta, S = theta[::-1], S[:, ::-1]
        nw = min(nwant, m)
        X = V @ S[:, :nw]
        AX = AV @ S[:, :nw]
        R = AX - X * theta[:nw]
        rnorm = np.linalg.norm(R, axis=0)
        norm_est = max(norm_est, float(np.max(np.abs(theta))))
        denom = np.maximum(np.abs(theta[:nw]), _EPS23 * norm_est)
        conv = rnorm <= tol * denom
        done = m >= k and bool(np.all(conv[:k]))
        if done or m >= n or op.n_data_passes >= max_passes:
            # m == n: Rayleigh-Ritz on the whole space is exact.
            return theta[:k].copy(), X[:, :k].copy(), AX[:, :k].copy(), done or m >= n, iters

        # Expansion block: residuals of unconverged wanted pairs (top first), then guard pairs.
        b = min(block_cap, n - m)
        wanted = np.flatnonzero(~conv[: min(k, nw)])
        guards = k + np.flatnonzero(~conv[k:nw])
        idx = np.concatenate([wanted, guards])[:b]
        D = R[:, idx]
        del X, AX, R
        if D.shape[1] < b and m < k:  # still building the first k directions
            D = np.hstack([D, rng.standard_normal((n, b - D.shape[1]))])

        if m + D.shape[1] > max_basis:
            keep = max(nw, min(m, max_basis - D.shape[1], nwant + (max_basis - nwant) // 2))
            Z = S[:, :keep]
            room = max_basis - D.shape[1] - keep
            if S_prev is not None and room > 0:
                P = S_prev[:, :room]
                for _ in range(2):
                    P = P - Z @ (Z.T @ P)
                U, sv, _ = np.linalg.svd(P, full_matrices=False)
                Z = np.hstack([Z, U[:, sv > 1e-8]])
            S_cur = Z.T @ S[:, :nw]
            G = Z.T @ G @ Z
            m = Z.shape[1]
            Vbuf[:, :m] = V @ Z
            AVbuf[:, :m] = AV @ Z
        else:
            S_cur = S[:, :nw]

        Q = _orthonormal_complement(D, Vbuf[:, :m], rng)
        AQ = op.matmat(Q)
        C = Vbuf[:, :m].T @ AQ
        G = np.block([[G, C], [C.T, Q.T @ AQ]])
        q = Q.shape[1]
        Vbuf[:, m : m + q] = Q
        AVbuf[:, m : m + q] = AQ
        m += q
        S_prev = np.vstack([S_cur, np.zeros((q, S_cur.shape[1]))])
