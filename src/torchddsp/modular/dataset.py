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
records is an error; ``count`` may change (a mistaken huge count is corrected by rerunning with
the right one) as long as it keeps every complete shard. One render writes to a folder at a
time (a lock file, ``.render.lock``); the temporary files of a killed render are removed by
the next one, and a count that surely cannot fit on the disk is refused before any work.

Under ``torchrun`` (``WORLD_SIZE > 1``) the ranks share the shards: rank 0 checks and locks
the folder, removes stale temporaries, writes ``dataset.json`` and lists the shards still to
render while the others wait (:func:`torchddsp.distributed.share`); rank ``r`` then renders
the ``r``-th, ``(r + N)``-th, ... of that list (shard ``s % N == r`` on a fresh render; on a
resume the remaining shards are dealt out evenly) and writes only their files. Rank 0 holds
the lock until every rank is done, so another render of the folder is refused meanwhile and
the siblings never take it themselves. The files equal one process's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from ..distributed import gather
from ..distributed import process_group
from ..distributed import share
from ..io import TEMPORARY_MARK
from ..io import atomic_folder
from ..io import atomic_path
from ..io import remove_stale_temporaries
from ..io import write_text_atomic
from ..progress import Progress
from ..validation import InputError
from ..validation import check_positive_int
from .modules import RenderContext
from .voices import TEST_FRACTION
from .voices import Voice
from .voices import make_voice

__all__ = ["render_dataset", "shard_name"]


def shard_name(shard: int) -> str:
    return f"shard_{shard:05d}"


def _settings(voice: Voice, seed: int, shard_size: int) -> dict:
    context = voice.context
    return {
        "voice": voice.name,
        "seed": int(seed),
        "shard_size": int(shard_size),
        "sample_rate": context.sample_rate,
        "duration_s": context.duration_s,
        "frame_rate": context.frame_rate,
        "parameter_names": voice.parameter_names,
        "curves": {name: r.to_dict() for name, r in voice.ranges.items()},
    }


# 24-bit FLAC of synthesised sounds takes 1.5-2.5 bytes per sample (measured on the default
# voice); 1 byte is a floor, so only a count that surely cannot fit is refused.
_MIN_BYTES_PER_SAMPLE = 1.0


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir/.render.lock`` (released when the process ends, even by kill -9)."""
    with open(out_dir / ".render.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another render is writing to {out_dir}; wait for it or use another folder") from None
        yield


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def _check_owned(out_dir: Path) -> None:
    """A render goes into a new or empty folder, or one holding a render: never into a folder
    of other files (recordings that ``prepare`` would then mix with synth sounds, a dataset)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; expected a folder")
    if not out_dir.is_dir():
        return
    manifest = out_dir / "dataset.json"
    if manifest.is_file():
        try:
            owner = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read {manifest}: {error}") from None
        if isinstance(owner, dict) and "voice" in owner:
            return
        raise InputError(
            f"--out {out_dir} holds a dataset.json that is not a modular render (a prepared "
            "training dataset?); use another folder"
        )
    others = sorted(p.name for p in out_dir.iterdir() if p.name != ".render.lock" and TEMPORARY_MARK not in p.name)
    if others:
        listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise InputError(
            f"--out {out_dir} is not empty and holds no modular render ({listed}); give a new or empty folder"
        )


def _check_disk(out_dir: Path, n_sounds: int, samples_per_sound: int) -> None:
    needed = n_sounds * samples_per_sound * _MIN_BYTES_PER_SAMPLE
    free = shutil.disk_usage(out_dir).free
    if needed > free:
        raise InputError(
            f"{n_sounds} more sounds need at least {_size(needed)}; {out_dir} has {_size(free)} free: lower --count"
        )


