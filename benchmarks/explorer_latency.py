"""Click latency of the track explorer (`omnimotion view`): a 48-frame 256x256 video, one click = one HTTP
request ``/api/track`` answered by a fitted-size model queried live, timed end to end from the client.

    .venv/bin/python benchmarks/explorer_latency.py [--clicks 50] [--presets fast fast-volume] [--threads N]

The model's weights do not change its cost, so each preset's model is freshly initialised (seed 0) rather than
fitted. Also timed: the page's first requests (metadata, the 48 frames as PNG) and a pseudo-depth map computed
live (a fit exported by `omnimotion process` / `fit` stores them, and the page reads those instead).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request

import numpy as np
import torch

from flows.explorer.server import ServerConfig, server_url, start_server
from flows.explorer.session import ExplorerContent, ExplorerSession, ModelTracks
from omnimotion_core.model import PRESETS, build_model

NUM_FRAMES, SIZE = 48, (256, 256)


def _get_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        assert response.status == 200
    return 1000.0 * (time.perf_counter() - started)


def measure(preset: str, clicks: int) -> str:
    config = PRESETS[preset]
    model = build_model(config, NUM_FRAMES, torch.Generator().manual_seed(0)).eval()
    frames = np.random.default_rng(0).integers(0, 256, (NUM_FRAMES, *SIZE, 3), dtype=np.uint8)
    content = ExplorerContent(
        title="latency", frames=frames, fps=10.0,
        sources=[ModelTracks("model", preset, model, NUM_FRAMES, SIZE)], depth=None, read_mask=None,
        ground_truth=None, metrics=[], runs=[], origin="benchmarks/explorer_latency.py",
    )
    started = time.perf_counter()
    session = ExplorerSession(content)
    startup_s = time.perf_counter() - started
    server = start_server(session, ServerConfig())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = server_url(server)
    try:
        page_ms = _get_ms(url + "api/meta") + sum(_get_ms(url + f"api/frame?frame={t}") for t in range(NUM_FRAMES))
        rng = np.random.default_rng(1)
        _get_ms(url + "api/track?frame=0&x=0&y=0")
        times = [
            _get_ms(url + f"api/track?frame={rng.integers(NUM_FRAMES)}&x={rng.uniform(0, SIZE[1] - 1):.2f}"
                    f"&y={rng.uniform(0, SIZE[0] - 1):.2f}")
            for _ in range(clicks)
        ]
        depth_ms = _get_ms(url + "api/depth?frame=5")
    finally:
        server.shutdown()
        server.server_close()
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return (f"| {preset} | {statistics.median(times):.0f} | {p95:.0f} | {times[-1]:.0f} | {page_ms:.0f} | "
            f"{startup_s:.1f} | {depth_ms:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--presets", nargs="+", default=["fast", "fast-volume"], choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"{NUM_FRAMES} frames {SIZE[1]}x{SIZE[0]}, {args.clicks} clicks, torch threads {torch.get_num_threads()}")
    print("| preset | click median ms | p95 ms | max ms | page load ms (meta + 48 PNG frames) | session start s "
          "(PNG-encode frames) | live depth map ms |")
    print("|---|---|---|---|---|---|---|")
    for preset in args.presets:
        print(measure(preset, args.clicks), flush=True)


if __name__ == "__main__":
    main()
