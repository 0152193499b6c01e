"""The ``torchddsp piano`` subcommand: play a Standard MIDI File with a piano model.

```
torchddsp piano MIDI --model piano -o OUT.wav [--seed 0] [--gain-db 0]
```
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli_arguments import add_command
from ..cli_arguments import finite_float

__all__ = ["add_piano_commands"]


def _piano(args: argparse.Namespace) -> int:
    from ..io import check_output  # noqa: PLC0415
    from ..io import write_audio  # noqa: PLC0415
    from .render import load_piano_model  # noqa: PLC0415
    from .render import render_midi  # noqa: PLC0415

    output = check_output(args.output, [args.midi], option="--output")
    model = load_piano_model(args.model)
    audio = render_midi(model, args.midi, seed=args.seed)[0] * 10.0 ** (args.gain_db / 20.0)
    peak = float(audio.abs().max()) if audio.numel() else 0.0
    write_audio(output, audio.clamp(-1.0, 1.0), model.config.sample_rate)
    seconds = audio.shape[-1] / model.config.sample_rate
    print(f"wrote {output} ({seconds:.2f} s at {model.config.sample_rate} Hz, peak {peak:.3f})")
    return 0


def add_piano_commands(commands: Any) -> None:
    """Add ``piano`` to the subcommands ``commands``."""
    piano = add_command(commands, "piano", "play a MIDI file with a piano model", _piano)
    piano.add_argument("midi", metavar="MIDI", help="Standard MIDI File (format 0 or 1)")
    piano.add_argument("--model", default="piano", help="'piano' (bundled) or a piano model folder")
    piano.add_argument("-o", "--output", required=True, help="audio file to write (.wav, .flac, ...)")
    piano.add_argument("--seed", type=int, default=0, help="seed of the noise")
    piano.add_argument("--gain-db", type=finite_float, default=0.0, help="gain before writing (clipped to +-1)")
