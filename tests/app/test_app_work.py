"""The web app's work functions, called directly (no server): decoding uploads, WAV bytes, the
page's fields, one transfer, the synthesizer tab, the model catalog and the result store."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from app_support import EXCERPT_OUTPUT_SAMPLES

from torchddsp.app.audio import decode_upload
from torchddsp.app.audio import wav_bytes
from torchddsp.app.catalog import ModelCatalog
from torchddsp.app.store import ResultStore
from torchddsp.app.synth_work import BASE_PATCHES
from torchddsp.app.synth_work import VOICE_SLIDERS
from torchddsp.app.synth_work import render_synth
from torchddsp.app.synth_work import synth_values
from torchddsp.app.transfer_work import run_transfer
from torchddsp.app.transfer_work import transfer_settings
from torchddsp.modular import make_voice
from torchddsp.transfer import PRETRAINED_DIR
from torchddsp.validation import InputError


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def flute():
    return ModelCatalog().get("flute")


# ---- audio in and out -------------------------------------------------------------------------


def test_decode_upload_downmixes_channels_and_keeps_the_rate():
    # Bug caught: the first channel taken instead of the mean; the rate lost or assumed.
    left, right = np.linspace(-0.5, 0.5, 300), np.full(300, 0.25)
    audio, rate = decode_upload(_wav(np.stack([left, right], axis=1), 22050))
    assert rate == 22050
    np.testing.assert_allclose(audio.numpy(), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"#!/bin/sh\nrm -rf /\n", "not audio"), (_wav(np.zeros((0, 1)), 16000), "no audio samples")],
    ids=["empty", "script", "no-samples"],  # the WAV's bytes hold a time stamp: not an id
)
def test_decode_upload_refuses_what_is_not_audio(data, message):
    # Bug caught: soundfile's own exception (a traceback on the page) instead of a message.
    with pytest.raises(InputError, match=message):
        decode_upload(data)


def test_decode_upload_refuses_audio_over_the_length_limit_and_non_finite_samples():
    # Bug caught: max_duration_s not enforced (a long upload ties the server up for minutes).
    with pytest.raises(InputError, match=r"lasts 2\.0 s.*at most 1\.5 s"):
        decode_upload(_wav(np.zeros(32000), 16000), max_duration_s=1.5)
    assert decode_upload(_wav(np.zeros(24000), 16000), max_duration_s=1.5)[0].shape == (24000,)
    with pytest.raises(InputError, match="NaN"):
        decode_upload(_wav(np.array([0.0, np.nan]), 16000))


def test_wav_bytes_round_trip_keeps_rate_and_samples():
    # Bug caught: a WAV header with another rate than the samples'; samples scaled or cut.
    samples = torch.sin(torch.arange(1000) * 0.05) * 0.8
    data = wav_bytes(samples, 24000)
    decoded, rate = sf.read(io.BytesIO(data), dtype="float64")
    assert rate == 24000 and decoded.shape == (1000,)
    np.testing.assert_allclose(decoded, samples.double().numpy(), atol=1 / 32767)


# ---- the page's fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pitch_shift": "up"}, "pitch_shift must be a number"),
        ({"pitch_shift": "nan"}, r"pitch_shift must lie in \[-48, 48\]"),
        ({"loudness_shift": "1e9"}, "loudness_shift must lie in"),
        ({"quiet_db": "-1"}, r"quiet_db must lie in \[0, 80\]"),
        ({"reverb": "maybe"}, "reverb must be true or false"),
        ({"f0_method": "spice"}, "f0_method must be one of"),
    ],
)
def test_transfer_settings_refuse_bad_fields_naming_them(fields, message):
    # Bug caught: NaN or absurd shifts passed on to the model; an error that names no field.
    with pytest.raises(InputError, match=message):
        transfer_settings(fields)


def test_transfer_settings_read_the_fields():
    settings = transfer_settings(
        {"pitch_shift": "-7.5", "loudness_shift": "3", "quiet_db": "0", "auto_adjust": "false", "f0_method": "yin"}
    )
    assert settings == {
        "pitch_shift": -7.5,
        "loudness_shift": 3.0,
        "quiet_db": 0.0,
        "auto_adjust": False,
        "reverb": True,
        "f0_method": "yin",
    }


# ---- one transfer -----------------------------------------------------------------------------


def _median_ratio(flute, audio, shift: float) -> float:
    _, base = run_transfer(audio, 16000, flute, figure=False, f0_method="yin")
    _, shifted = run_transfer(audio, 16000, flute, figure=False, f0_method="yin", pitch_shift=shift)
    return shifted["model_f0_median_hz"] / base["model_f0_median_hz"]


def test_run_transfer_applies_the_pitch_shift(flute, flute_excerpt):
    # Bug caught: the pitch shift ignored (or applied in the wrong direction or unit).
    audio = torch.from_numpy(flute_excerpt[0])
    assert _median_ratio(flute, audio, 5.0) == pytest.approx(2 ** (5 / 12), rel=1e-5)
    assert _median_ratio(flute, audio, -12.0) == pytest.approx(0.5, rel=1e-5)


def test_run_transfer_wav_is_at_the_model_rate_and_whole_frames_long(flute, flute_excerpt):
    # Bugs caught: the WAV written at the upload's rate (32 kHz here) instead of the model's;
    # the partial last frame kept or a frame lost; the WAV not the rendered samples.
    samples, rate = flute_excerpt
    upsampled = torch.from_numpy(np.repeat(samples, 2))  # the same excerpt at 32 kHz
    files, summary = run_transfer(upsampled, 2 * rate, flute, figure=False, f0_method="yin", loudness_shift=-6.0)
    decoded, wav_rate = sf.read(io.BytesIO(files["audio.wav"]), dtype="float32")
    assert wav_rate == 16000 == summary["sample_rate"]
    assert decoded.shape == (EXCERPT_OUTPUT_SAMPLES,) and summary["n_samples"] == EXCERPT_OUTPUT_SAMPLES
    assert summary["duration_s"] == pytest.approx(EXCERPT_OUTPUT_SAMPLES / 16000)
    assert summary["adjustments"]["manual_loudness_shift_db"] == -6.0
    assert 0.01 < np.abs(decoded).max() <= 0.99  # a sound, not clipped


def test_run_transfer_figure_shows_input_then_output(flute, flute_excerpt, monkeypatch):
    # Bug caught: the input's spectrogram (or f0) drawn as the output's, or the two swapped.
    import torchddsp.plots as plots

    seen = {}

    def record(path, source, output, sample_rate, frame_rate, curves):
        seen.update(source=source, output=output, rate=sample_rate, curves=curves)
        path.write_bytes(b"\x89PNG")

    monkeypatch.setattr(plots, "save_transfer_figure", record)
    audio = torch.from_numpy(flute_excerpt[0])
    files, summary = run_transfer(audio, 16000, flute, f0_method="yin", pitch_shift=12.0, reverb=False)
    assert files["figure.png"] == b"\x89PNG" and seen["rate"] == 16000
    decoded = torch.from_numpy(sf.read(io.BytesIO(files["audio.wav"]), dtype="float32")[0])
    torch.testing.assert_close(seen["source"], audio[:EXCERPT_OUTPUT_SAMPLES])
    torch.testing.assert_close(seen["output"], decoded, atol=1 / 32767, rtol=0)
    curves = seen["curves"]
    semitones = summary["adjustments"]["octave_shift_semitones"] + 12.0
    ratio = curves["model_f0_hz"] / curves["input_f0_hz"]  # the output's f0 curve is the shifted one
    np.testing.assert_allclose(ratio, 2 ** (semitones / 12), rtol=1e-4)
    assert len(curves["input_loudness_db"]) == EXCERPT_OUTPUT_SAMPLES // 64


# ---- the synthesizer tab ----------------------------------------------------------------------


@pytest.mark.parametrize("voice", sorted(VOICE_SLIDERS))
def test_sliders_and_base_patches_name_real_parameters_within_range(voice):
    # Bug caught: a misspelt parameter (silently ignored by the patch) or a slider whose range
    # leaves the parameter's (an out-of-[0, 1] patch).
    ranges = make_voice(voice).ranges
    assert set(BASE_PATCHES[voice]) <= set(ranges)
    for slider in VOICE_SLIDERS[voice]:
        assert slider.low <= slider.default <= slider.high
        for target in slider.targets:
            assert ranges[target].minimum <= slider.low and slider.high <= ranges[target].maximum


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


@pytest.mark.parametrize(("midi", "hz"), [(69, 440.0), (57, 220.0)])
def test_render_synth_plays_the_pitch_slider(midi, hz):
    # Bug caught: the sliders' values not reaching the patch (the base patch's pitch plays).
    values = {"pitch": midi, "square_level": 0.0, "noise_level": 0.0, "vibrato_depth": 0.0, "sine_level": 1.0}
    files, summary = render_synth(
        "default", synth_values("default", {k: str(v) for k, v in values.items()}), 1.0, False
    )
    audio, rate = sf.read(io.BytesIO(files["audio.wav"]), dtype="float64")
    assert rate == 44100 == summary["sample_rate"] and audio.shape == (44100,)
    assert abs(_peak_hz(audio[2205:30870], rate) - hz) < 44100 / 28665  # one bin of the sustained part


def test_render_synth_note_length_slider_ends_the_note():
    # Bug caught: the note-length slider wired to another parameter (the note rings on).
    def tail_rms(note_length: float) -> float:
        fields = {"note_length": str(note_length), "adsr_1.release": "0"}
        files, _ = render_synth("default", synth_values("default", fields), 1.0, False)
        audio = sf.read(io.BytesIO(files["audio.wav"]), dtype="float64")[0]
        return float(np.sqrt(np.mean(audio[int(0.5 * 44100) :] ** 2)))

    assert tail_rms(0.3) < 1e-3 < tail_rms(0.9)


def test_synth_values_refuse_unknown_voices_and_values_off_range():
    with pytest.raises(InputError, match="voice must be one of"):
        synth_values("organ", {})
    with pytest.raises(InputError, match=r"pitch must lie in \[36, 96\]"):
        synth_values("default", {"pitch": "200"})
    with pytest.raises(InputError, match="length_s must be a multiple of 0.5"):
        render_synth("rich", synth_values("rich", {}), length_s=0.7)


# ---- catalog and store ------------------------------------------------------------------------


def test_catalog_offers_model_folders_by_name_only(tmp_path):
    # Bugs caught: a bad --models folder accepted until first use; a client-given path
    # loaded; two folders of one name hiding each other.
    for parent in ("a", "b"):
        shutil.copytree(PRETRAINED_DIR / "flute", tmp_path / parent / "mine")
    catalog = ModelCatalog([tmp_path / "a" / "mine", tmp_path / "b" / "mine"], bundled=False)
    assert catalog.names == ["mine", "mine-2"]
    assert catalog.get("mine-2").sample_rate == 16000
    assert catalog.get("mine") is catalog.get("mine")  # loaded once
    with pytest.raises(InputError, match="model must be one of"):
        catalog.get(str(PRETRAINED_DIR / "violin"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        ModelCatalog([tmp_path / "empty"])
    with pytest.raises(InputError, match="not a folder"):
        ModelCatalog([tmp_path / "missing"])


def test_result_store_drops_the_oldest_and_refuses_unknown_files():
    store = ResultStore(capacity=2)
    keys = [store.put({"audio.wav": bytes([i])}) for i in range(3)]
    assert store.get(keys[0], "audio.wav") is None
    assert [store.get(k, "audio.wav") for k in keys[1:]] == [b"\x01", b"\x02"]
    assert store.get(keys[2], "figure.png") is None and len(set(keys)) == 3
    with pytest.raises(ValueError, match="files must be named"):
        store.put({"../../etc/passwd": b""})


@pytest.mark.slow  # a transfer with its figures, or a fresh interpreter: over 2 s
def test_work_modules_import_and_run_without_fastapi():
    # Bug caught: FastAPI imported by a work module (or the CLI), so that torchddsp without the
    # app extra breaks on import; only torchddsp.app.server may need it.
    code = (
        "import sys; sys.modules['fastapi'] = sys.modules['starlette'] = sys.modules['uvicorn'] = None\n"
        "import torchddsp.cli, torchddsp.app.commands, torchddsp.app.synth_work as s\n"
        "print(s.synth_controls()['length_s'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[2.0, 0.5, 4.0]"
