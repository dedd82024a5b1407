"""Flow sets on disk: ``<video_group>/flows/<name>/``, one zarr v3 group per set of flow parameters.

Arrays (see :mod:`storage.layout`)::

    flow    float16 [P, H, W, 2]  (dx, dy) pixels from frame pairs[p, 0] to pairs[p, 1], chunks (1, H, W, 2)
    mask    bool    [P, H, W]     trusted correspondences, chunks (1, H, W)
    pairs   int32   [P, 2]        (i, j) frame indices
    counts  int32   [T, H, W]     trusted correspondences per pixel, chunks (1, H, W)

Attributes: ``schema_version``, ``complete``, ``name``, ``params`` (the JSON parameters the flows were
made with), ``num_frames``, ``size`` ([H, W]).

A set is written under ``flows/<name>.partial-<uuid>`` by a :class:`FlowSetWriter`, which can be fed
chunks of pairs from several processes (one chunk file per pair, so disjoint pairs never share a file),
reopened after a kill to skip the pairs already done, and renamed to ``flows/<name>`` once every pair is
in. While partial, the group also holds ``done`` (bool [P], chunks (1,)): a pair is marked done only
after its flow and mask are written, so a half-written pair is computed again. Two runs writing the same
set at once share its partial group: chunks are written under a shared lock and the set is published
under an exclusive one (``flows/.<name>.lock``, see :func:`storage.publish.file_lock`), so a run never
writes into a group another run has just published; it finds the published set instead. The name comes from the
parameters (:func:`flow_set_name`): other parameters give another name, and a name is never overwritten.

Model fitting reads a set through :func:`open_pair_source`: whole, into memory (flow as stored, float16),
when it fits the memory budget, else as a :class:`ZarrPairSource` that reads only the pairs a batch needs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import zarr

from omnimotion_core.flow_set import FlowSet, flow_set_nbytes
from storage import layout, publish
from storage.errors import IncompleteStoreError, InputError, StoreConflictError

FLOW_ARRAY = "flow"
MASK_ARRAY = "mask"
PAIRS_ARRAY = "pairs"
COUNTS_ARRAY = "counts"
DONE_ARRAY = "done"

_COUNT_BATCH = 64
"""Mask rows read at a time when the counts are summed at publication (or trusted pixels per pair counted)."""

STORED_FLOW_ITEMSIZE = 2
"""Bytes per stored flow value (float16): a set read whole with ``flow_dtype="float16"`` holds this."""

STREAM_CACHE_FRACTION = 4
"""A streamed flow set caches at most 1 / STREAM_CACHE_FRACTION of the memory budget of recently read pairs."""


def flow_sets_dir(video_group_path: Path) -> Path:
    """Folder holding every flow set of a video group."""
    return Path(video_group_path) / layout.FLOWS_GROUP


def flow_set_path(video_group_path: Path, name: str) -> Path:
    """Path of the finished flow set ``name`` of a video group."""
    if not isinstance(name, str) or layout.video_id_from_name(name) != name:
        raise InputError(
            f"{name!r} is not a valid flow set name: use letters, digits, '-', '_', '.' "
            f"(e.g. from flow_set_name(params))"
        )
    return flow_sets_dir(video_group_path) / name


def _canonical_json(params: dict) -> str:
    try:
        return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InputError(f"flow set params must be JSON-serialisable (str keys, finite numbers): {error}") from error


def flow_set_name(params: dict) -> str:
    """A stable short name for a flow set, e.g. ``"dis-fast-1a2b3c4d"``.

    Args:
        params: JSON-ready parameters with ``params["engine"]["engine"]`` naming the engine and, when
            present, ``params["engine"]["preset"]`` its preset (as made by
            ``omnimotion_core.flow.flow_set_params``).

    Returns:
        ``<engine>[-<preset>]-<first 8 hex digits of the sha256 of the sorted-key JSON of params>``.
    """
    if not isinstance(params, dict):
        raise InputError(f"flow set params must be a dict, got {type(params).__name__}")
    engine = params.get("engine")
    if not isinstance(engine, dict) or not isinstance(engine.get("engine"), str):
        raise InputError(
            f"flow set params need params['engine']['engine'] (the engine name), got keys {sorted(params)}"
        )
    label = engine["engine"] if "preset" not in engine else f"{engine['engine']}-{engine['preset']}"
    label = re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_") or "flow"
    digest = hashlib.sha256(_canonical_json(params).encode("utf-8")).hexdigest()[:8]
    return f"{label}-{digest}"


def _check_video_group(video_group_path: Path, num_frames: int, size: tuple[int, int]) -> None:
    video_group_path = Path(video_group_path)
    if not (video_group_path / "zarr.json").is_file():
        raise InputError(f"{video_group_path}: no zarr group here (missing zarr.json); ingest the video first")
    attrs = dict(zarr.open_group(str(video_group_path), mode="r").attrs)
    if "num_frames" in attrs and attrs["num_frames"] != num_frames:
        raise InputError(f"{video_group_path}: flow set has {num_frames} frames, video has {attrs['num_frames']}")
    if "size" in attrs and list(attrs["size"]) != list(size):
        raise InputError(f"{video_group_path}: flow set frames are {list(size)} (H, W), video is {attrs['size']}")


def _check_complete(path: Path) -> zarr.Group:
    if layout.PARTIAL_MARKER in path.name:
        raise IncompleteStoreError(f"{path}: a flow set still being written (partial name)")
    if not (path / "zarr.json").is_file():
        raise IncompleteStoreError(f"{path}: no zarr group here (missing zarr.json)")
    group = zarr.open_group(str(path), mode="r")
    if group.attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{path}: flow set was never finished (attrs complete is not true)")
    version = group.attrs.get("schema_version")
    if version != layout.SCHEMA_VERSION:
        raise IncompleteStoreError(f"{path}: schema version {version!r}, this code reads {layout.SCHEMA_VERSION}")
    return group


def _check_same_params(path: Path, params: dict) -> None:
    stored = zarr.open_group(str(path), mode="r").attrs.get("params")
    if _canonical_json(stored) != _canonical_json(params):
        raise StoreConflictError(
            f"{path}: already holds a flow set made with other parameters ({stored}); this one has {params}. "
            f"Name flow sets with flow_set_name(params)."
        )


def _contiguous_runs(rows: np.ndarray) -> list[tuple[np.ndarray, slice]]:
    """Group chunk positions by runs of consecutive storage rows: [(positions in chunk, row slice)]."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
    return [
        (positions, slice(int(run[0]), int(run[-1]) + 1))
        for positions, run in zip(np.split(order, breaks), np.split(sorted_rows, breaks), strict=True)
        if len(run)
    ]


