"""Train the piano model on the rendered pieces of ``scripts/piano_data.py``.

Random one-second segments of the training renders (voices allocated over the whole piece, so
a segment starts with the notes already sounding), loss = multi-scale spectral distance
(``torchddsp.losses.MultiScaleSpectralLoss``: FFT 2048-64, linear + log magnitude) + 0.05 x
A-weighted loudness L1 in dB (``torchddsp.losses.LoudnessLoss``). Adam, learning rate 2e-3
(inharmonicity and detune 1e-2), one thread.

    OMP_NUM_THREADS=1 python scripts/train_piano.py --data data/piano --out /tmp/piano/run \
        --steps 2000 --batch 6 --frames 150 --max-minutes 15 --max-wall-minutes 45
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


def batch_of(pieces, config: PianoConfig, batch: int, n_frames: int, rng: random.Random):
    """Random segments: ``(audio (batch, n_samples), voices, roll)``."""
    hop = config.sample_rate // config.frame_rate
    audios, voice_parts, rolls = [], [], []
    for _ in range(batch):
        audio, voices, roll = rng.choice(pieces)
        start = rng.randrange(0, roll.shape[1] - n_frames)
        audios.append(audio[start * hop : (start + n_frames) * hop])
        voice_parts.append([field[0, start : start + n_frames] for field in voices])
        rolls.append(roll[0, start : start + n_frames])
    voices = VoiceFrames(*(torch.stack(parts) for parts in zip(*voice_parts, strict=True)))
    return torch.stack(audios), voices, torch.stack(rolls)


def make_losses(sample_rate: int):
    spectral = MultiScaleSpectralLoss(fft_sizes=(2048, 1024, 512, 256, 128, 64))
    loudness = LoudnessLoss(sample_rate)
    return lambda prediction, target: spectral(prediction, target) + 0.05 * loudness(prediction, target)


def optimizer_for(model: PianoModel, lr: float) -> torch.optim.Optimizer:
    physical = [model.log_inharmonicity, model.detune_cents]
    others = [p for p in model.parameters() if all(p is not q for q in physical)]
    return torch.optim.Adam([{"params": others, "lr": lr}, {"params": physical, "lr": 5 * lr}])


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
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    config = PianoConfig()
    pieces = load_split(args.data / "train", config)
    model = PianoModel(config)
    optimizer = optimizer_for(model, args.lr)
    losses = make_losses(config.sample_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    started, cpu_started, rows = time.time(), time.process_time(), []
    for step in range(1, args.steps + 1):
        target, voices, roll = batch_of(pieces, config, args.batch, args.frames, rng)
        loss = losses(model(voices, roll, seed=step), target)
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
               "first_loss": rows[0]["loss"], "last_20_mean_loss": sum(r["loss"] for r in rows[-20:]) / len(rows[-20:])}  # fmt: skip
    (args.out / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
