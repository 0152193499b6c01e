"""Stable parameterisations: every value in range gives poles inside the unit circle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchddsp.functional import reflection_to_lpc
from torchddsp.functional import resonator_coefficients


def test_resonator_places_the_poles_where_asked():
    radius = torch.tensor([0.5, 0.9, 0.999], dtype=torch.float64)
    angle = torch.tensor([0.3, 1.2, 3.0], dtype=torch.float64)
    a = resonator_coefficients(radius, angle)
    for i in range(3):
        poles = np.roots([1.0, *a[i].numpy()])
        np.testing.assert_allclose(np.sort(np.abs(poles)), [radius[i].item()] * 2, rtol=1e-9)
        np.testing.assert_allclose(np.sort(np.abs(np.angle(poles))), [angle[i].item()] * 2, rtol=1e-7)


def test_reflection_coefficients_always_give_a_stable_filter():
    generator = torch.Generator().manual_seed(0)
    for order in range(1, 13):
        # |k| up to 0.99: closer to 1 the poles approach the circle within np.roots' own error.
        k = 0.99 * (2 * torch.rand(50, order, generator=generator, dtype=torch.float64) - 1)
        a = reflection_to_lpc(k)
        for row in a.numpy():
            assert np.abs(np.roots([1.0, *row])).max() < 1.0


def test_reflection_closed_form_of_order_two_and_gradients():
    k = torch.tensor([[0.4, -0.3]], dtype=torch.float64)
    torch.testing.assert_close(reflection_to_lpc(k), torch.tensor([[0.4 * (1 - 0.3), -0.3]], dtype=torch.float64))
    raw = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: reflection_to_lpc(torch.tanh(r)), (raw,))
    radius = torch.rand(4, dtype=torch.float64).mul(0.9).requires_grad_()
    angle = torch.rand(4, dtype=torch.float64).mul(3).requires_grad_()
    assert torch.autograd.gradcheck(resonator_coefficients, (radius, angle))


def test_out_of_range_values_are_errors():
    with pytest.raises(ValueError, match="radius must be in"):
        resonator_coefficients(torch.tensor([1.0]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="must lie in"):
        reflection_to_lpc(torch.tensor([0.5, -1.0]))
