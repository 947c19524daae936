"""gradsub.hessian against an independent oracle: torch.func.hessian of the full-batch loss, in float64.

The losses here are tiny torch MLPs wrapped in a NetworkLoss-compatible object (fn, theta, param_names,
network), built the way gradsub.losses builds them: ``functional_call`` with theta swapped in.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import eigsh
from torch.func import functional_call

from gradsub.hessian import (
    HVP_METHODS,
    HessianOperator,
    batch_rows,
    dense_hessian,
    gradient,
    hessian_vector_products,
)

torch.set_num_threads(1)
# torch's forward-mode AD (torch.func.jvp) scripts its own decompositions on first use.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

N_ROWS = 23  # prime, so no chunk size > 1 below divides it
CHUNK_SIZES = (1, 7, N_ROWS, N_ROWS + 9)
# Float64 rounding over a few hundred parameters and 23 rows stays near 1e-15; 1e-10 leaves room
# for summation order (chunks) while catching any missing weight or dropped chunk (errors >= 1e-2).
REL_TOL = 1e-10


@dataclasses.dataclass(frozen=True)
class TinyLoss:
    """Same fields as gradsub.losses.NetworkLoss; hessian.py only reads fn and theta."""

    fn: object
    theta: torch.Tensor
    param_names: tuple[str, ...]
    network: str


def _functional_loss(module: torch.nn.Module, per_row, network: str = "actor") -> TinyLoss:
    names = tuple(name for name, _ in module.named_parameters())
    shapes = [p.shape for p in module.parameters()]
    sizes = [p.numel() for p in module.parameters()]

    def fn(theta, batch):
        params = {k: t.view(s) for k, t, s in zip(names, torch.split(theta, sizes), shapes)}
        return per_row(lambda x: functional_call(module, params, (x,)), params, batch).mean()

    theta = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()
    return TinyLoss(fn=fn, theta=theta, param_names=names, network=network)


def regression_case(seed: int = 0):
    """MSE of a tanh MLP: the PPO-critic shape."""
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    batch = {"x": torch.randn(N_ROWS, 3, generator=gen, dtype=torch.float64),
             "y": torch.randn(N_ROWS, 2, generator=gen, dtype=torch.float64)}
    return _functional_loss(net, lambda f, p, b: ((f(b["x"]) - b["y"]) ** 2).sum(-1), "critic"), batch


def classification_case(seed: int = 1):
    """Weighted cross-entropy of a ReLU-tanh MLP with integer labels (integers must pass uncast)."""
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5),
                              torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    batch = {"x": torch.randn(N_ROWS, 4, generator=gen, dtype=torch.float64),
             "label": torch.randint(0, 3, (N_ROWS,), generator=gen),
             "weight": torch.rand(N_ROWS, generator=gen, dtype=torch.float64) + 0.5}

    def per_row(f, params, b):
        return b["weight"] * torch.nn.functional.cross_entropy(f(b["x"]), b["label"], reduction="none")

    return _functional_loss(net, per_row), batch


class GaussianPolicy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(3, 7), torch.nn.Tanh(), torch.nn.Linear(7, 6),
                                        torch.nn.ReLU(), torch.nn.Linear(6, 2))
        self.log_std = torch.nn.Parameter(torch.tensor([-0.3, 0.2]))

    def forward(self, x):
        return self.body(x)


def policy_case(seed: int = 2):
    """A PPO-actor-like loss: -A * ratio + entropy term of a diagonal Gaussian (tanh and ReLU)."""
    gen = torch.Generator().manual_seed(seed)
    net = GaussianPolicy().double()
    batch = {"observations": torch.randn(N_ROWS, 3, generator=gen, dtype=torch.float64),
             "actions": torch.randn(N_ROWS, 2, generator=gen, dtype=torch.float64),
             "advantages": torch.randn(N_ROWS, generator=gen, dtype=torch.float64),
             "old_log_prob": torch.randn(N_ROWS, generator=gen, dtype=torch.float64) - 2.0}

    def per_row(f, params, b):
        dist = torch.distributions.Normal(f(b["observations"]), params["log_std"].exp())
        log_prob = dist.log_prob(b["actions"]).sum(-1)
        ratio = torch.exp(log_prob - b["old_log_prob"])
        return -b["advantages"] * ratio - 0.01 * dist.entropy().sum(-1)

    return _functional_loss(net, per_row), batch


CASES = {"regression": regression_case, "classification": classification_case, "policy": policy_case}


def reference_hessian(loss, batch) -> torch.Tensor:
    return torch.func.hessian(lambda t: loss.fn(t, batch))(loss.theta)


def reference_gradient(loss, batch) -> torch.Tensor:
    return torch.func.grad(lambda t: loss.fn(t, batch))(loss.theta)


def rel_err(a, b) -> float:
    return float(torch.linalg.norm(torch.as_tensor(a) - torch.as_tensor(b)) / torch.linalg.norm(torch.as_tensor(b)))


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    loss, batch = CASES[request.param]()
    return loss, batch, reference_hessian(loss, batch), reference_gradient(loss, batch)


def random_block(n: int, b: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, b, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- agreement with the oracle -----------------------------------------------------------------------


def test_reference_hessian_is_not_trivial(case):
    _, _, H, g = case
    assert torch.linalg.norm(H) > 1e-3 and torch.linalg.norm(g) > 1e-3
    assert bool((torch.linalg.eigvalsh(H) < 0).any()), "an indefinite Hessian tests more than a convex one"


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_gradient_matches_full_batch_gradient(case, chunk_size):
    loss, batch, _, g_ref = case
    assert rel_err(gradient(loss, batch, chunk_size=chunk_size), g_ref) <= REL_TOL


@pytest.mark.parametrize("method", HVP_METHODS)
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_block_products_match_dense_reference(case, chunk_size, method):
    loss, batch, H, _ = case
    V = random_block(loss.theta.numel(), 5)
    HV = hessian_vector_products(loss, batch, V, chunk_size=chunk_size, method=method)
    assert HV.shape == V.shape and HV.dtype == torch.float64
    assert rel_err(HV, H @ V) <= REL_TOL


@pytest.mark.parametrize("chunk_size", (1, 7, N_ROWS + 9))
def test_dense_hessian_matches_reference(case, chunk_size):
    loss, batch, H, _ = case
    D = dense_hessian(loss, batch, chunk_size=chunk_size)
    assert rel_err(D, H) <= REL_TOL


def test_chunk_sizes_give_the_same_products(case):
    loss, batch, _, _ = case
    V = random_block(loss.theta.numel(), 3, seed=1)
    results = [hessian_vector_products(loss, batch, V, chunk_size=c) for c in CHUNK_SIZES]
    # Only the summation order differs between chunkings: agreement to a few ulps of the result.
    for other in results[1:]:
        assert rel_err(other, results[0]) <= 1e-13


def test_symmetry(case):
    loss, batch, _, _ = case
    V = random_block(loss.theta.numel(), 2, seed=2)
    u, v = V[:, 0], V[:, 1]
    Hu, Hv = hessian_vector_products(loss, batch, V, chunk_size=7).T
    scale = torch.linalg.norm(Hu) * torch.linalg.norm(v)
    assert abs(float(u @ Hv - v @ Hu)) <= 1e-12 * float(scale)


def test_block_equals_column_by_column(case):
    loss, batch, _, _ = case
    V = random_block(loss.theta.numel(), 4, seed=3)
    block = hessian_vector_products(loss, batch, V, chunk_size=7)
    for j in range(V.shape[1]):
        column = hessian_vector_products(loss, batch, V[:, j], chunk_size=7)
        assert column.shape == (V.shape[0],)
        # The same arithmetic, vector by vector: equal to rounding.
        assert rel_err(block[:, j], column) <= 1e-13


def test_products_are_linear(case):
    loss, batch, _, _ = case
    V = random_block(loss.theta.numel(), 2, seed=4)
    H0, H1 = hessian_vector_products(loss, batch, V).T
    combined = hessian_vector_products(loss, batch, 2.0 * V[:, 0] - 3.0 * V[:, 1])
    assert rel_err(combined, 2.0 * H0 - 3.0 * H1) <= 1e-12


# --- one pass over the data ----------------------------------------------------------------------------


def test_one_pass_over_the_data_per_block():
    loss, batch = regression_case()
    seen: list[int] = []

    def counting_fn(theta, chunk):
        seen.append(batch_rows(chunk))
        return loss.fn(theta, chunk)

    counted = dataclasses.replace(loss, fn=counting_fn)
    hessian_vector_products(counted, batch, random_block(loss.theta.numel(), 6), chunk_size=7)
    assert seen == [7, 7, 7, 2]  # one call per chunk for all 6 vectors; rows never exceed chunk_size
    seen.clear()
    gradient(counted, batch, chunk_size=10)
    assert seen == [10, 10, 3]


# --- operator ------------------------------------------------------------------------------------------


def test_operator_products_and_counters():
    loss, batch = policy_case()
    H = reference_hessian(loss, batch).numpy()
    n = H.shape[0]
    op = HessianOperator(loss, batch, chunk_size=7, dtype=torch.float64)
    assert op.shape == (n, n) and op.dtype == np.float64
    x = np.random.default_rng(0).standard_normal(n)
    X = np.random.default_rng(1).standard_normal((n, 5))
    y = op.matvec(x)
    assert y.shape == (n,) and np.linalg.norm(y - H @ x) <= REL_TOL * np.linalg.norm(H @ x)
    assert (op.n_products, op.n_data_passes) == (1, 1)
    Y = op.matmat(X)
    assert np.linalg.norm(Y - H @ X) <= REL_TOL * np.linalg.norm(H @ X)
    assert (op.n_products, op.n_data_passes) == (6, 2)  # a block of 5 is one pass
    assert op.matvec(x.reshape(n, 1)).shape == (n, 1)
    z = op.rmatvec(x)  # symmetric: the adjoint is the operator
    assert np.linalg.norm(z - y) <= 1e-13 * np.linalg.norm(y)
    assert op.H is op
    assert (op.n_products, op.n_data_passes) == (8, 4)
    op.reset_counters()
    assert (op.n_products, op.n_data_passes) == (0, 0)


def test_operator_with_eigsh_matches_eigh():
    loss, batch = classification_case()
    H = reference_hessian(loss, batch).numpy()
    expected = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    op = HessianOperator(loss, batch, chunk_size=7)
    values = np.sort(eigsh(op, k=3, which="LA", tol=1e-12, v0=np.ones(op.shape[0]))[0])[::-1]
    # eigsh to tol 1e-12 on a well-separated top of the spectrum: agreement near machine precision.
    np.testing.assert_allclose(values, expected, rtol=1e-8, atol=1e-12 * abs(expected).max())
    assert op.n_data_passes == op.n_products  # ARPACK multiplies one vector at a time


def test_float32_operator():
    loss64, batch = regression_case()
    H = reference_hessian(loss64, batch).numpy()
    op = HessianOperator(loss64.__class__(fn=_float32_twin(loss64), theta=loss64.theta.float(),
                                          param_names=loss64.param_names, network=loss64.network),
                         batch, dtype=torch.float32)
    assert op.dtype == np.float32
    x = np.random.default_rng(0).standard_normal(op.shape[0])
    y = op.matvec(x)
    assert y.dtype == np.float32
    # float32 (eps 6e-8) through a two-layer net: relative error well under 1e-4.
    assert np.linalg.norm(y - H @ x) <= 1e-4 * np.linalg.norm(H @ x)


def _float32_twin(loss64):
    """The regression loss of the same weights with its module in float32 (modules are the loss's job)."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).float()
    names = loss64.param_names
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]

    def fn(theta, batch):
        params = {k: t.view(s) for k, t, s in zip(names, torch.split(theta, sizes), shapes)}
        return ((functional_call(net, params, (batch["x"],)) - batch["y"]) ** 2).sum(-1).mean()

    return fn


