"""Errors raised by :mod:`storage` for bad user input and unusable stores."""


class StorageError(Exception):
    """Base class of every error raised by :mod:`storage`."""


class InputError(StorageError, ValueError):
    """An input (video file, image folder, array, pickle) cannot be used; the message names it and why."""


class IncompleteStoreError(StorageError):
    """A store exists but was never finished (a killed writer) or has an unknown schema version."""


class StoreConflictError(StorageError):
    """A store already exists under that name but was made from other input or other parameters."""


class UnsafePickleError(StorageError):
    """A pickle asked for an object outside the allowed set (numpy arrays, dtypes, builtins)."""
