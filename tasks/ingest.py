"""Prefect task: ingest one video source into its zarr group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from storage import layout
from storage.video_sources import open_video_source
from storage.video_store import IngestConfig, ingest
from tasks.caching import StoreCachePolicy
from tasks.retry import is_transient_failure


def ingest_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """The store's ingest key (the source's byte hash + the ingest config) and the group it goes to."""
    info = open_video_source(Path(inputs["source"]), inputs["tapvid_name"]).info
    return {
        "source_hash": info.source_hash,
        "ingest_config": inputs["config"].to_attrs(),
        "group": str(layout.video_path(Path(inputs["data_root"]), inputs["video_id"]).resolve()),
    }


def _ingest_video(
    source: str, video_id: str, data_root: str, config: IngestConfig, tapvid_name: str | None = None
) -> str:
    """Ingest ``source`` (a video file, an image folder, or one video of a TAP-Vid pickle) and return the
    path of its video group. Idempotent: an already ingested source is not decoded again."""
    logger = get_run_logger()
    written = 0

    def report(count: int) -> None:
        nonlocal written
        written += count
        logger.info("%s: %d frames written", video_id, written)

    path = ingest(open_video_source(Path(source), tapvid_name), Path(data_root), video_id, config, report)
    return str(path)


ingest_video = task(
    _ingest_video, name="ingest_video", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=StoreCachePolicy(identity=ingest_identity),
)
