"""The neck contract: a context block applied to one named feature level."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec, deepest_level, require_level
from segfw.models.necks.context_stage import ContextStage
from segfw.errors import ConfigError
from segfw.registry import NECKS, accepted_keywords


class LevelNeck(nn.Module):
    """Runs ``block`` on ``feats[level]`` and passes the other levels through.

    ``forward(feats: dict[str, (B, C, H, W)]) -> dict`` with ``feats[level]`` replaced by
    ``block(feats[level])`` of shape (B, block.out_channels or C, H, W). ``out_specs`` publishes
    the resulting levels.

    A block with side outputs (``side_channels = {"pam": 512, ...}`` and a method
    ``forward_with_sides(x) -> (out, {"pam": ..., ...})``, e.g. DANet's two attention branches)
    also publishes each as the level ``f"{level}_{name}"`` (``c5_pam``), for heads that read them.

    A block that reads other levels too names them in ``context_levels`` (e.g. ``("c4",)``, OCRNet's
    region classifier) and is called as ``block(x, {"c4": feats["c4"]})`` (or ``forward_with_sides``).
    With ``context_level`` (a block that reads a second level, e.g. ANN's AFNB on c4) the block is
    called as ``block(feats[level], feats[context_level])``; the context level itself passes through.
    """

    def __init__(self, block: nn.Module, in_specs: Mapping[str, FeatureSpec], level: str,
                 context_level: str | None = None):
        super().__init__()
        self.block = block
        self.level = level
        self.context_level = context_level
        spec = in_specs[level]
        channels = getattr(block, "out_channels", spec.channels)
        sides = getattr(block, "side_channels", {})
        self.out_specs = {
            **in_specs,
            level: FeatureSpec(channels, spec.stride),
            **{f"{level}_{name}": FeatureSpec(c, spec.stride) for name, c in sides.items()},
        }

    def forward(self, feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = dict(feats)
        x = feats[self.level]
        extra = [{name: feats[name] for name in self.block.context_levels}] if hasattr(self.block, "context_levels") else []
        if hasattr(self.block, "forward_with_sides"):
            out[self.level], sides = self.block.forward_with_sides(x, *extra)
            out.update({f"{self.level}_{name}": t for name, t in sides.items()})
        elif self.context_level is not None:
            out[self.level] = self.block(x, feats[self.context_level])
        else:
            out[self.level] = self.block(x, *extra)
        return out


def build_neck(node: Mapping[str, Any], in_specs: Mapping[str, FeatureSpec], num_classes: int | None = None) -> LevelNeck:
    """Build the neck a config node names.

    Registered necks are plain block classes whose first argument is ``in_channels``. These keys
    belong to every neck node and are handled here:

    - ``level`` (default: the deepest) picks the feature the neck rewrites;
    - ``reduce``: null, or a width c: the block then runs inside a :class:`ContextStage`
      (3×3 conv C → c before it, 3×3 conv after it), as mmseg's NL and CC heads run theirs;
    - ``concat_input`` (with ``reduce``): the stage ends with a 3×3 conv of [input, output];
    - ``context_level``: only for a neck that takes ``context_channels`` (a second input, e.g.
      ``asymmetric_non_local``): the level it reads besides ``level``; its width becomes ``context_channels``.

    A neck that takes ``output_stride`` gets the stride of that level when its config leaves it null;
    one that takes ``num_classes`` gets the dataset's (OCRNet's region classifier), one that takes
    ``in_specs`` gets every level's spec (to read other levels, see :class:`LevelNeck`).
    """
    kwargs = dict(node)
    level = kwargs.pop("level", None) or deepest_level(dict(in_specs))
    reduce, concat_input = kwargs.pop("reduce", None), bool(kwargs.pop("concat_input", False))
    context_level = kwargs.pop("context_level", None)
    name = kwargs.get("name")
    spec = require_level(dict(in_specs), level, f"neck '{name}'")
    accepted = accepted_keywords(NECKS.get(name)) if name in NECKS else None
    if accepted is not None and "in_channels" not in accepted:
        raise ConfigError(f"neck '{name}' must take 'in_channels' as its first argument")
    if concat_input and not reduce:
        raise ConfigError(f"neck '{name}': concat_input needs a 'reduce' width (e.g. reduce: 512)")
    context = {"output_stride": spec.stride, "in_specs": dict(in_specs)}
    if num_classes is not None:
        context["num_classes"] = num_classes
    if accepted is not None and "context_channels" in accepted:
        if not context_level:
            raise ConfigError(f"neck '{name}' reads a second level: set its 'context_level' (e.g. context_level: c4)")
        if reduce:
            raise ConfigError(f"neck '{name}' reads two levels and cannot run in a context stage: set 'reduce: null'")
        context["context_channels"] = require_level(dict(in_specs), context_level, f"neck '{name}' (context_level)").channels
    elif context_level:
        raise ConfigError(f"neck '{name}' reads one level and takes no 'context_level': remove the key")
    block = NECKS.build(kwargs, in_channels=int(reduce or spec.channels), **context)
    if reduce:
        block = ContextStage(spec.channels, int(reduce), block, concat_input)
    return LevelNeck(block, in_specs, level, context_level if "context_channels" in context else None)
