"""Load a pickle that may hold numpy arrays, refusing every other global it asks for.

``pickle.load`` runs whatever callable a pickle names, so loading a downloaded file is running
downloaded code. :func:`load_pickle_safely` resolves globals from a fixed table instead of importing
them. The table holds exactly what numpy arrays, dtypes and scalars (numpy 1.x and 2.x) and Python
containers need, at every protocol from 0 to 5:

==================================================  ==========================================
global named in the pickle                          why it is there
==================================================  ==========================================
``numpy.core.multiarray._reconstruct`` (numpy 1.x)  ``ndarray.__reduce__``, protocols 0-4
``numpy._core.multiarray._reconstruct`` (2.x)
``numpy.ndarray``                                   first argument of ``_reconstruct`` (only there)
``numpy.dtype``                                     every dtype (array and scalar pickles)
``numpy.core.multiarray.scalar`` (1.x)              numpy scalars (``np.float32(1.0)``)
``numpy._core.multiarray.scalar`` (2.x)
``numpy.core.numeric._frombuffer`` (1.x)            contiguous arrays at protocol 5
``numpy._core.numeric._frombuffer`` (2.x)
``_codecs.encode`` (only with ``'latin1'``)         ``bytes`` at protocols 0-2
``builtins`` / ``__builtin__`` ``bytes``,           ``b""`` (``bytes()``) at protocols 0-2 and
``bytearray`` (not from an int size)                ``bytearray`` at protocols 0-4
``builtins`` / ``__builtin__`` ``set``,             containers without an opcode at protocols
``frozenset``, ``complex``                          0-3 (``complex`` at every protocol)
==================================================  ==========================================

Lists, tuples, dicts, str, bytes (protocol 3+), int, float, bool and None need no global. The names
under ``numpy.core`` are mapped to the running numpy's own functions (taken from its reducers), so
pickles written by numpy 1.x load under numpy 2.x without the ``numpy.core`` deprecation shim, and
the other way round. Python 2 ``str`` objects are decoded as latin-1, which is how numpy's Python 2
pickles must be read. Out-of-band protocol 5 buffers and persistent ids are not supported.

Allowed globals are not enough on their own: numpy trusts the state a pickle gives a dtype, so a dtype
whose flags or fields lie makes numpy read raw bytes of the file as object pointers (a crash at best).
The unpickler therefore also checks what the pickle does with the objects it builds:

- a state (opcode BUILD) may be given only to an array or dtype just made by ``_reconstruct`` or
  ``numpy.dtype``, once, and a dtype must get its state before anything uses it;
- a dtype's flags, item size and field offsets must be those numpy computes for its fields;
- items may be added only to a list (APPEND), a dict (SETITEM) or a set (ADDITEMS);
- ``numpy.ndarray`` is never called, ``_frombuffer`` reads only ``bytes``/``bytearray``.

It runs on Python's own pure-Python unpickler (``pickle._Unpickler``), whose opcode table can be
changed; it is about as fast as the C one on TAP-Vid files, whose bulk is a few large byte strings.
"""

from __future__ import annotations

import codecs
import functools
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from storage.errors import InputError, UnsafePickleError

_LATIN1_NAMES = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
_BUILTIN_MODULES = ("builtins", "__builtin__")
_SIZED_CONSTRUCTORS: dict[str, type] = {"bytes": bytes, "bytearray": bytearray}
_NUMPY_CORES = ("numpy.core", "numpy._core")
_OBJECT_FLAGS = 0x0F
"""dtype flag bits that say how numpy treats item memory: object pointers (REFCOUNT), items pickled as a
list (LIST_PICKLE), items are pointers (IS_POINTER), memory must be zeroed (NEEDS_INIT)."""
_MISSING = object()

_numpy_reconstruct = np.ndarray((0,)).__reduce__()[0]
_numpy_scalar = np.float64(0.0).__reduce__()[0]
_numpy_frombuffer = np.zeros(1).__reduce_ex__(5)[0]


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: the first argument of ``_reconstruct``; calling it raises."""

    def __init__(self, refusal: UnsafePickleError) -> None:
        self._refusal = refusal

    def __call__(self, *args: object) -> None:
        raise self._refusal


def _canonical_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy builds itself from ``dtype``'s fields, offsets and sizes (raises if impossible)."""
    if dtype.fields is not None:
        names = list(dtype.names or ())
        fields = [dtype.fields[name] for name in names]
        spec: dict[str, Any] = {
            "names": names,
            "formats": [_canonical_dtype(field[0]) for field in fields],
            "offsets": [field[1] for field in fields],
            "itemsize": dtype.itemsize,
        }
        titles = [field[2] if len(field) > 2 else None for field in fields]
        if any(title is not None for title in titles):
            spec["titles"] = titles
        return np.dtype(spec, align=dtype.isalignedstruct)
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return np.dtype((_canonical_dtype(base), shape))
    return np.dtype(dtype.str)