def test_dtype_casting_of_theta_and_batch():
    loss, batch = regression_case()
    H = reference_hessian(loss, batch)
    V = random_block(loss.theta.numel(), 2)
    batch32 = {k: v.float() for k, v in batch.items()}
    # theta and a float32 batch are cast to float64 when asked; the module is float64 already.
    HV = hessian_vector_products(loss, batch32, V.float(), dtype=torch.float64)
    assert HV.dtype == torch.float64
    expected = reference_hessian(loss, {k: v.double() for k, v in batch32.items()}) @ V.float().double()
    assert rel_err(HV, expected) <= REL_TOL
    assert rel_err(expected, H @ V) < 1e-5  # the batch itself was rounded to float32


def test_mismatched_module_dtype_gives_a_hint():
    loss, batch = regression_case()
    frozen = torch.eye(3, dtype=torch.float64)  # like the critic's weights inside a SAC actor loss
    with_constant = dataclasses.replace(loss, fn=lambda t, b: loss.fn(t, {**b, "x": b["x"] @ frozen}))
    assert rel_err(gradient(with_constant, batch), reference_gradient(loss, batch)) <= REL_TOL
    with pytest.raises(RuntimeError, match=r"policy.to\(torch.float32\)"):
        gradient(with_constant, batch, dtype=torch.float32)


