"""Gradients and Hessian-vector products of one network's loss, streamed over the data in chunks.

The paper (Appendix, Lanczos method) builds ONE autograd graph over all N samples and differentiates
it twice, so its memory grows with N (several GB at N = 10^6). Here the batch is cut into chunks of
``chunk_size`` rows; every loss is a mean over rows, so

    L(theta) = sum_c (rows_c / N) * L_c(theta)        and likewise for its gradient and Hessian,

and memory depends on the chunk size, never on N. A *block* of b vectors is multiplied in ONE pass over
the data: each chunk's graph (forward pass and first backward pass with ``create_graph``) is built once
and differentiated b times, so b products cost one forward pass plus b backward passes per chunk.

Loss objects are duck-typed: only ``loss.fn(theta, batch) -> scalar mean loss`` and ``loss.theta``
(flat parameters, 1-D) are used (see ``gradsub.losses.NetworkLoss``).

Dtype: computations run in the dtype asked for (default: that of ``loss.theta``); theta, the vectors
and every floating-point batch tensor are cast to it, chunk by chunk. Integer and boolean batch tensors
pass through unchanged. Whatever else ``loss.fn`` reads (the modules it calls, whose parameters are
replaced by theta, may hold buffers; a SAC actor loss reads the critic's weights) is the loss's own
concern: cast the policy first, e.g. ``model.policy.to(torch.float64)`` before building float64 losses.
Everything runs on ``loss.theta``'s device; chunks are moved there as they are used, so a large batch
may stay in host memory while a GPU does the products.

Batch: ``dict[str, Tensor]``, every tensor with the same number of rows N >= 1 in dimension 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor

__all__ = [
    "HVP_METHODS",
    "GraphHessianOperator",
    "HessianOperator",
    "batch_rows",
    "dense_hessian",
    "gradient",
    "hessian_vector_products",
]

Batch = Mapping[str, Tensor]

# "double_backward": per chunk, one graph with create_graph and one backward pass per vector (retained
#   graph). Fastest measured on CPU (1 thread): 1.5-2.6x faster per vector than the vmapped torch.func
#   variants for blocks of 8-128 vectors, on a 5.7k-parameter tanh MLP and a 72k-parameter ReLU MLP.
# "forward_over_reverse": torch.func ``vmap(jvp(grad(f)))`` over the block; unmeasured on a GPU, where
#   batching the block into one kernel launch may pay off. Memory grows with chunk_size * b * width.
HVP_METHODS = ("double_backward", "forward_over_reverse")


def batch_rows(batch: Batch) -> int:
    """Number of rows N of a batch; ValueError unless every tensor has the same N >= 1 rows first."""
    if not isinstance(batch, Mapping) or len(batch) == 0:
        raise ValueError(f"batch must be a non-empty dict of tensors, got {type(batch).__name__} "
                         f"with {len(batch) if isinstance(batch, Mapping) else 'no'} entries")
    rows: dict[str, int] = {}
    for key, value in batch.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"batch[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0:
            raise ValueError(f"batch[{key!r}] is a 0-dimensional tensor; every batch tensor needs its "
                             f"rows in dimension 0 (batch-level constants belong in the loss object)")
        rows[key] = int(value.shape[0])
    if len(set(rows.values())) != 1:
        sizes = ", ".join(f"{k}: {n}" for k, n in rows.items())
        raise ValueError(f"batch tensors disagree on the number of rows (dimension 0): {sizes}")
    n_rows = next(iter(rows.values()))
    if n_rows == 0:
        raise ValueError(f"batch has 0 rows (keys {sorted(rows)}); a mean loss needs at least one row")
    return n_rows


def gradient(loss: Any, batch: Batch, *, chunk_size: int = 4096,
             dtype: torch.dtype | None = None) -> Tensor:
    """Gradient of the mean loss over the whole batch, shape [n], accumulated over row chunks.

    loss: has ``fn(theta, batch) -> scalar`` (a mean over rows) and ``theta`` [n].
    chunk_size: rows per chunk (memory, not the result, depends on it).
    dtype: computation and output dtype; default ``loss.theta.dtype``.
    Raises ValueError for a malformed batch or a non-finite gradient (naming the rows).
    """
    theta, dtype = _theta(loss, dtype)
    n_rows = batch_rows(batch)
    _check_chunk_size(chunk_size)
    total = torch.zeros_like(theta)
    with torch.enable_grad():
        for start, stop, chunk in _chunks(batch, n_rows, chunk_size, dtype, theta.device):
            th = theta.detach().requires_grad_(True)
            value = _scalar_loss(loss.fn, th, chunk)
            if not value.requires_grad:  # the loss does not depend on theta at all
                continue
            (g,) = torch.autograd.grad(value, th, allow_unused=True)
            if g is None:
                continue
            _check_finite(g, "gradient", start, stop, n_rows, value)
            total += g.detach() * ((stop - start) / n_rows)
    return total


def hessian_vector_products(loss: Any, batch: Batch, vectors: Tensor | np.ndarray, *,
                            chunk_size: int = 4096, dtype: torch.dtype | None = None,
                            method: str = "double_backward") -> Tensor:
    """Products H @ vectors of the mean loss's Hessian with a block of vectors, in ONE pass over the data.

    vectors: [n, b] (or [n] for one vector; the result then has shape [n]).
    Returns: [n, b] in ``dtype`` (default ``loss.theta.dtype``), on theta's device. Each chunk's
    contribution is weighted by rows_in_chunk / N.
    method: one of ``HVP_METHODS`` (same results to rounding; see the note there on speed and memory).
    Raises ValueError for a malformed batch or vectors, or a non-finite product (naming the rows and
    the columns affected).
    """
    theta, dtype = _theta(loss, dtype)
    n_rows = batch_rows(batch)
    _check_chunk_size(chunk_size)
    if method not in HVP_METHODS:
        raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
    block, single = _as_block(vectors, theta)
    if block.shape[1] == 0:
        return block.clone()
    # Chunk contributions are summed in float64 whatever the compute dtype: with float32 products
    # over many chunks this keeps the sum's rounding at one float32 product's, for b*n adds per chunk.
    # Each chunk adds its products straight into the total (no [b, n] buffer per chunk), and a float64
    # result is the total's transpose (no copy): a block of b vectors holds about three [n, b] arrays
    # (the vectors, their rows, the total), which matters for the k-vector residual check of a large net.
    total_t = torch.zeros(block.shape[1], block.shape[0], dtype=torch.float64, device=theta.device)  # [b, n]
    rows_block = block.T.contiguous()
    with torch.enable_grad():
        for start, stop, chunk in _chunks(batch, n_rows, chunk_size, dtype, theta.device):
            weight = (stop - start) / n_rows
            if method == "double_backward":
                value = _chunk_double_backward(loss.fn, theta, chunk, rows_block, weight, total_t)
            else:
                value = _chunk_forward_over_reverse(loss.fn, theta, chunk, rows_block, weight, total_t)
            # The total was finite before this chunk: a non-finite total names this chunk's rows.
            _check_finite(total_t, "Hessian-vector product", start, stop, n_rows, value)
    result = total_t.T.to(dtype)
    return result[:, 0] if single else result


def dense_hessian(loss: Any, batch: Batch, *, chunk_size: int = 4096, dtype: torch.dtype | None = None,
                  max_params: int = 20_000) -> Tensor:
    """The full Hessian [n, n] of the mean loss, column by column (n products) in one pass over the data.

    For small networks only: it costs n Hessian-vector products (about n / b times a block of b) and
    n^2 numbers of memory; ``max_params`` guards against asking for it by accident. The result is
    symmetric up to rounding (not symmetrised).
    """
    theta, dtype = _theta(loss, dtype)
    n_rows = batch_rows(batch)
    _check_chunk_size(chunk_size)
    n = theta.numel()
    if n > max_params:
        raise ValueError(f"dense_hessian of {n} parameters needs {n}x{n} entries; that exceeds "
                         f"max_params={max_params}. Use HessianOperator with an eigensolver, or raise max_params")
    hessian = torch.zeros(n, n, dtype=dtype, device=theta.device)
    unit = torch.zeros(n, dtype=dtype, device=theta.device)
    with torch.enable_grad():
        for start, stop, chunk in _chunks(batch, n_rows, chunk_size, dtype, theta.device):
            th = theta.detach().requires_grad_(True)
            value = _scalar_loss(loss.fn, th, chunk)
            if not value.requires_grad:  # constant in theta
                continue
            (g,) = torch.autograd.grad(value * ((stop - start) / n_rows), th, create_graph=True,
                                       allow_unused=True)
            if g is None or not g.requires_grad:  # linear in theta: zero curvature
                continue
            for j in range(n):
                unit[j] = 1.0
                (h,) = torch.autograd.grad(g, th, grad_outputs=unit, retain_graph=j + 1 < n,
                                           allow_unused=True)
                unit[j] = 0.0
                if h is not None:
                    hessian[j] += h  # row j = (H e_j)^T, H symmetric
            _check_finite(hessian, "Hessian", start, stop, n_rows, value)
    return hessian


class HessianOperator(LinearOperator):
    """The Hessian of one network's mean loss on a fixed batch as a symmetric scipy LinearOperator.

    shape (n, n); dtype float32 or float64 (numpy), computed in the matching torch dtype. Inputs are
    numpy arrays of any real dtype, cast to the operator's; outputs are numpy arrays of its dtype.
    ``matmat`` of a block of b vectors is one pass over the data (see ``hessian_vector_products``).

    Counters (successful calls only): ``n_products`` vector products (a block of b counts b),
    ``n_data_passes`` passes over the data (one per matvec or matmat). ``reset_counters()`` zeroes them.
    """

    def __init__(self, loss: Any, batch: Batch, *, chunk_size: int = 4096,
                 dtype: torch.dtype | np.dtype | type | str = torch.float64,
                 method: str = "double_backward"):
        self.torch_dtype = _torch_dtype(dtype)
        theta, _ = _theta(loss, self.torch_dtype)
        self.n_rows = batch_rows(batch)
        _check_chunk_size(chunk_size)
        if method not in HVP_METHODS:
            raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
        self.loss = loss
        self.batch = batch
        self.chunk_size = chunk_size
        self.method = method
        self.n_products = 0
        self.n_data_passes = 0
        n = theta.numel()
        np_dtype = np.float32 if self.torch_dtype == torch.float32 else np.float64
        super().__init__(dtype=np.dtype(np_dtype), shape=(n, n))

    def reset_counters(self) -> None:
        self.n_products = 0
        self.n_data_passes = 0

    def with_dtype(self, dtype: torch.dtype | np.dtype | type | str) -> HessianOperator:
        """The same Hessian computed in another dtype (a new operator with its own counters).

        Used by ``gradsub.lanczos`` to run most products in float32 (about 2.3x cheaper than float64
        on CPU) and check the result in the operator's own dtype. The modules ``loss.fn`` reads
        besides theta must accept that dtype (see the module docstring).
        """
        return HessianOperator(self.loss, self.batch, chunk_size=self.chunk_size, dtype=dtype,
                               method=self.method)

    def subsample(self, rows: int, *, seed: int = 0) -> HessianOperator:
        """The Hessian of the same loss on ``rows`` of the batch's rows, drawn uniformly without
        replacement (``np.random.default_rng(seed)``; kept in their original order).

        A cheap approximation of this operator: its products cost rows / N of a full pass. With
        ``rows >= N`` the whole batch is used. Counters are its own.
        """
        if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
            raise ValueError(f"rows must be a positive integer, got {rows!r}")
        if rows >= self.n_rows:
            batch = self.batch
        else:
            index = np.sort(np.random.default_rng(seed).choice(self.n_rows, size=int(rows), replace=False))
            index_t = torch.from_numpy(index)
            batch = {key: value[index_t.to(value.device)] for key, value in self.batch.items()}
        return HessianOperator(self.loss, batch, chunk_size=self.chunk_size, dtype=self.torch_dtype,
                               method=self.method)

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise TypeError("HessianOperator is real; got a complex input block")
        # Column-major, as the products read the vectors as rows: a Fortran-ordered block (an
        # eigensolver's basis) is used without a copy.
        block = torch.from_numpy(np.asfortranarray(X, dtype=self.dtype))
        products = hessian_vector_products(self.loss, self.batch, block, chunk_size=self.chunk_size,
                                           dtype=self.torch_dtype, method=self.method)
        self.n_products += X.shape[1] if X.ndim == 2 else 1
        self.n_data_passes += 1
        return products.detach().cpu().numpy()

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return self._matmat(x.reshape(-1, 1)).reshape(x.shape)

    # Symmetric: the adjoint is the operator itself.
    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        return self._matmat(X)

    def _adjoint(self) -> HessianOperator:
        return self

    def __repr__(self) -> str:
        return (f"HessianOperator(n={self.shape[0]}, rows={self.n_rows}, chunk_size={self.chunk_size}, "
                f"dtype={self.dtype}, method={self.method!r})")


class GraphHessianOperator(LinearOperator):
    """The paper's Hessian operator (Appendix, Lanczos method): ONE autograd graph over all N rows.

    The loss on the whole batch and its gradient (``create_graph=True``) are computed when the
    operator is made; each product is one more backward pass through that retained graph (double
    backward), one vector at a time. Products are cheap (no forward pass), but the graph holds every
    intermediate of all N rows, so memory grows with N (several GB for a 5.7k-parameter MLP at
    N = 10^6). Kept as the baseline for ``benchmarks/eigensolver.py``; the analysis
    uses :class:`HessianOperator`. Same dtype rules and counters as :class:`HessianOperator`
    (``n_data_passes`` counts calls, although no call reads the data again).
    """

    def __init__(self, loss: Any, batch: Batch, *,
                 dtype: torch.dtype | np.dtype | type | str = torch.float32):
        self.torch_dtype = _torch_dtype(dtype)
        theta, _ = _theta(loss, self.torch_dtype)
        self.n_rows = batch_rows(batch)
        (_, _, chunk), = _chunks(batch, self.n_rows, self.n_rows, self.torch_dtype, theta.device)
        self._theta = theta.detach().requires_grad_(True)
        self.n_products = 0
        self.n_data_passes = 0
        with torch.enable_grad():
            value = _scalar_loss(loss.fn, self._theta, chunk)
            grad = None
            if value.requires_grad:
                (grad,) = torch.autograd.grad(value, self._theta, create_graph=True, allow_unused=True)
        self._grad = grad if grad is not None and grad.requires_grad else None
        n = theta.numel()
        np_dtype = np.float32 if self.torch_dtype == torch.float32 else np.float64
        super().__init__(dtype=np.dtype(np_dtype), shape=(n, n))

    def reset_counters(self) -> None:
        self.n_products = 0
        self.n_data_passes = 0

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=self.dtype).reshape(-1)).to(self._theta.device)
        if self._grad is None:
            h = torch.zeros_like(v)
        else:
            with torch.enable_grad():
                (h,) = torch.autograd.grad(self._grad, self._theta, grad_outputs=v, retain_graph=True,
                                           allow_unused=True)
            h = torch.zeros_like(v) if h is None else h
        self.n_products += 1
        self.n_data_passes += 1
        return h.detach().cpu().numpy().reshape(x.shape)

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        return np.stack([self._matvec(X[:, j]) for j in range(X.shape[1])], axis=1)

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _adjoint(self) -> GraphHessianOperator:
        return self

    def __repr__(self) -> str:
        return f"GraphHessianOperator(n={self.shape[0]}, rows={self.n_rows}, dtype={self.dtype})"


# ----------------------------------------------------------------------------------------------------


def _torch_dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            resolved = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
        except (TypeError, KeyError):
            raise ValueError(f"dtype must be float32 or float64 (torch or numpy), got {dtype!r}") from None
    if resolved not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {resolved}")
    return resolved


def _theta(loss: Any, dtype: Any) -> tuple[Tensor, torch.dtype]:
    theta = getattr(loss, "theta", None)
    if not isinstance(theta, Tensor) or theta.dim() != 1 or theta.numel() == 0:
        raise ValueError(f"loss.theta must be a non-empty 1-D tensor of flat parameters, got "
                         f"{type(theta).__name__}{tuple(theta.shape) if isinstance(theta, Tensor) else ''}")
    if not callable(getattr(loss, "fn", None)):
        raise ValueError("loss.fn must be callable as fn(theta, batch) -> scalar mean loss")
    dtype = theta.dtype if dtype is None else _torch_dtype(dtype)
    return theta.detach().to(dtype), dtype


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _chunks(batch: Batch, n_rows: int, chunk_size: int, dtype: torch.dtype,
            device: torch.device) -> Iterator[tuple[int, int, dict[str, Tensor]]]:
    """Yield (start, stop, chunk): rows start:stop of every tensor, floating ones cast to dtype."""
    for start in range(0, n_rows, chunk_size):
        stop = min(start + chunk_size, n_rows)
        chunk = {}
        for key, value in batch.items():
            part = value[start:stop]
            if part.is_floating_point():
                part = part.to(device=device, dtype=dtype)
            else:
                part = part.to(device=device)
            chunk[key] = part
        yield start, stop, chunk


def _scalar_loss(fn: Callable[[Tensor, Batch], Tensor], theta: Tensor, chunk: Batch) -> Tensor:
    try:
        value = fn(theta, chunk)
    except RuntimeError as error:
        if "dtype" in str(error) or "scalar type" in str(error):
            raise RuntimeError(f"{error}\n(gradsub.hessian casts theta and the batch to {theta.dtype}; "
                               f"the modules loss.fn calls must be in that dtype too, e.g. "
                               f"policy.to({theta.dtype}) before building the loss)") from error
        raise
    if not isinstance(value, Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"loss.fn must return a scalar mean loss, got {shape}")
    return value.reshape(())


def _chunk_double_backward(fn, theta: Tensor, chunk: Batch, rows_block: Tensor, weight: float,
                           total: Tensor) -> Tensor:
    """Add weight * H_chunk @ v to ``total`` [b, n] for every row v of rows_block [b, n]; returns
    the chunk's loss value."""
    th = theta.detach().requires_grad_(True)
    value = _scalar_loss(fn, th, chunk)
    if not value.requires_grad:  # constant in theta
        return value.detach()
    (g,) = torch.autograd.grad(value * weight, th, create_graph=True, allow_unused=True)
    if g is None or not g.requires_grad:  # linear in theta: zero curvature
        return value.detach()
    b = rows_block.shape[0]
    for j in range(b):
        (h,) = torch.autograd.grad(g, th, grad_outputs=rows_block[j], retain_graph=j + 1 < b,
                                   allow_unused=True)
        if h is not None:
            total[j] += h
    return value.detach()


