"""Render one-shot drum hits from the General-MIDI drum kits of two soundfonts.

Every hit of ``NOTES`` (GM percussion key map, channel 10) at each of ``VELOCITIES`` is written
into one MIDI file per soundfont, ``SPACING_S`` apart, rendered once by fluidsynth (reverb and
chorus off, 16 kHz) and cut into ``LENGTH_S`` one-shots (a 20 ms fade at the cut). A fixed
random fifth of each class and soundfont is held out::

    .venv/bin/python scripts/drums_data.py   # -> data/drums/hits.npz

Soundfonts (both MIT): /usr/share/sounds/sf2/FluidR3_GM.sf2 and
/usr/share/sounds/sf3/MuseScore_General_Lite.sf3 (fluidsynth reads sf3).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from midi_render import seconds_to_ticks
from midi_render import smf_bytes
from midi_render import tempo_event

SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
#: GM percussion keys per class (the order of ``torchddsp.drums.DRUMS``).
NOTES = {
    "kick": (35, 36),
    "snare": (38, 40),
    "tom": (41, 43, 45, 47, 48, 50),
    "hihat": (42, 44, 46),
    "cymbal": (49, 51, 52, 55, 57, 59),
}
VELOCITIES = (40, 60, 80, 100, 120)
SAMPLE_RATE = 16000
LENGTH_S = 0.75
SPACING_S = 3.0
FADE_S = 0.02


def hit_list() -> list[tuple[str, int, int]]:
    """(class, key, velocity) of every hit, in render order."""
    return [(drum, key, vel) for drum, keys in NOTES.items() for key in keys for vel in VELOCITIES]


def midi_of(hits: list[tuple[str, int, int]]) -> bytes:
    """One format-0 MIDI file: the hits on channel 10, ``SPACING_S`` apart."""
    events = [(0, tempo_event())]
    for index, (_, key, velocity) in enumerate(hits):
        start = seconds_to_ticks(index * SPACING_S + 0.1)
        events.append((start, bytes([0x99, key, velocity])))
        events.append((start + seconds_to_ticks(0.2), bytes([0x89, key, 0])))
    end = seconds_to_ticks(len(hits) * SPACING_S + 1.0)
    events.append((end, b"\xff\x2f\x00"))
    return smf_bytes(events)


def render(soundfont: Path, midi: bytes) -> np.ndarray:
    """fluidsynth's render of ``midi`` through ``soundfont``, mono float64 at SAMPLE_RATE."""
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth not found: apt-get install fluidsynth")
    with tempfile.TemporaryDirectory() as tmp:
        midi_path, wav_path = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SAMPLE_RATE)]
        subprocess.run([*command, "-F", str(wav_path), str(soundfont), str(midi_path)], check=True)
        audio, rate = sf.read(wav_path, dtype="float64", always_2d=True)
    if rate != SAMPLE_RATE:
        raise SystemExit(f"fluidsynth wrote {rate} Hz, expected {SAMPLE_RATE}")
    return audio.mean(axis=1)


def cut(audio: np.ndarray, n_hits: int) -> np.ndarray:
    """The one-shots ``(n_hits, n_samples)``: each starts at its first sample above -50 dB of the
    hit's peak (the soundfonts' own attack delay removed) and fades out over FADE_S."""
    n_samples = round(LENGTH_S * SAMPLE_RATE)
    fade = np.linspace(1.0, 0.0, round(FADE_S * SAMPLE_RATE))
    hits = np.zeros((n_hits, n_samples))
    for index in range(n_hits):
        start = round(index * SPACING_S * SAMPLE_RATE)
        window = audio[start : start + round(SPACING_S * SAMPLE_RATE)]
        onset = int(np.argmax(np.abs(window) > np.abs(window).max() * 10 ** (-50 / 20)))
        hit = window[onset : onset + n_samples]
        hits[index, : len(hit)] = hit
        hits[index, n_samples - len(fade) :] *= fade
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/drums/hits.npz"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    hits = hit_list()
    drums = list(NOTES)
    audio, meta = [], []
    for font_index, path in enumerate(SOUNDFONTS.values()):
        audio.append(cut(render(path, midi_of(hits)), len(hits)))
        meta += [(drums.index(drum), key, vel, font_index) for drum, key, vel in hits]
    all_audio = np.concatenate(audio).astype(np.float32)
    table = np.array(meta)
    rng = np.random.default_rng(args.seed)
    held_out = np.zeros(len(table), dtype=bool)
    for group in {(row[0], row[3]) for row in table}:  # a fifth of each class and soundfont
        members = np.flatnonzero((table[:, 0] == group[0]) & (table[:, 3] == group[1]))
        held_out[rng.choice(members, size=max(1, len(members) // 5), replace=False)] = True
    silent = np.abs(all_audio).max(axis=1) < 1e-4
    keep = ~silent
    print(f"hits: {keep.sum()} ({silent.sum()} silent dropped), held out: {(held_out & keep).sum()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        audio=all_audio[keep],
        drum=table[keep, 0],
        key=table[keep, 1],
        velocity=table[keep, 2],
        soundfont=table[keep, 3],
        held_out=held_out[keep],
        drums=np.array(drums),
        soundfonts=np.array(list(SOUNDFONTS)),
        sample_rate=SAMPLE_RATE,
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
