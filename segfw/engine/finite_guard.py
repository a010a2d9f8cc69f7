"""Non-finite losses and weights: stop at once with one line, never save them (issue 9, item 4).

With ``trainer.max_bad_steps=N`` up to N steps whose loss is nan/inf are skipped (no optimizer step)
before the run stops; by default (0) the first one stops it. A checkpoint is written only when every
weight is finite, so ``last.pt``/``best.pt`` keep the last good state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from segfw.errors import ConfigError

ADVICE = "lower optimizer.lr, set trainer.grad_clip, or check the data; the last good checkpoint is kept"


class NonFiniteError(ConfigError):
    """Training produced a nan/inf loss or weight; the message names the iteration and which value."""


def nonfinite_names(losses: Mapping[str, float]) -> list[str]:
    """Names of the losses that are nan or inf."""
    return [name for name, value in losses.items() if not math.isfinite(value)]


class FiniteGuard:
    """Counts skipped bad steps; raises :class:`NonFiniteError` when the budget is spent."""

    def __init__(self, max_bad_steps: int = 0):
        self.max_bad_steps, self.skipped = max_bad_steps, 0

    def step_is_bad(self, losses: Mapping[str, float], iteration: int) -> bool:
        """True when this step must be skipped; raises when it may not be."""
        bad = nonfinite_names(losses)
        if not bad:
            return False
        self.skipped += 1
        values = ", ".join(f"{name}={losses[name]}" for name in bad)
        if self.skipped > self.max_bad_steps:
            budget = f" (after skipping {self.max_bad_steps} bad steps)" if self.max_bad_steps else ""
            raise NonFiniteError(f"non-finite loss at iteration {iteration}: {values}{budget}; stopped without "
                                 f"saving it: {ADVICE}")
        return True


def check_finite_weights(model: nn.Module, iteration: int) -> None:
    """Raise :class:`NonFiniteError` naming the first nan/inf parameter or buffer (one device sync)."""
    tensors = [(n, t) for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_floating_point()]
    if not tensors:
        return
    finite = torch.stack([torch.isfinite(t).all() for _, t in tensors])
    if bool(finite.all()):
        return
    first = tensors[int((~finite).nonzero()[0])][0]
    count = int((~finite).sum())
    raise NonFiniteError(f"{count} weight tensor(s) became non-finite by iteration {iteration} (first: {first}); "
                         f"not saved: {ADVICE}")
