"""Warm start of the "block" method: the first block from the span of given vectors, and whether to
take all of them into the basis.

A Krylov method needs about 4-5 k products whatever its start, unless the start is nearly exact
(package notes): so the given vectors join the basis only when the operator maps their span into
itself to within ``WARM_LEAK``; otherwise the solve continues as a Krylov method from a start drawn
from their span.
"""

from __future__ import annotations

import numpy as np

from gradsub.lanczos.subspace import Subspace, expand, orthonormal_complement

__all__ = ["WARM_LEAK", "start"]

# A warm start is used as a basis when H maps vectors of its span into it up to this relative part:
# on a trained actor's Hessian (benchmarks/eigensolver.py) a basis leaking more than about 5e-3 costs
# more products than a Krylov start from its span, one leaking less saves some.
WARM_LEAK = 3e-3


def start(op, subs: list[Subspace], warm_start: np.ndarray | None, rng, *, block_size: int,
          basis: bool) -> str:
    """Fill every block's basis with its first directions and return the warm mode.

    Cold (``warm_start`` None): ``block_size`` random directions per block, mode "". Warm: with
    ``basis`` every given vector joins the basis at once ("basis"); otherwise ``block_size`` random
    combinations of them start it, and if the operator maps their span into itself to within
    ``WARM_LEAK`` all of them join too ("basis"), else the mode is "combination".
    """
    b = block_size
    warm_bases = [None] * len(subs)
    starts = []
    for i, s in enumerate(subs):
        Wb = None
        if warm_start is not None:
            Wb = orthonormal_complement(warm_start[s.lo : s.hi], None, rng, fill=False, drop=1e-6)
            if Wb.shape[1] == 0:
                Wb = None
        warm_bases[i] = Wb
        if Wb is not None and basis:
            starts.append(Wb)
        elif Wb is not None:
            starts.append(Wb @ rng.standard_normal((Wb.shape[1], min(b, Wb.shape[1]))))
        else:
            starts.append(rng.standard_normal((s.n, min(b, s.n))))
    mode = "" if warm_start is None else ("basis" if basis else "combination")
    expand(op, subs, starts, rng)

    if mode == "combination" and _leak(subs, warm_bases) <= WARM_LEAK:
        mode = "basis"
        expand(op, subs, warm_bases, rng)
    return mode


def _leak(subs: list[Subspace], warm_bases) -> float:
    """Largest relative part of H Y outside span(W) over the blocks, Y the start drawn from span(W)
    (the basis's first directions, their images already computed)."""
    leak = 0.0
    for s, Wb in zip(subs, warm_bases):
        if Wb is None:
            continue
        AY = s.AV[:, : s.m]
        outside = AY - Wb @ (Wb.T @ AY)
        leak = max(leak, np.linalg.norm(outside) / max(np.linalg.norm(AY), 1e-300))
    return leak
