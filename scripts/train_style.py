"""Train the style-transfer model (torchddsp.style) on the recordings of scripts/style_data.py.

Self-supervised (see ``torchddsp.style.training``): every step draws ``--batch`` pairs of
``--seconds`` segments from random training recordings, colours them, applies a random style
and trains the model to recover it, with exact gradients through the chain (``--gradient
exact``) or SPSA estimates (``--gradient spsa``; same model, data order and steps). Every
``--eval-every`` steps the loss on a fixed held-out batch (eval recordings) is logged.

Writes ``OUT/model.safetensors``, ``OUT/config.json`` (model and recipe) and ``OUT/train.csv``
(step, train_loss, eval_loss, cpu_s, wall_s), the model also at every logged step (so a run
stopped early leaves its latest weights). ``--init FOLDER`` continues a saved run (its weights,
with a fresh Adam state; steps, CPU and wall time count on from its ``train.csv``, whose rows
are kept);
``--schedule cosine`` decays the learning rate to zero over ``--steps`` (the constant rate of
the first 1500 steps leaves the held-out loss jumping between 1.1 and 1.4).

Usage::

    OMP_NUM_THREADS=1 python scripts/train_style.py --gradient exact --out runs/style_exact
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from torchddsp.io import read_audio
from torchddsp.style.model import StyleTransfer
from torchddsp.style.model import load_style_model
from torchddsp.style.model import save_style_model
from torchddsp.style.training import make_examples
from torchddsp.style.training import segment_pairs
from torchddsp.style.training import style_loss
from torchddsp.style.training import train_step


def load_split(data: Path, split: str) -> list[torch.Tensor]:
    manifest = json.loads((data / "manifest.json").read_text())
    files = [r["file"] for r in manifest["recordings"] if r["file"].startswith(split + "/")]
    return [read_audio(data / f, manifest["sample_rate"]) for f in files]


def eval_loss(model: StyleTransfer, loss: torch.nn.Module, examples: list) -> float:
    model.eval()
    with torch.no_grad():
        values = [float(loss(model(e.input, e.reference)[0], e.target)) for e in examples]
    model.train()
    return sum(values) / len(values)


def read_history(init: Path | None) -> tuple[list[dict], int, float, float]:
    """Rows of a saved run's train.csv, its step count, CPU and wall seconds (none for a fresh run)."""
    if init is None:
        return [], 0, 0.0, 0.0
    with open(init / "train.csv", newline="") as handle:
        rows = [{k: float(v) if k != "step" else int(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    return rows, int(rows[-1]["step"]), float(rows[-1]["cpu_s"]), float(rows[-1]["wall_s"])


def save_run(model: StyleTransfer, args: argparse.Namespace, rows: list[dict], offset: int) -> None:
    with open(args.out / "train.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    recipe = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    extra = {"recipe": recipe, "total_steps": rows[-1]["step"], "init_steps": offset}
    save_style_model(model, args.out, {**extra, "cpu_s": rows[-1]["cpu_s"], "wall_s": rows[-1]["wall_s"]})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/style"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gradient", choices=("exact", "spsa"), default="exact")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epsilon", type=float, default=1e-3, help="SPSA perturbation (normalised units)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None, help="continue this saved run")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sample_rate = 16000
    train, held_out = load_split(args.data, "train"), load_split(args.data, "eval")
    n_samples = round(args.seconds * sample_rate)
    fixed = torch.Generator().manual_seed(12345)
    eval_examples = [
        make_examples(*segment_pairs(held_out, 16, n_samples, fixed), sample_rate, fixed) for _ in range(2)
    ]
    torch.manual_seed(args.seed)
    model = StyleTransfer(sample_rate) if args.init is None else load_style_model(args.init).train()
    history, offset, cpu_before, wall_before = read_history(args.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = None
    if args.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    loss = style_loss()
    data_rng = torch.Generator().manual_seed(args.seed)  # same data for both gradients
    spsa_rng = torch.Generator().manual_seed(args.seed + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = list(history)
    cpu0, wall0 = time.process_time(), time.time()
    for step in range(1, args.steps + 1):
        example = make_examples(*segment_pairs(train, args.batch, n_samples, data_rng), sample_rate, data_rng)
        value = train_step(model, optimizer, loss, example, args.gradient, args.epsilon, spsa_rng)
        if scheduler is not None:
            scheduler.step()
        if step % args.eval_every == 0 or step == 1 or step == args.steps:
            row = {
                "step": step + offset,
                "train_loss": round(value, 5),
                "eval_loss": round(eval_loss(model, loss, eval_examples), 5),
                "cpu_s": round(time.process_time() - cpu0 + cpu_before, 1),
                "wall_s": round(time.time() - wall0 + wall_before, 1),
            }
            rows.append(row)
            print(row, flush=True)
            save_run(model, args, rows, offset)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
