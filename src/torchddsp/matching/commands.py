"""The ``torchddsp match`` subcommand: estimate a voice's parameters from a sound.

    torchddsp match AUDIO --voice rich --model rich -o OUT.wav [--json OUT.json] [--midi-note 57]
        [--refine-steps 30]

Writes the voice's render of the match (``OUT.wav``) and the parameters in human units
(``OUT.json`` beside it unless ``--json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..cli_arguments import add_command
from ..cli_arguments import finite_float
from ..cli_arguments import non_negative_int

__all__ = ["add_matching_commands"]


def _match(args: argparse.Namespace) -> int:
    from ..io import read_audio  # noqa: PLC0415
    from ..io import write_audio  # noqa: PLC0415
    from ..io import write_text_atomic  # noqa: PLC0415
    from ..validation import InputError  # noqa: PLC0415
    from .matcher import match_audio  # noqa: PLC0415
    from .network import load_estimator  # noqa: PLC0415

    model = load_estimator(args.model)
    if model.setup.voice != args.voice:
        raise InputError(f"voice: the model matches the {model.setup.voice!r} voice, found --voice {args.voice!r}")
    output = Path(args.output)
    if output.suffix.lower() != ".wav":
        raise InputError(f"output must be a .wav path, found {str(output)!r}")
    json_path = Path(args.json) if args.json else output.with_suffix(".json")
    rate = int(model.setup.sample_rate)
    human, rendered = match_audio(model, read_audio(args.audio, rate), args.midi_note, args.refine_steps)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_audio(output, rendered, rate)
    record = {
        "voice": model.setup.voice,
        "model": str(args.model),
        "refine_steps": args.refine_steps,
        "parameters": human,
        "units": _units(model),
    }
    write_text_atomic(json_path, json.dumps(record, indent=1))
    print(f"wrote {output} and {json_path}")
    return 0


def _units(model: Any) -> dict[str, str]:
    ranges = model.setup.make_voice().ranges
    return {name: ranges[name].unit for name in ("keyboard.midi_f0", *model.setup.free)}


def add_matching_commands(commands: Any) -> None:
    """Add ``match`` to the subcommands ``commands``."""
    match = add_command(commands, "match", "estimate a synthesizer voice's parameters from a sound", _match)
    match.add_argument("audio", help="the sound to match (any soundfile-readable file)")
    match.add_argument("--voice", default="rich", help="the voice (the model's; default rich)")
    match.add_argument("--model", default="rich", help="a model folder or a bundled name (default rich)")
    match.add_argument("-o", "--output", required=True, help="the rendered match (.wav)")
    match.add_argument("--json", help="the parameters' JSON (default: beside --output)")
    match.add_argument("--midi-note", type=finite_float, help="the pitch as a MIDI note (default: YIN estimate)")
    match.add_argument("--refine-steps", type=non_negative_int, default=0, help="gradient steps after the network")
