"""The ``torchddsp style`` subcommand: make a recording sound like a reference (EQ, compressor
and gain settings predicted by a style-transfer model).

    torchddsp style INPUT --reference REF -o OUT.wav [--json OUT.json] [--model FOLDER]

Writes the processed input (``OUT.wav``, 32-bit float so that a boost never clips) and the
predicted settings in human units (``OUT.json`` beside it unless ``--json``). The bundled model
(``torchddsp/pretrained/style``) is used unless ``--model``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..cli_arguments import add_command

__all__ = ["add_style_commands", "BUNDLED_STYLE_MODEL"]

BUNDLED_STYLE_MODEL = Path(__file__).resolve().parent.parent / "pretrained" / "style"


def _style(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from ..io import check_output  # noqa: PLC0415
    from ..io import read_audio  # noqa: PLC0415
    from ..io import write_audio  # noqa: PLC0415
    from ..io import write_text_atomic  # noqa: PLC0415
    from ..validation import InputError  # noqa: PLC0415
    from .model import load_style_model  # noqa: PLC0415
    from .settings import settings_to_json  # noqa: PLC0415

    output = Path(args.output)
    if output.suffix.lower() != ".wav":
        raise InputError(f"--output must be a .wav path, found {str(output)!r}")
    json_path = Path(args.json) if args.json else output.with_suffix(".json")
    if json_path.suffix.lower() != ".json":
        raise InputError(f"--json must be a .json path, found {str(json_path)!r}")
    model_dir = Path(args.model) if args.model else BUNDLED_STYLE_MODEL
    inputs = (args.input, args.reference, model_dir)
    check_output(output, inputs, "--output")
    check_output(json_path, inputs, "--json")
    model = load_style_model(model_dir)
    rate = int(model.sample_rate)
    audio, reference = read_audio(args.input, rate)[None], read_audio(args.reference, rate)[None]
    minimum = model.encoder.mel.n_fft
    for name, clip in (("INPUT", audio), ("--reference", reference)):
        if clip.shape[-1] < minimum:
            raise InputError(f"{name} is too short: at least {minimum} samples ({minimum / rate:.3f} s) at {rate} Hz")
    with torch.no_grad():
        processed, normalized = model(audio, reference)
    write_audio(output, processed[0], rate, subtype="FLOAT")
    record = {"model": str(model_dir), "sample_rate": rate, "settings": settings_to_json(normalized)[0]}
    write_text_atomic(json_path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {output} and {json_path}")
    return 0


def add_style_commands(commands: Any) -> None:
    """Add ``style`` to the subcommands ``commands``."""
    style = add_command(commands, "style", "make a recording sound like a reference (EQ, compressor, gain)", _style)
    style.add_argument("input", metavar="INPUT", help="audio file to process")
    style.add_argument("--reference", required=True, metavar="REF", help="audio file whose style to match")
    style.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    style.add_argument("--json", metavar="OUT.json", help="predicted settings (default: beside OUT.wav)")
    style.add_argument("--model", metavar="FOLDER", help="a style model folder (default: the bundled model)")
