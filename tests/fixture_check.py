"""Checks of a block against outputs its authors' code produced (tests/fixtures/<name>/fixture.pt)."""

from __future__ import annotations

import torch


def assert_matches_fixture(block: torch.nn.Module, fixture: dict, output_key: str = "output",
                           grad_key: str = "input_grad") -> None:
    """``block(fixture['input'])`` equals ``fixture[output_key]`` and the input gradient of
    ``sum(output * fixture['cotangent'])`` equals ``fixture[grad_key]``, both to 1e-5."""
    x = fixture["input"].clone().requires_grad_(True)
    out = block(x)
    (grad,) = torch.autograd.grad((out * fixture["cotangent"]).sum(), x)
    torch.testing.assert_close(out, fixture[output_key], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, fixture[grad_key], rtol=1e-5, atol=1e-5)