def _is_shape(value: object) -> bool:
    return isinstance(value, tuple) and all(type(size) is int and size >= 0 for size in value)


def _dtype_state_problem(dtype: np.dtype, state: object) -> str | None:
    """Why ``state`` is not what numpy writes for ``dtype`` (made from a type string), or None.

    numpy writes ``(3, byte order, subarray, names, fields, item size, alignment, flags[, metadata])``;
    item size and alignment are -1 but for ``S``, ``U`` and ``V`` types (then the item size is the type
    string's), and only ``V`` types have a subarray or fields. numpy's ``dtype.__setstate__`` trusts all
    of this: another shape or type of item can crash the interpreter.
    """
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        return "expected a tuple of 8 or 9 items"
    version, endian, subarray, names, fields, size, alignment, flags = state[:8]
    if version != 3 or any(type(value) is not int for value in (version, size, alignment, flags)):
        return "expected version 3 and integer item size, alignment and flags"
    if endian not in (("|",) if dtype.byteorder == "|" else ("<", ">", "=")):
        return f"byte order {endian!r} for a {dtype.str} type"
    if len(state) == 9 and not (state[8] is None or isinstance(state[8], dict)):
        return "metadata must be None or a dict"
    flexible = dtype.kind in "SUV"
    if (size, alignment) != ((dtype.itemsize, max(alignment, 1)) if flexible else (-1, -1)):
        return f"item size {size} and alignment {alignment} for a {dtype.str} type"
    if dtype.kind != "V" and (subarray, names, fields) != (None, None, None):
        return f"a subarray or fields for a {dtype.str} type"
    is_subarray = isinstance(subarray, tuple) and len(subarray) == 2 and isinstance(subarray[0], np.dtype)
    if subarray is not None and not (is_subarray and _is_shape(subarray[1])):
        return "expected no subarray or (dtype, shape)"
    if names is None and fields is None:
        return None
    if not isinstance(names, tuple) or not isinstance(fields, dict) or any(name not in fields for name in names):
        return "expected field names and a dict with every one of them"
    for key, field in fields.items():
        valid = isinstance(field, tuple) and len(field) in (2, 3) and isinstance(field[0], np.dtype)
        if not isinstance(key, str) or not valid or type(field[1]) is not int or field[1] < 0:
            return f"field {key!r} is not (dtype, offset[, title])"
    return None


