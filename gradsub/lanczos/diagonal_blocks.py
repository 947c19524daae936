"""Block-diagonal operators for the "block" method: find (or check) the diagonal blocks.

The SAC critic's Hessian is exactly block-diagonal (two independent Q-nets). Each block gets its own
Krylov space, and every operator column carries one vector of EACH block, so one product serves all
blocks at once (about half the products for the two Q-nets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["block_sizes", "check_blocks", "detect_blocks"]

# Relative size of an off-block image still counted as zero when detecting blocks: structurally
# independent parameters give exact zeros, so anything visibly nonzero means coupling.
BLOCK_LEAK = 1e-12

# At most this many diagonal blocks are told apart (one probe product each); the rest of the
# operator is one block. Networks give a few blocks (two Q-nets); a diagonal operator would give
# n / 16 and spend the whole pass budget on probes.
MAX_BLOCKS = 8


def block_sizes(ops, blocks: str | Sequence[int] | None, rng) -> list[int]:
    """Sizes of the diagonal blocks to solve side by side (summing to n).

    ``blocks``: "auto" (detected with one probe product per block), None (one block) or given sizes
    (checked with one probe product). ``ops``: the solve's ``precision.Precisions``; the probes run
    on its cheapest operator.
    """
    n = ops.high.shape[0]
    if blocks is None:
        return [n]
    if isinstance(blocks, str):
        if blocks != "auto":
            raise ValueError(f"blocks must be 'auto', None or a sequence of sizes, got {blocks!r}")
        return ops.call_fast(detect_blocks, rng)
    sizes = [int(s) for s in blocks]
    if any(s < 1 for s in sizes) or sum(sizes) != n:
        raise ValueError(f"blocks must be positive sizes summing to n={n}, got {sizes}")
    if len(sizes) > 1:
        ops.call_fast(check_blocks, sizes, rng)
    return sizes


def detect_blocks(op, rng) -> list[int]:
    """Split points of an exactly block-diagonal operator, found with products.

    A random vector on the first few coordinates of the remaining range maps to a vector whose
    last nonzero entry ends its block (a parameter couples with every parameter of its own
    network); the split is kept only if a random vector on everything after it has no image
    before it (checked in the next call). One call per block, with two columns.
    """
    n = op.shape[0]
    splits: list[int] = []
    lo = 0
    pending: int | None = None  # a split to verify
    while True:
        cols = []
        if pending is not None:
            v = np.zeros(n)
            v[pending:] = rng.standard_normal(n - pending)
            cols.append(v)
        probe = None
        if lo < n:
            probe = np.zeros(n)
            width = min(16, n - lo)
            probe[lo : lo + width] = rng.standard_normal(width)
            cols.append(probe)
        Y = op.matmat(np.stack(cols, axis=1))
        col = 0
        if pending is not None:
            y = Y[:, 0]
            col = 1
            leak = np.max(np.abs(y[:pending]), initial=0.0)
            if leak > BLOCK_LEAK * max(np.max(np.abs(y)), np.finfo(float).tiny):
                return _sizes(splits, n)  # coupled after all: stop at the verified splits
            splits.append(pending)
            pending = None
        if probe is None:
            return _sizes(splits, n)
        nonzero = np.flatnonzero(Y[:, col])
        last = int(nonzero[-1]) if nonzero.size else n - 1
        end = max(last + 1, lo + min(16, n - lo))
        if end >= n or len(splits) + 1 >= MAX_BLOCKS:
            return _sizes(splits, n)
        pending, lo = end, end

def check_blocks(op, sizes, rng) -> None:
    n = op.shape[0]
    bounds = np.cumsum([0] + list(sizes))
    X = np.zeros((n, len(sizes)))
    for j in range(len(sizes)):
        X[bounds[j] : bounds[j + 1], j] = rng.standard_normal(sizes[j])
    Y = op.matmat(X)
    for j in range(len(sizes)):
        outside = np.concatenate([Y[: bounds[j], j], Y[bounds[j + 1] :, j]])
        if np.max(np.abs(outside), initial=0.0) > BLOCK_LEAK * max(np.max(np.abs(Y[:, j])), 1e-300):
            raise ValueError(
                f"blocks={list(sizes)}: the operator couples block {j} "
                f"(coordinates {bounds[j]}:{bounds[j + 1]}) with others; it is not block-diagonal "
                "with these sizes (use blocks='auto' or None)"
            )


def _sizes(splits: list[int], n: int) -> list[int]:
    points = [0] + splits + [n]
    return [b - a for a, b in zip(points[:-1], points[1:])]