class FlowSetWriter:
    """Writes one flow set pair by pair into a partial group, resumably, and publishes it when complete.

    Open it with :meth:`open` (creates the partial group, or takes over the partial group a killed
    writer left with the same parameters and pairs); workers in other processes join the same partial
    group with :meth:`attach`. Feed it :class:`FlowSet` chunks with :meth:`write`, then :meth:`finish`.
    """

    def __init__(self, partial_path: Path, final_path: Path, group: zarr.Group, published: bool) -> None:
        self.partial_path = partial_path
        self.final_path = final_path
        self._group = group
        self._published = published
        self._params = group.attrs["params"]
        self._lock = publish.writer_lock_path(final_path)
        pairs = group[PAIRS_ARRAY][:]
        self._pairs = pairs.astype(np.int64)
        self._rows = {(int(i), int(j)): row for row, (i, j) in enumerate(self._pairs)}

    @classmethod
    def open(
        cls,
        video_group_path: Path,
        name: str,
        pairs: np.ndarray,
        num_frames: int,
        size: tuple[int, int],
        params: dict,
    ) -> FlowSetWriter:
        """Start (or resume) writing the flow set ``name`` of a video group.

        Args:
            video_group_path: the video's zarr group (``<root>/videos/<id>.zarr``); must exist.
            name: flow set name, normally ``flow_set_name(params)``.
            pairs: int [P, 2] (i, j) frame indices of every pair the set will hold, in storage order.
            num_frames: T of the video.
            size: (H, W) of the frames.
            params: JSON-ready parameters the flows are made with (stored, and compared on resume).

        Raises:
            StoreConflictError: ``name`` already holds a finished set made with other parameters.
            InputError: no video group at the path, or T / size disagree with its attributes.
        """
        if layout.PARTIAL_MARKER in name:
            raise InputError(f"flow set name {name!r} must not contain {layout.PARTIAL_MARKER!r}")
        final_path = flow_set_path(video_group_path, name)
        pairs = np.asarray(pairs, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
            raise InputError(f"pairs must be a non-empty [P, 2] array, got shape {pairs.shape}")
        if len(np.unique(pairs, axis=0)) != len(pairs) or pairs.min() < 0 or pairs.max() >= num_frames:
            raise InputError(f"pairs must be distinct (i, j) frame indices in [0, {num_frames})")
        _check_video_group(video_group_path, num_frames, size)
        if final_path.exists():
            group = _check_complete(final_path)
            _check_same_params(final_path, params)
            return cls(final_path, final_path, group, published=True)
        zarr.open_group(str(flow_sets_dir(video_group_path)), mode="a", zarr_format=3)
        with publish.file_lock(publish.writer_lock_path(final_path), exclusive=False):
            resumable = cls._find_resumable(final_path, pairs, num_frames, size, params)
        if resumable is not None:
            return cls.attach(resumable)
        partial_path = publish.new_partial_path(final_path)
        group = zarr.open_group(str(partial_path), mode="a", zarr_format=3)
        height, width = size
        group.create_array(
            FLOW_ARRAY, shape=(len(pairs), height, width, 2), dtype="float16", chunks=(1, height, width, 2)
        )
        group.create_array(MASK_ARRAY, shape=(len(pairs), height, width), dtype="bool", chunks=(1, height, width))
        group.create_array(DONE_ARRAY, shape=(len(pairs),), dtype="bool", chunks=(1,), fill_value=False)
        group.create_array(PAIRS_ARRAY, shape=pairs.shape, dtype="int32", chunks=pairs.shape)
        group[PAIRS_ARRAY][:] = pairs.astype(np.int32)
        group.attrs.update({
            "schema_version": layout.SCHEMA_VERSION,
            "complete": False,
            "name": name,
            "params": json.loads(_canonical_json(params)),
            "num_frames": int(num_frames),
            "size": [int(height), int(width)],
        })
        return cls(partial_path, final_path, group, published=False)

    @classmethod
    def attach(cls, partial_path: Path) -> FlowSetWriter:
        """Join the partial group of a writer opened elsewhere (e.g. from a worker process).

        When another run has published the set meanwhile, the writer joins the published set: it has
        nothing left to write and :meth:`finish` returns the published set.
        """
        partial_path = Path(partial_path)
        final_path = partial_path.with_name(partial_path.name.split(layout.PARTIAL_MARKER)[0])
        if layout.PARTIAL_MARKER not in partial_path.name:
            raise InputError(f"{partial_path}: not a partial flow set group")
        with publish.file_lock(publish.writer_lock_path(final_path), exclusive=False):
            if not (partial_path / "zarr.json").is_file():
                if not final_path.is_dir():
                    raise InputError(f"{partial_path}: not a partial flow set group")
                return cls(partial_path, final_path, _check_complete(final_path), published=False)
            return cls(partial_path, final_path, zarr.open_group(str(partial_path), mode="r+"), published=False)

    @staticmethod
    def _find_resumable(
        final_path: Path, pairs: np.ndarray, num_frames: int, size: tuple[int, int], params: dict
    ) -> Path | None:
        """The partial group of ``final_path`` with these params and pairs and the most pairs done."""
        best: tuple[int, str] | None = None
        for partial in sorted(final_path.parent.glob(f"{final_path.name}{layout.PARTIAL_MARKER}*")):
            if not (partial / "zarr.json").is_file():
                continue
            group = zarr.open_group(str(partial), mode="r")
            attrs = dict(group.attrs)
            if (
                attrs.get("num_frames") != num_frames
                or attrs.get("size") != [int(size[0]), int(size[1])]
                or _canonical_json(attrs.get("params")) != _canonical_json(params)
                or DONE_ARRAY not in group
                or not np.array_equal(group[PAIRS_ARRAY][:], pairs)
            ):
                continue
            done = int(np.count_nonzero(group[DONE_ARRAY][:]))
            if best is None or done > best[0]:
                best = (done, str(partial))
        return None if best is None else Path(best[1])

    @property
    def pairs(self) -> np.ndarray:
        """int64 [P, 2], every pair of the set in storage order."""
        return self._pairs

    def _published_elsewhere(self) -> bool:
        """Whether another writer of the shared partial group has published the set."""
        return not self.partial_path.is_dir() and self.final_path.is_dir()

    def pending_pairs(self) -> np.ndarray:
        """int64 [K, 2], the pairs not written yet (empty once published, by this writer or another)."""
        if self._published or self._published_elsewhere():
            return self._pairs[:0]
        return self._pairs[~self._group[DONE_ARRAY][:]]

    def write(self, chunk: FlowSet) -> None:
        """Write the flow and mask of every pair of ``chunk`` (pairs of this set), then mark them done.

        ``chunk.counts`` is ignored: counts are summed from the stored masks at :meth:`finish`. When another
        run has published the set meanwhile, nothing is written (the published set holds these pairs).
        """
        if self._published:
            raise StoreConflictError(f"{self.final_path}: already published; nothing more can be written")
        height, width = self._group.attrs["size"]
        if chunk.size != (height, width):
            raise InputError(
                f"{self.partial_path}: chunk frames are {list(chunk.size)} (H, W), the set's are {[height, width]}"
            )
        rows = []
        for i, j in chunk.pairs:
            row = self._rows.get((int(i), int(j)))
            if row is None:
                raise InputError(f"{self.partial_path}: pair ({i}, {j}) is not one of this flow set's pairs")
            rows.append(row)
        runs = _contiguous_runs(np.asarray(rows, dtype=np.int64))
        with publish.file_lock(self._lock, exclusive=False):
            if self._published_elsewhere():
                return
            flow_array, mask_array, done_array = (self._group[n] for n in (FLOW_ARRAY, MASK_ARRAY, DONE_ARRAY))
            for source, target in runs:
                flow_array[target] = chunk.flow[source].astype(np.float16)
                mask_array[target] = chunk.mask[source]
            for _, target in runs:
                done_array[target] = True

    def finish(self) -> Path:
        """Sum the counts, mark the set complete and rename it into place; return its final path.

        Raises:
            IncompleteStoreError: some pairs were never written (the message says how many).
        """
        if self._published:
            return self.final_path
        with publish.file_lock(self._lock, exclusive=True):
            if self._published_elsewhere():
                _check_complete(self.final_path)
                _check_same_params(self.final_path, self._params)
            else:
                self._publish()
        self._published = True
        return self.final_path

    def _publish(self) -> None:
        """Sum the counts, mark the set complete and rename it into place (under the exclusive lock)."""
        pending = self.pending_pairs()
        if len(pending):
            raise IncompleteStoreError(
                f"{self.partial_path}: {len(pending)} of {len(self._pairs)} pairs not written yet, "
                f"e.g. {pending[:3].tolist()}"
            )
        num_frames = self._group.attrs["num_frames"]
        height, width = self._group.attrs["size"]
        counts = np.zeros((num_frames, height, width), dtype=np.int32)
        mask_array = self._group[MASK_ARRAY]
        for start in range(0, len(self._pairs), _COUNT_BATCH):
            masks = mask_array[start : start + _COUNT_BATCH]
            for source, mask in zip(self._pairs[start : start + _COUNT_BATCH, 0], masks, strict=True):
                counts[source] += mask
        counts_array = self._group.create_array(
            COUNTS_ARRAY, shape=counts.shape, dtype="int32", chunks=(1, height, width)
        )
        counts_array[:] = counts
        del self._group[DONE_ARRAY]
        self._group.attrs["complete"] = True
        if not publish.publish(self.partial_path, self.final_path):
            _check_same_params(self.final_path, self._params)


def write_flow_set(video_group_path: Path, name: str, flow_set: FlowSet, params: dict) -> Path:
    """Store a whole in-memory flow set as ``<video_group>/flows/<name>``; return its path.

    A finished set of the same name and parameters is kept as it is; one with other parameters is a
    :class:`~storage.errors.StoreConflictError`.
    """
    writer = FlowSetWriter.open(video_group_path, name, flow_set.pairs, flow_set.num_frames, flow_set.size, params)
    if len(writer.pending_pairs()):
        writer.write(flow_set)
    return writer.finish()


def read_flow_set(
    video_group_path: Path, name: str, flow_dtype: Literal["float32", "float16"] = "float32"
) -> FlowSet:
    """Load the finished flow set ``name`` of a video group.

    Args:
        flow_dtype: dtype of the returned flow; ``"float16"`` (as stored) halves the memory.

    Raises:
        InputError: no flow set of that name (the message lists the ones there are).
        IncompleteStoreError: the set was never finished, or has an unknown schema version.
    """
    if flow_dtype not in ("float32", "float16"):
        raise InputError(f"flow_dtype must be 'float32' or 'float16', got {flow_dtype!r}")
    group = _open_finished(video_group_path, name)
    stored = group[FLOW_ARRAY]
    if flow_dtype == "float16":
        flow = stored[:]
    else:
        flow = np.empty(stored.shape, dtype=np.float32)
        for start in range(0, stored.shape[0], _COUNT_BATCH):
            flow[start : start + _COUNT_BATCH] = stored[start : start + _COUNT_BATCH]
    return FlowSet(
        pairs=group[PAIRS_ARRAY][:].astype(np.int64),
        flow=flow,
        mask=group[MASK_ARRAY][:],
        counts=group[COUNTS_ARRAY][:],
    )


def open_flow_reader(video_group_path: Path, name: str) -> Callable[[int, int], np.ndarray | None]:
    """``read(i, j)``: the whole flow of pair (i, j) of the finished flow set ``name`` (float16 [H, W, 2], as
    stored), read from disk on each call; None for a pair the set does not hold.

    Raises:
        InputError: no flow set of that name.
        IncompleteStoreError: the set was never finished.
    """
    group = _open_finished(video_group_path, name)
    flow = group[FLOW_ARRAY]
    rows = {(int(i), int(j)): row for row, (i, j) in enumerate(group[PAIRS_ARRAY][:])}

    def read(i: int, j: int) -> np.ndarray | None:
        row = rows.get((i, j))
        return None if row is None else flow[row]

    return read


def flow_set_memory(video_group_path: Path, name: str) -> int:
    """Bytes the finished flow set ``name`` takes in memory with its flow as stored (float16), from its shapes."""
    group = _open_finished(video_group_path, name)
    num_pairs, height, width, _ = group[FLOW_ARRAY].shape
    return flow_set_nbytes(num_pairs, group[COUNTS_ARRAY].shape[0], (height, width), STORED_FLOW_ITEMSIZE)


def open_pair_source(video_group_path: Path, name: str, memory_budget_bytes: int) -> FlowSet | ZarrPairSource:
    """The finished flow set ``name`` as a model-fitting pair source, chosen by a memory budget.

    Args:
        memory_budget_bytes: most bytes the flow set may take in memory. A set whose
            :func:`flow_set_memory` fits is read whole (flow float16, as stored); a larger one is streamed by a
            :class:`ZarrPairSource` caching at most ``memory_budget_bytes / STREAM_CACHE_FRACTION`` bytes of
            pairs. Either gives the same batches for the same seed. 0 always streams.

    Raises:
        InputError: a negative budget, or no flow set of that name.
        IncompleteStoreError: the set was never finished.
    """
    if memory_budget_bytes < 0:
        raise InputError(f"the flow set memory budget must be >= 0 bytes, got {memory_budget_bytes}")
    if flow_set_memory(video_group_path, name) <= memory_budget_bytes:
        return read_flow_set(video_group_path, name, flow_dtype="float16")
    return ZarrPairSource(flow_set_path(video_group_path, name), memory_budget_bytes // STREAM_CACHE_FRACTION)


class ZarrPairSource:
    """A finished flow set read from its zarr group pair by pair, as model fitting asks for pairs.

    Pairs, counts and the trusted pixels per pair (one pass over the masks when opened) stay in memory. The
    flow and mask of a pair are read on first use and kept in a least-recently-used cache of at most
    ``cache_bytes`` (always at least one pair). Values equal :func:`read_flow_set`'s (float16 flow returned
    as float32), so a sampler draws the same batches from this as from the set in memory.

    Attributes:
        path: the flow set group.
        capacity: pairs the cache holds.
        disk_reads: pairs read from disk so far; cache_hits: pairs served from the cache so far.
    """

    def __init__(self, path: Path, cache_bytes: int) -> None:
        group = _check_complete(Path(path))
        self.path = Path(path)
        self._flow = group[FLOW_ARRAY]
        self._mask = group[MASK_ARRAY]
        self._pairs = group[PAIRS_ARRAY][:].astype(np.int64)
        self._counts = group[COUNTS_ARRAY][:]
        num_pairs = len(self._pairs)
        self._trusted = np.concatenate([
            self._mask[start : start + _COUNT_BATCH].reshape(min(_COUNT_BATCH, num_pairs - start), -1).sum(axis=1)
            for start in range(0, num_pairs, _COUNT_BATCH)
        ]).astype(np.int64)
        height, width = self.size
        self.capacity = max(1, cache_bytes // (height * width * (2 * STORED_FLOW_ITEMSIZE + 1)))
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.disk_reads = 0
        self.cache_hits = 0

    @property
    def pairs(self) -> np.ndarray:
        """int64 [P, 2], (i, j) frame indices of each pair."""
        return self._pairs

    @property
    def counts(self) -> np.ndarray:
        """int32 [T, H, W], trusted correspondences of each pixel over all its pairs."""
        return self._counts

    @property
    def num_frames(self) -> int:
        """T, the number of frames of the video."""
        return int(self._counts.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return int(self._counts.shape[1]), int(self._counts.shape[2])

    def trusted_per_pair(self) -> np.ndarray:
        """int64 [P], trusted correspondences of each pair."""
        return self._trusted

    def _entries(self, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(float16 flow [H, W, 2], bool mask [H, W]) of each distinct row of ``rows``, from cache or disk."""
        entries = []
        for row in rows.tolist():
            entry = self._cache.get(row)
            if entry is None:
                entry = (self._flow[row], self._mask[row])
                self._cache[row] = entry
                self.disk_reads += 1
            else:
                self._cache.move_to_end(row)
                self.cache_hits += 1
            entries.append(entry)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return entries

    def read_masks(self, rows: np.ndarray) -> np.ndarray:
        """bool [K, H, W], the masks of pairs ``rows`` (int [K], repeats allowed)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        entries = self._entries(unique)
        return np.stack([entries[index][1] for index in inverse.tolist()])

    def read_flow(self, rows: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """float32 [K, N, 2], the flow of pair ``rows[k]`` at pixels (``xs[k, n]``, ``ys[k, n]``)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        entries = self._entries(unique)
        flow = np.empty((*ys.shape, 2), dtype=np.float32)
        for k, index in enumerate(inverse.tolist()):
            flow[k] = entries[index][0][ys[k], xs[k]]
        return flow


def _open_finished(video_group_path: Path, name: str) -> zarr.Group:
    """The group of the finished flow set ``name``; InputError naming the sets there are when it is absent."""
    path = flow_set_path(video_group_path, name)
    if not path.exists():
        raise InputError(f"{path}: no flow set {name!r}; available: {list_flow_sets(video_group_path)}")
    return _check_complete(path)


def read_flow_set_params(video_group_path: Path, name: str) -> dict:
    """The parameters stored with the finished flow set ``name``."""
    return dict(_check_complete(flow_set_path(video_group_path, name)).attrs["params"])


def list_flow_sets(video_group_path: Path) -> list[str]:
    """Sorted names of the finished flow sets of a video group (partial or unfinished ones left out)."""
    folder = flow_sets_dir(video_group_path)
    if not folder.is_dir():
        return []
    names = []
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or layout.PARTIAL_MARKER in path.name:
            continue
        try:
            _check_complete(path)
        except IncompleteStoreError:
            continue
        names.append(path.name)
    return names


def fittable_flow_sets(video_group_path: Path) -> list[str]:
    """Finished flow sets a fit would use: all of them but the direct sets a chained set was derived from
    (a chained set's parameters are its direct set's plus ``chaining``)."""
    names = list_flow_sets(video_group_path)
    parents = set()
    for name in names:
        params = read_flow_set_params(video_group_path, name)
        if "chaining" in params:
            parents.add(flow_set_name({key: value for key, value in params.items() if key != "chaining"}))
    return [name for name in names if name not in parents]
