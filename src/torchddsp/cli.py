"""``torchddsp <command>``: prepare, train, evaluate, transfer.

    torchddsp prepare AUDIO_DIR DATASET_DIR [--config cpu_small] [--skip-bad]
    torchddsp convert-magenta CKPT_DIR OUT_DIR   (a Magenta DDSP checkpoint folder -> a model folder)
    torchddsp convert-tfrecord 'TRAIN_PATTERN' DATASET_DIR [--eval 'EVAL_PATTERN']   (Magenta's TFRecords)
    torchddsp train CONFIG DATASET_DIR RUN_DIR [--resume | --init-from violin|PATH] [--steps N] [--tensorboard]
    torchrun --nproc_per_node 2 -m torchddsp train CONFIG DATASET_DIR RUN_DIR   (data parallel)
    torchddsp evaluate RUN_DIR DATASET_DIR [--split eval] [--max-examples N]
    torchddsp transfer INPUT --model violin -o OUTPUT.wav [--pitch-shift 0] [--loudness-shift 0]
                       [--no-auto-adjust] [--dry | --reverb-from MODEL]
    torchddsp stream INPUT --model violin -o OUTPUT.wav [--block 256] [--f0 yin|crepe] [--live]
    torchddsp export --model violin --format torchscript|onnx -o FILE [--block 256] [--controls-in]
    torchddsp modular render --voice default --count N --seed S --out DIR [--shard-size 1000]
    torchddsp modular curves --voice default --out CURVES.json
    torchddsp app [--models FOLDER ...] [--port 8000]   (a local web page; needs torchddsp[app])

Every command has a Python equivalent: ``training.prepare_dataset``, ``training.train``,
``training.evaluate_model``, ``transfer.transfer``, ``modular.render_dataset``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from .app.commands import add_app_command
from .cli_arguments import add_command
from .cli_arguments import add_flags
from .cli_arguments import add_quiet
from .cli_arguments import finite_float
from .cli_arguments import non_negative_float
from .cli_arguments import positive_float
from .cli_arguments import positive_int
from .distributed import torchrun_rank
from .drums.commands import add_drums_commands
from .magenta.commands import add_magenta_commands
from .matching.commands import add_matching_commands
from .piano.commands import add_piano_commands
from .style.commands import add_style_commands
from .validation import InputError

__all__ = ["main"]


def _prepare(args: argparse.Namespace) -> int:
    from .configs import load_config  # noqa: PLC0415
    from .training.data import prepare_dataset  # noqa: PLC0415

    config = load_config(args.config)
    if args.f0_method:
        config.data.f0_method = args.f0_method
    metadata = prepare_dataset(
        args.audio_dir,
        args.dataset_dir,
        config.model,
        config.data,
        skip_bad=args.skip_bad,
        show_progress=not args.quiet,
    )
    if torchrun_rank()[0]:  # under torchrun rank 0 reports
        return 0
    print(
        f"examples: train {metadata['examples']['train']}, eval {metadata['examples']['eval']} "
        f"({metadata['seconds']['train']} s / {metadata['seconds']['eval']} s of audio)"
    )
    for entry in metadata["skipped"]:
        print(f"skipped {entry['file']}: {entry['reason']}")
    for name in metadata["silent_files"]:
        print(f"silent, not used: {name}")
    if metadata["silent_examples_skipped"]:
        print(f"silent examples left out: {metadata['silent_examples_skipped']}")
    print(f"wrote {args.dataset_dir}/dataset.json")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training.trainer import train  # noqa: PLC0415

    summary = train(
        args.config,
        args.dataset_dir,
        args.run_dir,
        resume=args.resume,
        steps=args.steps,
        show_progress=not args.quiet,
        tensorboard=args.tensorboard,
        overwrite=args.overwrite,
        allow_config_change=args.allow_config_change,
        init_from=args.init_from,
    )
    print(json.dumps(summary, indent=1))
    return 0


def _evaluation_output(args: argparse.Namespace) -> Path:
    """``--output``, or ``evaluation_<split>.json`` in the run folder; for a bundled model
    (a name, not a folder) in the current folder, named after it. Never inside the dataset or
    the model's checkpoint folder (it would replace dataset.json or state.json)."""
    from .io import check_output  # noqa: PLC0415
    from .transfer import PRETRAINED_DIR  # noqa: PLC0415
    from .transfer import model_checkpoint  # noqa: PLC0415

    if args.output:
        output = Path(args.output)
    elif Path(args.run_dir).is_dir() and not (Path(args.run_dir) / "state.json").is_file():  # a run folder
        output = Path(args.run_dir) / f"evaluation_{args.split}.json"
    else:
        output = Path(f"evaluation_{Path(args.run_dir).name}_{args.split}.json")
    if output.suffix.lower() != ".json":
        raise InputError(f"--output {output}: expected a .json file name")
    check_output(output, inputs=[args.dataset_dir], option="--output")  # a link, a missing or read-only folder
    return check_output(output, inputs=[model_checkpoint(args.run_dir), PRETRAINED_DIR], option="--output")


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _evaluate(args: argparse.Namespace) -> int:
    from .io import write_text_atomic  # noqa: PLC0415
    from .training.data import FeatureDataset  # noqa: PLC0415
    from .training.metrics import METRIC_NAMES  # noqa: PLC0415
    from .training.metrics import evaluate_model  # noqa: PLC0415
    from .transfer import load_model  # noqa: PLC0415

    output = _evaluation_output(args)  # before the work: a bad path fails in a second, not after it
    loaded = load_model(args.run_dir)
    dataset = FeatureDataset(args.dataset_dir, args.split)
    metrics = evaluate_model(loaded.model, dataset, args.max_examples, f0_method=loaded.config.data.f0_method)
    # JSON has no NaN: a metric that is undefined (no pitched frame) is null.
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    result = {"checkpoint": loaded.source, "dataset": str(args.dataset_dir), "split": args.split, **clean}
    write_text_atomic(output, json.dumps(result, indent=1, allow_nan=False))
    print("| metric | value |\n|---|---:|")
    for name in METRIC_NAMES + ("examples", "pitched_frames"):
        print(f"| {name} | {_number(clean[name])} |")
    print(f"wrote {output}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from .transfer import PRETRAINED_DIR  # noqa: PLC0415
    from .transfer import check_transfer_outputs  # noqa: PLC0415
    from .transfer import load_model  # noqa: PLC0415
    from .transfer import model_checkpoint  # noqa: PLC0415
    from .transfer import transfer_file  # noqa: PLC0415

    # Before loading anything; never over the input nor inside the model's folder.
    check_transfer_outputs(args.output, (args.input, model_checkpoint(args.model), PRETRAINED_DIR), create_parent=True)
    loaded = load_model(args.model)
    reverb_ir = None
    if args.reverb_from:
        reverb_ir = load_model(args.reverb_from).model.impulse_response
        if reverb_ir is None:
            raise InputError(f"--reverb-from {args.reverb_from}: that model has no reverb (reverb_s: 0)")
    info = transfer_file(
        args.input,
        loaded,
        args.output,
        auto_adjust=not args.no_auto_adjust,
        pitch_shift=args.pitch_shift,
        loudness_shift=args.loudness_shift,
        quiet_db=args.quiet_db,
        reverb=not args.dry,
        reverb_ir=reverb_ir,
        f0_method=args.f0_method,
        chunk_s=args.chunk_s,
        show_progress=not args.quiet,
    )
    for path in info["written"]:
        print(f"wrote {path}")
    print(json.dumps(info["adjustments"]))
    return 0


def _stream(args: argparse.Namespace) -> int:
    from .streaming.host import run_live  # noqa: PLC0415
    from .streaming.host import stream_file  # noqa: PLC0415
    from .streaming.transfer import TransferStream  # noqa: PLC0415

    if args.threads:
        import torch  # noqa: PLC0415

        torch.set_num_threads(args.threads)
    stream = TransferStream(
        args.model,
        f0_method=args.f0,
        min_hz=args.min_hz,
        auto_adjust=False,
        pitch_shift=args.pitch_shift,
        loudness_shift=args.loudness_shift,
        reverb=not args.dry,
    )
    if args.live:
        callback = run_live(stream, args.block, args.seconds)
        print(json.dumps({"blocks": len(callback.seconds)}))
        return 0
    if args.input is None or args.output is None:
        raise InputError("give INPUT and -o OUTPUT (or --live)")
    report = stream_file(args.input, args.output, stream, args.block)
    print(f"wrote {args.output}")
    print(json.dumps(report))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .streaming.export import export_step  # noqa: PLC0415

    options: dict[str, Any] = {"reverb": not args.dry}
    if not args.controls_in:
        options.update(f0_method=args.f0, min_hz=args.min_hz, auto_adjust=False)
    info = export_step(args.model, args.output, args.format, args.block, args.controls_in, **options)
    print(f"wrote {args.output} and {args.output}.json")
    print(json.dumps({key: info[key] for key in ("block", "latency_samples", "latency_ms", "f0_method")}))
    return 0


def _modular_context(args: argparse.Namespace):
    from .modular import RenderContext  # noqa: PLC0415

    return RenderContext(args.sample_rate, args.duration_s, args.frame_rate)


def _modular_render(args: argparse.Namespace) -> int:
    from .modular.dataset import render_dataset  # noqa: PLC0415

    summary = render_dataset(
        args.voice,
        args.count,
        args.seed,
        args.output,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        context=_modular_context(args),
        curves=args.curves,
        show_progress=not args.quiet,
    )
    if torchrun_rank()[0]:  # under torchrun rank 0 reports
        return 0
    print(json.dumps(summary))
    return 0


def _modular_curves(args: argparse.Namespace) -> int:
    from .modular import make_voice  # noqa: PLC0415

    voice = make_voice(args.voice, _modular_context(args), args.curves)
    voice.save_curves(args.output)
    print(f"wrote {args.output} ({voice.n_parameters} parameters of voice {voice.name!r})")
    return 0


def _add_prepare(commands: Any) -> None:
    prepare = add_command(commands, "prepare", "cut and analyse recordings into a training dataset", _prepare)
    for name in ("audio_dir", "dataset_dir"):
        prepare.add_argument(name)
    prepare.add_argument("--config", default="cpu_small", help="config (file or shipped name) for rates and cutting")
    prepare.add_argument("--f0-method", choices=("crepe", "yin"), help="override the config's f0 method")
    add_flags(prepare, skip_bad="skip unreadable files (listed in dataset.json)")
    add_quiet(prepare)


def _add_train(commands: Any) -> None:
    train = add_command(commands, "train", "train an autoencoder on a prepared dataset", _train)
    train.add_argument("config", help="YAML config file or shipped name (solo_instrument, cpu_small)")
    for name in ("dataset_dir", "run_dir"):
        train.add_argument(name)
    add_flags(
        train.add_mutually_exclusive_group(),
        resume="continue from the newest checkpoint in RUN_DIR",
        overwrite="start a new run in RUN_DIR, deleting the run there (only what a run writes)",
    )
    train.add_argument("--steps", type=positive_int, help="train up to this step (default: the config's)")
    train.add_argument("--init-from", help="start from a bundled model's (violin) or a run's weights: fine-tuning")
    add_flags(
        train,
        allow_config_change="with --resume: continue with CONFIG where it differs from the run's own (not its model section)",
        tensorboard="also log to RUN_DIR/tensorboard",
    )
    add_quiet(train)


def _add_evaluate(commands: Any) -> None:
    evaluate = add_command(commands, "evaluate", "resynthesis metrics of a trained model", _evaluate)
    evaluate.add_argument("run_dir", help="training run, checkpoint folder or bundled model name")
    evaluate.add_argument("dataset_dir")
    evaluate.add_argument("--split", default="eval", choices=("eval", "train"))
    evaluate.add_argument("--max-examples", type=positive_int, help="evaluate at most this many examples")
    evaluate.add_argument("--output", help="JSON path (default RUN_DIR/evaluation_<split>.json)")


def _add_transfer(commands: Any) -> None:
    transfer = add_command(commands, "transfer", "turn a monophonic recording into a model's instrument", _transfer)
    transfer.add_argument("input")
    transfer.add_argument("--model", required=True, help="bundled model name or training run folder")
    transfer.add_argument("-o", "--output", required=True, help="output WAV (a PNG and JSON go beside it)")
    transfer.add_argument(
        "--pitch-shift", type=finite_float, default=0.0, help="semitones, after the automatic octave shift"
    )
    transfer.add_argument("--loudness-shift", type=finite_float, default=0.0, help="dB, after the automatic mapping")
    transfer.add_argument(
        "--quiet-db", type=non_negative_float, default=20.0, help="dB of attenuation of unpitched parts (>= 0)"
    )
    add_flags(transfer, no_auto_adjust="use the input's f0 and loudness as they are")
    room = transfer.add_mutually_exclusive_group()
    add_flags(room, dry="no reverb (the dry instrument)")
    room.add_argument("--reverb-from", help="use this other model's reverb (transfer of room acoustics)")
    transfer.add_argument("--f0-method", default="crepe", choices=("crepe", "yin"))
    transfer.add_argument(
        "--chunk-s",
        type=positive_float,
        default=30.0,
        help="audio analysed and rendered at a time (memory does not grow with the recording)",
    )
    add_quiet(transfer)


def _add_stream(commands: Any) -> None:
    stream = add_command(commands, "stream", "timbre transfer block by block, as a real-time host runs it", _stream)
    stream.add_argument("input", nargs="?", help="input audio file (not with --live)")
    stream.add_argument("--model", required=True, help="bundled model name or training run folder")
    stream.add_argument("-o", "--output", help="output WAV (a JSON report of block times goes beside it)")
    stream.add_argument("--block", type=positive_int, default=256, help="samples per block at the model's rate")
    stream.add_argument("--f0", default="yin", choices=("yin", "crepe"), help="pitch tracker (yin: shortest latency)")
    stream.add_argument("--min-hz", type=positive_float, default=100.0, help="YIN's lowest f0 (sets its look-ahead)")
    stream.add_argument("--pitch-shift", type=finite_float, default=0.0, help="semitones")
    stream.add_argument("--loudness-shift", type=finite_float, default=0.0, help="dB")
    stream.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    add_flags(stream, dry="no reverb", live="play from the sound card's input to its output (needs torchddsp[live])")
    stream.add_argument("--seconds", type=positive_float, help="with --live: stop after this long")


def _add_export(commands: Any) -> None:
    export = add_command(commands, "export", "write the streaming step as a TorchScript or ONNX file", _export)
    export.add_argument("--model", required=True, help="bundled model name or training run folder")
    export.add_argument("--format", required=True, choices=("torchscript", "onnx"))
    export.add_argument("-o", "--output", required=True, help="file to write (a JSON sidecar goes beside it)")
    export.add_argument("--block", type=positive_int, default=256, help="samples per call, a multiple of the hop")
    export.add_argument("--f0", default="yin", choices=("yin", "crepe"), help="pitch tracker")
    export.add_argument("--min-hz", type=positive_float, default=100.0, help="YIN's lowest f0 (sets its look-ahead)")
    add_flags(export, controls_in="f0 and loudness frames in (the synthesis half)", dry="no reverb")


def _add_modular(commands: Any) -> None:
    modular = commands.add_parser("modular", help="the modular synthesizer: render datasets, export curves")
    actions = modular.add_subparsers(dest="action", required=True)
    render = add_command(
        actions, "render", "render a seeded dataset of sounds (FLAC + parameters, in shards)", _modular_render
    )
    curves = add_command(
        actions, "curves", "write a voice's parameter curves as JSON (edit, then pass --curves)", _modular_curves
    )
    for sub in (render, curves):
        sub.add_argument("--voice", default="default", help="registered voice: default (torchsynth's), rich")
        sub.add_argument("--curves", help="JSON of parameter curves (from 'torchddsp modular curves')")
        sub.add_argument("--sample-rate", type=positive_float, default=44100.0)
        sub.add_argument("--duration-s", type=positive_float, default=4.0, help="seconds per sound")
        sub.add_argument(
            "--frame-rate",
            type=positive_float,
            default=441.0,
            help="control frames per second; sample_rate / frame_rate must be whole",
        )
    render.add_argument("--count", type=positive_int, required=True, help="number of sounds")
    render.add_argument("--seed", type=int, default=0, help="dataset seed (sound k depends on (seed, k) only)")
    render.add_argument("--output", required=True, help="output folder (rerun to resume)")
    render.add_argument("--shard-size", type=positive_int, default=1000)
    render.add_argument("--batch-size", type=positive_int, default=64)
    add_quiet(render)
    curves.add_argument("--output", required=True, help="JSON file to write")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchddsp", description="Differentiable DSP: timbre transfer and more.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_prepare, _add_train, _add_evaluate, _add_transfer, _add_stream, _add_export, _add_modular):
        add(commands)
    add_magenta_commands(commands)
    add_matching_commands(commands)
    add_style_commands(commands)
    add_piano_commands(commands)
    add_drums_commands(commands)
    add_app_command(commands)
    return parser


