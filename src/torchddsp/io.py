"""Files: audio read in bounded memory; outputs that never lose data, written atomically,
never over an input. Every file torchddsp reads or writes goes through this module.

Reading: :func:`read_audio` (a whole file) and :func:`read_audio_blocks` (a file of any
length, in blocks, resampled as it streams: memory does not grow with the file) give mono
float32 at the rate asked for; :func:`audio_info` reads only the header. Unreadable, empty or
corrupt files raise :class:`AudioFileError` naming the file; a file shorter than its header
says (a truncated copy or download) is read with a warning giving the missing duration.

Writing: :func:`write_audio` (a whole signal) and :func:`audio_writer` (block by block) in
the format of the file name's suffix (:func:`audio_format`).

Every file torchddsp writes goes through :func:`atomic_path` (or the helpers built on it:
:func:`write_text_atomic`, :func:`write_bytes_atomic`, :func:`write_audio`,
:func:`atomic_folder` for a folder written whole): the
content is written under a hidden temporary name in the destination folder, flushed to disk,
then renamed over the destination in one step. A kill or a full disk at any moment leaves
either the old file or the new one, never a truncated mix; the temporary file of an
interrupted write is removed by the next write into that folder (:func:`remove_stale_temporaries`).

:func:`check_output` is called before the expensive work: it refuses an output that is a
symbolic link, that is one of the command's inputs, or whose folder is missing or read-only,
with an :class:`~torchddsp.validation.InputError` (a ``ValueError``) naming the option and the path.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text_atomic(folder / "notes.txt", "hello")
    >>> (folder / "notes.txt").read_text()
    'hello'
    >>> check_output(folder / "notes.txt", inputs=[folder / "notes.txt"], option="--output")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    torchddsp.validation.InputError: --output ... is also an input of this command; choose another output file
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import time
import warnings
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from .functional import resample
from .functional.resampling import resample_blocks
from .validation import InputError
from .validation import check_positive_int

__all__ = [
    "sync_to_disk",
    "check_output",
    "atomic_path",
    "write_text_atomic",
    "write_bytes_atomic",
    "atomic_folder",
    "remove_stale_temporaries",
    "scratch_file",
    "TEMPORARY_MARK",
    "AudioFileError",
    "TruncatedAudioWarning",
    "audio_info",
    "read_audio",
    "read_audio_blocks",
    "audio_format",
    "audio_writer",
    "write_audio",
]

#: Part of the name of every temporary file or folder torchddsp writes (``.NAME.partial-XXXX``).
TEMPORARY_MARK = ".partial-"
# A temporary file this old is left over from a killed process, not being written by another.
_STALE_SECONDS = 3600.0


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return path.resolve() == other.resolve()


def check_output(
    path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike] = (),
    option: str = "output",
    create_parent: bool = False,
) -> Path:
    """Check that ``path`` can be written without harm, before any work is done.

    Raises ``ValueError`` naming ``option`` when ``path`` is a symbolic link, a folder, one of
    ``inputs`` (a file: the same file under any name; a folder, such as a dataset or a model:
    anywhere inside it), or when its folder does not exist (unless ``create_parent``: then it
    is created) or cannot be written. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.is_symlink():
        raise InputError(
            f"{option} {path} is a symbolic link; torchddsp does not write through links, "
            "give the real path or another name"
        )
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; expected a file name")
    for source in map(Path, inputs):
        if source.is_dir() and source.resolve() in path.resolve().parents:
            raise InputError(f"{option} {path} is inside {source}, which this command reads; write it somewhere else")
        if path.exists() and source.exists() and _same_file(path, source):
            raise InputError(f"{option} {path} is also an input of this command; choose another output file")
    parent = path.parent
    if not parent.is_dir():
        if not create_parent:
            raise InputError(f"{option} {path}: the folder {parent} does not exist")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"{option} {path}: cannot create the folder {parent} ({error.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path} exists and is read-only")
    return path


def remove_stale_temporaries(folder: str | os.PathLike, max_age_s: float = _STALE_SECONDS) -> None:
    """Remove temporary files and folders of writes interrupted more than ``max_age_s`` ago."""
    now = time.time()
    for leftover in Path(folder).glob(f".*{TEMPORARY_MARK}*"):
        try:
            if now - leftover.lstat().st_mtime < max_age_s:
                continue  # perhaps another process is writing it right now
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
        except OSError:
            pass


