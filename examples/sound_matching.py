"""Synthesizer sound matching: recover a hidden patch from its audio by gradient descent
through the modular synthesizer.

A patch of the rich voice (two VCOs and noise through a resonant filter, a drive and a tone
EQ) is drawn at random in its nine timbre parameters (waveform, levels, filter, envelope)
and rendered: that is the target sound. Starting from a neutral guess
(every free parameter in the middle of its range), Adam moves the free parameters until the
synthesizer's multi-scale spectrogram matches the target's. Because every module is
differentiable (band-limited oscillators, envelopes, the state-variable filter, the
waveshaper, the shelving filters), the gradient of a spectral loss reaches every knob.

The pitch, note length and the modulation routing are given (known from the target, as a
pitch tracker would give them); the timbre parameters are learned. The parameters live in
[0, 1] (the voice's normalised patch), so the optimiser works on logits ``sigmoid(raw)``.

Run::

    python examples/sound_matching.py                   # writes demo_output/sound_matching/
    python examples/sound_matching.py --steps 400 --seed 3 --out /tmp/match

It prints a table of the parameter error (normalised units and human units) before and
after, and writes ``target.wav``, ``result.wav``, ``initial.wav`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from torchddsp.matching.search import refine
from torchddsp.matching.voice_setup import FREE as MATCHING_FREE
from torchddsp.matching.voice_setup import GIVEN as MATCHING_GIVEN
from torchddsp.matching.voice_setup import PITCH
from torchddsp.matching.voice_setup import MatchingSetup
from torchddsp.modular import RenderContext
from torchddsp.modular import RichVoice

#: The timbre parameters the optimiser recovers (``torchddsp.matching``'s nine, which its
#: trained estimator predicts too); the given ones are the matching setup's, with the pitch
#: at MIDI 57 (A3).
FREE = MATCHING_FREE
GIVEN = {PITCH: 0.45, **MATCHING_GIVEN}


def hidden_patch(voice: RichVoice, seed: int) -> torch.Tensor:
    """A random patch: the free parameters uniform in [0.15, 0.85] (clear of the extremes, where
    a parameter can be inaudible), the given ones as ``GIVEN``, everything else 0 (no routing)."""
    generator = torch.Generator().manual_seed(seed)
    patch = torch.zeros(1, voice.n_parameters)
    names = voice.parameter_names
    for name, value in GIVEN.items():
        patch[0, names.index(name)] = value
    for name in FREE:
        patch[0, names.index(name)] = 0.15 + 0.7 * torch.rand((), generator=generator)
    return patch


def parameter_table(voice: RichVoice, truth: torch.Tensor, start: torch.Tensor, found: torch.Tensor) -> list[dict]:
    names = voice.parameter_names
    human = [voice.human(p) for p in (truth, start, found)]
    rows = []
    for name in FREE:
        module, parameter = name.split(".")
        column = names.index(name)
        rows.append(
            {
                "parameter": name,
                "unit": voice.ranges[name].unit,
                "true": float(human[0][module][parameter]),
                "initial": float(human[1][module][parameter]),
                "found": float(human[2][module][parameter]),
                "error_before": abs(float(start[0, column] - truth[0, column])),
                "error_after": abs(float(found[0, column] - truth[0, column])),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="which hidden patch")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="runs from different starting guesses (the first is neutral, the others random); "
        "the one with the lowest loss wins",
    )
    parser.add_argument("--out", default="demo_output/sound_matching")
    parser.add_argument("--no-files", action="store_true", help="print the report only")
    args = parser.parse_args(argv)

    voice = RichVoice(RenderContext(sample_rate=16000.0, duration_s=1.0, frame_rate=250.0))
    names = voice.parameter_names
    free = torch.tensor([names.index(n) for n in FREE])
    truth = hidden_patch(voice, args.seed)
    seeds = torch.tensor([12345])  # the same noise for target and guesses
    with torch.no_grad():
        target = voice(truth, seeds)

    setup = MatchingSetup()  # the same free and given parameters (the pitch is passed apart)
    midi_note = voice.ranges[PITCH].to_human(truth[:, names.index(PITCH)])

    def patch_of(raw_values: torch.Tensor) -> torch.Tensor:
        patch = truth.clone()
        patch[0, free] = torch.sigmoid(raw_values)
        return patch

    def descend(raw: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        # The package's refinement: Adam on the logits, keeping the best values visited.
        losses: list[float] = []
        found, _ = refine(
            voice, setup, torch.sigmoid(raw)[None], target, midi_note, seeds, args.steps, args.learning_rate, losses
        )
        return torch.logit(found[0]), losses

    # The first guess is neutral (every free parameter at 0.5, raw 0); further restarts draw
    # guesses in logit space from a generator of their own (not the hidden patch's).
    guesses = torch.zeros(max(args.restarts, 1), len(FREE))
    guesses[1:] = 1.5 * torch.randn(
        len(guesses) - 1, len(FREE), generator=torch.Generator().manual_seed(1000 + args.seed)
    )
    start = patch_of(guesses[0])
    began = time.perf_counter()
    runs = [descend(guess) for guess in guesses]
    seconds = time.perf_counter() - began
    best, losses = min(runs, key=lambda run: run[1][-1])
    found = patch_of(best)
    rows = parameter_table(voice, truth, start, found)
    before = sum(r["error_before"] for r in rows) / len(rows)
    after = sum(r["error_after"] for r in rows) / len(rows)

    print(
        f"{len(runs)} x {args.steps} steps in {seconds:.1f} s; spectral loss {losses[0]:.3f} -> {losses[-1]:.3f} "
        f"(final losses of the restarts: {', '.join(f'{run[1][-1]:.3f}' for run in runs)})"
    )
    print("| parameter | unit | true | initial | found | error before | error after |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['parameter']} | {r['unit']} | {r['true']:.3g} | {r['initial']:.3g} | {r['found']:.3g} | "
            f"{r['error_before']:.3f} | {r['error_after']:.3f} |"
        )
    print(f"mean parameter error (normalised, 0..1): {before:.3f} -> {after:.3f}")

    result = {
        "losses": losses,
        "rows": rows,
        "mean_error_before": before,
        "mean_error_after": after,
        "seconds": seconds,
    }
    if not args.no_files:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        from torchddsp.io import write_audio  # noqa: PLC0415
        from torchddsp.io import write_text_atomic  # noqa: PLC0415

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            for name, patch in (("target", truth), ("initial", start), ("result", found)):
                write_audio(out / f"{name}.wav", voice(patch, seeds)[0], 16000)
        figure, axis = plt.subplots(figsize=(6, 3))
        axis.semilogy(losses)
        axis.set_xlabel("step")
        axis.set_ylabel("multi-scale spectral loss")
        figure.tight_layout()
        figure.savefig(out / "loss.png", dpi=100)
        plt.close(figure)
        write_text_atomic(out / "report.json", json.dumps(result, indent=1))
        print(f"wrote {out}/target.wav, result.wav, initial.wav, loss.png, report.json")
    return result


if __name__ == "__main__":
    main()
