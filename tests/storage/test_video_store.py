"""Ingestion of videos, image folders and arrays into zarr video groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zarr

from storage import layout
from storage.errors import IncompleteStoreError, InputError, StoreConflictError
from storage.video_sources import (
    ArraySource,
    ImageFolderSource,
    VideoFileSource,
    open_source,
)
from storage.video_store import IngestConfig, ingest, list_videos, open_video


def _video(num_frames: int = 6, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


def _write_images(folder: Path, frames: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names, strict=True):
        assert cv2.imwrite(str(folder / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def _write_avi(path: Path, frames: np.ndarray, fps: float = 12.0) -> None:
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _smooth_video(num_frames: int = 8, height: int = 48, width: int = 64) -> np.ndarray:
    """A video that survives lossy compression: smooth gradients that shift per frame."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(num_frames):
        red = 127 + 100 * np.sin((xs + 3 * t) / 9.0)
        green = 127 + 100 * np.cos((ys - 2 * t) / 7.0)
        blue = np.full_like(xs, 40.0 + 20 * t)
        frames.append(np.stack([red, green, blue], axis=-1))
    return np.clip(frames, 0, 255).astype(np.uint8)


class TestArrayIngestion:
    def test_round_trip_keeps_frames_and_attributes(self, tmp_path: Path) -> None:
        video = _video()
        path = ingest(ArraySource(video), tmp_path, "clip")
        group = open_video(path)
        np.testing.assert_array_equal(group.read_frames(), video)
        assert group.frames.chunks == (1, 24, 32, 3)
        assert group.attrs["num_frames"] == 6
        assert group.attrs["size"] == [24, 32]
        assert group.attrs["original_size"] == [24, 32]
        assert group.attrs["schema_version"] == layout.SCHEMA_VERSION
        assert group.attrs["source_kind"] == "array"
        assert len(group.attrs["content_hash"]) == 64
        assert path == tmp_path / "videos" / "clip.zarr"
        assert list_videos(tmp_path) == ["clip"]

    def test_same_input_again_is_a_no_op(self, tmp_path: Path) -> None:
        video = _video()
        path = ingest(ArraySource(video), tmp_path, "clip")
        before = (path / "frames" / "zarr.json").stat().st_mtime_ns
        written: list[int] = []
        assert ingest(ArraySource(video.copy()), tmp_path, "clip", progress=written.append) == path
        assert written == []
        assert (path / "frames" / "zarr.json").stat().st_mtime_ns == before

    def test_other_input_under_same_id_is_refused(self, tmp_path: Path) -> None:
        ingest(ArraySource(_video(seed=0)), tmp_path, "clip")
        with pytest.raises(StoreConflictError, match="already holds a video"):
            ingest(ArraySource(_video(seed=1)), tmp_path, "clip")
        with pytest.raises(StoreConflictError, match="config differs"):
            ingest(ArraySource(_video(seed=0)), tmp_path, "clip", IngestConfig(stride=2))

    def test_fixed_size_resize(self, tmp_path: Path) -> None:
        group = open_video(ingest(ArraySource(_video()), tmp_path, "clip", IngestConfig(size=(16, 20))))
        assert group.frames.shape == (6, 16, 20, 3)
        assert group.attrs["original_size"] == [24, 32]
        assert group.attrs["ingest_config"]["size"] == [16, 20]

    def test_max_side_keeps_aspect_and_never_upscales(self, tmp_path: Path) -> None:
        small = open_video(ingest(ArraySource(_video()), tmp_path, "a", IngestConfig(max_side=16)))
        assert small.size == (12, 16)
        same = open_video(ingest(ArraySource(_video()), tmp_path, "b", IngestConfig(max_side=100)))
        assert same.size == (24, 32)

    def test_stride_and_max_frames(self, tmp_path: Path) -> None:
        video = _video(num_frames=10)
        group = open_video(ingest(ArraySource(video), tmp_path, "clip", IngestConfig(stride=3, max_frames=3)))
        np.testing.assert_array_equal(group.read_frames(), video[[0, 3, 6]])
        assert group.attrs["source_frame_count"] == 7

    def test_grayscale_and_rgba_arrays_become_rgb(self, tmp_path: Path) -> None:
        gray = _video()[..., 0]
        group = open_video(ingest(ArraySource(gray), tmp_path, "gray"))
        np.testing.assert_array_equal(group.read_frames()[..., 2], gray)
        rgba = np.concatenate([_video(), np.full((6, 24, 32, 1), 7, np.uint8)], axis=3)
        group = open_video(ingest(ArraySource(rgba), tmp_path, "rgba"))
        np.testing.assert_array_equal(group.read_frames(), rgba[..., :3])

    @pytest.mark.parametrize(
        ("array", "message"),
        [
            (np.zeros((4, 8, 8, 3), np.float32), "expected dtype uint8, got float32"),
            (np.zeros((0, 8, 8, 3), np.uint8), "zero frames"),
            (np.zeros((4, 8, 8, 5), np.uint8), r"expected shape \[T, H, W, 3\], got \(4, 8, 8, 5\)"),
            (np.zeros((8, 8), np.uint8), r"expected shape \[T, H, W, 3\]"),
        ],
    )
    def test_bad_arrays_are_rejected(self, array: np.ndarray, message: str) -> None:
        with pytest.raises(InputError, match=message):
            ArraySource(array)

    def test_conflicting_resize_options_are_rejected(self) -> None:
        with pytest.raises(InputError, match="either size or max_side"):
            IngestConfig(size=(8, 8), max_side=8)
        with pytest.raises(InputError, match="stride must be >= 1"):
            IngestConfig(stride=0)


