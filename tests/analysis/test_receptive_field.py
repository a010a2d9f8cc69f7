"""Receptive field from input gradients against closed forms (float64 conv stacks)."""
import torch
from torch import nn

from segfw.analysis.receptive_field import input_gradient, mass_radius, receptive_field


def _stack(n, dilation=1, stride=1):
    layers = []
    for k in range(n):
        conv = nn.Conv2d(1, 1, 3, stride=stride if k == 0 else 1, padding=dilation, dilation=dilation, bias=False)
        nn.init.constant_(conv.weight, 1.0)
        layers.append(conv)
    return nn.Sequential(*layers).double()


def _rf(model, size, position, centre):
    x = torch.rand(1, 1, *size, dtype=torch.float64)
    return receptive_field(input_gradient(model, x, position), centre)


def test_stack_of_3x3_convs_has_rf_one_plus_two_n():
    for n in (1, 2, 4):
        rf = _rf(_stack(n), (13, 21), (6, 10), (6, 10))
        assert (rf.rf_rows, rf.rf_cols) == (1 + 2 * n, 1 + 2 * n)


def test_dilation_and_stride_widen_the_rf():
    rf = _rf(_stack(2, dilation=2), (13, 21), (6, 10), (6, 10))
    assert (rf.rf_rows, rf.rf_cols) == (9, 9)  # 1 + 2 * 2 * 2
    rf = _rf(_stack(2, stride=2), (17, 21), (4, 5), (8, 10))
    assert (rf.rf_rows, rf.rf_cols) == (7, 7)  # 3 + 2 * 2


def test_mass_radius_matches_a_hand_count():
    marginal = torch.tensor([1.0, 2.0, 4.0, 2.0, 1.0], dtype=torch.float64)
    assert mass_radius(marginal, 2, 0.4) == 0
    assert mass_radius(marginal, 2, 0.5) == 1
    assert mass_radius(marginal, 2, 0.9) == 2


def test_measure_averages_recentred_footprints():
    from segfw.analysis.receptive_field import measure

    rf, heat = measure(_stack(3), (15, 23), in_channels=1, inputs=2, positions=3, dtype=torch.float64)
    assert (rf.rf_rows, rf.rf_cols) == (7, 7)
    assert heat.shape == (29, 45) and heat.argmax() == 14 * 45 + 22
    assert rf.erf50_rows <= rf.erf90_rows <= 3
