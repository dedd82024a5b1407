"""The whole on-disk layout, in one place.

Everything the pipeline writes lives under one data root (default ``./data``, see
:func:`default_data_root`)::

    <root>/
      videos/
        <video_id>.zarr/                 one zarr v3 group per video (schema SCHEMA_VERSION)
          zarr.json                      group attributes, see VIDEO_ATTRS below
          frames                         uint8 [T, H, W, 3] RGB, chunks (1, H, W, 3)
          flows/<flow_set>/              one group per flow set (named after its parameters): the direct set,
                                         and the set derived from it by chaining (params + ``chaining``)
            flow                         float16 [P, H, W, 2] (dx, dy) pixels from frame i to frame j
            mask                         bool    [P, H, W]    cycle-consistent correspondences
            pairs                        int32   [P, 2]       (i, j) frame indices of each pair
            counts                       int32   [T, H, W]    consistent correspondences per pixel
          fits/<fit_name>/               one group per model fit
            checkpoints/step_<n>.pt      torch state (model, optimiser, sampler, step)
            dense/                       query_points [N, 3], tracks [N, T, 2], occluded [N, T] of a
                                         pixel grid of one frame (see storage/fit_store.py)
            depth                        float16 [T, H, W] pseudo-depth
            matches/                     frames [M, 2], source [M, 2], target [M, 2]: the long-gap matches
                                         the surface model found (read again by a resumed fit)
        <video_id>.zarr.partial-<uuid>/  a group being written; never read, removed when stale
      datasets/<name>.pkl                generated TAP-Vid-DAVIS-format pickles (synthetic benchmark)
      results/<run>/                     results tables (CSV + markdown) and the run table (runs.csv, runs.md)
                                         of a benchmark, its pictures in visuals/
      results/<video_id>/fits/           pictures of the fits of ``process`` / ``fit``: <fit_name>-tracks.mp4
                                         (dense tracks over the frames), -depth.png, -loss.png
      task-results/<cache key>           Prefect result records of the stage tasks (see tasks/caching.py)
      mlflow.db                          MLflow tracking store (SQLite)
      mlartifacts/                       MLflow artifacts

Publishing rule: a group (a video, a flow set, a fit) is written under a ``.partial-<uuid>`` name and
renamed into place only when finished, with ``complete: true`` among its attributes. A reader accepts
only a group under its final name whose attributes say ``complete: true`` and carry a schema version it
knows; anything else is an :class:`~storage.errors.IncompleteStoreError`.

Benchmark folders (outside the root): a folder of videos may hold, beside ``clip.mp4`` or the image
folder ``clip/``, its ground truth as ``clip.tapvid.pkl`` (see :func:`annotation_path`): a TAP-Vid
DAVIS-format pickle whose entry ``clip`` has the query tracks; only such videos are scored. A BADJA
folder (``joint_annotations/<seq>.json`` + ``DAVIS/JPEGImages/<res>/<seq>/`` frames, masks in
``DAVIS/Annotations/<res>/<seq>/``; see :mod:`storage.badja`) is read in place: each sequence is the
image folder of its frames, scored against its json.

Task results: each stage task's return value (a store path, a record) is kept as one Prefect result
record per cache key under ``task-results/``, so a rerun in any process finds it. A record only ever
points into the stores above; deleting ``task-results/`` loses no data, only the shortcut.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

import zarr

from storage.errors import InputError

SCHEMA_VERSION = 1
"""Version of the video group layout; bumped on any incompatible change."""

VIDEOS_DIR = "videos"
DATASETS_DIR = "datasets"
RESULTS_DIR = "results"
ANNOTATION_SUFFIX = ".tapvid.pkl"
TASK_RESULTS_DIR = "task-results"
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS_DIR = "mlartifacts"

VIDEO_SUFFIX = ".zarr"
PARTIAL_MARKER = ".partial-"

FRAMES_ARRAY = "frames"
FLOWS_GROUP = "flows"
FITS_GROUP = "fits"
FIT_PICTURES_DIR = "fits"

VIDEO_ATTRS = (
    "schema_version",  # int, SCHEMA_VERSION at writing time
    "complete",  # bool, True once every array is written
    "source",  # str, what was read (path, or "<array>", or "pickle::name")
    "source_kind",  # "video_file" | "image_folder" | "array" | "tapvid_pickle"
    "source_hash",  # sha256 of the input bytes (files) or array bytes
    "ingest_config",  # dict, the IngestConfig that produced the frames
    "ingest_key",  # sha256 of (source_hash, ingest_config): equal keys mean an identical store
    "content_hash",  # sha256 of the stored frames (shape + bytes)
    "fps",  # float or None when the source has none
    "original_size",  # [height, width] of the source frames
    "size",  # [height, width] of the stored frames
    "num_frames",  # int, T
    "source_frame_count",  # int, frames read from the source up to the last one kept
    "header_frame_count",  # int or None, what the container claims (may lie: tree.avi)
)

_MAX_ID_LENGTH = 120


def default_data_root() -> Path:
    """The data root used when none is given: ``./data`` under the current directory."""
    return Path.cwd() / "data"


def video_id_from_name(name: str) -> str:
    """Turn a user-visible name (file stem, pickle key) into a safe, stable store key.

    Keeps letters, digits, ``-``, ``_`` and ``.`` (non-ASCII letters are transliterated when
    possible), replaces everything else by ``_``, strips leading dots so a key can never be ``..`` or
    hidden, and caps the length (a long name keeps a hash suffix so distinct names stay distinct). A name
    whose letters have no ASCII form (``视频``) becomes ``video-<hash>``; one with no letter or digit at all
    (``""``, ``"..."``) is an InputError. Lone surrogates (undecodable file names) are hashed as they are.
    """
    if not isinstance(name, str):
        raise InputError(f"video name must be a string, got {type(name).__name__}")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    if not key:
        if not any(character.isalnum() for character in name):
            raise InputError(f"video name {name!r} has no usable characters for a store key")
        return f"video-{digest}"
    if key == name and len(key) <= _MAX_ID_LENGTH:
        return key
    return f"{key[: _MAX_ID_LENGTH - 9]}-{digest}"


def videos_dir(root: Path) -> Path:
    """Folder holding every video group under ``root``."""
    return Path(root) / VIDEOS_DIR


def video_path(root: Path, video_id: str) -> Path:
    """Path of the finished zarr group of ``video_id`` under ``root``."""
    if video_id_from_name(video_id) != video_id:
        raise InputError(f"{video_id!r} is not a valid video id; pass names through video_id_from_name")
    return videos_dir(root) / f"{video_id}{VIDEO_SUFFIX}"


def dataset_path(root: Path, name: str) -> Path:
    """Path of a generated dataset pickle called ``name`` under ``root``."""
    return Path(root) / DATASETS_DIR / f"{video_id_from_name(name)}.pkl"


def results_dir(root: Path, run_name: str) -> Path:
    """Folder for the results tables of one run."""
    return Path(root) / RESULTS_DIR / video_id_from_name(run_name)


def fit_pictures_dir(root: Path, video_id: str) -> Path:
    """Folder of the pictures of the fits of ``process`` / ``fit`` of one video:
    ``results/<video_id>/fits/<fit_name>-{tracks.mp4,depth.png,loss.png}``."""
    return results_dir(root, video_id) / FIT_PICTURES_DIR


def mlflow_tracking_uri(root: Path) -> str:
    """SQLite tracking URI of the MLflow store under ``root``."""
    return f"sqlite:///{(Path(root) / MLFLOW_DB).resolve()}"


def mlflow_artifacts_dir(root: Path) -> Path:
    """Folder for MLflow artifacts under ``root``."""
    return Path(root) / MLFLOW_ARTIFACTS_DIR


def task_results_dir(root: Path) -> Path:
    """Absolute folder of the stage tasks' result records under ``root`` (one file per cache key)."""
    return Path(root).resolve() / TASK_RESULTS_DIR


