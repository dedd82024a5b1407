"""Read RAFT weights (torchvision's published checkpoints) from a local file; nothing is ever downloaded.

torchvision publishes its RAFT weights as plain state dicts, e.g. ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``
and ``raft_small_C_T_V2-01064c6d.pth`` under https://download.pytorch.org/models/. The file is read with
``torch.load(..., weights_only=True)``, which refuses pickled code. Checking that the tensors belong to a
RAFT of the right variant is :func:`omnimotion_core.flow.raft.load_raft_state_dict`'s job.
"""

from __future__ import annotations

from pathlib import Path

import torch

from storage.errors import InputError

_DOWNLOAD_HINT = (
    "download torchvision's raft_large_C_T_SKHT_V2-ff5fadd5.pth (or raft_small_C_T_V2-01064c6d.pth) from "
    "https://download.pytorch.org/models/ once and pass its path via the flow config's raft_weights"
)


def read_raft_weights(path: Path) -> dict[str, torch.Tensor]:
    """Load a RAFT state dict from ``path`` onto the CPU.

    A checkpoint that is exactly ``{"state_dict": {...}}`` (one key, as some training scripts save) is
    unwrapped; any other nesting is refused.

    Args:
        path: a ``.pth`` file saved with ``torch.save(model.state_dict(), path)``.

    Returns:
        parameter / buffer name -> CPU tensor, in the file's order.

    Raises:
        InputError: the path does not exist or is not a file, the file is not a torch checkpoint that
            ``weights_only=True`` can read (e.g. a whole pickled model), or it does not hold a dict of
            tensors keyed by name.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"RAFT weights not found at {path}; {_DOWNLOAD_HINT}")
    if not path.is_file():
        raise InputError(f"RAFT weights path {path} is not a file; {_DOWNLOAD_HINT}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises KeyError, EOFError, UnpicklingError, RuntimeError, ...
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise InputError(
            f"RAFT weights {path} is not a torch checkpoint readable with weights_only=True "
            f"({type(error).__name__}: {first_line}); expected a state dict saved with "
            "torch.save(model.state_dict(), path), such as torchvision's raft_*.pth"
        ) from error
    nested = isinstance(checkpoint, dict) and list(checkpoint) == ["state_dict"]
    if nested and isinstance(checkpoint["state_dict"], dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise InputError(
            f"RAFT weights {path} must hold a state dict (name -> tensor), got {type(checkpoint).__name__}"
        )
    if not checkpoint:
        raise InputError(f"RAFT weights {path} hold an empty state dict")
    for key, value in checkpoint.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InputError(
                f"RAFT weights {path} must map names to tensors, got {type(key).__name__} {key!r} -> "
                f"{type(value).__name__} (a nested checkpoint other than {{'state_dict': ...}} is not unwrapped)"
            )
    return dict(checkpoint)