class TestImageFolders:
    def test_numeric_order_not_lexical(self, tmp_path: Path) -> None:
        video = _video(num_frames=11)
        names = [f"frame{i}.png" for i in range(11)]
        _write_images(tmp_path / "imgs", video, names)
        group = open_video(ingest(ImageFolderSource(tmp_path / "imgs"), tmp_path / "out", "imgs"))
        np.testing.assert_array_equal(group.read_frames(), video)
        assert group.attrs["source_kind"] == "image_folder"

    def test_grayscale_and_rgba_images_are_converted(self, tmp_path: Path) -> None:
        folder = tmp_path / "imgs"
        folder.mkdir()
        gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
        cv2.imwrite(str(folder / "0.png"), gray)
        bgra = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
        cv2.imwrite(str(folder / "1.png"), bgra)
        frames = open_video(ingest(open_source(folder), tmp_path / "out", "imgs")).read_frames()
        assert frames.shape == (2, 8, 8, 3)
        np.testing.assert_array_equal(frames[0, :, :, 1], gray)
        np.testing.assert_array_equal(frames[1, :, :, 0], gray)

    def test_mixed_sizes_name_the_odd_file_and_leave_nothing(self, tmp_path: Path) -> None:
        folder = tmp_path / "imgs"
        _write_images(folder, _video(num_frames=3), ["1.png", "2.png", "3.png"])
        cv2.imwrite(str(folder / "4.png"), np.zeros((10, 10, 3), np.uint8))
        with pytest.raises(InputError, match=r"4\.png: image is 10x10 but 1\.png is 32x24"):
            ingest(open_source(folder), tmp_path / "out", "imgs")
        assert list((tmp_path / "out" / "videos").iterdir()) == []

    def test_non_image_file_is_named(self, tmp_path: Path) -> None:
        folder = tmp_path / "imgs"
        _write_images(folder, _video(num_frames=2), ["1.png", "2.png"])
        (folder / "notes.txt").write_text("hello")
        (folder / ".DS_Store").write_bytes(b"\0")
        with pytest.raises(InputError, match=r"1 entry is not jpg/jpeg/png files \(notes\.txt\)"):
            open_source(folder)

    def test_empty_folder(self, tmp_path: Path) -> None:
        (tmp_path / "imgs").mkdir()
        with pytest.raises(InputError, match="holds no images"):
            open_source(tmp_path / "imgs")

    def test_corrupt_and_empty_images_are_named(self, tmp_path: Path) -> None:
        folder = tmp_path / "imgs"
        _write_images(folder, _video(num_frames=1), ["1.png"])
        (folder / "2.png").write_bytes(b"this is not a png")
        with pytest.raises(InputError, match=r"2\.png: cannot decode this image"):
            ingest(open_source(folder), tmp_path / "out", "imgs")
        (folder / "2.png").write_bytes(b"")
        with pytest.raises(InputError, match=r"2\.png: the image file is empty"):
            open_source(folder)