def data_root_of(video_group: Path) -> Path:
    """The data root a video group lives under (``<root>/videos/<video_id>.zarr``)."""
    return Path(video_group).parent.parent


def video_group_of(store: Path) -> Path:
    """The video group holding a flow set, fit or predictions group (``<video>.zarr/<kind>/<name>``)."""
    return Path(store).parent.parent


def is_published(path: Path) -> bool:
    """True when ``path`` is a group under its final name whose attributes say ``complete: true`` (the
    publishing rule above); False for a missing, partial or unfinished group."""
    path = Path(path)
    if PARTIAL_MARKER in path.name or not (path / "zarr.json").is_file():
        return False
    return zarr.open_group(str(path), mode="r").attrs.get("complete") is True


def annotation_path(video: Path) -> Path:
    """Where the ground truth of a video file or image folder of a benchmark folder lives:
    ``<folder>/<stem>.tapvid.pkl``, holding the entry ``<stem>`` (see :func:`source_name`)."""
    return Path(video).with_name(source_name(video) + ANNOTATION_SUFFIX)


def source_name(source: Path) -> str:
    """The name of a video file, image folder or dataset in tables and store keys: a file's stem, a
    folder's name (a video of a benchmark folder is also its annotation's entry)."""
    source = Path(source)
    return source.name if source.is_dir() else source.stem
