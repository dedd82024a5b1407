"""Cache identities and liveness checks of ``tasks/caching.py`` (no Prefect server needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from storage import layout
from storage.errors import IncompleteStoreError
from storage.video_sources import ArraySource
from storage.video_store import ingest
from tasks.caching import (
    existing_files,
    file_identity,
    ground_truth_identity,
    published_stores,
    store_identity,
    video_identity,
)
from tests import badja_folder
from tests.badja_folder import write_badja_folder


def _frames(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)


def test_video_identity_follows_the_frames_not_the_name(tmp_path: Path) -> None:
    first = ingest(ArraySource(_frames(0)), tmp_path, "first")
    same = ingest(ArraySource(_frames(0)), tmp_path, "same")
    other = ingest(ArraySource(_frames(1)), tmp_path, "other")
    assert video_identity(str(first)) == video_identity(str(same)) != video_identity(str(other))


def test_store_identity_names_the_video_content_and_the_store(tmp_path: Path) -> None:
    group = ingest(ArraySource(_frames(0)), tmp_path, "clip")
    identity = store_identity(str(group / "fits" / "omnimotion-fast-1234abcd"))
    assert identity == {"video": video_identity(str(group)), "store": "omnimotion-fast-1234abcd"}


def test_identity_of_a_missing_video_raises_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(IncompleteStoreError):
        video_identity(str(tmp_path / "videos" / "gone.zarr"))


def test_file_identity_changes_with_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.pkl"
    path.write_bytes(b"one")
    before = file_identity(str(path))
    path.write_bytes(b"two, longer")
    assert file_identity(str(path)) != before


def test_a_deleted_store_is_no_longer_live(tmp_path: Path) -> None:
    group = ingest(ArraySource(_frames(0)), tmp_path, "clip")
    assert published_stores(str(group)) and layout.is_published(group)
    shutil.rmtree(group)
    assert not published_stores(str(group))
    assert not published_stores([str(tmp_path / "videos" / "clip.zarr.partial-1234")])


def test_pictures_are_live_while_every_file_exists(tmp_path: Path) -> None:
    picture = tmp_path / "clip-tracks.mp4"
    picture.write_bytes(b"mp4")
    assert existing_files([str(picture)])
    picture.unlink()
    assert not existing_files([str(picture)])


def test_ground_truth_identity_of_a_pickle_is_its_file_identity(tmp_path: Path) -> None:
    path = tmp_path / "data.pkl"
    path.write_bytes(b"one")
    assert ground_truth_identity(str(path), "any") == file_identity(str(path))


def test_ground_truth_identity_of_a_badja_sequence_follows_its_labels_frames_and_masks(tmp_path: Path) -> None:
    root = write_badja_folder(tmp_path / "badja", ("dog", "cat"))
    before = ground_truth_identity(str(root), "dog")
    assert before != ground_truth_identity(str(root), "cat")  # same frames and labels, but no masks
    entries = badja_folder.entries()
    entries[0]["joints"][0] = [300, 330]
    (root / "joint_annotations" / "dog.json").write_text(json.dumps(entries), encoding="utf-8")
    after_labels = ground_truth_identity(str(root), "dog")
    assert after_labels != before
    mask = root / "DAVIS" / "Annotations" / "480p" / "dog" / "00003.png"
    cv2.imwrite(str(mask), np.full((36, 64), 255, dtype=np.uint8))
    assert ground_truth_identity(str(root), "dog") != after_labels