def sync_to_disk(path: str | os.PathLike) -> None:
    """Flush a file's or a folder's content to the disk (``fsync``); a path that cannot be
    opened or a file system that cannot sync a folder is left as it is."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(descriptor)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so format-sniffing writers work);
    when the block ends without an exception, flush it and rename it over ``path``. On an
    exception the temporary file is removed and ``path`` is untouched. ``mode``: the
    permissions of the new file (before the umask)."""
    path = Path(path)
    remove_stale_temporaries(path.parent)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}{TEMPORARY_MARK}", suffix=path.suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, mode & ~_umask())
        sync_to_disk(temporary)
        os.replace(temporary, path)  # replaces a link itself, never its target
        sync_to_disk(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; when the block ends without an exception it
    replaces ``path`` (an existing folder is moved aside, the new one renamed in, the old one
    deleted). On an exception the temporary folder is deleted and ``path`` is untouched.

    The swap is two renames: a kill between them leaves the complete old folder under
    ``.NAME.partial-old-*`` and no ``path``; nothing half-written is ever at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}{TEMPORARY_MARK}"))
    try:
        os.chmod(temporary, 0o777 & ~_umask())  # mkdtemp's 0700 would become the folder's
        yield temporary
        for file in temporary.rglob("*"):
            if file.is_file():
                sync_to_disk(file)
        old = None
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}{TEMPORARY_MARK}old-"))
            os.rmdir(old)
            os.rename(path, old)
        os.rename(temporary, path)
        sync_to_disk(path.parent)
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def scratch_file(beside: str | os.PathLike, label: str = "scratch") -> Iterator[Path]:
    """Yield a new empty hidden file in the folder of ``beside`` (on the same disk as the output
    it prepares), removed when the block ends, whatever happens. Its name carries
    :data:`TEMPORARY_MARK`, so a kill leaves nothing that the next write there does not remove."""
    beside = Path(beside)
    handle, name = tempfile.mkstemp(dir=beside.parent, prefix=f".{beside.stem}{TEMPORARY_MARK}{label}-")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Writing audio


def audio_format(path: str | os.PathLike, option: str = "output") -> str:
    """The soundfile format of ``path``'s suffix (``"WAV"``, ``"FLAC"``...), or an
    :class:`~torchddsp.validation.InputError` naming ``option`` for a suffix soundfile does not write."""
    path = Path(path)
    kind = path.suffix[1:].upper()
    if kind not in sf.available_formats():
        raise InputError(
            f"{option} {path}: expected an audio file name such as out.wav (a suffix of a format "
            "soundfile writes: .wav, .flac, .ogg...)"
        )
    return kind


@contextlib.contextmanager
def audio_writer(
    path: str | os.PathLike, sample_rate: int, channels: int = 1, subtype: str | None = None
) -> Iterator[sf.SoundFile]:
    """An open ``soundfile.SoundFile`` to ``write`` float blocks ``(n,)`` or ``(n, channels)``
    into, in the format of ``path``'s suffix (``subtype``: soundfile's default for it, PCM_16 for
    a WAV); the file appears at ``path`` only when the block ends without an exception
    (:func:`atomic_path`), so memory does not grow with the audio and a kill leaves no half file."""
    kind = audio_format(path)
    with atomic_path(path) as temporary:
        with sf.SoundFile(
            str(temporary), "w", int(sample_rate), channels, subtype or sf.default_subtype(kind), format=kind
        ) as handle:
            yield handle


def write_audio(
    path: str | os.PathLike, audio: Tensor | np.ndarray, sample_rate: int, subtype: str | None = None
) -> None:
    """Write ``audio`` ``(n_samples,)`` (mono) or ``(n_samples, channels)`` at ``sample_rate`` to
    ``path`` atomically, in the format of its suffix (see :func:`audio_writer`)."""
    data = audio.detach().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio)
    with audio_writer(path, sample_rate, 1 if data.ndim == 1 else data.shape[1], subtype) as handle:
        handle.write(data)


# --------------------------------------------------------------------------------------------
# Reading audio


class AudioFileError(InputError):
    """An audio file is unreadable, empty or corrupt (the message names it)."""


