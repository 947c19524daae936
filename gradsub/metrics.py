"""The paper's metrics (Section 3): gradient subspace fraction, subspace overlap, random baseline, and
the split of a learning curve into training phases.

Every function accepts numpy arrays or torch tensors (any real dtype, any device) and computes in
float64 numpy. Bases V are [n, k] with orthonormal columns (top-k Hessian eigenvectors); a basis whose
columns are not orthonormal within ``atol`` is refused rather than silently mis-scored:

    max_ij |(V^T V - I)_ij| <= atol,   atol = 1e-4 by default.

Why 1e-4: eigenvectors from a float32 solver deviate from orthonormality by about sqrt(n) * 6e-8, i.e.
2e-5 for the 140k-parameter SAC critic, so 1e-4 accepts them; a deviation E of that size moves S_frac
by at most ||E||_2 <= k * atol, and genuinely non-orthonormal sets (like the authors' fourth overlap
test case, off-diagonal 0.5) fail by orders of magnitude. Results are clipped to [0, 1] against
rounding of that size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PHASES",
    "gradient_subspace_fraction",
    "mean_gradient_subspace_fraction",
    "random_baseline",
    "smooth_returns",
    "subspace_overlap",
    "training_phases",
]

ORTHONORMAL_ATOL = 1e-4
PHASES = ("initial", "training", "convergence")


def gradient_subspace_fraction(g: Any, V: Any, *, atol: float = ORTHONORMAL_ATOL) -> float:
    """S_frac = ||V^T g||^2 / ||g||^2, the share of the gradient's squared norm inside span(V).

    g: [n] gradient (non-zero, finite). V: [n, k] orthonormal columns, 1 <= k <= n.
    Returns a float in [0, 1]: 1 when g lies in span(V), 0 when g is orthogonal to it, k/n expected for
    a random k-dimensional subspace (``random_baseline``).
    """
    basis = _basis(V, "V", atol)
    grad = _vector(g, "g")
    if grad.shape[0] != basis.shape[0]:
        raise ValueError(f"g has {grad.shape[0]} entries but V has {basis.shape[0]} rows; "
                         f"both must be over the same n parameters")
    return _fraction(grad, basis, "g")


def mean_gradient_subspace_fraction(G: Any, V: Any, *, atol: float = ORTHONORMAL_ATOL) -> float:
    """Mean over mini-batch gradients of their subspace fractions (a mean of ratios, the paper, Section 3).

    G: [b, n] (one gradient per row) or a sequence of b gradients [n]. V: [n, k] orthonormal.
    Not the fraction of the mean gradient: each mini-batch gradient is scored, then the scores averaged.
    """
    basis = _basis(V, "V", atol)
    if isinstance(G, (list, tuple)):
        if len(G) == 0:
            raise ValueError("G is an empty sequence; at least one mini-batch gradient is needed")
        rows = [_vector(g, f"G[{i}]") for i, g in enumerate(G)]
        lengths = {r.shape[0] for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"the gradients in G have different lengths {sorted(lengths)}")
        grads = np.stack(rows)
    else:
        grads = _array(G, "G")
        if grads.ndim != 2 or grads.shape[0] == 0:
            raise ValueError(f"G must be [b, n] with b >= 1 gradients as rows, got shape {grads.shape}")
    if grads.shape[1] != basis.shape[0]:
        raise ValueError(f"G has gradients of length {grads.shape[1]} but V has {basis.shape[0]} rows "
                         f"(G must be [b, n]: one gradient per row)")
    return float(np.mean([_fraction(g, basis, f"G[{i}]") for i, g in enumerate(grads)]))


def subspace_overlap(V1: Any, V2: Any, *, atol: float = ORTHONORMAL_ATOL) -> float:
    """S_overlap = ||V1^T V2||_F^2 / k = (1/k) sum_i ||V1 V1^T v_i(t2)||^2 (the paper, Section 3).

    V1, V2: [n, k] orthonormal bases of the top-k subspaces at t1 and t2 (same n and k).
    Returns a float in [0, 1]: 1 for the same subspace, 0 for orthogonal ones, k/n expected at random.
    Symmetric in V1 and V2 and independent of the choice of basis within each subspace.
    """
    A = _basis(V1, "V1", atol)
    B = _basis(V2, "V2", atol)
    if A.shape != B.shape:
        raise ValueError(f"V1 and V2 must have the same shape [n, k], got {A.shape} and {B.shape}")
    k = A.shape[1]
    return float(np.clip(np.linalg.norm(A.T @ B) ** 2 / k, 0.0, 1.0))


def random_baseline(k: int, n: int) -> float:
    """k / n: the expected S_frac and S_overlap of a uniformly random k-dimensional subspace of R^n."""
    for name, value in (("k", k), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k = {k}, n = {n}")
    return k / n


def smooth_returns(steps: Any, returns: Any, window: float = 20_000) -> np.ndarray:
    """Centred moving average in environment steps: the mean of the returns logged at steps within
    [t - window, t + window] of each logged step t (fewer points near the ends). window = 0: no smoothing.

    The authors' code averages the ``window / dt`` logged points on either side (``rewards[i-w : i+w]``,
    one point fewer on the right); on a uniform grid this closed, symmetric window differs from theirs
    by that one point.
    """
    t, r = _curve(steps, returns)
    if not np.isfinite(window) or window < 0:
        raise ValueError(f"window must be a finite number of steps >= 0, got {window!r}")
    lo = np.searchsorted(t, t - window, side="left")
    hi = np.searchsorted(t, t + window, side="right")
    # A direct mean per point (not differences of a cumulative sum, which would add rounding jitter
    # of order eps * sum|R| and could make a flat curve look like it improves).
    return np.array([r[a:b].mean() for a, b in zip(lo, hi)])


def training_phases(steps: Any, returns: Any, window: float = 20_000, *, at: Any = None,
                    start_threshold: float = 0.1, convergence_threshold: float = 0.9) -> np.ndarray:
    """Label each logged step "initial", "training" or "convergence" (the authors' criterion, Section 4).

    steps: [T] non-decreasing environment steps at which the training return was logged; returns: [T].
    window: half-width in steps of the centred smoothing (``smooth_returns``). The authors' code uses
        ``ConvergenceCriterion(20000, ...)`` with 20,000 steps on EITHER side, which the paper calls
        "a centred 20,000-step window"; pass ``window=10_000`` for a 20,000-step total width.
    at: optional steps to label instead of ``steps`` (e.g. the analysed checkpoints), by the same
        boundaries in steps.
    Returns an array of str, one label per step (of ``at`` if given).

    With s the smoothed curve and rel(t) = (s(t) - s(t_0)) / (max s - s(t_0)):
    - initial: before the first logged step where rel > start_threshold (0.1);
    - convergence: from c on, where c is found by scanning back from the end, past the (last) maximum
      of s, to the last step before it where rel < convergence_threshold (0.9); c itself is included,
      as in the authors' code. Dips below 0.9 AFTER the maximum do not end the convergence phase.
    - training: in between.
    Edge cases, resolved so that the phases never overlap:
    - never improving (max s = s(t_0), e.g. a flat or falling curve): rel is undefined and the agent never
      leaves the initial phase: every step is "initial".
    - a jump straight from rel <= 0.1 to rel >= 0.9: c falls before the start of training; the training
      phase is then empty and convergence begins where the initial phase ends.
    """
    t, _ = _curve(steps, returns)
    smoothed = smooth_returns(steps, returns, window)
    query = t if at is None else _array(at, "at").reshape(-1)
    labels = np.full(query.shape, "initial", dtype="<U11")
    gain = smoothed.max() - smoothed[0]
    # Means over windows of different lengths differ by rounding (~1e-16 relative) even on a flat curve:
    # an "improvement" that small is no improvement.
    if not gain > 1e-12 * np.abs(smoothed).max():
        return labels
    relative = (smoothed - smoothed[0]) / gain
    training_begin = int(np.argmax(relative > start_threshold))
    last_max = len(relative) - 1 - int(np.argmax(relative[::-1] == relative.max()))
    below = np.flatnonzero(relative[:last_max] < convergence_threshold)
    convergence_begin = max(int(below[-1]) if below.size else 0, training_begin)
    labels[query >= t[training_begin]] = "training"
    labels[query >= t[convergence_begin]] = "convergence"
    return labels


# ----------------------------------------------------------------------------------------------------


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a real array or tensor: {error}") from None
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise ValueError(f"{name} contains {int(bad.sum())} non-finite value(s) (NaN/inf), "
                         f"first at index {where} of shape {array.shape}")
    return array


def _vector(x: Any, name: str) -> np.ndarray:
    array = _array(x, name)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a 1-D gradient [n], got shape {array.shape}")
    return array


def _basis(V: Any, name: str, atol: float) -> np.ndarray:
    basis = _array(V, name)
    if basis.ndim != 2:
        raise ValueError(f"{name} must be a 2-D basis [n, k] (columns = vectors), got shape {basis.shape}")
    n, k = basis.shape
    if k < 1 or k > n:
        raise ValueError(f"{name} has shape [n, k] = [{n}, {k}]; need 1 <= k <= n orthonormal columns "
                         f"(was it passed transposed?)")
    deviation = np.abs(basis.T @ basis - np.eye(k))
    worst = float(deviation.max())
    if worst > atol:
        i, j = np.unravel_index(int(np.argmax(deviation)), deviation.shape)
        raise ValueError(f"{name} [{n}, {k}] does not have orthonormal columns: |{name}^T {name} - I| "
                         f"reaches {worst:.3g} at ({i}, {j}) (tolerance {atol:g}); orthonormalise it first "
                         f"(e.g. numpy.linalg.qr) - the metrics assume an orthonormal basis")
    return basis


def _fraction(g: np.ndarray, basis: np.ndarray, name: str) -> float:
    norm2 = float(g @ g)
    if not norm2 > 0:
        raise ValueError(f"{name} is the zero gradient (norm 0); its subspace fraction is undefined")
    return float(np.clip(np.sum((basis.T @ g) ** 2) / norm2, 0.0, 1.0))


def _curve(steps: Any, returns: Any) -> tuple[np.ndarray, np.ndarray]:
    t = _array(steps, "steps").reshape(-1) if np.ndim(steps) <= 1 else None
    r = _array(returns, "returns").reshape(-1) if np.ndim(returns) <= 1 else None
    if t is None or r is None:
        raise ValueError(f"steps and returns must be 1-D, got shapes {np.shape(steps)} and {np.shape(returns)}")
    if t.shape != r.shape or t.size == 0:
        raise ValueError(f"steps and returns must be non-empty and of equal length, got {t.size} and {r.size}")
    decreasing = np.flatnonzero(np.diff(t) < 0)
    if decreasing.size:
        i = int(decreasing[0])
        raise ValueError(f"steps must be non-decreasing; steps[{i}] = {t[i]:g} > steps[{i + 1}] = {t[i + 1]:g}")
    return t, r
