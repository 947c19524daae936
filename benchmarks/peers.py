"""Our losses wrapped for two peer libraries, so the eigensolver benchmark can run them side by side.

The peers (the optional extra ``bench``):

``curvlinops`` (curvlinops-for-pytorch)
    ``curvlinops.HessianLinearOperator(model_func, loss_func, params, data, ...)``: the Hessian of an
    empirical risk over a list of mini-batches ``(X, y)``, each batch's product weighted by its rows
    / N (``loss_func.reduction == "mean"``); a block of vectors is one ``vmap`` of a forward-over-
    reverse product (``jvp`` of ``jacrev``) per batch. ``.to_scipy()`` gives a scipy LinearOperator,
    solved here with the paper's ``eigsh`` settings (its Appendix: k, which="LA", tol=1e-4, maxiter=500)
    through ``gradsub.lanczos.top_eigenpairs(method="arpack")``, the same call as the paper's row.
``hessian-eigenthings``
    ``hessian_eigenthings.HessianOperator(model, dataloader, loss_fn)``: the Hessian of
    ``loss_fn(model, batch)`` AVERAGED over the batches (each batch weighs the same), one vector per
    call (double backward per batch), and its top-k method ``hessian_eigenthings.lanczos``: one
    unrestarted Lanczos run of ``max_iter`` steps, then the Ritz pairs of the tridiagonal matrix.

How our losses are wrapped (both libraries want a ``torch.nn.Module`` whose parameters they
differentiate, and batches they iterate over):

- ``FlatParameterModel``: a module whose ONE parameter is the flat vector theta (``loss.theta``) and
  whose ``forward(chunk)`` is ``loss.fn(theta, chunk)``, the chunk's mean loss, shape [1]. The
  policy the loss reads is held by ``loss.fn``'s closure, not registered as a submodule, so the
  libraries see theta alone.
- The data: the batch cut into chunks of ``chunk_size`` rows (floating tensors cast to the dtype),
  in order, the same chunks as ``gradsub.hessian.HessianOperator``'s.
- curvlinops: batches ``(chunk, y)`` with ``y`` a dummy [rows] tensor (never read), ``loss_func`` =
  ``ChunkMeanCriterion`` (returns the model's output, reduction "mean"; curvlinops weighs each batch
  by rows / N, which sums the chunk means into the mean over all N rows), ``batch_size_fn`` = the
  chunk's rows, ``num_data`` = N (no counting pass), ``check_deterministic=False`` (a safeguard that
  costs extra passes; our losses are deterministic functions of theta).
- hessian-eigenthings: ``loss_fn(model, chunk)`` = the chunk's mean loss times rows * n_chunks / N,
  so that the library's plain average over the chunks is the mean over all N rows (the last chunk
  may be shorter).

Products are counted by thin wrappers (``CountingEigenthingsOperator``; curvlinops' scipy operator
through ``top_eigenpairs``' own counter). Nothing here changes what the libraries compute.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

PEERS = ("curvlinops", "hessian-eigenthings")
# The Lanczos steps hessian-eigenthings starts with (its default, min(2k, n - 1)) are doubled until
# every Ritz pair meets tol by the library's own residual estimate; this caps the doubling.
EIGENTHINGS_MAX_STEPS_PER_K = 16


def _rows(batch: dict[str, Tensor]) -> int:
    return int(next(iter(batch.values())).shape[0])


def row_chunks(batch: dict[str, Tensor], chunk_size: int, dtype: torch.dtype) -> list[dict[str, Tensor]]:
    """The batch as consecutive chunks of at most ``chunk_size`` rows; floating tensors in ``dtype``."""
    n_rows = _rows(batch)
    chunks = []
    for start in range(0, n_rows, chunk_size):
        chunks.append({key: (value[start:start + chunk_size].to(dtype) if value.is_floating_point()
                             else value[start:start + chunk_size]) for key, value in batch.items()})
    return chunks


class FlatParameterModel(nn.Module):
    """theta as the module's only parameter; ``forward(chunk)`` = ``loss.fn(theta, chunk)``, shape [1]."""

    def __init__(self, loss: Any, dtype: torch.dtype):
        super().__init__()
        self.theta = nn.Parameter(loss.theta.detach().to(dtype).clone())
        self._loss_fn = loss.fn  # a plain closure: the policy it reads is not a submodule

    def forward(self, chunk: dict[str, Tensor]) -> Tensor:
        return self._loss_fn(self.theta, chunk).reshape(1)


