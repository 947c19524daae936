"""The Rayleigh-Ritz state of one diagonal block: its basis, the basis's image, restarts, residuals."""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = ["Subspace", "expand", "orthonormal_complement"]


def orthonormal_complement(D: np.ndarray, V: np.ndarray | None, rng, *, drop: float = 1e-8,
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


class Subspace:
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


def expand(op, subs: list[Subspace], blocks_D, rng) -> None:
    """Orthonormalise each block's new directions against its basis, multiply all blocks'
    directions in ONE packed operator call, and add them to the bases.

    ``blocks_D``: one [n_b, q_b] array (or None: nothing new) per diagonal block, in the order of
    ``subs``; a packed column carries one vector of every block.
    """
    Qs = []
    for s, D in zip(subs, blocks_D):
        if D is None or D.shape[1] == 0 or s.m >= s.n:
            Qs.append(None)
            continue
        Q = orthonormal_complement(D, s.V[:, : s.m] if s.m else None, rng)
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
