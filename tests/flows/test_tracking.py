"""What goes to MLflow: no secrets, the code version."""

from __future__ import annotations

from tasks.tracking import code_version, without_secrets


def test_secret_looking_keys_are_dropped_and_others_kept() -> None:
    params = {
        "model.width": 128,
        "HF_TOKEN": "x",
        "aws_secret_access_key": "x",
        "db.password": "x",
        "apiKey": "x",
        "monkey_count": 3,
        "keyframe_interval": 8,
        "query_mode": "first",
    }
    assert without_secrets(params) == {"model.width": 128, "monkey_count": 3, "keyframe_interval": 8, "query_mode": "first"}


def test_code_version_names_the_commit_and_packages() -> None:
    version = code_version()
    assert len(version["code.git_sha"].removesuffix("-dirty")) in (40, len("unknown"))
    assert version["package.numpy"][0].isdigit()