def _check_count(out_dir: Path, previous: dict, count: int, shard_size: int) -> None:
    """A new ``count`` must keep every complete shard (no rendered sound is thrown away)."""
    complete = [
        shard
        for shard in range(-(-int(previous.get("count", 0)) // shard_size))
        if (out_dir / f"{shard_name(shard)}.npz").is_file()
    ]
    if not complete:
        return
    last = complete[-1]
    held = min((last + 1) * shard_size, int(previous["count"]))
    if count < held:
        raise InputError(
            f"{out_dir} holds rendered sounds up to number {held - 1} (shard {last}); count must "
            f"be at least {held} (found {count}): use another folder for a smaller dataset"
        )


def _remove_beyond(out_dir: Path, n_shards: int) -> None:
    """Partial shards past the last one of this count (a bigger count was interrupted)."""
    for folder in out_dir.glob("shard_*"):
        suffix = folder.name.removeprefix("shard_").removesuffix(".npz")
        if suffix.isdigit() and int(suffix) >= n_shards:
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()


def _complete(out_dir: Path, shard: int, indices: np.ndarray) -> bool:
    path = out_dir / f"{shard_name(shard)}.npz"
    if not path.is_file():
        return False
    try:
        with np.load(path) as stored:
            return np.array_equal(stored["indices"], indices)
    except (OSError, ValueError, KeyError):
        return False


def render_dataset(
    voice: Voice | str,
    count: int,
    seed: int,
    out_dir: str | os.PathLike,
    *,
    shard_size: int = 1000,
    batch_size: int = 64,
    context: RenderContext | None = None,
    curves=None,
    show_progress: bool = True,
) -> dict:
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
        raise InputError("context and curves configure a voice given by name; set them on the Voice instead")
    out_dir = Path(out_dir)
    settings = _settings(voice, seed, shard_size)
    with process_group() as (rank, world), contextlib.ExitStack() as lock:  # rank 0 holds the lock
        # Rank 0 checks and claims the folder while the others wait, then each renders its share.
        pending, kept = share(lambda: _open(out_dir, voice, settings, count, lock))
        mine = pending[rank::world]
        done = gather(
            lambda: _render_pending(voice, seed, out_dir, mine, batch_size, kept, show_progress and rank == 0)
        )
    return {"rendered": sum(done), "kept": kept, "shards": -(-count // shard_size), "count": count}


def _open(
    out_dir: Path, voice: Voice, settings: dict, count: int, lock: contextlib.ExitStack
) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Check and lock ``out_dir`` (held by ``lock``), clean it and write its ``dataset.json``;
    returns the shards to render (number, sound indices) and how many sounds are complete."""
    _check_owned(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock.enter_context(_exclusive(out_dir))
    remove_stale_temporaries(out_dir, max_age_s=0.0)  # the lock says no other render writes them
    shard_size = settings["shard_size"]
    manifest = out_dir / "dataset.json"
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read {manifest}: {error}") from error
        different = sorted(k for k in settings if previous.get(k) != settings[k])
        if different:
            raise InputError(
                f"{out_dir} holds a dataset rendered with other settings ({', '.join(different)} "
                f"differ); use another folder"
            )
        _check_count(out_dir, previous, count, shard_size)
    return _plan_shards(voice, count, out_dir, shard_size, settings)


def _plan_shards(
    voice: Voice, count: int, out_dir: Path, shard_size: int, settings: dict
) -> tuple[list[tuple[int, np.ndarray]], int]:
    n_shards = -(-count // shard_size)
    pending, kept = [], 0
    for shard in range(n_shards):
        indices = np.arange(shard * shard_size, min((shard + 1) * shard_size, count), dtype=np.int64)
        if _complete(out_dir, shard, indices):
            kept += len(indices)
        else:
            pending.append((shard, indices))
    _check_disk(out_dir, count - kept, int(round(voice.context.duration_s * voice.context.sample_rate)))
    _remove_beyond(out_dir, n_shards)
    write_text_atomic(
        out_dir / "dataset.json", json.dumps({**settings, "count": count, "test_fraction": TEST_FRACTION}, indent=1)
    )
    return pending, kept


def _render_pending(
    voice: Voice,
    seed: int,
    out_dir: Path,
    pending: list[tuple[int, np.ndarray]],
    batch_size: int,
    kept: int,
    show_progress: bool,
) -> int:
    """Render the shards of ``pending``; returns the number of sounds."""
    sample_rate = int(round(voice.context.sample_rate))
    rendered = 0
    total = kept + sum(len(indices) for _, indices in pending)  # all sounds, with one process
    with Progress(total, "sounds", enabled=show_progress, initial=kept) as bar:
        for shard, indices in pending:
            rendered += _render_shard(voice, seed, out_dir, shard, indices, batch_size, sample_rate, bar)
    return rendered


def _render_shard(
    voice: Voice,
    seed: int,
    out_dir: Path,
    shard: int,
    indices: np.ndarray,
    batch_size: int,
    sample_rate: int,
    bar: Progress,
) -> int:
    """Render one shard whole: its FLAC files into a temporary folder renamed into place, then
    its ``.npz`` (atomically, last)."""
    (out_dir / f"{shard_name(shard)}.npz").unlink(missing_ok=True)
    patches, humans, labels = [], [], []
    with atomic_folder(out_dir / shard_name(shard)) as folder:  # replaces a partial shard of a killed render
        for start in range(0, len(indices), batch_size):
            chunk = torch.from_numpy(indices[start : start + batch_size])
            result = voice.render_sounds(chunk, seed)
            audio = result["audio"].detach().cpu().numpy()
            for k, sound in zip(chunk.tolist(), audio):
                # Plain writes: the folder as a whole is the atomic unit (synced, then renamed).
                sf.write(folder / f"sound_{k:08d}.flac", sound, sample_rate, subtype="PCM_24", format="FLAC")
            patches.append(result["patch"].cpu().numpy())
            human = voice.human(result["patch"])
            humans.append(
                np.stack(
                    [human[m][p].cpu().numpy() for m, module in voice.synth_modules.items() for p in module.ranges],
                    axis=1,
                )
            )
            labels.append(result["is_train"].numpy())
            bar.update(len(chunk))
    arrays: dict[str, Any] = {  # Any: numpy's stub types savez's keywords as its own options
        "indices": indices,
        "patch": np.concatenate(patches).astype(np.float32),
        "human": np.concatenate(humans).astype(np.float32),
        "is_train": np.concatenate(labels),
        "parameter_names": np.array(voice.parameter_names),
    }
    with atomic_path(out_dir / f"{shard_name(shard)}.npz") as temporary, open(temporary, "wb") as stream:
        np.savez(stream, **arrays)
    return len(indices)