def test_works_under_no_grad():
    loss, batch, = regression_case()
    V = random_block(loss.theta.numel(), 2)
    with torch.no_grad():
        HV = hessian_vector_products(loss, batch, V)
        g = gradient(loss, batch)
    assert rel_err(HV, reference_hessian(loss, batch) @ V) <= REL_TOL
    assert rel_err(g, reference_gradient(loss, batch)) <= REL_TOL


def test_loss_linear_in_theta_has_zero_hessian():
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    batch = {"x": torch.randn(9, 3, dtype=torch.float64)}
    loss = TinyLoss(fn=lambda t, b: (b["x"] @ t).mean(), theta=theta, param_names=("w",), network="critic")
    V = random_block(3, 2)
    assert torch.count_nonzero(hessian_vector_products(loss, batch, V, chunk_size=4)) == 0
    assert torch.count_nonzero(dense_hessian(loss, batch)) == 0
    assert rel_err(gradient(loss, batch, chunk_size=4), batch["x"].mean(0)) <= REL_TOL


def test_loss_constant_in_theta():
    theta = torch.ones(3, dtype=torch.float64)
    batch = {"x": torch.randn(9, 3, dtype=torch.float64)}
    loss = TinyLoss(fn=lambda t, b: b["x"].mean(), theta=theta, param_names=("w",), network="critic")
    assert torch.count_nonzero(gradient(loss, batch)) == 0
    assert torch.count_nonzero(hessian_vector_products(loss, batch, random_block(3, 2))) == 0
    assert torch.count_nonzero(dense_hessian(loss, batch)) == 0