class ChunkMeanCriterion(nn.Module):
    """curvlinops' loss_func: the model's output already is the chunk's mean loss (labels unused)."""

    reduction = "mean"

    def forward(self, prediction: Tensor, labels: Tensor) -> Tensor:
        return prediction.sum()


def curvlinops_operator(loss: Any, batch: dict[str, Tensor], *, chunk_size: int = 4096,
                        dtype: torch.dtype = torch.float32):
    """curvlinops' Hessian of the mean loss over the batch, as a scipy LinearOperator of ``dtype``."""
    from curvlinops import HessianLinearOperator

    model = FlatParameterModel(loss, dtype)
    chunks = row_chunks(batch, chunk_size, dtype)
    data = [(chunk, torch.zeros(_rows(chunk), dtype=dtype)) for chunk in chunks]
    operator = HessianLinearOperator(model, ChunkMeanCriterion(), [model.theta], data,
                                     num_data=_rows(batch), batch_size_fn=_rows,
                                     check_deterministic=False)
    return operator.to_scipy(dtype=np.dtype(np.float32 if dtype == torch.float32 else np.float64))


def eigenthings_operator(loss: Any, batch: dict[str, Tensor], *, chunk_size: int = 4096,
                         dtype: torch.dtype = torch.float32):
    """hessian-eigenthings' Hessian of the mean loss over the batch (a ``CurvatureOperator``)."""
    from hessian_eigenthings import HessianOperator

    model = FlatParameterModel(loss, dtype)
    chunks = row_chunks(batch, chunk_size, dtype)
    scale = len(chunks) / _rows(batch)  # rows * n_chunks / N: the library averages over chunks

    def loss_fn(module: FlatParameterModel, chunk: dict[str, Tensor]) -> Tensor:
        return module(chunk).sum() * (_rows(chunk) * scale)

    return HessianOperator(model, chunks, loss_fn)


class CountingEigenthingsOperator:
    """A hessian-eigenthings operator that counts its products (each one is a pass over the data)."""

    def __init__(self, operator: Any):
        from hessian_eigenthings import LambdaOperator

        self.operator = operator
        self.n_products = 0
        self.seconds = 0.0

        def matvec(v: Tensor) -> Tensor:
            start = time.perf_counter()
            out = operator.matvec(v)
            self.seconds += time.perf_counter() - start
            self.n_products += 1
            return out

        self.counted = LambdaOperator(matvec, operator.size, operator.device, operator.dtype)

    def matmat(self, X: np.ndarray) -> np.ndarray:
        """Column by column, as the library multiplies (for tests; uncounted)."""
        dtype = self.operator.dtype
        cols = [self.operator.matvec(torch.as_tensor(np.ascontiguousarray(X[:, j])).to(dtype))
                for j in range(X.shape[1])]
        return torch.stack(cols, dim=1).detach().numpy()


@dataclasses.dataclass(frozen=True)
class PeerEigenpairs:
    """A peer's top-k answer. values [k] descending; vectors [n, k] float64, orthonormal columns.

    n_products / n_data_passes: products and operator calls of the reported solve; seconds: its wall
    time; residuals [k]: the library's own relative residual estimates (hessian-eigenthings:
    |beta_m s_m,i| / |lambda_i|); converged: every pair met tol by that estimate; max_iter: the Lanczos
    steps of the reported solve; tuning_products: products of the shorter runs that did not converge.
    """

    values: np.ndarray
    vectors: np.ndarray
    n_products: int
    n_data_passes: int
    seconds: float
    operator_seconds: float
    residuals: np.ndarray
    converged: bool
    max_iter: int
    tuning_products: int = 0
    tuning_seconds: float = 0.0


