"""Pieces of :class:`segfw.models.backbones.resnet.ResNet`: stems, block geometry, strip pooling in blocks."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn
from torchvision.models import resnet as tv_resnet

from segfw.models.blocks.strip_pooling import StripPooling

Block = tv_resnet.BasicBlock | tv_resnet.Bottleneck


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def build_stem(kind: str, net: tv_resnet.ResNet) -> tuple[nn.Sequential, int]:
    """The stem (B, 3, H, W) → (B, C, H/4, W/4) and its width C.

    - ``torchvision``: ``[conv7×7/2 (64), BN, ReLU, maxpool]`` (the modules of ``net``);
    - ``v1c`` (mmseg ResNetV1c): ``[3×3/2 (32), BN, ReLU, 3×3 (32), BN, ReLU, 3×3 (64), BN, ReLU, maxpool]``;
    - ``deep`` (SPNet / PyTorch-Encoding deep base): the same with widths 64-64-128.

    One flat ``nn.Sequential`` each, so parameter names match mmseg's (``stem.0``, ``stem.1``, ``stem.3``, …).
    """
    if kind == "torchvision":
        return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool), 64
    widths = {"v1c": (32, 32, 64), "deep": (64, 64, 128)}[kind]
    layers, previous = [], 3
    for i, width in enumerate(widths):
        layers += _conv_bn_relu(previous, width, stride=2 if i == 0 else 1)
        previous = width
    return nn.Sequential(*layers, nn.MaxPool2d(3, 2, 1)), widths[-1]


def widen_first_block(stage: nn.Sequential, in_channels: int) -> None:
    """Make the first block of ``stage`` take ``in_channels`` (a stem wider than 64), in place."""
    block = stage[0]
    if block.conv1.in_channels == in_channels:
        return
    old = block.conv1
    block.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    out_channels = block.bn3.num_features if isinstance(block, tv_resnet.Bottleneck) else block.bn2.num_features
    block.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


def set_block_geometry(block: Block, stride: int, dilation: int) -> None:
    """Set the stride and dilation of a residual block in place (torchvision's "pytorch" style).

    The stride sits on the 3×3 conv of a Bottleneck (conv2) and on conv1 of a BasicBlock, and on
    the downsample conv. A Bottleneck dilates conv2; a BasicBlock dilates conv1 only (mmseg's
    BasicBlock: its conv2 stays 3×3 with dilation 1).
    """
    conv = block.conv2 if isinstance(block, tv_resnet.Bottleneck) else block.conv1
    conv.stride, conv.dilation, conv.padding = (stride, stride), (dilation, dilation), (dilation, dilation)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)
    block.stride = stride


def spnet_init(module: nn.Module) -> None:
    """Initialise as SPNet's ResNet does: conv weights ~ N(0, 2 / (k_h·k_w·C_out)), BN γ=1, β=0.

    Conv biases keep PyTorch's default initialisation (SPNet leaves them too).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def add_strip_pooling(block: Block) -> None:
    """Gate the input of the block's last conv with a strip pooling module, in place.

    As in the official SPNet Bottleneck, ``h = h · SPM-gate(h)`` just before the final conv (conv3
    of a Bottleneck, conv2 of a BasicBlock), i.e. after the 3×3 conv, inside the residual branch.
    The conv becomes ``<conv>.conv`` and the module ``<conv>.spm``, initialised by
    :func:`spnet_init`. Applied after pretrained weights are loaded; the SPMs start from scratch.
    Idempotent.
    """
    name = "conv3" if isinstance(block, tv_resnet.Bottleneck) else "conv2"
    conv = getattr(block, name)
    if isinstance(conv, nn.Sequential):
        return
    spm = StripPooling(conv.in_channels)
    spnet_init(spm)
    setattr(block, name, nn.Sequential(OrderedDict(spm=spm, conv=conv)))
