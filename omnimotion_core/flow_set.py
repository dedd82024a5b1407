"""Pairwise correspondences of one video: the interface between flow and model fitting.

:class:`PairSource` is what model fitting reads: the pairs and counts (small, always in memory) and, on
request, the masks and flow of a few pairs. :class:`FlowSet` is the in-memory source; ``storage`` provides
one that reads the requested pairs from the zarr flow store (for flow sets larger than the memory budget).
Both return the same values for the same pairs, so the batches drawn from them are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

COUNTS_ITEMSIZE = 4
"""Bytes per element of ``counts`` (int32)."""


def flow_set_nbytes(num_pairs: int, num_frames: int, size: tuple[int, int], flow_itemsize: int) -> int:
    """Exact bytes of a flow set held in memory: pairs int64 [P, 2], flow [P, H, W, 2] of ``flow_itemsize``
    bytes per value (2 for float16 as stored, 4 for float32), mask bool [P, H, W], counts int32 [T, H, W]."""
    height, width = size
    pixels = height * width
    return num_pairs * 2 * 8 + num_pairs * pixels * (2 * flow_itemsize + 1) + num_frames * pixels * COUNTS_ITEMSIZE


class PairSource(Protocol):
    """Read access to a video's pairwise correspondences, as the batch sampler needs it.

    ``pairs``, ``counts`` and :meth:`trusted_per_pair` are small and held in memory; :meth:`read_masks`
    and :meth:`read_flow` return the rows of the pairs asked for (possibly read from disk).
    """

    @property
    def pairs(self) -> np.ndarray:
        """int64 [P, 2], (i, j) frame indices of each pair (row)."""
        ...

    @property
    def counts(self) -> np.ndarray:
        """int32 [T, H, W], trusted correspondences of each pixel over all its pairs."""
        ...

    @property
    def num_frames(self) -> int:
        """T, the number of frames of the video."""
        ...

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        ...

    def trusted_per_pair(self) -> np.ndarray:
        """int64 [P], trusted correspondences of each pair (the sum of its mask)."""
        ...

    def read_masks(self, rows: np.ndarray) -> np.ndarray:
        """bool [K, H, W], the masks of pairs ``rows`` (int [K], repeats allowed)."""
        ...

    def read_flow(self, rows: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """float32 [K, N, 2] (dx, dy) pixels: the flow of pair ``rows[k]`` (int [K]) at pixels
        (``xs[k, n]``, ``ys[k, n]``) (int [K, N])."""
        ...


@dataclass(frozen=True)
class FlowSet:
    """Pairwise optical flow of one video with its cycle-consistency masks.

    Attributes:
        pairs: int64 [P, 2], (i, j) frame indices; flow ``p`` maps frame ``pairs[p, 0]`` to ``pairs[p, 1]``.
        flow: float [P, H, W, 2], (dx, dy) in pixels: pixel (x, y) of frame i lands on (x + dx, y + dy)
            in frame j.
        mask: bool [P, H, W], True where the correspondence is trusted (cycle-consistent, inside frame j).
        counts: int32 [T, H, W], number of trusted correspondences of each pixel over all its pairs.
    """

    pairs: np.ndarray
    flow: np.ndarray
    mask: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        num_pairs = self.pairs.shape[0] if self.pairs.ndim == 2 else -1
        if self.pairs.ndim != 2 or self.pairs.shape[1] != 2:
            raise ValueError(f"pairs must be [P, 2], got shape {self.pairs.shape}")
        if self.flow.ndim != 4 or self.flow.shape[0] != num_pairs or self.flow.shape[3] != 2:
            raise ValueError(f"flow must be [P={num_pairs}, H, W, 2], got shape {self.flow.shape}")
        if self.mask.shape != self.flow.shape[:3] or self.mask.dtype != np.bool_:
            raise ValueError(
                f"mask must be bool {self.flow.shape[:3]}, got {self.mask.dtype} {self.mask.shape}"
            )
        if self.counts.ndim != 3 or self.counts.shape[1:] != self.flow.shape[1:3]:
            raise ValueError(f"counts must be [T, {self.flow.shape[1]}, {self.flow.shape[2]}], got {self.counts.shape}")
        if num_pairs and (self.pairs.min() < 0 or self.pairs.max() >= self.counts.shape[0]):
            raise ValueError(f"pairs index frames outside [0, {self.counts.shape[0]})")

    @property
    def num_frames(self) -> int:
        """T, the number of frames of the video."""
        return int(self.counts.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return int(self.flow.shape[1]), int(self.flow.shape[2])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (see :func:`flow_set_nbytes`)."""
        return self.pairs.nbytes + self.flow.nbytes + self.mask.nbytes + self.counts.nbytes

    def trusted_per_pair(self) -> np.ndarray:
        """int64 [P], trusted correspondences of each pair."""
        return self.mask.reshape(len(self.mask), -1).sum(axis=1, dtype=np.int64)

    def read_masks(self, rows: np.ndarray) -> np.ndarray:
        """bool [K, H, W], the masks of pairs ``rows`` (int [K])."""
        return self.mask[rows]

    def read_flow(self, rows: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """float32 [K, N, 2], the flow of pair ``rows[k]`` at pixels (``xs[k, n]``, ``ys[k, n]``)."""
        return self.flow[rows[:, None], ys, xs].astype(np.float32)
