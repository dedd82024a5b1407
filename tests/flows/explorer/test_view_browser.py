"""The explorer in a real headless browser (Debian's chromium driven by Playwright): the track drawn for a click
is the API's track of that pixel, and an occluded frame is drawn hollow and dashed.

The browser is the ``browser`` fixture of ``tests/flows/conftest.py`` (skipped without chromium, except on CI).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.explorer.conftest import HAND_START, HIDDEN_FRAME, NUM_FRAMES, SIZE
from tests.flows.explorer.test_view_cli import STOP_SECONDS, start_view


@pytest.fixture(scope="module")
def served(fitted_video: Path) -> Iterator[str]:
    process, url = start_view(str(fitted_video))
    yield url
    process.terminate()
    process.communicate(timeout=STOP_SECONDS)
    assert process.returncode == 0


def _api_track(url: str, method: str, frame: int, x: float, y: float) -> dict:
    with urllib.request.urlopen(f"{url}api/track?method={method}&frame={frame}&x={x}&y={y}", timeout=30) as response:
        return json.loads(response.read())


def _drawn_points(page: object, query: int) -> list[dict]:
    """The circles drawn for query ``query``: their data attributes and computed style."""
    return page.eval_on_selector_all(f'g.track[data-query="{query}"] circle.point', """circles => circles.map(c => ({
        t: Number(c.dataset.t), x: Number(c.dataset.x), y: Number(c.dataset.y),
        cx: Number(c.getAttribute("cx")), cy: Number(c.getAttribute("cy")),
        occluded: c.dataset.occluded === "true", fill: getComputedStyle(c).fill,
        dash: getComputedStyle(c).strokeDasharray}))""")


def _click_pixel(page: object, x: float, y: float) -> None:
    """Click the centre of pixel (x, y) of the displayed frame."""
    box = page.locator("#tracks").bounding_box()
    page.locator("#tracks").click(position={"x": (x + 0.5) / SIZE[1] * box["width"],
                                            "y": (y + 0.5) / SIZE[0] * box["height"]})


def test_a_click_draws_the_apis_track_with_occluded_frames_hollow_and_dashed(browser: object, served: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served)
    page.wait_for_function("window.explorer && window.explorer.ready", timeout=30_000)
    methods = page.eval_on_selector_all("#method option", "options => options.map(o => o.value)")
    assert methods[0].startswith("fit:")

    page.locator("#slider").fill("2")
    _click_pixel(page, 12, 7)
    page.wait_for_function("window.explorer.queries.length === 1", timeout=30_000)
    clicked = page.evaluate("window.explorer.queries[0].answer")
    near = pytest.approx(12, abs=0.05), pytest.approx(7, abs=0.05)
    assert (clicked["frame"], clicked["x"], clicked["y"]) == (2, *near)
    expected = _api_track(served, methods[0], 2, clicked["x"], clicked["y"])["points"]
    drawn = _drawn_points(page, 0)
    assert [(p["t"], p["x"], p["y"], p["occluded"]) for p in drawn] == [
        (p["t"], p["x"], p["y"], p["occluded"]) for p in expected]
    assert all((p["cx"], p["cy"]) == (p["x"], p["y"]) for p in drawn)
    assert len(drawn) == NUM_FRAMES

    hand = next(method for method in methods if method.startswith("stored:hand-"))
    page.select_option("#method", hand)
    page.locator("#slider").fill("0")
    _click_pixel(page, float(HAND_START[0]), float(HAND_START[1]))
    page.wait_for_function("window.explorer.queries.length === 2", timeout=30_000)
    expected = _api_track(served, hand, 0, float(HAND_START[0]), float(HAND_START[1]))["points"]
    drawn = _drawn_points(page, 1)
    assert [(p["t"], p["x"], p["y"], p["occluded"]) for p in drawn] == [
        (p["t"], p["x"], p["y"], p["occluded"]) for p in expected]
    assert [p["occluded"] for p in drawn] == [t == HIDDEN_FRAME for t in range(NUM_FRAMES)]
    hidden, shown = drawn[HIDDEN_FRAME], drawn[0]
    assert hidden["fill"] == "none" and hidden["dash"] not in ("none", "")
    assert shown["fill"] != "none" and shown["dash"] == "none"
    segments = page.eval_on_selector_all('g.track[data-query="1"] line.segment', """lines => lines.map(l => ({
        occluded: l.classList.contains("occluded"), dash: getComputedStyle(l).strokeDasharray}))""")
    assert [s["occluded"] for s in segments] == [t in (HIDDEN_FRAME - 1, HIDDEN_FRAME) for t in range(NUM_FRAMES - 1)]
    assert all((s["dash"] != "none") == s["occluded"] for s in segments)
    assert errors == []


def test_a_refused_query_shows_its_reason_on_the_page(browser: object, served: str) -> None:
    page = browser.new_page()
    page.goto(served)
    page.wait_for_function("window.explorer && window.explorer.ready", timeout=30_000)
    page.evaluate("query(0, 40, 3)")
    page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=30_000)
    status = page.locator("#status").text_content()
    assert "pixel (x=40.0, y=3.0) is outside the frame" in status
    assert page.evaluate("window.explorer.queries.length") == 0
    for toggle in ("#show-depth", "#show-mask", "#show-truth"):
        page.check(toggle)
    page.wait_for_function("document.getElementById('depth').src.startsWith('blob:')", timeout=30_000)
    page.wait_for_function("document.getElementById('mask').src.startsWith('blob:')", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#truth-layer rect').length > 0", timeout=30_000)
