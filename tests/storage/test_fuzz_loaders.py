"""Property-based fuzzing of the TAP-Vid loaders and of image-folder ingestion.

Whatever the input, a loader either returns data that keeps the documented invariants or raises a
:class:`~storage.errors.StorageError` naming the file; ingestion that fails leaves no store behind.
"""

from __future__ import annotations

import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from storage.errors import InputError, StorageError
from storage.tapvid import (
    POINT_TOLERANCE,
    iter_tapvid,
    list_tapvid_videos,
    load_tapvid_sample,
)
from storage.video_sources import open_source
from storage.video_store import ingest, list_videos, open_video

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- TAP-Vid records ----------------------------------------------------------------------------------

_FAULTS = [
    "video dtype", "video shape", "points dtype", "points frames", "occluded dtype", "occluded shape",
    "bad value", "missing key",
]


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record (about half the time) or one with a single fault: a field of another dtype or shape,
    a missing key, or one non-finite or far out-of-frame point (harmless when that point is occluded)."""
    frames, height, width, tracks = (draw(st.integers(1, 5)) for _ in range(4))
    fault = draw(st.sampled_from([None] * len(_FAULTS) + _FAULTS))
    video_dtype = draw(st.sampled_from([np.float32, np.int64])) if fault == "video dtype" else np.uint8
    video_shape = (frames, height, width, 3) if fault != "video shape" else (frames, height, width)
    points_dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    if fault == "points dtype":
        points_dtype = draw(st.sampled_from([np.int32, np.complex64]))
    points_shape = (tracks, frames + (fault == "points frames"), 2)
    occluded_shape = (tracks + (fault == "occluded shape"), points_shape[1])
    record: dict[str, Any] = {
        "video": draw(hnp.arrays(video_dtype, video_shape, elements=st.integers(0, 255))),
        "points": draw(hnp.arrays(points_dtype, points_shape, elements=st.integers(0, 1))),
        "occluded": draw(hnp.arrays(np.uint8 if fault == "occluded dtype" else bool, occluded_shape)),
    }
    if points_dtype in (np.float16, np.float32, np.float64):
        unit = st.floats(-0.0625, 1.0625, width=np.finfo(points_dtype).bits)  # exact in float16
        record["points"] = draw(hnp.arrays(points_dtype, points_shape, elements=unit))
    if fault == "bad value":
        index = tuple(draw(st.integers(0, size - 1)) for size in points_shape)
        record["points"][index] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 3.0, -1.0, 1e4]))
    if fault == "missing key":
        del record[draw(st.sampled_from(sorted(record)))]
    return record


def _check_sample(sample: Any, frames: int, resolution: tuple[int, int]) -> None:
    """The documented shapes, dtypes and coordinate conventions of a :class:`TapVidSample`."""
    height, width = resolution
    assert sample.video.dtype == np.uint8 and sample.video.shape == (frames, height, width, 3)
    queries, targets, occluded = sample.query_points, sample.target_points, sample.occluded
    count = len(queries)
    assert queries.dtype == np.float32 and queries.shape == (count, 3)
    assert targets.dtype == np.float32 and targets.shape == (count, frames, 2)
    assert occluded.dtype == np.bool_ and occluded.shape == (count, frames)
    assert np.all(np.isfinite(queries))
    t = queries[:, 0].astype(int)
    assert np.array_equal(t, queries[:, 0]) and np.all((t >= 0) & (t < frames))
    rows = np.arange(count)
    assert not occluded[rows, t].any()
    np.testing.assert_array_equal(targets[rows, t], queries[:, [2, 1]])
    margin = POINT_TOLERANCE + 1e-3
    assert np.all((queries[:, 1] >= -margin * height) & (queries[:, 1] <= (1 + margin) * height))
    assert np.all((queries[:, 2] >= -margin * width) & (queries[:, 2] <= (1 + margin) * width))


@FUZZ
@given(records=st.lists(_records(), min_size=1, max_size=2), resolution=st.sampled_from([(4, 6), (7, 3)]))
def test_tapvid_loaders_return_valid_samples_or_name_the_bad_video(
    records: list[dict[str, Any]], resolution: tuple[int, int]
) -> None:
    names = [f"v{index}" for index in range(len(records))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.pkl"
        path.write_bytes(pickle.dumps(dict(zip(names, records, strict=True)), protocol=4))
        if "video" not in records[0]:  # the format cannot be told: the whole file is refused
            with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: .* first entry has no 'video' key"):
                list_tapvid_videos(path)
            return
        assert list_tapvid_videos(path) == names
        for name, record in zip(names, records, strict=True):
            try:
                sample = load_tapvid_sample(path, name, "strided", resolution)
            except InputError as error:
                assert str(error).startswith(f"{path}: video '{name}'")
                continue
            _check_sample(sample, len(record["video"]), resolution)
        try:
            samples = list(iter_tapvid(path, query_mode="first", resolution=resolution))
        except InputError as error:
            assert str(error).startswith(f"{path}: video ")
        else:
            assert [sample.name for sample in samples] == names
            for sample, record in zip(samples, records, strict=True):
                _check_sample(sample, len(record["video"]), resolution)


def _valid_pickles() -> dict[int, bytes]:
    """A two-video DAVIS pickle at protocols 2 (bytes through ``_codecs.encode``) and 5 (``_frombuffer``)."""
    rng = np.random.default_rng(0)
    videos = {
        name: {
            "video": rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8),
            "points": rng.uniform(0, 1, (2, 3, 2)).astype(np.float32),
            "occluded": np.array([[False, True, False], [True, False, False]]),
        }
        for name in ("a", "b")
    }
    return {protocol: pickle.dumps(videos, protocol=protocol) for protocol in (2, 5)}


_VALID = _valid_pickles()
_LONGEST = max(map(len, _VALID.values()))


@FUZZ
@given(
    protocol=st.sampled_from(sorted(_VALID)),
    edits=st.lists(
        st.tuples(st.integers(0, _LONGEST), st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
    cut=st.none() | st.integers(1, _LONGEST),
)
def test_damaged_tapvid_pickles_load_or_raise_a_storage_error(
    protocol: int, edits: list[tuple[int, str, int]], cut: int | None
) -> None:
    data = bytearray(_VALID[protocol][:cut])
    for position, kind, value in edits:
        position %= max(len(data), 1)
        if kind == "flip" and data:
            data[position] ^= value or 1
        elif kind == "insert":
            data.insert(position, value)
        elif data:
            del data[position]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.pkl"
        path.write_bytes(bytes(data))
        try:
            for sample in iter_tapvid(path, resolution=None):
                _check_sample(sample, len(sample.video), sample.video.shape[1:3])
        except StorageError as error:
            assert str(error).startswith(str(path))


# --- image folders ------------------------------------------------------------------------------------

_GOOD_EXTENSIONS = [".png", ".PNG", ".jpg", ".jpeg"]


@st.composite
def _image_files(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    """``(name, kind, payload)`` entries of a folder; kinds: png (exact), jpg (lossy), empty, garbage,
    text, hidden, folder. Frame numbers are distinct so the natural order is well defined."""
    numbers = draw(st.lists(st.integers(0, 120), min_size=0, max_size=4, unique=True))
    prefix = draw(st.sampled_from(["", "frame", "Img_"]))
    height, width = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    entries = []
    for number in numbers:
        kind = draw(st.sampled_from(["png"] * 6 + ["jpg"] * 2 + ["empty", "garbage", "text", "folder", "resized"]))
        channels = draw(st.sampled_from([None, 1, 3, 4]))
        dtype = draw(st.sampled_from([np.uint8, np.uint16]))
        shape = (height, width) if channels is None else (height, width, channels)
        if kind == "resized":
            shape = (height + 1, *shape[1:])
        image = draw(hnp.arrays(dtype, shape, elements=st.integers(0, np.iinfo(dtype).max)))
        extension = {"jpg": ".jpg", "text": ".txt"}.get(kind, draw(st.sampled_from(_GOOD_EXTENSIONS[:2])))
        entries.append((f"{prefix}{number}{extension}", kind, image))
    if draw(st.booleans()):
        entries.append((".DS_Store", "hidden", None))
    return entries


def _write_entry(folder: Path, name: str, kind: str, image: Any) -> None:
    path = folder / name
    if kind == "folder":
        path.mkdir()
    elif kind in ("png", "resized"):
        assert cv2.imwrite(str(path), image)
    elif kind == "jpg":
        assert cv2.imwrite(str(path), (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "hidden":
        path.write_bytes(b"\x00\x01")
    else:
        path.write_bytes(b"not an image at all" if kind == "garbage" else b"notes")


def _expected_rgb(image: np.ndarray) -> np.ndarray:
    """What a stored frame must hold for a PNG written from ``image`` (gray, BGR or BGRA; 8 or 16 bit)."""
    eight = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image
    if eight.ndim == 2 or eight.shape[2] == 1:
        return np.repeat(eight.reshape(*eight.shape[:2], 1), 3, axis=2)
    return eight[:, :, 2::-1]


def _expected_error(entries: list[tuple[str, str, Any]]) -> str | None:
    """The message part ingestion must fail with, or None when the folder is a good one."""
    visible = [(name, kind) for name, kind, _ in entries if kind != "hidden"]
    if any(kind in ("text", "folder") for _, kind in visible):
        return "not an image folder"
    if not visible:
        return "holds no images"
    if any(kind == "empty" for _, kind in visible):
        return "the image file is empty"
    first_kind = None
    for name, kind in sorted(visible, key=lambda entry: _frame_number(entry[0])):
        if kind == "garbage":
            return f"{name}: cannot decode this image"
        first_kind = first_kind or kind
        if (kind == "resized") != (first_kind == "resized"):
            return f"{name}: image is"
    return None


def _frame_number(name: str) -> int:
    return int("".join(filter(str.isdigit, name)))


@FUZZ
@given(entries=_image_files())
def test_image_folder_ingestion_stores_every_frame_in_order_or_fails_leaving_nothing(
    entries: list[tuple[str, str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder, root = Path(scratch) / "images", Path(scratch) / "data"
        folder.mkdir()
        for name, kind, image in entries:
            _write_entry(folder, name, kind, image)
        expected_error = _expected_error(entries)
        try:
            group = open_video(ingest(open_source(folder), root, "clip"))
        except InputError as error:
            assert expected_error is not None and expected_error in str(error), (expected_error, str(error))
            assert list_videos(root) == [] and not any((root / "videos").glob("*"))
            return
        assert expected_error is None
        frames = [e for e in entries if e[1] != "hidden"]
        frames.sort(key=lambda entry: _frame_number(entry[0]))
        stored = group.read_frames()
        assert stored.shape == (len(frames), *frames[0][2].shape[:2], 3)
        for frame, (_, kind, image) in zip(stored, frames, strict=True):
            if kind == "png":
                np.testing.assert_array_equal(frame, _expected_rgb(image))