class TestVideoFiles:
    def test_avi_round_trip(self, tmp_path: Path) -> None:
        video = _smooth_video()
        _write_avi(tmp_path / "clip.avi", video, fps=12.0)
        group = open_video(ingest(open_source(tmp_path / "clip.avi"), tmp_path / "out", "clip"))
        assert group.frames.shape == video.shape
        assert group.attrs["fps"] == pytest.approx(12.0)
        assert group.attrs["source_kind"] == "video_file"
        error = np.abs(group.read_frames().astype(np.int16) - video).mean()
        assert error < 6.0

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match=r"nope\.mp4: no such file"):
            open_source(tmp_path / "nope.mp4")

    def test_zero_byte_file(self, tmp_path: Path) -> None:
        (tmp_path / "empty.mp4").write_bytes(b"")
        with pytest.raises(InputError, match=r"empty\.mp4: the file is empty \(0 bytes\)"):
            open_source(tmp_path / "empty.mp4")

    def test_garbage_file(self, tmp_path: Path) -> None:
        (tmp_path / "junk.mp4").write_bytes(os.urandom(4096))
        with pytest.raises(InputError, match=r"junk\.mp4: (OpenCV cannot open|no frame could be decoded)"):
            ingest(open_source(tmp_path / "junk.mp4"), tmp_path / "out", "junk")
        assert not (tmp_path / "out" / "videos" / "junk.zarr").exists()

    def test_unknown_extension(self, tmp_path: Path) -> None:
        (tmp_path / "clip.xyz").write_bytes(b"abc")
        with pytest.raises(InputError, match=r"unknown input type \.xyz"):
            open_source(tmp_path / "clip.xyz")

    def test_header_that_lies_about_frame_count(self, samples_dir: Path, tmp_path: Path) -> None:
        group = open_video(ingest(open_source(samples_dir / "tree.avi"), tmp_path, "tree", IngestConfig(max_side=64)))
        assert group.attrs["header_frame_count"] == 444
        assert group.num_frames == group.attrs["source_frame_count"] == 68
        assert group.size == (48, 64)

    def test_truncated_real_video_keeps_what_decodes(self, samples_dir: Path, tmp_path: Path) -> None:
        cut = tmp_path / "vtest_cut.avi"
        cut.write_bytes((samples_dir / "vtest.avi").read_bytes()[: 400_000])
        source = VideoFileSource(cut)
        group = open_video(ingest(source, tmp_path / "out", "cut", IngestConfig(max_side=64)))
        assert 0 < group.num_frames < 795
        assert group.attrs["header_frame_count"] == 795


class TestKilledWriters:
    def test_unfinished_group_is_never_read_as_complete(self, tmp_path: Path) -> None:
        path = ingest(ArraySource(_video()), tmp_path, "clip")
        zarr.open_group(str(path), mode="r+").attrs["complete"] = False
        with pytest.raises(IncompleteStoreError, match="never finished"):
            open_video(path)
        (path / "zarr.json").unlink()
        with pytest.raises(IncompleteStoreError, match="missing zarr.json"):
            open_video(path)

    def test_other_schema_version_is_refused(self, tmp_path: Path) -> None:
        path = ingest(ArraySource(_video()), tmp_path, "clip")
        zarr.open_group(str(path), mode="r+").attrs["schema_version"] = 99
        with pytest.raises(IncompleteStoreError, match="schema version 99"):
            open_video(path)

    def test_sigkill_mid_ingest_leaves_no_complete_group_and_rerun_rebuilds(self, tmp_path: Path) -> None:
        script = textwrap.dedent(
            f"""
            import sys, time
            import numpy as np
            from storage.video_sources import ArraySource
            from storage.video_store import ingest
            video = np.random.default_rng(0).integers(0, 256, (64, 24, 32, 3), dtype=np.uint8)
            def slow(count):
                print("wrote", count, flush=True)
                time.sleep(30)
            ingest(ArraySource(video), {str(tmp_path)!r}, "clip", progress=slow)
            """
        )
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        assert process.stdout.readline().startswith("wrote 16")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        videos = tmp_path / "videos"
        partials = [p.name for p in videos.iterdir() if layout.PARTIAL_MARKER in p.name]
        assert len(partials) == 1
        assert list_videos(tmp_path) == []
        with pytest.raises(IncompleteStoreError, match="partial group"):
            open_video(videos / partials[0])

        video = np.random.default_rng(0).integers(0, 256, (64, 24, 32, 3), dtype=np.uint8)
        started = time.time()
        group = open_video(ingest(ArraySource(video), tmp_path, "clip"))
        assert time.time() - started < 10
        np.testing.assert_array_equal(group.read_frames(), video)
        assert [p.name for p in videos.iterdir()] == ["clip.zarr"]
