"""The iteration of the "block" method: block Krylov-Davidson on every diagonal block at once.

Each step does Rayleigh-Ritz on the whole basis of each block, ranks the Ritz pairs of all blocks
together, tests the top k + guard for convergence (Gram-matrix residual estimates screen, the vectors
decide), and expands every block by the residuals of its unconverged pairs in ONE packed operator
call, restarting a block ("+k" thick restart) when its basis is full. Soft locking: a pair found
converged is not recomputed while its Ritz value stays put.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradsub.lanczos import warm_start as warm
from gradsub.lanczos.eigenpairs import EPS23
from gradsub.lanczos.subspace import Subspace, expand

__all__ = ["BlockSettings", "IterationResult", "STALL_PASSES", "iterate"]

# The float32 phase hands over to the operator's dtype after this many iterations without a new
# converged pair among the top k (once the basis holds k + guard vectors): a few pairs at the end of a
# flat tail can stall there for hundreds of passes (seen on a SAC critic), which the operator's dtype
# resolves in a few dozen.
STALL_PASSES = 25


@dataclass(frozen=True)
class BlockSettings:
    """The sizes of one "block" solve (see ``top_eigenpairs``): k pairs, ``block_size`` vectors per
    call and diagonal block, at most ``max_passes`` operator calls, ``max_basis`` basis vectors per
    block before a restart (None: the default there)."""

    k: int
    block_size: int
    max_passes: int
    max_basis: int | None


@dataclass(frozen=True)
class IterationResult:
    values: np.ndarray
    vectors: np.ndarray
    residual_norms: np.ndarray  # from the solver's own products
    converged: bool
    iterations: int
    warm_mode: str
    float32_error: float = 0.0
    guard_vectors: Callable[[], np.ndarray] | None = None  # the k + guard Ritz vectors, on demand


def iterate(op, sizes, warm_start, *, settings: BlockSettings, rng, passes: Callable[[], int], tol,
            basis=False, floor=0.0) -> IterationResult:
    """Block Krylov-Davidson on the diagonal blocks ``sizes`` of ``op`` at once, started as
    ``warm_start.start`` says. A pair converges when its residual is at most
    max(tol * max(|theta|, eps^(2/3) ||H||), floor). ``passes()``: operator calls so far, counted
    over every precision against ``settings.max_passes``."""
    k = settings.k
    n = op.shape[0]
    guard = min(n - k, max(5, int(np.ceil(0.15 * k))))
    nwant = k + guard
    b = settings.block_size
    max_basis = settings.max_basis
    if max_basis is None:
        max_basis = max(4 * nwant, nwant + 3 * b)
    bounds = np.cumsum([0] + list(sizes))
    subs = [Subspace(int(lo), int(hi), max(max_basis, min(nwant, hi - lo) + 2 * b))
            for lo, hi in zip(bounds[:-1], bounds[1:])]
    mode = warm.start(op, subs, warm_start, rng, block_size=b, basis=basis)

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
        limits = [np.maximum(tol * np.maximum(np.abs(s.theta[:c]), EPS23 * norm_est), floor)
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
        stalled = floor > 0 and iters - progress_at >= STALL_PASSES
        if done or complete or stalled or passes() >= settings.max_passes:
            # The answer's residuals always come from the vectors, every returned pair at once.
            rnorms = [s.explicit_residual_norms(c) for s, c in zip(subs, counts)]
            conv = [r <= bd for r, bd in zip(rnorms, limits)]
            done = finished(conv)
            if done or complete or stalled or passes() >= settings.max_passes:
                return assemble(subs, top, rnorms, k, n, done or complete, iters, mode)
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
        expand(op, subs, blocks_D, rng)


def assemble(subs, top, rnorms, k, n, converged, iters, mode) -> IterationResult:
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
    return IterationResult(values=values, vectors=gather(kk), residual_norms=norms, converged=converged,
                   iterations=iters, warm_mode=mode, guard_vectors=lambda: gather(len(top)))
