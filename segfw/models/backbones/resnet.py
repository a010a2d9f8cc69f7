"""ResNets as dilated backbones returning c2..c5: torchvision's, mmseg's ResNetV1c and SPNet's deep base."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet

from segfw.models.backbones.resnet_blocks import add_strip_pooling, build_stem, set_block_geometry, widen_first_block
from segfw.models.feature_spec import FeatureSpec
from segfw.models.state_dict import load_checked, strip_prefixes
from segfw.errors import ConfigError
from segfw.registry import BACKBONES

_DEPTHS = {18: "resnet18", 34: "resnet34", 50: "resnet50", 101: "resnet101"}
_WEIGHT_ENUMS = {
    18: tv_resnet.ResNet18_Weights,
    34: tv_resnet.ResNet34_Weights,
    50: tv_resnet.ResNet50_Weights,
    101: tv_resnet.ResNet101_Weights,
}
# (stride, dilation) of layer1..layer4 per output stride.
_GEOMETRY = {
    32: ((1, 1), (2, 1), (2, 1), (2, 1)),
    16: ((1, 1), (2, 1), (2, 1), (1, 2)),
    8: ((1, 1), (2, 1), (1, 2), (1, 4)),
}
_LEVELS = ("c2", "c3", "c4", "c5")
_OPEN_MMLAB = "open-mmlab://"
_OPEN_MMLAB_URLS = {  # the ImageNet ResNetV1c weights mmseg's configs start from
    f"{_OPEN_MMLAB}resnet{depth}_v1c": f"https://download.openmmlab.com/pretrain/third_party/resnet{depth}_v1c-{digest}.pth"
    for depth, digest in ((18, "b5776b93"), (50, "2cccc1ad"), (101, "e67eebb6"))
}
# Names the stem's parameters have in other codebases' ResNets -> ours.
_STEM_ALIASES = {
    "torchvision": {"conv1.": "stem.0.", "bn1.": "stem.1."},
    "deep": {f"conv1.{i}.": f"stem.{i}." for i in (0, 1, 3, 4, 6)} | {"bn1.": "stem.7."},
    "v1c": {},
}


def block_dilations(dilation: int, num_blocks: int, contract_dilation: bool, multi_grid: Sequence[int] | None) -> list[int]:
    """Dilation of every block of a stage, as mmseg's ``ResLayer`` assigns it.

    ``multi_grid`` (absolute rates, one per block) wins; else the first block gets ``dilation // 2``
    when ``contract_dilation`` and ``dilation > 1`` (torchvision's ``replace_stride_with_dilation``
    does the same), the others ``dilation``.
    """
    if multi_grid is not None:
        if len(multi_grid) != num_blocks:
            raise ConfigError(
                f"model.backbone.multi_grid needs one dilation per block of the last stage ({num_blocks}), got {list(multi_grid)}"
            )
        return [int(d) for d in multi_grid]
    first = dilation // 2 if contract_dilation and dilation > 1 else dilation
    return [first] + [dilation] * (num_blocks - 1)


class ResNet(nn.Module):
    """ResNet-18/34/50/101 feature extractor.

    ``forward(x: (B, 3, H, W)) -> {"c2": (B, C2, H/4, W/4), ..., "c5": (B, C5, H/os, W/os)}``.

    - ``output_stride`` (8, 16 or 32) replaces the strides of the last stages with dilation.
    - ``stem``: ``torchvision`` (7×7 conv, 64), ``v1c`` (mmseg ResNetV1c: three 3×3 convs 32-32-64)
      or ``deep`` (SPNet / PyTorch-Encoding deep base: 64-64-128, so layer1 takes 128 channels).
    - ``contract_dilation``: the first block of a dilated stage uses half the stage's dilation
      (mmseg's ``contract_dilation``; torchvision does the same). ``multi_grid``: absolute dilations
      of the blocks of the last stage (SPNet: ``[4, 8, 16]``).
    - BasicBlocks (ResNet-18/34) dilate their first 3×3 conv only, as mmseg does.
    - ``pretrained``: None, a torchvision weight name (``"IMAGENET1K_V1"``, torchvision stem only),
      ``"open-mmlab://resnet50_v1c"`` (and 18/101; the weights mmseg's configs start from, v1c stem) or a local ``.pt``/``.pth`` state dict in torchvision, mmseg or SPNet naming (``module.`` and
      ``backbone.`` prefixes are stripped); a mismatch is one error line naming the keys.
    - ``strip_pooling_stages`` / ``strip_pooling_last_blocks``: levels (``"c2"``..``"c5"``) whose every
      residual block / whose last residual block gets a strip pooling module (see
      :func:`add_strip_pooling`). SPNet (Hou et al., CVPR 2020) uses ``["c5"]`` / ``["c2", "c3", "c4"]``.
    """

    def __init__(
        self,
        depth: int = 50,
        output_stride: int = 8,
        pretrained: str | None = None,
        strip_pooling_stages: Sequence[str] = (),
        strip_pooling_last_blocks: Sequence[str] = (),
        stem: str = "torchvision",
        contract_dilation: bool = True,
        multi_grid: Sequence[int] | None = None,
    ):
        super().__init__()
        if depth not in _DEPTHS:
            raise ConfigError(f"ResNet depth {depth} is not supported; choose one of {sorted(_DEPTHS)}")
        if output_stride not in _GEOMETRY:
            raise ConfigError(f"output_stride={output_stride} is not supported; choose 8, 16 or 32")
        if stem not in _STEM_ALIASES:
            raise ConfigError(f"model.backbone.stem={stem!r} is not supported; choose one of {', '.join(_STEM_ALIASES)}")
        self.stem_type = stem
        net = getattr(tv_resnet, _DEPTHS[depth])(weights=None)
        self.stem, stem_channels = build_stem(stem, net)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        widen_first_block(self.layer1, stem_channels)
        stages = (self.layer1, self.layer2, self.layer3, self.layer4)
        for i, (stage, (stride, dilation)) in enumerate(zip(stages, _GEOMETRY[output_stride])):
            grid = multi_grid if i == len(stages) - 1 else None
            for index, (block, d) in enumerate(zip(stage, block_dilations(dilation, len(stage), contract_dilation, grid))):
                set_block_geometry(block, stride if index == 0 else 1, d)
        if pretrained:
            load_checked(self, pretrained_state(depth, pretrained, stem), f"model.backbone.pretrained={pretrained}")
        levels = dict(zip(_LEVELS, stages))
        for level in _check_levels(strip_pooling_stages, "strip_pooling_stages"):
            for block in levels[level]:
                add_strip_pooling(block)
        for level in _check_levels(strip_pooling_last_blocks, "strip_pooling_last_blocks"):
            add_strip_pooling(levels[level][-1])
        width = 1 if depth < 50 else 4
        strides, total = [], 4
        for stride, _ in _GEOMETRY[output_stride]:
            total *= stride
            strides.append(total)
        self.out_specs = {level: FeatureSpec(64 * 2**i * width, strides[i]) for i, level in enumerate(_LEVELS)}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return {"c2": c2, "c3": c3, "c4": c4, "c5": c5}


def _check_levels(levels: Sequence[str], key: str) -> list[str]:
    if isinstance(levels, str):
        raise ConfigError(f"model.backbone.{key} must be a list of levels, e.g. [{levels}], not the string {levels!r}")
    unknown = [level for level in levels if level not in _LEVELS]
    if unknown:
        raise ConfigError(f"model.backbone.{key} has unknown level {unknown[0]!r}; use a list of {', '.join(_LEVELS)}")
    return list(levels)


def backbone_state(state: Mapping[str, Tensor], stem: str) -> dict[str, Tensor]:
    """A ResNet state dict in torchvision / mmseg / SPNet naming, renamed to ours.

    Strips ``module.`` / ``backbone.`` prefixes, renames the stem (``conv1``/``bn1`` of torchvision,
    ``conv1.N``/``bn1`` of SPNet's deep base) and drops the classifier ``fc.*``.
    """
    out = {}
    for key, value in strip_prefixes(state).items():
        if key.startswith("fc."):
            continue
        for old, new in _STEM_ALIASES[stem].items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def pretrained_state(depth: int, pretrained: str, stem: str = "torchvision") -> dict[str, Tensor]:
    """Backbone weights from a torchvision weight name or a local file, renamed by :func:`backbone_state`."""
    path = Path(pretrained).expanduser()
    if path.suffix in {".pt", ".pth"} or path.exists():
        if not path.is_file():
            raise ConfigError(f"pretrained weights file '{path}' does not exist; give an existing file or null")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling errors have many types
            raise ConfigError(f"pretrained weights file '{path}' is not a PyTorch state dict ({type(error).__name__})") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        return backbone_state(state, stem)
    if pretrained.startswith(_OPEN_MMLAB):
        if stem != "v1c" or pretrained not in _OPEN_MMLAB_URLS:
            names = ", ".join(sorted(_OPEN_MMLAB_URLS))
            raise ConfigError(f"'{pretrained}' is not a known ResNetV1c weight (stem=v1c); choose {names}, a local file, or null")
        url = _OPEN_MMLAB_URLS[pretrained]
        return backbone_state(_download(url, lambda: torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, weights_only=True)), stem)
    if stem != "torchvision":
        raise ConfigError(
            f"torchvision weights '{pretrained}' fit the torchvision stem only; for stem={stem} give a local file "
            "(e.g. SPNet's deep-base resnet50-25c4b509.pth), open-mmlab://resnet50_v1c (stem=v1c), or null"
        )
    enum = _WEIGHT_ENUMS[depth]
    try:
        weights = enum[pretrained]
    except KeyError:
        names = ", ".join(w.name for w in enum)
        raise ConfigError(f"unknown weights '{pretrained}' for resnet{depth}; choose {names}, a local file, or null") from None
    return backbone_state(_download(weights.url, lambda: weights.get_state_dict(progress=False, check_hash=True)), stem)


def _download(url: str, load) -> dict[str, Tensor]:
    """``load()``, or one clear line saying where to put the file when the machine is offline."""
    try:
        return load()
    except Exception as error:  # urllib/socket errors differ across platforms
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
        raise ConfigError(
            f"cannot download {url} ({type(error).__name__}). Either put the file at {cache} "
            f"(the torch hub cache), or set model.backbone.pretrained=/path/to/{Path(url).name} "
            "(or null to train from scratch)"
        ) from None


def _register(depth: int) -> None:
    def build(
        output_stride: int = 8,
        pretrained: str | None = None,
        strip_pooling_stages: Sequence[str] = (),
        strip_pooling_last_blocks: Sequence[str] = (),
        stem: str = "torchvision",
        contract_dilation: bool = True,
        multi_grid: Sequence[int] | None = None,
    ) -> ResNet:
        return ResNet(depth, output_stride, pretrained, strip_pooling_stages, strip_pooling_last_blocks,
                      stem, contract_dilation, multi_grid)

    build.__doc__ = f"ResNet-{depth} backbone (see :class:`ResNet`)."
    BACKBONES.register(_DEPTHS[depth])(build)


for _depth in _DEPTHS:
    _register(_depth)
