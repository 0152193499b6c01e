"""Long recordings in bounded memory: blocks and chunks give the whole-file result.

Every reference here is the whole-file computation with the existing functions (soundfile's
whole read, the downmix, one ``resample`` call, one ``estimate_f0`` / ``a_weighted_loudness``
call on the whole signal), never the chunked code under test. The chunk boundaries fall
inside notes (checked against the clips' MIDI timings), where a wrong context shows.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from training_support import DATA

from torchddsp.features import a_weighted_loudness
from torchddsp.features import estimate_f0
from torchddsp.features.recording import analysis_chunks
from torchddsp.features.recording import recording_features
from torchddsp.functional import resample
from torchddsp.functional.resampling import resample_blocks
from torchddsp.io import AudioFileError
from torchddsp.io import TruncatedAudioWarning
from torchddsp.io import audio_info
from torchddsp.io import read_audio
from torchddsp.io import read_audio_blocks

CHUNK_SECONDS = 1.2  # every boundary of the violin clip's chunks falls inside a note (checked below)


def _stereo_clip(tmp_path, rate: int, name: str = "violin"):
    """The clip at ``rate`` in stereo (right: the left at 0.6 plus a little noise), as a float WAV."""
    mono, _ = sf.read(DATA / f"{name}.flac", dtype="float32")
    up = resample(torch.from_numpy(mono)[None].double(), 16000, rate)[0].numpy()
    noise = np.random.default_rng(0).standard_normal(len(up)) * 1e-3
    path = tmp_path / f"{name}_{rate}.wav"
    sf.write(path, np.stack([up, 0.6 * up + noise], axis=1).astype(np.float32), rate, subtype="FLOAT")
    return path


def _whole_file_audio(path, rate: int) -> torch.Tensor:
    data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    audio = torch.from_numpy(data.mean(axis=1))
    return resample(audio[None], file_rate, rate)[0] if file_rate != rate else audio


def _whole_file_features(path, rate: int, frame_rate: int, method: str) -> dict:
    audio = _whole_file_audio(path, rate)
    n_frames = audio.shape[0] // (rate // frame_rate)
    f0, confidence = estimate_f0(audio[None], rate, frame_rate, method=method, model="tiny", n_frames=n_frames)
    loudness = a_weighted_loudness(audio[None], rate, frame_rate, n_frames=n_frames)
    return {"f0_hz": f0[0], "confidence": confidence[0], "loudness_db": loudness[0], "n_samples": audio.shape[0]}


def _assert_boundaries_inside_notes(path, rate: int, frame_rate: int, method: str, name: str = "violin") -> None:
    """The chunking really cuts the clip, and only inside notes (not in the silences between)."""
    blocks = read_audio_blocks(path, rate, 4000)
    chunks = analysis_chunks(blocks, rate, frame_rate, method, chunk_frames=round(CHUNK_SECONDS * frame_rate))
    boundaries = [chunk.first_frame / frame_rate for chunk in chunks if len(chunk.features["f0_hz"])][1:]
    assert len(boundaries) >= 5
    notes = json.loads((DATA / f"{name}.json").read_text())["notes"]
    for time_s in boundaries:
        assert any(n["onset_s"] + 0.05 < time_s < n["offset_s"] - 0.05 for n in notes), time_s


def _assert_features_equal(chunked: dict, whole: dict) -> None:
    assert chunked["n_samples"] == whole["n_samples"]
    assert chunked["f0_hz"].shape == whole["f0_hz"].shape
    assert chunked["f0_hz"].dtype == torch.float32
    # f0 in Hz to 1e-5 relative (float32 holds 440 Hz to 3e-5 Hz); the others to 1e-5 absolute.
    torch.testing.assert_close(chunked["f0_hz"], whole["f0_hz"], rtol=1e-5, atol=0.0)
    torch.testing.assert_close(chunked["confidence"], whole["confidence"], rtol=0.0, atol=1e-5)
    torch.testing.assert_close(chunked["loudness_db"], whole["loudness_db"], rtol=0.0, atol=1e-5)


@pytest.mark.parametrize("file_rate", [44100, 48000])
def test_blocks_resampled_in_a_stream_equal_the_whole_file_resampled(tmp_path, file_rate):
    # Catches: the resampler's kept input dropped or misaligned between blocks (clicks at every
    # block edge), a block size that drifts, a downmix that takes one channel.
    path = _stereo_clip(tmp_path, file_rate)
    whole = _whole_file_audio(path, 16000)
    for block_samples in (1000, 4097, 10**7):
        blocks = list(read_audio_blocks(path, 16000, block_samples))
        assert all(b.shape == (block_samples,) for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block_samples
        assert all(b.dtype == torch.float32 for b in blocks)
        joined = torch.cat(blocks)
        assert joined.shape == whole.shape
        torch.testing.assert_close(joined, whole, rtol=0.0, atol=1e-5)
    assert audio_info(path) == (sf.info(path).frames, file_rate, 2)


def test_stream_resampler_with_uneven_blocks_equals_one_call():
    # Catches the same on blocks shorter than the filter (7 samples) and of odd sizes.
    signal = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 30011))).float()
    for orig, new in ((44100, 16000), (48000, 16000), (16000, 44100)):
        sizes = [7, 1, 4410, 0, 333, 20000]
        pieces, start = [], 0
        while start < signal.shape[1]:
            size = sizes[len(pieces) % len(sizes)]
            pieces.append(signal[:, start : start + size])
            start += size
        joined = torch.cat(list(resample_blocks(pieces, orig, new)), dim=-1)
        torch.testing.assert_close(joined, resample(signal, orig, new), rtol=0.0, atol=1e-5)


def test_resample_of_nothing_is_nothing():
    # Catches: zero samples crashing in the polyphase convolution (it used to raise RuntimeError);
    # scipy.signal.resample_poly also returns an empty array.
    for orig, new in ((48000, 16000), (16000, 44100), (44100, 44100)):
        out = resample(torch.zeros(2, 0), orig, new)
        assert out.shape == (2, 0)
    assert torch.cat(list(resample_blocks([torch.zeros(1, 0)], 48000, 16000)), dim=-1).shape == (1, 0)


@pytest.mark.parametrize("model_rate", [16000, 48000])
def test_yin_and_loudness_in_chunks_equal_the_whole_file(tmp_path, model_rate):
    # Catches: a context one sample short on either side, chunks not starting on the frame
    # grid, a frame dropped or repeated at a chunk edge, the last partial chunk lost.
    path = _stereo_clip(tmp_path, 48000)
    _assert_boundaries_inside_notes(path, model_rate, 250, "yin")
    chunked = recording_features(path, model_rate, 250, "yin", chunk_s=CHUNK_SECONDS)
    _assert_features_equal(chunked, _whole_file_features(path, model_rate, 250, "yin"))
    # The notes are there: a chunk of silence would pass the equality too.
    assert (chunked["confidence"] > 0.85).float().mean() > 0.5


@pytest.mark.slow  # over 2 s: make test runs it, make test-fast does not
@pytest.mark.parametrize("model_rate", [16000, 48000])  # CREPE tiny twice over an 8 s clip: 1.4 s
def test_crepe_in_chunks_equals_the_whole_file(tmp_path, model_rate):
    # Catches: CREPE's own resampling to 16 kHz cut without context or off its phase grid
    # (model_rate 48000), a 1024-sample frame without its half-frame of context.
    path = _stereo_clip(tmp_path, 44100)
    chunked = recording_features(path, model_rate, 250, "crepe", crepe_model="tiny", chunk_s=CHUNK_SECONDS)
    _assert_features_equal(chunked, _whole_file_features(path, model_rate, 250, "crepe"))
    assert (chunked["confidence"] > 0.85).float().mean() > 0.5


def test_bad_arguments_and_files_are_named(tmp_path):
    path = _stereo_clip(tmp_path, 16000)
    with pytest.raises(ValueError, match="block_samples"):
        next(read_audio_blocks(path, 16000, 0))
    with pytest.raises(ValueError, match="chunk_s"):
        recording_features(path, 16000, 250, "yin", chunk_s=float("nan"))
    with pytest.raises(ValueError, match="frame_rate"):
        recording_features(path, 16000, 300, "yin")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not audio at all")
    with pytest.raises(AudioFileError, match="broken.wav"):
        next(read_audio_blocks(broken, 16000, 1000))
    with pytest.raises(AudioFileError, match="broken.wav"):
        audio_info(broken)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), 16000)
    with pytest.raises(AudioFileError, match="empty.wav: the file holds no audio"):
        list(read_audio_blocks(empty, 16000, 1000))
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full((100, 1), np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="nan.wav: the file holds NaN"):
        list(read_audio_blocks(nan, 16000, 1000))


def test_a_truncated_wav_is_read_with_a_warning_giving_the_missing_time(tmp_path):
    # Catches: a WAV cut short (an interrupted copy) used silently as if complete.
    rate = 16000
    path = tmp_path / "cut.wav"
    sf.write(path, np.zeros((rate * 2, 2), np.float32) + 0.1, rate, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - rate * 2 * 2 // 4])  # the last quarter second gone
    with pytest.warns(TruncatedAudioWarning, match=r"cut\.wav is truncated.* 0\.250 s"):
        blocks = list(read_audio_blocks(path, rate, 5000))
    assert sum(len(b) for b in blocks) == rate * 7 // 4
    with pytest.warns(TruncatedAudioWarning, match=r"cut\.wav"):
        read_audio(path, rate)
    whole = tmp_path / "whole.wav"
    whole.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete file: no warning
        list(read_audio_blocks(whole, rate, 5000))
