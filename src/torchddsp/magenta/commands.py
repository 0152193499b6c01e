"""The Magenta subcommands of ``torchddsp``: ``convert-magenta`` (a Magenta DDSP checkpoint
folder to a torchddsp model folder) and ``convert-tfrecord`` (Magenta TFRecords to a prepared
dataset).

    torchddsp convert-magenta CKPT_DIR OUT_DIR
    torchddsp convert-tfrecord 'TRAIN_PATTERN' DATASET_DIR [--eval 'EVAL_PATTERN']
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli_arguments import add_command
from ..cli_arguments import add_flags
from ..cli_arguments import positive_int

__all__ = ["add_magenta_commands"]


def _convert_magenta(args: argparse.Namespace) -> int:
    from .convert import convert_magenta  # noqa: PLC0415

    out_dir = convert_magenta(*args.paths)
    print(f"wrote {out_dir} (load it with --model {out_dir})")
    return 0


def _convert_tfrecord(args: argparse.Namespace) -> int:
    from .dataset import convert_tfrecord_dataset  # noqa: PLC0415

    options = {key: getattr(args, key) for key in ("sample_rate", "frame_rate", "alignment")}
    compression = "gzip" if args.gzip else "auto"
    metadata = convert_tfrecord_dataset(
        args.train_pattern,
        args.dataset_dir,
        args.eval,
        compression=compression,
        show_progress=not args.quiet,
        **options,
    )
    framing = {key: metadata["source"][key] for key in ("padding", "alignment", "frames_cut")}
    print(f"examples: {metadata['examples']} of {metadata['example_frames']} frames {framing}")
    return 0


def _add_convert_magenta(commands: Any) -> None:
    convert = add_command(commands, "convert-magenta", "convert a Magenta DDSP checkpoint to a model", _convert_magenta)
    convert.add_argument("paths", nargs=2, metavar=("CKPT_DIR", "OUT_DIR"))


def _add_convert_tfrecord(commands: Any) -> None:
    convert = add_command(
        commands, "convert-tfrecord", "make a prepared dataset of Magenta TFRecords", _convert_tfrecord
    )
    convert.add_argument("train_pattern", help="training TFRecord file, folder or glob pattern (quoted)")
    convert.add_argument("dataset_dir")
    convert.add_argument("--eval", help="the eval split's TFRecord file, folder or glob pattern")
    convert.add_argument("--sample-rate", type=positive_int, default=16000)
    convert.add_argument("--frame-rate", type=positive_int, default=250)
    convert.add_argument("--alignment", default="auto", choices=("auto", "stored"), help="stored: frames as stored")
    add_flags(convert, gzip="GZIP files (automatic for .gz names)", quiet="no progress bar")


def add_magenta_commands(commands: Any) -> None:
    """Add ``convert-magenta`` and ``convert-tfrecord`` to the subcommands ``commands``."""
    _add_convert_magenta(commands)
    _add_convert_tfrecord(commands)
