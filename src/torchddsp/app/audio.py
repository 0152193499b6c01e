"""Audio in and out of the web app: an uploaded file's bytes to samples, samples to WAV bytes.

An upload is only ever *decoded* (libsndfile through soundfile, from memory): it is never
written under its own name, never opened by another program and never executed.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["decode_upload", "wav_bytes"]


def decode_upload(data: bytes, max_duration_s: float = 60.0) -> tuple[Tensor, int]:
    """The samples of an uploaded audio file (WAV, FLAC, OGG...; anything libsndfile reads),
    downmixed to mono, and its sample rate.

    Shape: ``data`` (the file's bytes) -> ``((n_samples,) float32, sample_rate)``.

    Raises :class:`InputError` with a message for the page: empty or unreadable data, no
    samples, NaN or infinite samples, or longer than ``max_duration_s``.

    Example:
        >>> audio, rate = decode_upload(wav_bytes(torch.zeros(800), 16000))
        >>> audio.shape, rate
        (torch.Size([800]), 16000)
    """
    check_positive("max_duration_s", max_duration_s)
    if not data:
        raise InputError("the uploaded file is empty")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:  # soundfile raises several types for data that is not audio
        raise InputError("the uploaded file is not audio that can be read (use WAV, FLAC, OGG or MP3)") from None
    if samples.size == 0:
        raise InputError("the uploaded file holds no audio samples")
    if samples.shape[0] > max_duration_s * rate:
        raise InputError(
            f"the uploaded audio lasts {samples.shape[0] / rate:.1f} s; this server takes at most {max_duration_s:g} s"
        )
    if not np.isfinite(samples).all():
        raise InputError("the uploaded file holds NaN or infinite samples")
    return torch.from_numpy(samples.mean(axis=1)), int(rate)


def wav_bytes(audio: Tensor, sample_rate: int) -> bytes:
    """A 16-bit PCM mono WAV file of ``audio`` at ``sample_rate``, in memory (samples beyond
    [-1, 1] clip: callers scale first).

    Shape: ``audio`` ``(n_samples,)``.

    Example:
        >>> data = wav_bytes(torch.zeros(160), 16000)
        >>> data[:4], len(data)  # a 44-byte header, then 2 bytes per sample
        (b'RIFF', 364)
    """
    check_rank("audio", audio, 1, "(n_samples,)")
    rate = check_positive_int("sample_rate", sample_rate)
    buffer = io.BytesIO()
    sf.write(buffer, audio.detach().cpu().float().numpy(), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
