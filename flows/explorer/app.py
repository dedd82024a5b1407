"""The body of ``omnimotion view``: load the target, bind the server, print the URL, serve until stopped."""

from __future__ import annotations

from pathlib import Path

from flows.explorer.loading import LoadConfig, load_mlflow_run, load_target
from flows.explorer.server import ServerConfig, serve_until_stopped, server_url, start_server
from flows.explorer.session import ExplorerSession
from storage.errors import InputError
from storage.view_target import open_view_target


def run_view(
    target: Path | None, video: str | None, mlflow_run: str | None, tracking_uri: str, data_root: Path,
    load: LoadConfig, server: ServerConfig,
) -> int:
    """Serve the explorer on ``target`` (a video group or results folder) or on the MLflow run ``mlflow_run``
    (its video group found under ``data_root``) until Ctrl-C or SIGTERM; return the exit status."""
    if (target is None) == (mlflow_run is None):
        raise InputError("omnimotion view takes a TARGET (video group or results folder) or --mlflow-run RUN_ID")
    if mlflow_run is not None:
        content = load_mlflow_run(tracking_uri, mlflow_run, data_root, load)
    else:
        content = load_target(open_view_target(Path(target), video), load)
    session = ExplorerSession(content)
    bound = start_server(session, server)
    methods = ", ".join(source.label for source in content.sources)
    print(f"omnimotion view: {content.title} ({session.num_frames} frames, {session.width}x{session.height}); "
          f"methods: {methods}", flush=True)
    serve_until_stopped(bound, lambda: print(f"omnimotion view: serving on {server_url(bound)} (Ctrl-C stops it)",
                                              flush=True))
    print("omnimotion view: stopped", flush=True)
    return 0
