"""The explorer's HTTP server (standard library only): the page's static files and the JSON API.

Routes (GET):

- ``/``, ``/static/<file>``: the page (HTML, JS, CSS shipped with the package);
- ``/api/meta``: the video's shape, the methods, which overlays exist, metrics and run rows;
- ``/api/track?frame=&x=&y=[&method=]``: the track of pixel (x, y) of ``frame`` (x, y in pixels, pixel
  centres at integers) through every frame: ``points`` = [{t, x, y, occluded}];
- ``/api/frame?frame=``, ``/api/depth?frame=``, ``/api/mask?frame=``: PNGs of a frame, its pseudo-depth
  (blue near, red far) and the consistency mask of the pair (frame, frame + 1);
- ``/api/ground_truth``: every ground-truth track (404 when the video has none).

Bad input is a 4xx with ``{"error": reason}``; an unexpected failure is a 500 with its reason, and the
server goes on serving.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import FrameType
from urllib.parse import parse_qs, urlsplit

from flows.explorer.session import ExplorerError, ExplorerSession
from flows.processes import STOP_SIGNALS

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class ServerConfig:
    """Where the explorer listens.

    Attributes:
        host: bind address; loopback by default (the page has no authentication).
        port: TCP port; 0 picks a free one.
    """

    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must lie in 0..65535 (0: a free one), got {self.port}")


def static_file(name: str) -> tuple[bytes, str]:
    """Bytes and content type of a shipped static file; a 404 for any other name."""
    suffix = name[name.rfind("."):] if "." in name else ""
    folder = resources.files("flows.explorer") / "static"
    if "/" in name or suffix not in STATIC_TYPES or not (folder / name).is_file():
        raise ExplorerError(404, f"no static file {name!r}")
    return (folder / name).read_bytes(), STATIC_TYPES[suffix]


def _int_param(query: dict[str, list[str]], name: str) -> int:
    text = _param(query, name)
    try:
        return int(text)
    except ValueError:
        raise ExplorerError(400, f"parameter {name!r} must be an integer, got {text!r}") from None


def _float_param(query: dict[str, list[str]], name: str) -> float:
    text = _param(query, name)
    try:
        value = float(text)
    except ValueError:
        raise ExplorerError(400, f"parameter {name!r} must be a number (pixels), got {text!r}") from None
    if not math.isfinite(value):
        raise ExplorerError(400, f"parameter {name!r} must be a finite number, got {text!r}")
    return value


def _param(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise ExplorerError(400, f"missing parameter {name!r}")
    return values[0]


def make_handler(session: ExplorerSession) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering from ``session``."""

    def route(path: str, query: dict[str, list[str]]) -> tuple[bytes, str]:
        if path in ("/", "/index.html"):
            return static_file("index.html")
        if path.startswith("/static/"):
            return static_file(path.removeprefix("/static/"))
        if path == "/api/meta":
            return _json(session.meta())
        if path == "/api/track":
            method = query.get("method", [None])[0]
            frame, x, y = _int_param(query, "frame"), _float_param(query, "x"), _float_param(query, "y")
            return _json(session.track(method, frame, x, y))
        if path == "/api/ground_truth":
            return _json(session.ground_truth())
        images = {"/api/frame": session.frame_png, "/api/depth": session.depth_png, "/api/mask": session.mask_png}
        if path in images:
            return images[path](_int_param(query, "frame")), "image/png"
        raise ExplorerError(404, f"no such page or API route: {path}")

    class Handler(BaseHTTPRequestHandler):
        server_version = "omnimotion-view"

        def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
            url = urlsplit(self.path)
            try:
                body, content_type = route(url.path, parse_qs(url.query))
                status = HTTPStatus.OK
            except ExplorerError as error:
                status, (body, content_type) = HTTPStatus(error.status), _json({"error": error.reason})
            except Exception as error:  # the server must outlive any one request
                reason = f"{type(error).__name__}: {error}"
                print(f"omnimotion view: {url.path}: {reason}", file=sys.stderr, flush=True)
                status, (body, content_type) = HTTPStatus.INTERNAL_SERVER_ERROR, _json({"error": reason})
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            """Quiet: one line per request would drown the URL the user needs."""

    return Handler


def _json(value: object) -> tuple[bytes, str]:
    return json.dumps(_json_ready(value), allow_nan=False).encode("utf-8"), "application/json"


def _json_ready(value: object) -> object:
    """``value`` with NaN and infinities as null (JSON has neither; a TC without visible triplets is NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


class ExplorerServer(ThreadingHTTPServer):
    """A threading HTTP server whose request threads never block shutdown."""

    daemon_threads = True
    allow_reuse_address = True


def start_server(session: ExplorerSession, config: ServerConfig) -> ExplorerServer:
    """Bind the server (not yet serving); its URL is ``server_url(server)``."""
    return ExplorerServer((config.host, config.port), make_handler(session))


def server_url(server: ExplorerServer) -> str:
    """``http://host:port/`` of a bound server."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


class _Stop(Exception):
    """Raised in the main thread by SIGTERM or SIGINT to leave ``serve_forever``."""


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`_Stop` in the main thread. SIGINT is set explicitly: a process started in
    the background by a non-interactive shell inherits SIGINT ignored, and would otherwise not stop on it."""

    def handle(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous: dict[int, Callable | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_until_stopped(server: ExplorerServer, announce: Callable[[], None]) -> None:
    """Call ``announce`` (e.g. print the URL) once Ctrl-C (SIGINT) and SIGTERM stop the server cleanly, then
    serve until either comes, and close the socket."""
    try:
        with _stop_on_signals():
            announce()
            server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        server.server_close()
