"""Run a :class:`~torchddsp.streaming.transfer.TransferStream` as a real-time host would: fixed
blocks, each timed, over a file (:func:`stream_file`, what ``torchddsp stream`` runs) or a
sound card (:class:`LiveCallback`, the ``--live`` mode; the same code in the audio callback).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import check_output
from ..io import read_audio
from ..io import write_audio
from ..io import write_text_atomic
from ..validation import InputError
from ..validation import check_positive_int
from .transfer import StreamState
from .transfer import TransferStream

__all__ = ["stream_file", "block_report", "LiveCallback", "run_live"]


def block_report(stream: TransferStream, block: int, seconds: list[float], n_samples: int) -> dict[str, Any]:
    """The JSON report of a run: real-time factor (compute time / audio time), per-block compute
    time percentiles in ms and as a share of the block's duration, the algorithmic latency, the
    threads and the machine's load (what the figures were measured under)."""
    times = np.asarray(seconds, dtype=np.float64) * 1000.0
    block_ms = 1000.0 * block / stream.sample_rate
    p50, p99, worst = (float(np.percentile(times, q)) for q in (50, 99, 100)) if len(times) else (0.0, 0.0, 0.0)
    return {
        "sample_rate": stream.sample_rate,
        "block": block,
        "block_ms": block_ms,
        "n_blocks": len(times),
        "real_time_factor": float(times.sum() / (1000.0 * n_samples / stream.sample_rate)) if n_samples else 0.0,
        "block_time_ms": {"p50": p50, "p99": p99, "max": worst},
        "block_time_share": {"p50": p50 / block_ms, "p99": p99 / block_ms, "max": worst / block_ms},
        "latency_samples": stream.latency_samples,
        "latency_ms": 1000.0 * stream.latency_s,
        "f0_method": stream.f0_method,
        "threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
    }


def stream_file(
    input_path: str | Path, output_path: str | Path, stream: TransferStream, block: int = 256
) -> dict[str, Any]:
    """Stream a file through ``stream`` in blocks of ``block`` samples, timing each call.

    The input is read and resampled to the model's rate first (a host runs at that rate); then
    blocks go in one by one, the last padded with silence, followed by enough silent blocks to
    flush the latency. The output WAV is what the host would play, from the first block on:
    the first ``latency_samples`` are the stream's delay. Writes ``output_path`` and its JSON
    report (``.json`` beside it: :func:`block_report`), returns the report.
    """
    block = check_positive_int("block", block)
    output_path = check_output(Path(output_path), (Path(input_path),), "--output", create_parent=True)
    report_path = check_output(output_path.with_suffix(".json"), (Path(input_path),), "--output's report")
    audio = read_audio(input_path, stream.sample_rate)
    if audio.numel() == 0:
        raise InputError(f"input {input_path} has no samples")
    total = audio.shape[-1] + stream.latency_samples
    padded = torch.nn.functional.pad(audio, (0, -total % block + total - audio.shape[-1]))
    state: StreamState = stream.start()
    outputs, seconds = [], []
    for start in range(0, padded.shape[-1], block):
        begin = time.perf_counter()
        out, state = stream.process(padded[start : start + block], state)
        seconds.append(time.perf_counter() - begin)
        outputs.append(out)
    rendered = torch.cat(outputs, dim=1)[0]
    write_audio(output_path, rendered, stream.sample_rate)
    report = block_report(stream, block, seconds, padded.shape[-1])
    write_text_atomic(report_path, _dumps(report))
    return report


def _dumps(report: dict[str, Any]) -> str:
    import json  # noqa: PLC0415

    return json.dumps(report, indent=1)


class LiveCallback:
    """A sounddevice ``Stream`` callback: ``callback(indata, outdata, frames, time, status)``
    reads the first input channel, runs :meth:`TransferStream.process` (the same code as a
    file), and writes every output channel. Its state lives in the object between calls, as
    an audio callback has nowhere else to keep it; per-call compute times are kept in
    ``seconds``. Called directly (tests, other hosts) it needs only numpy arrays.
    """

    def __init__(self, stream: TransferStream):
        self.stream = stream
        self.state: StreamState = stream.start()
        self.seconds: list[float] = []

    def __call__(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        begin = time.perf_counter()
        block = torch.from_numpy(np.ascontiguousarray(indata[:frames, 0], dtype=np.float32))
        out, self.state = self.stream.process(block, self.state)
        outdata[:frames] = out[0].numpy()[:, None]
        self.seconds.append(time.perf_counter() - begin)


def run_live(
    stream: TransferStream, block: int = 256, seconds: float | None = None
) -> LiveCallback:  # pragma: no cover
    """Play ``stream`` live from the default input to the default output (``pip install
    'torchddsp[live]'``) until Ctrl-C or ``seconds``; returns the callback (its timings)."""
    try:
        import sounddevice  # noqa: PLC0415
    except ImportError:
        raise InputError("--live needs sounddevice: pip install 'torchddsp[live]'") from None
    callback = LiveCallback(stream)
    with sounddevice.Stream(
        samplerate=stream.sample_rate, blocksize=block, channels=1, dtype="float32", callback=callback
    ):
        if seconds is None:
            while True:
                time.sleep(0.5)
        time.sleep(seconds)
    return callback