def eigenthings_top_eigenpairs(operator: Any, k: int, *, tol: float = 1e-4, seed: int = 0,
                               max_iter: int | None = None) -> PeerEigenpairs:
    """hessian-eigenthings' ``lanczos`` (which="LA", full reorthogonalisation) at the fewest steps that
    reach ``tol``: from ``max_iter`` (default the library's min(2k, n - 1)) doubled until every Ritz
    pair's estimated relative residual meets tol, at most ``EIGENTHINGS_MAX_STEPS_PER_K * k`` steps.

    Full reorthogonalisation, because without it (the library's choice above 50 steps) unrestarted
    Lanczos returns spurious copies of converged eigenvalues ("ghosts") among the top k.
    The reported solve is the last run (what a user who knows the step count pays); the shorter
    runs before it are kept as ``tuning_products`` / ``tuning_seconds``.
    """
    from hessian_eigenthings import lanczos

    n = operator.size
    steps = min(2 * k, n - 1) if max_iter is None else int(max_iter)
    cap = min(EIGENTHINGS_MAX_STEPS_PER_K * k, n - 1)
    tuning_products, tuning_seconds = 0, 0.0
    while True:
        counting = CountingEigenthingsOperator(operator)
        start = time.perf_counter()
        result = lanczos(counting.counted, k=k, max_iter=steps, tol=tol, reorthogonalize=True,
                         which="LA", seed=seed)
        seconds = time.perf_counter() - start
        converged = bool(result.converged.all())
        if converged or steps >= cap:
            break
        tuning_products += counting.n_products
        tuning_seconds += seconds
        steps = min(2 * steps, cap)
    values = result.eigenvalues.detach().double().numpy()
    order = np.argsort(values)[::-1]
    vectors = result.eigenvectors.detach().double().numpy().T[:, order]
    rel = result.residuals.detach().double().numpy() / np.maximum(np.abs(values), np.finfo(float).tiny)
    return PeerEigenpairs(values=values[order], vectors=vectors, n_products=counting.n_products,
                          n_data_passes=counting.n_products, seconds=seconds,
                          operator_seconds=counting.seconds, residuals=rel[order], converged=converged,
                          max_iter=steps, tuning_products=tuning_products, tuning_seconds=tuning_seconds)


def operator_race(operators: dict[str, Any], n: int, dtype: np.dtype, *, vectors: int = 4, block: int = 8,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Seconds per product of several Hessian operators on the same random vectors, interleaved.

    operators: name -> object with ``matvec(x)`` (numpy, [n]) and, optionally, ``matmat(X)`` ([n, b]).
    Each operator multiplies ``vectors`` single vectors (one call each; the median time is kept) and,
    where it has ``matmat``, one block of ``block`` vectors in one call. Also the largest relative
    difference of every operator's products from the first operator's (they compute the same Hessian).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, max(vectors, block))).astype(dtype)
    times: dict[str, list[float]] = {name: [] for name in operators}
    first: dict[int, np.ndarray] = {}
    differences = {name: 0.0 for name in operators}
    for j in range(vectors):
        for name, op in operators.items():  # interleaved: a load change hits every operator alike
            start = time.perf_counter()
            y = np.asarray(op.matvec(X[:, j])).reshape(-1)
            times[name].append(time.perf_counter() - start)
            if j not in first:
                first[j] = y.astype(np.float64)
            else:
                differences[name] = max(differences[name], float(
                    np.linalg.norm(y - first[j]) / np.linalg.norm(first[j])))
    out = {name: {"matvec_seconds": float(np.median(t)), "max_rel_difference": differences[name]}
           for name, t in times.items()}
    for name, op in operators.items():
        if hasattr(op, "matmat"):
            start = time.perf_counter()
            op.matmat(np.asfortranarray(X[:, :block]))
            out[name]["block_seconds_per_product"] = (time.perf_counter() - start) / block
    return out


class EigenthingsScipyView:
    """``matvec`` / ``matmat`` on numpy arrays for a hessian-eigenthings operator (operator_race)."""

    def __init__(self, operator: Any):
        self.operator = operator

    def matvec(self, x: np.ndarray) -> np.ndarray:
        v = torch.as_tensor(np.ascontiguousarray(x)).to(self.operator.dtype)
        return self.operator.matvec(v).detach().numpy()
