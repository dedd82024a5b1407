"""RAFT optical flow (Teed and Deng, ECCV 2020) in plain torch, laid out like torchvision's models.

The modules below name their parameters and buffers exactly as torchvision's ``raft_large`` and
``raft_small`` do, so torchvision's published checkpoints (``raft_large_C_T_SKHT_V2-ff5fadd5.pth``,
``raft_small_C_T_V2-01064c6d.pth``, ...) load with ``strict=True`` and torchvision is not needed. It cannot
be used here: the torchvision that matches torch 2.13.0 (0.28.0) is a CUDA build on PyPI, and beside the CPU
torch wheel ``import torchvision`` fails ("operator torchvision::nms does not exist": its ``_C.so`` links
``libtorch_cuda.so`` and ``libc10_cuda.so``, which the CPU wheel lacks).
Reading the file is :mod:`storage.raft_weights`' job; this module takes the state dict.

Flow maps frame i to frame j: ``flow[y, x] = (dx, dy)`` in pixels, so pixel (x, y) of frame i lands on
(x + dx, y + dy) in frame j. Frames are normalised as torchvision's ``OpticalFlow`` transform does
(uint8 -> [0, 1] -> [-1, 1]) and padded by edge replication, split evenly between the two sides as the
original RAFT's ``InputPadder`` (``"sintel"`` mode, used by OmniMotion's preprocessing) does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

RaftVariant = Literal["large", "small"]
EncoderBlock = Literal["residual", "bottleneck"]
EncoderNorm = Literal["instance", "batch", "none"]

DOWNSAMPLE = 8
"""RAFT predicts flow at 1/8 of the (padded) input resolution."""
CORR_LEVELS = 4
"""Levels of the correlation pyramid (both variants)."""
MIN_PADDED_SIDE = DOWNSAMPLE * 2**CORR_LEVELS
"""128: the coarsest pyramid level must be at least 2 x 2 cells, so smaller frames are padded up to this."""


@dataclass(frozen=True)
class RaftArchitecture:
    """Layer widths of one RAFT variant, as torchvision's ``raft_large`` / ``raft_small`` set them."""

    encoder_block: EncoderBlock
    feature_widths: tuple[int, int, int, int, int]
    """Stem, layer1, layer2, layer3 and output channels of the feature encoder (strides 2, 1, 2, 2)."""
    context_widths: tuple[int, int, int, int, int]
    """The same for the context encoder; its output is split into hidden state and context."""
    context_norm: EncoderNorm
    corr_radius: int
    """Correlation lookup radius in cells of each pyramid level (infinity norm)."""
    motion_corr_widths: tuple[int, ...]
    """One or two convolutions on the correlation features."""
    motion_flow_widths: tuple[int, int]
    motion_out_channels: int
    hidden_size: int
    gru: Literal["separable", "square"]
    """``"separable"``: a 1x5 then a 5x1 conv GRU; ``"square"``: one 3x3 conv GRU."""
    flow_head_hidden: int
    convex_upsampling: bool
    """Learned convex-combination upsampling (mask predictor) instead of bilinear."""


ARCHITECTURES: dict[str, RaftArchitecture] = {
    "large": RaftArchitecture(
        encoder_block="residual",
        feature_widths=(64, 64, 96, 128, 256),
        context_widths=(64, 64, 96, 128, 256),
        context_norm="batch",
        corr_radius=4,
        motion_corr_widths=(256, 192),
        motion_flow_widths=(128, 64),
        motion_out_channels=128,
        hidden_size=128,
        gru="separable",
        flow_head_hidden=256,
        convex_upsampling=True,
    ),
    "small": RaftArchitecture(
        encoder_block="bottleneck",
        feature_widths=(32, 32, 64, 96, 128),
        context_widths=(32, 32, 64, 96, 160),
        context_norm="none",
        corr_radius=3,
        motion_corr_widths=(96,),
        motion_flow_widths=(64, 32),
        motion_out_channels=82,
        hidden_size=96,
        gru="square",
        flow_head_hidden=128,
        convex_upsampling=False,
    ),
}


