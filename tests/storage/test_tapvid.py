"""Tests for storage/tapvid.py: TAP-Vid formats, query sampling as in tapnet, scaling, validation."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from storage.errors import InputError, UnsafePickleError
from storage.tapvid import (
    TapVidSample,
    iter_tapvid,
    list_tapvid_videos,
    load_tapvid_sample,
    read_tapvid_video,
    write_tapvid_davis_pickle,
)

T, H, W = 6, 8, 10
NAN = np.nan
RGB = (200, 30, 60)


def _tracks() -> tuple[np.ndarray, np.ndarray]:
    """Four tracks over T = 6 frames, (x, y) normalised; NaN only where occluded.

    track 0: visible everywhere, x = 0.1 * (t + 1), y = 0.5
    track 1: occluded at frames 0-1, then visible at (0.25, 0.75)
    track 2: never visible
    track 3: visible at frames 0-2 at (0.5, 0.25), occluded after
    """
    occluded = np.array(
        [
            [False] * 6,
            [True, True, False, False, False, False],
            [True] * 6,
            [False, False, False, True, True, True],
        ]
    )
    points = np.full((4, T, 2), NAN, dtype=np.float32)
    points[0, :, 0] = 0.1 * (np.arange(T) + 1)
    points[0, :, 1] = 0.5
    points[1, 2:] = (0.25, 0.75)
    points[3, :3] = (0.5, 0.25)
    return points, occluded


def _video(height: int = H, width: int = W, frames: int = T) -> np.ndarray:
    """uint8 [T, H, W, 3]: a distinct constant per frame in each channel."""
    video = np.zeros((frames, height, width, 3), dtype=np.uint8)
    video[...] = (np.arange(frames, dtype=np.uint8) * 10)[:, None, None, None] + np.array([1, 2, 3], np.uint8)
    return video


def _record(**overrides: Any) -> dict[str, Any]:
    points, occluded = _tracks()
    record: dict[str, Any] = {"video": _video(), "points": points, "occluded": occluded}
    record.update(overrides)
    return record


def _jpeg_frames(frames: int = T, height: int = H, width: int = W) -> list[bytes]:
    bgr = np.zeros((height, width, 3), dtype=np.uint8)
    bgr[...] = RGB[::-1]
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return [encoded.tobytes()] * frames


def _dump(path: Path, data: object) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


@pytest.fixture
def davis_path(tmp_path: Path) -> Path:
    return _dump(tmp_path / "tapvid_davis.pkl", {"bear": _record(), "camel": _record(video=_video() + 100)})


def _only(path: Path, **kwargs: Any) -> TapVidSample:
    samples = list(iter_tapvid(path, **kwargs))
    assert len(samples) >= 1
    return samples[0]


def test_first_queries_are_first_visible_frames_and_never_visible_tracks_are_dropped(
    davis_path: Path,
) -> None:
    sample = _only(davis_path, query_mode="first", resolution=None)
    # (t, y, x) pixels: y * H, x * W; track 2 (never visible) dropped.
    np.testing.assert_allclose(sample.query_points, [[0, 4.0, 1.0], [2, 6.0, 2.5], [0, 2.0, 5.0]], rtol=1e-6)
    points, occluded = _tracks()
    np.testing.assert_array_equal(sample.occluded, occluded[[0, 1, 3]])
    expected = points[[0, 1, 3]].astype(np.float64) * (W, H)
    np.testing.assert_allclose(sample.target_points, expected, rtol=1e-6)
    np.testing.assert_allclose(sample.target_points[0, :, 0], [1, 2, 3, 4, 5, 6], rtol=1e-6)


def test_strided_queries_take_every_fifth_frame_in_frame_major_order(davis_path: Path) -> None:
    sample = _only(davis_path, query_mode="strided", resolution=None)
    # frame 0: tracks 0 and 3 visible; frame 5: tracks 0 and 1 visible.
    np.testing.assert_allclose(
        sample.query_points, [[0, 4.0, 1.0], [0, 2.0, 5.0], [5, 4.0, 6.0], [5, 6.0, 2.5]], rtol=1e-6
    )
    _, occluded = _tracks()
    np.testing.assert_array_equal(sample.occluded, occluded[[0, 3, 0, 1]])
    assert sample.target_points.shape == (4, T, 2)


def test_sample_dtypes_and_shapes_follow_the_documented_conventions(davis_path: Path) -> None:
    sample = _only(davis_path, resolution=(16, 20))
    assert sample.name == "bear"
    assert sample.video.dtype == np.uint8 and sample.video.shape == (T, 16, 20, 3)
    assert sample.query_points.dtype == np.float32 and sample.query_points.shape == (3, 3)
    assert sample.target_points.dtype == np.float32 and sample.target_points.shape == (3, T, 2)
    assert sample.occluded.dtype == np.bool_ and sample.occluded.shape == (3, T)


def test_points_scale_by_output_size_not_size_minus_one(davis_path: Path) -> None:
    sample = _only(davis_path, query_mode="first", resolution=(16, 20))
    np.testing.assert_allclose(
        sample.query_points, [[0, 8.0, 2.0], [2, 12.0, 5.0], [0, 4.0, 10.0]], rtol=1e-6
    )
    np.testing.assert_allclose(sample.target_points[0, :, 0], 2.0 * np.arange(1, T + 1), rtol=1e-6)


def test_samples_come_in_stored_order_with_their_own_video(davis_path: Path) -> None:
    samples = list(iter_tapvid(davis_path, resolution=None))
    assert [sample.name for sample in samples] == ["bear", "camel"]
    np.testing.assert_array_equal(samples[1].video, _video() + 100)


def test_native_resolution_leaves_frames_untouched(davis_path: Path) -> None:
    np.testing.assert_array_equal(_only(davis_path, resolution=(H, W)).video, _video())


def test_shrinking_averages_pixel_blocks(tmp_path: Path) -> None:
    frame = np.array([[0, 40, 100, 100], [80, 120, 100, 100], [7, 7, 0, 0], [7, 7, 0, 0]], dtype=np.uint8)
    video = np.repeat(frame[None, :, :, None], 3, axis=3).repeat(T, axis=0)
    points, occluded = _tracks()
    path = _dump(tmp_path / "d.pkl", {"v": {"video": video, "points": points, "occluded": occluded}})
    resized = _only(path, resolution=(2, 2)).video
    np.testing.assert_array_equal(resized[0, :, :, 0], [[60, 100], [7, 0]])


def test_growing_keeps_constant_frames_constant(davis_path: Path) -> None:
    video = _only(davis_path, resolution=(24, 30)).video
    np.testing.assert_array_equal(video, np.broadcast_to(_video()[:, :1, :1], (T, 24, 30, 3)))


def test_kinetics_jpeg_frames_decode_to_rgb(tmp_path: Path) -> None:
    points, occluded = _tracks()
    record = {"video": _jpeg_frames(), "points": points, "occluded": occluded}
    path = _dump(tmp_path / "0000_of_0010.pkl", [record])
    sample = _only(path, resolution=None)
    assert sample.name == "0000" and sample.video.shape == (T, H, W, 3)
    np.testing.assert_allclose(sample.video.reshape(-1, 3).mean(axis=0), RGB, atol=3)


def test_kinetics_as_written_by_generate_tapvid_loads(tmp_path: Path) -> None:
    points, occluded = _tracks()
    size_xy = np.array([W, H], dtype=np.float64)
    shifted = (points.astype(np.float64) * size_xy - 0.5) / size_xy  # generate_tapvid.py's half-pixel shift
    shifted[3, :3, 0] = -0.5 / W  # a point clicked on the left edge ends up just below 0
    record = {"video": np.array(tuple(_jpeg_frames())), "points": shifted, "occluded": occluded}
    path = _dump(tmp_path / "0000_of_0010.pkl", [record])
    sample = _only(path, query_mode="first", resolution=(16, 20))
    assert sample.video.shape == (T, 16, 20, 3)
    np.testing.assert_allclose(sample.query_points[2], [0, (2.0 - 0.5) / H * 16, -1.0], rtol=1e-6)


def test_rgb_stacking_list_entries_are_named_by_zero_padded_index(tmp_path: Path) -> None:
    path = _dump(tmp_path / "rgb.pkl", [_record() for _ in range(3)])
    assert list_tapvid_videos(path) == ["0000", "0001", "0002"]
    assert [sample.name for sample in iter_tapvid(path)] == ["0000", "0001", "0002"]


def test_long_lists_get_wider_names(tmp_path: Path) -> None:
    tiny = _record(video=_video(1, 1, T))
    path = _dump(tmp_path / "rgb.pkl", [tiny] * 10_001)
    names = list_tapvid_videos(path)
    assert names[0] == "00000" and names[-1] == "10000"


@pytest.mark.parametrize(
    "data, dataset_format",
    [
        ({"bear": _record()}, "davis"),
        ([_record()], "rgb_stacking"),
        ([_record(video=_jpeg_frames())], "kinetics"),
        ({"clip": _record(video=_jpeg_frames())}, "kinetics"),
    ],
)
def test_auto_detection_reads_like_the_explicit_format(
    tmp_path: Path, data: object, dataset_format: str
) -> None:
    path = _dump(tmp_path / "data.pkl", data)
    auto = _only(path, resolution=None)
    explicit = _only(path, dataset_format=dataset_format, resolution=None)
    np.testing.assert_array_equal(auto.video, explicit.video)
    np.testing.assert_array_equal(auto.query_points, explicit.query_points)


@pytest.mark.parametrize(
    "data, dataset_format, message",
    [
        ([_record()], "davis", r"not a TAP-Vid davis pickle: expected a dict of video name -> record"),
        ({"bear": _record()}, "rgb_stacking", r"expected a list of records \(RGB-Stacking\)"),
        ([_record()], "kinetics", r"video '0000': 'video' is an array .*expected a list of JPEG-encoded"),
        ([_record(video=_jpeg_frames())], "rgb_stacking", r"'video' is a list; expected uint8 \[T, H"),
    ],
)
def test_explicit_format_that_does_not_match_is_an_input_error(
    tmp_path: Path, data: object, dataset_format: str, message: str
) -> None:
    path = _dump(tmp_path / "data.pkl", data)
    with pytest.raises(InputError, match=message):
        iter_tapvid(path, dataset_format=dataset_format)  # type: ignore[arg-type]


def test_read_video_returns_original_frames(davis_path: Path) -> None:
    np.testing.assert_array_equal(read_tapvid_video(davis_path, "camel"), _video() + 100)


def test_read_video_decodes_kinetics_frames(tmp_path: Path) -> None:
    path = _dump(tmp_path / "k.pkl", [_record(video=_jpeg_frames())])
    video = read_tapvid_video(path, "0000")
    assert video.shape == (T, H, W, 3) and video.dtype == np.uint8


@pytest.mark.parametrize("query_mode", ["first", "strided"])
def test_load_one_sample_equals_the_iterated_one(davis_path: Path, query_mode: str) -> None:
    iterated = list(iter_tapvid(davis_path, query_mode=query_mode, resolution=(16, 20)))[1]
    loaded = load_tapvid_sample(davis_path, "camel", query_mode, (16, 20))  # type: ignore[arg-type]
    assert loaded.name == "camel"
    for field in ("video", "query_points", "target_points", "occluded"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(iterated, field))


def test_unknown_video_name_lists_valid_names(davis_path: Path) -> None:
    with pytest.raises(InputError, match=r"no video 'zebra'; it holds 2 videos: 'bear', 'camel'$"):
        read_tapvid_video(davis_path, "zebra")
    with pytest.raises(InputError, match=r"no video 'zebra'; it holds 2 videos: 'bear', 'camel'$"):
        load_tapvid_sample(davis_path, "zebra")


def test_unknown_video_name_list_is_cut_short(tmp_path: Path) -> None:
    path = _dump(tmp_path / "rgb.pkl", [_record()] * 7)
    with pytest.raises(InputError, match=r"holds 7 videos: '0000', '0001', '0002', '0003', '0004', \.\.\.$"):
        read_tapvid_video(path, "0007")


def test_round_trip_write_then_iter(tmp_path: Path) -> None:
    points, occluded = _tracks()
    path = tmp_path / "datasets" / "synthetic.pkl"
    record = {"video": _video(), "points": points.astype(np.float64), "occluded": occluded}
    write_tapvid_davis_pickle(path, {"synth": record})
    assert list_tapvid_videos(path) == ["synth"]
    sample = _only(path, resolution=None)
    np.testing.assert_array_equal(sample.video, _video())
    np.testing.assert_allclose(sample.query_points, [[0, 4.0, 1.0], [2, 6.0, 2.5], [0, 2.0, 5.0]], rtol=1e-6)
    with path.open("rb") as handle:
        stored = pickle.load(handle)
    assert stored["synth"]["points"].dtype == np.float32
    assert sorted(stored["synth"]) == ["occluded", "points", "video"]


def test_write_replaces_an_existing_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.pkl"
    path.write_bytes(b"old")
    write_tapvid_davis_pickle(path, {"a": _record()})
    assert os.listdir(tmp_path) == ["synthetic.pkl"]
    assert list_tapvid_videos(path) == ["a"]


@pytest.mark.parametrize(
    "videos, message",
    [
        ({}, r"expected a non-empty mapping of video name -> record"),
        ({"": _record()}, r"video names must be non-empty strings"),
        ({"a": _record(extra=np.zeros(1))}, r"video 'a': unexpected key\(s\) 'extra'"),
        ({"a": _record(points=np.zeros((4, T, 3), np.float32))}, r"video 'a': 'points' is an array"),
        ({"a": _record(video=_video().astype(np.float32))}, r"video 'a': 'video' is an array of dtype f"),
    ],
)
def test_write_rejects_invalid_videos_and_writes_nothing(tmp_path: Path, videos: Any, message: str) -> None:
    path = tmp_path / "synthetic.pkl"
    with pytest.raises(InputError, match=rf"{re.escape(str(path))} \(writing\): .*{message}"):
        write_tapvid_davis_pickle(path, videos)
    assert os.listdir(tmp_path) == []


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.pkl: does not exist"):
        iter_tapvid(tmp_path / "nope.pkl")


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"os\.system"):
        list_tapvid_videos(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (5, r"not a TAP-Vid pickle: expected a dict of video name -> record \(DAVIS\) or a list"),
        ({"bear": [1, 2]}, r"not a TAP-Vid pickle: its first entry is a list, expected a dict with keys"),
        ({}, r"the TAP-Vid pickle holds no videos"),
        ([], r"the TAP-Vid pickle holds no videos"),
        ({1: _record()}, r"video names must be strings, got 1"),
    ],
)
def test_non_tapvid_structures_are_input_errors(tmp_path: Path, data: object, message: str) -> None:
    path = _dump(tmp_path / "data.pkl", data)
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: {message}"):
        list_tapvid_videos(path)


def _broken(**overrides: Any) -> dict[str, Any]:
    return {"bear": _record(), "camel": _record(**overrides)}


def _without(key: str) -> dict[str, Any]:
    record = _record()
    del record[key]
    return {"bear": _record(), "camel": record}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bear": _record(), "camel": 3}, r" is an int; expected a dict with keys 'video', 'points'"),
        (_without("occluded"), r"missing key\(s\) 'occluded'; it has 'video', 'points'"),
        (_broken(points=np.zeros((4, T, 3), np.float32)), r"'points' is an array of .* shape \[4, 6, 3\]"),
        (_broken(points=np.zeros((4, T, 2), np.int64)), r"'points' is an array of dtype int64"),
        (_broken(points=[[[0.0, 0.0]]]), r"'points' is a list; expected float \[N, T, 2\]"),
        (_broken(points=np.zeros((4, T - 1, 2), np.float32)), r"'points' has 5 frames, 'video' has 6"),
        (_broken(occluded=np.zeros((3, T), bool)), r"'occluded' has shape \[3, 6\], expected \[4, 6\]"),
        (_broken(occluded=np.zeros((4, T), np.int64)), r"'occluded' is an array of dtype int64 .*bool"),
        (_broken(video=_video().astype(np.float32)), r"'video' is an array of dtype float32 .*uint8"),
        (_broken(video=_video()[..., :2]), r"'video' is an array of dtype uint8 and shape \[6, 8, 10, 2\]"),
        (_broken(video=_video()[0]), r"'video' is an array of dtype uint8 and shape \[8, 10, 3\]"),
        (_broken(video=_video()[:, :0]), r"'video' has shape \[6, 0, 10, 3\]; expected no empty axis"),
    ],
)
def test_invalid_records_are_input_errors_naming_file_video_and_field(
    tmp_path: Path, data: object, message: str
) -> None:
    path = _dump(tmp_path / "data.pkl", data)
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: video 'camel'.*{message}"):
        iter_tapvid(path, dataset_format="davis")


@pytest.mark.parametrize("bad", [NAN, np.inf])
def test_non_finite_visible_points_are_input_errors(tmp_path: Path, bad: float) -> None:
    points, occluded = _tracks()
    points[0, 3, 1] = bad
    path = _dump(tmp_path / "data.pkl", {"bear": _record(points=points)})
    with pytest.raises(InputError, match=r"video 'bear': 'points' has 1 non-finite \(NaN or inf\) points"):
        iter_tapvid(path)


@pytest.mark.parametrize(
    "value, accepted", [(-0.09, True), (1.09, True), (-0.11, False), (1.2, False), (37.0, False)]
)
def test_visible_points_may_stray_outside_the_frame_by_the_tolerance_only(
    tmp_path: Path, value: float, accepted: bool
) -> None:
    points, _ = _tracks()
    points[0, 2, 0] = value
    path = _dump(tmp_path / "data.pkl", {"bear": _record(points=points)})
    if accepted:
        assert len(list(iter_tapvid(path))) == 1
    else:
        with pytest.raises(InputError, match=r"'bear': visible 'points' span .*are they in pixels\?"):
            iter_tapvid(path)


def test_occluded_points_are_not_checked(tmp_path: Path) -> None:
    points, _ = _tracks()
    points[2] = 1e6  # track 2 is never visible
    path = _dump(tmp_path / "data.pkl", {"bear": _record(points=points)})
    assert len(_only(path).query_points) == 3


def test_corrupt_jpeg_frame_is_an_input_error(tmp_path: Path) -> None:
    frames = _jpeg_frames()
    frames[1] = b"\xff\xd8 not a jpeg"
    path = _dump(tmp_path / "k.pkl", [_record(video=frames)])
    with pytest.raises(InputError, match=r"video '0000': frame 1 of 'video' is not a decodable JPEG"):
        list(iter_tapvid(path))


def test_jpeg_frames_of_different_sizes_are_an_input_error(tmp_path: Path) -> None:
    frames = _jpeg_frames()
    frames[4] = _jpeg_frames(1, H, W + 2)[0]
    path = _dump(tmp_path / "k.pkl", [_record(video=frames)])
    with pytest.raises(InputError, match=r"frame 4 of 'video' is 12x8, frame 0 is 10x8"):
        read_tapvid_video(path, "0000")


def test_video_without_visible_points_yields_no_queries(tmp_path: Path) -> None:
    points, occluded = _tracks()
    path = _dump(tmp_path / "d.pkl", {"bear": _record(points=points[[2]], occluded=occluded[[2]])})
    for query_mode in ("first", "strided"):
        sample = _only(path, query_mode=query_mode)
        assert sample.query_points.shape == (0, 3) and sample.target_points.shape == (0, T, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"query_mode": "random"}, r"unknown query mode 'random'; expected 'first' or 'strided'"),
        ({"dataset_format": "kubric"}, r"unknown TAP-Vid format 'kubric'"),
        ({"resolution": (256,)}, r"resolution must be None or \(height, width\) positive integers"),
        ({"resolution": (0, 256)}, r"resolution must be None"),
        ({"resolution": (25.6, 256)}, r"resolution must be None"),
    ],
)
def test_invalid_arguments_are_input_errors(davis_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        iter_tapvid(davis_path, **kwargs)
