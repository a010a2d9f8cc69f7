"""Which parameters get no weight decay, and optimizer parameter groups split accordingly.

Weight decay pulls every decayed parameter towards 0. For a learned residual scale γ (CCNet,
DANet, strip attention), a cosine temperature log τ, or a learned position table initialised to
sinusoids, 0 is not a neutral value but a different model (γ = 0 switches the context module
off), so these are not decayed. Norm weights / biases and conv biases keep their decay, as in
the mmsegmentation and SPNet recipes the presets reproduce.
"""

from __future__ import annotations

from torch import nn


def no_weight_decay(model: nn.Module) -> set[str]:
    """Names of the parameters of ``model`` that must not be weight-decayed.

    Every parameter with a single element (γ, log τ), and the parameters a module lists in its
    ``no_weight_decay`` attribute (e.g. learned position tables: ``("rows", "cols")``).
    """
    names = {name for name, p in model.named_parameters() if p.numel() == 1}
    for prefix, module in model.named_modules():
        for local in getattr(module, "no_weight_decay", ()):
            names.add(f"{prefix}.{local}" if prefix else local)
    return names


def split_weight_decay(groups: list[dict], model: nn.Module) -> list[dict]:
    """Each optimizer group of ``model``'s parameters split in two: the decayed parameters, and
    those of :func:`no_weight_decay` with ``weight_decay=0`` (group name suffixed ``_no_decay``).
    Empty groups are dropped; other group keys (lr, name, ...) are kept."""
    exempt = {id(p) for name, p in model.named_parameters() if name in no_weight_decay(model)}
    out = []
    for group in groups:
        params = list(group["params"])
        decayed = [p for p in params if id(p) not in exempt]
        kept = [p for p in params if id(p) in exempt]
        if decayed:
            out.append({**group, "params": decayed})
        if kept:
            out.append({**group, "params": kept, "weight_decay": 0.0, "name": f"{group.get('name', 'group')}_no_decay"})
    return out
