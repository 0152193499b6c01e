import numpy as np
import pytest
import torch

from torchddsp.functional import fractional_delay


def test_integer_delay_shifts_and_zero_delay_is_identity(rng):
    audio = torch.tensor(rng.standard_normal((2, 300)))
    shifted = fractional_delay(audio, torch.full((2, 1), 7.0, dtype=torch.float64))
    np.testing.assert_allclose(shifted[:, 7:].numpy(), audio[:, :-7].numpy(), atol=1e-14)
    assert shifted[:, :7].abs().max().item() == 0.0
    same = fractional_delay(audio, torch.zeros(2, 300, dtype=torch.float64))
    np.testing.assert_allclose(same.numpy(), audio.numpy(), atol=1e-14)
    cubic = fractional_delay(audio, torch.ones(2, 300, dtype=torch.float64), interpolation="cubic")
    np.testing.assert_allclose(cubic[:, 1:].numpy(), audio[:, :-1].numpy(), atol=1e-14)


@pytest.mark.parametrize("interpolation,tolerance", [("linear", 2e-3), ("cubic", 1e-4)])
def test_time_varying_fractional_delay_of_a_sine(interpolation, tolerance):
    sr, n = 16000, 4000
    t = np.arange(n)
    audio = torch.tensor(np.sin(2 * np.pi * 200 * t / sr))[None]
    delay = 40 + 15 * np.sin(2 * np.pi * 3 * t / sr)  # vibrato: 25 to 55 samples
    y = fractional_delay(audio, torch.tensor(delay)[None], interpolation=interpolation).numpy()[0]
    expected = np.sin(2 * np.pi * 200 * (t - delay) / sr)
    np.testing.assert_allclose(y[100:], expected[100:], atol=tolerance)


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_delay_stream_in_blocks_equals_one_call(rng, interpolation):
    audio = torch.tensor(rng.standard_normal((2, 400)))
    delay = torch.tensor(rng.uniform(1, 20, (2, 400)))
    history = torch.zeros(2, 24, dtype=torch.float64)
    offline = fractional_delay(audio, delay, interpolation, state=history)
    pieces = []
    for start in range(0, 400, 100):
        piece, history = fractional_delay(
            audio[:, start : start + 100],
            delay[:, start : start + 100],
            interpolation,
            state=history,
            return_state=True,
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), offline.numpy(), atol=1e-14)


def test_delay_errors():
    audio = torch.zeros(1, 10)
    with pytest.raises(ValueError, match="delay_samples must be >= 0"):
        fractional_delay(audio, -torch.ones(1, 10))
    with pytest.raises(ValueError, match="delay_samples must be >= 1 for cubic"):
        fractional_delay(audio, torch.full((1, 10), 0.5), interpolation="cubic")
    with pytest.raises(ValueError, match="state must hold"):
        fractional_delay(audio, torch.full((1, 1), 5.0), state=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="delay_samples per sample must hold 10 samples"):
        fractional_delay(audio, torch.zeros(1, 9))


def test_long_signals_keep_full_precision():
    # One minute at 16 kHz in float32: read positions are integers plus a fraction, so the
    # error does not grow with the sample index.
    sr, n = 16000, 60 * 16000
    t = np.arange(n)
    audio = torch.tensor(np.sin(2 * np.pi * 440 * t / sr), dtype=torch.float32)[None]
    delay = torch.full((1, 1), 37.3, dtype=torch.float32)
    y = fractional_delay(audio, delay).double().numpy()[0]
    x = audio.double().numpy()[0]
    d = float(delay)  # the float32 delay's exact value
    expected = x[t - 38] * (d - 37) + x[t - 37] * (38 - d)
    np.testing.assert_allclose(y[100:], expected[100:], atol=1e-6)


def test_half_precision_delays_are_exact_for_whole_samples():
    audio = torch.randn(1, 5000, generator=torch.Generator().manual_seed(0))
    y = fractional_delay(audio, torch.full((1, 5000), 3.0, dtype=torch.float16))
    np.testing.assert_allclose(y[0, 3:].numpy(), audio[0, :-3].numpy())


def test_delay_gradient_never_uses_future_samples(rng):
    # The slope at the minimum delay is a backward difference, identical whether or not the
    # next block exists.
    audio = torch.tensor(rng.standard_normal((1, 8)))
    delay = torch.zeros(1, 8, dtype=torch.float64, requires_grad=True)
    fractional_delay(audio, delay).sum().backward()
    previous = torch.cat([torch.zeros(1, 1, dtype=torch.float64), audio[:, :-1]], 1)
    np.testing.assert_allclose(delay.grad.numpy(), (previous - audio).numpy(), atol=1e-14)


def test_a_delay_declared_up_front_may_grow_in_later_blocks():
    # Catches a line sized by the first block's delays: a longer delay later needs samples the
    # first block did not keep. With max_delay_samples the stream equals one call; without it,
    # the error says what to pass; a delay beyond the declared one raises.
    audio = torch.randn(1, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    delay = torch.linspace(1.0, 60.0, 200, dtype=torch.float64)[None]
    offline = fractional_delay(audio, delay, "cubic")
    first, state = fractional_delay(audio[:, :50], delay[:, :50], "cubic", return_state=True, max_delay_samples=60)
    assert state.shape == (1, 62)
    second = fractional_delay(audio[:, 50:], delay[:, 50:], "cubic", state=state)
    np.testing.assert_allclose(torch.cat([first, second], 1).numpy(), offline.numpy(), atol=1e-14)
    _, short = fractional_delay(audio[:, :50], delay[:, :50], "cubic", return_state=True)
    with pytest.raises(ValueError, match="pass max_delay_samples"):
        fractional_delay(audio[:, 50:], delay[:, 50:], "cubic", state=short)
    with pytest.raises(ValueError, match=r"must not exceed max_delay_samples \(30\)"):
        fractional_delay(audio, delay, max_delay_samples=30)
    with pytest.raises(ValueError, match="max_delay_samples must be a number >= 0"):
        fractional_delay(audio, delay, max_delay_samples=-1.0)
