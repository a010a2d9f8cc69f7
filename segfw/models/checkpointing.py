"""Activation checkpointing: keep only the inputs of a module's segments and recompute the rest in backward.

``checkpoint_activations(model.backbone)`` splits a module into segments, its direct children, where
a child that is a container (``nn.Sequential``/``nn.ModuleList``) of composite blocks (a ResNet stage
of bottlenecks, ASPP's branches) contributes each block instead, and runs every segment with
parameters through ``torch.utils.checkpoint`` (non-reentrant) in training. The peak memory of a
training step then holds one segment's activations at a time instead of all of them, for about one
extra forward of the checkpointed part. Gradients are the same (the recomputation replays the random
state, e.g. dropout); BatchNorm running statistics are restored after the recomputation, so they are
updated once per step as without checkpointing. Evaluation and ``no_grad`` runs are unaffected; the
state dict keeps its keys (the segments' ``forward`` is wrapped in place, no module is inserted).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from segfw.errors import ConfigError


def checkpoint_segments(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``(name, segment)`` pairs :func:`checkpoint_activations` wraps, in order (see the module docstring)."""
    segments = []
    for name, child in module.named_children():
        containers = isinstance(child, (nn.Sequential, nn.ModuleList))
        if containers and any(next(item.children(), None) is not None for item in child):
            segments += [(f"{name}.{index}", item) for index, item in child.named_children()]
        else:
            segments.append((name, child))
    return [(name, segment) for name, segment in segments if next(segment.parameters(), None) is not None]


def checkpoint_activations(module: nn.Module) -> list[str]:
    """Run each segment of ``module`` under activation checkpointing in training; returns their names. Idempotent."""
    names = []
    for name, segment in checkpoint_segments(module):
        if not getattr(segment, "_segfw_checkpointed", False):
            segment.forward = functools.partial(_checkpointed_forward, segment, segment.forward)
            segment._segfw_checkpointed = True
        names.append(name)
    return names


def _checkpointed_forward(segment: nn.Module, forward, *args, **kwargs):
    if not (segment.training and torch.is_grad_enabled()):
        return forward(*args, **kwargs)
    contexts = functools.partial(_contexts, segment)
    return checkpoint(forward, *args, use_reentrant=False, context_fn=contexts, **kwargs)


def _contexts(segment: nn.Module) -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """(context of the first forward, context of the recomputation in backward)."""
    return contextlib.nullcontext(), _buffers_restored(segment)


@contextlib.contextmanager
def _buffers_restored(segment: nn.Module) -> Iterator[None]:
    """Undo what the recomputation does to buffers (BatchNorm running mean/var and batch counts)."""
    saved = [(buffer, buffer.clone()) for buffer in segment.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


CHECKPOINTABLE_PARTS = ("backbone", "neck", "head", "aux_head")


def checkpoint_parts(model: nn.Module, parts) -> None:
    """``trainer.activation_checkpointing``: run the named parts of a segmentor (``backbone``, ``neck``,
    ``head``, ``aux_head``) under :func:`checkpoint_activations`; a part the model lacks is a ConfigError."""
    for part in parts:
        if part not in CHECKPOINTABLE_PARTS or getattr(model, part, None) is None:
            raise ConfigError(f"trainer.activation_checkpointing names '{part}', which this model does not have; "
                              f"choose from {', '.join(p for p in CHECKPOINTABLE_PARTS if getattr(model, p, None))}")
        checkpoint_activations(getattr(model, part))
