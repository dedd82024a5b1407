"""The explorer's JSON API over HTTP (no browser): answers equal the model's and the stores', bad input is a 4xx
with a reason, and a failing request never stops the server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from flows.explorer.loading import LoadConfig, load_target
from flows.explorer.server import ExplorerServer, ServerConfig, server_url, start_server
from flows.explorer.session import ExplorerContent, ExplorerSession, TrackAnswer
from omnimotion_core.model import track
from storage.view_target import open_view_target
from tests.flows.explorer.conftest import HAND_START, HIDDEN_FRAME, NUM_FRAMES, SIZE


@pytest.fixture(scope="module")
def content(fitted_video: Path) -> ExplorerContent:
    return load_target(open_view_target(fitted_video), LoadConfig())


@pytest.fixture(scope="module")
def url(content: ExplorerContent) -> Iterator[str]:
    server = start_server(ExplorerSession(content), ServerConfig())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_url(server)
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]


def _json(url: str) -> tuple[int, dict]:
    status, body, content_type = _get(url)
    assert content_type == "application/json"
    return status, json.loads(body)


def _methods(url: str) -> dict[str, str]:
    """kind-and-name prefix (``fit:omnimotion``, ``stored:hand``, ``stored:oracle``) -> method key."""
    keys = [method["key"] for method in _json(url + "api/meta")[1]["methods"]]
    return {key.rsplit("-", 2 if key.startswith("fit:") else 1)[0]: key for key in keys}


def test_meta_lists_the_fitted_model_first_then_the_stored_methods(url: str) -> None:
    status, meta = _json(url + "api/meta")
    assert status == 200
    assert (meta["num_frames"], meta["height"], meta["width"]) == (NUM_FRAMES, *SIZE)
    assert [method["kind"] for method in meta["methods"]] == ["model", "stored", "stored"]
    assert meta["methods"][0]["key"].startswith("fit:omnimotion-fast-")
    assert meta["has_depth"] and meta["has_mask"] and meta["has_ground_truth"]


def test_a_click_answers_the_fitted_models_track_of_that_pixel(url: str, content: ExplorerContent) -> None:
    status, answer = _json(url + "api/track?frame=2&x=12.5&y=7")
    assert status == 200 and answer["method"].startswith("fit:")
    model = content.sources[0].model
    tracks, occluded = track(model, torch.tensor([[2.0, 7.0, 12.5]]), NUM_FRAMES, SIZE)
    assert [point["t"] for point in answer["points"]] == list(range(NUM_FRAMES))
    np.testing.assert_array_equal([[p["x"], p["y"]] for p in answer["points"]], tracks[0].numpy())
    assert [p["occluded"] for p in answer["points"]] == occluded[0].tolist()
    assert answer["points"][2] == {"t": 2, "x": 12.5, "y": 7.0, "occluded": False}


def test_a_click_on_stored_tracks_picks_the_nearest_and_keeps_its_occlusion(url: str) -> None:
    hand = _methods(url)["stored:hand"]
    status, answer = _json(url + f"api/track?method={hand}&frame=1&x=9.4&y=10.4")
    assert status == 200
    assert answer["picked"] == 0 and answer["distance"] == pytest.approx(np.hypot(0.4, 0.1))
    assert answer["query"] == {"t": 0.0, "y": float(HAND_START[1]), "x": float(HAND_START[0])}
    assert [p["occluded"] for p in answer["points"]] == [t == HIDDEN_FRAME for t in range(NUM_FRAMES)]
    assert "ground_truth" not in answer


def test_stored_tracks_of_the_ground_truths_queries_come_with_its_track_and_scores(url: str) -> None:
    oracle = _methods(url)["stored:oracle"]
    _, truth = _json(url + "api/ground_truth")
    _, answer = _json(url + f"api/track?method={oracle}&frame=0&x=3&y=3")
    assert answer["ground_truth"] == answer["points"] == truth["tracks"][answer["picked"]]
    _, meta = _json(url + "api/meta")
    scores = {row["method"]: row for row in meta["metrics"]}
    assert scores[oracle.removeprefix("stored:")]["AJ"] == pytest.approx(100.0)


@pytest.mark.parametrize(("query", "reason"), [
    ("frame=8&x=1&y=1", "frame 8 is out of range: the video has frames 0..7"),
    ("frame=-1&x=1&y=1", "frame -1 is out of range"),
    ("frame=0&x=32&y=1", "pixel (x=32.0, y=1.0) is outside the frame"),
    ("frame=0&x=1&y=-0.6", "is outside the frame"),
    ("frame=0&x=nan&y=1", "parameter 'x' must be a finite number"),
    ("frame=one&x=1&y=1", "parameter 'frame' must be an integer, got 'one'"),
    ("frame=0&y=1", "missing parameter 'x'"),
    ("frame=0&x=1&y=1&method=sift", "unknown method 'sift'; methods: fit:omnimotion-fast-"),
])
def test_bad_clicks_are_a_400_with_the_reason(url: str, query: str, reason: str) -> None:
    status, answer = _json(url + "api/track?" + query)
    assert status == 400
    assert reason in answer["error"]


def test_images_are_pngs_of_the_frame_size_and_unknown_routes_are_404(url: str) -> None:
    for route, channels in (("frame", 3), ("depth", 3), ("mask", 4)):
        status, body, content_type = _get(url + f"api/{route}?frame={NUM_FRAMES - 1}")
        assert status == 200 and content_type == "image/png"
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED).shape == (*SIZE, channels)
    assert _json(url + "api/depth?frame=8")[0] == 400
    assert _json(url + "api/tracks")[0] == 404
    assert _json(url + "static/../server.py")[0] == 404
    status, body, content_type = _get(url)
    assert status == 200 and content_type.startswith("text/html") and b"explorer.js" in body


class _FailingSource:
    key, label, kind = "broken", "broken", "model"

    def track(self, frame: int, x: float, y: float) -> TrackAnswer:
        raise RuntimeError("the model fell over")


def test_a_failing_method_is_a_500_with_its_reason_and_the_server_goes_on(content: ExplorerContent) -> None:
    broken = ExplorerContent(**{**content.__dict__, "sources": [_FailingSource(), *content.sources]})
    server: ExplorerServer = start_server(ExplorerSession(broken), ServerConfig())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, answer = _json(server_url(server) + "api/track?frame=0&x=1&y=1")
        assert status == 500 and answer["error"] == "RuntimeError: the model fell over"
        assert _json(server_url(server) + "api/meta")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
