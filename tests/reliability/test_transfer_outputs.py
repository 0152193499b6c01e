"""transfer_file's outputs (issue 12 items 3 and 4): never an input, never through a symbolic
link, each written atomically, refused before any work; the file path renders in chunks and
writes the same WAV as the in-memory path (transfer + write_transfer)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import torchddsp.models.chunked as chunked_module
import torchddsp.transfer.files as files_module
import torchddsp.transfer.in_memory as in_memory_module
from torchddsp.io import TEMPORARY_MARK
from torchddsp.io import read_audio
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer
from torchddsp.transfer import transfer_file
from torchddsp.transfer import write_transfer

RATE = 16000  # the bundled model's rate: no resampling, so the tests stay fast


@pytest.fixture(scope="module")
def violin():
    return load_model("violin")


def _melody(seconds: float) -> np.ndarray:
    """A sung-like line: three notes with vibrato, stereo (the file path downmixes)."""
    t = np.arange(int(seconds * RATE)) / RATE
    notes = 330.0 * 2 ** (np.floor(t / 0.5) % 3 * 2 / 12)
    phase = 2 * np.pi * np.cumsum(notes * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / RATE
    mono = 0.4 * np.sin(phase) * np.minimum(1.0, t * 20)
    return np.stack([mono, 0.5 * mono], axis=1).astype(np.float32)


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "in.wav"
    sf.write(path, _melody(1.0), RATE)
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail if any analysis starts: refusals must come before the expensive work."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the features were computed before the outputs were checked")

    monkeypatch.setattr(files_module, "recording_features", forbidden)


def test_output_is_input_refused(recording, violin, no_work):
    before = recording.read_bytes()
    with pytest.raises(ValueError, match="--output .*in.wav is also an input"):
        transfer_file(recording, violin, recording, f0_method="yin")
    os.link(recording, recording.parent / "hard.wav")  # the same file under another name
    with pytest.raises(ValueError, match="is also an input"):
        transfer_file(recording, violin, recording.parent / "hard.wav", f0_method="yin")
    assert recording.read_bytes() == before


def test_symlinked_outputs_refused(recording, violin, no_work, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "out.wav").symlink_to(target)
    with pytest.raises(ValueError, match="--output .*out.wav is a symbolic link"):
        transfer_file(recording, violin, tmp_path / "out.wav", f0_method="yin")
    for companion in ("png", "json"):
        (tmp_path / f"b.{companion}").symlink_to(target)
        with pytest.raises(ValueError, match=f"b.{companion} is a symbolic link"):
            transfer_file(recording, violin, tmp_path / "b.wav", f0_method="yin")
        (tmp_path / f"b.{companion}").unlink()
    assert target.read_text() == "keep me"
    assert not (tmp_path / "b.wav").exists()


def test_companion_that_is_the_input_refused(tmp_path, violin, no_work):
    """The PNG/JSON written beside out.wav must not replace the input either."""
    for companion in ("png", "json"):
        source = tmp_path / f"out.{companion}"  # a WAV under that name: soundfile reads it
        sf.write(source, _melody(0.2), RATE, format="WAV")
        before = source.read_bytes()
        with pytest.raises(ValueError, match=f"out.{companion} is also an input"):
            transfer_file(source, violin, tmp_path / "out.wav", f0_method="yin")
        assert source.read_bytes() == before
        source.unlink()


@pytest.mark.parametrize("name", ["out.png", "out.json", "out", "out.xyz"])
def test_output_name_must_be_audio(recording, violin, no_work, name):
    with pytest.raises(ValueError, match="expected an audio file name"):
        transfer_file(recording, violin, recording.parent / name, f0_method="yin")


def test_write_transfer_refuses_symlink(recording, violin, tmp_path):
    result = transfer(read_audio(recording, RATE), RATE, violin, f0_method="yin")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "out.wav").symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        write_transfer(result, tmp_path / "out.wav")
    assert target.read_text() == "keep me"


def test_failure_leaves_old_output_and_no_temporaries(recording, violin, monkeypatch, tmp_path):
    """A failure in the middle of rendering: the old output stays whole, nothing is left behind."""
    output = tmp_path / "out.wav"
    output.write_bytes(b"old")
    real = chunked_module.render_chunk
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(chunked_module, "render_chunk", failing)
    with pytest.raises(OSError):
        transfer_file(recording, violin, output, f0_method="yin", chunk_s=0.2)
    assert output.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if TEMPORARY_MARK in p.name]
    assert not output.with_suffix(".png").exists() and not output.with_suffix(".json").exists()


def _pcm(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="int16")
    assert rate == RATE
    return data.astype(np.int64)


def test_short_input_same_files_as_memory(recording, violin, tmp_path):
    """Input shorter than one chunk: the very same WAV samples and JSON as in memory."""
    memory = write_transfer(transfer(read_audio(recording, RATE), RATE, violin, f0_method="yin"), tmp_path / "m.wav")
    info = transfer_file(recording, violin, tmp_path / "f.wav", f0_method="yin")
    assert [p.name for p in info["written"]] == [p.name.replace("m.", "f.") for p in memory]
    assert np.array_equal(_pcm(tmp_path / "f.wav"), _pcm(tmp_path / "m.wav"))
    assert sf.info(tmp_path / "f.wav").subtype == sf.info(tmp_path / "m.wav").subtype == "PCM_16"
    assert (tmp_path / "f.json").read_text() == (tmp_path / "m.json").read_text()


def test_small_chunks_scale_once(recording, violin, tmp_path):
    """Chunks of 0.25 s (features and render), an output loud enough to be scaled: one gain
    for the whole file (peak 0.9), the samples those of the in-memory path. The tolerance, 1e-4
    of full scale, is the float rounding of the chunked features (f0 within 3e-5 Hz) carried
    through the phase; scaling each chunk by its own peak is off by 1e-1."""
    room = torch.zeros(400)
    room[[37, 211]] = torch.tensor([2.0, -1.5])  # another room, with loud echoes
    options = dict(f0_method="yin", loudness_shift=10.0, reverb_ir=room)
    result = transfer(read_audio(recording, RATE), RATE, violin, **options)
    assert float(result["audio"].abs().max()) > 1.5  # the file is scaled
    write_transfer(result, tmp_path / "m.wav")
    transfer_file(recording, violin, tmp_path / "f.wav", chunk_s=0.25, **options)
    chunked, memory = _pcm(tmp_path / "f.wav"), _pcm(tmp_path / "m.wav")
    assert chunked.shape == memory.shape == (len(result["audio"]),)
    assert abs(np.abs(chunked).max() - 0.9 * 32768) <= 2  # scaled to 0.9, as a whole
    assert np.abs(chunked - memory).max() <= 1e-4 * 32768


def test_figure_is_an_excerpt(recording, violin, tmp_path, monkeypatch):
    """The PNG of a long recording shows its first FIGURE_SECONDS, not the whole (memory)."""
    import torchddsp.plots as plots

    if not plots.have_matplotlib():
        pytest.skip("matplotlib is not installed")
    seen = {}

    def capture(path, source, output, sample_rate, frame_rate, curves):
        seen.update(source=len(source), output=len(output), curves={k: len(v) for k, v in curves.items()})
        Path(path).write_bytes(b"png")

    monkeypatch.setattr(plots, "save_transfer_figure", capture)
    monkeypatch.setattr(in_memory_module, "FIGURE_SECONDS", 0.5)
    transfer_file(recording, violin, tmp_path / "f.wav", f0_method="yin", chunk_s=0.3)
    frames = int(0.5 * violin.frame_rate)
    assert seen["source"] == seen["output"] == frames * violin.config.model.hop_size
    assert set(seen["curves"].values()) == {frames}
    assert (tmp_path / "f.png").read_bytes() == b"png"


def test_z_model_falls_back_to_memory(recording, tmp_path):
    """A model with a z encoder cannot render in chunks: transfer_file transfers it in memory,
    the same files as transfer + write_transfer."""
    from torchddsp.models import Autoencoder
    from torchddsp.training import ExperimentConfig
    from torchddsp.transfer import LoadedModel

    config = ExperimentConfig.from_dict(
        {"name": "z", "model": {"hidden_size": 8, "rnn_size": 8, "layers_per_stack": 1, "z_dims": 2, "reverb_s": 0.01}}
    )
    torch.manual_seed(0)
    loaded = LoadedModel(Autoencoder(config.model).eval(), config)
    write_transfer(transfer(read_audio(recording, RATE), RATE, loaded, f0_method="yin"), tmp_path / "m.wav")
    transfer_file(recording, loaded, tmp_path / "f.wav", f0_method="yin", chunk_s=0.2)
    assert np.array_equal(_pcm(tmp_path / "f.wav"), _pcm(tmp_path / "m.wav"))


def test_analysis_options_reach_the_chunked_file_path(recording, violin, tmp_path):
    """The stream's analysis settings (YIN's range, the loudness window) give the same file
    through transfer_file, in 0.25 s chunks, as in memory. A wider loudness window (1024, not
    512) catches chunks cut with the default context (their edge frames would read zeros), and
    options dropped on the way (the file would be the default analysis's)."""
    options = dict(f0_method="yin", yin_options={"min_hz": 100.0}, loudness_n_fft=1024, loudness_shift=6.0)
    write_transfer(transfer(read_audio(recording, RATE), RATE, violin, **options), tmp_path / "m.wav")
    transfer_file(recording, violin, tmp_path / "f.wav", chunk_s=0.25, **options)
    chunked, memory = _pcm(tmp_path / "f.wav"), _pcm(tmp_path / "m.wav")
    assert chunked.shape == memory.shape
    assert np.abs(chunked - memory).max() <= 1e-4 * 32768
    default = write_transfer(
        transfer(read_audio(recording, RATE), RATE, violin, f0_method="yin", loudness_shift=6.0), tmp_path / "d.wav"
    )
    assert default and np.abs(_pcm(tmp_path / "d.wav") - memory).max() > 1e-2 * 32768  # the options matter
