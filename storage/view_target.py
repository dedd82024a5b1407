"""What the track explorer (``omnimotion view``) reads from disk: a video group with its finished fits and
stored predictions, or one video of a benchmark's results folder, and where its ground truth lies.

Targets:

- a video group ``<root>/videos/<video_id>.zarr`` with at least one complete fit (``fits/<name>/``);
- a results folder ``<root>/results/<dataset>/`` (it holds ``runs.csv``): one of its videos (the first of
  the run table unless named), whose group is ``<root>/videos/<dataset>-<video>.zarr`` as the benchmark
  names it, with the run table's rows of that video.

Ground truth is found from the video group's ``source`` attribute: ``<pickle>::<name>`` of a TAP-Vid pickle,
``<name>.tapvid.pkl`` beside a video file or image folder, or the BADJA folder around a sequence's frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from storage import layout
from storage.badja import is_badja_folder, list_badja_sequences
from storage.errors import IncompleteStoreError, InputError
from storage.fit_store import list_checkpoints
from storage.flow_store import MASK_ARRAY, PAIRS_ARRAY
from storage.prediction_store import list_predictions
from storage.runs_table import RUNS_CSV
from storage.video_store import VideoGroup, open_video

_BADJA_FRAMES_DEPTH = 3
"""A BADJA sequence's frames lie at ``<badja>/DAVIS/JPEGImages/<resolution>/<sequence>/``."""


@dataclass(frozen=True)
class FitEntry:
    """A complete fit of a video group.

    Attributes:
        name: the fit folder's name (``<method>-<preset>-<hash>``).
        path: the fit folder.
        params: what the fit was made from: ``model`` (the model config as a dict) and ``flow_set`` (its name).
    """

    name: str
    path: Path
    params: dict[str, Any]


@dataclass(frozen=True)
class ViewTarget:
    """One video and what is stored about it.

    Attributes:
        video: the opened video group.
        name: the video's name in its dataset (ground truth entry, run table rows).
        fits: its complete fits with a checkpoint, newest first.
        predictions: folders of its stored predictions (every method a benchmark ran), sorted by name.
        annotation: the TAP-Vid pickle or BADJA folder holding its ground truth under ``name``; None: none found.
        runs: the run table rows of this video (a results folder target), else empty.
    """

    video: VideoGroup
    name: str
    fits: list[FitEntry]
    predictions: list[Path]
    annotation: Path | None
    runs: list[dict[str, object]] = field(default_factory=list)


def list_complete_fits(video_group: Path) -> list[FitEntry]:
    """The complete fits of a video group that have a checkpoint, newest first (by the group's modification time)."""
    folder = Path(video_group) / layout.FITS_GROUP
    if not folder.is_dir():
        return []
    fits = []
    for entry in folder.iterdir():
        if not (entry / "zarr.json").is_file() or not list_checkpoints(entry):
            continue
        attrs = dict(zarr.open_group(str(entry), mode="r").attrs)
        if attrs.get("complete") is True:
            fits.append((entry.stat().st_mtime, FitEntry(entry.name, entry, dict(attrs["params"]))))
    return [fit for _, fit in sorted(fits, key=lambda item: (-item[0], item[1].name))]


def ground_truth_of(video: VideoGroup) -> tuple[Path, str] | None:
    """``(annotation, name)`` of the ground truth of a video group, from its source; None when there is none."""
    source = str(video.attrs.get("source") or "")
    kind = video.attrs.get("source_kind")
    if kind == "tapvid_pickle" and "::" in source:
        pickle, name = source.rsplit("::", 1)
        return (Path(pickle), name) if Path(pickle).is_file() else None
    if kind in ("video_file", "image_folder"):
        path = Path(source)
        annotation = layout.annotation_path(path)
        if annotation.is_file():
            return annotation, layout.source_name(path)
        if kind == "image_folder" and len(path.parents) > _BADJA_FRAMES_DEPTH:
            badja = path.parents[_BADJA_FRAMES_DEPTH]
            if is_badja_folder(badja) and path.name in list_badja_sequences(badja):
                return badja, path.name
    return None


