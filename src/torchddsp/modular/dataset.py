"""Render a synthetic dataset from a voice: FLAC audio plus parameters, in shards, resumable.

Layout of ``out_dir``::

    dataset.json              voice, seed, count, shard size, rates, parameter names and curves
    shard_00000/              sound_00000000.flac ... (one file per sound, 24-bit FLAC)
    shard_00000.npz           indices (int64), patch (normalised, float32), human (human units,
                              float32), is_train (bool), parameter_names: written last, atomically

Shard ``s`` holds sounds ``s * shard_size`` to ``(s + 1) * shard_size - 1``, and sound ``k`` is a
pure function of ``(voice, curves, seed, k)`` (see :mod:`torchddsp.modular.voices`). A shard is
complete when its ``.npz`` exists with the expected indices; on a rerun (after an interruption,
or with a larger ``count``) complete shards are kept and any other shard is rendered again from
scratch, so no sound is duplicated or lost. A rerun with other settings than ``dataset.json``
records, or with a smaller ``count``, is an error.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..functional._checks import check_positive_int
from ..progress import Progress
from .modules import RenderContext
from .voices import Voice, make_voice

__all__ = ["render_dataset", "shard_name"]


def shard_name(shard: int) -> str:
    return f"shard_{shard:05d}"


def _settings(voice: Voice, seed: int, shard_size: int) -> dict:
    context = voice.context
    return {"voice": voice.name, "seed": int(seed), "shard_size": int(shard_size),
            "sample_rate": context.sample_rate, "duration_s": context.duration_s, "control_rate": context.control_rate,
            "parameter_names": voice.parameter_names,
            "curves": {name: r.to_dict() for name, r in voice.ranges.items()}}


def _write_atomic(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + "-")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _complete(out_dir: Path, shard: int, indices: np.ndarray) -> bool:
    path = out_dir / f"{shard_name(shard)}.npz"
    if not path.is_file():
        return False
    try:
        with np.load(path) as stored:
            return np.array_equal(stored["indices"], indices)
    except (OSError, ValueError, KeyError):
        return False


def render_dataset(voice: Voice | str, count: int, seed: int, out_dir: str | os.PathLike, *, shard_size: int = 1000,
                   batch_size: int = 64, context: RenderContext | None = None, curves=None,
                   show_progress: bool = True) -> dict:
    """Render sounds ``0 .. count - 1`` of dataset ``seed`` (module docstring).

    Args:
        voice: a :class:`Voice` or a registered name (``"default"``, ``"rich"``); with a name,
            ``context`` and ``curves`` configure it.
        count: number of sounds; ``seed``: dataset seed.
        out_dir: output folder (created).
        shard_size: sounds per shard; ``batch_size``: sounds rendered at once.
        show_progress: a progress bar on stderr.

    Returns:
        ``{"rendered", "kept", "shards", "count"}``: sounds rendered now, sounds found complete.
    """
    count = check_positive_int("count", count)
    shard_size = check_positive_int("shard_size", shard_size)
    batch_size = check_positive_int("batch_size", batch_size)
    if isinstance(voice, str):
        voice = make_voice(voice, context, curves)
    elif context is not None or curves is not None:
        raise ValueError("context and curves configure a voice given by name; set them on the Voice instead")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(voice, seed, shard_size)
    manifest = out_dir / "dataset.json"
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read {manifest}: {error}") from error
        different = sorted(k for k in settings if previous.get(k) != settings[k])
        if different:
            raise ValueError(f"{out_dir} holds a dataset rendered with other settings ({', '.join(different)} "
                             f"differ); use another folder")
        if count < int(previous.get("count", 0)):
            raise ValueError(f"{out_dir} already holds {previous['count']} sounds; count must not shrink "
                             f"(found {count}): use another folder for a smaller dataset")
    _write_atomic(manifest, lambda p: Path(p).write_text(json.dumps({**settings, "count": count,
                                                                       "test_fraction": 0.1}, indent=1)))
    n_shards = -(-count // shard_size)
    sample_rate = int(round(voice.context.sample_rate))
    pending, kept = [], 0
    for shard in range(n_shards):
        indices = np.arange(shard * shard_size, min((shard + 1) * shard_size, count), dtype=np.int64)
        if _complete(out_dir, shard, indices):
            kept += len(indices)
        else:
            pending.append((shard, indices))
    rendered = 0
    with Progress(count, "sounds", enabled=show_progress, initial=kept) as bar:
        for shard, indices in pending:
            folder = out_dir / shard_name(shard)
            shutil.rmtree(folder, ignore_errors=True)  # a partial shard is rendered again, whole
            (out_dir / f"{shard_name(shard)}.npz").unlink(missing_ok=True)
            folder.mkdir()
            patches, humans, labels = [], [], []
            for start in range(0, len(indices), batch_size):
                chunk = torch.from_numpy(indices[start : start + batch_size])
                result = voice.render_sounds(chunk, seed)
                audio = result["audio"].detach().cpu().numpy()
                for k, sound in zip(chunk.tolist(), audio):
                    sf.write(folder / f"sound_{k:08d}.flac", sound, sample_rate, subtype="PCM_24", format="FLAC")
                patches.append(result["patch"].cpu().numpy())
                human = voice.human(result["patch"])
                humans.append(np.stack([human[m][p].cpu().numpy() for m, module in voice.synth_modules.items()
                                        for p in module.ranges], axis=1))
                labels.append(result["is_train"].numpy())
                rendered += len(chunk)
                bar.update(len(chunk))
            arrays = {"indices": indices, "patch": np.concatenate(patches).astype(np.float32),
                      "human": np.concatenate(humans).astype(np.float32), "is_train": np.concatenate(labels),
                      "parameter_names": np.array(voice.parameter_names)}
            def write_arrays(path: str, arrays: dict = arrays) -> None:
                with open(path, "wb") as stream:
                    np.savez(stream, **arrays)

            _write_atomic(out_dir / f"{shard_name(shard)}.npz", write_arrays)
    return {"rendered": rendered, "kept": kept, "shards": n_shards, "count": count}
