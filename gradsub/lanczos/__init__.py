"""Top-k eigenpairs of a symmetric operator (the Hessian of one network's loss).

"Top" means the k LARGEST ALGEBRAIC eigenvalues (the paper, Appendix: Lanczos method): large
negative curvature is never returned unless fewer than k eigenvalues exceed it. Three methods,
registered in :data:`METHODS`, share one interface, :func:`top_eigenpairs`, and accept any symmetric
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
      when the float32 phase stalls: ``iteration.STALL_PASSES`` passes without a new converged pair);
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

What bounds the cost (``benchmarks/eigensolver.py`` measures it; its results are in
``data/benchmarks/``): on a trained actor's Hessian the end of the top k sits in a flat part of the
spectrum, so a Krylov method, ARPACK or "block", needs about 4-5 k products whatever its start,
unless the start is nearly exact (a warm start from the previous checkpoint, or from a row
subsample's eigenvectors, is not). The cheapest block size minimises products + passes * c0 / c1
(c0: a pass's fixed cost, c1: one more vector; c0 ~ c1 for ``HessianOperator`` in float32):
b = 6-8, the default 8. Fewer passes need larger blocks and more products.

All solver arithmetic is float64 numpy. An operator of another dtype is called with blocks cast to
its dtype and its results are cast back; a float32 operator limits the attainable residual to about
1e-7 * ||H||.

Layout: ``methods`` (the registry :data:`METHODS` and :func:`top_eigenpairs`), one module per method
(``arpack``, ``dense``, ``block``), and the concerns of "block": ``precision`` (float32 phase and
refinement), ``diagonal_blocks`` (block detection), ``warm_start``, ``iteration`` (the Krylov-Davidson
step) and ``subspace`` (one block's Rayleigh-Ritz state); ``eigenpairs`` (results and the residual
check) and ``operators`` (the counting wrapper) serve all of them.
"""

from gradsub.lanczos.block import DEFAULT_BLOCK_SIZE
from gradsub.lanczos.dense import DENSE_MAX_N, full_spectrum, materialise
from gradsub.lanczos.eigenpairs import Eigenpairs, SolverStats
from gradsub.lanczos.methods import DEFAULT_METHOD, METHODS, SCALABLE_METHODS, Method, top_eigenpairs
from gradsub.lanczos.operators import CountingOperator
from gradsub.lanczos.options import SolveOptions
from gradsub.lanczos.precision import PRECISIONS
from gradsub.lanczos.warm_start import WARM_LEAK

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
