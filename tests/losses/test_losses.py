"""Losses against direct float64 references written from their formulas, pixel by pixel."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import segfw
from segfw.losses.weighted_sum import named_losses

IGNORE = 255


def _batch(num_classes: int, seed: int = 0, shape=(2, 5, 7)):
    """float64 logits (B, K, H, W) and int64 labels (B, H, W) with some ignored pixels."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape[0], num_classes, *shape[1:], dtype=torch.float64, generator=generator) * 2
    labels = torch.randint(0, max(num_classes, 2), shape, generator=generator)
    labels[torch.rand(shape, generator=generator) < 0.2] = IGNORE
    return logits, labels


def _pixels(logits, labels):
    """[(probabilities over classes as a list, label)] for every labelled pixel, by explicit loops."""
    b, k, h, w = logits.shape
    out = []
    for i, y, x in itertools.product(range(b), range(h), range(w)):
        label = int(labels[i, y, x])
        if label == IGNORE:
            continue
        z = [float(logits[i, c, y, x]) for c in range(k)]
        if k == 1:
            probs = [1 / (1 + math.exp(-z[0]))]
        else:
            top = max(z)
            e = [math.exp(v - top) for v in z]
            probs = [v / sum(e) for v in e]
        out.append((probs, label))
    return out


def _truth(label: int, c: int, k: int) -> float:
    return float(label == 1) if k == 1 else float(label == c)


def reference_dice(logits, labels, smooth=1.0, weights=None):
    pixels, k = _pixels(logits, labels), logits.shape[1]
    scores = []
    for c in range(k):
        inter = sum(p[c] * _truth(y, c, k) for p, y in pixels)
        total = sum(p[c] + _truth(y, c, k) for p, y in pixels)
        scores.append((2 * inter + smooth) / (total + smooth))
    weights = weights or [1.0] * k
    return 1 - sum(w * s for w, s in zip(weights, scores)) / sum(weights)


def _true_prob(p, y, k):
    return (p[0] if y == 1 else 1 - p[0]) if k == 1 else p[y]


def reference_focal(logits, labels, gamma, alpha=None):
    pixels, k = _pixels(logits, labels), logits.shape[1]
    terms = [-(alpha[y] if alpha else 1) * (1 - _true_prob(p, y, k)) ** gamma * math.log(_true_prob(p, y, k))
             for p, y in pixels]
    return sum(terms) / len(terms)


def reference_ohem(logits, labels, thresh, min_kept):
    pixels = _pixels(logits, labels)
    probs = sorted(p[y] for p, y in pixels)
    threshold = max(thresh, probs[min(min_kept * logits.shape[0], len(probs) - 1)])
    kept = [-math.log(p[y]) for p, y in pixels if p[y] < threshold]
    return sum(kept) / len(kept)


def reference_lovasz(logits, labels):
    """Lovász extension of the Jaccard loss per present class, from its definition as a sum over
    the errors sorted in decreasing order times the increments of the Jaccard loss of the prefixes."""
    pixels, k = _pixels(logits, labels), logits.shape[1]
    per_class = []
    for c in range(k):
        truth = [_truth(y, c, k) for _, y in pixels]
        if sum(truth) == 0:
            continue
        errors = [abs(t - p[c]) for t, (p, _) in zip(truth, pixels)]
        order = sorted(range(len(errors)), key=lambda i: -errors[i])

        def jaccard_loss(prefix):  # 1 - |G ∩ ¬S| / |G ∪ S| with S = the predicted-wrong set `prefix`
            chosen = set(prefix)
            gt = {i for i, t in enumerate(truth) if t}
            return 1 - len(gt - chosen) / len(gt | chosen)

        total, previous = 0.0, 0.0
        for n in range(1, len(order) + 1):
            current = jaccard_loss(order[:n])
            total += errors[order[n - 1]] * (current - previous)
            previous = current
        per_class.append(total)
    return sum(per_class) / len(per_class)


def reference_bce(logits, labels, weights=None):
    pixels = _pixels(logits, labels)
    terms, norm = 0.0, 0.0
    for p, y in pixels:
        w = weights[int(y == 1)] if weights else 1.0
        g = float(y == 1)
        terms += -w * (g * math.log(p[0]) + (1 - g) * math.log(1 - p[0]))
        norm += w
    return terms / norm


def _loss(node, logits, labels):
    return segfw.LOSSES.build(node)(logits, labels)


@pytest.mark.parametrize("k", [1, 4])
def test_dice_matches_its_formula(k):
    logits, labels = _batch(k)
    assert _loss({"name": "dice"}, logits, labels).item() == pytest.approx(reference_dice(logits, labels), rel=1e-6)


def test_dice_class_weights_weight_the_mean_over_classes():
    logits, labels = _batch(3, seed=4)
    got = _loss({"name": "dice", "class_weights": [1, 2, 0.5], "smooth": 0.1}, logits, labels)
    assert got.item() == pytest.approx(reference_dice(logits, labels, 0.1, [1, 2, 0.5]), rel=1e-6)


