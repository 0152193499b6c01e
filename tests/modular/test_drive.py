"""The modular synth's Drive module against its closed form."""

import numpy as np
import torch

from torchddsp.modular import Drive
from torchddsp.modular import RenderContext


def test_drive_is_tanh_of_the_driven_input_mixed_with_the_dry_signal():
    # Catches a drive that rescales its wet signal (e.g. by 1 / the drive gain, as its
    # docstring once said) or mixes dry and wet the wrong way round.
    context = RenderContext(16000.0, 0.25, 400.0)
    t = np.arange(context.n_samples) / context.sample_rate
    x = np.stack(
        [0.5 * np.sin(2 * np.pi * 220 * t), 0.05 * np.sin(2 * np.pi * 330 * t), 0.8 * np.sin(2 * np.pi * 110 * t)]
    )
    drive_db, mix = np.array([0.0, 12.0, 24.0]), np.array([1.0, 1.0, 0.25])
    params = {"drive": torch.tensor(drive_db), "mix": torch.tensor(mix)}
    out = Drive()(context, params, torch.tensor(x)).numpy()
    expected = (1 - mix[:, None]) * x + mix[:, None] * np.tanh(10 ** (drive_db[:, None] / 20) * x)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # A quiet input driven by 12 dB comes out about 12 dB louder (tanh is nearly linear there).
    gain_db = 20 * np.log10(np.abs(out[1]).max() / np.abs(x[1]).max())
    assert 11.0 < gain_db <= 12.0
