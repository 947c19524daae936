"""The validated keyword arguments of ``top_eigenpairs``, handed to the chosen solver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SolveOptions"]


@dataclass(frozen=True)
class SolveOptions:
    """The keyword arguments of :func:`top_eigenpairs` after validation; each solver reads the ones
    it uses (see there)."""

    tol: float
    warm_start: np.ndarray | None
    verify: bool
    block_size: int | None
    max_passes: int | None
    max_basis: int | None
    maxiter: int
    precision: str
    blocks: str | Sequence[int] | None