def _conv_block(
    in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, norm: EncoderNorm, relu: bool
) -> nn.Sequential:
    """Conv (with bias, 'same' padding) -> optional norm -> optional ReLU, indexed 0, 1, 2 like torchvision's
    ``Conv2dNormActivation``; instance norm has no affine parameters or running statistics."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2)
    ]
    if norm == "instance":
        layers.append(nn.InstanceNorm2d(out_channels))
    elif norm == "batch":
        layers.append(nn.BatchNorm2d(out_channels))
    elif norm == "none":
        pass
    else:
        raise ValueError(f"norm must be 'instance', 'batch' or 'none', got {norm!r}")
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 conv-norm-ReLU layers plus a (projected when strided) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, norm: EncoderNorm) -> None:
        super().__init__()
        self.convnormrelu1 = _conv_block(in_channels, out_channels, 3, stride=stride, norm=norm, relu=True)
        self.convnormrelu2 = _conv_block(out_channels, out_channels, 3, norm=norm, relu=True)
        self.downsample: nn.Module = (
            nn.Identity()
            if stride == 1
            else _conv_block(in_channels, out_channels, 1, stride=stride, norm=norm, relu=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H / stride, W / stride]."""
        return F.relu(self.downsample(x) + self.convnormrelu2(self.convnormrelu1(x)))


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 conv-norm-ReLU layers at a quarter of the width, plus a shortcut."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, norm: EncoderNorm) -> None:
        super().__init__()
        inner = out_channels // 4
        self.convnormrelu1 = _conv_block(in_channels, inner, 1, norm=norm, relu=True)
        self.convnormrelu2 = _conv_block(inner, inner, 3, stride=stride, norm=norm, relu=True)
        self.convnormrelu3 = _conv_block(inner, out_channels, 1, norm=norm, relu=True)
        self.downsample: nn.Module = (
            nn.Identity()
            if stride == 1
            else _conv_block(in_channels, out_channels, 1, stride=stride, norm=norm, relu=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H / stride, W / stride]."""
        y = self.convnormrelu3(self.convnormrelu2(self.convnormrelu1(x)))
        return F.relu(self.downsample(x) + y)


class FeatureEncoder(nn.Module):
    """7x7 stem (stride 2), three stages of two blocks (strides 1, 2, 2) and a 1x1 output conv: 1/8 resolution."""

    def __init__(self, widths: tuple[int, int, int, int, int], *, block: EncoderBlock, norm: EncoderNorm) -> None:
        super().__init__()
        self.convnormrelu = _conv_block(3, widths[0], 7, stride=2, norm=norm, relu=True)
        self.layer1 = self._stage(widths[0], widths[1], stride=1, block=block, norm=norm)
        self.layer2 = self._stage(widths[1], widths[2], stride=2, block=block, norm=norm)
        self.layer3 = self._stage(widths[2], widths[3], stride=2, block=block, norm=norm)
        self.conv = nn.Conv2d(widths[3], widths[4], kernel_size=1)

    @staticmethod
    def _stage(
        in_channels: int, out_channels: int, *, stride: int, block: EncoderBlock, norm: EncoderNorm
    ) -> nn.Sequential:
        if block == "residual":
            block_type: type[ResidualBlock | BottleneckBlock] = ResidualBlock
        elif block == "bottleneck":
            block_type = BottleneckBlock
        else:
            raise ValueError(f"encoder block must be 'residual' or 'bottleneck', got {block!r}")
        return nn.Sequential(
            block_type(in_channels, out_channels, stride=stride, norm=norm),
            block_type(out_channels, out_channels, stride=1, norm=norm),
        )

    def forward(self, images: Tensor) -> Tensor:
        """images: [B, 3, H, W] in [-1, 1] -> features [B, C, H / 8, W / 8]."""
        x = self.convnormrelu(images)
        return self.conv(self.layer3(self.layer2(self.layer1(x))))


class MotionEncoder(nn.Module):
    """Encodes the current flow and its correlation features; the flow itself is appended to the output."""

    def __init__(
        self,
        *,
        corr_channels: int,
        corr_widths: tuple[int, ...],
        flow_widths: tuple[int, int],
        out_channels: int,
    ) -> None:
        super().__init__()
        if len(corr_widths) not in (1, 2):
            raise ValueError(f"motion encoder takes 1 or 2 correlation widths, got {corr_widths}")
        self.convcorr1 = _conv_block(corr_channels, corr_widths[0], 1, norm="none", relu=True)
        self.convcorr2: nn.Module = (
            _conv_block(corr_widths[0], corr_widths[1], 3, norm="none", relu=True)
            if len(corr_widths) == 2
            else nn.Identity()
        )
        self.convflow1 = _conv_block(2, flow_widths[0], 7, norm="none", relu=True)
        self.convflow2 = _conv_block(flow_widths[0], flow_widths[1], 3, norm="none", relu=True)
        self.conv = _conv_block(corr_widths[-1] + flow_widths[-1], out_channels - 2, 3, norm="none", relu=True)

    def forward(self, flow: Tensor, corr_features: Tensor) -> Tensor:
        """flow: [B, 2, h, w] (dx, dy) cells; corr_features: [B, K, h, w] -> [B, out_channels, h, w]."""
        corr = self.convcorr2(self.convcorr1(corr_features))
        motion = self.convflow2(self.convflow1(flow))
        return torch.cat([self.conv(torch.cat([corr, motion], dim=1)), flow], dim=1)


class ConvGRU(nn.Module):
    """Convolutional GRU cell: update gate z, reset gate r, candidate q."""

    def __init__(
        self, *, input_size: int, hidden_size: int, kernel_size: tuple[int, int], padding: tuple[int, int]
    ) -> None:
        super().__init__()
        channels = hidden_size + input_size
        self.convz = nn.Conv2d(channels, hidden_size, kernel_size, padding=padding)
        self.convr = nn.Conv2d(channels, hidden_size, kernel_size, padding=padding)
        self.convq = nn.Conv2d(channels, hidden_size, kernel_size, padding=padding)

    def forward(self, hidden: Tensor, x: Tensor) -> Tensor:
        """hidden: [B, hidden_size, h, w], x: [B, input_size, h, w] -> new hidden [B, hidden_size, h, w]."""
        hx = torch.cat([hidden, x], dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat([r * hidden, x], dim=1)))
        return (1 - z) * hidden + z * q


class RecurrentBlock(nn.Module):
    """One square conv GRU (small) or a horizontal then a vertical separable conv GRU (large)."""

    def __init__(self, *, input_size: int, hidden_size: int, gru: Literal["separable", "square"]) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        if gru == "separable":
            self.convgru1 = ConvGRU(input_size=input_size, hidden_size=hidden_size, kernel_size=(1, 5), padding=(0, 2))
            self.convgru2: ConvGRU | None = ConvGRU(
                input_size=input_size, hidden_size=hidden_size, kernel_size=(5, 1), padding=(2, 0)
            )
        elif gru == "square":
            self.convgru1 = ConvGRU(input_size=input_size, hidden_size=hidden_size, kernel_size=(3, 3), padding=(1, 1))
            self.convgru2 = None
        else:
            raise ValueError(f"gru must be 'separable' or 'square', got {gru!r}")

    def forward(self, hidden: Tensor, x: Tensor) -> Tensor:
        """hidden: [B, hidden_size, h, w], x: [B, input_size, h, w] -> new hidden [B, hidden_size, h, w]."""
        hidden = self.convgru1(hidden, x)
        if self.convgru2 is not None:
            hidden = self.convgru2(hidden, x)
        return hidden


class FlowHead(nn.Module):
    """Two 3x3 convs mapping the hidden state to a flow update."""

    def __init__(self, *, in_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden_size, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_size, 2, 3, padding=1)

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden: [B, C, h, w] -> flow update [B, 2, h, w] (dx, dy) in 1/8-resolution cells."""
        return self.conv2(F.relu(self.conv1(hidden)))


class UpdateBlock(nn.Module):
    """Motion encoder -> recurrent block -> flow head: one refinement step."""

    def __init__(self, arch: RaftArchitecture) -> None:
        super().__init__()
        corr_channels = CORR_LEVELS * (2 * arch.corr_radius + 1) ** 2
        context_channels = arch.context_widths[-1] - arch.hidden_size
        self.motion_encoder = MotionEncoder(
            corr_channels=corr_channels,
            corr_widths=arch.motion_corr_widths,
            flow_widths=arch.motion_flow_widths,
            out_channels=arch.motion_out_channels,
        )
        self.recurrent_block = RecurrentBlock(
            input_size=arch.motion_out_channels + context_channels, hidden_size=arch.hidden_size, gru=arch.gru
        )
        self.flow_head = FlowHead(in_channels=arch.hidden_size, hidden_size=arch.flow_head_hidden)

    def forward(self, hidden: Tensor, context: Tensor, corr_features: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the new hidden state [B, C_h, h, w] and the flow update [B, 2, h, w] (dx, dy) cells."""
        motion = self.motion_encoder(flow, corr_features)
        hidden = self.recurrent_block(hidden, torch.cat([context, motion], dim=1))
        return hidden, self.flow_head(hidden)


class MaskPredictor(nn.Module):
    """Predicts the convex upsampling weights (9 neighbours x 8 x 8 sub-pixels) from the hidden state."""

    def __init__(self, *, in_channels: int, hidden_size: int = 256) -> None:
        super().__init__()
        self.convrelu = _conv_block(in_channels, hidden_size, 3, norm="none", relu=True)
        self.conv = nn.Conv2d(hidden_size, 9 * DOWNSAMPLE * DOWNSAMPLE, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden: [B, C, h, w] -> mask logits [B, 576, h, w], scaled by 0.25 as in RAFT and torchvision."""
        return 0.25 * self.conv(self.convrelu(hidden))


def make_coords_grid(batch_size: int, height: int, width: int, device: torch.device) -> Tensor:
    """float32 [B, 2, H, W]: channel 0 is x (column), channel 1 is y (row), in cells."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=0)[None].expand(batch_size, 2, height, width)


def build_corr_pyramid(fmap_1: Tensor, fmap_2: Tensor, num_levels: int = CORR_LEVELS) -> list[Tensor]:
    """All-pairs correlation volume and its average-pooled coarser levels.

    Args:
        fmap_1: [B, C, h, w] features of frame i.
        fmap_2: [B, C, h, w] features of frame j.
        num_levels: pyramid levels; level l has the last two sides pooled by 2**l.

    Returns:
        ``num_levels`` tensors [B * h * w, 1, h / 2**l, w / 2**l]: entry (b*h*w + y*w + x) of level 0 holds
        ``<fmap_1[b, :, y, x], fmap_2[b, :, y', x']> / sqrt(C)`` at (y', x').
    """
    if fmap_1.shape != fmap_2.shape or fmap_1.ndim != 4:
        raise ValueError(f"feature maps must both be [B, C, h, w], got {tuple(fmap_1.shape)} and {tuple(fmap_2.shape)}")
    batch, channels, height, width = fmap_1.shape
    corr = torch.matmul(fmap_1.flatten(2).transpose(1, 2), fmap_2.flatten(2)) / channels**0.5
    level = corr.reshape(batch * height * width, 1, height, width)
    pyramid = [level]
    for _ in range(num_levels - 1):
        level = F.avg_pool2d(level, kernel_size=2, stride=2)
        pyramid.append(level)
    return pyramid


def lookup_corr_pyramid(pyramid: Sequence[Tensor], coords_1: Tensor, radius: int) -> Tensor:
    """Bilinearly sample each pyramid level in a (2r+1)^2 window around the current match.

    Args:
        pyramid: output of :func:`build_corr_pyramid`.
        coords_1: [B, 2, h, w] (x, y) position in frame j's cells of each cell of frame i.
        radius: window half-side r in cells of each level; outside the volume reads 0.

    Returns:
        [B, L * (2r+1)^2, h, w]. Within a level, channel ``a * (2r+1) + b`` holds the offset
        (dx, dy) = (a - r, b - r): the x offset varies slowest, as in RAFT and torchvision.
    """
    batch, _, height, width = coords_1.shape
    offsets = torch.arange(-radius, radius + 1, device=coords_1.device, dtype=coords_1.dtype)
    dx, dy = torch.meshgrid(offsets, offsets, indexing="ij")
    window = torch.stack([dx, dy], dim=-1)[None]  # [1, 2r+1, 2r+1, 2] (x, y)
    centres = coords_1.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
    features = []
    for level_index, level in enumerate(pyramid):
        points = centres / 2**level_index + window
        level_height, level_width = level.shape[-2:]
        scale = torch.tensor(
            [2.0 / (level_width - 1), 2.0 / (level_height - 1)], device=points.device, dtype=points.dtype
        )
        sampled = F.grid_sample(level, points * scale - 1, mode="bilinear", align_corners=True)
        features.append(sampled.reshape(batch, height, width, -1))
    return torch.cat(features, dim=-1).permute(0, 3, 1, 2).contiguous()


def upsample_flow(flow: Tensor, mask_logits: Tensor | None = None) -> Tensor:
    """Flow at 1/8 resolution to full resolution, in full-resolution pixels.

    Args:
        flow: [B, 2, h, w] (dx, dy) in 1/8-resolution cells.
        mask_logits: [B, 576, h, w] logits of the convex weights (9 neighbours x 8 x 8 sub-pixels), or
            ``None`` for bilinear interpolation (``align_corners=True``, as RAFT-small does).

    Returns:
        [B, 2, 8h, 8w] (dx, dy) pixels. With a mask, each full-resolution pixel is a convex combination of
        the 3x3 coarse neighbours of its cell (softmax over the 9 weights).
    """
    batch, _, height, width = flow.shape
    if mask_logits is None:
        return DOWNSAMPLE * F.interpolate(
            flow, size=(DOWNSAMPLE * height, DOWNSAMPLE * width), mode="bilinear", align_corners=True
        )
    weights = torch.softmax(mask_logits.reshape(batch, 1, 9, DOWNSAMPLE, DOWNSAMPLE, height, width), dim=2)
    neighbours = F.unfold(DOWNSAMPLE * flow, kernel_size=3, padding=1).reshape(batch, 2, 9, 1, 1, height, width)
    fine = (weights * neighbours).sum(dim=2)  # [B, 2, 8 (sub-row), 8 (sub-col), h, w]
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(batch, 2, DOWNSAMPLE * height, DOWNSAMPLE * width)


class Raft(nn.Module):
    """RAFT with torchvision's module names: ``feature_encoder``, ``context_encoder``, ``update_block`` and,
    for the large variant, ``mask_predictor``. The correlation block has no parameters."""

    def __init__(self, variant: RaftVariant) -> None:
        super().__init__()
        if variant not in ARCHITECTURES:
            raise ValueError(f"RAFT variant must be one of {sorted(ARCHITECTURES)}, got {variant!r}")
        arch = ARCHITECTURES[variant]
        self.variant: RaftVariant = variant
        self.arch = arch
        self.feature_encoder = FeatureEncoder(arch.feature_widths, block=arch.encoder_block, norm="instance")
        self.context_encoder = FeatureEncoder(arch.context_widths, block=arch.encoder_block, norm=arch.context_norm)
        self.update_block = UpdateBlock(arch)
        self.mask_predictor = MaskPredictor(in_channels=arch.hidden_size) if arch.convex_upsampling else None

    def forward(self, images_i: Tensor, images_j: Tensor, num_iterations: int) -> Tensor:
        """Flow after ``num_iterations`` refinement steps.

        Args:
            images_i: [B, 3, H, W] RGB in [-1, 1]; H and W multiples of 8 and at least 128.
            images_j: [B, 3, H, W] RGB in [-1, 1].
            num_iterations: recurrent refinement steps (>= 1).

        Returns:
            [B, 2, H, W] (dx, dy) pixels from frame i to frame j (torchvision's last prediction).
        """
        batch, _, height, width = images_i.shape
        if images_j.shape != images_i.shape:
            raise ValueError(
                f"images must have the same shape, got {tuple(images_i.shape)} and {tuple(images_j.shape)}"
            )
        if height % DOWNSAMPLE or width % DOWNSAMPLE or min(height, width) < MIN_PADDED_SIDE:
            raise ValueError(
                f"RAFT input H and W must be multiples of {DOWNSAMPLE} and >= {MIN_PADDED_SIDE}, got {height} x {width}"
            )
        if num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
        fmap_i, fmap_j = self.feature_encoder(torch.cat([images_i, images_j], dim=0)).chunk(2, dim=0)
        pyramid = build_corr_pyramid(fmap_i, fmap_j)
        hidden, context = self.context_encoder(images_i).split(
            [self.arch.hidden_size, self.arch.context_widths[-1] - self.arch.hidden_size], dim=1
        )
        hidden = torch.tanh(hidden)
        context = F.relu(context)
        coords_0 = make_coords_grid(batch, height // DOWNSAMPLE, width // DOWNSAMPLE, fmap_i.device)
        coords_1 = coords_0.clone()
        for _ in range(num_iterations):
            corr_features = lookup_corr_pyramid(pyramid, coords_1, self.arch.corr_radius)
            hidden, delta = self.update_block(hidden, context, corr_features, coords_1 - coords_0)
            coords_1 = coords_1 + delta
        mask_logits = None if self.mask_predictor is None else self.mask_predictor(hidden)
        return upsample_flow(coords_1 - coords_0, mask_logits)


def build_raft(variant: RaftVariant) -> Raft:
    """A randomly initialised RAFT of that variant on the CPU, in eval mode (load weights next)."""
    return Raft(variant).eval()


@functools.cache
def _expected_shapes(variant: RaftVariant) -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape of that variant (built on the meta device, so no memory is used)."""
    with torch.device("meta"):
        model = Raft(variant)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@dataclass(frozen=True)
class _KeyDiff:
    missing: list[str]
    unexpected: list[str]
    wrong_shape: list[str]

    @property
    def size(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.wrong_shape)

    def describe(self, examples: int = 3) -> str:
        parts = []
        labelled = (("missing", self.missing), ("unexpected", self.unexpected), ("wrong shape", self.wrong_shape))
        for label, keys in labelled:
            if keys:
                more = f", ... ({len(keys) - examples} more)" if len(keys) > examples else ""
                parts.append(f"{len(keys)} {label} ({', '.join(keys[:examples])}{more})")
        return "; ".join(parts)


def _diff_keys(state_dict: Mapping[str, Tensor], variant: RaftVariant) -> _KeyDiff:
    expected = _expected_shapes(variant)
    wrong_shape = [
        f"{key}: expected {expected[key]}, got {tuple(value.shape)}"
        for key, value in state_dict.items()
        if key in expected and tuple(value.shape) != expected[key]
    ]
    return _KeyDiff(
        missing=[key for key in expected if key not in state_dict],
        unexpected=[key for key in state_dict if key not in expected],
        wrong_shape=wrong_shape,
    )


def _check_tensors(state_dict: Mapping[str, Tensor]) -> None:
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise ValueError(f"state dict entry {key!r} must be a torch.Tensor, got {type(value).__name__}")


def raft_variant_of(state_dict: Mapping[str, Tensor]) -> RaftVariant:
    """Which torchvision RAFT (``"large"`` or ``"small"``) a state dict belongs to: its keys and shapes must
    match that variant exactly.

    Raises:
        ValueError: it matches neither; the message lists missing, unexpected and mis-shaped keys against the
            closer variant.
    """
    _check_tensors(state_dict)
    diffs = {variant: _diff_keys(state_dict, variant) for variant in ("large", "small")}
    for variant, diff in diffs.items():
        if diff.size == 0:
            return variant
    closest = min(diffs, key=lambda variant: diffs[variant].size)
    raise ValueError(
        f"state dict is not a torchvision RAFT checkpoint ({len(state_dict)} entries); against raft_{closest}: "
        f"{diffs[closest].describe()}. Use torchvision's raft_large_*.pth / raft_small_*.pth; the original "
        "princeton-vl checkpoints (raft-things.pth, ...) name their layers differently"
    )


def load_raft_state_dict(model: Raft, state_dict: Mapping[str, Tensor]) -> None:
    """Load torchvision RAFT weights into ``model`` (strict: every key and shape must match its variant).

    Raises:
        ValueError: the state dict is of the other variant or not a RAFT checkpoint; the message names the
            variants and lists missing / unexpected / mis-shaped keys.
    """
    _check_tensors(state_dict)
    diff = _diff_keys(state_dict, model.variant)
    if diff.size:
        other: RaftVariant = "small" if model.variant == "large" else "large"
        if _diff_keys(state_dict, other).size == 0:
            raise ValueError(
                f"state dict is a raft_{other} checkpoint but the model is raft_{model.variant} "
                f"(set the RAFT variant to {other!r}); against raft_{model.variant}: {diff.describe()}"
            )
        raise ValueError(
            f"state dict is not a torchvision raft_{model.variant} checkpoint ({len(state_dict)} entries): "
            f"{diff.describe()}"
        )
    model.load_state_dict(dict(state_dict), strict=True)


def _centred_padding(size: int) -> tuple[int, int]:
    """(before, after) replicated pixels taking ``size`` to a multiple of 8 that is at least 128."""
    padded = max(-(-size // DOWNSAMPLE) * DOWNSAMPLE, MIN_PADDED_SIDE)
    extra = padded - size
    return extra // 2, extra - extra // 2


def _check_frames(frames: np.ndarray, name: str) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"{name} must be a uint8 [B, H, W, 3] RGB array, got {got}")
    if frames.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one frame, got shape {frames.shape}")


def compute_raft_flow(
    model: Raft,
    frames_i: np.ndarray,
    frames_j: np.ndarray,
    num_iterations: int,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Dense RAFT flow from each frame of ``frames_i`` to the frame of ``frames_j`` at the same batch index.

    Runs on the model's device under ``torch.inference_mode``. Frames of any size are padded (edge
    replication, centred) to multiples of 8, and to at least 128 x 128, and the flow is cropped back.

    Args:
        model: a RAFT from :func:`build_raft` in eval mode, weights loaded, on the device to use.
        frames_i: uint8 [B, H, W, 3] RGB source frames.
        frames_j: uint8 [B, H, W, 3] RGB target frames.
        num_iterations: recurrent refinement steps (OmniMotion uses 20).
        pairs: B (i, j) frame indices, only used to name the pair in error messages.

    Returns:
        float32 [B, H, W, 2], (dx, dy) pixels: pixel (x, y) of frames_i[b] lands on (x + dx, y + dy) in
        frames_j[b].

    Raises:
        ValueError: frames are not uint8 [B, H, W, 3] or differ in shape, the model is in training mode,
            num_iterations < 1, or the flow holds NaN or infinite values (naming the batch items).
    """
    _check_frames(frames_i, "frames_i")
    _check_frames(frames_j, "frames_j")
    if frames_i.shape != frames_j.shape:
        raise ValueError(f"frames_i and frames_j must have the same shape, got {frames_i.shape} and {frames_j.shape}")
    batch, height, width, _ = frames_i.shape
    if pairs is not None and len(pairs) != batch:
        raise ValueError(f"pairs must name one (i, j) per batch item: expected {batch}, got {len(pairs)}")
    if num_iterations < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    if model.training:
        raise ValueError("RAFT model is in training mode (batch norm would use batch statistics); call model.eval()")
    parameter = next(model.parameters())
    top, bottom = _centred_padding(height)
    left, right = _centred_padding(width)

    def prepare(frames: np.ndarray) -> Tensor:
        images = torch.from_numpy(np.ascontiguousarray(frames)).to(parameter.device).permute(0, 3, 1, 2)
        images = (images.to(parameter.dtype) / 255.0 - 0.5) / 0.5
        return F.pad(images, (left, right, top, bottom), mode="replicate")

    with torch.inference_mode():
        flow = model(prepare(frames_i), prepare(frames_j), num_iterations)
        flow = flow[:, :, top : top + height, left : left + width]
        finite = torch.isfinite(flow).flatten(1).all(dim=1).cpu().numpy()
        flow_hwc = flow.permute(0, 2, 3, 1).float().cpu().numpy()
    if not finite.all():
        bad = np.flatnonzero(~finite).tolist()
        named = [pairs[index] for index in bad] if pairs is not None else bad
        label = "pairs (i, j)" if pairs is not None else "batch items"
        raise ValueError(f"RAFT gave NaN or infinite flow for {label} {named} of a batch of {batch}")
    return np.ascontiguousarray(flow_hwc, dtype=np.float32)
