"""Activation checkpointing: same gradients and BatchNorm statistics, segments recomputed in backward only.

Its memory saving and time cost are measured by tools/benchmark_peers.py variants=[default,checkpointing]."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import CONFIGS, tiny_overrides
from hydra import compose, initialize_config_dir

from segfw.config import register_schemas
from segfw.engine.run_dir import RunFolder
from segfw.engine.default_trainer import DefaultTrainer as Trainer
from segfw.errors import ConfigError
from segfw.models.checkpointing import checkpoint_activations, checkpoint_segments
from segfw.models.segmentor import build_segmentor

MODEL = {
    "backbone": {"name": "resnet18", "output_stride": 8, "pretrained": None},
    "head": {"name": "aspp", "channels": 16, "dropout": 0.3},  # dropout: the recomputation must replay it
    "aux_head": {"name": "fcn", "in_level": "c4", "channels": 8, "num_convs": 1},
}


def one_step(model, images, masks):
    torch.manual_seed(5)
    model.zero_grad(set_to_none=True)
    sum(model.losses(images, masks).values()).backward()
    return {name: p.grad for name, p in model.named_parameters()}


def test_gradients_and_statistics_equal_without_checkpointing():
    torch.manual_seed(0)
    plain = build_segmentor(MODEL, num_classes=4).train()
    checkpointed = copy.deepcopy(plain)
    names = checkpoint_activations(checkpointed.backbone) + checkpoint_activations(checkpointed.head)
    assert names[:3] == ["stem", "layer1.0", "layer1.1"] and "aspp" in names
    block_calls = []
    checkpointed.backbone.layer3[0].conv1.register_forward_pre_hook(lambda module, args: block_calls.append(1))
    images = torch.randn(2, 3, 37, 45, generator=torch.Generator().manual_seed(1))
    masks = torch.randint(0, 4, (2, 37, 45), generator=torch.Generator().manual_seed(2))

    want, got = one_step(plain, images, masks), one_step(checkpointed, images, masks)

    assert len(block_calls) == 2  # forward, then the recomputation in backward
    assert want.keys() == got.keys()
    for name, grad in want.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    for (name, buffer), (_, reference) in zip(checkpointed.named_buffers(), plain.named_buffers()):
        torch.testing.assert_close(buffer, reference, rtol=0, atol=0, msg=name)  # updated once, not twice
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()
    with torch.no_grad():
        checkpointed.eval()(images)
    assert len(block_calls) == 3  # no recomputation outside training


def test_segments_expand_stages_of_blocks_but_not_conv_bn_relu():
    model = build_segmentor(MODEL, num_classes=4)
    names = [name for name, _ in checkpoint_segments(model.backbone)]
    assert names == ["stem", *(f"layer{s}.{b}" for s in range(1, 5) for b in range(2))]


def test_trainer_option_names_the_parts(tmp_path):
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("train", tiny_overrides(tmp_path, **{"trainer.activation_checkpointing": "[backbone,neck]"}))
        trainer = Trainer(cfg, torch.device("cpu"), RunFolder(cfg).__enter__())
        assert trainer.model.backbone.layer1[0]._segfw_checkpointed
        bad = compose("train", tiny_overrides(tmp_path / "bad", **{"trainer.activation_checkpointing": "[backbones]"}))
    with pytest.raises(ConfigError, match="names 'backbones'.*choose from backbone, neck, head, aux_head"):
        Trainer(bad, torch.device("cpu"), RunFolder(bad).__enter__())