def read_runs_table(results_dir: Path) -> list[dict[str, object]]:
    """The rows of a benchmark's run table ``runs.csv`` (absent values dropped from each row)."""
    path = Path(results_dir) / RUNS_CSV
    if not path.is_file():
        raise InputError(f"{results_dir}: no {RUNS_CSV} here (not a benchmark's results folder)")
    frame = pd.read_csv(path, dtype={"video": str, "method": str})
    return [{key: value for key, value in row.items() if not pd.isna(value)} for row in frame.to_dict("records")]


def open_view_target(path: Path, video: str | None = None) -> ViewTarget:
    """The video behind ``path`` (a video group or a results folder, see the module docstring).

    Args:
        path: the target given on the command line.
        video: the video of a results folder to show (default: the first of its run table); only for a
            results folder.

    Raises:
        InputError: ``path`` is neither, the video is unknown, or it has no complete fit (the message says how
            to make one).
    """
    path = Path(path)
    if (path / "zarr.json").is_file():
        if video is not None:
            raise InputError(f"{path}: --video chooses a video of a results folder; this is one video group")
        return open_video_target(path)
    if not (path / RUNS_CSV).is_file():
        raise InputError(f"{path}: neither a video group (<root>/videos/<video>.zarr) nor a benchmark's results "
                         f"folder (<root>/results/<dataset>/ with {RUNS_CSV})")
    rows = read_runs_table(path)
    names = list(dict.fromkeys(str(row["video"]) for row in rows))
    if not names:
        raise InputError(f"{path / RUNS_CSV}: the run table has no rows")
    if video is not None and video not in names:
        raise InputError(f"{path}: no video {video!r} in the run table; it has: {', '.join(names[:10])}")
    name = video or names[0]
    group_path = layout.video_path(path.parent.parent, layout.video_id_from_name(f"{path.name}-{name}"))
    runs = [row for row in rows if str(row["video"]) == name]
    return open_video_target(group_path, name, runs=runs)


def open_video_target(
    group_path: Path, name: str | None = None, require_fit: bool = True, runs: list[dict[str, object]] | None = None
) -> ViewTarget:
    """The video group at ``group_path`` as a target, called ``name`` (default: its ground truth's entry,
    else its video id).

    Raises:
        InputError: no video group there, or (``require_fit``) it has no complete fit.
    """
    group_path = Path(group_path)
    if not (group_path / "zarr.json").is_file():
        raise InputError(f"{group_path}: no video group here")
    group = open_video(group_path)
    fits = list_complete_fits(group_path)
    if require_fit and not fits:
        raise InputError(f"{group_path}: no finished fit to explore; fit one with: omnimotion fit {group_path}")
    found = ground_truth_of(group)
    annotation = found[0] if found else None
    label = name or (found[1] if found else group.video_id)
    return ViewTarget(group, label, fits, list_predictions(group_path), annotation, runs or [])


class PairMasks:
    """The consistency masks of a finished flow set, read one pair at a time (for display).

    Attributes:
        path: the flow set group.
    """

    def __init__(self, path: Path) -> None:
        if not layout.is_published(path):
            raise IncompleteStoreError(f"{path}: not a finished flow set")
        self.path = Path(path)
        group = zarr.open_group(str(path), mode="r")
        self._mask = group[MASK_ARRAY]
        self._rows = {(int(i), int(j)): row for row, (i, j) in enumerate(group[PAIRS_ARRAY][:].tolist())}

    def read(self, i: int, j: int) -> np.ndarray | None:
        """bool [H, W]: the mask of the pair (i, j) (True: a trusted correspondence); None when the set lacks it."""
        row = self._rows.get((i, j))
        return None if row is None else np.asarray(self._mask[row])
