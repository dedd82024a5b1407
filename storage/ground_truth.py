"""The ground truth of a scored video, from either source: an entry of a TAP-Vid pickle
(:mod:`storage.tapvid`) or a sequence of a BADJA folder (:mod:`storage.badja`). The tasks read ground
truth only through here, so both kinds go through the same tracking, scoring, caching and logging."""

from __future__ import annotations

from pathlib import Path

from omnimotion_core.metrics import QueryMode
from storage.badja import badja_files, is_badja_folder, list_badja_sequences, load_badja_sample
from storage.tapvid import TapVidSample, list_tapvid_videos, load_tapvid_sample


def load_ground_truth(
    annotation: Path, name: str, query_mode: QueryMode, resolution: tuple[int, int], max_frames: int | None = None
) -> TapVidSample:
    """The sample of video ``name``: from the BADJA folder ``annotation`` (it has ``joint_annotations/``),
    else from the TAP-Vid pickle ``annotation``; ``max_frames`` keeps the first frames only, as ingestion
    with ``IngestConfig.max_frames`` does."""
    if is_badja_folder(annotation):
        return load_badja_sample(Path(annotation), name, query_mode, resolution, max_frames=max_frames)
    return load_tapvid_sample(Path(annotation), name, query_mode, resolution, max_frames=max_frames)


def ground_truth_files(annotation: Path, name: str) -> list[Path]:
    """The files the ground truth of ``name`` is read from: the TAP-Vid pickle, or the BADJA sequence's
    json, frames and masks."""
    if is_badja_folder(annotation):
        return badja_files(Path(annotation), name)
    return [Path(annotation)]


def list_ground_truth_videos(annotation: Path) -> list[str]:
    """The videos with ground truth: the entries of a TAP-Vid pickle or the sequences of a BADJA folder."""
    if is_badja_folder(annotation):
        return list_badja_sequences(Path(annotation))
    return list_tapvid_videos(Path(annotation))