class TruncatedAudioWarning(UserWarning):
    """An audio file holds fewer samples than its header declares (it is read as it is)."""


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(frames, sample_rate, channels)`` of an audio file, from its header (no samples read).

    ``frames`` is what the decoder will deliver (libsndfile already shortens it for a WAV cut
    short). Raises :class:`AudioFileError` naming the file when it cannot be opened as audio.
    """
    path = Path(path)
    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises several types for corrupt or unknown files
        raise AudioFileError(f"{path}: cannot read audio ({error})") from None
    return int(info.frames), int(info.samplerate), int(info.channels)


def _wav_missing_frames(path: Path) -> int:
    """Frames a RIFF/WAVE file's ``data`` chunk declares beyond the end of the file (0 when
    complete, not a WAV, or of unknown length)."""
    try:
        with open(path, "rb") as handle:
            riff = handle.read(12)
            if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RIFX") or riff[8:12] != b"WAVE":
                return 0
            order = "<" if riff[:4] == b"RIFF" else ">"
            size = os.fstat(handle.fileno()).st_size
            block_align = 0
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    return 0
                chunk, length = header[:4], struct.unpack(order + "I", header[4:])[0]
                if chunk == b"fmt ":
                    fmt = handle.read(min(length, 16))
                    if len(fmt) >= 14:
                        block_align = struct.unpack(order + "H", fmt[12:14])[0]
                    handle.seek(length - len(fmt) + (length & 1), os.SEEK_CUR)
                elif chunk == b"data":
                    if length in (0, 0xFFFFFFFF) or not block_align:  # streamed WAV: length unknown
                        return 0
                    present = size - handle.tell()
                    return max(0, (length - present) // block_align)
                else:
                    handle.seek(length + (length & 1), os.SEEK_CUR)
    except (OSError, struct.error):
        return 0


def _warn_if_truncated(path: Path, sample_rate: int) -> None:
    missing = _wav_missing_frames(path)
    if missing:
        warnings.warn(
            f"{path} is truncated: its header declares {missing / sample_rate:.3f} s "
            f"({missing} frames) more audio than the file holds; using what is present",
            TruncatedAudioWarning,
            stacklevel=3,
        )


def _checked_block(path: Path, data: np.ndarray) -> Tensor:
    """Downmix a ``(frames, channels)`` float32 block to ``(frames,)``, refusing NaN/inf."""
    if not np.isfinite(data).all():
        raise AudioFileError(f"{path}: the file holds NaN or infinite samples")
    return torch.from_numpy(data.mean(axis=1))


def read_audio(path: str | os.PathLike, sample_rate: int) -> Tensor:
    """Read a whole soundfile-readable file as mono float32 at ``sample_rate``: ``(n_samples,)``.

    Memory grows with the file (about 12 bytes per input frame and channel); for long
    recordings use :func:`read_audio_blocks`. Raises :class:`AudioFileError` naming the file
    when it cannot be read, holds no samples, or holds NaN/inf; warns
    (:class:`TruncatedAudioWarning`) when it is shorter than its header says.
    """
    path = Path(path)
    sample_rate = check_positive_int("sample_rate", sample_rate)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for corrupt or unknown files
        raise AudioFileError(f"{path}: cannot read audio ({error})") from None
    if data.size == 0:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    _warn_if_truncated(path, rate)
    audio = _checked_block(path, data)
    if rate != sample_rate:
        audio = resample(audio[None], rate, sample_rate)[0]
    return audio.contiguous()


def _file_blocks(path: Path, frames_per_block: int) -> Iterator[Tensor]:
    """The file's downmixed float32 samples at its own rate, ``(1, n)`` per block."""
    try:
        handle = sf.SoundFile(str(path))
    except Exception as error:
        raise AudioFileError(f"{path}: cannot read audio ({error})") from None
    with handle:
        n_read = 0
        while True:
            try:
                data = handle.read(frames_per_block, dtype="float32", always_2d=True)
            except Exception as error:  # a decoding error part-way through a compressed file
                raise AudioFileError(f"{path}: cannot read audio after {n_read} frames ({error})") from None
            if data.shape[0] == 0:
                break
            n_read += data.shape[0]
            yield _checked_block(path, data)[None]
        if n_read == 0:
            raise AudioFileError(f"{path}: the file holds no audio samples")


def read_audio_blocks(path: str | os.PathLike, sample_rate: int, block_samples: int) -> Iterator[Tensor]:
    """Read a file of any length as mono float32 at ``sample_rate``, in blocks.

    Yields ``(block_samples,)`` tensors (the last one shorter) whose concatenation equals
    :func:`read_audio` (the same downmix, and a streaming resampler equal to resampling the
    whole file: :func:`torchddsp.functional.resampling.resample_blocks`). The file is read
    ``block_samples`` at a time (scaled to its own rate), so memory does not depend on its
    length. Raises :class:`AudioFileError` naming the file when it cannot be opened, holds no
    samples, or holds NaN/inf (possibly after earlier blocks were yielded); warns
    (:class:`TruncatedAudioWarning`) when it is shorter than its header says.
    """
    path = Path(path)
    sample_rate = check_positive_int("sample_rate", sample_rate)
    block_samples = check_positive_int("block_samples", block_samples)
    _, rate, _ = audio_info(path)  # a clear error before anything is yielded
    _warn_if_truncated(path, rate)
    frames_per_block = max(1, -(-block_samples * rate // sample_rate))
    resampled = resample_blocks(_file_blocks(path, frames_per_block), rate, sample_rate)
    yield from _rechunk((block[0] for block in resampled), block_samples)


def _rechunk(pieces: Iterable[Tensor], size: int) -> Iterator[Tensor]:
    """Regroup 1-D pieces into contiguous tensors of ``size`` samples (the last one shorter)."""
    pending: list[Tensor] = []
    n_pending = 0
    for piece in pieces:
        pending.append(piece)
        n_pending += piece.shape[0]
        if n_pending < size:
            continue
        joined = torch.cat(pending)
        full = n_pending // size * size
        for start in range(0, full, size):
            yield joined[start : start + size].clone()  # a copy: never a view holding `joined`
        pending, n_pending = [joined[full:].clone()], n_pending - full
    if n_pending:
        yield torch.cat(pending)
