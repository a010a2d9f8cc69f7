"""Several losses on one head, weighted and summed, each term reported under its own name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from segfw.constants import IGNORE_INDEX
from segfw.errors import ConfigError
from segfw.registry import LOSSES, accepted_keywords

SHARED = ("ignore_index", "class_weights")  # every pixel loss takes them; handed to each term unless it sets its own


@LOSSES.register("weighted_sum")
class WeightedSumLoss(nn.Module):
    """``Σ_t w_t · L_t(logits, target)``, returned per term: ``{term name: w_t · L_t}``.

    ``forward(logits: (B, K, H, W), target: (B, H, W) int64) -> dict[str, scalar]``; the segmentor
    logs each term by name (``loss_ce``, ``loss_dice`` for the main head, ``loss_aux_dice`` for the
    auxiliary one, ...). ``terms``: ``{name: {name: <registered loss>, weight: w, **kwargs}}``.
    ``ignore_index`` and ``class_weights`` are passed to each term that accepts them and does not
    set its own.
    """

    def __init__(
        self,
        terms: Mapping[str, Mapping[str, Any]],
        ignore_index: int = IGNORE_INDEX,
        class_weights: list[float] | None = None,
    ):
        super().__init__()
        if not terms:
            raise ConfigError("model.loss.terms is empty; give e.g. {ce: {name: cross_entropy}, dice: {name: dice}}")
        shared = {"ignore_index": ignore_index, "class_weights": class_weights}
        self.terms, self.weights = nn.ModuleDict(), {}
        for term, node in terms.items():
            node = dict(node)
            self.weights[term] = float(node.pop("weight", 1.0))
            accepted = accepted_keywords(LOSSES.get(node.get("name", ""))) or set()
            for key in SHARED:
                if key in accepted and key not in node and shared[key] is not None:
                    node[key] = shared[key]
            self.terms[term] = LOSSES.build(node)

    def forward(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        return {term: self.weights[term] * loss(logits, target) for term, loss in self.terms.items()}


def named_losses(prefix: str, value: Tensor | Mapping[str, Tensor], weight: float = 1.0) -> dict[str, Tensor]:
    """A head's loss under its log names: a scalar → ``{prefix: w·value}``; a dict of terms (from
    :class:`WeightedSumLoss`) → ``{f"{prefix}_{term}": w·value}``, except that the main head's
    ``loss_ce`` prefix gives plain ``loss_<term>``."""
    if isinstance(value, Tensor):
        return {prefix: weight * value}
    base = "loss" if prefix == "loss_ce" else prefix
    return {f"{base}_{term}": weight * term_value for term, term_value in value.items()}
