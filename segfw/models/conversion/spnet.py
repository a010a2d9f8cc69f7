"""SPNet's official checkpoints (Andrew-Qibin/SPNet, ``models/spnet.py``) → segfw ``Segmentor`` keys.

The official model holds the deep-base ResNet as ``pretrained`` (stem ``conv1.{0,1,3,4,6}`` + ``bn1``;
a block's strip pooling module as ``spm``, next to ``conv3``), the SPNet head as ``head``
(``trans_layer``, ``strip_pool1/2``, ``score_layer``) and the auxiliary FCN head as ``auxlayer.conv5``.
Training wraps it in DistributedDataParallel, so saved keys start with ``module.``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from segfw.models.conversion.rules import Rule, rename
from segfw.models.state_dict import strip_prefixes
from segfw.errors import ConfigError

# Inside one official mixed pooling module ("StripPooling" in models/customize.py) → our MixedPooling.
_MPM = {
    "conv1_1": "reduce_short", "conv1_2": "reduce_long", "conv2_0": "local",
    "conv2_1": "pyramid.0.transform", "conv2_2": "pyramid.1.transform",
    "conv2_3": "strips.1.conv",  # (1, 3) conv on the 1×W strip: our "width" branch
    "conv2_4": "strips.0.conv",  # (3, 1) conv on the H×1 strip: our "height" branch
    "conv2_5": "fuse_short", "conv2_6": "fuse_long", "conv3": "project",
}
# Inside one official SPBlock (the SPM in a residual block) → our StripPooling.
_SPM = {"conv1": "rows.conv.0", "bn1": "rows.conv.1", "conv2": "columns.conv.0", "bn2": "columns.conv.1",
        "conv3": "gate"}

_RULES: list[Rule] = [
    (r"pretrained\.conv1\.(\d)\.", r"backbone.stem.\1."),
    (r"pretrained\.bn1\.", "backbone.stem.7."),
    (r"pretrained\.(layer\d\.\d+)\.spm\.(\w+)\.", lambda m: f"backbone.{m.group(1)}.conv3.spm.{_SPM[m.group(2)]}."),
    (r"pretrained\.", "backbone."),
    (r"head\.trans_layer\.", "head.reduce."),
    (r"head\.strip_pool(\d)\.(\w+)\.", lambda m: f"head.mpms.{int(m.group(1)) - 1}.{_MPM[m.group(2)]}."),
    (r"head\.score_layer\.([01])\.", r"head.score.\1."),
    (r"head\.score_layer\.4\.", "head.classifier.1."),
    (r"auxlayer\.conv5\.([01])\.", r"aux_head.convs.0.\1."),
    (r"auxlayer\.conv5\.4\.", "aux_head.classifier.1."),
]


def spnet_to_segfw(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official SPNet state dict (``module.`` stripped) to segfw's keys (preset ``spnet_r50``/``r101``)."""
    state = strip_prefixes(state, ("module.",))
    with_spm = {m.group(1) for key in state if (m := re.match(r"pretrained\.(layer\d\.\d+)\.spm\.", key))}
    out, unknown = {}, []
    for key, value in state.items():
        try:
            new = rename(key, _RULES)
        except KeyError:  # a module name the official code does not have
            new = None
        if new is None:
            unknown.append(key)
            continue
        block = re.match(r"backbone\.(layer\d\.\d+)\.conv3\.(weight|bias)$", new)
        if block and block.group(1) in with_spm:  # our SPM wraps the conv: conv3 → conv3.conv
            new = f"backbone.{block.group(1)}.conv3.conv.{block.group(2)}"
        out[new] = value
    if unknown:
        raise ConfigError(f"SPNet keys with no segfw counterpart: {', '.join(unknown[:4])}" + (" …" if len(unknown) > 4 else ""))
    return out
