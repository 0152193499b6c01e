"""Train the piano model on the rendered pieces and single notes of ``scripts/piano_data.py``.

Random segments of the training renders (voices allocated over the whole piece, so a segment
starts with the notes already sounding), loss = multi-scale spectral distance
(``torchddsp.losses.MultiScaleSpectralLoss``: FFT 2048-64, linear + log magnitude) + 0.05 x
A-weighted loudness L1 in dB (``torchddsp.losses.LoudnessLoss``). With ``--note-fraction`` > 0
that share of every batch is single notes of ``train_notes/`` (keys the inharmonicity
measurement does not use), starting within 0.3 s of the onset, whose loss adds
``--note-fft-weight`` x a long-FFT spectral distance (``--note-fft``, 8192 by default: 2 Hz bins
resolve the stretched partials that FFT 2048 blurs); ``--b-smoothness`` adds a smoothness prior
on ``log B`` over keys (each key's notes are few, and the measured keys have none). ``--plain-harmonic`` fixes B = 0 (the
trained plain-harmonic baseline); ``--init`` starts from a model folder. Adam, learning rate 2e-3
(detune 5x, inharmonicity ``--b-lr-scale``), one thread.

    OMP_NUM_THREADS=1 python scripts/train_piano.py --data data/piano --out /tmp/piano/run \
        --steps 2000 --batch 6 --frames 150 --note-fraction 0.5 --max-minutes 15
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import soundfile as sf
import torch

from torchddsp.losses import LoudnessLoss
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.piano.midi import read_midi
from torchddsp.piano.model import PianoConfig
from torchddsp.piano.model import PianoModel
from torchddsp.piano.render import load_piano_model
from torchddsp.piano.render import note_controls
from torchddsp.piano.render import save_piano_model
from torchddsp.piano.voices import VoiceFrames


def load_split(folder: Path, config: PianoConfig) -> list[tuple[torch.Tensor, VoiceFrames, torch.Tensor]]:
    """``(audio (n_samples,), voices, roll)`` of every ``NAME.wav``/``NAME.mid`` pair."""
    pieces = []
    hop = config.sample_rate // config.frame_rate
    for wav in sorted(folder.glob("*.wav")):
        audio, rate = sf.read(wav, dtype="float32")
        assert rate == config.sample_rate, wav
        n_frames = len(audio) // hop
        voices, roll = note_controls(read_midi(wav.with_suffix(".mid")), n_frames, config)
        pieces.append((torch.from_numpy(audio[: n_frames * hop]), voices, roll))
    return pieces


def batch_of(pieces, config: PianoConfig, batch: int, n_frames: int, rng: random.Random, max_start: int = 0):
    """Random segments: ``(audio (batch, n_samples), voices, roll)``; starts below ``max_start``
    frames when it is > 0 (single notes: keep the attack)."""
    hop = config.sample_rate // config.frame_rate
    audios, voice_parts, rolls = [], [], []
    for _ in range(batch):
        audio, voices, roll = rng.choice(pieces)
        last = roll.shape[1] - n_frames
        start = rng.randrange(0, min(last, max_start) if max_start > 0 else last)
        audios.append(audio[start * hop : (start + n_frames) * hop])
        voice_parts.append([field[0, start : start + n_frames] for field in voices])
        rolls.append(roll[0, start : start + n_frames])
    voices = VoiceFrames(*(torch.stack(parts) for parts in zip(*voice_parts, strict=True)))
    return torch.stack(audios), voices, torch.stack(rolls)


def make_losses(sample_rate: int):
    spectral = MultiScaleSpectralLoss(fft_sizes=(2048, 1024, 512, 256, 128, 64))
    loudness = LoudnessLoss(sample_rate)
    return lambda prediction, target: spectral(prediction, target) + 0.05 * loudness(prediction, target)


def make_note_loss(sample_rate: int, n_fft: int, weight: float):
    """The pieces' loss + ``weight`` x a one-resolution spectral distance at FFT ``n_fft``."""
    pieces = make_losses(sample_rate)
    long_fft = MultiScaleSpectralLoss(fft_sizes=(n_fft,))
    return lambda prediction, target: pieces(prediction, target) + weight * long_fft(prediction, target)