def _array_state_problem(state: object) -> str | None:
    """Why ``state`` is not an array state as numpy writes it ([version,] shape, dtype, is_fortran, data), or
    None. numpy leaves the items of an object array that the data list does not cover pointing anywhere."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        return "expected a tuple of 4 or 5 items"
    shape, dtype, _, data = state[-4:]
    if not _is_shape(shape) or not isinstance(dtype, np.dtype):
        return "expected a shape of non-negative integers and a dtype"
    count = int(np.prod(shape, dtype=np.float64))
    if count and not dtype.itemsize:
        return f"{count} items of 0 bytes"
    if dtype.hasobject:
        if not isinstance(data, list) or len(data) != count:
            return f"an array of {count} objects needs a list of {count} items"
    elif not isinstance(data, (bytes, bytearray, str)) or len(data) != count * dtype.itemsize:
        return f"an array of {count} items of {dtype.itemsize} bytes needs that many bytes"
    return None


def _type_name(value: object) -> str:
    """``dtype``, ``numpy array`` or the Python type's name (numpy 2 names each dtype's class apart)."""
    if isinstance(value, np.dtype):
        return "dtype"
    if isinstance(value, np.ndarray):
        return "numpy array"
    return type(value).__name__


class _Dispatch(dict):
    """The opcode table; an unknown opcode is an unpickling error, not a ``KeyError``."""

    def __missing__(self, key: int) -> Any:
        raise pickle.UnpicklingError(f"invalid load key, {bytes([key])!r}")


class _RestrictedUnpickler(pickle._Unpickler):
    """An unpickler whose globals come only from :meth:`find_class`'s table, and which checks every state
    it sets and every item it adds (see the module docstring)."""

    dispatch = _Dispatch(pickle._Unpickler.dispatch)

    def __init__(self, file: Any, origin: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._origin = origin
        self._unbuilt: dict[int, object] = {}  # id -> array or dtype made here that has no state yet

    def _refuse(self, what: str) -> UnsafePickleError:
        return UnsafePickleError(f"{self._origin}: the pickle {what}, which is not allowed")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return self._encode_latin1
        if module in _BUILTIN_MODULES and name in _SIZED_CONSTRUCTORS:
            return functools.partial(self._construct_from_data, _SIZED_CONSTRUCTORS[name])
        if module in _BUILTIN_MODULES and name in ("set", "frozenset", "complex"):
            return {"set": set, "frozenset": frozenset, "complex": complex}[name]
        if module == "numpy" and name == "ndarray":
            return _NdarrayClass(self._refuse("calls numpy.ndarray directly (only _reconstruct may name it)"))
        if module == "numpy" and name == "dtype":
            return self._new_dtype
        if (module, name) in {(f"{core}.multiarray", "_reconstruct") for core in _NUMPY_CORES}:
            return self._reconstruct
        if (module, name) in {(f"{core}.multiarray", "scalar") for core in _NUMPY_CORES}:
            return self._scalar
        if (module, name) in {(f"{core}.numeric", "_frombuffer") for core in _NUMPY_CORES}:
            return self._frombuffer
        raise UnsafePickleError(
            f"{self._origin}: the pickle asks for {module}.{name}, which is not allowed; only numpy "
            "arrays, dtypes, scalars and plain Python containers may be loaded"
        )

    def _require_built(self, value: object) -> None:
        """Refuse ``value`` when it is, or holds (in tuples, lists, dicts), a dtype that has no state yet."""
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, np.dtype) and self._unbuilt.get(id(item), _MISSING) is item:
                raise self._refuse("uses a dtype before giving it its state")
            if isinstance(item, (tuple, list)):
                pending.extend(item)
            elif isinstance(item, dict):
                pending.extend(item.values())

    def _new_dtype(self, spec: object, align: object = False, copy: object = True) -> np.dtype:
        """``numpy.dtype(spec, align)`` from a type string such as ``'<f4'`` or ``'V16'``, as numpy writes it;
        always a new object (numpy returns a dtype given to it unchanged, and shares its builtin ones)."""
        if not isinstance(spec, str):
            raise self._refuse(f"calls numpy.dtype with a {_type_name(spec)}; only a type string is allowed")
        dtype = np.dtype(spec, bool(align), True)
        self._unbuilt[id(dtype)] = dtype
        return dtype

    def _reconstruct(self, subtype: object, shape: object, typecode: object) -> np.ndarray:
        """The empty array numpy's pickles start from, ``_reconstruct(ndarray, (0,), b'b')``; its state
        (BUILD) gives it a shape, dtype and data."""
        if not isinstance(subtype, _NdarrayClass):
            raise self._refuse(f"calls _reconstruct for a {_type_name(subtype)}; only numpy.ndarray may be made")
        if shape != (0,) or typecode not in (b"b", "b"):
            raise self._refuse(f"calls _reconstruct with {shape!r}, {typecode!r}; numpy writes (0,), b'b'")
        array = _numpy_reconstruct(np.ndarray, (0,), "b")
        self._unbuilt[id(array)] = array
        return array

    def _scalar(self, dtype: object, *args: object) -> object:
        if not isinstance(dtype, np.dtype):
            raise self._refuse(f"calls numpy's scalar with a {_type_name(dtype)} instead of a dtype")
        self._require_built(dtype)
        return _numpy_scalar(dtype, *args)

    def _frombuffer(self, buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
        if not isinstance(buffer, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
            raise self._refuse(
                f"calls _frombuffer on a {_type_name(buffer)} with a {_type_name(dtype)}; expected bytes and a dtype"
            )
        self._require_built(dtype)
        return _numpy_frombuffer(buffer, dtype, shape, order)

    def _check_dtype_layout(self, dtype: np.dtype) -> None:
        """Refuse a dtype whose state disagrees with the layout numpy computes for its fields."""
        try:
            canonical = _canonical_dtype(dtype)
        except (TypeError, ValueError, RecursionError) as err:
            raise self._refuse(f"builds a dtype whose layout numpy refuses ({err})") from None
        forged = canonical != dtype or canonical.itemsize != dtype.itemsize
        forged = forged or bool((canonical.flags ^ dtype.flags) & _OBJECT_FLAGS)
        if forged:
            raise self._refuse(
                f"builds a forged dtype: its type, flags ({dtype.flags:#x}) or size ({dtype.itemsize}) are not "
                f"those of its fields ({canonical.flags:#x}, {canonical.itemsize}), so numpy would misread raw bytes"
            )

    def _load_build(self) -> None:
        state, target = self.stack[-1], self.stack[-2]
        if self._unbuilt.pop(id(target), _MISSING) is not target:
            raise self._refuse(
                f"sets the state of a {_type_name(target)}; only a new numpy array or dtype may get one, once"
            )
        self._require_built(state)
        if isinstance(target, np.dtype):
            problem = _dtype_state_problem(target, state)
        else:
            problem = _array_state_problem(state)
        if problem is not None:
            raise self._refuse(f"gives a {_type_name(target)} a state numpy does not write ({problem})")
        pickle._Unpickler.load_build(self)
        if isinstance(target, np.dtype):
            self._check_dtype_layout(target)

    def _target(self, expected: type, opcode: str) -> Any:
        target = self.stack[-1]
        if type(target) is not expected:
            raise self._refuse(f"adds items ({opcode}) to a {_type_name(target)}; only to a {expected.__name__}")
        return target

    def _load_append(self) -> None:
        value = self.stack.pop()
        self._target(list, "APPEND").append(value)

    def _load_appends(self) -> None:
        items = self.pop_mark()
        self._target(list, "APPENDS").extend(items)

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._target(dict, "SETITEM")[key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self._target(dict, "SETITEMS")
        for index in range(0, len(items), 2):
            target[items[index]] = items[index + 1]

    def _load_additems(self) -> None:
        items = self.pop_mark()
        self._target(set, "ADDITEMS").update(items)

    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.APPEND[0]] = _load_append
    dispatch[pickle.APPENDS[0]] = _load_appends
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _load_additems

    def _construct_from_data(self, constructor: type, *args: Any) -> Any:
        """``bytes(...)`` / ``bytearray(...)``, refusing ``bytes(n)``, which would allocate n zero bytes."""
        if args and isinstance(args[0], int):
            raise UnsafePickleError(
                f"{self._origin}: the pickle calls {constructor.__name__}({args[0]}); only construction from "
                "data is allowed"
            )
        return constructor(*args)

    def _encode_latin1(self, text: str, encoding: str = "utf-8") -> bytes:
        """Stand-in for ``_codecs.encode``, doing only what Python's protocol 0-2 pickles of bytes ask."""
        is_latin1 = isinstance(encoding, str) and encoding.lower() in _LATIN1_NAMES
        if not isinstance(text, str) or not is_latin1:
            raise UnsafePickleError(
                f"{self._origin}: the pickle calls _codecs.encode with encoding {encoding!r}; only 'latin1' "
                "(how Python pickles bytes at protocols 0-2) is allowed"
            )
        return codecs.encode(text, "latin1")

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self._origin}: the pickle uses persistent ids, which are not supported")


def load_pickle_safely(path: Path) -> object:
    """Unpickle ``path``, allowing only numpy arrays, dtypes, scalars and plain Python containers.

    Raises:
        UnsafePickleError: the pickle names any other global (the message gives ``module.name``);
            nothing it names is imported or called.
        InputError: the file is missing, is not a file, or is not a readable pickle (truncated,
            garbage, out-of-band buffers).
    """
    path = Path(path)
    if not path.is_file():
        reason = "is not a file" if path.exists() else "does not exist"
        raise InputError(f"{path}: {reason}; expected a pickle file")
    with path.open("rb") as handle:
        try:
            return _RestrictedUnpickler(handle, path).load()
        except (UnsafePickleError, InputError):
            raise
        except Exception as err:
            raise InputError(
                f"{path}: not a readable pickle ({type(err).__name__}: {err}); the file may be truncated "
                "or not a pickle"
            ) from err
