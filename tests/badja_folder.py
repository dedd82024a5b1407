"""A tiny BADJA folder made by the tests themselves (never the shared data set).

Sequence ``dog``: 6 JPEG frames of 64 x 36 pixels (16:9, like DAVIS, so one source pixel is 30 of the
1920 x 1080 pixels the labels are given in), labelled at frames 1, 3 and 5 only, 5 joints:

- joint 0: visible at 1, 3, 5 at source (x, y) = (10, 8), (12, 8), (14, 8): it moves 2 px per label;
- joint 1: hidden at 1, visible at 3 and 5 at (30, 20): queried at frame 3;
- joint 2: never labelled visible (as BADJA's 17 unlabelled SMAL joints): no query;
- joint 3: visible at 1, 3, 5 at (50, 30), static;
- joint 4: visible at 1 (40, 10), hidden at 3 and 5.

Masks at 480p-style paths for frames 1 and 3 only: a 10 x 10 square (area 100 source px, PCK-T threshold
2 source px). Sequence ``cat`` has the same frames and labels and no masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

SIZE = (36, 64)
"""(height, width) of the frames."""
LABELLED = (1, 3, 5)
SOURCE_XY = {
    0: [(10, 8), (12, 8), (14, 8)],
    1: [(30, 20), (30, 20), (30, 20)],
    2: [(0, 0), (0, 0), (0, 0)],
    3: [(50, 30), (50, 30), (50, 30)],
    4: [(40, 10), (40, 10), (40, 10)],
}
VISIBLE = {0: [1, 1, 1], 1: [0, 1, 1], 2: [0, 0, 0], 3: [1, 1, 1], 4: [1, 0, 0]}
MASK_AREA = 100


def frames() -> np.ndarray:
    """uint8 [6, 36, 64, 3] RGB: a smooth gradient with a bright square moving right 2 px per frame."""
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    video = []
    for t in range(6):
        frame = np.stack([xs * 3, ys * 5, (xs + ys) * 2], axis=-1).astype(np.uint8)
        frame[8:14, 10 + t : 16 + t] = 255
        video.append(frame)
    return np.stack(video)


def entries(num_joints: int = 5) -> list[dict[str, object]]:
    """The json entries (joints as [row, col] at 1920 x 1080: 30 x the source pixels)."""
    result = []
    for label, frame in enumerate(LABELLED):
        joints = [[SOURCE_XY[j][label][1] * 30, SOURCE_XY[j][label][0] * 30] for j in range(num_joints)]
        result.append({
            "image_path": f"DAVIS/JPEGImages/Full-Resolution/dog/{frame:05d}.jpg",
            "segmentation_path": f"DAVIS/Annotations/Full-Resolution/dog/{frame:05d}.png",
            "joints": joints,
            "visibility": [bool(VISIBLE[j][label]) for j in range(num_joints)],
        })
    return result


def write_badja_folder(root: Path, sequences: tuple[str, ...] = ("dog",)) -> Path:
    """Write the folder at ``root`` (``dog`` with masks; any other name without) and return ``root``."""
    for name in sequences:
        (root / "joint_annotations").mkdir(parents=True, exist_ok=True)
        (root / "joint_annotations" / f"{name}.json").write_text(json.dumps(entries()), encoding="utf-8")
        frames_dir = root / "DAVIS" / "JPEGImages" / "480p" / name
        frames_dir.mkdir(parents=True)
        for index, frame in enumerate(frames()):
            cv2.imwrite(str(frames_dir / f"{index:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if name == "dog":
            masks_dir = root / "DAVIS" / "Annotations" / "480p" / name
            masks_dir.mkdir(parents=True)
            for frame in LABELLED[:2]:
                mask = np.zeros(SIZE, dtype=np.uint8)
                mask[20:30, 40:50] = 255
                cv2.imwrite(str(masks_dir / f"{frame:05d}.png"), mask)
    return root
