"""Tests for storage.external_tracks: .npz and pickle track files, coordinates, and every validation error."""

from __future__ import annotations

import collections
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from storage.errors import InputError, UnsafePickleError
from storage.external_tracks import ExternalTracks, read_external_tracks

NAN = np.nan


def _tracks() -> tuple[np.ndarray, np.ndarray]:
    """Two tracks over three frames, (x, y) pixels of a 4x6 (H x W) frame; NaN only where occluded."""
    tracks = np.array([[[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]], [[5.0, 0.0], [NAN, NAN], [4.5, 1.0]]], np.float64)
    occluded = np.array([[False, False, False], [False, True, False]])
    return tracks, occluded


def _npz(tmp_path: Path, name: str = "tracks.npz", **arrays: Any) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _pickle(tmp_path: Path, data: object, name: str = "tracks.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(data))
    return path


def _assert_tracks(result: ExternalTracks, tracks: np.ndarray, occluded: np.ndarray) -> None:
    assert result.tracks.dtype == np.float32 and result.occluded.dtype == np.bool_
    np.testing.assert_array_equal(result.occluded, occluded)
    np.testing.assert_allclose(result.tracks[~occluded], tracks[~occluded])


def test_reads_npz_in_pixels_by_default(tmp_path):
    tracks, occluded = _tracks()
    path = _npz(tmp_path, tracks=tracks, occluded=occluded)
    result = read_external_tracks(path)
    _assert_tracks(result, tracks, occluded)
    assert result.size is None
    assert result.source == str(path)


def test_reads_npz_visibility_size_and_normalized_coordinates(tmp_path):
    tracks, occluded = _tracks()
    normalised = tracks / np.array([6.0, 4.0])
    path = _npz(tmp_path, tracks=normalised, visible=~occluded, size=np.array([4, 6]), coordinates="normalized")
    result = read_external_tracks(path)
    _assert_tracks(result, tracks, occluded)
    assert result.size == (4, 6)


def test_normalized_coordinates_scale_by_the_size_argument(tmp_path):
    tracks, occluded = _tracks()
    path = _npz(tmp_path, tracks=tracks / np.array([6.0, 4.0]), occluded=occluded, coordinates="normalized")
    result = read_external_tracks(path, size=(4, 6))
    _assert_tracks(result, tracks, occluded)
    assert result.size == (4, 6)


def test_reads_single_record_pickle_with_tapnet_prediction_keys(tmp_path):
    tracks, occluded = _tracks()
    path = _pickle(tmp_path, {"pred_tracks": tracks.astype(np.float32), "pred_occluded": occluded}, "p.pickle")
    result = read_external_tracks(path, size=(4, 6))
    _assert_tracks(result, tracks, occluded)
    assert result.source == str(path)


def test_reads_one_video_of_a_per_video_pickle(tmp_path):
    tracks, occluded = _tracks()
    data = {
        "bear": {"tracks": tracks, "occluded": occluded},
        "car": {"tracks": tracks + 1.0, "occluded": occluded, "size": (4, 6), "coordinates": "pixels"},
    }
    path = _pickle(tmp_path, data)
    result = read_external_tracks(path, video_name="car")
    _assert_tracks(result, tracks + 1.0, occluded)
    assert result.size == (4, 6)
    assert result.source == f"{path}['car']"


def test_per_video_pickle_without_video_name_lists_names(tmp_path):
    tracks, occluded = _tracks()
    path = _pickle(tmp_path, {"bear": {"tracks": tracks, "occluded": occluded}, "car": {}})
    with pytest.raises(InputError, match=re.escape("holds the tracks of 2 videos ('bear', 'car'); pass video_name")):
        read_external_tracks(path)


def test_per_video_pickle_with_unknown_video_name_lists_names(tmp_path):
    tracks, occluded = _tracks()
    path = _pickle(tmp_path, {"bear": {"tracks": tracks, "occluded": occluded}})
    with pytest.raises(InputError, match=re.escape("no video 'cow'; it holds 1 videos: 'bear'")):
        read_external_tracks(path, video_name="cow")


def test_per_video_pickle_entry_must_be_a_dict(tmp_path):
    path = _pickle(tmp_path, {"bear": [1, 2]})
    with pytest.raises(InputError, match=re.escape("['bear']: is a list; expected a dict")):
        read_external_tracks(path, video_name="bear")


def test_video_name_for_a_single_record_is_an_error(tmp_path):
    tracks, occluded = _tracks()
    npz = _npz(tmp_path, tracks=tracks, occluded=occluded)
    with pytest.raises(InputError, match="an .npz file holds one video's tracks"):
        read_external_tracks(npz, video_name="bear")
    pkl = _pickle(tmp_path, {"tracks": tracks, "occluded": occluded})
    with pytest.raises(InputError, match="holds one video's tracks, not a dict of videos"):
        read_external_tracks(pkl, video_name="bear")


def test_missing_file_raises(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'none.npz'}: does not exist")):
        read_external_tracks(tmp_path / "none.npz")


def test_unknown_suffix_raises(tmp_path):
    path = tmp_path / "tracks.json"
    path.write_text("{}")
    with pytest.raises(InputError, match=re.escape("unknown suffix '.json'; expected one of ['.npz', '.pkl'")):
        read_external_tracks(path)


def test_unreadable_npz_raises(tmp_path):
    path = tmp_path / "tracks.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable .npz file"):
        read_external_tracks(path)