def step_loss(model: PianoModel, data, args, rng: random.Random, step: int) -> torch.Tensor:
    """One batch's loss: pieces plus (``--note-fraction`` of the batch) single notes."""
    pieces, notes, piece_loss, note_loss = data
    n_notes = round(args.batch * args.note_fraction) if notes else 0
    total = torch.zeros(())
    if args.batch - n_notes:
        target, voices, roll = batch_of(pieces, model.config, args.batch - n_notes, args.frames, rng)
        total = total + piece_loss(model(voices, roll, seed=step), target) * (args.batch - n_notes) / args.batch
    if n_notes:
        target, voices, roll = batch_of(notes, model.config, n_notes, args.frames, rng, max_start=30)
        total = total + note_loss(model(voices, roll, seed=step), target) * n_notes / args.batch
    return total + args.b_smoothness * b_roughness(model) if args.b_smoothness else total


def optimizer_for(model: PianoModel, lr: float, b_lr_scale: float = 5.0) -> torch.optim.Optimizer:
    physical = [model.log_inharmonicity, model.detune_cents]
    others = [p for p in model.parameters() if all(p is not q for q in physical)]
    groups = [{"params": others, "lr": lr}, {"params": [model.detune_cents], "lr": 5 * lr}]
    return torch.optim.Adam([*groups, {"params": [model.log_inharmonicity], "lr": b_lr_scale * lr}])


def b_roughness(model: PianoModel) -> torch.Tensor:
    """Mean squared second difference of ``log B`` over neighbouring keys: a smoothness prior
    that carries what the single notes teach their keys to the keys between them."""
    log_b = model.log_inharmonicity
    return ((log_b[2:] - 2 * log_b[1:-1] + log_b[:-2]) ** 2).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/piano"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-minutes", type=float, default=20.0, help="CPU-minutes")
    parser.add_argument("--max-wall-minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note-fraction", type=float, default=0.0, help="share of each batch from train_notes/")
    parser.add_argument("--note-fft", type=int, default=8192)
    parser.add_argument("--note-fft-weight", type=float, default=1.0)
    parser.add_argument("--b-smoothness", type=float, default=0.0, help="weight of b_roughness")
    parser.add_argument("--b-lr-scale", type=float, default=5.0, help="B's learning rate / --lr")
    parser.add_argument("--plain-harmonic", action="store_true", help="B = 0 fixed: the harmonic baseline")
    parser.add_argument("--init", help="start from this model folder (or 'piano')")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = load_piano_model(args.init) if args.init else PianoModel(PianoConfig())
    config = model.config
    if args.plain_harmonic:
        with torch.no_grad():
            model.log_inharmonicity.fill_(-60.0)  # B = e^-60: no stretch at float precision
        model.log_inharmonicity.requires_grad_(False)
    pieces = load_split(args.data / "train", config)
    notes = load_split(args.data / "train_notes", config) if args.note_fraction > 0 else []
    data = (pieces, notes, make_losses(config.sample_rate),
            make_note_loss(config.sample_rate, args.note_fft, args.note_fft_weight))  # fmt: skip
    optimizer = optimizer_for(model, args.lr, args.b_lr_scale)
    args.out.mkdir(parents=True, exist_ok=True)
    started, cpu_started, rows = time.time(), time.process_time(), []
    for step in range(1, args.steps + 1):
        loss = step_loss(model, data, args, rng, step)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        rows.append({"step": step, "loss": float(loss), "wall_s": time.time() - started,
                     "cpu_s": time.process_time() - cpu_started})  # fmt: skip
        if step % 20 == 0 or step == 1:
            print(rows[-1], flush=True)
            save_piano_model(model, args.out)
        if (time.process_time() - cpu_started) / 60 > args.max_minutes or (
            time.time() - started
        ) / 60 > args.max_wall_minutes:
            print(f"stopping at step {step}: the CPU- or wall-minute limit is spent", file=sys.stderr)
            break
    save_piano_model(model, args.out)
    with open(args.out / "train.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {"steps": len(rows), "wall_s": rows[-1]["wall_s"], "cpu_s": rows[-1]["cpu_s"], "pieces": len(pieces),
               "notes": len(notes), "args": {k: str(v) for k, v in vars(args).items()},
               "first_loss": rows[0]["loss"], "last_20_mean_loss": sum(r["loss"] for r in rows[-20:]) / len(rows[-20:])}  # fmt: skip
    (args.out / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
