"""The ``torchddsp drums`` subcommand: one drum hit of a class with the requested timbre.

    torchddsp drums --drum snare --brightness 0.7 --depth 0.3 --warmth 0.5 -o OUT.wav

Descriptors are per-class normalised values in [0, 1] (0: the dullest / shallowest / coldest
training hit of that class, 1: the brightest / deepest / warmest); see
:mod:`torchddsp.drums.model`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli_arguments import add_command
from ..cli_arguments import finite_float

__all__ = ["add_drums_commands"]


def _drums(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from ..io import check_output  # noqa: PLC0415
    from ..io import write_audio  # noqa: PLC0415
    from .descriptors import timbre_descriptors  # noqa: PLC0415
    from .model import BUNDLED  # noqa: PLC0415
    from .model import load_drum_model  # noqa: PLC0415
    from .model import request  # noqa: PLC0415

    drum, targets = request(args.drum, args.brightness, args.depth, args.warmth)
    check_output(args.output, option="-o")
    model = load_drum_model(args.model or BUNDLED)
    with torch.no_grad():
        hit = model(drum, targets)[0]
    write_audio(args.output, hit.clamp(-1.0, 1.0), int(model.synth.sample_rate))
    measured = model.normalise(drum, timbre_descriptors(hit[None], model.synth.sample_rate))[0]
    values = ", ".join(
        f"{name} {value:.2f}" for name, value in zip(("brightness", "depth", "warmth"), measured.tolist())
    )
    print(f"wrote {args.output} ({args.drum}; measured {values})")
    return 0


def add_drums_commands(commands: Any) -> None:
    """Add ``drums`` to the subcommands ``commands``."""
    drums = add_command(commands, "drums", "synthesize a drum hit with requested timbre descriptors", _drums)
    drums.add_argument("--drum", required=True, help="kick, snare, tom, hihat or cymbal")
    for name in ("brightness", "depth", "warmth"):
        drums.add_argument(f"--{name}", type=finite_float, default=0.5, help="in [0, 1] (default 0.5)")
    drums.add_argument("-o", "--output", required=True, help="the WAV (or FLAC) to write")
    drums.add_argument("--model", help="a model folder (default: the bundled one)")
