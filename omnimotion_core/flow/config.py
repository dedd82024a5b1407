"""The settings of the flow stage: which engine, which pairs, which correspondences are trusted, chaining."""

from __future__ import annotations

from dataclasses import dataclass

from omnimotion_core.flow.chaining import ChainingConfig
from omnimotion_core.flow.consistency import ConsistencyConfig
from omnimotion_core.flow.engines import FlowEngineConfig
from omnimotion_core.flow.pairs import PairSelectionConfig


@dataclass(frozen=True)
class FlowConfig:
    """How pairwise flow is computed and filtered.

    Attributes:
        engine: flow engine (DIS by default; RAFT needs ``engine.raft.weights``, a local checkpoint).
        pairs: which frame pairs (all ordered pairs for videos up to 64 frames, else a window plus
            long-range pairs).
        consistency: which correspondences are trusted (3 px forward-backward cycle check).
        chaining: whether consecutive flows are chained into long-gap correspondences (stored as a second
            flow set derived from the direct one; the fit uses the derived set).
        chunk_pairs: unordered pairs per task: the unit of parallelism and of resumption.
    """

    engine: FlowEngineConfig = FlowEngineConfig()
    pairs: PairSelectionConfig = PairSelectionConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()
    chaining: ChainingConfig = ChainingConfig()
    chunk_pairs: int = 16

    def __post_init__(self) -> None:
        if self.chunk_pairs < 1:
            raise ValueError(f"chunk_pairs must be >= 1, got {self.chunk_pairs}")
