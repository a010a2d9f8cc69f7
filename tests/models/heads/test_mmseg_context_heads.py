"""NL, CC and DA context necks + classifier heads against mmsegmentation 1.2.2's NLHead, CCHead and
DAHead themselves (and the identity neck in a context stage against FCNHead: the fair baseline).

The same weights (mmseg's, renamed) give the same logits in eval mode and the same training-mode
outputs and gradients, on an odd-size feature map."""

from __future__ import annotations

import pytest
import torch
from mmseg_reference import MODELS  # installs the mmcv op-loader stand-in first

from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.level_neck import build_neck
from segfw.models.conversion import convert_state
from segfw.registry import HEADS

IN, WIDTH, K = 32, 16, 5
CLASSIFIER = {"name": "fcn", "in_level": "c5", "channels": WIDTH, "num_convs": 0}
CASES = {
    "FCNHead": (dict(num_convs=2, concat_input=True), {"name": "identity", "reduce": WIDTH, "concat_input": True}),
    "NLHead": (dict(reduction=2, use_scale=True, mode="embedded_gaussian"),
               {"name": "non_local", "reduce": WIDTH, "concat_input": True, "reduction": 2, "score": "scaled_dot"}),
    "CCHead": (dict(recurrence=2),
               {"name": "criss_cross", "reduce": WIDTH, "concat_input": True, "reduction": 8, "recurrence": 2}),
    "DAHead": (dict(pam_channels=WIDTH // 8),
               {"name": "dual_attention", "branch_reduction": IN // WIDTH, "reduction": 8}),
}


# mmseg's FCNHead converts to segfw's fcn head; its convs are the identity neck's context stage
FCN_AS_STAGE = {"head.convs.0.": "neck.block.reduce.", "head.convs.1.": "neck.block.project.",
                "head.conv_cat.": "neck.block.fuse."}


def converted(head_type: str, state: dict) -> dict:
    """A decode head's state dict (mmseg names, without the ``decode_head.`` prefix) in segfw's names."""
    out = convert_state("mmseg", {f"decode_head.{k}": v for k, v in state.items()})
    if head_type == "FCNHead":
        out = {next((new + k[len(old):] for old, new in FCN_AS_STAGE.items() if k.startswith(old)), k): v
               for k, v in out.items()}
    return out


class NeckAndHeads(torch.nn.Module):
    """The segfw side: neck, main classifier and (DANet) the PAM-only / CAM-only side classifiers."""

    def __init__(self, neck_node: dict, dropout: float):
        super().__init__()
        self.neck = build_neck(neck_node, {"c5": FeatureSpec(IN, 8)})
        node = {**CLASSIFIER, "dropout": dropout}
        self.head = HEADS.build(node, in_specs=self.neck.out_specs, num_classes=K)
        sides = list(self.neck.out_specs)[1:]
        self.side_heads = torch.nn.ModuleDict({
            level.split("_")[1]: HEADS.build({**node, "in_level": level}, in_specs=self.neck.out_specs, num_classes=K)
            for level in sides})

    def forward(self, x):
        feats = self.neck({"c5": x})
        return [self.head(feats)] + [self.side_heads[n](feats) for n in ("pam", "cam") if n in self.side_heads]


def pair(head_type: str, dropout: float = 0.1):
    mm_kwargs, neck_node = CASES[head_type]
    torch.manual_seed(0)
    reference = MODELS.build(dict(type=head_type, in_channels=IN, in_index=0, channels=WIDTH, num_classes=K,
                                  dropout_ratio=dropout, norm_cfg=dict(type="BN"), align_corners=False, **mm_kwargs))
    with torch.no_grad():  # every parameter and statistic non-trivial (γ's and zero-init BN scales too)
        for p in reference.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.75, 1.25)
    ours = NeckAndHeads(neck_node, dropout)
    ours.load_state_dict(converted(head_type, reference.state_dict()), strict=True)
    return reference, ours


def outputs(reference, x):
    out = reference([x])
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("head_type", sorted(CASES))
def test_eval_logits_equal_mmseg(head_type):
    reference, ours = pair(head_type)
    x = torch.randn(2, IN, 13, 21)
    with torch.no_grad():
        expected, got = outputs(reference.eval(), x), ours.eval()(x)
    assert len(got) == len(expected) == (3 if head_type == "DAHead" else 1)
    for e, g in zip(expected, got):
        scale = e.abs().max()
        assert (g - e).abs().max() <= 1e-4 * scale, (head_type, (g - e).abs().max() / scale)


@pytest.mark.parametrize("head_type", sorted(CASES))
def test_train_mode_outputs_and_gradients_equal_mmseg(head_type):
    """Batch statistics in BN, no dropout (its random masks cannot be shared between the two)."""
    reference, ours = pair(head_type, dropout=0.0)
    x = torch.randn(2, IN, 11, 9)
    expected, got = outputs(reference.train(), x), ours.train()(x)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())
    sum(o.square().mean() for o in expected).backward()
    sum(o.square().mean() for o in got).backward()
    expected_grads = converted(head_type, {k: p.grad for k, p in reference.named_parameters()})
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, expected_grads[name].reshape(p.shape), rtol=1e-3, atol=1e-5)


def test_every_mmseg_weight_has_a_place():
    for head_type in CASES:
        reference, ours = pair(head_type)
        assert set(converted(head_type, reference.state_dict())) == set(ours.state_dict())
