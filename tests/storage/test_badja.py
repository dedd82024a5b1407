"""Tests for storage/badja.py and storage/ground_truth.py on a tiny BADJA folder the tests make."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from storage.badja import badja_files, find_badja_sequence, is_badja_folder, list_badja_sequences, load_badja_sample
from storage.errors import InputError
from storage.ground_truth import ground_truth_files, list_ground_truth_videos, load_ground_truth
from storage.tapvid import load_tapvid_sample, write_tapvid_davis_pickle
from storage.video_sources import ImageFolderSource
from storage.video_store import IngestConfig, ingest, open_video
from tests import badja_folder
from tests.badja_folder import write_badja_folder


@pytest.fixture
def badja(tmp_path: Path) -> Path:
    return write_badja_folder(tmp_path / "badja", ("dog", "cat"))


def _rewrite_json(root: Path, entries: object) -> Path:
    path = root / "joint_annotations" / "dog.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_lists_sequences_and_finds_their_files(badja: Path) -> None:
    assert is_badja_folder(badja) and not is_badja_folder(badja / "DAVIS")
    assert list_badja_sequences(badja) == ["cat", "dog"]
    sequence = find_badja_sequence(badja, "dog")
    assert sequence.frames_dir == badja / "DAVIS" / "JPEGImages" / "480p" / "dog"
    assert [path.name for path in sequence.frames] == [f"{index:05d}.jpg" for index in range(6)]
    assert sorted(sequence.masks) == [1, 3]
    assert find_badja_sequence(badja, "cat").masks == {}
    assert list(sequence.labels.frames) == [1, 3, 5]


def test_sample_at_source_resolution_holds_labels_only_in_labelled_frames(badja: Path) -> None:
    sample = load_badja_sample(badja, "dog", resolution=None)
    assert sample.video.shape == (6, 36, 64, 3)
    # Joint 2 is never visible: no query. Joint 1 is queried at frame 3, the others at frame 1.
    assert sample.query_points.tolist() == [[1, 8, 10], [3, 20, 30], [1, 30, 50], [1, 10, 40]]
    assert sample.query_points.dtype == np.float32 and sample.target_points.dtype == np.float32
    labelled = np.zeros((4, 6), dtype=bool)
    labelled[:, [1, 3, 5]] = True
    assert np.array_equal(sample.evaluation_mask, labelled)
    assert np.all(np.isnan(sample.target_points[:, [0, 2, 4]]))
    assert sample.target_points[0, [1, 3, 5]].tolist() == [[10, 8], [12, 8], [14, 8]]
    assert sample.target_points[3, 5].tolist() == [40, 10]  # a hidden joint keeps its labelled position
    visible = np.array([[0, 1, 0, 1, 0, 1], [0, 0, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=bool)
    assert np.array_equal(sample.occluded, ~visible)  # unlabelled frames are not visible (and not scored)
    areas = sample.object_areas
    assert areas is not None and areas.scale_xy == (1.0, 1.0)
    assert np.array_equal(areas.area, [np.nan, 100, np.nan, 100, np.nan, np.nan], equal_nan=True)


def test_resized_sample_scales_points_and_equals_the_ingested_frames(badja: Path, tmp_path: Path) -> None:
    sample = load_badja_sample(badja, "dog", resolution=(72, 32))
    # x = col * 32 / 1920 = source x / 2, y = row * 72 / 1080 = source y * 2.
    assert sample.target_points[0, [1, 3, 5]].tolist() == [[5, 16], [6, 16], [7, 16]]
    assert sample.query_points[0].tolist() == [1, 16, 5]
    assert sample.object_areas is not None and sample.object_areas.scale_xy == (0.5, 2.0)
    assert sample.object_areas.area[1] == 100  # counted in source pixels
    frames_dir = find_badja_sequence(badja, "dog").frames_dir
    group = open_video(ingest(ImageFolderSource(frames_dir), tmp_path / "data", "dog", IngestConfig(size=(72, 32))))
    assert np.array_equal(group.read_frames(), sample.video)


def test_strided_queries_and_max_frames(badja: Path) -> None:
    strided = load_badja_sample(badja, "dog", "strided", resolution=None)
    # Query frames 0 and 5; frame 0 has no label, frame 5 has joints 0, 1 and 2 visible.
    assert strided.query_points[:, 0].tolist() == [5, 5, 5]
    assert strided.evaluation_mask.shape == (3, 6)
    cut = load_badja_sample(badja, "dog", resolution=None, max_frames=4)
    assert cut.video.shape[0] == 4 and cut.evaluation_mask.shape == (4, 4)
    assert np.array_equal(cut.evaluation_mask[0], [False, True, False, True])
    assert cut.object_areas is not None and cut.object_areas.area.shape == (4,)


def test_ground_truth_reads_either_source(badja: Path, tmp_path: Path) -> None:
    assert list_ground_truth_videos(badja) == ["cat", "dog"]
    sample = load_ground_truth(badja, "dog", "first", (36, 64))
    assert sample.evaluation_mask is not None
    files = ground_truth_files(badja, "dog")
    assert files[0] == badja / "joint_annotations" / "dog.json" and len(files) == 1 + 6 + 2
    assert badja_files(badja, "cat")[1:] == list(find_badja_sequence(badja, "cat").frames)
    pickle_path = tmp_path / "clip.pkl"
    points = np.full((2, 6, 2), 0.5, dtype=np.float32)
    write_tapvid_davis_pickle(pickle_path, {"clip": {"video": badja_folder.frames(), "points": points,
                                                     "occluded": np.zeros((2, 6), dtype=bool)}})
    from_pickle = load_ground_truth(pickle_path, "clip", "first", (36, 64), max_frames=3)
    direct = load_tapvid_sample(pickle_path, "clip", "first", (36, 64), max_frames=3)
    assert from_pickle.evaluation_mask is None and from_pickle.object_areas is None
    assert from_pickle.target_points.shape == (2, 3, 2)
    assert np.array_equal(from_pickle.target_points, direct.target_points)
    assert ground_truth_files(pickle_path, "clip") == [pickle_path]
    assert list_ground_truth_videos(pickle_path) == ["clip"]


def test_a_missing_sequence_names_the_json_and_the_known_sequences(badja: Path) -> None:
    with pytest.raises(InputError, match=r"joint_annotations/fox\.json: no such file: no sequence 'fox'.*cat, dog"):
        find_badja_sequence(badja, "fox")


def test_missing_frames_are_named(badja: Path) -> None:
    frames_dir = find_badja_sequence(badja, "cat").frames_dir
    for path in frames_dir.iterdir():
        path.unlink()
    frames_dir.rmdir()
    with pytest.raises(InputError, match=r"cat\.json: the frames of sequence 'cat' are missing \(no folder .*480p/cat"):
        find_badja_sequence(badja, "cat")


def test_frames_must_be_numbered_from_zero_without_gaps(badja: Path) -> None:
    frames_dir = find_badja_sequence(badja, "dog").frames_dir
    (frames_dir / "00002.jpg").unlink()
    with pytest.raises(InputError, match=r"480p/dog: frames must be numbered from 00000 without gaps.*00002 is miss"):
        find_badja_sequence(badja, "dog")
    (frames_dir / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"notes\.txt: not a frames file named by its frame index"):
        find_badja_sequence(badja, "dog")


def test_a_label_beyond_the_frames_names_the_json(badja: Path) -> None:
    entries = badja_folder.entries()
    entries[2]["image_path"] = "DAVIS/JPEGImages/Full-Resolution/dog/00006.jpg"
    path = _rewrite_json(badja, entries)
    message = rf"{path}: entry 2: labels frame 6 \(.*00006\.jpg\), but the sequence has 6 frames \(00000-00005\)"
    with pytest.raises(InputError, match=message):
        load_badja_sample(badja, "dog")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda entries: entries[1].update(joints=entries[1]["joints"][:4]),
         r"entry 1: 'joints' has 4 entries but 'visibility' 5"),
        (lambda entries: entries[2].update(joints=entries[2]["joints"][:4], visibility=entries[2]["visibility"][:4]),
         r"entry 2: 4 joints, entry 0 has 5"),
        (lambda entries: entries[0]["joints"].__setitem__(1, [3, 4, 5]),
         r"entry 0: 'joints' must be a non-empty list of \[row, col\] number pairs"),
        (lambda entries: entries[0].update(visibility="yes"), r"entry 0: 'visibility' must be a list of booleans"),
        (lambda entries: entries[1].update(image_path="DAVIS/dog/last.jpg"),
         r"entry 1: image_path 'DAVIS/dog/last.jpg' does not name a frame"),
        (lambda entries: entries[1].update(image_path=entries[0]["image_path"]),
         r"entry 1: frame 1 is labelled twice \(also entry 0\)"),
        (lambda entries: entries[0].pop("visibility"), r"entry 0: expected a dict with keys 'image_path'"),
        (lambda entries: entries[0]["joints"].__setitem__(0, [5000, 10]),
         r"entry 0: visible joint 0 at \(row, col\) = \(5000, 10\) lies outside the 1920x1080"),
    ],
)
def test_malformed_labels_are_named(badja: Path, change, message: str) -> None:
    entries = badja_folder.entries()
    change(entries)
    path = _rewrite_json(badja, entries)
    with pytest.raises(InputError, match=rf"{path}: {message}"):
        load_badja_sample(badja, "dog")


def test_not_badja_json_is_named(badja: Path) -> None:
    path = _rewrite_json(badja, {"joints": []})
    with pytest.raises(InputError, match=rf"{path}: expected a list of labelled frames .* got a JSON dict"):
        find_badja_sequence(badja, "dog")
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}: not valid JSON"):
        find_badja_sequence(badja, "dog")
    _rewrite_json(badja, [])
    with pytest.raises(InputError, match="the list of labelled frames is empty"):
        find_badja_sequence(badja, "dog")


def test_a_mask_of_another_size_is_named(badja: Path) -> None:
    mask = find_badja_sequence(badja, "dog").masks[3]
    cv2.imwrite(str(mask), np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(InputError, match=rf"{mask}: the mask is 10x10, the frames are 64x36"):
        load_badja_sample(badja, "dog")


def test_not_a_badja_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a BADJA folder"):
        list_badja_sequences(tmp_path)
    (tmp_path / "joint_annotations").mkdir()
    with pytest.raises(InputError, match=r"joint_annotations: no joint annotations"):
        list_badja_sequences(tmp_path)