def _chunk_forward_over_reverse(fn, theta: Tensor, chunk: Batch, rows_block: Tensor, weight: float,
                                total: Tensor) -> None:
    """As _chunk_double_backward with torch.func; the loss value is not returned (None)."""
    grad_fn = torch.func.grad(lambda t: fn(t, chunk).reshape(()) * weight)

    def hvp(v: Tensor) -> Tensor:
        return torch.func.jvp(grad_fn, (theta,), (v,))[1]

    total += torch.func.vmap(hvp)(rows_block).detach()


def _as_block(vectors: Tensor | np.ndarray, theta: Tensor) -> tuple[Tensor, bool]:
    block = torch.as_tensor(vectors)
    n = theta.numel()
    if block.dim() not in (1, 2) or block.shape[0] != n:
        raise ValueError(f"vectors must have shape [n] or [n, b] with n = {n} parameters, "
                         f"got {tuple(block.shape)}")
    if block.is_complex():
        raise ValueError("vectors must be real")
    single = block.dim() == 1
    block = block.to(device=theta.device, dtype=theta.dtype).reshape(n, -1)
    finite = torch.isfinite(block)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite.all(dim=0)).flatten().tolist()
        raise ValueError(f"vectors contain NaN/inf in column(s) {bad[:10]} of {block.shape[1]}")
    return block, single


def _check_finite(values: Tensor, what: str, start: int, stop: int, n_rows: int,
                  value: Tensor | None) -> None:
    if bool(torch.isfinite(values).all()):
        return
    detail = ""
    if values.dim() == 2 and what == "Hessian-vector product":
        bad = torch.nonzero(~torch.isfinite(values).all(dim=1)).flatten().tolist()
        detail = f" in vector column(s) {bad[:10]}{' ...' if len(bad) > 10 else ''}"
    loss_note = "" if value is None else f" (loss on those rows: {float(value.detach()):.6g})"
    raise ValueError(f"{what} is not finite (NaN/inf){detail} on batch rows {start}:{stop} of {n_rows}"
                     f"{loss_note}; check the batch for NaN/inf and the loss for log(0) or overflow")
