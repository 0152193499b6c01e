"""Write the streaming step (:mod:`torchddsp.streaming.step`) as a TorchScript or ONNX file,
with a JSON sidecar that tells a host how to call it.

    info = export_step("violin", "violin.onnx", format="onnx", block=256)
    # violin.onnx + violin.onnx.json: inputs "audio" (1, 256) and the state tensors; outputs
    # "audio_out" and "next_<name>" for each state tensor, fed back as "<name>" next call.

One route serves both formats: ``torch.export`` traces the step once into a graph of ATen
operations with fixed shapes (the step's Python checks and helpers run then, not in the file);
the ONNX file is that graph through the dynamo exporter (opset 20), the TorchScript file that
graph traced by ``torch.jit.trace`` (it loads with ``torch.jit.load`` alone, torchddsp not
installed). The initial state is zeros but for the frame counter (its value is in the sidecar).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..io import atomic_path
from ..io import write_text_atomic
from ..transfer.in_memory import LoadedModel
from ..transfer.in_memory import load_model
from ..validation import InputError
from ..validation import check_choice
from ..validation import data_checks
from .step import ControlsStep
from .step import TransferStep
from .transfer import TransferStream

__all__ = ["export_step", "build_step", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("torchscript", "onnx")
ONNX_OPSET = 20


def build_step(
    model: LoadedModel | str, block: int = 256, controls_in: bool = False, **stream_options: Any
) -> TransferStep | ControlsStep:
    """The step module to export: :class:`TransferStep` of ``TransferStream(model,
    **stream_options)``, or with ``controls_in`` the :class:`ControlsStep` of the model (then
    only ``seed``, ``reverb`` and ``reverb_ir`` apply)."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if controls_in:
        unused = set(stream_options) - {"seed", "reverb", "reverb_ir"}
        if unused:
            raise InputError(f"controls_in=True takes no feature or adjustment options, found {sorted(unused)}")
        return ControlsStep(loaded.model, block, **stream_options).eval()
    return TransferStep(TransferStream(loaded, **stream_options), block).eval()


def io_names(step: TransferStep | ControlsStep) -> tuple[list[str], list[str]]:
    """The graph's input and output names: the block's, then the state's."""
    inputs = ["f0_hz", "loudness_db"] if isinstance(step, ControlsStep) else ["audio"]
    return inputs + list(step.state_names()), ["audio_out"] + [f"next_{name}" for name in step.state_names()]


def example_inputs(step: TransferStep | ControlsStep) -> tuple[Tensor, ...]:
    """Inputs of the right shapes: silence (or a steady 220 Hz at -40 dB) and the initial state."""
    if isinstance(step, ControlsStep):
        frames = (torch.full((1, step.n_frames), 220.0), torch.full((1, step.n_frames), -40.0))
        return (*frames, *step.initial_state())
    return (torch.zeros(1, step.block), *step.initial_state())


def _spec(name: str, value: Tensor) -> dict[str, Any]:
    return {"name": name, "shape": list(value.shape), "dtype": str(value.dtype).replace("torch.", "")}


def sidecar(step: TransferStep | ControlsStep, file_format: str, model_name: str) -> dict[str, Any]:
    """What a host needs to call the exported step: rates, sizes, latency, tensor names."""
    inputs, outputs = io_names(step)
    example = example_inputs(step)
    initial = dict(zip(step.state_names(), step.initial_state()))
    info: dict[str, Any] = {
        "format": file_format,
        "model": model_name,
        "step": type(step).__name__,
        "sample_rate": int(step.sample_rate),
        "block": step.block,
        "hop": step.hop,
        "frames_per_block": step.n_frames,
        "latency_samples": step.latency_samples,
        "latency_ms": round(1000.0 * step.latency_samples / step.sample_rate, 3),
        "f0_method": None if isinstance(step, ControlsStep) else step.settings.f0_method,
        "inputs": [_spec(name, value) for name, value in zip(inputs, example)],
        "outputs": [_spec(name, value) for name, value in zip(outputs, step(*example))],
        "state": [
            {**_spec(name, value), "initial": "zeros" if not value.any() else value.tolist()}
            for name, value in initial.items()
        ],
        "feedback": "call k + 1 takes output next_<name> of call k as input <name>; the first call takes 'initial'",
        # A loaded TorchScript module specialises itself on its first calls (30-140 ms each).
        "warm_up": "run about 3 calls on a copy of the initial state before audio starts",
        "versions": _versions(),
    }
    return info


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"torch": torch.__version__}
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return versions


def _write(step: TransferStep | ControlsStep, path: Path, file_format: str) -> None:
    """Trace ``step`` once (``torch.export``) and write the graph in ``file_format`` to ``path``."""
    example = example_inputs(step)
    with data_checks(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' notes on unused features
        program = torch.export.export(step, example)
        with atomic_path(path) as temporary:
            if file_format == "torchscript":
                traced = torch.jit.trace(program.module(), example, check_trace=False)
                torch.jit.save(traced, str(temporary))
            else:
                inputs, outputs = io_names(step)
                torch.onnx.export(
                    program,
                    example,
                    str(temporary),
                    dynamo=True,
                    opset_version=ONNX_OPSET,
                    external_data=False,
                    input_names=inputs,
                    output_names=outputs,
                    verbose=False,
                )


def export_step(
    model: LoadedModel | str,
    path: str | Path,
    format: str = "torchscript",  # noqa: A002 (the CLI's word)
    block: int = 256,
    controls_in: bool = False,
    **stream_options: Any,
) -> dict[str, Any]:
    """Write the streaming step to ``path`` and its sidecar to ``<path>.json``; return the sidecar.

    Args:
        model: a :class:`~torchddsp.transfer.LoadedModel`, a bundled name or a run folder.
        path: the file to write (replaced atomically, as is the sidecar).
        format: ``"torchscript"`` or ``"onnx"`` (needs ``onnx`` and ``onnxscript``: the
            ``[export]`` extra).
        block: samples per call, a positive multiple of the model's hop size.
        controls_in: export the synthesis half (f0 and loudness frames in) instead.
        stream_options: of :class:`~torchddsp.streaming.transfer.TransferStream` (``f0_method``,
            ``min_hz``, ``input_statistics``, ``pitch_shift``, ``reverb``, ``seed``...).
            ``crepe_convolution`` defaults to each format's faster form that exports:
            ``"fft"`` for TorchScript, ``"direct"`` for ONNX (its exporter cannot convert the
            FFT path's complex matrix product).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> info = export_step("flute", folder / "flute.pt", block=256, auto_adjust=False)
        >>> info["latency_samples"], info["inputs"][0], sorted(p.name for p in folder.iterdir())
        (319, {'name': 'audio', 'shape': [1, 256], 'dtype': 'float32'}, ['flute.pt', 'flute.pt.json'])
    """
    check_choice("format", format, EXPORT_FORMATS)
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"path's folder {str(path.parent)!r} does not exist")
    if not controls_in:
        stream_options.setdefault("crepe_convolution", "fft" if format == "torchscript" else "direct")
    step = build_step(model, block, controls_in, **stream_options)
    _write(step, path, format)
    name = model if isinstance(model, str) else type(model).__name__
    info = sidecar(step, format, str(name))
    write_text_atomic(path.with_name(path.name + ".json"), json.dumps(info, indent=2) + "\n")
    return info