def test_npz_object_array_is_refused(tmp_path):
    tracks, occluded = _tracks()
    path = _npz(tmp_path, tracks=tracks, occluded=occluded, coordinates=np.array(["pixels", None], dtype=object))
    with pytest.raises(InputError, match="array 'coordinates' needs pickle"):
        read_external_tracks(path)


def test_pickle_with_code_raises_unsafe_pickle_error(tmp_path):
    tracks, occluded = _tracks()
    path = _pickle(tmp_path, collections.OrderedDict(tracks=tracks, occluded=occluded))
    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        read_external_tracks(path)


def test_pickle_that_is_not_a_dict_raises(tmp_path):
    with pytest.raises(InputError, match="holds a list; expected a dict with 'tracks' and 'occluded'"):
        read_external_tracks(_pickle(tmp_path, [1, 2]))


def _record_error(
    tmp_path: Path, message: str, *, caller_size: tuple[int, int] | None = None, **record: Any
) -> None:
    """The .npz holding ``record``, read with ``size=caller_size``, is refused with ``message`` (a regex)
    in an error naming the file."""
    path = _npz(tmp_path, **record)
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + message):
        read_external_tracks(path, size=caller_size)


def test_missing_tracks_key_raises(tmp_path):
    _, occluded = _tracks()
    _record_error(tmp_path, r"missing 'tracks' \(or 'pred_tracks'\)", occluded=occluded)


def test_missing_occlusion_key_raises(tmp_path):
    tracks, _ = _tracks()
    _record_error(tmp_path, r"missing 'occluded' \(or 'pred_occluded' or 'visible'\)", tracks=tracks)


def test_both_occluded_and_visible_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, "has both 'occluded' and 'visible'", tracks=tracks, occluded=occluded, visible=~occluded)


def test_unknown_key_raises_listing_allowed_keys(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"unknown key\(s\) \['coordinate'\]; allowed keys are", tracks=tracks, occluded=occluded,
                  coordinate="normalized")


def test_tracks_without_xy_axis_raise(tmp_path):
    tracks, occluded = _tracks()
    _record_error(
        tmp_path, r"'tracks' has shape \[2, 3\]; expected \[N, T, 2\]", tracks=tracks[..., 0], occluded=occluded
    )


def test_track_and_frame_count_mismatch_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"'occluded' has shape \[2, 2\] \[N, T\], 'tracks' has \[2, 3\]",
                  tracks=tracks, occluded=occluded[:, :2])


