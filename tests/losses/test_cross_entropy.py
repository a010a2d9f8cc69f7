"""Cross-entropy equals PyTorch's mean over non-ignored pixels; an all-ignore batch gives 0, not nan (issue 9, item 4)."""

import pytest
import torch
import torch.nn.functional as F

from segfw.losses.cross_entropy import CrossEntropyLoss


@pytest.mark.parametrize("weights", [None, [0.5, 1.0, 2.0, 0.1, 3.0]])
def test_matches_the_mean_over_non_ignored_pixels(weights):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, 9, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 5, (2, 7, 9), generator=generator)
    target[0, :3] = 255
    expected = F.cross_entropy(logits, target, weight=None if weights is None else torch.tensor(weights).double(),
                               ignore_index=255)
    assert torch.allclose(CrossEntropyLoss(class_weights=weights)(logits, target), expected, rtol=1e-12)


@pytest.mark.parametrize("weights", [None, [0.5, 1.0, 2.0, 0.1, 3.0]])
def test_an_all_ignore_batch_contributes_zero_with_a_gradient_path(weights):
    logits = torch.randn(2, 5, 7, 9, requires_grad=True)
    loss = CrossEntropyLoss(class_weights=weights)(logits, torch.full((2, 7, 9), 255))
    loss.backward()
    assert loss.item() == 0.0 and loss.requires_grad
    assert torch.equal(logits.grad, torch.zeros_like(logits))
