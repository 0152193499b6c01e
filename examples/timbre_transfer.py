"""Timbre transfer with the bundled models: a voice melody played by a violin and a flute.

DDSP's timbre transfer in four lines of the Python API (what ``make demo`` runs):

1. read any monophonic recording (here the bundled ``voice_melody.flac``, "Ode to Joy" on
   "oo" by the FluidR3 soundfont's "Voice Oohs");
2. ``transfer(audio, sample_rate, "violin")`` measures its pitch (CREPE) and loudness
   (A-weighted), shifts the pitch by octaves toward the violin's training range, maps the
   loudness onto the violin's, and renders both curves with the violin model: a neural
   network predicts harmonic amplitudes and filtered noise, frame by frame, and a learned
   reverb adds the room;
3. ``write_transfer`` saves the audio and a figure comparing input and output;
4. the same for the flute, and a dry violin (the model's learned reverb left out).

Run::

    python examples/timbre_transfer.py                  # -> demo_output/
    python examples/timbre_transfer.py --input my_singing.wav --models violin --out /tmp/x

The command-line equivalent: ``torchddsp transfer INPUT --model violin -o OUT.wav``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import time
from pathlib import Path

import torch

from torchddsp.io import read_audio
from torchddsp.transfer import available_models
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer
from torchddsp.transfer import write_transfer


def default_input() -> Path:
    """The bundled voice melody (see ``torchddsp/assets/README.md``)."""
    return Path(str(importlib.resources.files("torchddsp") / "assets" / "voice_melody.flac"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Timbre transfer with the bundled models.")
    parser.add_argument("--input", type=Path, default=None, help="monophonic audio (default: the bundled voice)")
    parser.add_argument(
        "--models", nargs="+", default=None, help=f"models (default: all bundled, {available_models()})"
    )
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--dry-model", default=None, help="model rendered dry too (default: violin if bundled)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    models = args.models or available_models()
    if not models:
        raise SystemExit("no bundled models found (torchddsp/pretrained is empty)")
    source = args.input or default_input()
    results = {}
    for name in models:
        loaded = load_model(name)
        audio = read_audio(source, loaded.sample_rate)
        result = transfer(audio, loaded.sample_rate, loaded)
        paths = write_transfer(result, args.out / f"{source.stem}_to_{name}.wav")
        results[name] = {"files": [str(p) for p in paths], **result["adjustments"]}
        print(f"{name}: wrote {', '.join(p.name for p in paths)}; adjustments {json.dumps(result['adjustments'])}")
    # The DDSP paper's dereverberation: one model without its learned room.
    dry_name = args.dry_model or ("violin" if "violin" in models else models[0])
    dry_model = load_model(dry_name)
    dry = transfer(read_audio(source, dry_model.sample_rate), dry_model.sample_rate, dry_model, reverb=False)
    write_transfer(dry, args.out / f"{source.stem}_to_{dry_name}_dry.wav", figure=False)
    seconds = time.perf_counter() - started
    print(f"done in {seconds:.1f} s; outputs in {args.out}/")
    return {"results": results, "seconds": seconds}


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