@pytest.mark.parametrize("k", [1, 3])
def test_focal_matches_its_formula(k):
    logits, labels = _batch(k, seed=1)
    alpha = [0.25, 0.75] if k == 1 else [0.5, 1.0, 2.0]
    got = _loss({"name": "focal", "gamma": 2.0, "class_weights": alpha}, logits, labels)
    assert got.item() == pytest.approx(reference_focal(logits, labels, 2.0, alpha), rel=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy():
    logits, labels = _batch(3, seed=2)
    focal = _loss({"name": "focal", "gamma": 0.0}, logits, labels)
    ce = _loss({"name": "cross_entropy"}, logits, labels)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-9)


@pytest.mark.parametrize("thresh,min_kept", [(0.7, 5), (0.05, 30), (0.9, 1000)])
def test_ohem_matches_its_formula(thresh, min_kept):
    logits, labels = _batch(3, seed=3)
    got = _loss({"name": "ohem_cross_entropy", "thresh": thresh, "min_kept": min_kept}, logits, labels)
    assert got.item() == pytest.approx(reference_ohem(logits, labels, thresh, min_kept), rel=1e-6)


@pytest.mark.parametrize("k,seed", [(1, 5), (3, 6), (5, 7)])
def test_lovasz_softmax_matches_its_definition(k, seed):
    logits, labels = _batch(k, seed=seed, shape=(1, 4, 5))
    assert _loss({"name": "lovasz_softmax"}, logits, labels).item() == pytest.approx(
        reference_lovasz(logits, labels), rel=1e-6
    )


def test_lovasz_is_zero_for_a_perfect_confident_prediction():
    labels = torch.tensor([[[0, 1], [2, 1]]])
    logits = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).double() * 50
    assert _loss({"name": "lovasz_softmax"}, logits, labels).item() == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("weights", [None, [1.0, 3.0]])
def test_binary_cross_entropy_matches_its_formula(weights):
    logits, labels = _batch(1, seed=8)
    got = _loss({"name": "binary_cross_entropy", "class_weights": weights}, logits, labels)
    assert got.item() == pytest.approx(reference_bce(logits, labels, weights), rel=1e-6)


@pytest.mark.parametrize("name", ["dice", "focal", "ohem_cross_entropy", "lovasz_softmax"])  # cross_entropy: safety's test
def test_all_ignored_batch_gives_zero_and_a_gradient(name):
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = _loss({"name": name}, logits, torch.full((1, 4, 4), IGNORE))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == 0 and logits.grad is not None


def test_gradients_match_finite_differences():
    logits, labels = _batch(3, seed=9, shape=(1, 3, 4))
    for name in ("dice", "focal", "lovasz_softmax", "ohem_cross_entropy"):
        node = {"name": name, **({"min_kept": 100} if name == "ohem_cross_entropy" else {})}
        loss = segfw.LOSSES.build(node)
        assert torch.autograd.gradcheck(lambda z: loss(z, labels), logits.clone().requires_grad_()), name


def test_weighted_sum_returns_each_weighted_term_and_the_segmentor_logs_them_by_name():
    logits, labels = _batch(3, seed=10)
    node = {"name": "weighted_sum", "class_weights": [1.0, 2.0, 1.0],
            "terms": {"ce": {"name": "cross_entropy"}, "dice": {"name": "dice", "weight": 0.5}}}
    terms = _loss(node, logits, labels)
    ce = _loss({"name": "cross_entropy", "class_weights": [1.0, 2.0, 1.0]}, logits, labels)
    assert terms["ce"].item() == pytest.approx(ce.item())  # class_weights reached the term
    assert terms["dice"].item() == pytest.approx(0.5 * reference_dice(logits, labels, weights=[1, 2, 1]), rel=1e-6)
    assert named_losses("loss_ce", terms).keys() == {"loss_ce", "loss_dice"}
    assert named_losses("loss_aux", terms, 0.4)["loss_aux_dice"].item() == pytest.approx(0.4 * terms["dice"].item())

    model = segfw.build_segmentor({"backbone": {"name": "resnet18", "output_stride": 32},
                                   "head": {"name": "fcn", "channels": 8},
                                   "aux_head": {"name": "fcn", "channels": 8, "in_level": "c4"},
                                   "loss": node}, num_classes=3)
    losses = model.losses(torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 32, 32)))
    assert set(losses) == {"loss_ce", "loss_dice", "loss_aux_ce", "loss_aux_dice"}


@pytest.mark.parametrize("preset", ["cross_entropy", "dice", "focal", "lovasz_softmax", "ohem_cross_entropy", "dice_ce"])
def test_loss_group_replaces_the_presets_loss_with_one_override(compose, preset):
    cfg = compose("train", ["model=fcn_r50", f"model/loss={preset}"])
    loss = segfw.LOSSES.build(cfg.model.loss)
    logits, labels = _batch(3, seed=11)
    value = loss(logits.float(), labels)
    total = sum(value.values()) if isinstance(value, dict) else value
    assert torch.isfinite(total)
