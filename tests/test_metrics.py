"""gradsub.metrics against closed-form values: the paper's worked cases (Section 3), exact geometry, the k/n
expectation of random subspaces (with tolerances from the known variances), and learning curves whose
phase boundaries can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradsub.metrics import (
    PHASES,
    gradient_subspace_fraction,
    mean_gradient_subspace_fraction,
    random_baseline,
    smooth_returns,
    subspace_overlap,
    training_phases,
)

torch.set_num_threads(1)

EXACT = 1e-12  # float64 identities on vectors of length <= 60: rounding stays near 1e-15


def e(i: int, n: int) -> np.ndarray:
    v = np.zeros(n)
    v[i] = 1.0
    return v


def basis(*columns) -> np.ndarray:
    return np.stack(columns, axis=1)


def random_basis(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    # QR of a Gaussian matrix: a uniformly random k-dimensional subspace (Haar measure up to signs).
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


# --- subspace overlap: the paper's worked values (Section 3) -----------------------------------------


def test_overlap_identical_subspaces_is_one():
    V = basis(e(0, 3), e(1, 3))
    assert subspace_overlap(V, V) == pytest.approx(1.0, abs=EXACT)


def test_overlap_one_shared_axis_of_two_is_half():
    assert subspace_overlap(basis(e(0, 3), e(1, 3)), basis(e(0, 3), e(2, 3))) == pytest.approx(0.5, abs=EXACT)


def test_overlap_orthogonal_subspaces_is_zero():
    assert subspace_overlap(basis(e(0, 4), e(1, 4)), basis(e(2, 4), e(3, 4))) == pytest.approx(0.0, abs=EXACT)


def test_authors_fourth_case_is_refused_and_its_plane_scores_two_thirds():
    # The authors' test scores V1 = {e1, e2} against (e1+e2)/sqrt2 and (e2+e3)/sqrt2 as 0.75, the mean of
    # those two vectors' squared projections (1 and 1/2). The two vectors are not orthogonal (inner
    # product 1/2), so they are no eigenvector set and the metric must refuse them (the paper,
    # Section 3, defines S_overlap for orthonormal eigenvectors).
    V1 = basis(e(0, 3), e(1, 3))
    skewed = basis((e(0, 3) + e(1, 3)) / math.sqrt(2), (e(1, 3) + e(2, 3)) / math.sqrt(2))
    with pytest.raises(ValueError, match=r"V2 \[3, 2\] does not have orthonormal columns.*0\.5"):
        subspace_overlap(V1, skewed)
    # Any orthonormal basis of the same plane: the plane's normal is (1, -1, 1)/sqrt3, so it keeps
    # 1 - 1/3 = 2/3 of e3 and ||V1^T V2||_F^2 = 2 - 2/3 = 4/3, divided by k = 2: 2/3.
    plane = np.linalg.qr(skewed)[0]
    assert subspace_overlap(V1, plane) == pytest.approx(2 / 3, abs=EXACT)
    assert subspace_overlap(plane, V1) == pytest.approx(2 / 3, abs=EXACT)


def test_overlap_is_symmetric_basis_invariant_and_bounded():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, k = int(rng.integers(2, 30)), 0
        k = int(rng.integers(1, n + 1))
        A, B = random_basis(rng, n, k), random_basis(rng, n, k)
        Q = random_basis(rng, k, k)  # an orthogonal k x k matrix: another basis of the same subspace
        value = subspace_overlap(A, B)
        assert 0.0 <= value <= 1.0
        assert subspace_overlap(B, A) == pytest.approx(value, abs=EXACT)
        assert subspace_overlap(A @ Q, B) == pytest.approx(value, abs=EXACT)
        assert subspace_overlap(A, A @ Q) == pytest.approx(1.0, abs=EXACT)


def test_overlap_of_random_subspaces_is_k_over_n():
    # For independent uniform k-subspaces of R^n, ||V1^T V2||_F^2 / k has mean k/n and variance
    # 2 (n-k)^2 / (n^2 (n-1) (n+2)); the mean of M draws is within 5 standard errors but for a
    # probability below 1e-6 (and the seed is fixed).
    rng = np.random.default_rng(1)
    n, k, M = 40, 4, 400
    A = random_basis(rng, n, k)
    values = [subspace_overlap(A, random_basis(rng, n, k)) for _ in range(M)]
    stderr = math.sqrt(2 * (n - k) ** 2 / (n**2 * (n - 1) * (n + 2)) / M)
    assert abs(np.mean(values) - random_baseline(k, n)) <= 5 * stderr


# --- gradient subspace fraction ---------------------------------------------------------------------


def test_fraction_in_span_is_one_and_orthogonal_is_zero():
    rng = np.random.default_rng(2)
    V = random_basis(rng, 12, 3)
    assert gradient_subspace_fraction(V @ rng.standard_normal(3), V) == pytest.approx(1.0, abs=EXACT)
    x = rng.standard_normal(12)
    assert gradient_subspace_fraction(x - V @ (V.T @ x), V) == pytest.approx(0.0, abs=EXACT)
    assert gradient_subspace_fraction(e(0, 2) + e(1, 2), basis(e(0, 2))) == pytest.approx(0.5, abs=EXACT)


def test_fraction_is_rotation_and_scale_invariant():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 40))
        k = int(rng.integers(1, n + 1))
        V, Q = random_basis(rng, n, k), random_basis(rng, k, k)
        g = rng.standard_normal(n)
        value = gradient_subspace_fraction(g, V)
        assert 0.0 <= value <= 1.0
        assert gradient_subspace_fraction(g, V @ Q) == pytest.approx(value, abs=EXACT)
        assert gradient_subspace_fraction(-7.5 * g, V) == pytest.approx(value, abs=EXACT)
    assert gradient_subspace_fraction(g, random_basis(rng, n, n)) == pytest.approx(1.0, abs=EXACT)  # k = n


def test_fraction_of_random_subspaces_is_k_over_n():
    # ||V^T g||^2 / ||g||^2 for a uniform random k-subspace is Beta(k/2, (n-k)/2): mean k/n, variance
    # 2k(n-k) / (n^2 (n+2)). The mean of M draws lies within 5 standard errors (fixed seed).
    rng = np.random.default_rng(4)
    n, k, M = 50, 5, 400
    g = rng.standard_normal(n)
    values = [gradient_subspace_fraction(g, random_basis(rng, n, k)) for _ in range(M)]
    stderr = math.sqrt(2 * k * (n - k) / (n**2 * (n + 2)) / M)
    assert abs(np.mean(values) - random_baseline(k, n)) <= 5 * stderr


def test_mean_fraction_is_a_mean_of_ratios():
    V = basis(e(0, 3))
    G = np.stack([e(0, 3), 3.0 * e(1, 3)])  # fractions 1 and 0; the mean gradient's fraction is 1/10
    assert mean_gradient_subspace_fraction(G, V) == pytest.approx(0.5, abs=EXACT)
    assert mean_gradient_subspace_fraction(list(G), V) == pytest.approx(0.5, abs=EXACT)
    assert mean_gradient_subspace_fraction(torch.tensor(G), torch.tensor(V)) == pytest.approx(0.5, abs=EXACT)
    assert gradient_subspace_fraction(G.mean(0), V) == pytest.approx(0.1, abs=EXACT)
    rng = np.random.default_rng(5)
    W, H = random_basis(rng, 9, 2), rng.standard_normal((6, 9))
    expected = np.mean([gradient_subspace_fraction(h, W) for h in H])
    assert mean_gradient_subspace_fraction(H, W) == pytest.approx(expected, abs=EXACT)


def test_torch_and_float32_inputs():
    rng = np.random.default_rng(6)
    V = random_basis(rng, 30, 4)
    g = rng.standard_normal(30)
    expected = gradient_subspace_fraction(g, V)
    assert gradient_subspace_fraction(torch.tensor(g), torch.tensor(V)) == pytest.approx(expected, abs=EXACT)
    # float32 storage rounds entries by ~6e-8 relative: orthonormality within 1e-6 < atol, value within 1e-6.
    V32 = torch.linalg.qr(torch.tensor(V, dtype=torch.float32))[0]
    got = gradient_subspace_fraction(torch.tensor(g, dtype=torch.float32), V32)
    assert got == pytest.approx(gradient_subspace_fraction(g, V32.double().numpy()), abs=1e-6)


def test_random_baseline():
    assert random_baseline(5, 100) == 0.05
    assert random_baseline(100, 5702) == pytest.approx(100 / 5702)
    assert random_baseline(np.int64(3), 3) == 1.0
    for k, n in [(0, 5), (6, 5), (-1, 5)]:
        with pytest.raises(ValueError, match=f"k = {k}, n = {n}"):
            random_baseline(k, n)
    with pytest.raises(ValueError, match="integer"):
        random_baseline(2.5, 10)


# --- bad input --------------------------------------------------------------------------------------


def test_bad_bases_are_refused():
    g = np.ones(4)
    with pytest.raises(ValueError, match=r"orthonormal.*tolerance 0\.0001"):
        gradient_subspace_fraction(g, 2.0 * basis(e(0, 4)))  # scaled, not normalised
    with pytest.raises(ValueError, match=r"\[n, k\] = \[2, 4\].*k <= n.*transposed"):
        gradient_subspace_fraction(np.ones(2), np.eye(4)[:2])
    with pytest.raises(ValueError, match=r"2-D basis.*\(4,\)"):
        gradient_subspace_fraction(g, e(0, 4))
    with pytest.raises(ValueError, match=r"\[4, 0\]"):
        gradient_subspace_fraction(g, np.zeros((4, 0)))
    with pytest.raises(ValueError, match=r"same shape.*\(4, 1\) and \(4, 2\)"):
        subspace_overlap(basis(e(0, 4)), basis(e(0, 4), e(1, 4)))
    with pytest.raises(ValueError, match=r"V1 contains 1 non-finite"):
        subspace_overlap(basis(np.array([np.nan, 0, 0, 1.0])), basis(e(0, 4)))
    # a looser tolerance is available for bases known to be only roughly orthonormal
    assert gradient_subspace_fraction(e(0, 4), basis(e(0, 4) * (1 + 1e-3)), atol=1e-2) == 1.0


def test_bad_gradients_are_refused():
    V = basis(e(0, 4))
    with pytest.raises(ValueError, match=r"g has 3 entries but V has 4 rows"):
        gradient_subspace_fraction(np.ones(3), V)
    with pytest.raises(ValueError, match="zero gradient"):
        gradient_subspace_fraction(np.zeros(4), V)
    with pytest.raises(ValueError, match=r"g contains 1 non-finite.*index \[2\]"):
        gradient_subspace_fraction(np.array([1.0, 0.0, np.inf, 0.0]), V)
    with pytest.raises(ValueError, match=r"G\[1\] is the zero gradient"):
        mean_gradient_subspace_fraction(np.stack([np.ones(4), np.zeros(4)]), V)
    with pytest.raises(ValueError, match=r"length 3 but V has 4 rows"):
        mean_gradient_subspace_fraction(np.ones((4, 3)), V)  # transposed G
    with pytest.raises(ValueError, match="empty"):
        mean_gradient_subspace_fraction([], V)
    with pytest.raises(ValueError, match=r"different lengths \[3, 4\]"):
        mean_gradient_subspace_fraction([np.ones(4), np.ones(3)], V)


# --- training phases ---------------------------------------------------------------------------------


def labels_by_range(labels: np.ndarray) -> dict[str, tuple[int, int] | None]:
    out = {}
    for phase in PHASES:
        idx = np.flatnonzero(labels == phase)
        out[phase] = (int(idx[0]), int(idx[-1])) if idx.size else None
    return out


def test_phases_of_a_ramp_without_smoothing():
    # R = t on t = 0..100: rel = t/100 exceeds 0.1 first at t = 11; the maximum is at t = 100 and the
    # last step before it with rel < 0.9 is t = 89, where convergence begins (inclusive, as the authors).
    t = np.arange(101)
    labels = training_phases(t, t.astype(float), window=0)
    assert labels_by_range(labels) == {"initial": (0, 10), "training": (11, 88), "convergence": (89, 100)}


def test_phases_of_a_ramp_with_smoothing():
    # Half-width 5: s(t) = t inside, (t+5)/2 for t < 5 and (t+95)/2 for t > 95; s(0) = 2.5, max 97.5.
    # rel > 0.1 <=> s > 12 (first at t = 13); rel < 0.9 <=> s < 88 (last at t = 87).
    t = np.arange(101)
    s = smooth_returns(t, t, window=5)
    assert s[0] == 2.5 and s[3] == 4.0 and s[50] == 50.0 and s[100] == 97.5
    labels = training_phases(t, t, window=5)
    assert labels_by_range(labels) == {"initial": (0, 12), "training": (13, 86), "convergence": (87, 100)}


def test_phases_in_env_steps_with_the_default_window():
    # Logged every 1,000 steps; ramp over 1M steps; window +-20,000 steps = +-20 points. Same
    # closed form as above scaled by 1,000: s(0) = 10,000, max 990,000, thresholds s > 108,000
    # (first at t = 109,000) and s < 892,000 (last at t = 891,000).
    t = np.arange(0, 1_000_001, 1_000)
    labels = training_phases(t, t.astype(float))
    boundaries = labels_by_range(labels)
    assert t[boundaries["training"][0]] == 109_000 and t[boundaries["convergence"][0]] == 891_000


def test_dip_after_the_maximum_stays_convergence_and_a_jump_empties_training():
    # 0 until t = 20, then 100 until t = 60, then 50: rel jumps 0 -> 1, then falls to 0.5 after the
    # maximum. Training starts at 20; the last step before the (last) maximum at 59 with rel < 0.9 is 19,
    # before training starts, so the training phase is empty and convergence runs from 20 to the end.
    t = np.arange(100)
    r = np.where(t < 20, 0.0, np.where(t < 60, 100.0, 50.0))
    labels = training_phases(t, r, window=0)
    assert labels_by_range(labels) == {"initial": (0, 19), "training": None, "convergence": (20, 99)}


@pytest.mark.parametrize("window", [0, 300])
@pytest.mark.parametrize("returns", [np.full(30, 3.0), np.full(30, 0.1), -np.arange(30.0)])
def test_never_improving_stays_initial(returns, window):
    # 0.1 is not a binary fraction: window means of it differ in the last bit, which must not count.
    labels = training_phases(np.arange(30) * 100, returns, window=window)
    assert (labels == "initial").all()


def test_phases_at_other_steps():
    t = np.arange(101)
    labels = training_phases(t, t, window=0, at=[0, 10.5, 11, 50, 89, 1_000])
    assert labels.tolist() == ["initial", "initial", "training", "training", "convergence", "convergence"]


def test_phases_are_ordered_on_noisy_curves():
    # Property: labels run initial+ training* convergence*; the first step is always initial (rel = 0).
    rng = np.random.default_rng(7)
    order = {phase: i for i, phase in enumerate(PHASES)}
    for _ in range(30):
        T = int(rng.integers(5, 300))
        t = np.sort(rng.integers(0, 10 * T, size=T)).astype(float)  # irregular, possibly repeated steps
        r = 100 / (1 + np.exp(-(t - rng.uniform(0, 10 * T)) / T)) + rng.normal(0, 10, T)
        labels = training_phases(t, r, window=float(rng.uniform(0, 5 * T)))
        ranks = np.array([order[x] for x in labels])
        assert labels[0] == "initial" and (np.diff(ranks) >= 0).all()
        assert labels.shape == t.shape


def test_smoothing_matches_a_direct_average():
    rng = np.random.default_rng(8)
    t = np.sort(rng.uniform(0, 1_000, 60))
    r = rng.standard_normal(60)
    expected = [r[np.abs(t - ti) <= 75].mean() for ti in t]
    np.testing.assert_allclose(smooth_returns(t, r, window=75), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(smooth_returns(t, r, window=0), r)


def test_phase_inputs_are_checked():
    with pytest.raises(ValueError, match="equal length, got 3 and 2"):
        training_phases([0, 1, 2], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"non-decreasing; steps\[1\] = 5 > steps\[2\] = 3"):
        training_phases([0, 5, 3], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="returns contains 1 non-finite"):
        training_phases([0, 1, 2], [0.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="window"):
        training_phases([0, 1, 2], [0.0, 1.0, 2.0], window=-1)
    with pytest.raises(ValueError, match="non-empty"):
        training_phases([], [])
    labels = training_phases(torch.arange(5), torch.arange(5.0), window=0)  # tensors accepted
    assert labels.tolist() == ["initial", "training", "training", "convergence", "convergence"]
