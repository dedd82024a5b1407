"""Store keys and paths of the on-disk layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage import layout
from storage.errors import InputError


@pytest.mark.parametrize("name", ["bear", "car-turn", "synth_000", "clip.v2"])
def test_clean_names_are_kept(name: str) -> None:
    assert layout.video_id_from_name(name) == name


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a b", "ünïcode", ".hidden", "x" * 500, "C:\\v"])
def test_hostile_names_become_safe_keys(name: str, tmp_path: Path) -> None:
    key = layout.video_id_from_name(name)
    assert "/" not in key and "\\" not in key and not key.startswith(".")
    assert len(key) <= 120
    assert layout.video_id_from_name(key) == key
    assert layout.video_path(tmp_path, key).parent == tmp_path / "videos"


def test_distinct_names_stay_distinct() -> None:
    assert layout.video_id_from_name("a b") != layout.video_id_from_name("a_b")
    assert layout.video_id_from_name("x" * 300) != layout.video_id_from_name("x" * 301)


@pytest.mark.parametrize("name", ["", "...", "///"])
def test_names_without_usable_characters_are_rejected(name: str) -> None:
    with pytest.raises(InputError, match="no usable characters"):
        layout.video_id_from_name(name)


@pytest.mark.parametrize("name", ["视频", "видео"])
def test_names_in_scripts_without_an_ascii_form_get_a_hashed_key(name: str) -> None:
    key = layout.video_id_from_name(name)
    assert re.fullmatch(r"video-[0-9a-f]{8}", key) and layout.video_id_from_name(key) == key
    assert key != layout.video_id_from_name(name + "2")


def test_video_path_refuses_unsanitised_ids(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a valid video id"):
        layout.video_path(tmp_path, "../escape")
