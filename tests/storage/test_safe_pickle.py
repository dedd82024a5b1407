"""Tests for storage/safe_pickle.py: numpy and containers load, everything else is refused unrun."""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from storage.errors import InputError, UnsafePickleError
from storage.safe_pickle import load_pickle_safely

PROTOCOLS = range(6)

ARRAYS = {
    "uint8_video": np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3),
    "float32": np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4),
    "float64_big_endian": np.arange(5, dtype=">f8"),
    "int64": np.array([-(2**40), 0, 7], dtype=np.int64),
    "bool": np.array([[True, False], [False, True]]),
    "fixed_bytes": np.array([b"\xff\xd8jpeg", b"\xff\xd8x"]),
    "unicode": np.array(["bear", "camel"]),
    "structured": np.zeros(2, dtype=[("x", "<f4"), ("occluded", "?")]),
    "fortran_order": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "strided_view": np.arange(10)[::3],
    "object_of_bytes": np.array([b"ab", b"c"], dtype=object),
}


def _write(tmp_path: Path, obj: object, protocol: int) -> Path:
    path = tmp_path / f"data_p{protocol}.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _as_written_by_numpy_1x(data: bytes) -> bytes:
    """Rename ``numpy._core`` to ``numpy.core`` in a pickle's globals, as numpy 1.x writes them.

    Frames are dropped (they are optional) so that strings can change length.
    """
    ops = list(pickletools.genops(data))
    out = bytearray()
    for (opcode, arg, pos), (_, _, end) in zip(ops, [*ops[1:], (None, None, len(data))], strict=True):
        if opcode.name == "FRAME":
            continue
        if isinstance(arg, str) and arg.startswith("numpy._core"):
            renamed = arg.replace("numpy._core", "numpy.core", 1)
            if opcode.name == "GLOBAL":
                module, name = renamed.split(" ")
                out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            elif opcode.name == "SHORT_BINUNICODE":
                out += b"\x8c" + bytes([len(renamed)]) + renamed.encode()
            elif opcode.name == "BINUNICODE":
                out += b"X" + len(renamed).to_bytes(4, "little") + renamed.encode()
            else:
                raise AssertionError(f"unexpected opcode {opcode.name} naming {arg}")
            continue
        out += data[pos:end]
    return bytes(out)


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _assert_same_array(loaded: object, expected: np.ndarray) -> None:
    assert isinstance(loaded, np.ndarray)
    # numpy itself restores a non-native byte order as native at protocols 0-4 (values unchanged).
    assert loaded.dtype in (expected.dtype, expected.dtype.newbyteorder("="))
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_numpy_arrays_round_trip_at_every_protocol(tmp_path: Path, kind: str, protocol: int) -> None:
    _assert_same_array(load_pickle_safely(_write(tmp_path, ARRAYS[kind], protocol)), ARRAYS[kind])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numpy_scalars_and_dtypes_round_trip(tmp_path: Path, protocol: int) -> None:
    values = [np.float32(1.5), np.int64(-3), np.bool_(True), np.dtype(">i2"), np.dtype([("a", "<f8")])]
    loaded = load_pickle_safely(_write(tmp_path, values, protocol))
    assert loaded == values
    assert [type(value) for value in loaded] == [type(value) for value in values]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_containers_and_bytes_round_trip(tmp_path: Path, protocol: int) -> None:
    value = {
        "list": [1, 2.5, None, True],
        "tuple": ("a", b"\x00\xffbytes"),
        "nested": {"set": {1, 2}, "frozenset": frozenset({"x"}), "bytearray": bytearray(b"ab")},
        "complex": 1 - 2j,
        7: [{"deep": [b"", ""]}],
    }
    assert load_pickle_safely(_write(tmp_path, value, protocol)) == value


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tapvid_like_records_round_trip(tmp_path: Path, protocol: int) -> None:
    record = {
        "video": ARRAYS["uint8_video"],
        "points": np.zeros((2, 2, 2), np.float32),
        "occluded": ARRAYS["bool"],
    }
    loaded = load_pickle_safely(_write(tmp_path, {"bear": record}, protocol))
    assert isinstance(loaded, dict) and list(loaded) == ["bear"]
    for key, expected in record.items():
        _assert_same_array(loaded["bear"][key], expected)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_written_by_numpy_1x_load_without_the_numpy_core_shim(tmp_path: Path, protocol: int) -> None:
    values = [ARRAYS["float32"], ARRAYS["fixed_bytes"], np.float64(2.0)]
    data = _as_written_by_numpy_1x(pickle.dumps(values, protocol=protocol))
    assert b"numpy.core" in data and b"numpy._core" not in data
    path = tmp_path / "numpy1.pkl"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_pickle_safely(path)
    assert isinstance(loaded, list)
    _assert_same_array(loaded[0], values[0])
    _assert_same_array(loaded[1], values[1])
    assert loaded[2] == values[2] and isinstance(loaded[2], np.float64)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refuses_os_system_payload_without_running_it(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / f"pwned_{uuid.uuid4().hex}"
    path = _write(tmp_path, {"video": [_Evil(f"touch {marker}")]}, protocol)
    pattern = rf"{re.escape(str(path))}: .*(posix|nt|os)\.system, which is not allowed"
    with pytest.raises(UnsafePickleError, match=pattern):
        load_pickle_safely(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module, name",
    [
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("__builtin__", "exec"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
    ],
)
def test_refuses_any_global_outside_the_allowed_set(tmp_path: Path, module: str, name: str) -> None:
    path = tmp_path / "global.pkl"
    path.write_bytes(b"c" + f"{module}\n{name}\n".encode() + b"(S'1'\ntR.")
    pattern = rf"global\.pkl: the pickle asks for {re.escape(module)}\.{name}, which is not allowed"
    with pytest.raises(UnsafePickleError, match=pattern):
        load_pickle_safely(path)


@pytest.mark.parametrize("constructor", [b"bytes", b"bytearray"])
def test_refuses_bytes_of_a_size_which_would_allocate_from_nothing(
    tmp_path: Path, constructor: bytes
) -> None:
    path = tmp_path / "bomb.pkl"
    path.write_bytes(b"cbuiltins\n" + constructor + b"\n(I1000000000000\ntR.")
    with pytest.raises(UnsafePickleError, match=rf"calls {constructor.decode()}\(1000000000000\)"):
        load_pickle_safely(path)


def test_refuses_codecs_encode_with_an_encoding_other_than_latin1(tmp_path: Path) -> None:
    path = tmp_path / "codec.pkl"
    path.write_bytes(b"c_codecs\nencode\n(Vx\nVzlib\ntR.")
    with pytest.raises(UnsafePickleError, match=r"_codecs.encode with encoding 'zlib'"):
        load_pickle_safely(path)


@pytest.mark.parametrize("cut", [1, 10, -1])
def test_truncated_pickle_is_an_input_error_naming_the_file(tmp_path: Path, cut: int) -> None:
    data = pickle.dumps({"points": np.zeros((4, 5, 2))}, protocol=4)
    path = tmp_path / "truncated.pkl"
    path.write_bytes(data[:cut])
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: not a readable pickle"):
        load_pickle_safely(path)


@pytest.mark.parametrize("content", [b"", b"this is not a pickle", bytes(range(256))])
def test_garbage_is_an_input_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pkl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"{re.escape(str(path))}: not a readable pickle"):
        load_pickle_safely(path)


def test_out_of_band_buffers_are_an_input_error(tmp_path: Path) -> None:
    buffers: list[pickle.PickleBuffer] = []
    path = tmp_path / "oob.pkl"
    path.write_bytes(pickle.dumps(np.arange(4), protocol=5, buffer_callback=buffers.append))
    assert buffers
    with pytest.raises(InputError, match=r"out-of-band"):
        load_pickle_safely(path)


def test_persistent_ids_are_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "persistent.pkl"
    path.write_bytes(b"Pfile:///etc/passwd\n.")
    with pytest.raises(InputError, match=r"persistent\.pkl: the pickle uses persistent ids"):
        load_pickle_safely(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.pkl: does not exist"):
        load_pickle_safely(tmp_path / "missing.pkl")


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is not a file"):
        load_pickle_safely(tmp_path)
