"""Copy a finished training run into the package as a bundled model (``load_model(NAME)``).

Usage::

    python scripts/bundle_model.py RUN_DIR NAME [--heldout DATASET_DIR ...] [--dataset DATASET_DIR] [--checkpoint STEP]

Writes ``src/torchddsp/pretrained/NAME/``: ``model.safetensors`` and ``state.json`` of the
checkpoint (without the optimizer state: a bundled model is for inference), the run's
``config.yaml``, ``train.csv``, ``eval.csv`` and ``training_curves.png``, and
``evaluation.json``: the resynthesis metrics on each ``--heldout`` dataset (all its examples,
e.g. melodies kept out of training) and on the run's own evaluation split.

How the bundled violin and flute were made (see their ``README.md``)::

    python scripts/render_training_data.py --out data/rendered
    torchddsp prepare data/rendered/violin/train data/ds/violin --config cpu_small
    torchddsp prepare data/rendered/violin/eval data/ds/violin_heldout --config scripts/heldout_dataset.yaml
    torchddsp train cpu_small data/ds/violin runs/violin
    python scripts/bundle_model.py runs/violin violin --heldout data/ds/violin_heldout --dataset data/ds/violin
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from torchddsp.training.checkpoints import checkpoint_dir
from torchddsp.training.checkpoints import latest_checkpoint
from torchddsp.training.data import FeatureDataset
from torchddsp.training.metrics import evaluate_model
from torchddsp.transfer import PRETRAINED_DIR
from torchddsp.transfer import load_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--heldout", type=Path, nargs="*", default=[], help="prepared datasets to evaluate on")
    parser.add_argument("--dataset", type=Path, help="the run's training dataset: its eval split is evaluated too")
    parser.add_argument("--checkpoint", type=int, help="step to bundle (default: the newest)")
    args = parser.parse_args(argv)
    checkpoint = (
        checkpoint_dir(args.run_dir) / f"step_{args.checkpoint:08d}"
        if args.checkpoint is not None
        else latest_checkpoint(args.run_dir)
    )
    if checkpoint is None or not (checkpoint / "state.json").is_file():
        raise SystemExit(f"no checkpoint to bundle in {args.run_dir}")
    # Built beside the package folder and renamed at the end: an interrupted run or a failing
    # evaluation never leaves a half-written model (or stale files of an earlier one) in it.
    target = PRETRAINED_DIR / args.name
    building = PRETRAINED_DIR / f".{args.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    shutil.copyfile(checkpoint / "model.safetensors", building / "model.safetensors")
    state = json.loads((checkpoint / "state.json").read_text())
    state.pop("optimizer", None)
    state.get("files", {}).pop("optimizer.safetensors", None)  # its checksum goes with it
    (building / "state.json").write_text(json.dumps(state, indent=1))
    for name in ("config.yaml", "train.csv", "eval.csv", "training_curves.png"):
        if (args.run_dir / name).is_file():
            shutil.copy(args.run_dir / name, building / name)
    if (target / "README.md").is_file():  # hand-written: kept (update its figures)
        shutil.copy(target / "README.md", building / "README.md")
    loaded = load_model(building)
    evaluation = {"checkpoint_step": state["step"]}
    for dataset_dir in args.heldout:
        # A held-out dataset is prepared with everything in its train split (nothing trains on it).
        split = "train" if len(FeatureDataset(dataset_dir, "eval")) == 0 else "eval"
        dataset = FeatureDataset(dataset_dir, split)
        evaluation[f"heldout:{dataset_dir.name}"] = evaluate_model(loaded.model, dataset)
    if args.dataset is not None:
        evaluation["run_eval_split"] = evaluate_model(loaded.model, FeatureDataset(args.dataset, "eval"))
    (building / "evaluation.json").write_text(json.dumps(evaluation, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    print(json.dumps(evaluation, indent=1))
    print(f"bundled {checkpoint} as {target} ({sum(p.stat().st_size for p in target.iterdir()) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
