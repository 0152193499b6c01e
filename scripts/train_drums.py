"""Train the descriptor-controlled drum model on the rendered hits and bundle it.

    .venv/bin/python scripts/drums_data.py            # -> data/drums/hits.npz
    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_drums.py   # -> src/torchddsp/pretrained/drums/

``--init FOLDER`` starts from a saved model (its descriptor ranges are recomputed, identical on
the same data); ``--control-weight`` / ``--ranking-weight`` add ``torchddsp.drums.training``'s
controllability loss on random requests and sweeps.

Descriptors are measured on the real hits (float64) and normalised per class over the training
split (``torchddsp.drums.model``); the held-out split is left for scripts/evaluate_drums.py.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from torchddsp.drums.descriptors import timbre_descriptors
from torchddsp.drums.model import DRUMS
from torchddsp.drums.model import DrumModel
from torchddsp.drums.model import load_drum_model
from torchddsp.drums.model import save_drum_model
from torchddsp.drums.training import fit


def class_ranges(drum: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Per-class (min, max) of each raw descriptor: ``(n_drums, 3, 2)``."""
    rows = [torch.stack([raw[drum == k].amin(0), raw[drum == k].amax(0)], -1) for k in range(len(DRUMS))]
    return torch.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/drums/hits.npz"))
    parser.add_argument("--out", type=Path, default=Path("src/torchddsp/pretrained/drums"))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--descriptor-weight", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--control-weight", type=float, default=0.0)
    parser.add_argument("--ranking-weight", type=float, default=0.0)
    parser.add_argument("--requests", type=int, nargs=3, default=[16, 4, 5], help="n_random n_sweeps points")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--init", type=Path, help="start from this saved model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    start_cpu, start_wall = time.process_time(), time.time()
    data = np.load(args.data)
    train = ~data["held_out"]
    audio = torch.tensor(data["audio"][train])
    drum = torch.tensor(data["drum"][train], dtype=torch.int64)
    raw = timbre_descriptors(audio, int(data["sample_rate"]))
    model = DrumModel(args.hidden, float(data["sample_rate"]), audio.shape[1], class_ranges(drum, raw))
    if args.init:
        model.net.load_state_dict(load_drum_model(args.init).net.state_dict())
    targets = model.normalise(drum, raw)
    history = fit(
        model,
        drum,
        targets,
        audio,
        args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        descriptor_weight=args.descriptor_weight,
        control_weight=args.control_weight,
        ranking_weight=args.ranking_weight,
        requests=tuple(args.requests),
        log_every=50,
    )
    cpu_s, wall_s = time.process_time() - start_cpu, time.time() - start_wall
    recipe = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "descriptor_weight": args.descriptor_weight,
        "control_weight": args.control_weight,
        "ranking_weight": args.ranking_weight,
        "requests": args.requests,
        "init": str(args.init) if args.init else None,
        "training_hits": int(train.sum()),
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
    }
    save_drum_model(model, args.out, {"recipe": recipe})
    with open(args.out / "train.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss", "spectral", "descriptors", "control", "ranking"])
        writer.writerows([(i, *(f"{v:.5f}" for v in row)) for i, row in enumerate(history)])
    print(f"wrote {args.out}; CPU {cpu_s:.0f} s, wall {wall_s:.0f} s")


if __name__ == "__main__":
    main()
