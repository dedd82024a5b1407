"""Hostile and broken inputs: each is refused with an error naming the file and the problem, and leaves no
store that reads as complete. Cases already covered next to their module (``os.system`` pickles, bad record
fields, zero-byte videos and images, garbage and missing RAFT weights, ``tree.avi``) are not repeated here.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import zarr.storage._local

from storage import layout
from storage.errors import InputError, UnsafePickleError
from storage.external_tracks import read_external_tracks
from storage.fit_store import load_checkpoint, open_fit, save_checkpoint
from storage.safe_pickle import load_pickle_safely
from storage.tapvid import (
    iter_tapvid,
    list_tapvid_videos,
    load_tapvid_sample,
    write_tapvid_davis_pickle,
)
from storage.video_sources import (
    ArraySource,
    TapVidVideoSource,
    VideoFileSource,
    open_source,
)
from storage.video_store import IngestConfig, ingest, list_videos, open_video

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = IngestConfig(max_side=32)


# --- pickles that forge numpy objects ------------------------------------------------------------------


def _forge(data: bytes, *replacements: tuple[bytes, bytes]) -> bytes:
    """``data`` with each ``old`` replaced by ``new``; every ``old`` must occur exactly once."""
    for old, new in replacements:
        assert data.count(old) == 1, f"{old!r} occurs {data.count(old)} times"
        data = data.replace(old, new)
    return data


def _object_leaf_with_no_flags() -> bytes:
    """An int64 array pickle whose dtype is renamed to object ('O8') but keeps int64's flags (0), so the
    eight raw bytes 'AAAAAAAA' would become an object pointer."""
    return _forge(
        pickle.dumps(np.zeros(1, np.int64), protocol=2),
        (b"X\x02\x00\x00\x00i8", b"X\x02\x00\x00\x00O8"),
        (b"X\x01\x00\x00\x00<", b"X\x01\x00\x00\x00|"),
        (b"X\x08\x00\x00\x00" + bytes(8), b"X\x08\x00\x00\x00AAAAAAAA"),
    )


def _object_field_with_plain_flags() -> bytes:
    """A structured array whose one field becomes object while the struct keeps its plain flags (0x10)."""
    return _forge(
        pickle.dumps(np.zeros(1, [("a", "<i8")]), protocol=2),
        (b"X\x02\x00\x00\x00i8", b"X\x02\x00\x00\x00O8"),
        (b"X\x01\x00\x00\x00<", b"X\x01\x00\x00\x00|"),
        (b"K\x00tq\x17", b"K?tq\x17"),
        (b"X\x08\x00\x00\x00" + bytes(8), b"X\x08\x00\x00\x00AAAAAAAA"),
    )


def _object_field_overlapping_an_int() -> bytes:
    """A dtype with an object field and an int64 field at the same offset (numpy refuses to build one,
    as writing the int would forge the object), with honest-looking flags."""
    return _forge(
        pickle.dumps(np.dtype([("a", "O"), ("b", "<i8")]), protocol=2),
        (b"X\x03\x00\x00\x00V16", b"X\x02\x00\x00\x00V8"),
        (b"bK\x08\x86", b"bK\x00\x86"),
        (b"K\x10K\x01K\x1bt", b"K\x08K\x01K\x1bt"),
    )


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


_DTYPE_I8 = _global("numpy", "dtype") + b"(S'i8'\nI00\nI01\ntR"
_DTYPE_STATE = b"(I3\nS'<'\nNNNI-1\nI-1\nI0\nt"
_NEW_ARRAY = _global("numpy._core.multiarray", "_reconstruct") + b"(" + _global("numpy", "ndarray") + b"(I0\ntS'b'\ntR"
_ARRAY_STATE_HEAD = b"(I1\n(I1\nt"  # version 1, shape (1,), then a dtype, is_fortran and the raw bytes
_RAW = b"I00\nS'AAAAAAAA'\nt"
_ARRAY = _NEW_ARRAY + _ARRAY_STATE_HEAD + _DTYPE_I8 + _DTYPE_STATE + b"b" + _RAW + b"b"


_DTYPE_O8 = _global("numpy", "dtype") + b"(S'O8'\nI00\nI01\ntR"


def _dtype_state_of_six_items() -> bytes:
    """A dtype state missing names and fields: numpy reads the item size (-1) as the fields dict (found
    by the fuzz test below)."""
    return _global("numpy", "dtype") + b"(S'u1'\nI00\nI01\ntR(I3\nS'|'\nNI-1\nI-1\nI0\ntb."


def _object_dtype_in_big_endian() -> bytes:
    return _DTYPE_O8 + b"(I3\nS'>'\nNNNI-1\nI-1\nI63\ntb."


def _object_array_with_too_few_items() -> bytes:
    """Two objects, one given: numpy leaves the second pointing at whatever the memory held."""
    state = b"(I3\nS'|'\nNNNI-1\nI-1\nI63\ntb"
    return _NEW_ARRAY + b"(I1\n(I2\nt" + _DTYPE_O8 + state + b"I00\n(lI1\natb."


def _object_type_given_fields() -> bytes:
    """The object type given the fields of a plain 8-byte struct (flags honest for those fields)."""
    fields = b"(S'a'\ntp9\n(dS'a'\n(" + _DTYPE_I8 + _DTYPE_STATE + b"bI0\ntsI-1\nI-1\nI16\nt"
    return _DTYPE_O8 + b"(I3\nS'|'\nN" + fields + b"b."


@pytest.mark.parametrize(
    "forged, refusal",
    [
        (_object_leaf_with_no_flags, "builds a forged dtype"),
        (_object_field_with_plain_flags, "builds a forged dtype"),
        (_object_field_overlapping_an_int, "builds a dtype whose layout numpy refuses"),
        (_object_type_given_fields, "gives a dtype a state numpy does not write (a subarray or fields for a |O"),
        (_dtype_state_of_six_items, "gives a dtype a state numpy does not write (expected a tuple of 8 or 9"),
        (_object_dtype_in_big_endian, "gives a dtype a state numpy does not write (byte order '>'"),
        (_object_array_with_too_few_items, "gives a numpy array a state numpy does not write (an array of 2"),
    ],
)
def test_pickle_crashing_numpy_is_refused(tmp_path: Path, forged: Callable[[], bytes], refusal: str) -> None:
    # Unchecked, each of these crashes the interpreter (SIGSEGV) while loading or when the array is read,
    # or reads memory as objects; the load runs in a child process that reads whatever it gets.
    path = tmp_path / "forged.pkl"
    path.write_bytes(forged())
    script = (
        "import sys\nfrom storage.safe_pickle import load_pickle_safely\n"
        "from storage.errors import UnsafePickleError\n"
        "try:\n    value = load_pickle_safely(sys.argv[1])\n"
        "except UnsafePickleError as error:\n    print(error)\n    sys.exit(0)\n"
        "print('loaded', repr(value.tolist() if hasattr(value, 'tolist') else value))\nsys.exit(3)\n"
    )
    command = [sys.executable, "-c", script, str(path)]
    child = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, f"exit {child.returncode}: {child.stdout}{child.stderr}"
    assert child.stdout.startswith(f"{path}: the pickle {refusal}")
    assert child.stdout.rstrip().endswith("which is not allowed")


@pytest.mark.parametrize(
    "data, refusal",
    [
        (_NEW_ARRAY + _ARRAY_STATE_HEAD + _DTYPE_I8 + _RAW + b"b.", "uses a dtype before giving it its state"),
        (_DTYPE_I8 + _DTYPE_STATE + b"b" + _DTYPE_STATE + b"b.", "sets the state of a dtype; only a new"),
        (_ARRAY + _ARRAY_STATE_HEAD + _DTYPE_I8 + _DTYPE_STATE + b"b" + _RAW + b"b.", "sets the state of a numpy"),
        (_global("builtins", "set") + b"(tR(db.", "sets the state of a set"),
        (_global("numpy", "ndarray") + b"((I1\ntS'i8'\ntR.", "calls numpy.ndarray directly"),
        (_global("numpy", "dtype") + b"(" + _DTYPE_I8 + _DTYPE_STATE + b"bI00\nI01\ntR.", "calls numpy.dtype with a"),
        (_ARRAY + b"I0\nI65\ns.", r"adds items \(SETITEM\) to a numpy array"),
        (_global("builtins", "bytearray") + b"(S'ab'\nS'latin1'\ntRI65\na.", r"adds items \(APPEND\) to a bytearray"),
        (_global("numpy._core.multiarray", "_reconstruct") + b"(" + _global("builtins", "set") + b"(I0\ntS'b'\ntR.",
         "calls _reconstruct for a type"),
        (_NEW_ARRAY.replace(b"(I0\nt", b"(I1099511627776\nt") + b".", r"calls _reconstruct with \(1099511627776,\)"),
        (_global("numpy._core.numeric", "_frombuffer") + b"((l" + _DTYPE_I8 + _DTYPE_STATE + b"b(I0\ntS'C'\ntR.",
         "calls _frombuffer on a list"),
    ],
    ids=["dtype-used-unbuilt", "dtype-rebuilt", "array-rebuilt", "state-of-a-set", "ndarray-called", "dtype-of-dtype",
         "setitem-into-array", "append-to-bytearray", "reconstruct-other-type", "reconstruct-a-terabyte",
         "frombuffer-of-a-list"],
)
def test_pickle_may_only_build_objects_as_numpy_writes_them(tmp_path: Path, data: bytes, refusal: str) -> None:
    path = tmp_path / "crafted.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=rf"^{re.escape(str(path))}: the pickle {refusal}"):
        load_pickle_safely(path)


def test_the_crafted_pieces_load_when_used_as_numpy_does(tmp_path: Path) -> None:
    path = tmp_path / "array.pkl"
    path.write_bytes(_ARRAY + b".")
    np.testing.assert_array_equal(load_pickle_safely(path), np.frombuffer(b"AAAAAAAA", "<i8"))


def test_unknown_opcode_is_named(tmp_path: Path) -> None:
    path = tmp_path / "opcode.pkl"
    path.write_bytes(b"\x80\x02\xff.")
    with pytest.raises(InputError, match=r"opcode\.pkl: not a readable pickle \(UnpicklingError: invalid load key"):
        load_pickle_safely(path)


# --- TAP-Vid pickles with a bad video among good ones --------------------------------------------------


def _record(num_frames: int = 4, size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "video": rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8),
        "points": rng.uniform(0.1, 0.9, (3, num_frames, 2)).astype(np.float32),
        "occluded": np.zeros((3, num_frames), dtype=bool),
    }


def _with_points(change: Callable[[np.ndarray], Any], **record_changes: Any) -> dict[str, Any]:
    record = {**_record(seed=1), **record_changes}
    change(record["points"])
    return record


@pytest.mark.parametrize(
    "bad, message",
    [
        (_with_points(lambda p: p.__setitem__((1, 2, 0), np.nan)), r"'points' has 1 non-finite"),
        (_with_points(lambda p: p.__setitem__((0, 0), (256.0, 12.0))), r"visible 'points' span .*in pixels\?"),
        (_with_points(lambda p: None, occluded=np.zeros((3, 4), np.uint8)), r"'occluded' is an array of dtype uint8"),
        (_with_points(lambda p: None, points=np.zeros((3, 4, 2), complex)), r"'points' is an array of dtype complex"),
        (_with_points(lambda p: None, video=np.zeros((4, 8, 8, 3))), r"'video' is an array of dtype float64"),
        (_with_points(lambda p: None, points=np.zeros((3, 5, 2), np.float32)), r"'points' has 5 frames, 'video' has 4"),
    ],
    ids=["nan-point", "pixels-not-normalised", "int-occlusion", "complex-points", "float-video", "frame-count"],
)
def test_a_bad_video_is_named_and_the_good_ones_still_load(tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    path = tmp_path / "mixed.pkl"
    path.write_bytes(pickle.dumps({"good": _record(), "bad": bad, "also good": _record(seed=2)}, protocol=4))
    assert list_tapvid_videos(path) == ["good", "bad", "also good"]
    for name in ("good", "also good"):
        assert load_tapvid_sample(path, name, resolution=None).query_points.shape == (3, 3)
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: video 'bad'.*{message}"):
        load_tapvid_sample(path, "bad", resolution=None)
    with pytest.raises(InputError, match=r"video 'bad'"):
        iter_tapvid(path, resolution=None)


def test_a_first_record_without_video_is_named_with_the_keys_it_has(tmp_path: Path) -> None:
    record = _record()
    del record["video"]
    path = tmp_path / "novideo.pkl"
    path.write_bytes(pickle.dumps({"first": record, "second": _record()}, protocol=4))
    message = r"not a TAP-Vid pickle: its first entry has no 'video' key \(it has 'points', 'occluded'\)"
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: {message}"):
        list_tapvid_videos(path)


# --- names that are paths, used as store keys ----------------------------------------------------------

HOSTILE_NAMES = [
    "../../x", "/etc/passwd", "C:\\Windows\\x", "a/../../b", "ünïcode clip", "视频", "x" * 300, "-rf", "\x00", "",
]


def test_hostile_tapvid_video_names_are_ingested_inside_the_data_root(tmp_path: Path) -> None:
    dataset = tmp_path / "in" / "names.pkl"
    dataset.parent.mkdir()
    dataset.write_bytes(pickle.dumps({name: _record(seed=i) for i, name in enumerate(HOSTILE_NAMES)}, protocol=4))
    root = tmp_path / "out"
    keys = set()
    for name in list_tapvid_videos(dataset):
        key = layout.video_id_from_name(f"names-{name}")
        open_video(ingest(TapVidVideoSource(dataset, name), root, key))
        keys.add(key)
    assert sorted(list_videos(root)) == sorted(keys) and len(keys) == len(HOSTILE_NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    assert sorted(p.name for p in root.iterdir()) == ["videos"]
    assert all(len(p.name) < 255 for p in (root / "videos").iterdir())


def test_a_tapvid_name_with_a_lone_surrogate_is_ingested(tmp_path: Path) -> None:
    dataset = tmp_path / "names.pkl"
    dataset.write_bytes(pickle.dumps({"clip\udcff": _record()}, protocol=4))
    source = TapVidVideoSource(dataset, "clip\udcff")
    path = ingest(source, tmp_path / "out", "clip_ff")
    assert open_video(path).num_frames == 4


@pytest.mark.parametrize("name", ["clip\udcff", "\udcc3\udca9t\udce9"])
def test_names_with_lone_surrogates_become_safe_keys(name: str) -> None:
    key = layout.video_id_from_name(name)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", key) and layout.video_id_from_name(key) == key


# --- truncated, damaged and zero-byte files ------------------------------------------------------------


def _damaged_copy(samples_dir: Path, tmp_path: Path, name: str, damage: Callable[[bytes], bytes]) -> Path:
    copy = tmp_path / f"damaged-{name}"
    copy.write_bytes(damage((samples_dir / name).read_bytes()))
    return copy


@pytest.mark.parametrize("name", ["vtest.avi", "tree.avi", "Megamind_bugy.avi"])
def test_a_video_cut_inside_its_header_leaves_no_store(samples_dir: Path, tmp_path: Path, name: str) -> None:
    copy = _damaged_copy(samples_dir, tmp_path, name, lambda data: data[:4096])
    with pytest.raises(InputError, match=rf"{re.escape(str(copy))}: (OpenCV cannot open|no frame could be decoded)"):
        ingest(open_source(copy), tmp_path / "out", "cut")
    assert not (tmp_path / "out" / "videos").exists() or not list((tmp_path / "out" / "videos").iterdir())


def test_a_video_damaged_in_the_middle_keeps_what_decodes_and_warns(samples_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def scramble(data: bytes) -> bytes:
        start = len(data) // 3
        return data[:start] + rng.integers(0, 256, 150_000, dtype=np.uint8).tobytes() + data[start + 150_000 :]

    copy = _damaged_copy(samples_dir, tmp_path, "Megamind_bugy.avi", scramble)
    with pytest.warns(UserWarning, match=rf"{re.escape(str(copy))}: decoded (\d+) frames but the header claims 270"):
        group = open_video(ingest(VideoFileSource(copy), tmp_path / "out", "damaged", SMALL))
    assert 0 < group.num_frames < 270
    assert group.attrs["header_frame_count"] == 270
    assert group.attrs["source_frame_count"] == group.num_frames


def test_a_header_that_lies_is_reported_unless_the_frames_kept_stop_before(
    samples_dir: Path, tmp_path: Path
) -> None:
    tree = samples_dir / "tree.avi"
    with pytest.warns(UserWarning, match=rf"{re.escape(str(tree))}: decoded 68 frames but the header claims 444"):
        assert open_video(ingest(open_source(tree), tmp_path, "tree", SMALL)).num_frames == 68
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = IngestConfig(max_side=32, max_frames=10)
        assert open_video(ingest(open_source(tree), tmp_path, "tree10", first)).num_frames == 10


def test_an_intact_video_gives_no_frame_count_warning(samples_dir: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        group = open_video(ingest(open_source(samples_dir / "Megamind_bugy.avi"), tmp_path, "m", SMALL))
    assert group.num_frames == 270


@pytest.mark.parametrize(
    "name, read",
    [
        ("clip.avi", lambda path: open_source(path)),
        ("tapvid.pkl", lambda path: iter_tapvid(path)),
        ("tracks.npz", lambda path: read_external_tracks(path)),
        ("tracks.pkl", lambda path: read_external_tracks(path)),
        ("step_00000001.pt", lambda path: load_checkpoint(path)),
    ],
)
def test_zero_byte_files_are_input_errors_naming_the_file(
    tmp_path: Path, name: str, read: Callable[[Path], Any]
) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InputError, match=re.escape(str(path))):
        read(path)


# --- a read-only or full output folder -----------------------------------------------------------------


def _video(num_frames: int = 40) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (num_frames, 16, 16, 3), dtype=np.uint8)


def _fail_writes_after(monkeypatch: pytest.MonkeyPatch, allowed: int, code: int) -> None:
    """Make zarr's file writes fail with ``code`` after ``allowed`` of them, as a full or read-only disk
    does (a failed ``write()`` names no file)."""
    real_put = zarr.storage._local._put
    count = 0

    def put(path: Path, value: Any, exclusive: bool = False) -> int:
        nonlocal count
        count += 1
        if count > allowed:
            raise OSError(code, os.strerror(code))
        return real_put(path, value, exclusive=exclusive)

    monkeypatch.setattr(zarr.storage._local, "_put", put)


@pytest.mark.parametrize("allowed", [0, 5, 40], ids=["first-write", "mid-frames", "final-attributes"])
def test_a_full_disk_during_ingestion_leaves_no_store_and_a_rerun_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: int
) -> None:
    _fail_writes_after(monkeypatch, allowed, errno.ENOSPC)
    with pytest.raises(OSError, match=r"clip\.zarr: could not write the video group: No space left on device") as caught:
        ingest(ArraySource(_video()), tmp_path, "clip")
    assert caught.value.errno == errno.ENOSPC
    assert list((tmp_path / "videos").iterdir()) == []
    monkeypatch.undo()
    np.testing.assert_array_equal(open_video(ingest(ArraySource(_video()), tmp_path, "clip")).read_frames(), _video())


def test_a_read_only_data_root_names_the_folder_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    real_mkdir = os.mkdir

    def mkdir(path: Any, mode: int = 0o777, **kwargs: Any) -> None:  # root ignores chmod, so refuse here
        if Path(path).is_relative_to(root):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        real_mkdir(path, mode, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(OSError, match=rf"Read-only file system: '{re.escape(str(root / 'videos'))}'"):
        ingest(ArraySource(_video()), root, "clip")
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only")])
def test_a_failed_tapvid_write_names_the_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    path = tmp_path / "bench.pkl"
    write_tapvid_davis_pickle(path, {"old": _record()})
    before = path.read_bytes()

    def dump_half(payload: object, stream: Any, protocol: int) -> None:
        stream.write(pickle.dumps(payload, protocol=protocol)[:100])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("storage.tapvid.pickle.dump", dump_half)
    expected = rf"{re.escape(str(path))}: could not write the TAP-Vid pickle \({reason}"
    with pytest.raises(OSError, match=expected) as caught:
        write_tapvid_davis_pickle(path, {"new": _record(seed=3)})
    assert caught.value.errno == code
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bench.pkl"]


# --- checkpoints from elsewhere ------------------------------------------------------------------------


def test_a_half_written_checkpoint_is_never_the_resume_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.fit_store import latest_checkpoint

    fit = open_fit(tmp_path / "v.zarr", "fit-a", {})
    save_checkpoint(fit, 1, {"step": torch.tensor(1)})

    def save_half(state: object, path: Path) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("storage.fit_store.torch.save", save_half)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(fit, 2, {"step": torch.tensor(2)})
    state = latest_checkpoint(fit)
    assert state is not None and int(state["step"]) == 1
    assert sorted(p.name for p in (fit / "checkpoints").iterdir()) == ["step_00000001.pt"]
