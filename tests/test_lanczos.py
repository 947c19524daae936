"""gradsub.lanczos against numpy.linalg.eigh in float64 (the oracle), on Hessian-like spectra."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch

from gradsub.lanczos import (
    CountingOperator,
    Eigenpairs,
    full_spectrum,
    materialise,
    top_eigenpairs,
)

torch.set_num_threads(1)

TOL = 1e-4  # the paper's eigsh tol; every method must meet it as a relative residual


def _orthogonal(n: int, seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return Q


def _matrix(eigenvalues: np.ndarray, seed: int = 1) -> np.ndarray:
    Q = _orthogonal(len(eigenvalues), seed)
    H = (Q * eigenvalues) @ Q.T
    return 0.5 * (H + H.T)


def hessian_like(n: int, seed: int = 0) -> np.ndarray:
    """Paper claim C1: a few large positive outliers, a near-zero bulk, tails of both signs, and one
    negative eigenvalue larger in magnitude than most positive ones."""
    rng = np.random.default_rng(seed)
    outliers = np.array([400.0, 150.0, 60.0, 25.0, 12.0])
    n_pos, n_neg = n // 4, n // 5
    pos = 5.0 * np.arange(1, n_pos + 1) ** -1.0 * np.exp(0.05 * rng.standard_normal(n_pos))
    neg = -2.0 * np.arange(1, n_neg + 1) ** -1.0
    neg[0] = -300.0
    bulk = 1e-4 * rng.standard_normal(n - len(outliers) - n_pos - n_neg)
    return np.sort(np.concatenate([outliers, pos, neg, bulk]))[::-1]


def _overlap(V1: np.ndarray, V2: np.ndarray) -> float:
    """||V1^T V2||_F^2 / k for orthonormal [n, k] bases (1 = same subspace)."""
    return float(np.linalg.norm(V1.T @ V2) ** 2 / V1.shape[1])


def _eigh_descending(H: np.ndarray):
    lam, U = np.linalg.eigh(H)
    return lam[::-1], U[:, ::-1]


def _check_against_eigh(result: Eigenpairs, H: np.ndarray, k: int, *, gap_at=None, eig=None):
    """Compare with the float64 oracle; ``eig`` = precomputed (values, vectors) descending."""
    lam, U = _eigh_descending(H) if eig is None else eig
    assert result.values.shape == (k,) and result.vectors.shape == (H.shape[0], k)
    assert result.values.dtype == np.float64 and result.vectors.dtype == np.float64
    assert np.all(np.diff(result.values) <= 0), "values must be descending"
    # Orthonormal to rounding (Rayleigh-Ritz vectors of an orthonormal basis).
    np.testing.assert_allclose(result.vectors.T @ result.vectors, np.eye(k), atol=1e-10)
    # True relative residuals, recomputed here, meet tol (1 % slack for the rounding of two
    # different evaluations of the same residual).
    res = np.linalg.norm(H @ result.vectors - result.vectors * result.values, axis=0)
    assert np.all(res <= 1.01 * TOL * np.abs(result.values))
    np.testing.assert_allclose(
        result.stats.residuals, res / np.abs(result.values), rtol=1e-6, atol=1e-12
    )
    # |theta - lambda| <= ||r|| for the nearest eigenvalue; paired right, that is <= tol |theta|.
    np.testing.assert_allclose(result.values, lam[:k], rtol=1.01 * TOL, atol=0)
    if gap_at is not None:  # individual vectors inside a cluster are arbitrary: compare at a gap
        assert _overlap(result.vectors[:, :gap_at], U[:, :gap_at]) >= 0.99


@pytest.fixture(scope="module")
def hessian_matrix():
    return _matrix(hessian_like(600))


@pytest.fixture(scope="module")
def hessian_eig(hessian_matrix):
    """The oracle for hessian_matrix, computed once (eigh is the slow part of these tests)."""
    return _eigh_descending(hessian_matrix)


@pytest.mark.parametrize("method", ["block", "arpack", "dense"])
def test_top_eigenpairs_match_eigh_on_hessian_like_spectrum(hessian_matrix, hessian_eig, method):
    k = 30
    result = top_eigenpairs(spla.aslinearoperator(hessian_matrix), k, method=method)
    # The five outliers end at index 5: a gap where the subspace is defined.
    _check_against_eigh(result, hessian_matrix, k, gap_at=5, eig=hessian_eig)
    assert result.stats.method == method
    assert result.stats.converged
    assert result.values.min() > 0, "the -300 eigenvalue must never be among the top"


def test_block_needs_far_fewer_passes_than_arpack(hessian_matrix):
    op = spla.aslinearoperator(hessian_matrix)
    block = top_eigenpairs(op, 30, method="block").stats
    arpack = top_eigenpairs(op, 30, method="arpack").stats
    assert arpack.n_data_passes == arpack.n_products  # one vector per call
    assert block.n_data_passes * 5 <= arpack.n_data_passes
    assert block.n_products < 3 * arpack.n_products
    # One extra block product measures the residuals, counted apart from the solver's own.
    assert (block.check_passes, block.check_products) == (1, 30)
    assert (arpack.check_passes, arpack.check_products) == (1, 30)


def test_steep_spectrum_converges_where_gram_residuals_cancel():
    # Four decades between the first and the 60th eigenvalue (real critic Hessians span up to ~3),
    # so tol * lambda_60 ~ 1e-8 ||H||: the Gram residual estimate cannot resolve it and the
    # residuals near the threshold must come from the vectors.
    rng = np.random.default_rng(7)
    lam = np.concatenate([1e3 * np.logspace(0, -4, 80), 1e-2 * rng.standard_normal(520)])
    H = _matrix(np.sort(lam)[::-1], seed=8)
    result = top_eigenpairs(spla.aslinearoperator(H), 60, method="block")
    assert result.stats.converged
    _check_against_eigh(result, H, 60, gap_at=60)


def test_a_diagonal_operator_is_not_split_into_hundreds_of_blocks():
    # Exactly block-diagonal at every coordinate: block detection stops at a few blocks instead
    # of spending the pass budget on one probe per 16 coordinates.
    lam = np.sort(np.concatenate([np.linspace(10.0, 1.0, 20), np.linspace(-0.5, 0.5, 1980)]))[::-1]
    perm = np.random.default_rng(9).permutation(2000)
    H = np.diag(lam[perm])
    result = top_eigenpairs(spla.aslinearoperator(H), 10, method="block")
    assert result.stats.converged and result.stats.n_blocks <= 8
    np.testing.assert_allclose(result.values, lam[:10], rtol=TOL)


def test_large_negative_eigenvalues_are_never_top():
    # Top algebraic: 3 > 2 > 1 > small bulk; magnitudes dominated by -1000.
    lam = np.concatenate([[3.0, 2.0, 1.0], np.linspace(-0.1, 0.1, 297), [-1000.0, -999.0, -500.0]])
    H = _matrix(np.sort(lam)[::-1], seed=3)
    for method in ("block", "arpack", "dense"):
        result = top_eigenpairs(spla.aslinearoperator(H), 3, method=method)
        np.testing.assert_allclose(result.values, [3.0, 2.0, 1.0], rtol=TOL)


def test_clustered_top_eigenvalues_give_the_cluster_subspace():
    # 8 eigenvalues within 1e-6 of 10, a gap, then 5 within 1e-6 of 5, then a bulk below 1.
    rng = np.random.default_rng(4)
    lam = np.concatenate(
        [10 + 1e-6 * rng.random(8), 5 + 1e-6 * rng.random(5), rng.uniform(-1, 1, 387), [-40.0]]
    )
    H = _matrix(np.sort(lam)[::-1], seed=5)
    for method in ("block", "arpack"):
        result = top_eigenpairs(spla.aslinearoperator(H), 13, method=method)
        _check_against_eigh(result, H, 13, gap_at=8)
        _check_against_eigh(result, H, 13, gap_at=13)


def test_k_equal_to_block_and_larger_than_first_block():
    H = _matrix(hessian_like(300, seed=2), seed=6)
    for k, block_size in ((8, 8), (40, 8), (1, 1)):
        result = top_eigenpairs(spla.aslinearoperator(H), k, block_size=block_size)
        _check_against_eigh(result, H, k)


def test_arpack_repeats_exactly_with_the_same_seed(hessian_matrix):
    op = spla.aslinearoperator(hessian_matrix)
    a = top_eigenpairs(op, 10, method="arpack", seed=7)
    # The baseline is always the authors' cold start: warm_start is ignored (and says so).
    b = top_eigenpairs(op, 10, method="arpack", seed=7, warm_start=np.ones((600, 10)))
    assert not b.stats.warm_started
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert a.stats.n_products == b.stats.n_products


def test_block_repeats_exactly_with_the_same_seed(hessian_matrix):
    op = spla.aslinearoperator(hessian_matrix)
    a = top_eigenpairs(op, 10, seed=3)
    b = top_eigenpairs(op, 10, seed=3)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_warm_start_from_a_perturbed_exact_basis_needs_few_passes(hessian_matrix, hessian_eig):
    k = 30
    exact = hessian_eig[1][:, :k]
    rng = np.random.default_rng(8)
    # Entrywise noise 1e-4 (column error ~2.4e-3, subspace overlap ~0.99999); the columns need not
    # be orthonormal. Passes grow with the noise: measured 4 / 7 / 9 passes at 1e-4 / 1e-3 / 1e-2,
    # because tol is relative to the small eigenvalues at the end of the top k.
    warm = exact + 1e-4 * rng.standard_normal(exact.shape)
    assert _overlap(np.linalg.qr(warm)[0], exact) > 0.9999
    result = top_eigenpairs(spla.aslinearoperator(hessian_matrix), k, warm_start=warm)
    _check_against_eigh(result, hessian_matrix, k, gap_at=5, eig=hessian_eig)
    assert result.stats.n_data_passes <= 6
    assert result.stats.warm_started
    cold = top_eigenpairs(spla.aslinearoperator(hessian_matrix), k)
    assert result.stats.n_data_passes < cold.stats.n_data_passes
    assert not cold.stats.warm_started


def test_warm_start_with_the_exact_eigenvectors_needs_three_passes(hessian_matrix, hessian_eig):
    # one block drawn from the span (the leak test), the whole basis, one expansion that confirms it
    k = 10
    exact = hessian_eig[1][:, :k]
    result = top_eigenpairs(spla.aslinearoperator(hessian_matrix), k, warm_start=exact)
    assert result.stats.warm_mode == "basis"
    assert result.stats.n_data_passes <= 3
    _check_against_eigh(result, hessian_matrix, k, gap_at=5, eig=hessian_eig)


def test_warm_start_with_fewer_or_unrelated_vectors_still_converges(hessian_matrix, hessian_eig):
    k = 10
    rng = np.random.default_rng(9)
    for warm in (rng.standard_normal(600), rng.standard_normal((600, 40))):
        result = top_eigenpairs(spla.aslinearoperator(hessian_matrix), k, warm_start=warm)
        _check_against_eigh(result, hessian_matrix, k, gap_at=5, eig=hessian_eig)


def test_dense_and_full_spectrum_match_eigh():
    H = _matrix(hessian_like(200), seed=10)
    expected = np.linalg.eigvalsh(H)[::-1]
    spectrum = full_spectrum(spla.aslinearoperator(H), block_size=64)
    np.testing.assert_allclose(spectrum, expected, rtol=0, atol=1e-10 * abs(expected).max())
    assert np.all(np.diff(spectrum) <= 0), "full_spectrum is descending"
    counting = CountingOperator(spla.aslinearoperator(H))
    np.testing.assert_allclose(materialise(counting, block_size=64), H, atol=1e-12)
    assert (counting.n_data_passes, counting.n_products) == (4, 200)  # ceil(200 / 64) calls
    result = top_eigenpairs(spla.aslinearoperator(H), 200, method="dense")  # k == n is allowed
    np.testing.assert_allclose(result.values, expected, atol=1e-10 * abs(expected).max())
    assert result.stats.check_passes == 0


def test_block_with_k_equal_to_n_is_exact():
    H = _matrix(np.linspace(-3, 5, 40), seed=11)
    result = top_eigenpairs(spla.aslinearoperator(H), 40)
    np.testing.assert_allclose(result.values, np.linspace(5, -3, 40), atol=1e-10)


def test_verify_false_reports_residuals_from_the_solver_products(hessian_matrix):
    op = spla.aslinearoperator(hessian_matrix)
    checked = top_eigenpairs(op, 10)
    unchecked = top_eigenpairs(op, 10, verify=False)
    assert (unchecked.stats.check_passes, unchecked.stats.check_products) == (0, 0)
    assert unchecked.stats.n_data_passes == checked.stats.n_data_passes
    # Same quantity evaluated from stored products: equal to rounding.
    np.testing.assert_allclose(
        unchecked.stats.residuals, checked.stats.residuals, rtol=1e-6, atol=1e-12
    )


def test_float32_operator_is_accepted():
    lam = np.concatenate([[50.0, 20.0, 10.0, 5.0], np.linspace(-1, 0.5, 196)])
    H = _matrix(lam, seed=12).astype(np.float32)
    op = spla.aslinearoperator(H)
    assert op.dtype == np.float32
    result = top_eigenpairs(op, 4, method="block")
    # float32 products limit the residual to ~1e-7 ||H|| / lambda; here that is well under tol.
    np.testing.assert_allclose(result.values, [50.0, 20.0, 10.0, 5.0], rtol=1e-4)
    assert result.vectors.dtype == np.float64


class _TwinOperator(spla.LinearOperator):
    """A matrix operator with a ``with_dtype`` twin, as HessianOperator. The float32 twin's products
    carry rounding noise of ~1e-7 ||H|| ||x|| that differs from call to call, as a float32 Hessian-vector
    product summed over chunks does (a float32 matrix alone would be an exact, slightly different
    operator)."""

    def __init__(self, H: np.ndarray, noise: float = 0.0):
        super().__init__(H.dtype, H.shape)
        self.matrix, self.noise = H, noise
        self.rng = np.random.default_rng(0)

    def _matmat(self, X):
        X = X.astype(self.matrix.dtype)
        Y = self.matrix @ X
        if self.noise:
            scale = self.noise * np.linalg.norm(self.matrix, 2) * np.linalg.norm(X, axis=0)
            Y += (scale * self.rng.standard_normal(Y.shape)).astype(Y.dtype)
        return Y

    def _matvec(self, x):
        return self._matmat(x[:, None])[:, 0]

    def with_dtype(self, dtype):
        noise = 1e-7 if np.dtype(dtype) == np.float32 else 0.0
        return _TwinOperator(self.matrix.astype(dtype), noise)


def test_mixed_precision_iterates_in_float32_and_meets_tol_in_float64(hessian_matrix, hessian_eig):
    result = top_eigenpairs(_TwinOperator(hessian_matrix), 30, method="block")
    assert result.stats.converged
    assert result.stats.n_products_float32 > 0 and result.stats.float32_error > 0
    _check_against_eigh(result, hessian_matrix, 30, gap_at=5, eig=hessian_eig)


def test_mixed_precision_refines_what_float32_cannot_resolve():
    # Top 40 from 1e4 down to 0.1: tol * 0.1 = 1e-5 is ~1e-9 ||H||, far below float32's ~1e-7 ||H||
    # error per product. The float32 phase must stop at its own floor and leave the rest to float64,
    # not spend the whole pass budget trying and return converged=False.
    rng = np.random.default_rng(13)
    lam = np.concatenate([1e4 * np.logspace(0, -5, 40), 0.05 * rng.random(300) - 0.02])
    H = _matrix(np.sort(lam)[::-1], seed=14)
    result = top_eigenpairs(_TwinOperator(H), 40, method="block")
    assert result.stats.converged
    assert result.stats.n_products_float32 > 0 and result.stats.n_products > result.stats.n_products_float32
    assert result.stats.n_data_passes < 200
    _check_against_eigh(result, H, 40, gap_at=40)


class _TailNoiseTwin(_TwinOperator):
    """A float32 twin whose rounding noise lives in the span of the eigenvectors around rank k: random
    vectors (the floor's estimate) barely see it, the Ritz vectors there cannot get below it."""

    def __init__(self, H, U, noise=0.0):
        super().__init__(H)
        self.U, self.tail_noise = U, noise

    def _matmat(self, X):
        Y = self.matrix @ X.astype(self.matrix.dtype)
        if self.tail_noise:
            size = self.tail_noise * np.linalg.norm(self.U.T @ X, axis=0)
            Y += ((self.U @ self.rng.standard_normal((self.U.shape[1], X.shape[1]))) * size).astype(Y.dtype)
        return Y

    def with_dtype(self, dtype):
        noise = 1e-3 if np.dtype(dtype) == np.float32 else 0.0
        return _TailNoiseTwin(self.matrix.astype(dtype), self.U.astype(dtype), noise)


def test_a_stalled_float32_phase_hands_over_to_the_operators_dtype():
    # Pairs 25-36 sit at 0.5, and float32 noise 1e-3 lives in the span of pairs 27-30: their float32 residuals stay ~1e-3,
    # above tol * 0.5 = 5e-5, while the floor measured on random vectors is far lower: without the
    # hand-over the float32 phase would spend all 500 passes there and return converged=False.
    rng = np.random.default_rng(3)
    lam = np.sort(np.concatenate([np.linspace(10.0, 2.0, 24), np.linspace(0.52, 0.48, 12),
                                  0.1 * rng.random(600)]))[::-1]
    H = _matrix(lam, seed=15)
    values, vectors = _eigh_descending(H)
    result = top_eigenpairs(_TailNoiseTwin(H, vectors[:, 26:30]), 30, method="block")
    assert result.stats.converged
    assert result.stats.n_products > result.stats.n_products_float32 > 0
    assert result.stats.n_data_passes < 150
    _check_against_eigh(result, H, 30, gap_at=24, eig=(values, vectors))


def test_budget_exhaustion_warns_and_flags_not_converged(hessian_matrix):
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        result = top_eigenpairs(spla.aslinearoperator(hessian_matrix), 30, max_passes=2)
    assert not result.stats.converged
    assert result.stats.n_data_passes == 2


def test_counting_operator_counts_a_block_as_one_pass():
    op = CountingOperator(spla.aslinearoperator(np.eye(5)))
    op.matmat(np.ones((5, 3)))
    op.matvec(np.ones(5))
    op @ np.ones((5, 2))
    assert (op.n_data_passes, op.n_products) == (3, 6)


@pytest.mark.parametrize("method", ["block", "arpack", "dense"])
def test_k_larger_than_n_names_the_sizes(method):
    op = spla.aslinearoperator(np.eye(10))
    with pytest.raises(ValueError, match=r"k=11.*n=10"):
        top_eigenpairs(op, 11, method=method)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_eigenpairs(op, 0, method=method)


def test_arpack_refuses_k_equal_to_n():
    with pytest.raises(ValueError, match=r"k=10, n=10.*dense"):
        top_eigenpairs(spla.aslinearoperator(np.eye(10)), 10, method="arpack")


def test_non_square_operator_names_its_shape():
    op = spla.aslinearoperator(np.ones((10, 7)))
    for call in (lambda: top_eigenpairs(op, 2), lambda: full_spectrum(op)):
        with pytest.raises(ValueError, match=r"\(10, 7\)"):
            call()


def test_nan_from_the_operator_is_an_error():
    def matvec(x):
        y = np.asarray(x, dtype=float).copy()
        y[3] = np.nan
        return y

    op = spla.LinearOperator((20, 20), matvec=matvec, dtype=np.float64)
    for method in ("block", "arpack", "dense"):
        with pytest.raises(ValueError, match="non-finite"):
            top_eigenpairs(op, 2, method=method)


def test_bad_arguments_say_what_is_allowed():
    op = spla.aslinearoperator(np.eye(10))
    with pytest.raises(ValueError, match="unknown method 'lobpcg'.*arpack"):
        top_eigenpairs(op, 2, method="lobpcg")
    with pytest.raises(ValueError, match=r"warm_start must have shape.*\(10, 1..10\)"):
        top_eigenpairs(op, 2, warm_start=np.ones((9, 2)))
    with pytest.raises(ValueError, match="tol"):
        top_eigenpairs(op, 2, tol=0.0)


def test_dense_refuses_a_matrix_too_large_for_memory():
    op = spla.LinearOperator((50_000, 50_000), matvec=lambda x: x, dtype=np.float64)
    with pytest.raises(ValueError, match=r"50000 x 50000.*GiB.*block"):
        full_spectrum(op)
    with pytest.raises(ValueError, match="max_n"):
        top_eigenpairs(op, 3, method="dense")


def test_arpack_without_convergence_is_a_runtime_error(hessian_matrix):
    with pytest.raises(RuntimeError, match="maxiter=1"):
        top_eigenpairs(spla.aslinearoperator(hessian_matrix), 30, method="arpack", maxiter=1)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_tiny_operators_with_any_k_and_warm_start(n):
    rng = np.random.default_rng(n)
    H = rng.standard_normal((n, n))
    H = H + H.T
    expected = np.linalg.eigvalsh(H)[::-1]
    for k in range(1, n + 1):
        for warm in (None, np.ones(n), np.eye(n)):
            result = top_eigenpairs(spla.aslinearoperator(H), k, warm_start=warm)
            np.testing.assert_allclose(result.values, expected[:k], atol=1e-10)
            np.testing.assert_allclose(result.vectors.T @ result.vectors, np.eye(k), atol=1e-10)
