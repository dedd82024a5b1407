"""Pairwise optical flow (DIS, Farneback, RAFT), cycle-consistency filtering, pair selection, chaining (consecutive
and MFT-style multi-gap), long-gap descriptor matches, flow trackers."""

from omnimotion_core.flow.chaining import (
    ChainingConfig,
    chain_flow_set,
    chain_from_frame,
    consecutive_flows,
    derive_from_frame,
)
from omnimotion_core.flow.config import FlowConfig
from omnimotion_core.flow.consistency import (
    ConsistencyConfig,
    color_distance,
    consistency_mask,
    cycle_error,
    lands_in_frame,
)
from omnimotion_core.flow.engines import (
    DisConfig,
    FarnebackConfig,
    FlowEngine,
    FlowEngineConfig,
    OpenCvFlowEngine,
    PairFlows,
    RaftEngineConfig,
    RaftFlowEngine,
    build_flow_engine,
    compute_flow,
    iter_pair_flows,
)
from omnimotion_core.flow.external import flow_set_from_tracks
from omnimotion_core.flow.flow_set_builder import (
    compute_flow_set,
    compute_pair_chunk,
    count_correspondences,
    flow_set_params,
    merge_flow_sets,
)
from omnimotion_core.flow.matches import MatchConfig, Matches, find_matches
from omnimotion_core.flow.mft import MftConfig
from omnimotion_core.flow.pairs import (
    PairSelectionConfig,
    select_pairs,
    split_pairs,
    unordered_pairs,
)
from omnimotion_core.flow.trackers import track_chained, track_direct, track_mft

__all__ = [
    "ChainingConfig",
    "ConsistencyConfig",
    "DisConfig",
    "FarnebackConfig",
    "FlowConfig",
    "FlowEngine",
    "FlowEngineConfig",
    "MatchConfig",
    "Matches",
    "MftConfig",
    "OpenCvFlowEngine",
    "PairFlows",
    "PairSelectionConfig",
    "RaftEngineConfig",
    "RaftFlowEngine",
    "build_flow_engine",
    "chain_flow_set",
    "chain_from_frame",
    "color_distance",
    "compute_flow",
    "compute_flow_set",
    "find_matches",
    "compute_pair_chunk",
    "consecutive_flows",
    "derive_from_frame",
    "consistency_mask",
    "count_correspondences",
    "cycle_error",
    "flow_set_from_tracks",
    "flow_set_params",
    "iter_pair_flows",
    "lands_in_frame",
    "merge_flow_sets",
    "select_pairs",
    "split_pairs",
    "track_chained",
    "track_direct",
    "track_mft",
    "unordered_pairs",
]