def test_empty_block():
    loss, batch = regression_case()
    out = hessian_vector_products(loss, batch, torch.zeros(loss.theta.numel(), 0, dtype=torch.float64))
    assert out.shape == (loss.theta.numel(), 0)


# --- errors --------------------------------------------------------------------------------------------


def test_rows_must_agree():
    loss, batch = regression_case()
    bad = {"x": batch["x"], "y": batch["y"][:-1]}
    with pytest.raises(ValueError, match=r"x: 23, y: 22"):
        gradient(loss, bad)
    with pytest.raises(ValueError, match="rows"):
        HessianOperator(loss, bad)


@pytest.mark.parametrize("bad, pattern", [
    ({}, "non-empty"),
    ({"x": torch.zeros(0, 3), "y": torch.zeros(0, 2)}, "0 rows"),
    ({"x": torch.zeros(3, 3), "alpha": torch.tensor(0.2)}, "0-dimensional"),
])
def test_malformed_batches(bad, pattern):
    loss, _ = regression_case()
    with pytest.raises(ValueError, match=pattern):
        hessian_vector_products(loss, bad, torch.zeros(loss.theta.numel(), 1))


def test_non_tensor_batch_entry():
    loss, batch = regression_case()
    with pytest.raises(TypeError, match="'y'"):
        gradient(loss, {"x": batch["x"], "y": batch["y"].numpy()})


def test_non_finite_results_are_reported_with_rows():
    loss, batch = regression_case()
    poisoned = {k: v.clone() for k, v in batch.items()}
    poisoned["x"][15, 0] = math.nan
    with pytest.raises(ValueError, match=r"gradient is not finite.*rows 14:21 of 23"):
        gradient(loss, poisoned, chunk_size=7)
    with pytest.raises(ValueError, match=r"Hessian-vector product is not finite.*rows 14:21 of 23"):
        hessian_vector_products(loss, poisoned, random_block(loss.theta.numel(), 2), chunk_size=7)
    with pytest.raises(ValueError, match="not finite"):
        HessianOperator(loss, poisoned).matvec(np.ones(loss.theta.numel()))
    with pytest.raises(ValueError, match="not finite"):
        hessian_vector_products(loss, poisoned, random_block(loss.theta.numel(), 1),
                                method="forward_over_reverse")


def test_bad_vectors_and_arguments():
    loss, batch = regression_case()
    n = loss.theta.numel()
    with pytest.raises(ValueError, match=rf"n = {n}.*\({n + 1}, 2\)"):
        hessian_vector_products(loss, batch, torch.zeros(n + 1, 2))
    bad = torch.zeros(n, 3)
    bad[4, 2] = math.inf
    with pytest.raises(ValueError, match=r"column\(s\) \[2\]"):
        hessian_vector_products(loss, batch, bad)
    for chunk_size in (0, -3, 2.5):
        with pytest.raises(ValueError, match="chunk_size"):
            gradient(loss, batch, chunk_size=chunk_size)
    with pytest.raises(ValueError, match="method"):
        hessian_vector_products(loss, batch, torch.zeros(n, 1), method="magic")
    with pytest.raises(ValueError, match="dtype"):
        HessianOperator(loss, batch, dtype=torch.int64)
    with pytest.raises(ValueError, match="max_params"):
        dense_hessian(loss, batch, max_params=n - 1)


def test_non_scalar_loss_is_refused():
    loss, batch = regression_case()
    vector_loss = dataclasses.replace(loss, fn=lambda t, b: t * 2.0)
    with pytest.raises(ValueError, match="scalar"):
        gradient(vector_loss, batch)