def _describe(error: OSError) -> str:
    """An operating-system error in one line with the file it concerns (disk full, permission
    denied, no such file...)."""
    names = [str(name) for name in (error.filename, error.filename2) if name]
    reason = error.strerror or str(error)
    return f"{' -> '.join(names)}: {reason}" if names else reason


def main(argv: list[str] | None = None) -> int:
    """Run one command; user mistakes and file-system failures print one line and return 2
    (130 on Ctrl-C); anything else is a library bug and keeps its traceback.

    A user mistake is an :class:`~torchddsp.validation.InputError` (a bad file, option, config
    or dataset; ``AudioFileError`` and ``CrepeWeightsMissing`` among them), a bad option, which
    argparse reports itself (exit 2), or a training that diverged (``FloatingPointError``: a
    setting to change). A plain ``ValueError``, ``TypeError`` or ``RuntimeError`` is not one:
    it means the library called something wrongly."""
    args = _parser().parse_args(argv)

    def one_line(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        print(f"torchddsp {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line  # a warning about the user's file, not a source line
            return args.run(args)
    except InputError as error:  # bad input: one clear line, not a traceback
        print(f"torchddsp {args.command}: error: {error}", file=sys.stderr)
    except OSError as error:  # a full disk, a read-only folder, a file that vanished
        print(f"torchddsp {args.command}: error: {_describe(error)}", file=sys.stderr)
    except FloatingPointError as error:  # training diverged: a setting to change, not a bug
        print(f"torchddsp {args.command}: error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"torchddsp {args.command}: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