def test_non_numeric_tracks_raise(tmp_path):
    _, occluded = _tracks()
    _record_error(tmp_path, r"'tracks' is an array of dtype bool .*expected a float array",
                  tracks=np.zeros((2, 3, 2), bool), occluded=occluded)


def test_non_bool_occlusion_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"'occluded' is an array of dtype float64 .*threshold probabilities",
                  tracks=tracks, occluded=occluded.astype(np.float64))


def test_nan_where_visible_raises(tmp_path):
    tracks, occluded = _tracks()
    tracks[0, 2, 1] = NAN
    _record_error(tmp_path, r"1 non-finite \(NaN or inf\) visible points, e.g. track 0 at frame 2",
                  tracks=tracks, occluded=occluded)


def test_inf_where_visible_raises(tmp_path):
    tracks, occluded = _tracks()
    tracks[1, 0, 0] = np.inf
    _record_error(tmp_path, "non-finite.*track 1 at frame 0", tracks=tracks, occluded=occluded)


def test_points_far_outside_the_frame_raise(tmp_path):
    tracks, occluded = _tracks()
    tracks[1, 2] = [6.5, 1.0]  # 6 columns: x may reach 1.1 * 6 = 6.6
    read_external_tracks(_npz(tmp_path, "ok.npz", tracks=tracks, occluded=occluded), size=(4, 6))
    tracks[1, 2] = [7.0, 1.0]
    _record_error(tmp_path, r"1 visible points outside a 6x4 frame .*track 1 at frame 2 at \(x, y\) = \(7, 1\)",
                  caller_size=(4, 6), tracks=tracks, occluded=occluded)


def test_normalized_tracks_read_as_pixels_are_caught_by_the_frame_check(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, "outside a 6x4 frame.*wrong 'coordinates' or 'size'", caller_size=(4, 6),
                  tracks=tracks * 10, occluded=occluded)


def test_no_visible_point_raises(tmp_path):
    tracks, _ = _tracks()
    _record_error(tmp_path, "no visible point", tracks=tracks, occluded=np.ones((2, 3), bool))


def test_normalized_without_size_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"'coordinates' is 'normalized' but no 'size' is stored; pass size=\(H, W\)",
                  tracks=tracks / 6, occluded=occluded, coordinates="normalized")


def test_unknown_coordinates_raise(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, "'coordinates' is 'pixel'; expected 'pixels' or 'normalized'",
                  tracks=tracks, occluded=occluded, coordinates="pixel")


def test_bad_stored_size_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"'size' is .*expected two positive integers \(H, W\)",
                  tracks=tracks, occluded=occluded, size=np.array([4.0, 6.0]))


def test_stored_size_disagreeing_with_the_argument_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"'size' is \[4, 6\] \(H, W\) but the caller gave \[6, 4\]", caller_size=(6, 4),
                  tracks=tracks, occluded=occluded, size=np.array([4, 6]))


def test_bad_size_argument_raises(tmp_path):
    tracks, occluded = _tracks()
    _record_error(tmp_path, r"the size argument is \[0, 4\] \(a tuple\); expected two positive integers",
                  caller_size=(0, 4), tracks=tracks, occluded=occluded)


def test_single_npy_array_named_npz_raises(tmp_path):
    path = tmp_path / "tracks.npz"
    with path.open("wb") as handle:
        np.save(handle, np.zeros((2, 3, 2)))
    with pytest.raises(InputError, match="holds a single .npy array, not an .npz archive"):
        read_external_tracks(path)


def test_values_beyond_float32_are_reported_as_non_finite(tmp_path):
    tracks, occluded = _tracks()
    tracks[0, 1, 0] = 1e300
    _record_error(tmp_path, "non-finite.*track 0 at frame 1", tracks=tracks, occluded=occluded)


def test_pickle_record_without_tracks_is_a_record_not_a_video_dict(tmp_path):
    _, occluded = _tracks()
    with pytest.raises(InputError, match=r"missing 'tracks' \(or 'pred_tracks'\); it has \['occluded'\]"):
        read_external_tracks(_pickle(tmp_path, {"occluded": occluded}))
