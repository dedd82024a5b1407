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
``numpy.ndarray``                                   first argument of ``_reconstruct``
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


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The numpy callables that array and scalar pickles name, taken from numpy's own reducers."""
    reconstruct = np.ndarray((0,)).__reduce__()[0]
    scalar = np.float64(0.0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


def _builtin_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {}
    for module in _BUILTIN_MODULES:
        for builtin in (set, frozenset, complex):
            table[(module, builtin.__name__)] = builtin
    return table


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {**_numpy_globals(), **_builtin_globals()}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come only from ``_ALLOWED_GLOBALS``."""

    def __init__(self, file: Any, origin: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._origin = origin

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return self._encode_latin1
        if module in _BUILTIN_MODULES and name in _SIZED_CONSTRUCTORS:
            return functools.partial(self._construct_from_data, _SIZED_CONSTRUCTORS[name])
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._origin}: the pickle asks for {module}.{name}, which is not allowed; only numpy "
                "arrays, dtypes, scalars and plain Python containers may be loaded"
            ) from None

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
        except Exception as err:  # noqa: BLE001 - any failure to parse means an unreadable file
            raise InputError(
                f"{path}: not a readable pickle ({type(err).__name__}: {err}); the file may be truncated "
                "or not a pickle"
            ) from err
